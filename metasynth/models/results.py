"""Immutable results of a pooled analysis, with ``to_dict()`` for the JSON contract.

Values on the analysis scale: ``theta``, ``se``, ``yi``, ``vi`` (log for RR and OR).
Values on the reporting scale: ``estimate`` and every CI or PI bound (ratios for RR
and OR). ``None`` stands for "not defined here" (e.g. a prediction interval at k < 3)
and becomes ``null`` in JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


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
    source: str  # counts | reported | none
    corrected: bool  # continuity correction applied to its yi, vi
    excluded_reason: str | None
    year: int | None = None
    subgroup: str | None = None
    notes: tuple[str, ...] = ()


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
class PoolResult:
    """One pooled analysis: per-study effects, common and random effects, heterogeneity."""

    outcome: str | None
    outcome_label: str | None
    measure: str
    k: int
    studies: tuple[StudyEffect, ...]
    common: CommonEffect
    random: RandomEffects
    heterogeneity: Heterogeneity
    options: dict
    zero_cell_rule: str
    better: str = "lower"
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    source: str = ""

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
            "studies": [s.to_dict() for s in self.studies],
            "common": self.common.to_dict(),
            "random": self.random.to_dict(),
            "heterogeneity": self.heterogeneity.to_dict(),
            "options": self.options,
            "zero_cell_rule": self.zero_cell_rule,
            "better": self.better,
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "source": self.source,
        })

    def summary(self) -> str:
        """The text report (as ``metasynth pool`` prints it)."""
        from metasynth.render.text.pool import render_text

        return render_text(self)
