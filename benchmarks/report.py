"""Report benchmark: `metasynth report` (cold process, PDF + HTML + summary.json) on the
shipped corpus and on a 40-trial SYNTHETIC corpus (tests/stress_corpus.py, in a temporary
folder), against `metasynth pool studies/` measured in the same run. Times are CPU
seconds of the child process (user + sys), the measure of the targets: under 10 s for
the shipped corpus, under 25 s for 40 trials.

    python benchmarks/report.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.stress_corpus import write_corpus  # noqa: E402


def cpu_seconds(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1764115200"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    synthetic = write_corpus(tmp / "synthetic-40", 40)
    py = [sys.executable, "-m", "metasynth"]
    cases = {"pool studies/": [*py, "pool", "studies/"],
             "report studies/": [*py, "report", "studies/", "-o", str(tmp / "out")],
             "report 40 trials": [*py, "report", str(synthetic), "-o", str(tmp / "out40")]}
    times = {name: statistics.median(cpu_seconds(cmd) for _ in range(args.runs))
             for name, cmd in cases.items()}
    targets = {"report studies/": 10, "report 40 trials": 25}
    for name, t in times.items():
        target = targets.get(name)
        verdict = f" (target < {target} s): {'OK' if t < target else 'TOO SLOW'}" if target else ""
        print(f"metasynth {name:<18} median {t:6.2f} CPU-s{verdict}")
    pool = times["pool studies/"]
    print(f"ratio report studies/ / pool = {times['report studies/'] / pool:.1f}; "
          f"report 40 trials / pool = {times['report 40 trials'] / pool:.1f} "
          f"(pool measured in the same run, {args.runs} run(s) each)")


if __name__ == "__main__":
    main()
