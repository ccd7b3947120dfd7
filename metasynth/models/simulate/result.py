"""The result of a simulation: per method and scenario, each operating characteristic
with its Monte Carlo standard error (Morris, White & Crowther 2019, Stat Med 38:2074,
Table 6)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from metasynth.models.results import Printable, _clean
from metasynth.models.simulate.kernels import _LOG_LO, _LOG_STEP, METHODS, WIDTH_BINS, Tally
from metasynth.models.simulate.scenarios import Scenario, TrialDesign

if TYPE_CHECKING:
    from metasynth.models.results import Counts as PoolCounts
    from metasynth.plan.spec import AnalysisSpec

#: Figures of each row, in the order of the output.
MEASURES = ("coverage", "rejection", "bias", "rmse", "median_width", "pi_coverage",
            "failure", "fallback")


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error (None where undefined)."""

    value: float | None
    mcse: float | None

    def to_dict(self) -> dict:
        return {"value": _clean(self.value), "mcse": _clean(self.mcse)}


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _proportion(hits: int, n: int) -> Estimate:
    if n == 0:
        return Estimate(None, None)
    p = hits / n
    return Estimate(p, math.sqrt(p * (1.0 - p) / n))


def _hist_quantile(hist: np.ndarray, p: float) -> float:
    """The p-quantile of the binned widths (log-linear within a bin; the underflow bin,
    zero-width intervals, reads as 0)."""
    total = hist.sum()
    target = p * total
    cum = np.cumsum(hist)
    j = int(np.searchsorted(cum, target, side="left"))
    if j == 0:
        return 0.0
    if j >= WIDTH_BINS + 1:
        return math.inf
    before = cum[j - 1]
    frac = (target - before) / hist[j] if hist[j] else 0.0
    return math.exp(_LOG_LO + _LOG_STEP * (j - 1 + frac))


def _median(hist: np.ndarray) -> Estimate:
    """Median width and its MCSE from the distribution-free 95% interval of the median
    (order statistics n/2 -/+ 1.96 sqrt(n)/2): SE = (upper - lower) / (2 x 1.96)."""
    n = int(hist.sum())
    if n == 0:
        return Estimate(None, None)
    med = _hist_quantile(hist, 0.5)
    d = min(0.25, 1.96 * math.sqrt(0.25 / n))
    spread = _hist_quantile(hist, 0.5 + d) - _hist_quantile(hist, 0.5 - d)
    return Estimate(_f(med), _f(spread / (2 * 1.96)))


@dataclass(frozen=True)
class SimulationRow:
    """One method in one scenario (values on the log RR scale)."""

    method: str  # "MH", "IV", or "<tau² estimator>-<CI method>"
    tau2_method: str | None
    ci_method: str | None
    rr: float
    tau: float
    replicates: int
    fits: int  # replicates whose estimate and CI exist
    coverage: Estimate  # P(CI holds the true pooled log RR)
    rejection: Estimate  # P(CI excludes RR = 1): type I error at RR = 1, power otherwise
    bias: Estimate
    rmse: Estimate
    median_width: Estimate  # of the CI, log scale
    pi_coverage: Estimate  # P(PI holds a new trial's true log RR)
    failure: Estimate  # no estimate or CI
    fallback: Estimate  # tau² found by the root search after Fisher scoring failed

    @property
    def common(self) -> bool:
        return self.tau2_method is None

    def to_dict(self) -> dict:
        d = {"method": self.method, "tau2_method": self.tau2_method,
             "ci_method": self.ci_method, "rr": self.rr, "tau": self.tau,
             "replicates": self.replicates, "fits": self.fits}
        d.update({m: getattr(self, m).to_dict() for m in MEASURES})
        return d


def rows_from_tally(scenario: Scenario, t: Tally) -> tuple[SimulationRow, ...]:
    out = []
    for i, (name, tau2, ci) in enumerate(METHODS):
        n, ok = int(t.replicates[i]), int(t.ok[i])
        if ok:
            mean = t.err1[i] / ok
            var = max(t.err2[i] / ok - mean**2, 0.0)
            bias = Estimate(_f(mean), _f(math.sqrt(var / ok)))
            mse = t.err2[i] / ok
            var2 = max(t.err4[i] / ok - mse**2, 0.0)
            rmse_v = math.sqrt(mse)
            rmse = Estimate(_f(rmse_v), _f(math.sqrt(var2 / ok) / (2 * rmse_v)) if rmse_v else 0.0)
        else:
            bias = rmse = Estimate(None, None)
        pn = int(t.pi_n[i])
        if pn:
            pm = t.pi_cover1[i] / pn
            pv = max(t.pi_cover2[i] / pn - pm**2, 0.0)
            pi = Estimate(_f(pm), _f(math.sqrt(pv / pn)))
        else:
            pi = Estimate(None, None)
        out.append(SimulationRow(
            method=name, tau2_method=tau2, ci_method=ci, rr=scenario.rr, tau=scenario.tau,
            replicates=n, fits=ok, coverage=_proportion(int(t.covered[i]), ok),
            rejection=_proportion(int(t.rejected[i]), ok), bias=bias, rmse=rmse,
            median_width=_median(t.width_hist[i]), pi_coverage=pi,
            failure=_proportion(n - ok, n), fallback=_proportion(int(t.fallback[i]), ok)))
    return tuple(out)


def fingerprint(design: TrialDesign, spec: AnalysisSpec, scenarios, seed: int) -> dict:
    """What a simulation was run for: the trials (arm sizes, control-arm events and how
    control risks were drawn), the methods, the scenario grid, the fit settings (measure,
    level, prediction interval, zero-cell rule, MH correction), the seed and the version
    of metasynth. Saved with the result, so that a reader (the report) can tell whether it
    still describes the evidence (``stale``)."""
    from metasynth import __version__

    return {"metasynth_version": __version__,
            "trials": {"labels": list(design.labels),
                       "treatment_total": list(design.treatment_total),
                       "control_total": list(design.control_total),
                       "control_events": list(design.control_events),
                       "control_risks": design.control_risks},
            "methods": [m for m, _, _ in METHODS],
            "rr": [s.rr for s in scenarios], "tau": [s.tau for s in scenarios],
            "fits": {"measure": spec.measure, "level": spec.level, "pi": spec.pi,
                     "zero_cells": spec.zero_cells.to_dict(),
                     "mh_correction": spec.mh_correction,
                     "dl_q": "MH" if spec.het_q == "common" and spec.common_method == "MH"
                     else "IV"},
            "seed": seed}


#: The parts of a fingerprint that must match for a saved simulation to describe the
#: evidence, with their words; the seed may differ (any seed gives valid figures).
FINGERPRINT_PARTS = {"trials": "the trials (arm sizes or control-arm events)",
                     "methods": "the methods", "rr": "the true risk ratios",
                     "tau": "the between-trial SDs", "fits": "the fit settings",
                     "metasynth_version": "the version of metasynth"}


def stale(saved: dict, current: dict) -> list[str]:
    """What differs between a saved fingerprint and the current one, in words."""
    return [words for key, words in FINGERPRINT_PARTS.items()
            if _json_equal(saved.get(key)) != _json_equal(current.get(key))]


def _json_equal(x):
    return json.dumps(x, sort_keys=True)


@dataclass(frozen=True)
class SimulationResult(Printable):
    """Operating characteristics of every method on trials like the evidence's.

    ``spec`` is the analysis the evidence was pooled with (its zero-cell rule, level and
    prediction interval are the simulation's; its tau² estimator and CI method are the
    analysis's choice, marked in the output). ``seed`` and ``chunk`` make the run
    reproducible: the same seed gives the same figures whatever the number of workers.
    """

    spec: AnalysisSpec
    outcome: str | None
    outcome_label: str | None
    design: TrialDesign
    scenarios: tuple[Scenario, ...]
    replicates: int
    seed: int
    block: int  # replicates per seeded block
    rows: tuple[SimulationRow, ...]
    capped: tuple[int, ...]  # per scenario: trial-replicates whose risk was capped at 1
    counts: PoolCounts | None = None
    notes: tuple[str, ...] = ()
    seconds: float = field(default=0.0, compare=False)
    workers: str = field(default="in-process", compare=False)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m, _, _ in METHODS)

    def row(self, method: str, rr: float, tau: float) -> SimulationRow:
        for r in self.rows:
            if r.method == method and math.isclose(r.rr, rr) and math.isclose(r.tau, tau):
                return r
        raise KeyError((method, rr, tau))

    def analysis_method(self) -> str:
        """The method of the spec's random-effects analysis, as the rows name it."""
        return f"{self.spec.tau2}-{self.spec.ci}"

    def fingerprint(self) -> dict:
        return fingerprint(self.design, self.spec, self.scenarios, self.seed)

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "outcome_label": self.outcome_label,
                "design": self.design.to_dict(),
                "scenarios": [{"rr": s.rr, "tau": s.tau, "capped": c}
                              for s, c in zip(self.scenarios, self.capped)],
                "replicates": self.replicates, "seed": self.seed, "block": self.block,
                "analysis_method": self.analysis_method(),
                "rows": [r.to_dict() for r in self.rows], "notes": list(self.notes),
                "spec": self.spec.to_dict(), "fingerprint": self.fingerprint()}

    def to_frame(self):
        """One row per method and scenario; each figure and its MCSE as two columns."""
        import pandas as pd

        recs = []
        for r in self.rows:
            rec = {"method": r.method, "tau2_method": r.tau2_method, "ci_method": r.ci_method,
                   "rr": r.rr, "tau": r.tau, "replicates": r.replicates, "fits": r.fits}
            for m in MEASURES:
                e = getattr(r, m)
                rec[m], rec[f"{m}_mcse"] = e.value, e.mcse
            recs.append(rec)
        return pd.DataFrame(recs)
