"""A pooled analysis written out for other tools: RevMan's analysis-data CSV and an R
script that refits it with metafor.

``revman_csv`` writes the layout of RevMan Web's analysis data export (the
``*-data-rows.csv`` of a Cochrane data package, read back by ``metasynth import``).
``r_script`` writes metafor 3.8 code (``escalc`` with the same zero-cell rule, then
``rma.mh``/``rma.peto``/``rma(method = "EE")`` for the common effect and ``rma`` for
random effects) that prints the same estimates, so editors get R syntax for every
number (as JASP prints its metafor call).
"""

from __future__ import annotations

import csv
import io

from metasynth import __version__
from metasynth.errors import DataError
from metasynth.models.results import PoolResult

DATA_ROWS = ("Analysis group", "Analysis number", "Analysis name", "Subgroup", "Applicability",
             "Study", "Study year", "GIV Mean", "GIV SE", "Experimental mean", "Experimental SD",
             "Experimental cases", "Experimental N", "Control mean", "Control SD",
             "Control cases", "Control N", "O-E", "Variance", "Weight", "Mean", "CI start",
             "CI end", "Footnotes")


def _g(x) -> str:
    return "" if x is None else f"{x:.6f}".rstrip("0").rstrip(".")


def _d(x) -> str:
    """An input number (a mean, SD, O - E, log estimate, SE) to 15 significant digits."""
    return "" if x is None else f"{x:.15g}"


def revman_csv(result: PoolResult, group: int = 1, number: int = 1) -> str:
    """The studies of ``result`` as RevMan's analysis-data rows: the study's data as its
    data type has them (events and totals; means, SDs and totals; O - E and variance; or,
    for a reported estimate, "GIV Mean" and "GIV SE" on the analysis scale) and each
    study's effect, CI and random-effects weight (metasynth's headline model); a study
    that is not estimable gets weight 0 and no effect, as RevMan writes it."""
    import math

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DATA_ROWS)
    name = result.outcome_label or result.outcome or "Outcome"
    for s in result.studies:
        row = dict.fromkeys(DATA_ROWS, "")
        row.update({
            "Analysis group": group, "Analysis number": number, "Analysis name": name,
            "Subgroup": s.subgroup or "", "Applicability": "SUBGROUP_AND_OVERALL",
            "Study": s.label, "Study year": s.year or "",
            "Experimental cases": s.treatment_events, "Experimental N": s.treatment_total,
            "Control cases": s.control_events, "Control N": s.control_total,
            "Experimental mean": _d(s.treatment_mean), "Experimental SD": _d(s.treatment_sd),
            "Control mean": _d(s.control_mean), "Control SD": _d(s.control_sd),
            "O-E": _d(s.o_minus_e), "Variance": _d(s.variance),
            "Weight": _g(s.weight_random) if s.included else 0,
            "Mean": _g(s.estimate), "CI start": _g(s.ci_lower), "CI end": _g(s.ci_upper),
            "Footnotes": s.excluded_reason or ""})
        if s.source == "reported" and s.yi is not None:
            row.update({"GIV Mean": _d(s.yi), "GIV SE": _d(math.sqrt(s.vi))})
        w.writerow([row[c] for c in DATA_ROWS])
    return buf.getvalue()


def _r_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _r_vector(values) -> str:
    return "c(" + ", ".join(str(v) for v in values) + ")"


_R_TEST = {"wald": "z", "hksj": "knha", "hksj-adhoc": "adhoc"}
#: the studies metasynth's zero-cell rule corrects, as an R expression on ``dat``
_ZERO = "with(dat, ai == 0 | ci == 0 | ai == n1i | ci == n2i)"
_R_CORRECTED = {"only0": _ZERO, "all": "rep(TRUE, nrow(dat))",
                "if0all": f"rep(any({_ZERO}), nrow(dat))", "none": "rep(FALSE, nrow(dat))"}


def r_script(result: PoolResult) -> str:
    """An R script that refits ``result`` with metafor and prints the common-effect and
    random-effects estimates (reporting scale) with 10 significant digits."""
    effects = result.effects
    if effects is None:
        raise DataError("this result carries no per-study data to export")
    rows = effects.table.rows
    spec = result.spec
    if spec.measure not in ("RR", "OR", "RD"):
        return _r_script_effects(result)
    if not all(r.has_counts for r in rows):
        missing = ", ".join(r.label for r in rows if not r.has_counts)
        raise DataError(f"the R export needs 2x2 counts from every study; {missing} report only "
                        "an estimate")
    rule = effects.rule
    drop00 = rule.drops_double_zero(spec.measure)
    level = f"{100 * spec.level:g}"
    add = 0.0 if rule.to == "none" else rule.add
    lines = [
        f"# Written by metasynth {__version__}: {result.outcome_label or result.outcome or ''}"
        f" ({result.source or 'data'})",
        f"# {result.zero_cell_rule}",
        "library(metafor)",
        "dat <- data.frame(",
        f"  study = {_r_vector(_r_string(r.label) for r in rows)},",
        f"  ai = {_r_vector(r.treatment_events for r in rows)},",
        f"  n1i = {_r_vector(r.treatment_total for r in rows)},",
        f"  ci = {_r_vector(r.control_events for r in rows)},",
        f"  n2i = {_r_vector(r.control_total for r in rows)})",
    ]
    if drop00:
        lines += ["# studies without events (or with only events) in both arms are left out",
                  "dz <- with(dat, (ai == 0 & ci == 0) | (ai == n1i & ci == n2i))",
                  "dat <- dat[!dz, ]"]
    lines += [f'es <- escalc(measure = "{spec.measure}", ai = ai, n1i = n1i, ci = ci, n2i = n2i, '
              f'data = dat, add = {add:g}, to = "{rule.to}", drop00 = FALSE)']
    method = result.common.method
    if method == "MH":
        if result.common.mh_correction:
            lines += ["# Mantel-Haenszel on the counts with the correction in zero-cell studies "
                      "(RevMan 5, R meta); rma.mh itself would use the raw counts",
                      "z0 <- " + _R_CORRECTED[rule.to],
                      f"mh <- within(dat, {{ ai[z0] <- ai[z0] + {add:g}; ci[z0] <- ci[z0] + "
                      f"{add:g}; n1i[z0] <- n1i[z0] + {2 * add:g}; n2i[z0] <- n2i[z0] + "
                      f"{2 * add:g} }})"]
        else:
            lines += ["mh <- dat"]
        lines += [f'fit_common <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = mh, '
                  f'measure = "{spec.measure}", add = {0 if result.common.mh_correction else add:g}, '
                  f'to = "{"none" if result.common.mh_correction else rule.to}", drop00 = FALSE, '
                  f'level = {level})']
    elif method == "Peto":
        lines += [f"fit_common <- rma.peto(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, "
                  f'add = {add:g}, to = "{rule.to}", drop00 = FALSE, level = {level})']
    else:
        lines += [f'fit_common <- rma(yi, vi, data = es, method = "EE", level = {level})']
    lines += _r_random(result, method)
    return "\n".join(lines + _r_print(spec.measure)) + "\n"


def _r_random(result: PoolResult, method: str) -> list[str]:
    """The random-effects fit of ``es``, as metasynth's spec asks for it."""
    spec = result.spec
    level = f"{100 * spec.level:g}"
    lines: list[str] = []
    test = _R_TEST[result.random.ci_method]
    if spec.het_q == "common" and method in ("MH", "Peto") and spec.tau2 == "DL":
        lines += ["# DerSimonian-Laird tau2 from Q around the common-effect estimate (RevMan 5; "
                  "R meta Q.Cochrane)",
                  "w <- 1 / es$vi",
                  "tau2 <- max(0, (fit_common$QE - (fit_common$k - 1)) / "
                  "(sum(w) - sum(w^2) / sum(w)))",
                  f'fit_random <- rma(yi, vi, data = es, tau2 = tau2, test = "{test}", '
                  f'level = {level})']
    else:
        lines += ["# metafor's default tolerances stop the iterative tau2 estimators near 1e-5; "
                  "metasynth iterates to 1e-10",
                  f'fit_random <- rma(yi, vi, data = es, method = "{spec.tau2}", '
                  f'test = "{test}", level = {level},',
                  "                  control = list(threshold = 1e-12, tol = 1e-12, maxiter = 10000))"]
    return lines


def _r_print(measure: str) -> list[str]:
    back = "exp" if measure in ("RR", "OR", "ROM", "HR") else "identity"
    return [
        "print(fit_common)",
        "print(fit_random)",
        f"est <- function(fit) {back}(c(fit$beta[1], fit$ci.lb, fit$ci.ub))",
        'cat(sprintf("common %.10g %.10g %.10g\\n", est(fit_common)[1], est(fit_common)[2], '
        "est(fit_common)[3]))",
        'cat(sprintf("random %.10g %.10g %.10g\\n", est(fit_random)[1], est(fit_random)[2], '
        "est(fit_random)[3]))",
        'cat(sprintf("tau2 %.10g\\n", fit_random$tau2))',
    ]


def _num_vector(values) -> str:
    return _r_vector("NA" if v is None else f"{v:.17g}" for v in values)


def _r_script_effects(result: PoolResult) -> str:
    """The R script of an MD, SMD, ROM or HR analysis: ``escalc`` of the means and SDs
    (metafor's SMD; RevMan's SMD written out as its formula), or the log estimates with
    their SEs (generic inverse variance) and (O - E)/V with variance 1/V (Peto's log HR),
    then ``rma(method = "EE")`` (which is Peto's Σ(O - E)/ΣV for O - E and V) and ``rma``."""
    effects, spec = result.effects, result.spec
    rows = [r for r, inc in zip(effects.table.rows, effects.included) if inc]
    yi = [y for y, inc in zip(effects.yi, effects.included) if inc]
    vi = [v for v, inc in zip(effects.vi, effects.included) if inc]
    sources = {s for s, inc in zip(effects.source, effects.included) if inc}
    level = f"{100 * spec.level:g}"
    lines = [
        f"# Written by metasynth {__version__}: {result.outcome_label or result.outcome or ''}"
        f" ({result.source or 'data'})",
        "library(metafor)"]
    # a mean and SD derived from a median: the conversion named beside the number
    lines += [f"# {r.label}, {arm} arm: {c.describe()}" for r in rows for arm, c in r.conversions]
    lines += ["dat <- data.frame(",
              f"  study = {_r_vector(_r_string(r.label) for r in rows)},"]
    if sources == {"means"}:
        lines += [f"  m1i = {_num_vector(r.treatment_mean for r in rows)},",
                  f"  sd1i = {_num_vector(r.treatment_sd for r in rows)},",
                  f"  n1i = {_r_vector(r.treatment_total for r in rows)},",
                  f"  m2i = {_num_vector(r.control_mean for r in rows)},",
                  f"  sd2i = {_num_vector(r.control_sd for r in rows)},",
                  f"  n2i = {_r_vector(r.control_total for r in rows)})"]
        if spec.measure == "SMD" and spec.smd == "revman":
            lines += ["# RevMan's SMD (Deeks & Higgins 2010): Hedges' g with the approximate "
                      "correction and RevMan's variance",
                      "es <- within(dat, { N <- n1i + n2i",
                      "  sp <- sqrt(((n1i - 1) * sd1i^2 + (n2i - 1) * sd2i^2) / (N - 2))",
                      "  yi <- (1 - 3 / (4 * N - 9)) * (m1i - m2i) / sp",
                      "  vi <- N / (n1i * n2i) + yi^2 / (2 * (N - 3.94)) })"]
        else:
            lines += [f'es <- escalc(measure = "{spec.measure}", m1i = m1i, sd1i = sd1i, '
                      "n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat)"]
    elif sources == {"o-e/v"}:
        lines += [f"  oe = {_num_vector(r.o_minus_e for r in rows)},",
                  f"  v = {_num_vector(r.variance for r in rows)})",
                  "# Peto's log hazard ratio from the log-rank O - E and V",
                  "es <- within(dat, { yi <- oe / v; vi <- 1 / v })"]
    else:  # reported estimates (or a mix): metasynth's analysis-scale yi and vi
        lines += [f"  yi = {_num_vector(yi)},",
                  f"  sei = {_num_vector(v ** 0.5 for v in vi)})",
                  "# each study's estimate on the analysis scale (log for ratios) and its SE",
                  "es <- within(dat, vi <- sei^2)"]
    lines += [f'fit_common <- rma(yi, vi, data = es, method = "EE", level = {level})']
    lines += _r_random(result, result.common.method)
    return "\n".join(lines + _r_print(spec.measure)) + "\n"


def report_r_script(results: dict, title: str = "") -> str:
    """One R script for a report: the main analysis of every pooled outcome (``results``:
    outcome id -> PoolResult) as :func:`r_script` writes it, each in its own ``local()``
    block; an outcome the export cannot write (a trial with only a reported estimate) is
    named with the reason."""
    lines = [f"# Written by metasynth {__version__}: the main analyses of the report"
             f"{' ' + _r_string(title) if title else ''}.",
             "# Run with: Rscript <this file> (needs the metafor package)", ""]
    for oid, result in results.items():
        lines.append(f'cat("\\n== {oid}: {result.outcome_label or oid} ==\\n")')
        try:
            body = r_script(result)
        except DataError as err:
            lines += [f"# {oid} not exported: {err.message}", ""]
            continue
        lines += ["local({"] + ["  " + x if x else x for x in body.splitlines()] + ["})", ""]
    return "\n".join(lines)
