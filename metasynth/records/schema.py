"""The trial-record schema: one definition, from which the JSON Schema and the
field reference in ``studies/README.md`` are generated (``metasynth schema``).

Models are strict (no silent type coercion: "12" is not 12, 1.10 is not "1.10")
and forbid unknown keys, so a misspelt field is an error, not a silent omission.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


def _no_controls(value):
    """Refuse control characters in any text of a record (``safetext``): ESC and BEL
    would reach terminals raw and make the report's SVG invalid XML."""
    from metasynth.safetext import control_problem

    if isinstance(value, str):
        problem = control_problem(value)
        if problem:
            raise ValueError(f"text {problem}")
    elif isinstance(value, (list, tuple)):
        for v in value:
            _no_controls(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_controls(k)
            _no_controls(v)
    return value


class Strict(BaseModel):
    # strict=True in one model's config does not reach nested models in pydantic v2,
    # so every model derives from this base.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    _controls = field_validator("*", mode="after")(classmethod(lambda cls, v: _no_controls(v)))


NonEmpty = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=0)]
Judgement = Literal["low", "some-concerns", "high"]
ExtractionStatus = Literal["primary", "secondary", "derived"]
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
ID_RE = re.compile(r"^[a-z][a-z0-9]*[0-9]{4}[a-z]?$")


class Provenance(Strict):
    """Where a number was read: source id, extraction status, location and verbatim quote.

    The status says whether the number was read in the trial's own publication, only in a
    secondary source, or derived; ``Study.extraction_status`` summarises a number's entries."""

    source: NonEmpty = Field(description="id of an entry in `sources`")
    status: ExtractionStatus | None = Field(
        None, description="extraction status of the number this entry gives: primary = "
        "read in the trial's own publication (a `primary` source); secondary = read only in "
        "a secondary source (review, meta-analysis, registry summary: a `secondary` or "
        "`registry` source); derived = computed from the quote (`derived` says how); null: "
        "not recorded (validate warns)")
    location: NonEmpty = Field(description="abstract, Table 2, Figure 1, page 5, ...")
    quote: NonEmpty = Field(description="the sentence or table row, verbatim")
    derived: str | None = Field(None, description="how a number not in the quote was derived")

    @model_validator(mode="after")
    def _derived_says_how(self):
        if self.status == "derived" and not self.derived:
            raise ValueError("status 'derived' needs `derived`: how the number was obtained")
        return self


Provenances = Annotated[list[Provenance], Field(min_length=1)]


class Citation(Strict):
    title: NonEmpty
    first_author: NonEmpty = Field(description="family name of the first author")
    year: Annotated[int, Field(ge=1990, le=2100)]
    journal: NonEmpty
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    doi: NonEmpty
    pmid: str | None = None

    @field_validator("doi")
    @classmethod
    def _doi(cls, v: str) -> str:
        if not DOI_RE.match(v):
            raise ValueError(f"DOI {v!r} does not look like 10.xxxx/...")
        return v

    @field_validator("pmid")
    @classmethod
    def _pmid(cls, v: str | None) -> str | None:
        if v is not None and not v.isdigit():
            raise ValueError(f"PMID {v!r} must be digits only")
        return v


class Source(Strict):
    id: NonEmpty
    kind: Literal["primary", "secondary", "registry"] = Field(
        description="primary: the trial's own publication; secondary: another paper "
        "(review, meta-analysis); registry: a trial registry record")
    citation: NonEmpty
    doi: str | None = None
    url: str | None = Field(None, description="http(s) address of the source (or doi:10....)")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        from metasynth.safetext import url_problem

        problem = url_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _where(self):
        if not self.doi and not self.url:
            raise ValueError("a source needs a doi or a url")
        return self


class Design(Strict):
    randomization: Literal["randomized", "quasi-randomized", "unclear"]
    allocation_concealment: str | None = None
    blinding: Literal["double", "single", "open-label", "unclear"]
    control: Literal["placebo", "sham", "standard-care", "active"]
    phase: str | None = None
    countries: list[NonEmpty]
    centres: Annotated[int, Field(ge=1)] | None = None
    planned_sample_size: Annotated[int, Field(ge=1)] | None = None
    stopped_early: bool | None = None
    stopped_reason: str | None = None
    notes: str | None = None


class Population(Strict):
    condition: NonEmpty
    ards_severity: NonEmpty
    ventilation_at_baseline: Literal["invasive", "non-invasive-or-oxygen", "mixed", "unclear"]
    age: str | None = None


class Intervention(Strict):
    product: NonEmpty
    product_type: Literal["cells", "secretome", "extracellular-vesicles"]
    tissue_source: Literal["bone-marrow", "umbilical-cord", "wharton-jelly", "adipose",
                           "placenta", "dental-pulp", "menstrual-blood", "perinatal-other",
                           "unclear"]
    dose: NonEmpty
    dose_per_kg: Annotated[float, Field(gt=0)] | None = Field(
        None, description="cells per kg per infusion, only where the trial states it per kg")
    infusions: Annotated[int, Field(ge=1)] | None = None
    schedule: str | None = None
    comparator: NonEmpty


class Arm(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    role: Literal["experimental", "control"]
    label: NonEmpty
    randomized: Count | None = None
    analysed: Count | None = None
    provenance: list[Provenance] = Field(default_factory=list)


class BinaryCount(Strict):
    events: Count
    total: Annotated[int, Field(ge=1)]


class ContinuousSummary(Strict):
    """One arm's continuous outcome as published: mean and SD, or median with quartiles and/or range.

    A median is converted to a mean and SD at analysis time (``effects/conversions.py``:
    Luo 2018, Wan 2014, Shi 2020), never by hand."""

    n: Annotated[int, Field(ge=1)]
    mean: float | None = None
    sd: Annotated[float, Field(ge=0)] | None = None
    median: float | None = None
    q1: float | None = Field(None, description="first quartile (with `q3`: the IQR)")
    q3: float | None = Field(None, description="third quartile")
    min: float | None = Field(None, description="minimum (with `max`: the range)")
    max: float | None = Field(None, description="maximum")

    @model_validator(mode="after")
    def _quantiles_in_order(self):
        given = [(k, getattr(self, k)) for k in ("min", "q1", "median", "q3", "max")
                 if getattr(self, k) is not None]
        for (ka, a), (kb, b) in pairwise(given):
            if a > b:
                raise ValueError(f"{ka} ({a:g}) is above {kb} ({b:g})")
        for lo, hi in (("q1", "q3"), ("min", "max")):
            if (getattr(self, lo) is None) != (getattr(self, hi) is None):
                raise ValueError(f"give both {lo} and {hi}, or neither")
        return self


class ReportedEstimate(Strict):
    """A trial's own effect estimate, pooled by generic inverse variance: its SE comes from
    the CI, or, without a CI, from the two-sided p-value (Cochrane Handbook 6.3)."""

    measure: Literal["RR", "OR", "RD", "HR", "MD", "SMD", "ROM"]
    value: float
    ci_lower: float | None = Field(None, description="lower limit of the 95% CI")
    ci_upper: float | None = Field(None, description="upper limit of the 95% CI")
    p: Annotated[float, Field(ge=0, le=1)] | None = None
    p_text: str | None = None
    adjusted: bool
    provenance: Provenances

    @model_validator(mode="after")
    def _order(self):
        if (self.ci_lower is None) != (self.ci_upper is None):
            raise ValueError("give both ci_lower and ci_upper, or neither")
        if self.ci_lower is None:
            if self.p is None:
                raise ValueError("a reported estimate needs its 95% CI or its p-value")
            return self
        if not self.ci_lower <= self.value <= self.ci_upper:
            raise ValueError(f"estimate {self.value} lies outside its CI "
                             f"[{self.ci_lower}, {self.ci_upper}]")
        return self


class Alternative(Strict):
    counts: dict[str, BinaryCount]
    provenance: Provenances
    reason: NonEmpty


class Outcome(Strict):
    endpoint: NonEmpty = Field(description="an endpoint id of studies/outcomes.yaml")
    timepoint_days: Annotated[int, Field(ge=1)]
    counts: dict[str, BinaryCount] | None = None
    values: dict[str, ContinuousSummary] | None = None
    provenance: Provenances
    reported_estimate: ReportedEstimate | None = None
    alternatives: list[Alternative] = Field(default_factory=list)
    notes: str | None = None


class RobDomain(Strict):
    judgement: Judgement
    support: NonEmpty


class RiskOfBias(Strict):
    """One RoB 2 assessment, made for one endpoint (RoB 2 is outcome-specific: Sterne et
    al. 2019). An endpoint without its own assessment is "not assessed", never another's."""

    endpoint: NonEmpty = Field(description="the endpoint id (studies/outcomes.yaml) this "
                               "assessment was made for")
    tool: Literal["RoB2"]
    D1: RobDomain
    D2: RobDomain
    D3: RobDomain
    D4: RobDomain
    D5: RobDomain
    overall: RobDomain
    assessor: str | None = None


class RecordInfo(Strict):
    """Who extracted the record and who verified it against the trial's full text, and when."""

    extracted_by: NonEmpty = Field(description="who extracted the numbers, e.g. "
                                   "\"AI-assisted extraction (metasynth helpers)\"")
    extracted_on: NonEmpty
    verified_by: str | None = Field(None, description="who checked every number against the "
                                    "full text; null: not yet verified")
    verified_on: str | None = Field(None, description="when it was verified (YYYY-MM-DD)")
    notes: str | None = None

    @property
    def verified(self) -> bool:
        return bool(self.verified_by and self.verified_on)


class Study(Strict):
    """One randomized trial: its citation, design, arms, outcomes and risk of bias."""

    id: Annotated[str, Field(description="firstauthorYEAR in lower case; equals the file stem")]
    citation: Citation
    registration: list[NonEmpty]
    sources: Annotated[list[Source], Field(min_length=1)]
    design: Design
    population: Population
    intervention: Intervention
    arms: Annotated[list[Arm], Field(min_length=2)]
    outcomes: list[Outcome] = Field(default_factory=list)
    risk_of_bias: list[RiskOfBias] = Field(
        default_factory=list, description="RoB 2 assessments, one per endpoint assessed")
    record: RecordInfo | None = None

    @field_validator("risk_of_bias", mode="before")
    @classmethod
    def _one_assessment(cls, v):
        # records before per-outcome RoB held one mapping with `outcome: <endpoint>`
        if isinstance(v, dict):
            v = dict(v)
            if "outcome" in v and "endpoint" not in v:
                v["endpoint"] = v.pop("outcome")
            return [v]
        return v

    def extraction_status(self, provenance: list[Provenance]) -> str | None:
        """The extraction status of the number(s) ``provenance`` documents: "primary" when
        one entry read them in the trial's own publication; else "derived" when one entry
        computed them from the trial's own publication; else "secondary" (read, or derived,
        only in secondary sources: the number was not found in the trial's own publication);
        None when no entry records a status."""
        kinds = {s.id: s.kind for s in self.sources}
        statuses = {(p.status, kinds.get(p.source)) for p in provenance if p.status}
        if not statuses:
            return None
        if any(st == "primary" for st, _ in statuses):
            return "primary"
        if ("derived", "primary") in statuses:
            return "derived"
        return "secondary"

    def rob_for(self, endpoint: str) -> RiskOfBias | None:
        """The assessment made for ``endpoint``, or None (not assessed)."""
        return next((r for r in self.risk_of_bias if r.endpoint == endpoint), None)

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError(f"id {v!r} must be firstauthorYEAR in lower case ASCII, "
                             "e.g. monsel2022")
        return v
