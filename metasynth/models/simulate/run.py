"""The simulation loop: seeded blocks of replicates, grouped into tasks, fitted, reduced.

Replicates are drawn in blocks of ``BLOCK`` per scenario, and block b of scenario s has
its own generator, seeded by ``numpy.random.SeedSequence(seed, spawn_key=(s, b))``:
the b-th child of the s-th child of ``SeedSequence(seed)`` (what ``spawn`` hands out),
without the state ``spawn`` keeps. The counts of a block are therefore the same however
the blocks are grouped into tasks and whoever fits them; tasks (``chunk`` replicates
each) are fitted by the batched kernels (``kernels.fit_all``) and reduced to sums in task
order, so a run gives the same figures to the bit in-process and on any Dask cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from metasynth.models.parallel import IN_PROCESS, Cluster, run_tasks
from metasynth.models.simulate.kernels import FitSettings, Tally, fit_all, tally
from metasynth.models.simulate.result import SimulationResult, rows_from_tally
from metasynth.models.simulate.scenarios import Counts, Scenario, TrialDesign, generate

#: Replicates per seeded block (the unit of random numbers; not a tuning knob).
BLOCK = 1000
#: Replicates fitted per task by default: large batches keep the kernels' per-call cost
#: small (benchmarks/simulate.py measures it).
CHUNK = 20_000
#: Smaller tasks are fitted no faster and far more slowly per replicate: below 2048 values
#: the normal and t tail functions (``distributions.LARGE``) loop in Python.
MIN_CHUNK = 4 * BLOCK


@dataclass(frozen=True)
class Task:
    design: TrialDesign
    settings: FitSettings
    scenarios: tuple[Scenario, ...]
    units: tuple[tuple[int, int, int], ...]  # (scenario, block, replicates)
    seed: int


def block_rng(seed: int, scenario: int, block: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=(scenario, block))))


def run_task(task: Task) -> list[tuple[int, Tally]]:
    """Generate the task's blocks, fit them in one batch, tally each scenario."""
    parts = [generate(task.design, task.scenarios[s], block_rng(task.seed, s, b), m)
             for s, b, m in task.units]
    batch = Counts(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("a", "n1", "c", "n2")),
                   capped=0)
    fits = fit_all(batch, task.settings)
    out: list[tuple[int, Tally]] = []
    start = 0
    for s in dict.fromkeys(u[0] for u in task.units):  # scenarios in order of appearance
        idx = [i for i, u in enumerate(task.units) if u[0] == s]
        m = sum(task.units[i][2] for i in idx)
        rows = slice(start, start + m)  # a scenario's blocks are adjacent in a task
        sub = type(fits)(**{f: (getattr(fits, f)[..., rows]) for f in
                            ("theta", "lower", "upper", "pi_lower", "pi_upper", "fallback", "k")})
        sc = task.scenarios[s]
        out.append((s, tally(sub, sc.mu, sc.tau, sum(parts[i].capped for i in idx))))
        start += m
    return out


def make_tasks(design: TrialDesign, settings: FitSettings, scenarios: tuple[Scenario, ...],
               replicates: int, seed: int, chunk: int = CHUNK) -> list[Task]:
    chunk = max(chunk, MIN_CHUNK)
    units = [(s, b, min(BLOCK, replicates - b * BLOCK))
             for s in range(len(scenarios)) for b in range(-(-replicates // BLOCK))]
    tasks, current, size = [], [], 0
    for u in units:
        current.append(u)
        size += u[2]
        if size >= chunk:
            tasks.append(Task(design, settings, scenarios, tuple(current), seed))
            current, size = [], 0
    if current:
        tasks.append(Task(design, settings, scenarios, tuple(current), seed))
    return tasks


def fit_settings(spec) -> FitSettings:
    """What the fits take from the analysis's spec: its level, prediction interval,
    zero-cell rule, MH correction and (RevMan 5) the Q around the MH estimate for DL."""
    return FitSettings(level=spec.level, pi=spec.pi, rule=spec.zero_cells,
                       mh_correction=spec.mh_correction,
                       dl_around_mh=spec.het_q == "common" and spec.common_method == "MH")


def simulate_design(design: TrialDesign, spec, scenarios: tuple[Scenario, ...],
                    replicates: int, seed: int, *, chunk: int = CHUNK,
                    cluster: Cluster = IN_PROCESS, progress=None, outcome: str | None = None,
                    outcome_label: str | None = None, counts=None,
                    notes: tuple[str, ...] = ()) -> SimulationResult:
    """Simulate ``replicates`` meta-analyses of ``design`` per scenario and fit every method
    (``kernels.METHODS``) with the spec's zero-cell rule, level and prediction interval."""
    if replicates < 1:
        raise ValueError(f"replicates must be at least 1, got {replicates}")
    if spec.measure != "RR":
        raise ValueError("the simulation generates risk ratios: use it with measure RR")
    settings = fit_settings(spec)
    tasks = make_tasks(design, settings, scenarios, replicates, seed, chunk)
    t0 = time.perf_counter()
    results = run_tasks(run_task, tasks, cluster, progress)
    totals: dict[int, Tally] = {}
    for part in results:  # task order, then scenario order: the same sums everywhere
        for s, t in part:
            totals[s] = totals[s] + t if s in totals else t
    rows = tuple(r for s, sc in enumerate(scenarios) for r in rows_from_tally(sc, totals[s]))
    return SimulationResult(
        spec=spec, outcome=outcome, outcome_label=outcome_label, design=design,
        scenarios=scenarios, replicates=replicates, seed=seed, block=BLOCK, rows=rows,
        capped=tuple(int(totals[s].capped) for s in range(len(scenarios))), counts=counts,
        notes=notes, seconds=time.perf_counter() - t0, workers=cluster.describe())
