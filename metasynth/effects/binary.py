"""Risk ratio, odds ratio and risk difference from 2x2 counts, as metafor's ``escalc``.

yi is log(RR), log(OR) or RD; vi is its large-sample variance:
RR: 1/a - 1/n1 + 1/c - 1/n2;  OR: 1/a + 1/b + 1/c + 1/d;
RD: a b / n1^3 + c d / n2^3 (Fleiss 1994; metafor ``vtype = "LS"``).

Zero cells (``ZeroCellRule``): by default 0.5 is added to all four cells of a study
with a zero cell (metafor ``add = 1/2, to = "only0"``; RevMan), and a study with no
events in either arm ("double zero") is excluded for RR and OR, as Cochrane does
(Handbook 10.4.4.2), but kept for RD, where it carries information. metafor's own
default keeps double-zero studies (``drop00 = FALSE``); our fixtures pass
``drop00 = TRUE`` for RR and OR.

A study that reports only an estimate with a 95% CI enters by the generic
inverse-variance method: yi = log(estimate) (ratios), vi = ((log U - log L) / (2 z))^2.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from metasynth.effects.generic import reported_effect
from metasynth.effects.labels import MEASURE_LABELS
from metasynth.effects.measures import back_transform  # noqa: F401  (its old home)
from metasynth.records.table import StudyTable

MEASURES = ("RR", "OR", "RD")
RATIO_MEASURES = ("RR", "OR")
ZERO_CELL_TO = ("only0", "all", "if0all", "none")


@dataclass(frozen=True)
class ZeroCellRule:
    """How zero cells are handled (metafor's ``add``, ``to`` and ``drop00``)."""

    add: float = 0.5
    to: str = "only0"
    drop00: bool | None = None  # None: True for RR and OR, False for RD

    def drops_double_zero(self, measure: str) -> bool:
        return self.drop00 if self.drop00 is not None else measure in RATIO_MEASURES

    def describe(self, measure: str) -> str:
        if self.to == "none" or self.add == 0:
            text = "no continuity correction"
        else:
            where = {"only0": "in studies with a zero cell", "all": "in all studies",
                     "if0all": "in all studies when any has a zero cell"}[self.to]
            text = f"{self.add:g} added to every cell, {where}"
        double = "excluded" if self.drops_double_zero(measure) else "included"
        return f"{text}; studies with no events in either arm {double}"

    def to_dict(self) -> dict:
        return {"add": self.add, "to": self.to, "drop00": self.drop00}


@dataclass(frozen=True)
class EffectSizes:
    """Per-study effects for one measure, aligned with ``table.rows``. ``source`` says
    what each effect was computed from: "counts" (2x2), "means" (n, mean, SD per arm),
    "o-e/v" (log-rank O - E and V), "reported" (the study's estimate: generic inverse
    variance, its SE from the CI or the p-value as ``se_from`` says) or "none"."""

    measure: str
    table: StudyTable
    yi: np.ndarray
    vi: np.ndarray
    included: np.ndarray  # bool
    corrected: np.ndarray  # bool: continuity correction applied
    source: tuple[str, ...]  # "counts" | "reported" | "none"
    reasons: tuple[str | None, ...]  # why a study is not included
    rule: ZeroCellRule
    se_from: tuple[str | None, ...] = ()  # "ci" | "p" | "se" for reported estimates, else None

    @property
    def k(self) -> int:
        return int(self.included.sum())

    def subset(self, keep) -> EffectSizes:
        """The same effects for the rows where ``keep`` is True (e.g. one subgroup)."""
        keep = np.asarray(keep, dtype=bool)
        idx = np.flatnonzero(keep)
        table = replace(self.table, rows=tuple(self.table.rows[i] for i in idx))
        return replace(self, table=table, yi=self.yi[idx], vi=self.vi[idx],
                       included=self.included[idx], corrected=self.corrected[idx],
                       source=tuple(self.source[i] for i in idx),
                       reasons=tuple(self.reasons[i] for i in idx),
                       se_from=tuple(self.se_from[i] for i in idx) if self.se_from else ())

    def counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """a, n1, c, n2 as floats (NaN for studies without counts)."""
        def col(name):
            return np.array([np.nan if getattr(r, name) is None else getattr(r, name)
                             for r in self.table.rows], dtype=float)
        return (col("treatment_events"), col("treatment_total"),
                col("control_events"), col("control_total"))


def escalc(measure: str, a, n1, c, n2, rule: ZeroCellRule = ZeroCellRule()):
    """Vectorized 2x2 effect sizes. Returns yi, vi, corrected, double_zero arrays.

    Entries that cannot be estimated (e.g. a zero cell without correction) are NaN.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose from {', '.join(MEASURES)}")
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (a, n1, c, n2))
    b, d = n1 - a, n2 - c
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    double_zero = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
    add = 0.0 if rule.to == "none" else rule.add
    if rule.to == "only0":
        corrected = zero
    elif rule.to == "all":
        corrected = np.ones_like(zero)
    elif rule.to == "if0all":
        corrected = np.full_like(zero, bool(zero.any()))
    else:
        corrected = np.zeros_like(zero)
    if add == 0:
        corrected = np.zeros_like(zero)
    inc = np.where(corrected, add, 0.0)
    a, b, c, d = a + inc, b + inc, c + inc, d + inc
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log(p1 / p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            yi = np.log(a * d / (b * c))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        else:
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    bad = ~np.isfinite(yi) | ~np.isfinite(vi)
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad, np.nan, vi)
    return yi, vi, corrected, double_zero


def effect_sizes(table: StudyTable, measure: str = "RR",
                 rule: ZeroCellRule = ZeroCellRule()) -> EffectSizes:
    """Compute yi and vi for every row of ``table`` (escalc), noting exclusions."""
    measure = measure.upper()
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose from {', '.join(MEASURES)}")
    rows = table.rows
    nan = float("nan")
    a = [r.treatment_events if r.has_counts else nan for r in rows]
    n1 = [r.treatment_total if r.has_counts else nan for r in rows]
    c = [r.control_events if r.has_counts else nan for r in rows]
    n2 = [r.control_total if r.has_counts else nan for r in rows]
    yi, vi, corrected, double_zero = escalc(measure, a, n1, c, n2, rule)
    sources, reasons, se_from = [], [], []
    included = np.zeros(len(rows), dtype=bool)
    for i, row in enumerate(rows):
        se_from.append(None)
        if row.has_counts:
            sources.append("counts")
            if double_zero[i] and rule.drops_double_zero(measure):
                yi[i] = vi[i] = nan
                reasons.append("no events in either arm (not estimable for "
                               f"{MEASURE_LABELS[measure]})" if row.treatment_events == 0
                               else "all participants had the event in both arms")
            elif not np.isfinite(yi[i]):
                reasons.append("zero cell and no continuity correction (not estimable)")
            else:
                included[i] = True
                reasons.append(None)
        else:
            est, why = reported_effect(row.reported, measure)
            if est is None:
                sources.append("none")
                reasons.append(_data_reason(row, measure) or why)
            else:
                sources.append("reported")
                yi[i], vi[i], se_from[i] = est
                included[i] = True
                reasons.append(None)
    corrected = corrected & included & np.array([s == "counts" for s in sources], dtype=bool)
    return EffectSizes(measure=measure, table=table, yi=yi, vi=vi, included=included,
                       corrected=corrected, source=tuple(sources), reasons=tuple(reasons),
                       rule=rule, se_from=tuple(se_from))


def _data_reason(row, measure: str) -> str | None:
    """Why a row with data of another type cannot be pooled as ``measure``."""
    if row.has_means:
        return f"reports means and SDs (continuous); cannot be pooled as {measure}"
    if row.has_oe:
        return f"reports O - E and V (time-to-event); cannot be pooled as {measure}"
    if row.has_counts:
        return f"reports 2x2 counts (binary); cannot be pooled as {measure}"
    return None
