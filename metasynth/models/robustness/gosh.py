"""GOSH: the model fitted to every subset of the studies (Olkin, Dahabreh & Trikalinos
2012, Res Synth Methods 3:214-223), as metafor's ``gosh()``.

All 2^k - 1 subsets are enumerated as bit patterns and fitted in chunks of one batched
call each (in this process or by the workers of a Dask cluster, ``models.parallel``, with
the same kernels and the same result), so memory stays bounded (20 studies: 1,048,575 subsets); beyond
``max_subsets`` a random sample of subsets is fitted instead. ``progress`` is called with
(done, total) after each chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.effects.binary import EffectSizes
from metasynth.models.engine.heterogeneity import heterogeneity
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch
from metasynth.models.parallel import IN_PROCESS, Cluster, run_tasks
from metasynth.plan.spec import AnalysisSpec

CHUNK = 65_536


@dataclass(frozen=True)
class Gosh:
    k: int
    subsets: int
    sampled: bool
    included: np.ndarray  # (n, k) bool
    estimate: np.ndarray  # analysis scale
    tau2: np.ndarray
    I2: np.ndarray
    Q: np.ndarray
    n_studies: np.ndarray

    def to_frame(self):
        """One row per subset fitted: its studies (as columns of booleans) and estimates."""
        import pandas as pd

        df = pd.DataFrame(self.included, columns=[f"study_{i + 1}" for i in range(self.k)])
        return df.assign(studies=self.n_studies, estimate=self.estimate, tau2=self.tau2,
                         I2=self.I2, Q=self.Q)

    def to_dict(self, limit: int = 0) -> dict:
        rows = range(min(limit, self.subsets)) if limit else range(0)
        return {"k": self.k, "subsets": self.subsets, "sampled": self.sampled,
                "first_rows": [{"studies": int(self.n_studies[i]),
                                "estimate": float(self.estimate[i]), "tau2": float(self.tau2[i]),
                                "I2": float(self.I2[i])} for i in rows]}


def _masks(codes: np.ndarray, k: int) -> np.ndarray:
    return ((codes[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)


@dataclass(frozen=True)
class _Chunk:
    """One batch of subsets: their bit patterns (``codes``) or the range
    ``first .. first + size - 1`` of them, and what is fitted."""

    y: np.ndarray
    v: np.ndarray
    tau2: str
    ci: str
    first: int
    size: int
    codes: np.ndarray | None = None


def _fit_chunk(task: _Chunk) -> tuple[np.ndarray, ...]:
    codes = task.codes if task.codes is not None else np.arange(
        task.first, task.first + task.size, dtype=np.int64)
    mask = _masks(codes, len(task.y))
    yy, vv, mm = as_batch(np.broadcast_to(task.y, mask.shape), np.broadcast_to(task.v, mask.shape),
                          mask)
    fit = fit_random(yy, vv, mm, task.tau2, task.ci)
    het = heterogeneity(yy, vv, mm, fit.tau2.tau2, with_ci=False)
    return mask, fit.theta, fit.tau2.tau2, het.i2, het.q


def gosh(effects: EffectSizes, options: AnalysisSpec | None = None, max_subsets: int = 2**20,
         seed: int = 20261126, progress=None, chunk: int = CHUNK,
         cluster: Cluster = IN_PROCESS) -> Gosh:
    """Every subset's fit; the chunks run in this process or on a Dask ``cluster``
    (``models.parallel``), with the same result either way."""
    options = options or AnalysisSpec(measure=effects.measure)
    inc = effects.included
    y, v = effects.yi[inc], effects.vi[inc]
    k = len(y)
    total = 2**k - 1
    sampled = total > max_subsets
    if sampled:
        rng = np.random.default_rng(seed)
        codes_all = np.unique(rng.integers(1, total + 1, size=max_subsets, dtype=np.int64))
    else:
        codes_all = None
    n = len(codes_all) if sampled else total
    ci = "hksj" if options.ci == "hksj-adhoc" else options.ci
    tasks = [_Chunk(y, v, options.tau2, ci, done + 1, min(chunk, n - done),
                    codes_all[done:done + chunk] if sampled else None)
             for done in range(0, n, chunk)]
    parts = run_tasks(_fit_chunk, tasks, cluster, progress and (
        lambda i, _total: progress(min(i * chunk, n), n)))
    if parts:
        incl, estimate, tau2, i2, q = (np.concatenate(x) for x in zip(*parts))
    else:
        incl, estimate, tau2, i2, q = np.empty((0, k), dtype=bool), *(np.empty(0),) * 4
    return Gosh(k, n, sampled, incl, estimate, tau2, i2, q, incl.sum(1))
