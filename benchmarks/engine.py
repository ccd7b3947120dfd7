"""Engine benchmark: batched fits against metafor (when Rscript is present) and PyMARE,
measured in the same run; prints each ratio.

1. GOSH with REML on 12 studies (4,095 fits): metasynth.models.robustness.gosh vs metafor gosh().
2. Leave-one-out and exact permutation test on the shipped mortality pool vs metafor
   leave1out() and permutest(exact = TRUE).
3. 100,000 simulated meta-analyses of 10 studies, REML + HKSJ, in one batch (target
   under 5 s), vs PyMARE fitting them one at a time (timed on 200, per fit).

Times are of the computation only (in-process; R's timed with system.time inside R).

    python benchmarks/engine.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metasynth.api import study_table  # noqa: E402
from metasynth.effects.binary import effect_sizes  # noqa: E402
from metasynth.models.engine.random_effects import fit_random  # noqa: E402
from metasynth.models.robustness.gosh import gosh  # noqa: E402
from metasynth.models.robustness.permutation import permutation_test  # noqa: E402
from metasynth.models.robustness.refits import leave_one_out  # noqa: E402
from metasynth.plan.spec import AnalysisSpec  # noqa: E402
from metasynth.records.table import read_table  # noqa: E402

R_CODE = r"""
suppressPackageStartupMessages(library(metafor))
a <- commandArgs(TRUE)
bcg <- read.csv(a[1]); cor <- read.csv(a[2])
es <- function(d) escalc("RR", ai = treatment_events, n1i = treatment_total, ci = control_events,
                         n2i = control_total, data = d, add = 1/2, to = "only0", drop00 = TRUE)
g <- rma(yi, vi, data = es(bcg[1:12, ]), method = "REML")
t1 <- system.time(invisible(gosh(g, progbar = FALSE)))[["elapsed"]]
m <- rma(yi, vi, data = es(cor), method = "REML", test = "knha")
t2 <- system.time(invisible(leave1out(m)))[["elapsed"]]
t3 <- system.time(invisible(permutest(m, exact = TRUE)))[["elapsed"]]
cat(t1, t2, t3, "\n")
"""


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    bcg_csv = ROOT / "tests" / "fixtures" / "data" / "bcg.csv"
    bcg = effect_sizes(read_table(bcg_csv), "RR")
    bcg12 = bcg.subset(np.arange(13) < 12)
    corpus = effect_sizes(study_table(ROOT / "studies", "mortality"), "RR")
    opts = AnalysisSpec(tau2="REML", ci="hksj")
    wald = AnalysisSpec(tau2="REML", ci="wald")
    gosh(bcg12, wald)  # warm-up
    t_gosh = timed(lambda: gosh(bcg12, wald))
    t_loo = timed(lambda: leave_one_out(corpus, opts))
    t_perm = timed(lambda: permutation_test(corpus, opts))

    rng = np.random.default_rng(1)
    n, k = 100_000, 10
    v = rng.uniform(0.01, 0.3, (n, k))
    y = rng.normal(-0.2, np.sqrt(v + 0.05))
    mask = np.ones((n, k), dtype=bool)
    start = time.perf_counter()
    fit_random(y, v, mask, "REML", "hksj")
    t_sim = time.perf_counter() - start
    print(f"1. GOSH, REML, 12 studies (4,095 fits):   metasynth {t_gosh:.3f} s")
    print(f"2. leave-one-out (k = {corpus.k}):             metasynth {t_loo * 1000:.1f} ms")
    print(f"   exact permutation test (2^{corpus.k}):      metasynth {t_perm * 1000:.1f} ms")
    print(f"3. 100,000 meta-analyses, REML + HKSJ:    metasynth {t_sim:.2f} s (target < 5 s): "
          f"{'OK' if t_sim < 5 else 'TOO SLOW'}")

    rscript = shutil.which("Rscript")
    if rscript:
        tmp = Path(tempfile.mkdtemp())
        (tmp / "b.R").write_text(R_CODE)
        rows = ["study,treatment_events,treatment_total,control_events,control_total"]
        rows += [f"{r.id},{r.treatment_events},{r.treatment_total},{r.control_events},"
                 f"{r.control_total}" for r in corpus.table.rows if r.has_counts]
        (tmp / "c.csv").write_text("\n".join(rows) + "\n")
        out = subprocess.run([rscript, str(tmp / "b.R"), str(bcg_csv), str(tmp / "c.csv")],
                             capture_output=True, text=True)
        if out.returncode == 0:
            r_gosh, r_loo, r_perm = (float(x) for x in out.stdout.strip().splitlines()[-1].split())
            print(f"   metafor gosh() {r_gosh:.2f} s: ratio metafor / metasynth = "
                  f"{r_gosh / t_gosh:.0f}x (target >= 300x)")
            print(f"   metafor leave1out() {r_loo * 1000:.0f} ms: ratio {r_loo / t_loo:.0f}x; "
                  f"permutest(exact) {r_perm * 1000:.0f} ms: ratio {r_perm / t_perm:.0f}x")
        else:
            print("   metafor run failed:", out.stderr.strip()[-200:])
    else:
        print("   (Rscript with metafor not found: no metafor baseline)")
    try:
        import pymare
        from pymare.estimators import VarianceBasedLikelihoodEstimator
    except ImportError:
        print("   (PyMARE not installed: no PyMARE baseline)")
        return
    m = 200
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(m):
            VarianceBasedLikelihoodEstimator(method="REML").fit_dataset(
                pymare.Dataset(y=y[i], v=v[i])).summary().get_fe_stats()
    per_fit = (time.perf_counter() - start) / m
    print(f"   PyMARE REML one at a time: {per_fit * 1000:.2f} ms per fit -> "
          f"{per_fit * n:.0f} s for 100,000: ratio PyMARE / metasynth = {per_fit * n / t_sim:.0f}x")


if __name__ == "__main__":
    main()
