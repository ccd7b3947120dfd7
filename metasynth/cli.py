"""Command line: a thin layer over the library API.

Exit status: 0 success, 1 invalid data, 2 usage error (3: an internal error, which
is a bug: please report it). Results go to stdout, messages to stderr, one line each.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from metasynth import __version__
from metasynth.errors import DataError, MetasynthError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        import re

        bad = re.match(r"argument (\S+): invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if bad:  # a misspelt subcommand or choice: the nearest ones, not the whole list
            import difflib

            known = re.findall(r"'([^']*)'", bad.group(3))
            close = difflib.get_close_matches(bad.group(2), known, n=3, cutoff=0.5)
            hint = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                    else f"choose from {', '.join(known)}")
            message = f"{bad.group(1)}: unknown {bad.group(2)!r}; {hint}"
        self.exit(2, f"{self.prog}: usage error: {message} (see --help)\n")


def _add_options(p, group: str) -> None:
    """The flags of the option table (``plan.options``) that ``group`` shows ("analysis",
    "bayes", "tsa"): names, help, defaults and allowed values all come from the table.
    Defaults are not filled in here: an absent flag leaves the plan's (or the table's)
    value, so ``resolve`` sees only what the user typed."""
    from metasynth.plan.options import OPTIONS, value_text

    for o in OPTIONS:
        if group not in o.commands:
            continue
        default = "" if "default" in o.help else f"default {value_text(o.default)}"
        allowed = f"one of {', '.join(o.values)}" if o.choices else ""
        text = f"{o.help} ({'; '.join(x for x in (default, allowed) if x)})"
        if o.kind is bool:
            p.add_argument(o.flag, *o.aliases, dest=o.name, action=argparse.BooleanOptionalAction,
                           default=argparse.SUPPRESS, help=text)
        else:
            p.add_argument(o.flag, *o.aliases, dest=o.name, default=argparse.SUPPRESS,
                           metavar=o.name.upper(), help=text)
    if group == "analysis":
        p.add_argument("--classic", action="store_true",
                       help="the same as --preset revman5 (RevMan 5: DerSimonian-Laird, Wald CI, "
                       "Mantel-Haenszel with the continuity correction in zero-cell studies)")


def _add_parameter(p, name: str) -> None:
    """The flag of a verb's parameter (``plan.options.PARAMETERS``); checked in ``main``."""
    from metasynth.plan.options import PARAMETERS, value_text

    o = PARAMETERS[name]
    p.add_argument(o.flag, dest=o.name, default=o.default, metavar=o.name.upper(),
                   help=f"{o.help} (default {value_text(o.default)}; {o.range_text()})")


def _check_parameters(args) -> None:
    """Every verb parameter of this run against its row of the option table."""
    from metasynth.plan.options import PARAMETERS
    from metasynth.plan.resolve import OptionError, parameter

    for name, option in PARAMETERS.items():
        if hasattr(args, name):
            try:
                setattr(args, name, parameter(name, getattr(args, name)))
            except OptionError as err:
                raise UsageError(f"{option.flag} {str(err).partition(' ')[2]}") from None


def _add_pool_options(p) -> None:
    _add_options(p, "analysis")


def _add_analysis_option(p) -> None:
    p.add_argument("--analysis", default=None,
                   help="analysis of a RevMan file, as RevMan numbers it (e.g. 1.1)")


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
                       description="Pool a folder of trial records or a CSV/TSV file, its "
                       "layout told by the header: 2x2 counts (study,treatment_events,"
                       "treatment_total,control_events,control_total), means "
                       "(study,treatment_mean,treatment_sd,treatment_total,control_mean,"
                       "control_sd,control_total), reported estimates (study,estimate,"
                       "ci_lower,ci_upper[,p], or study,estimate,se) or O - E and V "
                       "(study,o_minus_e,variance); "
                       "optional subgroup, year; or a RevMan file (with --analysis).")
    p.add_argument("path", help="studies folder, CSV/TSV file, or RevMan file (.rm5, RevMan "
                   "analysis CSV, Cochrane data package .zip)")
    _add_pool_options(p)
    _add_analysis_option(p)
    p.add_argument("--format", choices=("text", "json", "csv"), default="text")

    im = sub.add_parser("import", help="read a RevMan file: its analyses, with RevMan's "
                        "settings and stored results, as metasynth CSVs",
                        description="Read a RevMan 5 .rm5 file, RevMan's analysis CSV export or "
                        "a Cochrane review's data package (.zip). Without -o, list the analyses.")
    im.add_argument("path", help="the RevMan file")
    im.add_argument("-o", "--output", default=None,
                    help="folder to write: analyses.csv and one CSV per analysis")
    _add_analysis_option(im)
    im.add_argument("--format", choices=("text", "csv"), default="text",
                    help="csv: the analyses (or with --analysis, that analysis's data) as CSV")

    ex = sub.add_parser("export", help="write a pooled analysis for RevMan (--revman) or R "
                        "(--r: a metafor script that prints the same estimates)")
    ex.add_argument("path", help="studies folder, CSV/TSV file, or RevMan file")
    what = ex.add_mutually_exclusive_group(required=True)
    what.add_argument("--revman", action="store_true",
                      help="RevMan's analysis-data CSV (the data-rows layout of RevMan Web)")
    what.add_argument("--r", action="store_true", help="an R script for metafor 3.8")
    _add_pool_options(ex)
    _add_analysis_option(ex)
    ex.add_argument("-o", "--output", default=None, help="output file (default: stdout)")

    v = sub.add_parser("validate", help="check every record; report all errors at once")
    v.add_argument("path", help="studies folder")
    v.add_argument("--strict", action="store_true", help="treat warnings as errors")

    f = sub.add_parser("forest", help="draw the RevMan-style forest plot (PNG, SVG or PDF)")
    f.add_argument("path", help="studies folder, CSV/TSV file, or RevMan file")
    _add_pool_options(f)
    _add_analysis_option(f)
    f.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")
    f.add_argument("--common", action="store_true", help="also draw the common-effect diamond")
    f.add_argument("--rob", action="store_true", help="add RoB 2 columns (records only)")
    _add_parameter(f, "max_rows")

    fu = sub.add_parser("funnel", help="contour-enhanced funnel plot")
    fu.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(fu)
    fu.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")

    rb = sub.add_parser("rob-plot", help="risk-of-bias traffic-light or summary plot")
    rb.add_argument("path", help="studies folder")
    rb.add_argument("--summary", action="store_true", help="the weighted summary bar plot")
    rb.add_argument("--weighted", action="store_true",
                    help="summary weighted by the random-effects weights of --outcome")
    rb.add_argument("--outcome", default=None,
                    help="outcome whose RoB 2 assessments are drawn (its endpoint's; default: "
                         "mortality) and whose weights --weighted uses")
    rb.add_argument("--palette", choices=("cochrane", "colourblind"), default="cochrane",
                    help="robvis's colours: cochrane (its default) or colourblind")
    rb.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")

    for name, what in (("leave-one-out", "the pooled result without each study in turn"),
                       ("cumulative", "the pooled result as studies accrue by year")):
        sp = sub.add_parser(name, help=what)
        sp.add_argument("path", help="studies folder, or CSV/TSV file")
        _add_pool_options(sp)
        sp.add_argument("-o", "--output", default=None,
                        help="also draw it: .png, .svg or .pdf")
        _add_parameter(sp, "max_rows")

    mr = sub.add_parser("metareg", help="meta-regression on study-level moderators")
    mr.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(mr)
    mr.add_argument("--mods", required=True,
                    help="comma-separated moderators: dose_per_kg, year, control_risk")
    _add_parameter(mr, "permutations")
    mr.add_argument("--format", choices=("text", "json"), default="text")
    mr.add_argument("-o", "--output", default=None, help="bubble plot: .png, .svg or .pdf")

    inf = sub.add_parser("influence", help="influence diagnostics (and a Baujat plot)")
    inf.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(inf)
    inf.add_argument("--format", choices=("text", "json"), default="text")
    inf.add_argument("-o", "--output", default=None, help="Baujat plot: .png, .svg or .pdf")
    _add_parameter(inf, "max_rows")

    bi = sub.add_parser("bias", help="small-study effects: Egger, Peters, Begg, Harbord (OR), "
                        "trim-and-fill")
    bi.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(bi)
    bi.add_argument("--force", action="store_true", help="run the tests below 10 studies")
    bi.add_argument("--format", choices=("text", "json"), default="text")

    pt = sub.add_parser("permutest", help="permutation test of the pooled effect")
    pt.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(pt)
    _add_parameter(pt, "iterations")

    go = sub.add_parser("gosh", help="GOSH: the model fitted to every subset of studies")
    go.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(go)
    _add_parameter(go, "max_subsets")
    _add_parameter(go, "max_rows")
    go.add_argument("-o", "--output", required=True, help="GOSH plot: .png, .svg or .pdf")
    _add_cluster_options(go)

    by = sub.add_parser("bayes", help="Bayesian random-effects meta-analysis: posterior of the "
                        "pooled effect and tau, prediction, P(RR < t)",
                        description="Defaults come from the 'bayes' section of PATH/analysis.yaml "
                        "when there is one; options override them.")
    by.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(by)
    _add_options(by, "bayes")
    by.add_argument("--format", choices=("text", "json"), default="text")
    by.add_argument("-o", "--output", default=None, help="posterior plot: .png, .svg or .pdf")
    by.add_argument("--forest", default=None, help="shrinkage forest plot: .png, .svg or .pdf")
    _add_parameter(by, "max_rows")

    ts = sub.add_parser("tsa", help="trial sequential analysis: Z-curve, monitoring and futility "
                        "boundaries, required information size",
                        description="Defaults come from the 'tsa' section of PATH/analysis.yaml "
                        "when there is one; options override them.")
    ts.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(ts)
    _add_options(ts, "tsa")
    ts.add_argument("--format", choices=("text", "json"), default="text")
    ts.add_argument("-o", "--output", default=None, help="TSA plot: .png, .svg or .pdf")

    sp = sub.add_parser("sparse", help="sparse data: Mantel-Haenszel with and without 0.5, Peto, "
                        "inverse variance, the GLMMs of metafor's rma.glmm and the beta-binomial "
                        "model side by side (odds ratios)")
    sp.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(sp)
    sp.add_argument("--format", choices=("text", "json"), default="text")

    si = sub.add_parser("simulate", help="simulated coverage, error rates, bias and width of "
                        "every method on trials like the evidence's",
                        description="Binomial trials with the evidence's arm sizes and "
                        "control-arm risks, for each true RR and tau, fitted by every method "
                        "under the analysis's zero-cell rule. Defaults come from the "
                        "'simulate' section of PATH/analysis.yaml when there is one.")
    si.add_argument("path", help="studies folder, or CSV/TSV file")
    _add_pool_options(si)
    _add_options(si, "simulate")
    si.add_argument("--replicates", type=int, default=1000,
                    help="replicates per scenario (default 1000)")
    si.add_argument("--seed", type=int, default=20261201, help="random seed (default 20261201)")
    si.add_argument("--chunk", type=int, default=None,
                    help="replicates fitted per task (default 20000, at least 4000); the "
                    "figures depend on the seed and the chunk, not on the workers")
    _add_cluster_options(si)
    si.add_argument("--format", choices=("text", "json"), default="text")
    si.add_argument("-o", "--output", default=None, help="plot: .png, .svg or .pdf")
    si.add_argument("--save", default=None, metavar="JSON",
                    help="also write the result as JSON with the fingerprint of what was "
                    "simulated (the report reads studies/simulation.json)")

    rp = sub.add_parser("report", help="the evidence report (PDF, HTML, summary.json)")
    rp.add_argument("path", help="studies folder (with analysis.yaml)")
    rp.add_argument("-o", "--output", default="reports", help="output folder (default: reports)")
    rp.add_argument("--plan", default=None, help="analysis plan (default: PATH/analysis.yaml)")
    rp.add_argument("--page-size", choices=("A4", "Letter"), default=None,
                    help="page size (default: the plan's)")
    rp.add_argument("--no-pdf", action="store_true", help="write only HTML and summary.json")

    pr = sub.add_parser("prisma", help="the PRISMA 2020 flow diagram from the review's "
                        "screening log (review.yaml, screening.yaml)")
    pr.add_argument("path", nargs="?", default="studies",
                    help="studies folder with review.yaml (default: studies)")
    pr.add_argument("-o", "--output", required=True, help="output file: .png, .svg or .pdf")

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
    ve.add_argument("--allow-skipped", action="store_true",
                    help="exit 0 even when checks could not run (a registry unreachable, or "
                    "--offline without a cached answer)")
    _add_registry_options(ve)

    d = sub.add_parser("diff", help="what a change to the records does to the pooled evidence")
    d.add_argument("ref", nargs="?", default=None,
                   help="git revision to compare with (default: merge base with main)")
    d.add_argument("--dir", default="studies", help="studies folder (default: studies)")
    d.add_argument("--measure", default="RR", help="effect measure (default RR)")
    d.add_argument("--format", choices=("markdown", "json"), default="markdown")

    s = sub.add_parser("schema", help="print the JSON Schema of a trial record (or the "
                       "analysis options)")
    s.add_argument("--markdown", action="store_true", help="print the field reference instead")
    s.add_argument("--plan", action="store_true",
                   help="print the reference of the analysis options (docs/analysis-plan.md)")
    s.add_argument("--review", action="store_true",
                   help="print the JSON Schema of review.yaml (docs/review.schema.json)")
    s.add_argument("--screening", action="store_true",
                   help="print the JSON Schema of screening.yaml (docs/screening.schema.json)")
    return parser


def _plan_layer(args, command: str) -> dict | None:
    """The option values of PATH/analysis.yaml, when PATH is a studies folder with a plan."""
    from pathlib import Path

    path = getattr(args, "path", None)
    plan_file = Path(path) / "analysis.yaml" if path else None
    if plan_file is None or not plan_file.exists():  # a FIFO or device is refused by the reader
        return None
    from metasynth.plan.file import load_plan, plan_layer

    plan = load_plan(plan_file)
    layer = plan_layer(plan)
    if command == "tsa" and plan.tsa is not None:
        layer["outcome"] = plan.tsa.outcome
    if command == "simulate" and plan.simulate is not None:
        layer["outcome"] = plan.simulate.outcome
    return layer


def _spec(args, base: dict | None = None):
    """The one resolution of this run's analysis: table defaults, the plan file (or
    ``base``: a RevMan analysis's settings), then the flags the user typed (``--classic``
    is ``--preset revman5``)."""
    from metasynth.plan.options import BY_NAME, OPTIONS
    from metasynth.plan.resolve import OptionError, resolve

    typed = {o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)}
    if getattr(args, "classic", False):
        typed.setdefault("preset", "revman5")
    try:
        return resolve(base if base is not None else _plan_layer(args, args.command), typed)
    except OptionError as err:
        word, _, rest = str(err).partition(" ")
        if word not in BY_NAME:
            raise UsageError(str(err)) from None
        option = BY_NAME[word]
        raise UsageError(f"{option.flag} ({option.help}) {rest}") from None


def _emit_json(obj) -> None:
    from metasynth.render.json_out import render_json

    sys.stdout.write(render_json(obj))


def _emit(args, obj, text: str | None = None) -> None:
    """The result as JSON (``--format json``) or as its text (default: ``summary()``)."""
    if getattr(args, "format", "text") == "json":
        _emit_json(obj)
    else:
        sys.stdout.write(obj.summary() if text is None else text)


def _data_and_spec(args):
    """What to pool and how: a RevMan file's analysis with RevMan's settings under the
    typed flags (its subgroups as --by), else the path with the plan file's."""
    from metasynth import api
    from metasynth.records.revman import is_revman_file

    if not is_revman_file(args.path):
        if args.analysis:
            raise UsageError("--analysis is for RevMan files (.rm5, RevMan CSV, data package)")
        return args.path, _spec(args)
    try:
        analysis = api.revman_analysis(args.path, args.analysis)
    except DataError as err:
        if "--analysis" in err.message:
            raise UsageError(str(err)) from None
        raise
    base = analysis.spec_options()
    if analysis.subgroups:
        base["by"] = "subgroup"
    return analysis, _spec(args, base)


def _pool(args) -> int:
    from metasynth import api

    data, spec = _data_and_spec(args)
    if spec.by:
        if args.format == "csv":
            raise UsageError("--by gives text or json output, not csv")
        result = api.pool_by(data, spec=spec)
    else:
        result = api.pool(data, spec=spec)
    if args.format == "json":
        _emit_json(result)
    elif args.format == "csv":
        from metasynth.render.text.tabular import render_csv

        sys.stdout.write(render_csv(result))
    else:
        sys.stdout.write(result.summary())
    return 0


def _import(args) -> int:
    from metasynth import api
    from metasynth.records.revman import analysis_csv, index_csv, write_import

    review = api.read_revman(args.path)
    if args.output:
        for path in write_import(review, args.output):
            print(f"wrote {path}", file=sys.stderr)
        return 0
    if args.format == "csv":
        sys.stdout.write(analysis_csv(review.analysis(args.analysis)) if args.analysis
                         else index_csv(review))
        return 0
    from metasynth.render.text.revman import review_text

    sys.stdout.write(review_text(review))
    return 0


def _export(args) -> int:
    from metasynth import api
    from metasynth.render.export import r_script, revman_csv

    data, spec = _data_and_spec(args)
    result = api.pool(data, spec=spec.with_(by=None) if spec.by else spec)
    text = r_script(result) if args.r else revman_csv(result)
    if args.output:
        from metasynth.outputs import write_text

        write_text(args.output, text)  # atomic: a killed run leaves the old file whole
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _check_figure_path(path: str) -> None:
    from metasynth.outputs import check_output

    check_output(path, suffixes=(".png", ".svg", ".pdf"))


#: arguments that name a file or folder a command writes (checked before any work)
OUTPUT_ARGS = ("output", "forest", "save")
#: arguments that name what a command reads (no output may be one of them)
INPUT_ARGS = ("path", "plan", "dir")


def _check_outputs(args) -> None:
    """Every output path of this run, validated before anything is read or computed."""
    from metasynth.outputs import check_output

    inputs = [getattr(args, n, None) for n in INPUT_ARGS]
    written: list = []
    for name in OUTPUT_ARGS:
        value = getattr(args, name, None)
        if value is not None:
            check_output(value, inputs, folder=args.command == "report")
            if any(os.path.abspath(value) == os.path.abspath(w) for w in written):
                raise UsageError(f"output {value!r} is given twice (bayes -o and --forest?); "
                                 "give each figure its own name")
            written.append(value)


def _save_plot(fig, path) -> None:
    from metasynth.render.plots.kit import save_figure

    save_figure(fig, path)
    print(f"wrote {path}", file=sys.stderr)


def _figure_paths(args, *names: str) -> None:
    """Check every figure path before any work is done."""
    for n in names:
        if getattr(args, n, None):
            _check_figure_path(getattr(args, n))


#: what a row of a forest plot costs (measured: 2,000 rows took 15 CPU-s as SVG)
FOREST_COST = "about 8 ms a row"


def _forest(args) -> int:
    from pathlib import Path

    from metasynth import api
    from metasynth.records.select import rob_judgements
    from metasynth.render.plots.forest import forest_plot

    _figure_paths(args, "output")
    data, spec = _data_and_spec(args)
    rob, rob_endpoint = None, None
    if Path(args.path).is_dir():
        data = api.load_studies(args.path)
        if args.rob:  # the assessments made for the outcome shown (RoB 2 is outcome-specific)
            endpoint = _endpoint_of(data, spec.outcome)
            rob, rob_endpoint = rob_judgements(data, endpoint), _endpoint_label(data, endpoint)
    elif args.rob:
        raise UsageError("--rob needs a studies folder (a CSV has no risk-of-bias judgements)")
    result = api.pool_by(data, spec=spec) if spec.by else api.pool(data, spec=spec)
    api.check_rows(result, "a forest plot", args.max_rows, FOREST_COST)
    _save_plot(forest_plot(result, show_common=args.common, rob=rob, rob_endpoint=rob_endpoint),
               args.output)
    return 0


def _funnel(args) -> int:
    from metasynth import api
    from metasynth.render.plots.funnel import funnel_plot

    _figure_paths(args, "output")
    _save_plot(funnel_plot(api.pool(args.path, spec=_spec(args))), args.output)
    return 0


def _endpoint_of(studies, outcome: str | None) -> str:
    """The endpoint an outcome of the registry pools (its RoB 2 assessments are that
    endpoint's)."""
    definition = studies.registry.outcome(outcome or "mortality") if studies.registry else None
    if definition is None:
        raise UsageError(f"unknown outcome '{outcome}'")
    return definition.endpoint


def _endpoint_label(studies, endpoint: str) -> str:
    e = studies.registry.endpoint(endpoint) if studies.registry else None
    return e.label if e else endpoint


def _rob_plot(args) -> int:
    from metasynth import api
    from metasynth.records.select import rob_judgements, study_label
    from metasynth.render.plots.rob import summary_plot, traffic_light_plot

    _figure_paths(args, "output")
    studies = api.load_studies(args.path)
    outcome = args.outcome or "mortality"
    endpoint = _endpoint_of(studies, outcome)
    judgements = rob_judgements(studies, endpoint)
    if not judgements:
        raise MetasynthError(f"{args.path}: no record has a risk-of-bias assessment for "
                             f"'{endpoint}'")
    if args.summary:
        weights = None
        if args.weighted:
            result = api.pool(studies, outcome)
            weights = {s.id: s.weight_random for s in result.included}
            judgements = {k: v for k, v in judgements.items() if k in weights}
        fig = summary_plot(judgements, weights, palette=args.palette,
                           endpoint=_endpoint_label(studies, endpoint))
    else:
        labels = {s.study.id: study_label(s.study) for s in studies.studies}
        fig = traffic_light_plot(judgements, labels, palette=args.palette,
                                 endpoint=_endpoint_label(studies, endpoint))
    _save_plot(fig, args.output)
    return 0


def _subsets(args) -> int:
    from metasynth import api
    from metasynth.render.text.robustness import subsets_text

    _figure_paths(args, "output")
    overall = api.pool(args.path, spec=_spec(args))
    run = api.leave_one_out if args.command == "leave-one-out" else api.cumulative
    analysis = run(overall, max_rows=args.max_rows)
    sys.stdout.write(subsets_text(analysis, overall))
    if args.output:
        from metasynth.render.plots.subset_forest import subset_forest_plot

        _save_plot(subset_forest_plot(analysis, overall), args.output)
    return 0


def _metareg(args) -> int:
    from metasynth import api
    from metasynth.render.text.robustness import metaregression_text

    _figure_paths(args, "output")
    mods = [m.strip() for m in args.mods.split(",") if m.strip()]
    if not mods:
        raise UsageError("--mods needs at least one moderator (dose_per_kg, year, control_risk)")
    result = api.pool(args.path, spec=_spec(args))
    try:
        reg = api.metaregression(result, mods, permutations=args.permutations)
    except ValueError as err:
        raise MetasynthError(str(err)) from None
    _emit(args, reg, metaregression_text(reg))
    if args.output:
        from metasynth.render.plots.robustness import bubble_plot

        _save_plot(bubble_plot(reg, result.measure), args.output)
    return 0


def _influence(args) -> int:
    from metasynth import api
    from metasynth.render.text.robustness import influence_text

    _figure_paths(args, "output")
    try:
        inf = api.influence(args.path, spec=_spec(args), max_rows=args.max_rows)
    except ValueError as err:
        raise MetasynthError(str(err)) from None
    _emit(args, inf, influence_text(inf))
    if args.output:
        from metasynth.render.plots.robustness import baujat_plot

        _save_plot(baujat_plot(inf), args.output)
    return 0


def _bias(args) -> int:
    from metasynth import api
    from metasynth.render.text.robustness import small_study_text

    results = api.small_study_tests(args.path, spec=_spec(args), force=args.force)
    if args.format == "json":
        _emit_json({k: (v if isinstance(v, str) else v.to_dict()) for k, v in results.items()})
    else:
        sys.stdout.write(small_study_text(results))
    return 0


def _permutest(args) -> int:
    from metasynth import api
    from metasynth.render.text.robustness import permutation_text

    r = api.permutation_test(args.path, spec=_spec(args), iterations=args.iterations)
    sys.stdout.write(permutation_text(r))
    return 0


def _gosh(args) -> int:
    from metasynth import api
    from metasynth.render.plots.robustness import gosh_plot
    from metasynth.render.text.robustness import gosh_text

    _figure_paths(args, "output")

    _check_cluster(args)
    result = api.pool(args.path, spec=_spec(args))
    try:
        g = api.gosh(result, max_subsets=args.max_subsets, progress=_progress_bar("subsets"),
                     workers=args.workers, scheduler=args.scheduler, max_rows=args.max_rows)
    except ImportError as err:
        raise UsageError(str(err)) from None
    print(gosh_text(g), file=sys.stderr)
    _save_plot(gosh_plot(g, result.measure), args.output)
    return 0


def _bayes(args) -> int:
    from metasynth import api

    _figure_paths(args, "output", "forest")
    try:
        typed = {"tau_scale": args.tau_scale} if hasattr(args, "tau_scale") else {}
        result = api.bayes(args.path, spec=_spec(args), **typed)
    except ValueError as err:
        raise UsageError(str(err)) from None
    _emit(args, result)
    if args.output:
        from metasynth.render.plots.bayes_tsa import posterior_plot

        _save_plot(posterior_plot(result), args.output)
    if args.forest:
        from metasynth.render.plots.bayes_tsa import shrinkage_forest

        api.check_rows(result.k, "a shrinkage forest plot", args.max_rows, FOREST_COST)
        _save_plot(shrinkage_forest(result), args.forest)
    return 0


def _tsa(args) -> int:
    from metasynth import api

    _figure_paths(args, "output")
    try:
        result = api.tsa(args.path, spec=_spec(args))
    except ValueError as err:
        raise UsageError(str(err)) from None
    _emit(args, result)
    if args.output:
        from metasynth.render.plots.bayes_tsa import tsa_plot

        _save_plot(tsa_plot(result), args.output)
    return 0


def _sparse(args) -> int:
    from metasynth import api

    result = api.sparse(args.path, spec=_spec(args))
    if args.format == "json":
        from metasynth.render.json_out import sparse_json

        _emit_json(sparse_json(result))
    else:
        sys.stdout.write(result.summary())
    return 0


def _progress_bar(what: str):
    """A progress bar on a terminal; nothing in CI or when stderr is redirected."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        return None

    def progress(done, total):
        bar = int(30 * done / total)
        print(f"\r[{'#' * bar}{'.' * (30 - bar)}] {done}/{total} {what}", end="",
              file=sys.stderr, flush=True)
        if done == total:
            print(file=sys.stderr)

    return progress


def _check_cluster(args) -> None:
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, got {args.workers}")
    if args.workers is not None and args.scheduler:
        raise UsageError("--workers starts a local cluster, --scheduler uses a running one: "
                         "give one of them")


def _add_cluster_options(p) -> None:
    p.add_argument("--workers", type=int, default=None,
                   help="fit the chunks on a local Dask cluster of N worker processes "
                   "(needs metasynth[distributed])")
    p.add_argument("--scheduler", default=None,
                   help="fit the chunks on a running Dask scheduler (tcp://host:8786)")


def _simulate(args) -> int:
    from metasynth import api

    _figure_paths(args, "output")
    if args.replicates < 1:
        raise UsageError(f"--replicates must be at least 1, got {args.replicates}")
    if args.chunk is not None and args.chunk < 1:
        raise UsageError(f"--chunk must be at least 1, got {args.chunk}")
    _check_cluster(args)
    try:
        result = api.simulate(args.path, spec=_spec(args), replicates=args.replicates,
                              seed=args.seed, chunk=args.chunk, workers=args.workers,
                              scheduler=args.scheduler, progress=_progress_bar("chunks"))
    except ImportError as err:
        raise UsageError(str(err)) from None
    _emit(args, result)
    if args.save:
        from metasynth.outputs import write_text
        from metasynth.render.json_out import render_json

        write_text(args.save, render_json(result))  # atomic: a killed run keeps the old file
        print(f"wrote {args.save}", file=sys.stderr)
    print(f"simulated {result.replicates * len(result.scenarios)} meta-analyses x "
          f"{len(result.methods)} methods in {result.seconds:.1f} s ({result.workers})",
          file=sys.stderr)
    if args.output:
        from metasynth.render.plots.simulate import simulation_plot

        _save_plot(simulation_plot(result), args.output)
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


def _prisma(args) -> int:
    from metasynth.records.load import load_studies
    from metasynth.records.review import REVIEW_FILE, flow_counts, load_frame
    from metasynth.render.plots.prisma import prisma_plot

    _figure_paths(args, "output")
    frame = load_frame(args.path)
    if frame is None:
        raise DataError(f"no {REVIEW_FILE} (the review's frame and screening log)", args.path)
    _save_plot(prisma_plot(flow_counts(frame, load_studies(args.path))), args.output)
    return 0


def _validate(args) -> int:
    from metasynth.plan.check import plan_findings
    from metasynth.records.load import validate_studies
    from metasynth.records.review import frame_findings

    studies = validate_studies(args.path)
    frame = frame_findings(args.path)  # review.yaml and its screening log, when present
    frame += plan_findings(args.path, studies.registry)  # analysis.yaml, when present
    for f in (*studies.findings, *frame):
        print(f, file=sys.stderr)
    n_err, n_warn = len(studies.errors) + len(frame), len(studies.warnings)
    failed = n_err > 0 or (args.strict and n_warn > 0)
    print(f"{len(studies)} valid record(s); {n_err} error(s), {n_warn} warning(s)"
          + (": FAILED" if failed else ": OK"), file=sys.stderr)
    return 1 if failed else 0


def _schema(args) -> int:
    if args.review or args.screening:
        from metasynth.records.docs import review_json_schema

        sys.stdout.write(review_json_schema("review" if args.review else "screening"))
        return 0
    if args.plan:
        from metasynth.plan.docs import markdown_reference as plan_reference

        sys.stdout.write(plan_reference())
        return 0
    from metasynth.records.docs import json_schema, markdown_reference

    sys.stdout.write(markdown_reference() if args.markdown else json_schema())
    return 0


def _new(args) -> int:
    from metasynth.records.template import new_record

    text = None
    if args.nct or args.doi or args.pmid:
        from metasynth.registries.client import Unreachable
        from metasynth.registries.draft import scaffold_record

        try:
            with _client(args) as client:  # closed: no thread or socket outlives the command
                text = scaffold_record(args.id, client, nct=args.nct, doi=args.doi,
                                       pmid=args.pmid)
        except Unreachable as err:
            raise MetasynthError(f"{err}; the registry cannot be reached: run 'metasynth new "
                                 f"{args.id}' for a blank record to fill from the paper") from None
    path = new_record(args.id, args.dir, text=text)
    print(f"wrote {path}: fill it from the trial's publication, then run "
          f"'metasynth validate {args.dir}'", file=sys.stderr)
    return 0


def _verify(args) -> int:
    from metasynth.records.load import load_studies
    from metasynth.registries.verify import verify_studies
    from metasynth.render.text.verify import render_checks

    studies = load_studies(args.path)
    with _client(args) as client:  # closed: no thread or socket outlives the command
        checks = verify_studies(studies, client)
    if args.format == "json":
        _emit_json([c.to_dict() for c in checks])
    else:
        sys.stdout.write(render_checks(checks))
    if any(c.status == "error" for c in checks):
        return 1
    # a check that could not run is not a pass: a CI gate on verify must not go green
    # with every registry down
    return 1 if not args.allow_skipped and any(not c.ran for c in checks) else 0


def _diff(args) -> int:
    from metasynth.diff import diff_evidence
    from metasynth.plan.resolve import OptionError, resolve

    try:
        spec = resolve({"measure": args.measure})
    except OptionError as err:
        raise UsageError(f"--measure: {err}") from None
    diff = diff_evidence(args.dir, args.ref, spec)
    if args.format == "json":
        _emit_json(diff)
    else:
        from metasynth.render.text.diff import render_diff

        sys.stdout.write(render_diff(diff))
    return 1 if diff.after_errors else 0


COMMANDS = {"pool": _pool, "import": _import, "export": _export, "forest": _forest,
            "funnel": _funnel, "rob-plot": _rob_plot,
            "leave-one-out": _subsets, "cumulative": _subsets, "metareg": _metareg,
            "influence": _influence, "bias": _bias, "permutest": _permutest, "gosh": _gosh,
            "bayes": _bayes, "tsa": _tsa, "sparse": _sparse, "simulate": _simulate,
            "report": _report, "prisma": _prisma,
            "validate": _validate,
            "new": _new, "verify": _verify, "diff": _diff, "schema": _schema}


def _one_blas_thread() -> None:
    """One BLAS thread for this process unless the user chose otherwise
    (``OMP_NUM_THREADS``, which OpenBLAS, MKL and BLIS read when numpy loads them: set by
    ``run``, before the process has imported numpy). Our matrices are at most a few hundred rows: a
    second thread never shortens a fit, but OpenBLAS's workers spin after each call
    while they wait for the next. With numpy's OpenBLAS at 2 threads (2 cores) the shipped
    report took 10.78 CPU-s, at 1 thread 10.49 (medians of 6 cold runs, interleaved,
    4 Dec 2026), with the same bytes in every output."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return 2
    from metasynth.outputs import Terminated, signals_unwind

    try:
        from metasynth.environment import check_environment

        check_environment()
        _check_parameters(args)
        _check_outputs(args)
        with signals_unwind(), warnings.catch_warnings():
            if not os.environ.get("METASYNTH_DEBUG"):
                # numpy's and scipy's floating-point warnings (a log of 0 in a masked
                # cell, an optimiser's step) are not messages for users: results carry
                # their own notes
                warnings.simplefilter("ignore", RuntimeWarning)
            return COMMANDS[args.command](args)
    except MetasynthError as err:
        from metasynth.records.load import ValidationFailed

        if isinstance(err, ValidationFailed):
            for f in err.findings:
                if f.level == "error":
                    print(f, file=sys.stderr)
            print("metasynth: records are invalid; run 'metasynth validate' for details",
                  file=sys.stderr)
        elif isinstance(err, UsageError):
            print(f"metasynth: usage error: {err} (see --help)", file=sys.stderr)
        else:
            print(f"{err}" if ":" in str(err).split(" ")[0] else f"metasynth: error: {err}",
                  file=sys.stderr)
        return err.exit_code
    except Terminated as err:
        return 128 + err.signum
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


def run() -> None:
    """The process's entry point (the ``metasynth`` script, ``python -m metasynth``):
    ``main``, then the exit without the interpreter's teardown.

    At exit CPython frees every object one by one: for ``metasynth report`` that is the
    fits, the figures and WeasyPrint's boxes and Pango layouts, 0.57 of 10.3 CPU-s
    (4 Dec 2026: 10.30 against 9.73 CPU-s with ``os._exit``, two builds each), memory
    the system takes back at once. So once ``main`` has returned, the output streams are
    flushed, the ``atexit`` handlers run (logging's flush, ``tempfile``'s clean-up) and
    the process ends with ``os._exit``, as mypy does (``mypy.util.hard_exit``). While
    another thread still runs, the exit is the usual one, which waits for it. Before
    ``main``: one BLAS thread for the process (``_one_blas_thread``)."""
    import threading

    _one_blas_thread()
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away; a closed stream
            pass
    os._exit(code)
