"""Immutable results of a pooled analysis, with ``to_dict()`` for the JSON contract.

Values on the analysis scale: ``theta``, ``se``, ``yi``, ``vi`` (log for RR and OR).
Values on the reporting scale: ``estimate`` and every CI or PI bound (ratios for RR
and OR). ``None`` stands for "not defined here" (e.g. a prediction interval at k < 3)
and becomes ``null`` in JSON.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metasynth.effects.binary import EffectSizes
    from metasynth.plan.spec import AnalysisSpec

# Printers for result types, filled in by metasynth.render.text (which imports this
# module, never the other way round): models know nothing of words.
TEXT_RENDERERS: dict[type, Callable[[Any], str]] = {}


def text_renderer(cls: type):
    """Register the text renderer of result class ``cls`` (used by ``summary()``)."""
    def register(fn):
        TEXT_RENDERERS[cls] = fn
        return fn
    return register


def frame(rows, index: str | None = None):
    """A pandas DataFrame of ``rows`` (dicts or dataclasses), indexed by ``index``; pandas
    is imported here, only when a frame is asked for."""
    import pandas as pd

    data = [asdict(r) if hasattr(r, "__dataclass_fields__") else dict(r) for r in rows]
    df = pd.DataFrame(data)
    return df.set_index(index) if index and not df.empty else df


# Every warning a model attaches to a result, with the values its words need. The words
# are in render/text/warnings.py (models know no words); a test checks each code has them.
WARNING_VALUES: dict[str, tuple[str, ...]] = {
    "one_study": (),
    "few_studies": ("k",),
    "hksj_t_multiplier": ("df", "multiplier", "z"),
    "wald_few_studies": ("level",),
    "no_prediction_interval": (),
    "wide_prediction_interval": ("df", "multiplier"),
    "i2_ci_wide": ("level", "lower", "upper"),
    "hksj_narrower_than_wald": (),
    "tau2_not_converged": ("method", "iterations"),
    "tau2_multiple_maxima": ("method", "tau2", "other"),
    "median_conversion_skewed": ("study", "arm", "check"),
    "metareg_few_studies": ("k", "moderators"),
    "metareg_observational": (),
}


@dataclass(frozen=True, init=False)
class ResultWarning:
    """A warning on a result: its ``code`` (a key of ``WARNING_VALUES``) and the numbers
    or names its words need, e.g. ``ResultWarning("few_studies", k=3)``."""

    code: str
    values: tuple[tuple[str, Any], ...]

    def __init__(self, code: str, **values: Any) -> None:
        expected = WARNING_VALUES.get(code)
        if expected is None:
            raise ValueError(f"unknown warning code {code!r}")
        if set(values) != set(expected):
            raise ValueError(f"warning {code!r} takes {expected}, not {tuple(values)}")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "values", tuple((n, values[n]) for n in expected))

    def __getitem__(self, name: str) -> Any:
        return dict(self.values)[name]

    def to_dict(self) -> dict:
        """``{"code": ..., **values}``; render/json_out adds the ``message``."""
        return _clean({"code": self.code, **dict(self.values)})


class Printable:
    """``summary()`` for people (as statsmodels), from the registered renderer."""

    def summary(self) -> str:
        render = TEXT_RENDERERS.get(type(self))
        if render is None:
            raise TypeError(f"no text renderer for {type(self).__name__} "
                            "(import metasynth.render.text)")
        return render(self)

    def __str__(self) -> str:
        return self.summary() if type(self) in TEXT_RENDERERS else repr(self)


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class _ToDict:
    def to_dict(self) -> dict:
        return _clean(asdict(self))


@dataclass(frozen=True)
class StudyEffect(_ToDict):
    id: str
    label: str
    treatment_events: int | None
    treatment_total: int | None
    control_events: int | None
    control_total: int | None
    yi: float | None
    vi: float | None
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    p: float | None  # two-sided Wald test of no effect for this study
    weight_common: float | None
    weight_random: float | None
    included: bool
    source: str  # counts | means | o-e/v | reported | none
    corrected: bool  # continuity correction applied to its yi, vi
    excluded_reason: str | None
    year: int | None = None
    subgroup: str | None = None
    notes: tuple[str, ...] = ()
    # primary | derived | secondary (records.schema.Study.extraction_status); None: not recorded
    extraction: str | None = None
    # continuous outcomes: the arms' means and SDs (totals above); time-to-event: O - E, V
    treatment_mean: float | None = None
    treatment_sd: float | None = None
    control_mean: float | None = None
    control_sd: float | None = None
    o_minus_e: float | None = None
    variance: float | None = None
    se_from: str | None = None  # reported estimates: the SE came from the "ci" or the "p"
    # continuous: each arm's mean and SD derived from a median (effects.conversions), as
    # {"arm", "kind", "inputs", "method", "n", "mean", "sd", "references", "warnings", ...}
    conversions: tuple[dict, ...] | None = None

    def to_dict(self) -> dict:
        """The JSON of one study; the keys of the other data types (``DATA_KEYS``) appear
        only where they have a value, so a binary study's keys are as they were in 0.2."""
        d = super().to_dict()
        return {k: v for k, v in d.items() if k not in DATA_KEYS or v is not None}


DATA_KEYS = ("treatment_mean", "treatment_sd", "control_mean", "control_sd", "o_minus_e",
             "variance", "se_from", "conversions")


@dataclass(frozen=True)
class CommonEffect(_ToDict):
    method: str
    theta: float | None
    se: float | None
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    z: float | None
    p: float | None
    Q: float | None  # Q around this estimate (metafor rma.mh / rma.peto QE)
    mh_correction: bool = False


@dataclass(frozen=True)
class RandomEffects(_ToDict):
    tau2_method: str
    ci_method: str
    pi_method: str
    theta: float | None
    se: float | None
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    stat: float | None  # z for wald, t for hksj
    df: float | None  # None for wald
    p: float | None
    pi_lower: float | None
    pi_upper: float | None
    se_wald: float | None = None
    tau2_iterations: int = 0
    tau2_fallback: bool = False
    tau2_multiple_maxima: bool = False  # the (restricted) likelihood had several maxima


@dataclass(frozen=True)
class Heterogeneity(_ToDict):
    Q: float | None
    Q_df: int
    Q_p: float | None
    I2: float | None  # percent
    H2: float | None
    tau2: float | None
    tau: float | None
    tau2_ci_lower: float | None
    tau2_ci_upper: float | None
    I2_ci_lower: float | None
    I2_ci_upper: float | None
    H2_ci_lower: float | None = None
    H2_ci_upper: float | None = None


@dataclass(frozen=True)
class Counts(_ToDict):
    """The counts every section reports, by one rule (RevMan's): every trial with data for
    the outcome is in the analysis, estimable or not (a trial without events in either arm
    is shown as "not estimable" and footnoted). ``*_estimable`` are those in the estimate."""

    trials: int
    trials_estimable: int
    participants: int
    participants_estimable: int
    events_experimental: int
    total_experimental: int
    events_control: int
    total_control: int

    @property
    def not_estimable(self) -> int:
        return self.trials - self.trials_estimable


@dataclass(frozen=True)
class PoolResult(Printable):
    """One pooled analysis: per-study effects, common and random effects, heterogeneity,
    with the specification it was fitted with (``spec``), the counts by the one counting
    rule (``counts``) and the per-study effects it was fitted to (``effects``), so verbs
    such as leave-one-out refit it with the same options."""

    outcome: str | None
    outcome_label: str | None
    k: int
    studies: tuple[StudyEffect, ...]
    common: CommonEffect
    random: RandomEffects
    heterogeneity: Heterogeneity
    spec: AnalysisSpec
    counts: Counts
    zero_cell_rule: str
    warnings: tuple[ResultWarning, ...] = ()
    notes: tuple[str, ...] = ()
    source: str = ""
    effects: EffectSizes | None = field(default=None, repr=False, compare=False)

    @property
    def measure(self) -> str:
        return self.spec.measure

    @property
    def better(self) -> str:
        return self.spec.direction

    @property
    def included(self) -> tuple[StudyEffect, ...]:
        return tuple(s for s in self.studies if s.included)

    @property
    def excluded(self) -> tuple[StudyEffect, ...]:
        return tuple(s for s in self.studies if not s.included)

    def to_dict(self) -> dict:
        """The JSON contract of ``metasynth pool --format json`` (see docs/json-contract.md)."""
        from metasynth import __version__

        return _clean({
            "metasynth_version": __version__,
            "outcome": self.outcome,
            "outcome_label": self.outcome_label,
            "measure": self.measure,
            "k": self.k,
            "counts": self.counts.to_dict(),
            "studies": [s.to_dict() for s in self.studies],
            "common": self.common.to_dict(),
            "random": self.random.to_dict(),
            "heterogeneity": self.heterogeneity.to_dict(),
            "spec": self.spec.to_dict(),
            "zero_cell_rule": self.zero_cell_rule,
            "better": self.better,
            "warnings": [w.to_dict() for w in self.warnings],
            "notes": list(self.notes),
            "source": self.source,
        })

    def to_frame(self):
        """One row per study (pandas DataFrame), as ``summary_frame()`` in statsmodels."""
        return frame(self.studies, "id")
