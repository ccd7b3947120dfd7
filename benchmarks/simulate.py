"""metasynth simulate: replicates per second on one core, and against metafor fitting the
same replicates one at a time in an Rscript loop (measured in the same run).

Ours: ``api.simulate`` on the corpus's mortality trials, every scenario of the default
grid (4 true RRs x 4 taus), every frequentist method (MH, IV, 7 tau² estimators x Wald,
HKSJ, HKSJ ad hoc, with the prediction interval), in-process. metafor: a timed sample of
replicates of one scenario (RR 0.8, tau 0.2) drawn by our generator, written to CSV and
fitted by Rscript with ``escalc`` (0.5 added to zero-cell trials, double zeros dropped),
``rma.mh``, ``rma(method = "EE")`` and ``rma`` with each estimator and
``test = "z" | "knha" | "adhoc"`` plus ``predict``: the R time excludes R's start-up and
package loading (``system.time`` around the loop only) and is EXTRAPOLATED from the
sample to the full run, and labelled so. Both sides are compared in CPU seconds (user +
system of the one process), which a machine shared with other work inflates less than
wall time. Skipped when Rscript is absent.

    python benchmarks/simulate.py [--replicates 100000] [--r-sample 100]
        [--workers 1,2] [--chunks 5000,20000,80000] [--scaling-replicates 20000]
        [--chunk-dask 10000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metasynth import api  # noqa: E402
from metasynth.models.simulate.kernels import METHODS  # noqa: E402
from metasynth.models.simulate.run import block_rng  # noqa: E402
from metasynth.models.simulate.scenarios import Scenario, generate  # noqa: E402

STUDIES = ROOT / "studies"

R_CODE = r"""
suppressPackageStartupMessages(library(metafor))
d <- read.csv("{data}")
reps <- split(d, d$rep)
methods <- c("REML", "DL", "PM", "ML", "HE", "SJ", "EB")
fails <- 0
st <- system.time(for (x in reps) {{
  es <- escalc(measure = "RR", ai = x$a, n1i = x$n1, ci = x$c, n2i = x$n2, add = 1/2,
               to = "only0", drop00 = TRUE)
  r <- try(rma.mh(ai = x$a, n1i = x$n1, ci = x$c, n2i = x$n2, measure = "RR"), silent = TRUE)
  r <- try(rma(yi, vi, data = es, method = "EE"), silent = TRUE)
  for (m in methods) for (tst in c("z", "knha", "adhoc")) {{
    r <- try(suppressWarnings(rma(yi, vi, data = es, method = m, test = tst)), silent = TRUE)
    if (inherits(r, "try-error")) fails <- fails + 1 else p <- predict(r)
  }}
}})
cat(jsonlite::toJSON(list(seconds = st[["elapsed"]], cpu = st[["user.self"]] + st[["sys.self"]],
                          replicates = length(reps), failures = fails),
                     auto_unbox = TRUE, digits = NA))
"""


def ours(replicates: int, chunk=None, workers=None) -> tuple[float, float, object]:
    fitted = api.pool(STUDIES, "mortality")
    t, c = time.perf_counter(), time.process_time()
    sim = api.simulate(fitted, replicates=replicates, chunk=chunk, workers=workers)
    return time.perf_counter() - t, time.process_time() - c, sim


def metafor(sample: int, k_design) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    counts = generate(k_design, Scenario(0.8, 0.2), block_rng(1, 0, 0), sample)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "reps.csv"
        with data.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["rep", "a", "n1", "c", "n2"])
            for j in range(sample):
                for i in range(k_design.k):
                    w.writerow([j, int(counts.a[j, i]), int(counts.n1[j, i]),
                                int(counts.c[j, i]), int(counts.n2[j, i])])
        proc = subprocess.run(["Rscript", "-e", R_CODE.format(data=data)], capture_output=True,
                              text=True, timeout=3600)
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return None
    return json.loads(proc.stdout)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=100_000, help="per scenario")
    ap.add_argument("--r-sample", type=int, default=100)
    ap.add_argument("--workers", default="", help="e.g. 1,2: Dask LocalCluster scaling")
    ap.add_argument("--chunks", default="", help="e.g. 5000,20000,80000: chunk-size cost")
    ap.add_argument("--scaling-replicates", type=int, default=20_000)
    ap.add_argument("--chunk-dask", type=int, default=10_000)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    wall, cpu, sim = ours(args.replicates)
    n = args.replicates * len(sim.scenarios)
    print(f"metasynth: {n:,} meta-analyses ({args.replicates:,} replicates x "
          f"{len(sim.scenarios)} scenarios, k = {sim.design.k}) x {len(METHODS)} methods in "
          f"{wall:.1f} s wall, {cpu:.1f} s CPU, one process: {n / wall:,.0f} replicates/s "
          f"({n * len(METHODS) / wall:,.0f} fits/s)")
    r = metafor(args.r_sample, sim.design)
    if r is None:
        print("metafor: skipped (no Rscript)")
    else:
        per = r["cpu"] / r["replicates"]
        print(f"metafor 3.8 loop: {r['replicates']} replicates timed in {r['cpu']:.1f} s CPU "
              f"({r['seconds']:.1f} s wall; {per * 1000:.1f} ms CPU per replicate for the same "
              f"{len(METHODS)} fits; {r['failures']} rma errors); EXTRAPOLATED to {n:,} "
              f"replicates: {per * n / 3600:.1f} CPU-hours; ratio {per * n / cpu:,.0f}x "
              "(CPU time against CPU time)")
    for c in [int(x) for x in args.chunks.split(",") if x]:
        w, cp, _ = ours(args.scaling_replicates, chunk=c)
        m = args.scaling_replicates * 16
        print(f"chunk {c:>7,}: {m:,} replicates in {w:.1f} s wall, {cp:.1f} s CPU "
              f"({m / cp:,.0f} per CPU-second)")
    for nw in [int(x) for x in args.workers.split(",") if x]:
        from dask.distributed import Client, LocalCluster

        m = args.scaling_replicates * 16
        t = time.perf_counter()
        with LocalCluster(n_workers=nw, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            start = time.perf_counter() - t
            fitted = api.pool(STUDIES, "mortality")
            t = time.perf_counter()
            api.simulate(fitted, replicates=args.scaling_replicates, chunk=args.chunk_dask,
                         client=client)
            w = time.perf_counter() - t
        print(f"Dask LocalCluster, {nw} worker(s), chunks of {args.chunk_dask:,}: {m:,} "
              f"replicates in {w:.1f} s wall ({m / w:,.0f}/s; the cluster took {start:.1f} s "
              "to start)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
