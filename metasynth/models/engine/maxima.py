"""The global maximum of the (restricted) likelihood in tau², for batches of fits.

The REML and ML estimating equations of the random-effects and mixed-effects models need
not have one root. The score can be negative at tau² = 0, positive on an interval and
negative beyond it: the likelihood then has a local maximum at the boundary and another
inside, and either can be the higher one. Fisher scoring (Viechtbauer 2005, J Educ Behav
Stat 30:261-293) finds one stationary point, depending on where it starts. metafor's
``rma.uni`` therefore compares the likelihood at its answer with that at tau² = 0 and
resets to 0 when 0 is higher (its ``ll0check``); it does not look for a higher interior
maximum when scoring ends at the boundary.

``global_maximum`` settles every case. It scans the score on a grid over [0, upper] (0,
then geometric steps: the score varies on the scale of the v_i + tau², so relative steps
resolve it everywhere), takes every sign change from + to - as a bracket of a local
maximum and tau² = 0 as one when the score there is <= 0, refines the brackets by
bisection, and returns the candidate with the highest log-likelihood. The Fisher-scoring
answer is kept whenever it is that maximum, so fits with a single maximum (nearly all)
are unchanged. ``upper`` must be a point beyond which the score is negative; the callers
use the bound derived in ``score_free_bound``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Grid points per fit (0 and GRID_POINTS - 1 geometric steps from ``lower`` to ``upper``):
#: steps of 40-70% in tau² over the usual range of 4-6 decades. In the random search of
#: benchmarks/reml_maxima.py 16, 24, 32 and 64 points flag the same 51 of 20,000 fits
#: (k <= 8), and with 24 none of 60,000 fits (three seeds, k up to 20) falls short of the
#: global maximum; 24 keeps a margin over 16.
GRID_POINTS = 24
#: Rows scored at once on the grid (rows x GRID_POINTS evaluations per call): 512 keeps
#: the (k, rows, points) arrays of the intercept model within the cache (at k = 8 the
#: scan took 0.12 s per 20,000 fits against 0.17 s in blocks of 2048).
GRID_CHUNK = 512
#: Two candidates whose log-likelihoods differ by less than this are a tie; the
#: Fisher-scoring answer is then kept (the choice between them is numerical noise).
LL_TIE = 1e-10

#: score(rows, tau2) and loglik(rows, tau2): 1-D row indices into the caller's batch and
#: tau² values of the same length, returning 1-D arrays.
RowFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]
#: score_grid(rows, tau2): the score of each of ``rows`` (n,) at each of its tau² (n, m),
#: (n, m); the same values as ``score`` on the rows repeated, computed without repeating.
GridFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Maxima:
    tau2: np.ndarray  # (n,) the global maximiser
    several: np.ndarray  # (n,) bool: the likelihood has more than one local maximum
    other: np.ndarray  # (n,) tau² of the highest other local maximum; NaN when none


def score_free_bound(rss: np.ndarray, vmax: np.ndarray, dfree: np.ndarray) -> np.ndarray:
    """A tau² beyond which the REML and ML scores are negative.

    With w_i = 1/(v_i + t) between a = 1/(vmax + t) and b = 1/(vmin + t), the score's
    first term is |W r|² <= b min_beta sum w (y - X beta)² <= b² RSS (RSS of the
    unweighted fit), and tr P >= a (k - p) (P = W^½ (I - H) W^½, H a projection of rank p);
    the ML score subtracts tr W >= a k instead. For t >= vmax, b <= 1/t and a >= 1/(2t), so
    both scores are negative once t > 2 RSS / (k - p).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = 2.0 * rss / np.maximum(dfree, 1)
    return np.maximum(np.nan_to_num(bound, nan=0.0), vmax) * (1.0 + 1e-6) + 1e-300


def _grid(lower: np.ndarray, upper: np.ndarray, m: int) -> np.ndarray:
    lower = np.minimum(lower, upper / 10.0)
    frac = np.linspace(0.0, 1.0, m - 1)
    pos = np.exp(np.log(lower)[:, None] + frac[None, :] * np.log(upper / lower)[:, None])
    return np.column_stack([np.zeros(len(lower)), pos])


def _scan(score: RowFunction, rows: np.ndarray, grid: np.ndarray,
          score_grid: GridFunction | None = None) -> np.ndarray:
    """The score at every grid point, (n, m), in chunks of rows."""
    n, m = grid.shape
    out = np.empty((n, m))
    for s in range(0, n, GRID_CHUNK):
        block = slice(s, s + GRID_CHUNK)
        if score_grid is not None:
            out[block] = score_grid(rows[block], grid[block])
        else:
            r = np.repeat(rows[block], m)
            out[block] = score(r, grid[block].ravel()).reshape(-1, m)
    return out


def _bisect(score: RowFunction, rows: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Root in [lo, hi] where score(lo) > 0 >= score(hi), to machine precision."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        up = score(rows, mid) > 0
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
        if np.all(hi - lo <= 4e-16 * hi):
            break
    return 0.5 * (lo + hi)


def global_maximum(score: RowFunction, loglik: RowFunction, rows: np.ndarray,
                   lower: np.ndarray, upper: np.ndarray, start: np.ndarray,
                   converged: np.ndarray, score_grid: GridFunction | None = None) -> Maxima:
    """The tau² that maximises ``loglik`` on [0, upper] for each of ``rows``.

    ``start`` is the Fisher-scoring answer and ``converged`` whether scoring met its
    criterion; a converged answer is one of the candidates, an unconverged one is not.
    ``lower`` is the first positive grid point (the callers use min v_i / 100).
    ``score_grid``, when given, scores the grid (the scan is most of the work).
    """
    n = len(rows)
    grid = _grid(lower, upper, GRID_POINTS)
    s = _scan(score, rows, grid, score_grid)
    down = (s[:, :-1] > 0) & (s[:, 1:] <= 0)  # (n, m - 1): a local maximum inside
    boundary = s[:, 0] <= 0  # tau² = 0 is a local maximum
    # the bracket holding a converged interior start is represented by the start itself
    cell = np.clip((grid <= start[:, None]).sum(1) - 1, 0, GRID_POINTS - 2)
    at_zero = converged & (start == 0)
    inner = converged & ~at_zero
    hit = np.flatnonzero(inner & down[np.arange(n), cell])
    down[hit, cell[hit]] = False
    zero = boundary | at_zero
    count = down.sum(1) + zero + inner
    work = (count >= 2) | ~converged
    tau2 = np.where(converged, start, 0.0)
    several = np.zeros(n, dtype=bool)
    other = np.full(n, np.nan)
    if not work.any():
        return Maxima(tau2, several, other)
    # candidates of the rows that need a decision: (row, tau², is it the start)
    pr, pj = np.nonzero(down & work[:, None])
    roots = _bisect(score, rows[pr], grid[pr, pj], grid[pr, pj + 1]) if pr.size else np.zeros(0)
    zr = np.flatnonzero(work & zero)
    sr = np.flatnonzero(work & inner)
    cand_row = np.concatenate([pr, zr, sr])
    cand_t = np.concatenate([roots, np.zeros(zr.size), start[sr]])
    is_start = np.concatenate([np.zeros(pr.size, bool), at_zero[zr], np.ones(sr.size, bool)])
    ll = loglik(rows[cand_row], cand_t)
    ll = np.where(np.isfinite(ll), ll, -np.inf)
    # a start within LL_TIE of the best is kept
    ll = np.where(is_start, ll + LL_TIE * np.maximum(1.0, np.abs(ll)), ll)
    order = np.lexsort((-ll, cand_row))  # by row, best first
    cand_row, cand_t = cand_row[order], cand_t[order]
    first = np.ones(cand_row.size, dtype=bool)
    first[1:] = cand_row[1:] != cand_row[:-1]
    tau2[cand_row[first]] = cand_t[first]
    # a candidate within 1e-6 (relative) of the best is the same maximum found twice
    best = tau2[cand_row]
    apart = np.abs(cand_t - best) > 1e-6 * np.maximum(cand_t, best) + 1e-12 * upper[cand_row]
    rest = np.flatnonzero(apart)
    rest = rest[np.unique(cand_row[rest], return_index=True)[1]]  # the best of the others
    several[cand_row[rest]] = True
    other[cand_row[rest]] = cand_t[rest]
    return Maxima(np.maximum(tau2, 0.0), several, other)
