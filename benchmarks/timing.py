"""Shared by the benchmarks: wall time of fresh processes, alternated with a baseline."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wall_time(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed: {proc.stderr.strip()[-300:]}")
    return elapsed


def medians(ours: list[str], baseline: list[str] | None, runs: int) -> tuple[float, float | None]:
    """Median wall time of each command over ``runs`` alternated runs, after one warm-up
    run each (the OS file cache; every timed run is still a new process)."""
    wall_time(ours)
    if baseline:
        wall_time(baseline)
    t_ours, t_base = [], []
    for _ in range(runs):
        t_ours.append(wall_time(ours))
        if baseline:
            t_base.append(wall_time(baseline))
    return statistics.median(t_ours), statistics.median(t_base) if baseline else None
