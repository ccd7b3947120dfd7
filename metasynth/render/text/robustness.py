"""Text of the analyses of a fitted model: subgroups, leave-one-out and cumulative tables,
meta-regression, influence, small-study tests, the permutation test and GOSH."""

from __future__ import annotations

from metasynth.models.results import PoolResult
from metasynth.models.robustness.refits import SubsetAnalysis
from metasynth.models.subgroups import SubgroupResult
from metasynth.render.numbers import interval, num, p_value, percent
from metasynth.render.text.methods import name
from metasynth.render.text.pool import render_text
from metasynth.render.text.warnings import warning_text


def subgroup_difference_line(test) -> str:
    """RevMan's 'Test for subgroup differences: Chi² = 1.23, df = 1 (P = 0.27), I² = 18.5%'."""
    if test is None:
        return ("Test for subgroup differences: not possible (fewer than two subgroups with a "
                "pooled estimate)")
    return (f"Test for subgroup differences: Chi² = {num(test.Q)}, df = {test.df} "
            f"({p_value(test.p)}), I² = {percent(test.I2, 1)}")


def subgroups_text(res: SubgroupResult) -> str:
    out = []
    for group, r in res.groups:
        out.append(f"=== {res.by}: {group} ===")
        out.append(render_text(r))
    for group, why in res.not_pooled:
        out.append(f"=== {res.by}: {group} === not pooled: {why}\n")
    out.append("=== All studies ===")
    out.append(render_text(res.overall).rstrip("\n"))
    if res.test:
        out.append(f"{subgroup_difference_line(res.test)}  [{res.test.method}]")
    out.append("Weights are each study's share of the whole analysis (as RevMan shows them).")
    return "\n".join(out) + "\n"


def subsets_text(analysis: SubsetAnalysis, overall: PoolResult | None = None) -> str:
    """The leave-one-out or cumulative table, with the model it inherited; ``overall``
    adds the all-studies row."""
    head = "Left out" if analysis.kind == "leave-one-out" else "Added (cumulative)"
    spec = analysis.spec
    width = max([len(head), len("All studies")] + [len(r.label) for r in analysis.rows]) + 2
    lines = [f"{head:<{width}}{'k':>3}  {spec.measure + ' [' + spec.ci_label + ']':<22}"
             f"{'Tau²':>8}{'I²':>6}"]
    for r in analysis.rows:
        tau2 = num(r.tau2, 3) if r.tau2 is not None else ""
        i2 = percent(r.I2) if r.I2 is not None else ""
        lines.append(f"{r.label:<{width}}{r.k:>3}  {interval(r.estimate, r.ci_lower, r.ci_upper):<22}"
                     f"{tau2:>8}{i2:>6}")
    if overall is not None:
        o = overall.random
        lines.append(f"{'All studies':<{width}}{overall.k:>3}  "
                     f"{interval(o.estimate, o.ci_lower, o.ci_upper)}")
    if analysis.glmm:
        from metasynth.render.text.sparse import METHOD_LABELS

        lines.append(f"Model: {METHOD_LABELS[analysis.glmm]}, maximum likelihood, Wald "
                     f"{spec.ci_label}, every trial with 2x2 counts passed to the likelihood "
                     "(as in the sparse-data table); the refits in one batched fit.")
    else:
        lines.append(f"Model: random effects, {name('tau2', spec.tau2)} tau², "
                     f"{name('ci', spec.ci)} {spec.ci_label} (inherited from the pooled analysis).")
    return "\n".join(lines) + "\n"


def metaregression_text(reg) -> str:
    test = "t" if reg.test == "knha" else "z"
    lines = [f"Mixed-effects meta-regression ({reg.tau2_method}, "
             f"{'Knapp-Hartung' if reg.test == 'knha' else 'Wald'} tests); k = {reg.k}",
             f"{'':<14}{'estimate':>10}{'se':>9}{test:>8}{'p':>9}   95% CI"]
    for c in reg.coefficients:
        lines.append(f"{c.name:<14}{c.estimate:>10.4f}{c.se:>9.4f}{c.statistic:>8.2f}{c.p:>9.4f}   "
                     f"[{c.ci_lower:.4f}, {c.ci_upper:.4f}]")
    r2 = f"{reg.R2:.1f}%" if reg.R2 is not None else "NA"
    lines.append(f"Residual heterogeneity: tau² = {reg.tau2:.4f}; QE = {reg.QE:.2f} (p = "
                 f"{reg.QE_p:.4f}); R² = {r2}")
    lines.append(f"Test of moderators: QM = {reg.QM:.3f} on {reg.QM_df} df, p = {reg.QM_p:.4f}; "
                 f"permutation p = {reg.permutation_p:.4f} ({reg.permutations} permutations)")
    lines += [f"  left out: {n}" for n in reg.left_out]
    lines += [f"  ! {warning_text(w)}" for w in reg.warnings]
    return "\n".join(lines) + "\n"


INFLUENCE_CRITERIA = ("Influential (*): |dffits| > 3 sqrt(1/(k-1)), Cook's distance above the "
                      "chi²(1) median, hat > 3/k, or |dfbetas| > 1 (Viechtbauer & Cheung 2010).")


def influence_text(inf) -> str:
    w = max(len(r.label) for r in inf.rows) + 2
    lines = [f"{'study':<{w}}{'rstudent':>9}{'dffits':>8}{'cook.d':>8}{'cov.r':>7}"
             f"{'tau2.del':>9}{'QE.del':>8}{'hat':>6}{'weight':>7}  influential"]
    for r in inf.rows:
        lines.append(f"{r.label:<{w}}{r.rstudent:>9.3f}{r.dffits:>8.3f}{r.cook_d:>8.3f}"
                     f"{r.cov_r:>7.3f}{r.tau2_del:>9.4f}{r.QE_del:>8.2f}{r.hat:>6.3f}"
                     f"{r.weight:>7.1f}  {'*' if r.influential else ''}")
    lines.append(INFLUENCE_CRITERIA)
    return "\n".join(lines) + "\n"


def small_study_text(results: dict) -> str:
    lines = []
    for test, r in results.items():
        if isinstance(r, str):
            lines.append(f"{test}: not run: {r}")
        elif hasattr(r, "k0"):
            lines.append(f"{test}: {r.k0} studies imputed on the {r.side}; adjusted estimate "
                         f"{r.theta:.4f} (se {r.se:.4f}, analysis scale)")
        else:
            df = f", df = {r.df:.0f}" if r.df else ""
            lines.append(f"{test}: {r.test}, statistic {r.statistic:.3f}{df}, p = {r.p:.4f}"
                         + (f" ({r.detail})" if r.detail else ""))
    return "\n".join(lines) + "\n"


def permutation_text(r) -> str:
    return (f"Permutation test ({r.kind}, {r.permutations} sign patterns): observed statistic "
            f"{r.statistic:.3f}, permutation p = {r.p:.4f}\n  {r.note}\n")


def gosh_text(g) -> str:
    return (f"GOSH: {g.subsets} subsets of {g.k} studies fitted"
            + (" (random sample)" if g.sampled else ""))
