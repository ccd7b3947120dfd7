"""Subgroup analysis: a pooled result per subgroup and the test for subgroup differences.

The test is RevMan's (Deeks, Higgins & Altman, Cochrane Handbook 10.11.3.1; Borenstein
et al. 2009, ch. 19): each subgroup is pooled on its own (its own tau²), and Cochran's Q
is computed between the subgroup estimates with inverse-variance weights from their
model-based standard errors (``subgroup_se = "ci"``: those of the CI method, the HKSJ
ones after HKSJ fits, as RevMan Web); df = number of subgroups - 1; I² = (Q - df) / Q. In
metafor: ``rma(yi = estimates, sei = ses, method = "EE")``, whose QE this equals
(``tests/test_subgroups.py`` pins it to a fixture). metafor's mixed-effects
``rma(mods = ~ group)`` test, which assumes one common tau², comes with issue 7.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from metasynth.distributions import chi2_sf
from metasynth.effects.binary import EffectSizes
from metasynth.errors import DataError
from metasynth.models.pool import pool_effects
from metasynth.models.results import PoolResult, Printable, frame
from metasynth.plan.spec import AnalysisSpec


@dataclass(frozen=True)
class SubgroupTest:
    Q: float
    df: int
    p: float
    I2: float  # percent
    method: str = "random effects, separate tau² per subgroup (RevMan)"

    def to_dict(self) -> dict:
        return {"Q": self.Q, "df": self.df, "p": self.p, "I2": self.I2, "method": self.method}


@dataclass(frozen=True)
class SubgroupResult(Printable):
    by: str
    overall: PoolResult
    groups: tuple[tuple[str, PoolResult], ...]
    test: SubgroupTest | None
    not_pooled: tuple[tuple[str, str], ...] = ()  # (subgroup, why)

    def to_frame(self):
        """One row per subgroup (and one for all studies): k, estimate, CI, tau², I²."""
        rows = [{"subgroup": g, "k": r.k, "estimate": r.random.estimate,
                 "ci_lower": r.random.ci_lower, "ci_upper": r.random.ci_upper,
                 "tau2": r.heterogeneity.tau2, "I2": r.heterogeneity.I2}
                for g, r in (*self.groups, ("all studies", self.overall))]
        return frame(rows, "subgroup")

    def to_dict(self) -> dict:
        return {"by": self.by, "overall": self.overall.to_dict(),
                "subgroups": [{"subgroup": g, **r.to_dict()} for g, r in self.groups],
                "test_for_subgroup_differences": self.test.to_dict() if self.test else None,
                "not_pooled": [{"subgroup": g, "reason": why} for g, why in self.not_pooled]}


def subgroup_difference(thetas: Sequence[float], ses: Sequence[float]) -> SubgroupTest | None:
    """Q between subgroup estimates (inverse-variance weights), df = g - 1."""
    theta = np.asarray(thetas, dtype=float)
    w = 1.0 / np.asarray(ses, dtype=float) ** 2
    if len(theta) < 2:
        return None
    mu = float(np.sum(w * theta) / np.sum(w))
    q = float(np.sum(w * (theta - mu) ** 2))
    df = len(theta) - 1
    i2 = max(0.0, 100.0 * (q - df) / q) if q > 0 else 0.0
    return SubgroupTest(Q=q, df=df, p=float(chi2_sf(q, df)), I2=i2)


def _weights_of_whole(group: PoolResult, overall: PoolResult) -> PoolResult:
    """The group's result with each study's weight as its share of the whole analysis, as
    RevMan and R meta show them in a subgroup forest plot (a subgroup's weights then sum
    to its share of the total, not to 100%). The subgroup's own estimate is unchanged."""
    common = {s.id: s.weight_common for s in overall.studies}
    rand = {s.id: s.weight_random for s in overall.studies}
    studies = tuple(replace(s, weight_common=common.get(s.id), weight_random=rand.get(s.id))
                    if s.included else s for s in group.studies)
    return replace(group, studies=studies)


def pool_subgroups(effects: EffectSizes, labels: Sequence[str | None], by: str,
                   options: AnalysisSpec | None = None,
                   overall: PoolResult | None = None) -> SubgroupResult:
    """Pool each subgroup of ``effects`` (rows labelled by ``labels``) and all together;
    ``overall``: ``effects`` pooled under ``options`` when the caller has it (a report's
    main analysis), else fitted here."""
    options = options or AnalysisSpec(measure=effects.measure)
    labels = ["not reported" if lab is None else str(lab) for lab in labels]
    if len(labels) != len(effects.table.rows):
        raise ValueError("one subgroup label per study is needed")
    overall = pool_effects(effects, options) if overall is None else overall
    groups, skipped = [], []
    for name in sorted(set(labels)):
        keep = np.array([lab == name for lab in labels])
        try:
            groups.append((name, _weights_of_whole(pool_effects(effects.subset(keep), options),
                                                   overall)))
        except DataError as err:
            skipped.append((name, err.message))
    pooled = [(g, r) for g, r in groups if r.random.theta is not None]
    # the Wald SEs (RevMan 5, metafor, R meta), or those of the CI method (RevMan Web)
    ses = [r.random.se if options.subgroup_se == "ci" else r.random.se_wald for _, r in pooled]
    test = None
    if len(pooled) >= 2 and all(se and math.isfinite(se) for se in ses):
        test = subgroup_difference([r.random.theta for _, r in pooled], ses)
    return SubgroupResult(by=by, overall=overall, groups=tuple(groups), test=test,
                          not_pooled=tuple(skipped))
