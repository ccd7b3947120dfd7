"""Does REML return the global maximum of the restricted likelihood? A random search.

20,000 random risk-ratio meta-analyses with k = 3..8 (arm sizes log-uniform on 10..500,
control risk U(0.02, 0.6), true log RR ~ N(-0.1, tau²) with tau ~ U(0, 0.8), binomial
events; 0.5 added to the cells of a study with a zero cell, double zeros dropped) are
fitted in one batch with metasynth's REML. Each fit is checked against a brute-force
reference written here independently of the engine: the restricted log-likelihood on a
fine grid over [0, U] (4,001 points, linear and geometric, U past the last root of the
score), refined by golden-section search around the best grid point. Counted: fits that
reached the fallback (Fisher scoring not converged), fits whose likelihood has more than
one local maximum, and fits whose tau² is not the global maximum (restricted
log-likelihood below the reference by more than 1e-9).

    python benchmarks/reml_maxima.py [--n 20000] [--seed 12]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metasynth.effects.binary import escalc  # noqa: E402
from metasynth.models.engine.tau2 import estimate_tau2  # noqa: E402
from metasynth.models.engine.weighted import as_batch  # noqa: E402


def simulate(n: int, seed: int, kmax: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(n, kmax) arrays yi, vi of log risk ratios; NaN pads rows with k < kmax."""
    rng = np.random.default_rng(seed)
    k = rng.integers(3, kmax + 1, n)
    n1 = np.round(np.exp(rng.uniform(np.log(10), np.log(500), (n, kmax)))).astype(int)
    n2 = np.round(n1 * rng.uniform(0.8, 1.25, (n, kmax))).astype(int)
    p0 = rng.uniform(0.02, 0.6, (n, kmax))
    theta = rng.normal(-0.1, rng.uniform(0, 0.8, n)[:, None], (n, kmax))
    p1 = np.clip(p0 * np.exp(theta), 0.001, 0.99)
    a, c = rng.binomial(n1, p1), rng.binomial(n2, p0)
    yi, vi, _, double_zero = escalc("RR", a, n1, c, n2)
    keep = (np.arange(kmax)[None, :] < k[:, None]) & ~double_zero
    return np.where(keep, yi, np.nan), np.where(keep, vi, np.nan)


def restricted_loglik(y, v, mask, t):
    """REML log-likelihood of the intercept-only model (up to a constant), t: (n, m)."""
    w = np.where(mask[:, None, :], 1.0 / (v[:, None, :] + t[..., None]), 0.0)
    sw = w.sum(-1)
    mu = (w * y[:, None, :]).sum(-1) / sw
    q = (w * (y[:, None, :] - mu[..., None]) ** 2).sum(-1)
    logv = np.where(mask[:, None, :], np.log(v[:, None, :] + t[..., None]), 0.0).sum(-1)
    return -0.5 * (logv + np.log(sw) + q)


def reference_maximum(y, v, mask, chunk: int = 500):
    """Global maximum by a fine grid and golden-section refinement, row by row chunks."""
    n = y.shape[0]
    k = mask.sum(-1)
    ybar = np.where(mask, y, 0).sum(-1) / k
    rss = np.where(mask, (y - ybar[:, None]) ** 2, 0).sum(-1)
    vmax = np.where(mask, v, 0).max(-1)
    vmin = np.where(mask, v, np.inf).min(-1)
    upper = 1.01 * np.maximum(vmax, 2 * rss / (k - 1))  # the score is < 0 beyond (see tau2.py)
    best_t, best_ll = np.empty(n), np.empty(n)
    for s in range(0, n, chunk):
        r = slice(s, s + chunk)
        u = upper[r, None]
        grid = np.concatenate([np.linspace(0, 1, 2001)[None, :] * u,
                               np.geomspace(vmin[r] * 1e-4, upper[r], 2000).T], axis=1)
        grid.sort(axis=1)
        ll = restricted_loglik(y[r], v[r], mask[r], grid)
        j = ll.argmax(1)
        rows = np.arange(grid.shape[0])
        lo = grid[rows, np.maximum(j - 1, 0)]
        hi = grid[rows, np.minimum(j + 1, grid.shape[1] - 1)]
        g = (np.sqrt(5) - 1) / 2
        for _ in range(100):  # golden section on [lo, hi]
            a_, b_ = hi - g * (hi - lo), lo + g * (hi - lo)
            fa = restricted_loglik(y[r], v[r], mask[r], a_[:, None])[:, 0]
            fb = restricted_loglik(y[r], v[r], mask[r], b_[:, None])[:, 0]
            hi = np.where(fa >= fb, b_, hi)
            lo = np.where(fa >= fb, lo, a_)
        cand = np.column_stack([grid[rows, j], 0.5 * (lo + hi), np.zeros(len(rows))])
        llc = restricted_loglik(y[r], v[r], mask[r], cand)
        pick = llc.argmax(1)
        best_t[r] = cand[rows, pick]
        best_ll[r] = llc[rows, pick]
    return best_t, best_ll


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--kmax", type=int, default=8)
    args = ap.parse_args()
    yi, vi = simulate(args.n, args.seed, args.kmax)
    y, v, mask = as_batch(yi, vi)
    ok = mask.sum(-1) >= 2
    y, v, mask = y[ok], v[ok], mask[ok]
    t0 = time.perf_counter()
    est = estimate_tau2(y, v, mask, "REML")
    elapsed = time.perf_counter() - t0
    ref_t, ref_ll = reference_maximum(y, v, mask)
    ours_ll = restricted_loglik(y, v, mask, est.tau2[:, None])[:, 0]
    wrong = ours_ll < ref_ll - 1e-9
    several = getattr(est, "multiple_maxima", np.zeros(len(y), bool))
    print(f"fits: {len(y)} (k = 3..{args.kmax}, fewer after dropping double zeros); "
          f"REML in {elapsed:.2f} s")
    print(f"reached the fallback (Fisher scoring not converged): {int(est.fallback.sum())}")
    print(f"flagged as having several local maxima: {int(several.sum())}")
    print(f"tau² not the global REML maximum: {int(wrong.sum())}")
    if wrong.any():
        i = np.flatnonzero(wrong)
        print("  worst: tau² ours vs reference, loglik gap:")
        for j in i[np.argsort(ours_ll[i] - ref_ll[i])][:5]:
            print(f"  row {j}: {est.tau2[j]:.6g} vs {ref_t[j]:.6g}, {ref_ll[j] - ours_ll[j]:.3g}")
    close = ~wrong
    diff = np.abs(est.tau2[close] - ref_t[close]) / np.maximum(ref_t[close], 1e-3)
    print(f"largest |tau² - reference| / max(reference, 1e-3) among the others: {diff.max():.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
