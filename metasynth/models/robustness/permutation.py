"""Permutation tests (Follmann & Proschan 1999; metafor ``permutest``).

Pooled effect (no moderators): the signs of the effects are flipped in every one of the
2^k ways (exact) or at random (Monte Carlo); the p-value is the share of flips whose test
statistic is at least as extreme as the observed one. An exact test cannot give p below
2/2^k (the observed signs and their mirror image): with k = 5 that is 0.0625, so it
cannot reach 0.05 at all. Meta-regression: the rows of the moderators are permuted.
Every permutation is one row of a batch, fitted in one call.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import numpy as np

from metasynth.effects.binary import EffectSizes
from metasynth.models.engine.mixed_effects import fit_mixed
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch
from metasynth.plan.spec import AnalysisSpec

EXACT_LIMIT = 16  # 2^16 = 65,536 sign patterns, fitted in chunks
TOLERANCE = 1e-8  # as metafor: |stat_perm| >= |stat_obs| - tolerance counts as extreme


@dataclass(frozen=True)
class PermutationTest:
    kind: str  # "exact" | "monte carlo"
    permutations: int
    statistic: float
    p: float
    p_floor: float
    note: str

    def to_dict(self) -> dict:
        return asdict(self)


def _sign_batches(k: int, exact: bool, iterations: int, seed: int, chunk: int = 8192):
    if exact:
        patterns = itertools.product((1.0, -1.0), repeat=k)
        while True:
            block = list(itertools.islice(patterns, chunk))
            if not block:
                return
            yield np.array(block)
    else:
        rng = np.random.default_rng(seed)
        first = np.ones((1, k))  # the observed data are one of the permutations
        remaining = iterations - 1
        yield first
        while remaining > 0:
            n = min(chunk, remaining)
            yield rng.choice((1.0, -1.0), size=(n, k))
            remaining -= n


def permutation_test(effects: EffectSizes, options: AnalysisSpec | None = None,
                     exact: bool | None = None, iterations: int = 10_000,
                     seed: int = 20261126) -> PermutationTest:
    """Sign-flip permutation test of the pooled random-effects estimate."""
    options = options or AnalysisSpec(measure=effects.measure)
    inc = effects.included
    y, v = effects.yi[inc], effects.vi[inc]
    k = len(y)
    ci = options.ci  # "hksj-adhoc" floors the scale at 1, as permutest of a test = "adhoc" fit
    exact = k <= EXACT_LIMIT if exact is None else exact
    observed = float(fit_random(*as_batch(y, v), options.tau2, ci).stat[0])
    extreme = total = 0
    for signs in _sign_batches(k, exact, iterations, seed):
        fit = fit_random(*as_batch(signs * y, np.broadcast_to(v, signs.shape)), options.tau2,
                         ci)
        extreme += int((np.abs(fit.stat) >= abs(observed) - TOLERANCE).sum())
        total += len(signs)
    floor = 2 / 2**k if exact else 1 / total
    note = (f"exact over all {total} sign patterns; the smallest attainable p-value is "
            f"{floor:.4g}" + (" (so p < 0.05 is impossible)" if floor >= 0.05 else "")
            if exact else f"Monte Carlo with {total} random sign patterns (seed {seed})")
    return PermutationTest("exact" if exact else "monte carlo", total, observed,
                           extreme / total, floor, note)


def permutation_test_moderators(y, v, X, method: str = "REML", test: str = "z",
                                iterations: int = 1000, seed: int = 20261126) -> PermutationTest:
    """Permutation p-value of the omnibus moderator test (rows of X permuted)."""
    y, v, X = np.asarray(y, float), np.asarray(v, float), np.asarray(X, float)
    k = len(y)
    observed = float(fit_mixed(y, v, X, method=method, test=test).QM[0])
    rng = np.random.default_rng(seed)
    n_all = math.factorial(k)
    exact = n_all <= iterations
    perms = (np.array(list(itertools.permutations(range(k)))) if exact else
             np.vstack([np.arange(k)] + [rng.permutation(k) for _ in range(iterations - 1)]))
    extreme = 0
    for start in range(0, len(perms), 2048):
        block = perms[start:start + 2048]
        fit = fit_mixed(np.broadcast_to(y, block.shape), np.broadcast_to(v, block.shape),
                        X[block], method=method, test=test)
        extreme += int((fit.QM >= observed - TOLERANCE).sum())
    total = len(perms)
    return PermutationTest("exact" if exact else "monte carlo", total, observed, extreme / total,
                           1 / total, f"moderators permuted {total} times")
