"""Meta-regression of the effect on study-level moderators (Thompson & Higgins 2002,
Stat Med 21:1559-1573): the mixed-effects model with REML (or the chosen estimator) and
Knapp-Hartung tests (with an HKSJ interval) or z tests (Wald), a permutation p-value for
the moderators (Higgins & Thompson 2004), and the pseudo-R² of metafor
(100 (tau²_0 - tau²) / tau²_0). Studies missing a moderator are left out and named.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from metasynth.effects.binary import EffectSizes
from metasynth.models.engine.mixed_effects import fit_mixed
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch
from metasynth.models.results import ResultWarning, frame
from metasynth.models.robustness.permutation import permutation_test_moderators
from metasynth.plan.spec import AnalysisSpec


@dataclass(frozen=True)
class Coefficient:
    name: str
    estimate: float
    se: float
    statistic: float
    p: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class MetaRegression:
    moderators: tuple[str, ...]
    k: int
    tau2_method: str
    test: str
    coefficients: tuple[Coefficient, ...]
    tau2: float
    R2: float | None  # percent
    QE: float
    QE_p: float
    QM: float
    QM_p: float
    QM_df: int
    permutation_p: float | None
    permutations: int
    left_out: tuple[str, ...]
    warnings: tuple[ResultWarning, ...]
    x: tuple[float, ...]  # first moderator, for the bubble plot
    y: tuple[float, ...]
    v: tuple[float, ...]
    labels: tuple[str, ...]

    def to_frame(self):
        """One row per coefficient."""
        return frame(self.coefficients, "name")

    def to_dict(self) -> dict:
        return {**asdict(self), "warnings": [w.to_dict() for w in self.warnings]}


def fit_metaregression(effects: EffectSizes, moderators: dict[str, list], options: AnalysisSpec,
                       permutations: int = 1000) -> MetaRegression:
    names = tuple(moderators)
    rows = effects.table.rows
    keep, left_out = [], []
    for i, row in enumerate(rows):
        values = [moderators[m][i] for m in names]
        if effects.included[i] and all(x is not None for x in values):
            keep.append(i)
        elif effects.included[i]:
            left_out.append(f"{row.label} (no {', '.join(m for m, x in zip(names, values) if x is None)})")
    k, p = len(keep), len(names) + 1
    if k < p + 2:
        raise ValueError(f"meta-regression on {', '.join(names)} needs at least {p + 2} studies "
                         f"with the moderator(s); {k} have them")
    y, v = effects.yi[keep], effects.vi[keep]
    X = np.column_stack([np.ones(k)] + [[moderators[m][i] for i in keep] for m in names])
    test = "z" if options.ci == "wald" else "knha"
    fit = fit_mixed(y, v, X, method=options.tau2, test=test)
    tau2_0 = fit_random(*as_batch(y, v), options.tau2, "wald").tau2.tau2[0]
    r2 = max(0.0, 100 * (tau2_0 - fit.tau2[0]) / tau2_0) if tau2_0 > 0 else None
    perm = permutation_test_moderators(y, v, X, options.tau2, test, permutations)
    warnings = []
    if k < 10 * len(names):
        warnings.append(ResultWarning("metareg_few_studies", k=k, moderators=len(names)))
    warnings.append(ResultWarning("metareg_observational"))
    coefs = tuple(Coefficient(n, float(fit.beta[0, j]), float(fit.se[0, j]),
                              float(fit.stat[0, j]), float(fit.pval[0, j]),
                              float(fit.ci_lower[0, j]), float(fit.ci_upper[0, j]))
                  for j, n in enumerate(("intercept", *names)))
    return MetaRegression(names, k, options.tau2, test, coefs, float(fit.tau2[0]), r2,
                          float(fit.QE[0]), float(fit.QE_p[0]), float(fit.QM[0]),
                          float(fit.QM_p[0]), len(names), perm.p, perm.permutations,
                          tuple(left_out), tuple(warnings), tuple(float(x) for x in X[:, 1]),
                          tuple(float(x) for x in y), tuple(float(x) for x in v),
                          tuple(rows[i].label for i in keep))
