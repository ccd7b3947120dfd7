"""The analysis plan (``studies/analysis.yaml``): which outcomes, which model, which
subgroup and sensitivity analyses, and the GRADE settings. One definition, strict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from metasynth.errors import DataError
from metasynth.records.messages import first_schema_error
from metasynth.records.schema import NonEmpty, Strict
from metasynth.records.yaml_source import load_yaml

PLAN_FILE = "analysis.yaml"


class ZeroCells(Strict):
    add: float = 0.5
    to: Literal["only0", "all", "if0all", "none"] = "only0"
    drop00: bool | None = None


class Model(Strict):
    measure: Literal["RR", "OR", "RD"] = "RR"
    tau2: Literal["REML", "DL", "PM", "ML", "HE", "SJ", "EB"] = "REML"
    ci: Literal["hksj", "hksj-adhoc", "wald"] = "hksj"
    pi: Literal["hts", "metafor"] = "hts"
    common: Literal["MH", "IV", "Peto"] = "MH"
    mh_correction: bool = False
    zero_cells: ZeroCells = Field(default_factory=ZeroCells)


class ModelChanges(Strict):
    tau2: Literal["REML", "DL", "PM", "ML", "HE", "SJ", "EB"] | None = None
    ci: Literal["hksj", "hksj-adhoc", "wald"] | None = None
    common: Literal["MH", "IV", "Peto"] | None = None
    mh_correction: bool | None = None


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


class Grade(Strict):
    relative_risk_reduction: Annotated[float, Field(gt=0, lt=1)] = 0.25
    benefit_threshold: Annotated[float, Field(gt=0)] = 0.75
    harm_threshold: Annotated[float, Field(gt=0)] = 1.25
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0.5, lt=1)] = 0.80
    overrides: str | None = "grade.yaml"


class TauPriorSpec(Strict):
    kind: Literal["half-normal", "half-cauchy", "turner-mortality", "uniform"] = "half-normal"
    scale: Annotated[float, Field(gt=0)] = 0.5
    comparison: str = "pharmacological vs. placebo / control"  # turner-mortality only

    def build(self):
        from metasynth.models.bayes import normal_normal as bayes

        if self.kind == "half-normal":
            return bayes.half_normal(self.scale)
        if self.kind == "half-cauchy":
            return bayes.half_cauchy(self.scale)
        if self.kind == "uniform":
            return bayes.uniform_tau()
        if self.comparison not in bayes.TURNER_ALL_CAUSE_MORTALITY:
            known = "; ".join(bayes.TURNER_ALL_CAUSE_MORTALITY)
            raise DataError(f"unknown Turner comparison {self.comparison!r} (known: {known})")
        return bayes.turner_mortality(self.comparison)


class Bayes(Strict):
    """Bayesian random-effects meta-analysis (models.bayes): priors and thresholds."""

    outcomes: list[NonEmpty] = Field(default_factory=lambda: ["mortality"])
    tau_prior: TauPriorSpec = Field(default_factory=TauPriorSpec)
    mu_prior_sd: Annotated[float, Field(gt=0)] | None = Field(
        None, description="sd of a normal prior on the pooled log effect (mean 0); none: flat")
    thresholds: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [1.0, 0.9, 0.8])
    sensitivity_priors: list[TauPriorSpec] = Field(default_factory=list)

    @property
    def mu_prior(self):
        return None if self.mu_prior_sd is None else (0.0, self.mu_prior_sd)


class TSA(Strict):
    """Trial sequential analysis (models.tsa): the anticipated effect and error rates."""

    outcome: NonEmpty = "mortality"
    control_risk: Annotated[float, Field(gt=0, lt=1)] = 0.40
    relative_risk_reduction: Annotated[float, Field(gt=0, lt=1)] = 0.425
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    beta: Annotated[float, Field(gt=0, lt=0.5)] = 0.10
    d2: Annotated[float, Field(ge=0, lt=1)] | None = None
    futility: bool = True
    rationale: str | None = None

    def build(self):
        from metasynth.models.sequential.tsa import TSAPlan

        return TSAPlan(self.control_risk, self.relative_risk_reduction, self.alpha, self.beta,
                       self.d2, "obf", self.futility)


class ExcludedStudy(Strict):
    study: NonEmpty
    reference: NonEmpty
    reason: NonEmpty


class AnalysisPlan(Strict):
    title: NonEmpty
    subtitle: str | None = None
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    experimental: NonEmpty = "MSC"
    control: NonEmpty = "Control"
    page_size: Literal["A4", "Letter"] = "A4"
    outcomes: Annotated[list[NonEmpty], Field(min_length=1)]
    model: Model = Field(default_factory=Model)
    subgroups: list[NonEmpty] = Field(default_factory=list)
    sensitivity: list[Sensitivity] = Field(default_factory=list)
    grade: Grade = Field(default_factory=Grade)
    bayes: Bayes | None = None
    tsa: TSA | None = None
    excluded_studies: list[ExcludedStudy] = Field(default_factory=list)


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


def load_overrides(path: str | Path) -> dict[str, dict[str, Override]]:
    """{outcome: {domain: Override}} from the reviewers' GRADE file (absent: none)."""
    path = Path(path)
    if not path.exists():
        return {}
    doc = load_yaml(path)
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
