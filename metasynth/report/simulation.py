"""The section "How the methods behave on evidence like ours": the saved simulation of the
plan's ``simulate`` outcome (``metasynth simulate studies/ --save studies/simulation.json``)
read and checked against the evidence and the plan, then put in words. The report never
simulates (it must stay fast): a missing or out-of-date simulation is said so, with the
command that refreshes it."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

#: The saved simulation, beside the analysis plan.
SIMULATION_FILE = "simulation.json"
#: Replicates the refresh command asks for: a coverage near 95% then has a Monte Carlo SE
#: of 0.28 percentage points.
REPLICATES = 6000


@dataclass
class SimulationSection:
    label: str
    status: str  # "current", "missing", "unreadable" or "stale"
    sentences: list
    columns: list = field(default_factory=list)  # one per simulated tau
    rows: list = field(default_factory=list)  # method, analysis (bool), cells
    outside: str = ""  # the methods outside the band, named
    justification: str = ""  # the methods text's sentence when the plan asks for one


def refresh_command(folder: Path, replicates: int = REPLICATES) -> str:
    return (f"metasynth simulate {folder.name}/ --replicates {replicates} "
            f"--save {folder.name}/{SIMULATION_FILE}")


def simulation_section(folder: Path, plan, options, pooled: dict) -> SimulationSection | None:
    """The section for the plan's ``simulate`` outcome (None when the plan has no
    ``simulate`` section or the outcome was not pooled)."""
    from metasynth.models.simulate.result import fingerprint, stale
    from metasynth.models.simulate.scenarios import design_of, scenario_grid
    from metasynth.render.text.simulate import (
        coverage_table,
        justification_sentence,
        missing_sentence,
        nearest_scenario,
        outside_sentence,
        simulation_sentences,
    )

    if plan.simulate is None or plan.simulate.outcome not in pooled:
        return None
    result = pooled[plan.simulate.outcome]
    label = result.outcome_label or plan.simulate.outcome
    wanted = plan.simulate.justification == "simulation"
    path = folder / SIMULATION_FILE
    status, differs, data = "current", [], None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        saved = data["fingerprint"]
        current = fingerprint(design_of(result, options.control_risks), options,
                              scenario_grid(options.simulate_rr, options.simulate_tau),
                              saved.get("seed", 0))
        differs = stale(saved, current)
        if data.get("outcome") != plan.simulate.outcome:
            differs.insert(0, "the outcome")
        status = "stale" if differs else "current"
    except FileNotFoundError:
        status = "missing"
    except (OSError, ValueError, KeyError, TypeError):
        status = "unreadable"
    command = refresh_command(folder, data.get("replicates", REPLICATES)
                              if isinstance(data, dict) else REPLICATES)
    if status != "current":
        return SimulationSection(label, status, [missing_sentence(status, differs, command)],
                                 justification=justification_sentence(None, options, None)
                                 if wanted else "")
    part = result.random if result.random is not None and result.random.estimate else result.common
    estimate = (part.estimate, math.sqrt(result.heterogeneity.tau2 or 0.0))
    observed = nearest_scenario(data, *estimate)
    columns, rows = coverage_table(data, observed[0], options.level)
    return SimulationSection(
        label, status, simulation_sentences(data, label, observed, estimate), columns, rows,
        outside_sentence(data, observed, options.level),
        justification_sentence(data, options, observed) if wanted else "")
