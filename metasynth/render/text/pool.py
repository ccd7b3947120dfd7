"""The text report of a pooled analysis, in the words and layout of RevMan."""

from __future__ import annotations

from metasynth.effects.measures import BINARY, is_ratio
from metasynth.models.results import PoolResult, text_renderer
from metasynth.render.numbers import interval, num, p_value, percent
from metasynth.render.text.methods import methods_sentence, name, preset_line
from metasynth.render.text.warnings import warning_text

BINARY_COLUMNS = (("e_events", "Events", "e"), ("e_total", "Total", "e"),
                  ("c_events", "Events", "c"), ("c_total", "Total", "c"))


def data_layout(result: PoolResult) -> str:
    """RevMan's data type of the study table: "binary" (events, totals), "continuous"
    (mean, SD, total per arm), "o-e/v" (O - E and variance) or "generic" (the estimate on
    the analysis scale and its SE: generic inverse variance)."""
    if result.measure in BINARY:
        return "binary"
    sources = {s.source for s in result.studies}
    if "means" in sources:
        return "continuous"
    if "o-e/v" in sources:
        return "o-e/v"
    return "generic"


def units(result: PoolResult) -> str | None:
    """The outcome's units (the outcome registry's), for MD only: an SMD or a ratio has none."""
    table = result.effects.table if result.effects is not None else None
    return table.units if table is not None and result.measure == "MD" else None


def data_columns(result: PoolResult) -> tuple[tuple[str, str, str | None], ...]:
    """(key, header, arm "e" | "c" | None) of the data columns of ``data_layout``."""
    layout = data_layout(result)
    if layout == "binary":
        return BINARY_COLUMNS
    if layout == "continuous":
        return tuple((f"{a}_{k}", h, a) for a in ("e", "c")
                     for k, h in (("mean", "Mean"), ("sd", "SD"), ("total", "Total")))
    if layout == "o-e/v":
        return (("oe", "O - E", None), ("var", "Variance", None))
    m = result.measure
    return (("est", f"log[{m}]" if is_ratio(m) else m, None), ("se", "SE", None))


def _g(x) -> str:
    return "" if x is None else f"{x:g}"


def _derived(x) -> str:
    return "" if x is None else num(x, 2)  # the one formatter (no "-0.00")


def data_cells(s, layout: str) -> dict[str, str]:
    """The data cells of study ``s`` (a StudyEffect) in ``layout``, as entered."""
    if layout == "binary":
        counts = (s.treatment_events, s.treatment_total, s.control_events, s.control_total)
        return {} if None in counts else dict(zip(("e_events", "e_total", "c_events", "c_total"),
                                                  map(str, counts)))
    if layout == "continuous" and s.source == "means":
        # a mean and SD derived from a median are estimates, not what the trial printed:
        # two decimals (RevMan's display), instead of the 6 significant digits of %g
        derived = {c["arm"] for c in s.conversions or ()}
        e, c = (_derived if "treatment" in derived else _g), (_derived if "control" in derived
                                                               else _g)
        return {"e_mean": e(s.treatment_mean), "e_sd": e(s.treatment_sd),
                "e_total": str(s.treatment_total), "c_mean": c(s.control_mean),
                "c_sd": c(s.control_sd), "c_total": str(s.control_total)}
    if layout == "o-e/v" and s.source == "o-e/v":
        return {"oe": _g(s.o_minus_e), "var": _g(s.variance)}
    if layout == "generic" and s.yi is not None:
        return {"est": f"{s.yi:.4f}", "se": f"{s.vi ** 0.5:.4f}"}
    return {}


def heterogeneity_line(result: PoolResult) -> str:
    """'Heterogeneity: Tau² = 0.00; Chi² = 0.27, df = 1 (P = 0.60); I² = 0%'."""
    h = result.heterogeneity
    if result.k < 2:
        return "Heterogeneity: not applicable (one study)"
    return (f"Heterogeneity: Tau² = {num(h.tau2)}; Chi² = {num(h.Q)}, df = {h.Q_df} "
            f"({p_value(h.Q_p)}); I² = {percent(h.I2)}")


def overall_effect_line(result: PoolResult, model: str = "random") -> str:
    """'Test for overall effect: Z = 1.23 (P = 0.22)' (t and df for HKSJ)."""
    if model == "random":
        r = result.random
        if r.df is None:
            return f"Test for overall effect: Z = {num(abs(r.stat or 0))} ({p_value(r.p)})"
        return (f"Test for overall effect: t = {num(abs(r.stat or 0))}, df = {r.df:.0f} "
                f"({p_value(r.p)})")
    c = result.common
    return f"Test for overall effect: Z = {num(abs(c.z or 0))} ({p_value(c.p)})"


def _total(result: PoolResult, attr: str) -> float:
    """The weights shown add up to this: 100% for one analysis, the subgroup's share of the
    whole analysis in a subgroup (as RevMan)."""
    return sum(getattr(s, attr) or 0.0 for s in result.included)


def _data_table(result: PoolResult) -> list[str]:
    """The study table of a continuous, O - E/V or generic inverse-variance analysis."""
    m = result.measure
    layout, cols = data_layout(result), data_columns(result)
    unit = units(result)
    head = f"{m} [{result.spec.ci_label}]" + (f" ({unit})" if unit else "")
    total_label = f"Total ({result.spec.ci_label})"
    name_w = max([len("Study or subgroup"), len(total_label)]
                 + [len(s.label) + 2 for s in result.studies]) + 2
    w = max([9] + [len(h) + 2 for _, h, _ in cols]
            + [len(data_cells(s, layout).get(k, "")) + 2 for s in result.studies for k, _, _ in cols])
    arms = ""
    if layout == "continuous":
        arms = f"{'Experimental':>{3 * w}}{'Control':>{3 * w}}"
    lines = [f"{'':{name_w}}{arms:{len(cols) * w}}{'Weight':>18}",
             f"{'Study or subgroup':{name_w}}" + "".join(f"{h:>{w}}" for _, h, _ in cols)
             + f"{'common':>9}{'random':>9}   {head}"]
    totals = {"e_total": 0, "c_total": 0}
    for s in result.studies:
        cells = data_cells(s, layout)
        for key in totals:
            totals[key] += int(cells.get(key) or 0)
        label = s.label + (" †" if s.source == "reported" and layout != "generic" else "")
        if s.included:
            wts = f"{percent(s.weight_common, 1):>9}{percent(s.weight_random, 1):>9}"
            eff = interval(s.estimate, s.ci_lower, s.ci_upper)
        else:
            wts, eff = f"{'':>9}{'':>9}", "Not estimable"
        lines.append(f"{label:{name_w}}" + "".join(f"{cells.get(k, ''):>{w}}" for k, _, _ in cols)
                     + f"{wts}   {eff}")
    tot = "".join(f"{(str(totals[k]) if k in totals else ''):>{w}}" for k, _, _ in cols)
    lines.append(f"{total_label:{name_w}}{tot}{percent(_total(result, 'weight_common'), 1):>9}"
                 f"{percent(_total(result, 'weight_random'), 1):>9}")
    if any(s.source == "reported" for s in result.included) and layout != "generic":
        lines.append("† enters with its reported estimate (generic inverse variance)")
    if layout == "generic":
        lines.append(f"{cols[0][1]} and SE: the estimate on the analysis scale and its standard "
                     "error (from the reported CI, p-value or SE)")
    return lines


def _table(result: PoolResult) -> list[str]:
    m = result.measure
    if data_layout(result) != "binary":
        return _data_table(result)
    head = f"{m} [{result.spec.ci_label}]"
    name_w = max([len("Study or subgroup"), len(f"Total ({result.spec.ci_label})")]
                 + [len(s.label) for s in result.studies]) + 2
    lines = [
        f"{'':{name_w}}{'Experimental':>16}{'Control':>16}{'Weight':>18}",
        f"{'Study or subgroup':{name_w}}{'Events':>8}{'Total':>8}{'Events':>8}{'Total':>8}"
        f"{'common':>9}{'random':>9}   {head}",
    ]
    tot = [0, 0, 0, 0]
    for s in result.studies:
        counts = (s.treatment_events, s.treatment_total, s.control_events, s.control_total)
        if None in counts:
            cells = f"{'':>8}{'':>8}{'':>8}{'':>8}"
        else:
            cells = "".join(f"{c:>8}" for c in counts)
            tot = [t + c for t, c in zip(tot, counts)]  # as RevMan: all studies counted
        if s.included:
            w = f"{percent(s.weight_common, 1):>9}{percent(s.weight_random, 1):>9}"
            eff = interval(s.estimate, s.ci_lower, s.ci_upper)
            if s.source == "reported":
                eff += "  (reported estimate)"
            elif s.corrected:
                eff += "  *"
        else:
            w = f"{'':>9}{'':>9}"
            eff = "Not estimable"
        lines.append(f"{s.label:{name_w}}{cells}{w}   {eff}")
    lines.append(f"{'Total (' + result.spec.ci_label + ')':{name_w}}{'':>8}{tot[1]:>8}{'':>8}{tot[3]:>8}"
                 f"{percent(_total(result, 'weight_common'), 1):>9}"
                 f"{percent(_total(result, 'weight_random'), 1):>9}")
    lines.append(f"{'Total events':{name_w}}{tot[0]:>8}{'':>8}{tot[2]:>8}")
    return lines


@text_renderer(PoolResult)
def render_text(result: PoolResult) -> str:
    """The full text report: header, per-study table, pooled lines, notes, warnings."""
    from metasynth import __version__

    m = result.measure
    spec = result.spec
    c, r, h = result.common, result.random, result.heterogeneity
    title = result.outcome_label or result.outcome or "Pooled analysis"
    out = [f"metasynth {__version__}: {title}"
           + (f" (outcome '{result.outcome}')" if result.outcome else "")]
    if result.source:
        out.append(f"Data: {result.source}")
    n = result.counts
    people = f", {n.participants} participants" if n.participants or m in BINARY else ""
    out.append(f"Effect measure: {name('measure', m)} ({m}); {n.trials} "
               f"{'trial' if n.trials == 1 else 'trials'}{people}"
               + (f" ({n.not_estimable} not estimable; {result.k} in the estimate, "
                  f"{n.participants_estimable} participants)" if n.not_estimable else ""))
    if preset_line(spec):
        out.append(preset_line(spec))
    out.append("")
    out.extend(_table(result))
    out.append("")
    label_w = 44
    added = f", {spec.add:g} added to zero cells" if c.mh_correction else ""
    common_name = f"Common effect ({c.method}{added})"
    width = max(label_w, len(common_name) + 2)
    out.append(f"{common_name:<{width}}{interval(c.estimate, c.ci_lower, c.ci_upper)}")
    if result.k >= 2:
        rand_name = f"Random effects ({r.tau2_method}, {name('ci', r.ci_method)} {spec.ci_label})"
        out.append(f"{rand_name:<{label_w}}{interval(r.estimate, r.ci_lower, r.ci_upper)}")
        if r.pi_lower is not None:
            pi_name = (f"{spec.level_percent} prediction interval "
                       f"({'HTS, t k-2 df' if r.pi_method == 'hts' else 'metafor'})")
            out.append(f"{pi_name:<{label_w}}[{num(r.pi_lower)}, {num(r.pi_upper)}]")
        out.append("")
        out.append(heterogeneity_line(result))
        out.append(f"  Tau = {num(h.tau, 4)}; Tau² = {num(h.tau2, 4)} [{spec.ci_label} "
                   f"{num(h.tau2_ci_lower, 4)}, "
                   f"{num(h.tau2_ci_upper, 4)}]; I² = {percent(h.I2, 1)} [{percent(h.I2_ci_lower, 1)}, "
                   f"{percent(h.I2_ci_upper, 1)}]; H² = {num(h.H2)} (Q-profile CIs)")
        out.append(overall_effect_line(result, "random") + "  [random effects]")
    out.append(overall_effect_line(result, "common") + "  [common effect]")
    out.append("")
    out.append("Methods: " + methods_sentence(result))
    if m in BINARY:
        out.append(f"Zero cells: {result.zero_cell_rule}.")
    if any(s.corrected for s in result.included):
        out.append(f"  * {spec.add:g} added to each cell of this study's 2x2 table.")
    if result.notes:
        out.append("")
        out.append("Notes:")
        out.extend(f"  - {n}" for n in result.notes)
    if result.warnings:
        out.append("")
        out.append("Warnings:")
        out.extend(f"  ! {warning_text(w)}" for w in result.warnings)
    return "\n".join(out) + "\n"
