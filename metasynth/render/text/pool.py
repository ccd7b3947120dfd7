"""The text report of a pooled analysis, in the words and layout of RevMan."""

from __future__ import annotations

from metasynth.effects.labels import MEASURE_LABELS
from metasynth.models.engine.common_effect import COMMON_REFERENCES
from metasynth.models.engine.random_effects import CI_REFERENCES, PI_REFERENCES
from metasynth.models.engine.tau2 import TAU2_REFERENCES
from metasynth.models.results import PoolResult
from metasynth.render.numbers import interval, num, p_value, percent

CI_NAMES = {"wald": "Wald", "hksj": "HKSJ", "hksj-adhoc": "HKSJ (ad hoc)"}


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


def _table(result: PoolResult) -> list[str]:
    m = result.measure
    head = f"{m} [95% CI]"
    name_w = max([len("Study or subgroup"), len("Total (95% CI)")]
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
    lines.append(f"{'Total (95% CI)':{name_w}}{'':>8}{tot[1]:>8}{'':>8}{tot[3]:>8}"
                 f"{'100.0%':>9}{'100.0%':>9}")
    lines.append(f"{'Total events':{name_w}}{tot[0]:>8}{'':>8}{tot[2]:>8}")
    return lines


def render_text(result: PoolResult) -> str:
    """The full text report: header, per-study table, pooled lines, notes, warnings."""
    from metasynth import __version__

    m = result.measure
    o = result.options
    c, r, h = result.common, result.random, result.heterogeneity
    title = result.outcome_label or result.outcome or "Pooled analysis"
    out = [f"metasynth {__version__}: {title}"
           + (f" (outcome '{result.outcome}')" if result.outcome else "")]
    if result.source:
        out.append(f"Data: {result.source}")
    participants = sum((s.treatment_total or 0) + (s.control_total or 0)
                       for s in result.included)
    out.append(f"Effect measure: {MEASURE_LABELS[m]} ({m}); k = {result.k} "
               f"{'study' if result.k == 1 else 'studies'}"
               + (f", {participants} participants" if participants else ""))
    if o.get("classic"):
        out.append("Classic RevMan 5 analysis: DerSimonian-Laird tau², Wald CI, "
                   "Mantel-Haenszel with 0.5 added to zero-cell studies")
    out.append("")
    out.extend(_table(result))
    out.append("")
    label_w = 44
    common_name = f"Common effect ({c.method}{', 0.5 added to zero cells' if c.mh_correction else ''})"
    out.append(f"{common_name:<{label_w}}{interval(c.estimate, c.ci_lower, c.ci_upper)}")
    if result.k >= 2:
        rand_name = f"Random effects ({r.tau2_method}, {CI_NAMES.get(r.ci_method, r.ci_method)} CI)"
        out.append(f"{rand_name:<{label_w}}{interval(r.estimate, r.ci_lower, r.ci_upper)}")
        if r.pi_lower is not None:
            pi_name = f"Prediction interval ({'HTS, t k-2 df' if r.pi_method == 'hts' else 'metafor'})"
            out.append(f"{pi_name:<{label_w}}[{num(r.pi_lower)}, {num(r.pi_upper)}]")
        out.append("")
        out.append(heterogeneity_line(result))
        out.append(f"  Tau = {num(h.tau, 4)}; Tau² = {num(h.tau2, 4)} [95% CI {num(h.tau2_ci_lower, 4)}, "
                   f"{num(h.tau2_ci_upper, 4)}]; I² = {percent(h.I2, 1)} [{percent(h.I2_ci_lower, 1)}, "
                   f"{percent(h.I2_ci_upper, 1)}]; H² = {num(h.H2)} (Q-profile CIs)")
        out.append(overall_effect_line(result, "random") + "  [random effects]")
    out.append(overall_effect_line(result, "common") + "  [common effect]")
    out.append("")
    out.append("Methods: " + methods_sentence(result))
    out.append(f"Zero cells: {result.zero_cell_rule}.")
    if any(s.corrected for s in result.included):
        out.append("  * 0.5 added to each cell of this study's 2x2 table.")
    if result.notes:
        out.append("")
        out.append("Notes:")
        out.extend(f"  - {n}" for n in result.notes)
    if result.warnings:
        out.append("")
        out.append("Warnings:")
        out.extend(f"  ! {w}" for w in result.warnings)
    return "\n".join(out) + "\n"


def methods_sentence(result: PoolResult) -> str:
    """One sentence naming every method used, with its reference."""
    r, c = result.random, result.common
    parts = [f"common effect by {COMMON_REFERENCES[c.method]}"]
    if result.k >= 2:
        parts.append(f"random effects with tau² by {TAU2_REFERENCES.get(r.tau2_method, r.tau2_method)}")
        parts.append(f"CI by {CI_REFERENCES[r.ci_method]}")
        parts.append(f"prediction interval by {PI_REFERENCES[r.pi_method]}")
        parts.append("I² from tau² (Higgins & Thompson 2002); Q-profile CIs for tau² and I² "
                     "(Viechtbauer 2007)")
    return "; ".join(parts) + "."
