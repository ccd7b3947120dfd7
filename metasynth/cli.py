"""Command line: a thin layer over the library API.

Exit status: 0 success, 1 invalid data, 2 usage error (3: an internal error, which
is a bug: please report it). Results go to stdout, messages to stderr, one line each.
"""

from __future__ import annotations

import argparse
import os
import sys

from metasynth import __version__
from metasynth.errors import MetasynthError, UsageError

MEASURES = ("RR", "OR", "RD")
TAU2 = ("REML", "DL", "PM", "ML", "HE", "SJ", "EB")
CI = ("hksj", "hksj-adhoc", "wald")
PI = ("hts", "metafor")
COMMON = ("MH", "IV", "Peto")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"{self.prog}: usage error: {message} (see --help)\n")


def _upper(choices):
    def convert(text: str) -> str:
        for c in choices:
            if c.lower() == text.lower():
                return c
        raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from {', '.join(choices)})")
    return convert


def _add_pool_options(p) -> None:
    """Options shared by every command that pools (pool, forest, ...)."""
    p.add_argument("--outcome", default=None, help="outcome id from the registry "
                   "(default: mortality; records only)")
    p.add_argument("--measure", type=_upper(MEASURES), default="RR", help="RR (default), OR or RD")
    p.add_argument("--tau2", type=_upper(TAU2), default="REML",
                   help="tau² estimator: REML (default), DL, PM, ML, HE, SJ, EB")
    p.add_argument("--ci", type=_upper(CI), default="hksj",
                   help="CI for the random-effects mean: hksj (default), hksj-adhoc, wald")
    p.add_argument("--pi", type=_upper(PI), default="hts",
                   help="prediction interval: hts (default; t with k-2 df) or metafor")
    p.add_argument("--common-method", type=_upper(COMMON), default="MH",
                   help="common-effect method: MH (default), IV, Peto (OR only)")
    p.add_argument("--mh-correction", action="store_true",
                   help="add 0.5 to zero-cell studies inside Mantel-Haenszel (RevMan 5, R meta)")
    p.add_argument("--classic", action="store_true",
                   help="RevMan 5 analysis: DL, Wald CI, MH with 0.5 added to zero cells")
    p.add_argument("--add", type=float, default=0.5, help="continuity correction (default 0.5)")
    p.add_argument("--to", choices=("only0", "all", "if0all", "none"), default="only0",
                   help="which studies get the correction (default only0: those with a zero cell)")
    p.add_argument("--keep-double-zero", action="store_true",
                   help="keep studies without events in either arm for RR/OR")
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--alternative", action="store_true",
                   help="use the alternative value where sources conflict (sensitivity analysis)")


def _add_registry_options(p) -> None:
    p.add_argument("--offline", action="store_true",
                   help="use only cached registry responses; make no request")
    p.add_argument("--cache", default=None,
                   help="cache folder (default: $METASYNTH_CACHE or ~/.cache/metasynth)")


def _client(args):
    from metasynth.registries.client import ClientConfig, RegistryClient

    return RegistryClient(ClientConfig.from_env(offline=args.offline, cache_dir=args.cache))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="metasynth", description="Living meta-analysis of randomized trials.")
    parser.add_argument("--version", action="version", version=f"metasynth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("pool", help="pool the studies for one outcome",
                       description="Pool a folder of trial records or a CSV/TSV of 2x2 counts "
                       "(columns study,treatment_events,treatment_total,control_events,"
                       "control_total; optional subgroup, year).")
    p.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(p)
    p.add_argument("--by", default=None,
                   help="subgroup analysis by a record field (or 'subgroup' for a CSV column)")
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")

    v = sub.add_parser("validate", help="check every record; report all errors at once")
    v.add_argument("path", help="studies folder")
    v.add_argument("--strict", action="store_true", help="treat warnings as errors")

    f = sub.add_parser("forest", help="draw the RevMan-style forest plot (PNG, SVG or PDF)")
    f.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(f)
    f.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")
    f.add_argument("--by", default=None,
                   help="subgroups by a record field (tissue_source, product_type, "
                   "ventilation_at_baseline, control, blinding, rob_overall, ...) or 'subgroup' "
                   "(CSV column)")
    f.add_argument("--common", action="store_true", help="also draw the common-effect diamond")
    f.add_argument("--rob", action="store_true", help="add RoB 2 columns (records only)")
    f.add_argument("--experimental", default="MSC", help="name of the experimental arm (MSC)")
    f.add_argument("--control", default="Control", help="name of the control arm (Control)")

    fu = sub.add_parser("funnel", help="contour-enhanced funnel plot")
    fu.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(fu)
    fu.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")

    rb = sub.add_parser("rob-plot", help="risk-of-bias traffic-light or summary plot")
    rb.add_argument("path", help="studies folder")
    rb.add_argument("--summary", action="store_true", help="the weighted summary bar plot")
    rb.add_argument("--weighted", action="store_true",
                    help="summary weighted by the random-effects weights of --outcome")
    rb.add_argument("--outcome", default=None, help="outcome whose weights --weighted uses")
    rb.add_argument("--palette", choices=("colourblind", "cochrane"), default="colourblind")
    rb.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")

    for name, what in (("leave-one-out", "the pooled result without each study in turn"),
                       ("cumulative", "the pooled result as studies accrue by year")):
        sp = sub.add_parser(name, help=what)
        sp.add_argument("path", help="studies folder, or CSV/TSV file")
        _add_pool_options(sp)
        sp.add_argument("-o", "--output", default=None,
                        help="also draw it: .png, .svg or .pdf")

    mr = sub.add_parser("metareg", help="meta-regression on study-level moderators")
    mr.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(mr)
    mr.add_argument("--mods", required=True,
                    help="comma-separated moderators: dose_per_kg, year, control_risk")
    mr.add_argument("--permutations", type=int, default=1000)
    mr.add_argument("--format", choices=("text", "json"), default="text")
    mr.add_argument("-o", "--output", default=None, help="bubble plot: .png, .svg or .pdf")

    inf = sub.add_parser("influence", help="influence diagnostics (and a Baujat plot)")
    inf.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(inf)
    inf.add_argument("--format", choices=("text", "json"), default="text")
    inf.add_argument("-o", "--output", default=None, help="Baujat plot: .png, .svg or .pdf")

    bi = sub.add_parser("bias", help="small-study effects: Egger, Peters, Begg, Harbord (OR), "
                        "trim-and-fill")
    bi.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(bi)
    bi.add_argument("--force", action="store_true", help="run the tests below 10 studies")
    bi.add_argument("--format", choices=("text", "json"), default="text")

    pt = sub.add_parser("permutest", help="permutation test of the pooled effect")
    pt.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(pt)
    pt.add_argument("--iterations", type=int, default=10_000,
                    help="Monte Carlo permutations when k > 16 (default 10000)")

    go = sub.add_parser("gosh", help="GOSH: the model fitted to every subset of studies")
    go.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(go)
    go.add_argument("--max-subsets", type=int, default=2**20,
                    help="sample this many subsets beyond it (default 1,048,576)")
    go.add_argument("-o", "--output", required=True, help="GOSH plot: .png, .svg or .pdf")

    by = sub.add_parser("bayes", help="Bayesian random-effects meta-analysis: posterior of the "
                        "pooled effect and tau, prediction, P(RR < t)",
                        description="Defaults come from the 'bayes' section of PATH/analysis.yaml "
                        "when there is one; options override them.")
    by.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(by)
    by.add_argument("--tau-prior", choices=("half-normal", "half-cauchy", "turner-mortality",
                                            "uniform"), default=None,
                    help="prior for tau (default half-normal)")
    by.add_argument("--tau-scale", type=float, default=None,
                    help="scale of the half-normal or half-Cauchy prior (default 0.5)")
    by.add_argument("--mu-prior-sd", type=float, default=None,
                    help="normal(0, sd) prior for the pooled log effect (default: flat)")
    by.add_argument("--thresholds", default=None,
                    help="comma-separated t for P(RR < t) (default 1,0.9,0.8)")
    by.add_argument("--format", choices=("text", "json"), default="text")
    by.add_argument("-o", "--output", default=None, help="posterior plot: .png, .svg or .pdf")
    by.add_argument("--forest", default=None, help="shrinkage forest plot: .png, .svg or .pdf")

    ts = sub.add_parser("tsa", help="trial sequential analysis: Z-curve, monitoring and futility "
                        "boundaries, required information size",
                        description="Defaults come from the 'tsa' section of PATH/analysis.yaml "
                        "when there is one; options override them.")
    ts.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(ts)
    ts.add_argument("--control-risk", type=float, default=None,
                    help="anticipated control-arm risk (default 0.40)")
    ts.add_argument("--rrr", type=float, default=None,
                    help="anticipated relative risk reduction (default 0.425)")
    ts.add_argument("--alpha", type=float, default=None, help="two-sided alpha (default 0.05)")
    ts.add_argument("--beta", type=float, default=None, help="1 - power (default 0.10)")
    ts.add_argument("--d2", type=float, default=None,
                    help="diversity D² to assume (default: the observed D²)")
    ts.add_argument("--no-futility", action="store_true", help="no futility boundaries")
    ts.add_argument("--format", choices=("text", "json"), default="text")
    ts.add_argument("-o", "--output", default=None, help="TSA plot: .png, .svg or .pdf")

    rp = sub.add_parser("report", help="the evidence report (PDF, HTML, summary.json)")
    rp.add_argument("path", help="studies folder (with analysis.yaml)")
    rp.add_argument("-o", "--output", default="reports", help="output folder (default: reports)")
    rp.add_argument("--plan", default=None, help="analysis plan (default: PATH/analysis.yaml)")
    rp.add_argument("--page-size", choices=("A4", "Letter"), default=None,
                    help="page size (default: the plan's)")
    rp.add_argument("--no-pdf", action="store_true", help="write only HTML and summary.json")

    n = sub.add_parser("new", help="write a new record studies/ID.yaml (blank, or scaffolded "
                       "from ClinicalTrials.gov, Crossref and PubMed)")
    n.add_argument("id", help="firstauthorYEAR in lower case, e.g. monsel2022")
    n.add_argument("--dir", default="studies", help="studies folder (default: studies)")
    n.add_argument("--nct", default=None, help="ClinicalTrials.gov id to scaffold from")
    n.add_argument("--doi", default=None, help="DOI of the trial's paper (Crossref, PubMed)")
    n.add_argument("--pmid", default=None, help="PMID of the trial's paper")
    _add_registry_options(n)

    ve = sub.add_parser("verify", help="check records against Crossref, PubMed and "
                        "ClinicalTrials.gov")
    ve.add_argument("path", help="studies folder")
    ve.add_argument("--format", choices=("text", "json"), default="text")
    _add_registry_options(ve)

    d = sub.add_parser("diff", help="what a change to the records does to the pooled evidence")
    d.add_argument("ref", nargs="?", default=None,
                   help="git revision to compare with (default: merge base with main)")
    d.add_argument("--dir", default="studies", help="studies folder (default: studies)")
    d.add_argument("--measure", type=_upper(MEASURES), default="RR")
    d.add_argument("--format", choices=("markdown", "json"), default="markdown")

    s = sub.add_parser("schema", help="print the JSON Schema of a trial record")
    s.add_argument("--markdown", action="store_true", help="print the field reference instead")
    return parser


def _options(args):
    """PoolOptions from the options `pool`, `forest` and the other analyses share."""
    from metasynth.api import make_options
    from metasynth.effects.binary import ZeroCellRule

    try:
        zero = ZeroCellRule(add=args.add, to=args.to,
                            drop00=False if args.keep_double_zero else None)
        return make_options(measure=args.measure, tau2=args.tau2, ci=args.ci, pi=args.pi,
                            common=args.common_method, classic=args.classic,
                            mh_correction=True if args.mh_correction else None,
                            zero_cells=zero, level=args.level)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _pool_by(args) -> int:
    from metasynth.api import pool_by
    from metasynth.render.text.pool import render_text

    res = pool_by(args.path, args.by, args.outcome, options=_options(args),
                  alternative=args.alternative)
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(res.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return 0
    for name, r in res.groups:
        print(f"=== {args.by}: {name} ===")
        sys.stdout.write(render_text(r))
        print()
    for name, why in res.not_pooled:
        print(f"=== {args.by}: {name} === not pooled: {why}\n")
    print("=== All studies ===")
    sys.stdout.write(render_text(res.overall))
    t = res.test
    if t:
        from metasynth.render.numbers import num, p_value, percent

        print(f"Test for subgroup differences: Chi² = {num(t.Q)}, df = {t.df} ({p_value(t.p)}), "
              f"I² = {percent(t.I2, 1)}  [{t.method}]")
    return 0


def _pool(args) -> int:
    from metasynth.api import pool

    if args.by:
        if args.format == "csv":
            raise UsageError("--by gives text or json output, not csv")
        return _pool_by(args)

    result = pool(args.path, args.outcome, options=_options(args), alternative=args.alternative)
    if args.format == "json":
        from metasynth.render.json_out import render_json

        sys.stdout.write(render_json(result))
    elif args.format == "csv":
        from metasynth.render.text.tabular import render_csv

        sys.stdout.write(render_csv(result))
    else:
        from metasynth.render.text.pool import render_text

        sys.stdout.write(render_text(result))
    return 0


def _forest(args) -> int:
    from pathlib import Path

    from metasynth import api
    from metasynth.render.plots.forest import forest_plot, rob_judgements
    from metasynth.render.plots.kit import save_figure

    _check_figure_path(args.output)
    options = _options(args)
    data = args.path
    rob = None
    if Path(args.path).is_dir():
        data = api.load_studies(args.path)
        rob = rob_judgements(data) if args.rob else None
    elif args.rob:
        raise UsageError("--rob needs a studies folder (a CSV has no risk-of-bias judgements)")
    if args.by:
        result = api.pool_by(data, args.by, args.outcome, options=options,
                             alternative=args.alternative)
    else:
        result = api.pool(data, args.outcome, options=options, alternative=args.alternative)
    fig = forest_plot(result, show_common=args.common, rob=rob,
                      experimental=args.experimental, control=args.control)
    save_figure(fig, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _check_figure_path(path: str) -> None:
    from pathlib import Path

    if Path(path).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"output must end in .png, .svg or .pdf, not {path!r}")


def _funnel(args) -> int:
    from metasynth import api
    from metasynth.render.plots.funnel import funnel_plot
    from metasynth.render.plots.kit import save_figure

    _check_figure_path(args.output)
    result = api.pool(args.path, args.outcome, options=_options(args), alternative=args.alternative)
    save_figure(funnel_plot(result), args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _rob_plot(args) -> int:
    from metasynth import api
    from metasynth.render.plots.forest import rob_judgements
    from metasynth.render.plots.kit import save_figure
    from metasynth.render.plots.rob import summary_plot, traffic_light_plot

    _check_figure_path(args.output)
    studies = api.load_studies(args.path)
    judgements = rob_judgements(studies)
    if not judgements:
        raise MetasynthError(f"{args.path}: no record has a risk_of_bias section")
    if args.summary:
        weights = None
        if args.weighted:
            result = api.pool(studies, args.outcome)
            weights = {s.id: s.weight_random for s in result.included}
            judgements = {k: v for k, v in judgements.items() if k in weights}
        fig = summary_plot(judgements, weights, palette=args.palette)
    else:
        labels = {s.study.id: f"{s.study.citation.first_author} {s.study.citation.year}"
                  for s in studies.studies}
        fig = traffic_light_plot(judgements, labels, palette=args.palette)
    save_figure(fig, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _subsets(args) -> int:
    from metasynth import api
    from metasynth.render.numbers import interval, num, percent

    options = _options(args)
    run = api.leave_one_out if args.command == "leave-one-out" else api.cumulative
    analysis = run(args.path, args.outcome, options=options)
    overall = api.pool(args.path, args.outcome, options=options)
    head = "Left out" if args.command == "leave-one-out" else "Added (cumulative)"
    width = max([len(head)] + [len(r.label) for r in analysis.rows]) + 2
    print(f"{head:<{width}}{'k':>3}  {options.measure + ' [95% CI]':<22}{'Tau²':>8}{'I²':>6}")
    for r in analysis.rows:
        tau2 = num(r.tau2, 3) if r.tau2 is not None else ""
        i2 = percent(r.I2) if r.I2 is not None else ""
        print(f"{r.label:<{width}}{r.k:>3}  {interval(r.estimate, r.ci_lower, r.ci_upper):<22}"
              f"{tau2:>8}{i2:>6}")
    o = overall.random
    print(f"{'All studies':<{width}}{overall.k:>3}  {interval(o.estimate, o.ci_lower, o.ci_upper)}")
    if args.output:
        from metasynth.render.plots.kit import save_figure
        from metasynth.render.plots.subset_forest import subset_forest_plot

        _check_figure_path(args.output)
        save_figure(subset_forest_plot(analysis, overall), args.output)
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _save_plot(fig, path) -> None:
    from metasynth.render.plots.kit import save_figure

    _check_figure_path(path)
    save_figure(fig, path)
    print(f"wrote {path}", file=sys.stderr)


def _metareg(args) -> int:
    from metasynth import api

    mods = [m.strip() for m in args.mods.split(",") if m.strip()]
    try:
        reg = api.metaregression(args.path, mods, args.outcome, options=_options(args),
                                 permutations=args.permutations)
    except ValueError as err:
        raise MetasynthError(str(err)) from None
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(reg.to_dict(), indent=2) + "\n")
    else:
        test = "t" if reg.test == "knha" else "z"
        print(f"Mixed-effects meta-regression ({reg.tau2_method}, "
              f"{'Knapp-Hartung' if reg.test == 'knha' else 'Wald'} tests); k = {reg.k}")
        print(f"{'':<14}{'estimate':>10}{'se':>9}{test:>8}{'p':>9}   95% CI")
        for c in reg.coefficients:
            print(f"{c.name:<14}{c.estimate:>10.4f}{c.se:>9.4f}{c.statistic:>8.2f}{c.p:>9.4f}   "
                  f"[{c.ci_lower:.4f}, {c.ci_upper:.4f}]")
        r2 = f"{reg.R2:.1f}%" if reg.R2 is not None else "NA"
        print(f"Residual heterogeneity: tau² = {reg.tau2:.4f}; QE = {reg.QE:.2f} (p = "
              f"{reg.QE_p:.4f}); R² = {r2}")
        print(f"Test of moderators: QM = {reg.QM:.3f} on {reg.QM_df} df, p = {reg.QM_p:.4f}; "
              f"permutation p = {reg.permutation_p:.4f} ({reg.permutations} permutations)")
        for name in reg.left_out:
            print(f"  left out: {name}")
        for w in reg.warnings:
            print(f"  ! {w}")
    if args.output:
        from metasynth.render.plots.robustness import bubble_plot

        _save_plot(bubble_plot(reg, args.measure), args.output)
    return 0


def _influence(args) -> int:
    from metasynth import api

    try:
        inf = api.influence(args.path, args.outcome, options=_options(args))
    except ValueError as err:
        raise MetasynthError(str(err)) from None
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(inf.to_dict(), indent=2) + "\n")
    else:
        w = max(len(r.label) for r in inf.rows) + 2
        print(f"{'study':<{w}}{'rstudent':>9}{'dffits':>8}{'cook.d':>8}{'cov.r':>7}"
              f"{'tau2.del':>9}{'QE.del':>8}{'hat':>6}{'weight':>7}  influential")
        for r in inf.rows:
            print(f"{r.label:<{w}}{r.rstudent:>9.3f}{r.dffits:>8.3f}{r.cook_d:>8.3f}"
                  f"{r.cov_r:>7.3f}{r.tau2_del:>9.4f}{r.QE_del:>8.2f}{r.hat:>6.3f}"
                  f"{r.weight:>7.1f}  {'*' if r.influential else ''}")
        print("Influential (*): |dffits| > 3 sqrt(1/(k-1)), Cook's distance above the chi²(1) "
              "median, hat > 3/k, or |dfbetas| > 1 (Viechtbauer & Cheung 2010).")
    if args.output:
        from metasynth.render.plots.robustness import baujat_plot

        _save_plot(baujat_plot(inf), args.output)
    return 0


def _bias(args) -> int:
    from metasynth import api

    results = api.small_study_tests(args.path, args.outcome, options=_options(args),
                                    force=args.force)
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps({k: (v if isinstance(v, str) else v.to_dict())
                                     for k, v in results.items()}, indent=2) + "\n")
        return 0
    for name, r in results.items():
        if isinstance(r, str):
            print(f"{name}: not run: {r}")
        elif hasattr(r, "k0"):
            print(f"{name}: {r.k0} studies imputed on the {r.side}; adjusted estimate "
                  f"{r.theta:.4f} (se {r.se:.4f}, analysis scale)")
        else:
            df = f", df = {r.df:.0f}" if r.df else ""
            print(f"{name}: {r.test}, statistic {r.statistic:.3f}{df}, p = {r.p:.4f}"
                  + (f" ({r.detail})" if r.detail else ""))
    return 0


def _permutest(args) -> int:
    from metasynth import api

    r = api.permutation_test(args.path, args.outcome, options=_options(args),
                             iterations=args.iterations)
    print(f"Permutation test ({r.kind}, {r.permutations} sign patterns): observed statistic "
          f"{r.statistic:.3f}, permutation p = {r.p:.4f}")
    print(f"  {r.note}")
    return 0


def _gosh(args) -> int:
    from metasynth import api
    from metasynth.render.plots.robustness import gosh_plot

    def progress(done, total):
        if sys.stderr.isatty():
            bar = int(30 * done / total)
            print(f"\r[{'#' * bar}{'.' * (30 - bar)}] {done}/{total} subsets", end="",
                  file=sys.stderr, flush=True)
            if done == total:
                print(file=sys.stderr)

    g = api.gosh(args.path, args.outcome, options=_options(args), max_subsets=args.max_subsets,
                 progress=progress)
    print(f"GOSH: {g.subsets} subsets of {g.k} studies fitted"
          + (" (random sample)" if g.sampled else ""), file=sys.stderr)
    _save_plot(gosh_plot(g, args.measure), args.output)
    return 0


def _plan_section(path: str, name: str):
    """The ``bayes`` or ``tsa`` section of PATH/analysis.yaml, if PATH is a studies folder
    with a plan; else None."""
    from pathlib import Path

    plan_file = Path(path) / "analysis.yaml"
    if not plan_file.is_file():
        return None
    from metasynth.report.plan import load_plan

    return getattr(load_plan(plan_file), name)


def _bayes(args) -> int:
    from metasynth import api
    from metasynth.report.plan import Bayes, TauPriorSpec

    section = _plan_section(args.path, "bayes") or Bayes()
    spec = section.tau_prior
    if args.tau_prior or args.tau_scale:
        spec = TauPriorSpec(kind=args.tau_prior or spec.kind,
                            scale=args.tau_scale or spec.scale, comparison=spec.comparison)
    mu_prior = (0.0, args.mu_prior_sd) if args.mu_prior_sd else section.mu_prior
    try:
        thresholds = ([float(t) for t in args.thresholds.split(",")] if args.thresholds
                      else section.thresholds)
        result = api.bayes(args.path, args.outcome, tau_prior=spec.build(), mu_prior=mu_prior,
                           options=_options(args), thresholds=thresholds)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        from metasynth.render.text.bayes_tsa import bayes_table

        sys.stdout.write(bayes_table(result, args.measure, args.outcome or "mortality"))
    if args.output:
        from metasynth.render.plots.bayes_tsa import posterior_plot

        _save_plot(posterior_plot(result, args.measure), args.output)
    if args.forest:
        from metasynth.render.plots.bayes_tsa import shrinkage_forest

        _save_plot(shrinkage_forest(result, args.measure), args.forest)
    return 0


def _tsa(args) -> int:
    from metasynth import api
    from metasynth.models.sequential.tsa import TSAPlan

    section = _plan_section(args.path, "tsa")
    base = section.build() if section else TSAPlan()
    given = {"control_risk": args.control_risk, "relative_risk_reduction": args.rrr,
             "alpha": args.alpha, "beta": args.beta, "d2": args.d2}
    changes = {k: v for k, v in given.items() if v is not None}
    if args.no_futility:
        changes["futility"] = False
    outcome = args.outcome or (section.outcome if section else None)
    try:
        plan = TSAPlan(**{**base.to_dict(), **changes})
        result = api.tsa(args.path, outcome, plan=plan, options=_options(args))
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.format == "json":
        import json

        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        from metasynth.render.text.bayes_tsa import tsa_table

        sys.stdout.write(tsa_table(result, outcome or "mortality"))
    if args.output:
        from metasynth.render.plots.bayes_tsa import tsa_plot

        _save_plot(tsa_plot(result), args.output)
    return 0


def _report(args) -> int:
    from metasynth.report.write import write_report

    files = write_report(args.path, args.output, args.plan, args.page_size, pdf=not args.no_pdf)
    for f in (files.pdf, files.html, files.summary):
        if f is not None:
            print(f"wrote {f}", file=sys.stderr)
    pages = f", {files.pages} pages" if files.pages else ""
    print(f"report built in {files.seconds:.1f} s{pages}", file=sys.stderr)
    return 0


def _validate(args) -> int:
    from metasynth.records.load import validate_studies

    studies = validate_studies(args.path)
    for f in studies.findings:
        print(f, file=sys.stderr)
    n_err, n_warn = len(studies.errors), len(studies.warnings)
    failed = n_err > 0 or (args.strict and n_warn > 0)
    print(f"{len(studies)} valid record(s); {n_err} error(s), {n_warn} warning(s)"
          + (": FAILED" if failed else ": OK"), file=sys.stderr)
    return 1 if failed else 0


def _schema(args) -> int:
    from metasynth.records.docs import json_schema, markdown_reference

    sys.stdout.write(markdown_reference() if args.markdown else json_schema())
    return 0


def _new(args) -> int:
    from metasynth.records.template import new_record

    text = None
    if args.nct or args.doi or args.pmid:
        from metasynth.registries.draft import scaffold_record

        text = scaffold_record(args.id, _client(args), nct=args.nct, doi=args.doi, pmid=args.pmid)
    path = new_record(args.id, args.dir, text=text)
    print(f"wrote {path}: fill it from the trial's publication, then run "
          f"'metasynth validate {args.dir}'", file=sys.stderr)
    return 0


def _verify(args) -> int:
    import json

    from metasynth.records.load import load_studies
    from metasynth.registries.verify import render_checks, verify_studies

    checks = verify_studies(load_studies(args.path), _client(args))
    if args.format == "json":
        sys.stdout.write(json.dumps([c.to_dict() for c in checks], indent=2, ensure_ascii=False)
                         + "\n")
    else:
        sys.stdout.write(render_checks(checks))
    return 1 if any(c.status == "error" for c in checks) else 0


def _diff(args) -> int:
    import json

    from metasynth.evidence_diff import diff_evidence
    from metasynth.models.options import PoolOptions

    diff = diff_evidence(args.dir, args.ref, PoolOptions(measure=args.measure))
    if args.format == "json":
        sys.stdout.write(json.dumps(diff.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        from metasynth.render.text.diff import render_diff

        sys.stdout.write(render_diff(diff))
    return 1 if diff.after_errors else 0


COMMANDS = {"pool": _pool, "forest": _forest, "funnel": _funnel, "rob-plot": _rob_plot,
            "leave-one-out": _subsets, "cumulative": _subsets, "metareg": _metareg,
            "influence": _influence, "bias": _bias, "permutest": _permutest, "gosh": _gosh,
            "bayes": _bayes, "tsa": _tsa,
            "report": _report,
            "validate": _validate,
            "new": _new, "verify": _verify, "diff": _diff, "schema": _schema}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except MetasynthError as err:
        from metasynth.records.load import ValidationFailed

        if isinstance(err, ValidationFailed):
            for f in err.findings:
                if f.level == "error":
                    print(f, file=sys.stderr)
            print("metasynth: records are invalid; run 'metasynth validate' for details",
                  file=sys.stderr)
        else:
            print(f"{err}" if ":" in str(err).split(" ")[0] else f"metasynth: error: {err}",
                  file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as err:  # never a traceback for users; METASYNTH_DEBUG=1 shows it
        if os.environ.get("METASYNTH_DEBUG"):
            raise
        print(f"metasynth: internal error: {type(err).__name__}: {err} "
              "(a bug; set METASYNTH_DEBUG=1 for the traceback and report it)", file=sys.stderr)
        return 3
