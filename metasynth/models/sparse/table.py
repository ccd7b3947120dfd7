"""The sparse-data table: one outcome pooled by every method that handles zero cells
differently, side by side (odds ratio scale; the beta-binomial also as a risk ratio).

Rows (codes; their words are in ``render/text/sparse.py``):

- ``MH``        Mantel-Haenszel OR on the raw counts (metafor's ``rma.mh``): no
                correction; a trial with no events in either arm adds nothing;
- ``MH-cc``     Mantel-Haenszel OR with the spec's continuity correction (0.5) added
                to trials with a zero cell (RevMan 5, R meta); double-zero trials dropped;
- ``Peto``      Peto's one-step OR (double-zero trials carry no weight);
- ``IV-RE``     inverse-variance random effects on log ORs with the spec's zero-cell
                rule, tau^2 estimator and CI method, as ``metasynth pool --measure OR``;
- ``UM.FS``, ``UM.RS``, ``CM.EL``, ``CM.AL``  the binomial-normal GLMMs (``glmm.py``),
                every trial passed to the likelihood (metafor's ``drop00 = FALSE``);
- ``BB``, ``BB-RR``  the beta-binomial model (Kuss 2015) for the OR and the RR.

``trials_used`` counts the trials whose data change the likelihood or the weights
(a double-zero trial is used by UM.RS and the beta-binomial only);
``participants_used`` their participants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from metasynth.effects.binary import effect_sizes
from metasynth.models.engine.common_effect import mantel_haenszel, peto
from metasynth.models.results import Counts, Printable, _ToDict, frame
from metasynth.models.sparse.betabinomial import fit_beta_binomial
from metasynth.models.sparse.glmm import GLMM_MODELS, fit_glmm

SPARSE_METHODS = ("MH", "MH-cc", "Peto", "IV-RE") + GLMM_MODELS + ("BB", "BB-RR")
DISAGREE_RATIO = 1.25   # estimates further apart than this (max/min) "disagree"


@dataclass(frozen=True)
class SparseRow(_ToDict):
    method: str
    measure: str                 # OR (RR for BB-RR)
    theta: float | None          # log scale
    se: float | None
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    p: float | None
    tau2: float | None           # None where the model has no tau^2 (common effect, BB)
    trials_used: int
    participants_used: int
    status: str                  # ok | tau2_boundary | not_converged | not_estimable | too_few_trials
    reason: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Agreement(_ToDict):
    """How far the OR rows that have an estimate lie apart."""

    methods: tuple[str, ...]
    lowest: float | None
    highest: float | None
    ratio: float | None          # highest / lowest
    direction_differs: bool      # some below 1, some above
    significance_differs: bool   # some CIs exclude 1, others include it
    disagree: bool


@dataclass(frozen=True)
class SparseResult(Printable, _ToDict):
    outcome: str | None
    rows: tuple[SparseRow, ...]
    agreement: Agreement
    trials: int
    participants: int
    double_zero: tuple[str, ...]     # labels of double-zero trials
    single_zero: tuple[str, ...]     # labels of trials with a zero cell in one arm
    counts: Counts | None = None
    spec: object = None
    seconds: dict = field(default_factory=dict)

    def to_frame(self):
        return frame(self.rows, "method")

    def row(self, method: str) -> SparseRow:
        return next(r for r in self.rows if r.method == method)


def _f(x):
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _exp(x):
    if x is None or not math.isfinite(x) or x > 700:
        return None if x is None or math.isnan(x) else float("inf")
    return float(math.exp(x))


def _row(method, measure, theta, se, lo, hi, p, tau2, k, n, status="ok", reason=None, **extra):
    theta, se, lo, hi = _f(theta), _f(se), _f(lo), _f(hi)
    if theta is None or se is None:
        return SparseRow(method, measure, None, None, None, None, None, None, tau2, k, n,
                         "not_estimable" if status == "ok" else status, reason or "no_estimate", extra)
    return SparseRow(method, measure, theta, se, _exp(theta), _exp(lo), _exp(hi), _f(p), tau2,
                     k, n, status, reason, extra)


def _agreement(rows) -> Agreement:
    est = [r for r in rows if r.measure == "OR" and r.estimate is not None]
    if len(est) < 2:
        return Agreement(tuple(r.method for r in est), None, None, None, False, False, False)
    vals = [r.estimate for r in est]
    lo, hi = min(vals), max(vals)
    direction = lo < 1.0 < hi
    sig = {(r.ci_upper < 1.0 or r.ci_lower > 1.0) for r in est}
    ratio = hi / lo
    return Agreement(tuple(r.method for r in est), lo, hi, ratio, direction, len(sig) > 1,
                     bool(direction or len(sig) > 1 or ratio > DISAGREE_RATIO))


def sparse_table(a, n1, c, n2, labels=None, spec=None, table=None, outcome=None,
                 counts=None, timings: bool = False,
                 tests_for: tuple[str, ...] = GLMM_MODELS) -> SparseResult:
    """Every sparse-data method on k trials' 2x2 counts (see the module docstring).

    ``spec`` (an AnalysisSpec) gives the level, the continuity correction and the
    inverse-variance model; ``table`` (a StudyTable of the same rows) is needed for the
    inverse-variance row. ``tests_for``: the GLMMs whose heterogeneity tests are
    computed (UM.RS's take two more fits; a caller that does not show them leaves it out).
    """
    import time

    from metasynth.models.pool import pool_effects
    from metasynth.plan.spec import AnalysisSpec

    spec = spec or AnalysisSpec()
    level = spec.level
    a, n1, c, n2 = (np.asarray(v, float) for v in (a, n1, c, n2))
    k = len(a)
    labels = list(labels) if labels is not None else [f"trial {i + 1}" for i in range(k)]
    dz = ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))
    sz = ~dz & ((a == 0) | (c == 0) | (a == n1) | (c == n2))
    n = n1 + n2
    rows: list[SparseRow] = []
    secs: dict[str, float] = {}
    mask = np.ones((1, k), bool)

    # Mantel-Haenszel, raw counts: a trial adds to the sums only if ad > 0 or bc > 0
    t0 = time.perf_counter()
    used = (a * (n2 - c) > 0) | ((n1 - a) * c > 0)
    mh = mantel_haenszel(a[None], n1[None], c[None], n2[None], mask, "OR", level)
    rows.append(_row("MH", "OR", mh.theta[0], mh.se[0], mh.ci_lower[0], mh.ci_upper[0],
                     mh.p[0], None, int(used.sum()), int(n[used].sum())))
    # with the continuity correction to zero-cell trials; double-zero trials dropped
    add = spec.add
    keep = ~dz
    inc = np.where(sz, add, 0.0)
    ac, cc, n1c, n2c = a + inc, c + inc, n1 + 2 * inc, n2 + 2 * inc
    m2 = keep[None]
    mhc = mantel_haenszel(ac[None], n1c[None], cc[None], n2c[None], m2, "OR", level)
    rows.append(_row("MH-cc", "OR", mhc.theta[0], mhc.se[0], mhc.ci_lower[0], mhc.ci_upper[0],
                     mhc.p[0], None, int(keep.sum()), int(n[keep].sum()), add=add))
    pt = peto(a[None], n1[None], c[None], n2[None], mask, level)
    rows.append(_row("Peto", "OR", pt.theta[0], pt.se[0], pt.ci_lower[0], pt.ci_upper[0],
                     pt.p[0], None, int(keep.sum()), int(n[keep].sum())))
    secs["common"] = time.perf_counter() - t0

    if table is not None:
        t0 = time.perf_counter()
        s_or = replace(spec, measure="OR")
        eff = effect_sizes(table, "OR", s_or.zero_cells)
        res = pool_effects(eff, s_or)
        r = res.random
        used_iv = eff.included
        rows.append(_row("IV-RE", "OR", r.theta, r.se, _log(r.ci_lower), _log(r.ci_upper), r.p,
                         res.heterogeneity.tau2, int(used_iv.sum()),
                         int(sum((row.treatment_total or 0) + (row.control_total or 0)
                                 for row, u in zip(table.rows, used_iv) if u)),
                         tau2_method=spec.tau2, ci_method=spec.ci, add=add))
        secs["IV-RE"] = time.perf_counter() - t0

    for model in GLMM_MODELS:
        t0 = time.perf_counter()
        g = fit_glmm(a, n1, c, n2, model, level, keep_double_zero=True,
                     tests=model in tests_for)
        rows.append(_row(model, "OR", g.estimate, g.se, g.ci_lower, g.ci_upper, g.p, g.tau2,
                         g.trials_used, g.participants_used, g.status, g.reason,
                         ci_t=[_exp(g.ci_t_lower), _exp(g.ci_t_upper)], df_t=g.df_t,
                         qe_wald=g.qe_wald, qe_wald_p=g.qe_wald_p, qe_lrt=g.qe_lrt,
                         qe_lrt_p=g.qe_lrt_p, qe_df=g.qe_df, nagq=g.nagq))
        secs[model] = time.perf_counter() - t0
    for code, measure in (("BB", "OR"), ("BB-RR", "RR")):
        t0 = time.perf_counter()
        b = fit_beta_binomial(a, n1, c, n2, measure, level)
        rows.append(_row(code, measure, b.estimate, b.se, b.ci_lower, b.ci_upper, b.p, None,
                         b.trials_used, b.participants_used, b.status, b.reason, rho=b.rho))
        secs[code] = time.perf_counter() - t0
    return SparseResult(outcome, tuple(rows), _agreement(rows), k, int(n.sum()),
                        tuple(lab for lab, d in zip(labels, dz) if d),
                        tuple(lab for lab, s in zip(labels, sz) if s),
                        counts, spec, secs if timings else {})


def _log(x):
    return None if x is None else math.log(x)
