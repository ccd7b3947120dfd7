"""Words of the sparse-data table (``metasynth sparse``) and of its report section."""

from __future__ import annotations

from metasynth.models.results import text_renderer
from metasynth.models.sparse.table import DISAGREE_RATIO, SparseResult
from metasynth.render.numbers import interval, num, p_value
from metasynth.render.text.methods import name

METHOD_LABELS = {
    "MH": "Mantel-Haenszel, no correction",
    "MH-cc": "Mantel-Haenszel, {add:g} added",
    "Peto": "Peto",
    "IV-RE": "Inverse variance, random effects, {add:g} added",
    "UM.FS": "GLMM UM.FS (fixed study effects)",
    "UM.RS": "GLMM UM.RS (random study effects)",
    "CM.EL": "GLMM CM.EL (exact conditional)",
    "CM.AL": "GLMM CM.AL (approximate conditional)",
    "BB": "Beta-binomial",
    "BB-RR": "Beta-binomial (risk ratio)",
}

METHOD_REFERENCES = {
    "MH": "Mantel & Haenszel 1959; metafor rma.mh",
    "MH-cc": "RevMan 5, R meta",
    "Peto": "Yusuf et al. 1985",
    "UM.FS": "Stijnen et al. 2010; metafor rma.glmm",
    "UM.RS": "Stijnen et al. 2010; metafor rma.glmm",
    "CM.EL": "van Houwelingen et al. 1993; metafor rma.glmm",
    "CM.AL": "Stijnen et al. 2010; metafor rma.glmm",
    "BB": "Kuss 2015",
    "BB-RR": "Kuss 2015",
}

REASONS = {
    "no_events": "no events in any trial: no odds ratio can be estimated",
    "fewer_than_two_informative": "fewer than two trials with information on the odds "
                                  "ratio: tau² cannot be estimated",
    "singular_hessian": "the Hessian of the likelihood is singular at the maximum, so no "
                        "standard error exists",
    "no_events_in_an_arm": "no events in one arm of every trial: the ratio is not estimable",
    "all_events_in_an_arm": "every participant of one arm had the event",
    "no_estimate": "no estimate (no events in one arm across the trials)",
    "separation": "not estimable: in every trial the events fall as far to one arm as the "
                  "margins allow, so the likelihood keeps rising as the odds ratio grows "
                  "without bound",
}


def method_label(row) -> str:
    return METHOD_LABELS[row.method].format(add=row.extra.get("add", 0.5))


def row_note(row) -> str:
    """The note column: why a model gave no answer, or how it reached it."""
    notes = []
    if row.status == "tau2_boundary":
        notes.append("tau² at its boundary 0, SE at tau² = 0")
    elif row.status == "not_converged":
        notes.append("optimiser did not converge")
    elif row.status in ("not_estimable", "too_few_trials"):
        notes.append(REASONS.get(row.reason or "", row.reason or "not estimable"))
    if row.method in ("UM.FS", "CM.AL") and row.status in ("ok", "tau2_boundary"):
        notes.append(f"{row.extra.get('nagq', 7)}-point adaptive Gauss-Hermite")
    if row.method == "UM.RS" and row.status in ("ok", "tau2_boundary"):
        notes.append("Laplace, as metafor")
    if row.status == "rho_boundary":
        notes.append("ICC rho at its boundary 0 (the binomial model)")
    elif row.method in ("BB", "BB-RR") and row.extra.get("rho") is not None:
        notes.append(f"ICC rho = {row.extra['rho']:.3f}")
    if row.method == "IV-RE":
        tau2, ci = row.extra.get("tau2_method", "REML"), row.extra.get("ci_method", "")
        notes.append(f"{tau2}, {name('ci', ci) if ci else ''} CI")  # published names
    if row.method == "MH":
        notes.append("double-zero trials add nothing")
    return "; ".join(notes)


def _names(rows) -> str:
    parts = [f"{r.method} [{r.ci_lower:.3f}, {r.ci_upper:.3f}]" for r in rows]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def agreement_sentence(result: SparseResult) -> str:
    """One plain sentence: do the methods agree? They disagree (``table._agreement``) when
    their odds ratios lie on both sides of 1, when some 95% CIs exclude an odds ratio of 1
    and others include it, or when the estimates are more than DISAGREE_RATIO-fold apart."""
    ag = result.agreement
    if ag.lowest is None:
        return "Fewer than two methods give an odds ratio, so there is nothing to compare."
    span = f"from {num(ag.lowest)} to {num(ag.highest)}"
    if ag.direction_differs:
        return (f"The methods disagree on the direction of the effect: the odds ratios run "
                f"{span}, on both sides of no effect.")
    if ag.significance_differs:
        rows = [r for r in result.rows if r.method in ag.methods]
        excl = [r for r in rows if r.ci_upper < 1.0 or r.ci_lower > 1.0]
        incl = [r for r in rows if r not in excl]
        few, verb, other = ((excl, "exclude", "include") if len(excl) <= len(incl)
                            else (incl, "include", "exclude"))
        if len(few) == 1:
            verb = verb + "s"
        what = "interval" if len(few) == 1 else "intervals"
        return (f"The methods disagree on whether the effect is statistically significant: "
                f"the 95% confidence {what} of {_names(few)} {verb} an odds ratio of 1, the "
                f"other methods' {other} it (estimates {span}).")
    if ag.disagree:
        return (f"The methods disagree on the size of the effect: the odds ratios run {span}, "
                f"more than {DISAGREE_RATIO:g}-fold apart.")
    return (f"The methods agree: the odds ratios run {span}, and every 95% confidence "
            f"interval leads to the same conclusion.")


SECTION_TITLE = "Do zero cells change the answer? Sparse-data methods"


def grade_citation(result: SparseResult) -> str:
    """The words GRADE's imprecision judgement cites when the sparse-data methods disagree
    ("" when they agree)."""
    ag = result.agreement
    if not ag.disagree:
        return ""
    what = ("the direction of the effect" if ag.direction_differs else
            "whether the effect is statistically significant" if ag.significance_differs else
            "the size of the effect")
    return (f"the sparse-data methods disagree on {what} (odds ratios {num(ag.lowest)} to "
            f"{num(ag.highest)} across {len(ag.methods)} methods; see the sparse-data table, "
            f"\u201c{SECTION_TITLE}\u201d)")


def zero_sentence(result: SparseResult) -> str:
    parts = []
    if result.single_zero:
        parts.append(f"{len(result.single_zero)} trial{'s' if len(result.single_zero) != 1 else ''} "
                     f"with no events in one arm ({', '.join(result.single_zero)})")
    if result.double_zero:
        parts.append(f"{len(result.double_zero)} with no events in either arm "
                     f"({', '.join(result.double_zero)}), which only UM.RS and the "
                     "beta-binomial model can use")
    if not parts:
        return "No trial has a zero cell."
    return "Zero cells: " + "; ".join(parts) + "."


# the GLMMs whose heterogeneity tests are printed (UM.RS's Wald test is not defined when
# a trial's own log OR runs to infinity, as it does for zero cells)
HETEROGENEITY_SHOWN = ("UM.FS", "CM.AL", "CM.EL")


def heterogeneity_lines(result: SparseResult) -> list[str]:
    """metafor's tests for heterogeneity of the GLMMs (saturated vs. common-OR model)."""
    out = []
    for r in result.rows:
        e = r.extra
        if r.method not in HETEROGENEITY_SHOWN or e.get("qe_lrt") is None:
            continue
        wald = ""
        if e.get("qe_wald") is not None:
            wald = f"Wald = {num(e['qe_wald'])} ({p_value(e['qe_wald_p'])}), "
        out.append(f"Heterogeneity ({r.method}): {wald}LRT = {num(e['qe_lrt'])} "
                   f"({p_value(e['qe_lrt_p'])}), df = {e['qe_df']}")
    return out


def table_rows(result: SparseResult) -> list[dict]:
    """The rows as strings, for the text table and the report's HTML table."""
    out = []
    for r in result.rows:
        out.append({
            "method": method_label(r),
            "measure": r.measure,
            "estimate": (interval(r.estimate, r.ci_lower, r.ci_upper)
                         if r.estimate is not None else "not estimable"),
            "tau2": "" if r.tau2 is None else f"{r.tau2:.3f}",
            "trials": str(r.trials_used),
            "participants": str(r.participants_used),
            "note": row_note(r),
        })
    return out


@text_renderer(SparseResult)
def sparse_text(result: SparseResult) -> str:
    title = "Sparse-data methods side by side"
    if result.outcome:
        title += f": {result.outcome}"
    lines = [title,
             f"{result.participants} participants in {result.trials} trials. "
             + zero_sentence(result), ""]
    rows = table_rows(result)
    wm = max(len(r["method"]) for r in rows) + 2
    we = max(len(r["estimate"]) for r in rows) + 2
    head = (f"{'method':<{wm}}{'OR [95% CI]':<{we}}{'tau²':>7}  {'trials':>6}  "
            f"{'particip.':>9}  note")
    lines += [head, "-" * len(head)]
    for r in rows:
        est = r["estimate"] + (" (RR)" if r["measure"] == "RR" else "")
        lines.append(f"{r['method']:<{wm}}{est:<{we}}{r['tau2']:>7}  {r['trials']:>6}  "
                     f"{r['participants']:>9}  {r['note']}")
    lines += ["", agreement_sentence(result), *heterogeneity_lines(result)]
    if result.seconds:
        total = sum(result.seconds.values())
        lines.append(f"Fitted in {total:.2f} s.")
    return "\n".join(lines) + "\n"
