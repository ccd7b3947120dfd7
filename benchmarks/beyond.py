"""Bayesian meta-analysis and TSA: time per analysis of the shipped corpus, against a naive
baseline measured in the same run.

- Bayes: numerical integration (metasynth.models.bayes.normal_normal, half-normal(0.5) prior) against a
  brute-force 2-D posterior grid (tau x mu, 2001 x 2001 points) giving the same median to
  ~1e-5 (the difference is printed) -- the approach a hand-written script would take.
- TSA boundaries: Newton on the recursive integration against bisection on the same
  integrals (scipy's brentq), the approach of a direct transcription of the algorithm.

    python benchmarks/beyond.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metasynth import api  # noqa: E402
from metasynth.models.bayes.normal_normal import bayes_meta, half_normal  # noqa: E402
from metasynth.models.sequential import boundaries as sequential  # noqa: E402


def best(fn, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def grid_posterior(y, v, n=2001):
    tau = np.linspace(0, 4, n)
    mu = np.linspace(-4, 4, n)
    T, M = np.meshgrid(tau, mu, indexing="ij")
    logp = -0.5 * (T / 0.5) ** 2
    for yi, vi in zip(y, v):
        s2 = vi + T**2
        logp = logp - 0.5 * np.log(s2) - 0.5 * (yi - M) ** 2 / s2
    p = np.exp(logp - logp.max())
    pm = np.trapezoid(p, tau, axis=0)
    c = np.concatenate([[0.0], np.cumsum((pm[1:] + pm[:-1]) / 2)])
    c /= c[-1]
    return float(np.interp(0.5, c, mu))


def bisection_boundaries(times, alpha=0.05):
    from scipy.optimize import brentq

    rec = sequential._Recursion(np.asarray(times), 0.0)
    prev, out = 0.0, []
    for k, t in enumerate(times):
        inc = sequential.spent(t, alpha) - prev
        prev += inc
        m = rec.mass(k)
        b = brentq(lambda c, k=k, m=m, inc=inc: m - rec.prob_between(k, -c, c) - inc, 0.0, 14.0,
                   xtol=1e-10)
        out.append(b)
        rec.advance(k, [(-b, b)])
    return np.asarray(out)


def main() -> None:
    effects = api.pool("studies", "mortality").effects
    idx = api._ordered_included(effects)
    y, v = effects.yi[idx], effects.vi[idx]
    ours = best(lambda: bayes_meta(y, v, half_normal(0.5), None, shrinkage=False))
    base = best(lambda: grid_posterior(y, v), runs=3)
    med = bayes_meta(y, v, half_normal(0.5), None, shrinkage=False).mu.median
    print(f"Bayes (k = {len(y)}): integration {ours:.3f} s, brute-force grid {base:.3f} s, "
          f"ratio {ours / base:.2f}; medians differ by {abs(med - grid_posterior(y, v)):.1e}")
    times = [0.13, 0.26, 0.44, 0.59, 0.75, 0.9, 1.0]
    ours = best(lambda: sequential.efficacy_boundaries(times))
    base = best(lambda: bisection_boundaries(times))
    diff = np.abs(sequential.efficacy_boundaries(times) - bisection_boundaries(times)).max()
    print(f"OBF boundaries (7 looks): Newton {ours:.3f} s, bisection {base:.3f} s, ratio "
          f"{ours / base:.2f}; max difference {diff:.1e}")
    ours = best(lambda: api.tsa("studies"), runs=3)
    print(f"metasynth tsa on the corpus (with futility design): {ours:.3f} s")


if __name__ == "__main__":
    main()
