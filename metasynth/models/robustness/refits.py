"""Leave-one-out and cumulative meta-analysis, each one batched call of the engine.

Leave-one-out (metafor ``leave1out``): the model refitted k times, each time without one
study. Cumulative (metafor ``cumul``; Lau et al. 1992): refitted as studies are added in
order (by year by default). Both stack masks over the included studies and fit the
random-effects model in batches. A batch holds at most ``MAX_CELLS`` mask cells, so
memory is bounded for any k (30,000 studies: batches of 139 refits, not a 30,000 x
30,000 matrix); up to ``MAX_CELLS / k`` refits (every corpus here) are one batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from metasynth.effects.binary import EffectSizes, back_transform
from metasynth.models.engine.heterogeneity import heterogeneity
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch
from metasynth.models.results import Printable, frame
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.table import publication_order


@dataclass(frozen=True)
class SubsetRow:
    label: str  # the study left out, or the study added last
    k: int
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    p: float | None
    tau2: float | None
    I2: float | None


@dataclass(frozen=True)
class SubsetAnalysis(Printable):
    """The refits, with the spec they inherit from the pooled analysis."""

    kind: str  # "leave-one-out" | "cumulative"
    spec: AnalysisSpec
    rows: tuple[SubsetRow, ...]
    glmm: str | None = None  # the sparse-data GLMM refitted (UM.FS, ...), else inverse variance

    @property
    def measure(self) -> str:
        return self.spec.measure

    def to_dict(self) -> dict:
        return {"kind": self.kind, "spec": self.spec.to_dict(), "glmm": self.glmm,
                "rows": [asdict(r) for r in self.rows]}

    def to_frame(self):
        return frame(self.rows, "label")


MAX_CELLS = 2**22  # mask cells of one batch (a few tens of MB across the engine's arrays)


def _fit_masks(effects: EffectSizes, options: AnalysisSpec, masks, labels, kind):
    """Refit for each mask; ``masks(start, stop)`` gives the masks of refits
    ``start..stop-1`` as a (stop - start, k) boolean array."""
    inc = effects.included
    y, v = effects.yi[inc], effects.vi[inc]
    back = back_transform(effects.measure)

    def f(x):
        x = float(x)
        return x if math.isfinite(x) else None

    rows = []
    n = len(labels)
    step = max(1, MAX_CELLS // max(len(y), 1))
    for start in range(0, n, step):
        mask = masks(start, min(n, start + step))
        b = mask.shape[0]
        yy, vv, mm = as_batch(np.broadcast_to(y, (b, len(y))), np.broadcast_to(v, (b, len(v))),
                              mask)
        fit = fit_random(yy, vv, mm, options.tau2, options.ci, "hts", options.level)
        het = heterogeneity(yy, vv, mm, fit.tau2.tau2, options.level, with_ci=False)
        for i in range(b):
            k = int(fit.k[i])
            rows.append(SubsetRow(label=labels[start + i], k=k, estimate=f(back(fit.theta[i])),
                                  ci_lower=f(back(fit.ci_lower[i])),
                                  ci_upper=f(back(fit.ci_upper[i])), p=f(fit.p[i]),
                                  tau2=f(fit.tau2.tau2[i]) if k >= 2 else None,
                                  I2=f(het.i2[i]) if k >= 2 else None))
    return SubsetAnalysis(kind, options, tuple(rows))


def leave_one_out(effects: EffectSizes, options: AnalysisSpec | None = None) -> SubsetAnalysis:
    """The pooled result without each included study in turn."""
    options = options or AnalysisSpec(measure=effects.measure)
    rows = [r for r, i in zip(effects.table.rows, effects.included) if i]
    k = len(rows)

    def masks(start: int, stop: int) -> np.ndarray:  # row j leaves out study start + j
        return np.arange(k)[None, :] != np.arange(start, stop)[:, None]

    return _fit_masks(effects, options, masks, [r.label for r in rows], "leave-one-out")


def glmm_subsets(fits, labels, options: AnalysisSpec, kind: str, model: str) -> SubsetAnalysis:
    """GLMM refits (``models.sparse.glmm.GLMMFit``, log OR) as the rows of a SubsetAnalysis
    (odds ratios; no I²: a GLMM has no within-trial variances to compare tau² with)."""
    def f(x):
        return None if x is None or not math.isfinite(x) else float(x)

    def e(x):
        return None if x is None else f(math.exp(x))

    rows = [SubsetRow(label=lab, k=g.trials_used, estimate=e(g.estimate),
                      ci_lower=e(g.ci_lower), ci_upper=e(g.ci_upper), p=f(g.p),
                      tau2=f(g.tau2), I2=None) for lab, g in zip(labels, fits)]
    return SubsetAnalysis(kind, options, tuple(rows), model)


def cumulative(effects: EffectSizes, options: AnalysisSpec | None = None,
               order: str = "year") -> SubsetAnalysis:
    """The pooled result as studies are added in ``order`` ("year" or "table")."""
    options = options or AnalysisSpec(measure=effects.measure)
    rows = [r for r, i in zip(effects.table.rows, effects.included) if i]
    k = len(rows)
    idx = publication_order(rows) if order == "year" else list(range(k))
    rank = np.empty(k, dtype=np.int64)
    rank[np.asarray(idx, dtype=np.int64)] = np.arange(k)

    def masks(start: int, stop: int) -> np.ndarray:  # row j holds the first start + j + 1
        return rank[None, :] <= np.arange(start, stop)[:, None]

    return _fit_masks(effects, options, masks, [rows[i].label for i in idx], "cumulative")
