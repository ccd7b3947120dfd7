"""Influence diagnostics of a random-effects model (Viechtbauer & Cheung 2010, Res Synth
Methods 1:112-125), as metafor's ``influence()`` and ``baujat()`` compute them, from one
batched leave-one-out fit.

For study i, with the model refitted without it (subscript -i):
studentized deleted residual (y_i - mu_-i) / sqrt(v_i + Var(mu_-i) + tau²_-i); DFFITS
(mu - mu_-i) / sqrt(s²_-i h_i (tau²_-i + v_i)); Cook's distance (mu - mu_-i)² / Var(mu);
covariance ratio Var(mu_-i) / Var(mu); hat value h_i = w_i / sum w; tau²_-i; Q_-i. Here
s² is the Knapp-Hartung scale (1 for Wald; it also scales v_i + tau²_-i in the residual,
as in metafor). Baujat et al. (2002): x = the study's contribution to the heterogeneity,
(y_i - mu)² / (v_i + tau²), against y = (mu - mu_-i)² / Var(mu_-i).
DFBETAS (mu - mu_-i) / sqrt(s²_-i Var_-i), with Var_-i = 1 / sum_j 1/(v_j + tau²_-i) over
all k studies, as metafor computes it.
Flagged as influential when any of Viechtbauer & Cheung's (2010, section 4) criteria holds,
which are those of metafor's ``influence()`` (its ``is.infl``) for p coefficients:
|DFFITS| > 3 sqrt(p/(k-p)), P(chi²_p < Cook) > 0.5, hat > 3p/k, or any |DFBETAS| > 1
(here p = 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from metasynth.distributions import chi2_sf
from metasynth.effects.binary import EffectSizes
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch, weighted_fit
from metasynth.models.results import frame
from metasynth.plan.spec import AnalysisSpec


@dataclass(frozen=True)
class InfluenceRow:
    label: str
    rstudent: float
    dffits: float
    cook_d: float
    cov_r: float
    tau2_del: float
    QE_del: float
    hat: float
    weight: float
    dfbetas: float
    baujat_x: float
    baujat_y: float
    influential: bool


@dataclass(frozen=True)
class Influence:
    tau2_method: str
    ci_method: str
    rows: tuple[InfluenceRow, ...]

    def to_frame(self):
        return frame(self.rows, "label")

    def to_dict(self) -> dict:
        return asdict(self)


def influence(effects: EffectSizes, options: AnalysisSpec | None = None) -> Influence:
    """Influence diagnostics of the included studies under ``options`` (tau², CI method)."""
    options = options or AnalysisSpec(measure=effects.measure)
    inc = effects.included
    labels = [r.label for r, i in zip(effects.table.rows, inc) if i]
    return influence_of(effects.yi[inc], effects.vi[inc], labels, options.tau2, options.ci)


def influence_of(y: np.ndarray, v: np.ndarray, labels: list[str], method: str,
                 ci: str) -> Influence:
    """Influence diagnostics of effects ``y`` with variances ``v`` (one batched refit).

    ``ci`` = "hksj-adhoc" floors the Knapp-Hartung scale at 1 in every fit, as metafor's
    ``influence()`` of a ``test = "adhoc"`` model does.
    """
    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    k = len(y)
    if k < 3:
        raise ValueError("influence diagnostics need at least 3 studies")
    full = fit_random(*as_batch(y, v), method, ci)
    mu, tau2 = full.theta[0], full.tau2.tau2[0]
    s2w_full = (full.se[0] / full.se_wald[0]) ** 2
    var_mu = full.se[0] ** 2
    w = 1.0 / (v + tau2)
    hat = w / w.sum()
    # the k refits in batches of at most MAX_CELLS mask cells: memory bounded for any k
    # (a k x k mask of 1,000 studies held 1.2 GB across the engine's arrays)
    from metasynth.models.robustness.refits import MAX_CELLS

    parts: list[tuple] = []
    step = max(1, MAX_CELLS // k)
    for start in range(0, k, step):
        stop = min(k, start + step)
        b = stop - start
        mask = np.arange(k)[None, :] != np.arange(start, stop)[:, None]
        yy, vv, mm = as_batch(np.broadcast_to(y, (b, k)), np.broadcast_to(v, (b, k)), mask)
        loo = fit_random(yy, vv, mm, method, ci)
        t2 = loo.tau2.tau2
        parts.append((loo.theta, t2, loo.se, loo.se_wald, weighted_fit(yy, vv, mm).q,
                      (1.0 / (v[None, :] + t2[:, None])).sum(1)))
    mu_del, tau2_del, se_del, se_wald_del, qe_del, w_del = (np.concatenate(c)
                                                            for c in zip(*parts))
    var_del = se_del**2
    s2w_del = (se_del / se_wald_del) ** 2
    # under Knapp-Hartung metafor scales the residual variance by s²_-i as well
    rstudent = (y - mu_del) / np.sqrt(s2w_del * (v + tau2_del) + var_del)
    dffits = (mu - mu_del) / np.sqrt(s2w_del * hat * (tau2_del + v))
    cook = (mu - mu_del) ** 2 * (w.sum() / s2w_full)
    cov_r = var_del / var_mu
    dfbetas = (mu - mu_del) / np.sqrt(s2w_del / w_del)
    bx = (y - mu) ** 2 / (v + tau2)
    by = (mu - mu_del) ** 2 / var_del
    weight = 100 * hat
    flagged = influential(dffits, cook, hat, dfbetas, k)
    rows = [InfluenceRow(labels[i], float(rstudent[i]), float(dffits[i]), float(cook[i]),
                         float(cov_r[i]), float(tau2_del[i]), float(qe_del[i]), float(hat[i]),
                         float(weight[i]), float(dfbetas[i]), float(bx[i]), float(by[i]),
                         bool(flagged[i]))
            for i in range(k)]
    return Influence(method, ci, tuple(rows))


def influential(dffits, cook, hat, dfbetas, k: int, p: int = 1) -> np.ndarray:
    """Viechtbauer & Cheung's (2010) rule, as metafor's ``is.infl``: any criterion flags.

    ``dfbetas`` is (k,) or (k, p); Cook's distance is referred to chi² with p df (all
    coefficients tested, as for an intercept-only model).
    """
    dfbetas = np.asarray(dfbetas, dtype=float).reshape(k, -1)
    return ((np.abs(dffits) > 3 * math.sqrt(p / (k - p)))
            | (1 - chi2_sf(cook, p) > 0.5)
            | (hat > 3 * p / k)
            | (np.abs(dfbetas) > 1).any(axis=1))
