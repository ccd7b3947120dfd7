"""GOSH: the model fitted to every subset of the studies (Olkin, Dahabreh & Trikalinos
2012, Res Synth Methods 3:214-223), as metafor's ``gosh()``.

All 2^k - 1 subsets are enumerated as bit patterns and fitted in chunks of one batched
call each (in this process or by the workers of a Dask cluster, ``models.parallel``, with
the same kernels and the same result), so memory stays bounded (20 studies: 1,048,575 subsets); beyond
``max_subsets`` a random sample of subsets is fitted instead. ``progress`` is called with
(done, total) after each chunk.

Subsets are numbered by int64 bit patterns up to 62 studies; beyond that (2^63 would
overflow) the sample is drawn as random inclusion patterns (each study in or out with
probability 1/2, the empty set redrawn), which is the same uniform law over non-empty
subsets. The (subsets x k) inclusion table is kept for the plot, so its size is bounded:
``MAX_CELLS`` cells, or a clear refusal naming a ``max_subsets`` that fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metasynth.effects.binary import EffectSizes
from metasynth.errors import UsageError
from metasynth.models.engine.heterogeneity import heterogeneity
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch
from metasynth.models.parallel import IN_PROCESS, Cluster, run_tasks
from metasynth.plan.spec import AnalysisSpec

CHUNK = 65_536
MAX_CELLS = 2**28  # subsets x studies in the inclusion table: 256 MB of booleans
CODE_BITS = 62  # bit patterns as int64 codes up to this many studies


class TooManySubsets(UsageError, ValueError):
    """The inclusion table of the subsets asked for would not fit in memory (exit 2)."""


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
    masks: np.ndarray | None = None  # beyond CODE_BITS studies: the inclusion rows themselves


def _fit_chunk(task: _Chunk) -> tuple[np.ndarray, ...]:
    if task.masks is not None:
        mask = task.masks
    else:
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
    total = 2**k - 1  # a Python int: exact for any k
    sampled = total > max_subsets
    if min(total, max_subsets) * k > MAX_CELLS:
        raise TooManySubsets(f"GOSH with {k} studies and {min(total, max_subsets)} subsets "
                             f"needs a table of {min(total, max_subsets) * k:,} cells; use at "
                             f"most {MAX_CELLS // k:,} subsets (max_subsets)")
    codes_all = masks_all = None
    if sampled and k <= CODE_BITS:
        rng = np.random.default_rng(seed)
        codes_all = np.unique(rng.integers(1, total + 1, size=max_subsets, dtype=np.int64))
    elif sampled:
        rng = np.random.default_rng(seed)
        masks_all = rng.integers(0, 2, size=(max_subsets, k), dtype=np.uint8).astype(bool)
        empty = ~masks_all.any(axis=1)
        while empty.any():  # probability 2^-k per row: practically never
            masks_all[empty] = rng.integers(0, 2, size=(int(empty.sum()), k),
                                            dtype=np.uint8).astype(bool)
            empty = ~masks_all.any(axis=1)
        masks_all = np.unique(masks_all, axis=0)
    n = len(codes_all) if codes_all is not None else (
        len(masks_all) if masks_all is not None else total)
    ci = "hksj" if options.ci == "hksj-adhoc" else options.ci
    tasks = [_Chunk(y, v, options.tau2, ci, done + 1, min(chunk, n - done),
                    codes_all[done:done + chunk] if codes_all is not None else None,
                    masks_all[done:done + chunk] if masks_all is not None else None)
             for done in range(0, n, chunk)]
    parts = run_tasks(_fit_chunk, tasks, cluster, progress and (
        lambda i, _total: progress(min(i * chunk, n), n)))
    if parts:
        incl, estimate, tau2, i2, q = (np.concatenate(x) for x in zip(*parts))
    else:
        incl, estimate, tau2, i2, q = np.empty((0, k), dtype=bool), *(np.empty(0),) * 4
    return Gosh(k, n, sampled, incl, estimate, tau2, i2, q, incl.sum(1))
