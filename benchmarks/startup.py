"""Cold-start benchmark: `metasynth pool studies/` against Rscript + metafor, same data.

Each command runs in a fresh process (no warm interpreter), N times in alternation; the
script prints the median wall time of each and their ratio. metafor does the same work:
read the 2x2 table, escalc(RR, 0.5 to zero-cell studies, double zeros dropped),
rma(REML, test = "knha"), confint, predict, print. When Rscript or metafor is missing,
only metasynth is timed.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import ROOT, medians

R_CODE = """
suppressPackageStartupMessages(library(metafor))
d <- read.csv(commandArgs(TRUE)[1])
dat <- escalc("RR", ai = treatment_events, n1i = treatment_total, ci = control_events,
              n2i = control_total, data = d, add = 1/2, to = "only0", drop00 = TRUE)
res <- rma(yi, vi, data = dat, method = "REML", test = "knha")
print(res); print(confint(res)); print(predict(res, transf = exp))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from metasynth.api import study_table

    table = study_table(ROOT / "studies", "mortality")
    tmp = Path(tempfile.mkdtemp())
    csv = tmp / "mortality.csv"
    rows = ["study,treatment_events,treatment_total,control_events,control_total"]
    rows += [f"{r.id},{r.treatment_events},{r.treatment_total},{r.control_events},{r.control_total}"
             for r in table.rows if r.has_counts]
    csv.write_text("\n".join(rows) + "\n")
    (tmp / "pool.R").write_text(R_CODE)

    exe = shutil.which("metasynth") or ""
    ours = [exe, "pool", "studies/"] if exe else [sys.executable, "-m", "metasynth", "pool", "studies/"]
    theirs = None
    rscript = shutil.which("Rscript")
    if rscript and subprocess.run([rscript, "-e", "library(metafor)"], capture_output=True).returncode == 0:
        theirs = [rscript, str(tmp / "pool.R"), str(csv)]

    m_ours, m_theirs = medians(ours, theirs, args.runs)
    print(f"studies pooled: {len(table.rows)} trials (outcome mortality)")
    print(f"metasynth pool studies/        median {m_ours:.3f} s over {args.runs} runs")
    if m_theirs is not None:
        print(f"Rscript + metafor (same pool)  median {m_theirs:.3f} s over {args.runs} runs")
        print(f"ratio metasynth / metafor = {m_ours / m_theirs:.2f} (target <= 0.50)")
    else:
        print("Rscript with metafor not found: no baseline (apt-get install r-cran-metafor)")


if __name__ == "__main__":
    main()
