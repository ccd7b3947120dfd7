"""Words of ``metasynth simulate``: the operating characteristics of every method, per
scenario, with Monte Carlo standard errors."""

from __future__ import annotations

from metasynth.models.results import text_renderer
from metasynth.models.simulate.result import SimulationResult, SimulationRow
from metasynth.render.numbers import num, ratio
from metasynth.render.text.methods import name

#: Coverage outside this band is flagged (the issue's 93-97% around a nominal 95%).
BAND = (0.93, 0.97)


def method_label(row: SimulationRow) -> str:
    """'Mantel-Haenszel', 'inverse variance', 'REML, HKSJ' (the option table's names)."""
    if row.tau2_method is None:
        return name("common_method", row.method)
    return f"{name('tau2', row.tau2_method)}, {name('ci', row.ci_method)}"


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
            label = method_label(r) + (" *" if r.method == mark else "")
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
