"""Words of ``metasynth simulate``: the operating characteristics of every method, per
scenario, with Monte Carlo standard errors."""

from __future__ import annotations

from metasynth.models.results import text_renderer
from metasynth.models.simulate.result import SimulationResult, SimulationRow
from metasynth.render.labels import heading_case
from metasynth.render.numbers import num, ratio
from metasynth.render.text.methods import name

#: Coverage outside this band is flagged (the issue's 93-97% around a nominal 95%).
BAND = (0.93, 0.97)


def method_label(row: SimulationRow) -> str:
    """'Mantel-Haenszel', 'inverse variance', 'REML, HKSJ' (the option table's names)."""
    return _label(row.method, row.tau2_method, row.ci_method)


def _label(method: str, tau2: str | None, ci: str | None) -> str:
    if tau2 is None:
        return name("common_method", method)
    return f"{name('tau2', tau2)}, {name('ci', ci)}"


def _pct(e, decimals: int = 1) -> str:
    if e.value is None:
        return "NA"
    se = "" if e.mcse is None else f" ({100 * e.mcse:.{decimals}f})"
    return f"{100 * e.value:.{decimals}f}{se}"


def _val(e, decimals: int = 3) -> str:
    if e.value is None:
        return "NA"
    return f"{num(e.value, decimals)} ({num(e.mcse, decimals)})"


def outside_band(result: SimulationResult, level: float | None = None) -> list[SimulationRow]:
    """Rows whose CI coverage lies outside ``BAND`` (scaled to the spec's level)."""
    nominal = level or result.spec.level
    lo, hi = nominal - (0.95 - BAND[0]), nominal + (BAND[1] - 0.95)
    return [r for r in result.rows if r.coverage.value is not None
            and not lo <= r.coverage.value <= hi]


@text_renderer(SimulationResult)
def simulation_text(result: SimulationResult) -> str:
    d = result.design
    spec = result.spec
    level = spec.level_percent
    risks = ("observed control-arm risks" if d.control_risks == "observed"
             else "control-arm risks drawn from a logit-normal fitted to the observed")
    lines = [
        "Simulated operating characteristics (binomial trials like the evidence's; "
        "IntHout, Ioannidis & Borm 2014)",
        f"Outcome: {result.outcome_label or result.outcome}; {d.k} trials with their arm sizes "
        f"({sum(int(x) for x in d.n1 + d.n2)} participants) and {risks}",
        f"{result.replicates} replicates per scenario, seed {result.seed}; zero cells: "
        f"{spec.zero_cells.describe('RR')}",
        f"Analysis method: {name('tau2', spec.tau2)}, {name('ci', spec.ci)} (marked *); "
        f"prediction interval {name('pi', spec.pi)}",
        f"Figures in % of the replicates with a fit, Monte Carlo SE in brackets; bias, RMSE "
        f"and the median "
        f"{level} CI width on the log RR scale. Rejection: the CI excludes RR = 1 (type I "
        "error at RR = 1, power otherwise). PI cover: probability that the prediction "
        "interval holds a new trial's true effect.", ""]
    head = (f"{'method':<34}{'coverage':>13}{'rejection':>13}{'bias':>15}{'RMSE':>15}"
            f"{'CI width':>15}{'PI cover':>13}{'failed':>7}{'fallbk':>7}")
    mark = result.analysis_method()
    for s, capped in zip(result.scenarios, result.capped):
        rows = [r for r in result.rows if r.rr == s.rr and r.tau == s.tau]
        title = f"RR {ratio(s.rr)}, tau {num(s.tau, 2)}"
        if capped:
            title += (f" ({capped} simulated trials had an experimental risk above 1, "
                      "set to 1)")
        lines += [title, head]
        for r in rows:
            label = heading_case(method_label(r)) + (" *" if r.method == mark else "")
            lines.append(
                f"{label:<34}{_pct(r.coverage):>13}{_pct(r.rejection):>13}{_val(r.bias):>15}"
                f"{_val(r.rmse):>15}{_val(r.median_width):>15}"
                f"{_pct(r.pi_coverage) if r.tau2_method else '':>13}"
                f"{100 * (r.failure.value or 0):>6.1f}%{100 * (r.fallback.value or 0):>6.1f}%")
        lines.append("")
    out = outside_band(result)
    lo, hi = BAND
    if out:
        worst = sorted({method_label(r) for r in out})
        lines.append(f"Coverage outside {100 * lo:g}-{100 * hi:g}% in at least one scenario: "
                     + "; ".join(worst) + ".")
    else:
        lines.append(f"Every method's coverage lies within {100 * lo:g}-{100 * hi:g}%.")
    lines += list(result.notes)
    return "\n".join(lines) + "\n"


# --- the report's section "How the methods behave on evidence like ours" -------------
# It reads a saved simulation (the JSON of ``metasynth simulate --save``), never runs one.

def nearest_scenario(data: dict, rr: float, tau: float) -> tuple[float, float]:
    """The simulated scenario closest to the observed: the true RR nearest the pooled
    estimate (on the log scale) and the tau nearest the estimated one."""
    import math

    rrs = sorted({s["rr"] for s in data["scenarios"]})
    taus = sorted({s["tau"] for s in data["scenarios"]})
    return (min(rrs, key=lambda r: abs(math.log(r) - math.log(rr))),
            min(taus, key=lambda t: abs(t - tau)))


def _outside(e: dict, level: float) -> bool:
    lo, hi = level - (0.95 - BAND[0]), level + (BAND[1] - 0.95)
    return e["value"] is not None and not lo <= e["value"] <= hi


def _pct_dict(e: dict) -> str:
    if e["value"] is None:
        return "NA"
    se = "" if e["mcse"] is None else f" ({100 * e['mcse']:.1f})"
    return f"{100 * e['value']:.1f}{se}"


def coverage_table(data: dict, rr: float, level: float) -> tuple[list[str], list[dict]]:
    """Columns (one per simulated tau at true RR ``rr``) and one row per method: its label,
    whether it is the analysis's method, and its coverage (MCSE) per tau, flagged when
    outside the band."""
    taus = sorted({s["tau"] for s in data["scenarios"] if s["rr"] == rr})
    by = {(r["method"], r["tau"]): r for r in data["rows"] if r["rr"] == rr}
    out = []
    for r in data["rows"]:
        if r["rr"] != rr or r["tau"] != taus[0]:
            continue
        cells = [{"text": _pct_dict(by[r["method"], t]["coverage"]),
                  "outside": _outside(by[r["method"], t]["coverage"], level)} for t in taus]
        out.append({"method": heading_case(_label(r["method"], r["tau2_method"],
                                                  r["ci_method"])),
                    "analysis": r["method"] == data["analysis_method"], "cells": cells})
    return [f"tau {num(t, 2)}" for t in taus], out


def simulation_sentences(data: dict, outcome_label: str, observed: tuple[float, float],
                         estimate: tuple[float, float]) -> list[str]:
    """What was simulated and how precisely, and which scenario is like the evidence."""
    d, rr, tau = data["design"], *observed
    n = data["replicates"]
    mcse = 100 * (0.95 * 0.05 / n) ** 0.5
    risks = ("their observed control-arm risks" if d["control_risks"] == "observed"
             else "control-arm risks drawn from a logit-normal fitted to the observed ones")
    rrs = ", ".join(ratio(s) for s in sorted({s["rr"] for s in data["scenarios"]}, reverse=True))
    taus = ", ".join(num(t, 2) for t in sorted({s["tau"] for s in data["scenarios"]}))
    return [
        f"{outcome_label}: {n:,} simulated meta-analyses per scenario of {d['k']} trials with "
        f"the arm sizes of the evidence and {risks}, true RR {rrs} and between-trial SD tau "
        f"{taus} on the log RR scale (the generating model of IntHout, Ioannidis & Borm "
        f"2014), each fitted by every method with this review's zero-cell rule (seed "
        f"{data['seed']}). The Monte Carlo SE of a coverage near 95% is {mcse:.1f} "
        "percentage points.",
        f"The pooled estimate (RR {ratio(estimate[0])}, tau {num(estimate[1], 2)}) is closest "
        f"to the scenario RR {ratio(rr)}, tau {num(tau, 2)}: the table shows the coverage of "
        f"the 95% confidence interval (%, Monte Carlo SE) of every method at RR {ratio(rr)}, "
        "one column per tau; the analysis's method is marked *."]


def outside_sentence(data: dict, observed: tuple[float, float], level: float) -> str:
    """The methods whose coverage falls outside the band at the scenario like the evidence."""
    rr, tau = observed
    rows = [r for r in data["rows"] if r["rr"] == rr and r["tau"] == tau]
    out = [f"{_label(r['method'], r['tau2_method'], r['ci_method'])} "
           f"({100 * r['coverage']['value']:.1f}%)" for r in rows
           if _outside(r["coverage"], level)]
    lo, hi = (100 * b for b in BAND)
    where = f"at RR {ratio(rr)}, tau {num(tau, 2)}"
    if not out:
        return f"Every method's coverage lies within {lo:g}-{hi:g}% {where}."
    return (f"Coverage falls outside {lo:g}-{hi:g}% {where} for {len(out)} of {len(rows)} "
            f"methods: " + "; ".join(out) + ".")


def missing_sentence(status: str, differs: list[str], command: str) -> str:
    """The simulation is missing, unreadable or out of date: say so and how to refresh it."""
    if status == "missing":
        why = "No saved simulation was found for this evidence"
    elif status == "unreadable":
        why = "The saved simulation could not be read"
    else:
        why = ("The saved simulation is out of date: " + ", ".join(differs)
               + " changed since it was run")
    return f"{why}, so this section shows no figures. Refresh it with: {command}"


def justification_sentence(data: dict | None, spec, observed: tuple[float, float] | None) -> str:
    """The methods text's sentence when the plan names the simulation as the reason for its
    tau² estimator and CI method."""
    chosen = f"{name('tau2', spec.tau2)} with {name('ci', spec.ci)}"
    if data is None or observed is None:
        return (f"The analysis plan gives the simulated coverage as the reason for {chosen}; "
                "the simulation is missing or out of date (see \"How the methods behave on "
                "evidence like ours\").")
    rr, tau = observed
    row = next((r for r in data["rows"] if r["method"] == f"{spec.tau2}-{spec.ci}"
                and r["rr"] == rr and r["tau"] == tau), None)
    if row is None or row["coverage"]["value"] is None:
        return f"The analysis plan gives the simulated coverage as the reason for {chosen}."
    c = row["coverage"]
    covered = (f"its 95% CI covered the true RR in {100 * c['value']:.1f}% (Monte Carlo SE "
               f"{100 * c['mcse']:.1f}) of {data['replicates']:,} simulated meta-analyses at "
               f"RR {ratio(rr)}, tau {num(tau, 2)}, the scenario closest to the evidence "
               "(\"How the methods behave on evidence like ours\")")
    if _outside(c, spec.level):
        lo, hi = (100 * b for b in BAND)
        return (f"The analysis plan gives the simulated coverage as the reason for {chosen}, "
                f"but on trials like these {covered}: outside {lo:g}-{hi:g}%, so the "
                "simulation does not support the choice.")
    return f"{chosen} was chosen for its simulated coverage on trials like these: {covered}."
