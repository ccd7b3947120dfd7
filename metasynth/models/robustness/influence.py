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
Flagged as influential (metafor's rule): |DFFITS| > 3 sqrt(1/(k-1)), P(chi²_1 < Cook) > 0.5,
hat > 3/k.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from metasynth.distributions import chi2_sf
from metasynth.effects.binary import EffectSizes
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch, weighted_fit
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
    baujat_x: float
    baujat_y: float
    influential: bool


@dataclass(frozen=True)
class Influence:
    tau2_method: str
    ci_method: str
    rows: tuple[InfluenceRow, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def influence(effects: EffectSizes, options: AnalysisSpec | None = None) -> Influence:
    options = options or AnalysisSpec(measure=effects.measure)
    inc = effects.included
    y, v = effects.yi[inc], effects.vi[inc]
    labels = [r.label for r, i in zip(effects.table.rows, inc) if i]
    k = len(y)
    if k < 3:
        raise ValueError("influence diagnostics need at least 3 studies")
    method, ci = options.tau2, options.ci
    ci = "hksj" if ci == "hksj-adhoc" else ci  # metafor has no ad hoc variant
    full = fit_random(*as_batch(y, v), method, ci)
    mu, tau2 = full.theta[0], full.tau2.tau2[0]
    s2w_full = (full.se[0] / full.se_wald[0]) ** 2
    var_mu = full.se[0] ** 2
    w = 1.0 / (v + tau2)
    hat = w / w.sum()
    mask = ~np.eye(k, dtype=bool)
    yy, vv, mm = as_batch(np.tile(y, (k, 1)), np.tile(v, (k, 1)), mask)
    loo = fit_random(yy, vv, mm, method, ci)
    mu_del, tau2_del = loo.theta, loo.tau2.tau2
    var_del = loo.se**2
    s2w_del = (loo.se / loo.se_wald) ** 2
    qe_del = weighted_fit(yy, vv, mm).q
    # under Knapp-Hartung metafor scales the residual variance by s²_-i as well
    rstudent = (y - mu_del) / np.sqrt(s2w_del * (v + tau2_del) + var_del)
    dffits = (mu - mu_del) / np.sqrt(s2w_del * hat * (tau2_del + v))
    cook = (mu - mu_del) ** 2 * (w.sum() / s2w_full)
    cov_r = var_del / var_mu
    bx = (y - mu) ** 2 / (v + tau2)
    by = (mu - mu_del) ** 2 / var_del
    weight = 100 * hat
    rows = []
    for i in range(k):
        flagged = (abs(dffits[i]) > 3 * math.sqrt(1 / (k - 1))
                   or 1 - float(chi2_sf(cook[i], 1)) > 0.5 or hat[i] > 3 / k)
        rows.append(InfluenceRow(labels[i], float(rstudent[i]), float(dffits[i]), float(cook[i]),
                                 float(cov_r[i]), float(tau2_del[i]), float(qe_del[i]),
                                 float(hat[i]), float(weight[i]), float(bx[i]), float(by[i]),
                                 bool(flagged)))
    return Influence(method, ci, tuple(rows))
