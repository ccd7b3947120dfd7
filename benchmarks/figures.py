"""Figure benchmark: `metasynth forest studies/ -o forest.png` (cold process, imports
included) against Rscript + metafor drawing its forest() of the same pool to PNG, in
the same run. Prints medians and the ratio; the target is under 2 s for metasynth.

    python benchmarks/figures.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import ROOT, medians

sys.path.insert(0, str(ROOT))

R_CODE = """
suppressPackageStartupMessages(library(metafor))
a <- commandArgs(TRUE)
d <- read.csv(a[1])
dat <- escalc("RR", ai = treatment_events, n1i = treatment_total, ci = control_events,
              n2i = control_total, data = d, add = 1/2, to = "only0", drop00 = TRUE)
res <- rma(yi, vi, data = dat, method = "REML", test = "knha", slab = study)
png(a[2], width = 2000, height = 1100, res = 200)
forest(res, atransf = exp, ilab = cbind(d$treatment_events, d$treatment_total,
       d$control_events, d$control_total), ilab.xpos = c(-9.5, -8, -6, -4.5), header = TRUE)
invisible(dev.off())
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from metasynth.api import study_table

    tmp = Path(tempfile.mkdtemp())
    table = study_table(ROOT / "studies", "mortality")
    lines = ["study,treatment_events,treatment_total,control_events,control_total"]
    lines += [f"{r.label},{r.treatment_events},{r.treatment_total},{r.control_events},"
              f"{r.control_total}" for r in table.rows if r.has_counts]
    (tmp / "d.csv").write_text("\n".join(lines) + "\n")
    (tmp / "forest.R").write_text(R_CODE)
    ours = [sys.executable, "-m", "metasynth", "forest", "studies/", "-o", str(tmp / "m.png")]
    rscript = shutil.which("Rscript")
    theirs = [rscript, str(tmp / "forest.R"), str(tmp / "d.csv"), str(tmp / "r.png")] \
        if rscript else None
    m, r = medians(ours, theirs, args.runs)
    print(f"metasynth forest studies/ -o png   median {m:.3f} s (target < 2 s): "
          f"{'OK' if m < 2 else 'TOO SLOW'}")
    if r is not None:
        print(f"Rscript + metafor forest() to png   median {r:.3f} s")
        print(f"ratio metasynth / metafor = {m / r:.2f}")


if __name__ == "__main__":
    main()
