"""Report benchmark: `metasynth report studies/ -o <tmp>` (cold process, PDF + HTML +
summary.json) against `metasynth pool studies/` in the same run, and the 15 s target.

    python benchmarks/report.py [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import medians


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    out = tempfile.mkdtemp()
    report = [sys.executable, "-m", "metasynth", "report", "studies/", "-o", out]
    pool = [sys.executable, "-m", "metasynth", "pool", "studies/"]
    t_report, t_pool = medians(report, pool, args.runs)
    print(f"metasynth report studies/   median {t_report:.2f} s (target < 15 s): "
          f"{'OK' if t_report < 15 else 'TOO SLOW'}")
    print(f"metasynth pool studies/     median {t_pool:.2f} s")
    print(f"ratio report / pool = {t_report / t_pool:.1f}")


if __name__ == "__main__":
    main()
