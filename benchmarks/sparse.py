"""Sparse-data models: time per GLMM fit on the shipped corpus's mortality counts, and the
whole ``metasynth sparse`` table, against metafor's ``rma.glmm`` timed by Rscript in the
same run (the R timing excludes R's start-up and package loading: ``system.time`` around
the fit only, median of the runs). CPU seconds on both sides (process time; R's user +
system), so that other work on a shared machine does not enter the ratio.

    python benchmarks/sparse.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metasynth import api  # noqa: E402
from metasynth.models.sparse.glmm import GLMM_MODELS, fit_glmm, leave_one_out_glmm  # noqa: E402

DATA = ROOT / "tests" / "fixtures" / "data" / "msc_mortality.csv"

R_CODE = r"""
suppressPackageStartupMessages(library(metafor))
d <- read.csv("{data}")
runs <- {runs}
out <- list()
for (m in c("UM.FS", "UM.RS", "CM.EL", "CM.AL")) {{
  ts <- numeric(runs)
  for (i in seq_len(runs)) ts[i] <- system.time(try(suppressWarnings(
    rma.glmm(measure = "OR", ai = d$treatment_events, n1i = d$treatment_total,
             ci = d$control_events, n2i = d$control_total, model = m)), silent = TRUE))[1:2] |> sum()
  out[[m]] <- median(ts)
}}
for (m in c("UM.FS", "CM.AL")) {{   # leave-one-out: a loop of rma.glmm fits
  out[[paste0("loo_", m)]] <- system.time(for (i in seq_len(nrow(d))) try(suppressWarnings(
    rma.glmm(measure = "OR", ai = d$treatment_events[-i], n1i = d$treatment_total[-i],
             ci = d$control_events[-i], n2i = d$control_total[-i], model = m,
             drop00 = FALSE)), silent = TRUE))[1:2] |> sum()
}}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def median_time(fn, runs):
    ts = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        ts.append(time.process_time() - t)
    return statistics.median(ts)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    import csv

    rows = list(csv.DictReader(DATA.open()))
    a, n1, c, n2 = ([float(r[k]) for r in rows] for k in
                    ("treatment_events", "treatment_total", "control_events", "control_total"))
    fit_glmm(a, n1, c, n2, "UM.FS")  # imports (scipy) outside the timing
    ours = {m: median_time(lambda m=m: fit_glmm(a, n1, c, n2, m, keep_double_zero=False), args.runs)
            for m in GLMM_MODELS}
    loo = {m: median_time(lambda m=m: leave_one_out_glmm(a, n1, c, n2, m), args.runs)
           for m in ("UM.FS", "CM.AL")}
    result = api.pool(ROOT / "studies")
    table = median_time(lambda: api.sparse(result), args.runs)
    r_times = {}
    if not shutil.which("Rscript"):
        print("Rscript not found: the rma.glmm timings are skipped (metasynth's only)",
              file=sys.stderr)
    else:
        code = R_CODE.format(data=DATA, runs=args.runs)
        proc = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=1200)
        if proc.returncode == 0:
            r_times = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            print("Rscript failed:", proc.stderr.strip()[-300:], file=sys.stderr)
    print(f"GLMM fits on the corpus's mortality counts (7 trials; double-zero trial dropped, "
          f"as rma.glmm's default); median of {args.runs} runs")
    print(f"{'model':<8}{'metasynth':>12}{'rma.glmm':>12}{'ratio R/ours':>14}")
    for m in GLMM_MODELS:
        r = r_times.get(m)
        ratio = f"{r / ours[m]:.1f}x" if r else "n/a"
        rt = f"{r:.3f} s" if r else "n/a"
        print(f"{m:<8}{ours[m]:>10.3f} s{rt:>12}{ratio:>14}")
    print(f"leave-one-out ({len(a)} refits, double-zero trial kept; metasynth: one batched "
          f"fit; rma.glmm: a loop)")
    for m in ("UM.FS", "CM.AL"):
        r = r_times.get(f"loo_{m}")
        print(f"{m:<8}{loo[m]:>10.3f} s" + (f"{r:>10.3f} s{r / loo[m]:>13.1f}x" if r else
                                            f"{'n/a':>12}{'n/a':>14}"))
    total_r = sum(v for k_, v in r_times.items() if not k_.startswith("loo_")) if r_times else None
    print(f"whole sparse table (10 rows, the GLMMs with the double-zero trial): "
          f"{table:.3f} s" + (f"; rma.glmm's four fits alone: {total_r:.3f} s "
                             f"(ratio {total_r / table:.1f}x)" if total_r else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
