"""The analysis plan file (``studies/analysis.yaml``): which outcomes, which model, which
subgroup and sensitivity analyses, the GRADE settings. Strict.

The sections that hold analysis options (``model``, ``bayes``, ``tsa``, and the arm
names at the top level) are generated from ``plan.options.OPTIONS``; ``plan_layer``
turns a loaded plan into the layer that ``plan.resolve.resolve`` applies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, create_model

from metasynth.errors import DataError
from metasynth.plan.options import (
    CONTROL,
    EXPERIMENTAL,
    OPTIONS,
    TAU_PRIOR,
    TAU_SCALE,
    TURNER_COMPARISON,
    Option,
)
from metasynth.records.messages import first_schema_error
from metasynth.records.schema import NonEmpty, Strict
from metasynth.records.yaml_source import load_yaml

PLAN_FILE = "analysis.yaml"


def _field_type(option: Option):
    """The pydantic type of one option, from the table."""
    if option.choices:
        kind = Literal[option.values]
    elif option.kind is float:
        kind = Annotated[float, Field(allow_inf_nan=False,
                                      **{("gt" if option.low_open else "ge"): option.low}
                                      if option.low is not None else {},
                                      **{("lt" if option.high_open else "le"): option.high}
                                      if option.high is not None else {})]
    elif option.kind == "floats":
        kind = list[Annotated[float, Field(allow_inf_nan=False,
                                           **{("gt" if option.low_open else "ge"): option.low},
                                           **{"le": option.high} if option.high is not None
                                           else {})]]
    elif option.kind is bool:
        kind = bool
    else:
        kind = NonEmpty
    return kind | None if option.nullable else kind


def _section_model(name: str, section: str | None, optional: bool = False, extra: dict | None = None,
                   doc: str = ""):
    """A strict pydantic model of the table's options in ``section`` (all optional when
    ``optional``: the changes of a sensitivity analysis), plus ``extra`` fields."""
    fields = {}
    for o in OPTIONS:
        if o.section != section or not o.in_plan:
            continue
        kind = _field_type(o)
        default = o.default if not isinstance(o.default, tuple) else list(o.default)
        fields[o.name] = ((kind | None, Field(None, description=o.help)) if optional
                          else (kind, Field(default, description=o.help)))
    fields.update(extra or {})
    model = create_model(name, __base__=Strict, **fields)
    model.__doc__ = doc
    return model


Model = _section_model("Model", "model", doc="The statistical model (plan.options, section model).")
ModelChanges = _section_model("ModelChanges", "model", optional=True,
                              doc="Model options a sensitivity analysis changes.")


class TauPriorSpec(Strict):
    """A prior for tau, in the option table's words (tau_prior, tau_scale, turner_comparison)."""

    tau_prior: Literal[TAU_PRIOR.values] = TAU_PRIOR.default
    tau_scale: Annotated[float, Field(gt=0, allow_inf_nan=False)] = TAU_SCALE.default
    turner_comparison: NonEmpty = TURNER_COMPARISON.default


class Sensitivity(Strict):
    id: NonEmpty
    label: NonEmpty
    include: dict[str, list[str]] | None = Field(
        None, description="keep only trials whose field has one of these values")
    exclude: dict[str, list[str]] | None = Field(
        None, description="drop trials whose field has one of these values")
    alternative: bool = Field(False, description="use the alternative values of conflicts")
    model: Literal["random", "common"] = "random"
    options: ModelChanges | None = None


PerThousand = Annotated[float, Field(gt=0, lt=1000, allow_inf_nan=False)]


class AbsoluteThresholds(Strict):
    """Thresholds of one outcome, per 1000 patients (GRADE 34/35)."""

    benefit_per_1000: PerThousand
    harm_per_1000: PerThousand


class MinimallyImportantDifference(Strict):
    """The smallest difference in means that matters for one continuous outcome, in the
    outcome's units (GRADE 34/35, Zeng et al. 2022; the optimal information size of
    GRADE 6, Guyatt et al. 2011, J Clin Epidemiol 64:1283-1293)."""

    mid: Annotated[float, Field(gt=0, allow_inf_nan=False, description=(
        "the minimally important difference, in the outcome's units (days, ...)"))]
    sd: Annotated[float, Field(gt=0, allow_inf_nan=False, description=(
        "the SD of the outcome for the optimal information size; omitted: the pooled "
        "SD of the trials' control arms"))] | None = None
    source: NonEmpty = Field(description="where the value comes from (a citation, or "
                             "'reviewers' judgement')")


class Grade(Strict):
    """GRADE settings. Imprecision is rated on the absolute effect (per 1000) against the
    thresholds of an important benefit and harm (GRADE guidance 34 and 35, Zeng et al.
    2022, J Clin Epidemiol 150:216-224 and 225-242), then on the optimal information size."""

    relative_risk_reduction: Annotated[float, Field(gt=0, lt=1, description=(
        "the relative risk reduction of the optimal information size"))] = 0.25
    benefit_threshold: Annotated[float, Field(gt=0, description=(
        "a relative effect beyond which a trial's estimate is an important benefit "
        "(inconsistency: estimates on both sides of the thresholds; imprecision when no "
        "control risk is known)"))] = 0.75
    harm_threshold: Annotated[float, Field(gt=0, description=(
        "a relative effect beyond which a trial's estimate is an important harm"))] = 1.25
    benefit_per_1000: Annotated[PerThousand, Field(description=(
        "the smallest absolute benefit per 1000 patients that matters (GRADE 34/35)"))] = 20
    harm_per_1000: Annotated[PerThousand, Field(description=(
        "the smallest absolute harm per 1000 patients that matters"))] = 20
    thresholds: dict[NonEmpty, AbsoluteThresholds] = Field(
        default_factory=dict, description="per-outcome absolute thresholds (outcome id -> "
        "{benefit_per_1000, harm_per_1000}) where they differ from the defaults")
    mids: dict[NonEmpty, MinimallyImportantDifference] = Field(
        default_factory=dict, description="continuous outcomes pooled as MD: outcome id -> "
        "{mid, sd, source}. Imprecision is then rated on the CI against the MID in both "
        "directions, and the optimal information size is calculated; without it the CI is "
        "read against the null (minimally contextualised) and no OIS is calculated")
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0.5, lt=1)] = 0.80
    population: str | None = Field(None, description="the Summary of Findings' "
                                   "'Patient or population' line")
    setting: str | None = Field(None, description="the Summary of Findings' 'Setting' line")
    overrides: Annotated[str, Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.ya?ml$",
        description="the reviewers' GRADE judgements: a YAML file in the studies folder "
        "(a file name, not a path)")] | None = "grade.yaml"

    def absolute_thresholds(self, outcome: str) -> tuple[float, float]:
        """(benefit, harm) per 1000 for ``outcome``."""
        t = self.thresholds.get(outcome)
        return (t.benefit_per_1000, t.harm_per_1000) if t else (self.benefit_per_1000,
                                                                 self.harm_per_1000)


Bayes = _section_model(
    "Bayes", "bayes",
    extra={"outcomes": (list[NonEmpty], Field(default_factory=lambda: ["mortality"])),
           "sensitivity_priors": (list[TauPriorSpec], Field(default_factory=list))},
    doc="Bayesian random-effects meta-analysis (models.bayes): priors and thresholds.")

TSA = _section_model(
    "TSA", "tsa",
    extra={"outcome": (NonEmpty, "mortality"), "rationale": (str | None, None)},
    doc="Trial sequential analysis (models.sequential): the anticipated effect and error rates.")


Simulate = _section_model(
    "Simulate", "simulate",
    extra={"outcome": (NonEmpty, "mortality"),
           "justification": (Literal["none", "simulation"], Field(
               "none", description="the reason the plan gives for its tau² estimator and CI "
               "method: 'simulation' if they were chosen for their coverage simulated on "
               "trials like these (metasynth simulate --save studies/simulation.json); the "
               "report's methods text then cites it"))},
    doc="Simulated operating characteristics of the methods (models.simulate): the scenarios, "
        "and whether the plan names the simulation as the reason for its choice of method.")


class ExcludedStudy(Strict):
    study: NonEmpty
    reference: NonEmpty
    reason: NonEmpty


class AnalysisPlan(Strict):
    title: NonEmpty
    subtitle: str | None = None
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    experimental: NonEmpty = EXPERIMENTAL.default
    control: NonEmpty = CONTROL.default
    page_size: Literal["A4", "Letter"] = "A4"
    outcomes: Annotated[list[NonEmpty], Field(min_length=1)]
    model: Model = Field(default_factory=Model)
    subgroups: list[NonEmpty] = Field(default_factory=list)
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    grade: Grade = Field(default_factory=Grade)
    bayes: Bayes | None = None
    tsa: TSA | None = None
    simulate: Simulate | None = None
    excluded_studies: list[ExcludedStudy] = Field(default_factory=list)
    timepoint_rationale: dict[NonEmpty, NonEmpty] = Field(
        default_factory=dict, description="why each outcome's timepoint window (in "
        "outcomes.yaml) is what it is, with the reviews it follows (Cochrane Handbook 6.2)")


class Override(Strict):
    downgrade: Annotated[int, Field(ge=0, le=2)]
    reason: NonEmpty


Domain = Literal["risk_of_bias", "inconsistency", "indirectness", "imprecision",
                 "publication_bias"]


def load_plan(path: str | Path) -> AnalysisPlan:
    path = Path(path)
    if not path.exists():
        raise DataError(f"analysis plan not found (expected {PLAN_FILE} beside the records)",
                        str(path))
    doc = load_yaml(path)
    try:
        return AnalysisPlan.model_validate(doc.data)
    except ValidationError as err:
        raise first_schema_error(err, doc) from None


def load_overrides_document(path: str | Path):
    """The reviewers' GRADE file as read (``YamlDocument``), or None when it is absent."""
    path = Path(path)
    return load_yaml(path) if path.exists() else None


def load_overrides(path: str | Path) -> dict[str, dict[str, Override]]:
    """{outcome: {domain: Override}} from the reviewers' GRADE file (absent: none); an
    outcome's ``comment`` (the Summary of Findings' comments column) is kept as a string
    under the key "comment"."""
    path = Path(path)
    doc = load_overrides_document(path)
    if doc is None:
        return {}
    data = doc.data or {}
    if not isinstance(data, dict):
        raise DataError("expected a mapping of outcome -> domain -> {downgrade, reason}",
                        str(path), 1)
    domains = set(Domain.__args__)
    out: dict[str, dict[str, Override]] = {}
    for outcome, entries in data.items():
        if not isinstance(entries, dict):
            raise DataError(f"'{outcome}' must map domains to judgements", str(path),
                            doc.line_of((outcome,)))
        out[outcome] = {}
        for domain, value in entries.items():
            if domain == "comment" and isinstance(value, str) and value.strip():
                from metasynth.safetext import control_problem

                problem = control_problem(value)
                if problem:
                    raise DataError(f"{outcome}.comment: text {problem}", str(path),
                                    doc.line_of((outcome, domain)))
                out[outcome]["comment"] = value.strip()
                continue
            if domain not in domains:
                raise DataError(f"unknown GRADE domain '{domain}' (known: "
                                f"{', '.join(sorted(domains))})", str(path),
                                doc.line_of((outcome, domain)))
            try:
                out[outcome][domain] = Override.model_validate(value)
            except ValidationError as err:
                raise DataError(f"{outcome}.{domain}: {err.errors()[0]['msg']}", str(path),
                                doc.line_of((outcome, domain))) from None
    return out


def plan_layer(plan: AnalysisPlan) -> dict:
    """The option values a plan sets, keyed by option name (for ``resolve``)."""
    layer: dict = {"experimental": plan.experimental, "control": plan.control}
    sections = {"model": plan.model, "bayes": plan.bayes, "tsa": plan.tsa,
                "simulate": plan.simulate}
    for o in OPTIONS:
        if o.in_plan and o.section in sections and sections[o.section] is not None:
            layer[o.name] = getattr(sections[o.section], o.name)
    return layer
