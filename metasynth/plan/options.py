"""The one table of analysis options, and the named presets.

Each ``Option`` is defined here once: its default, its allowed values (each with the
method's published name and reference), its label, its help text and its range. The
CLI flags (``cli.py``), the ``studies/analysis.yaml`` schema (``plan.file``) and its
generated docs (``plan.docs``), the API keyword arguments (``plan.resolve``) and the
report's methods paragraph (``render.text.methods``) are all derived from ``OPTIONS``;
changing a default is an edit to one line below.

Presets are named bundles of option values, as R meta's ``settings.meta("revman5")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Choice:
    """One allowed value: ``name`` as methods papers print it, ``method`` the words of a
    methods section, with the reference."""

    value: str
    name: str
    method: str


@dataclass(frozen=True)
class Option:
    """One option. ``name`` is the spec attribute, the API keyword and the plan key;
    the CLI flag is ``--name`` with dashes (plus ``aliases``). ``section`` is the plan
    section it lives in (``None``: the top level). ``kind`` is ``str``, ``float``,
    ``bool``, ``int`` or ``"floats"`` (a list). ``low``/``high`` bound numbers
    (``low_open``/``high_open`` make the bound strict); ``nullable`` admits none."""

    name: str
    section: str | None
    kind: Any
    default: Any
    label: str
    help: str
    choices: tuple[Choice, ...] = ()
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False
    aliases: tuple[str, ...] = ()
    commands: tuple[str, ...] = ("analysis",)  # which CLI groups show it
    reference: str = ""
    in_plan: bool = True  # False: a per-run choice (outcome, subgroups), not a plan key

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    def choice(self, value: str) -> Choice:
        return next(c for c in self.choices if c.value == value)

    def range_text(self) -> str:
        if self.low is None and self.high is None:
            return ""
        def num(x) -> str:
            return f"{int(x)}" if self.kind is int else f"{x:g}"

        lo = "" if self.low is None else f"{num(self.low)} {'<' if self.low_open else '≤'} "
        hi = "" if self.high is None else f" {'<' if self.high_open else '≤'} {num(self.high)}"
        return f"{lo}x{hi}"


OUTCOME = Option(
    "outcome", None, str, "mortality", "Outcome", "outcome id from the outcome registry "
    "(studies/outcomes.yaml; records only)", in_plan=False)

PRESET = Option(
    "preset", "model", str, "metasynth", "Preset", "a named set of model options",
    choices=(Choice("metasynth", "metasynth", "metasynth's defaults"),
             Choice("revman5", "RevMan 5", "the RevMan 5 analysis"),
             Choice("revman-web", "RevMan Web", "the RevMan Web analysis")))

BY = Option(
    "by", None, str, None, "Subgroup variable", "subgroup analysis by a record field "
    "(tissue_source, product_type, ...) or 'subgroup' (a CSV column)", nullable=True,
    in_plan=False)

ALTERNATIVE = Option(
    "alternative", None, bool, False, "Alternative values",
    "use the alternative value where sources conflict (sensitivity analysis)", in_plan=False)

def value_text(value) -> str:
    """An option value as it is written in analysis.yaml and on the command line."""
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


MEASURE = Option(
    "measure", "model", str, "RR", "Effect measure",
    "effect measure: RR, OR, RD of 2x2 counts; MD, SMD, ROM of per-arm means and SDs; HR "
    "of O - E and V; any of them of reported estimates with a CI or p-value. For records, "
    "the measure of binary outcomes (continuous ones take `continuous_measure`)",
    choices=(Choice("RR", "risk ratio", "the risk ratio (RR)"),
             Choice("OR", "odds ratio", "the odds ratio (OR)"),
             Choice("RD", "risk difference", "the risk difference (RD)"),
             Choice("MD", "mean difference", "the mean difference (MD)"),
             Choice("SMD", "standardized mean difference",
                    "the standardized mean difference as Hedges' g (Hedges 1981, J Educ Stat "
                    "6:107; its correction and variance: the smd option)"),
             Choice("ROM", "ratio of means", "the ratio of means on the log scale (Hedges, "
                    "Gurevitch & Curtis 1999, Ecology 80:1150)"),
             Choice("HR", "hazard ratio", "the hazard ratio, from O - E and V by Peto's method "
                    "(Yusuf et al. 1985) or from the reported estimate")),
    reference="Cochrane Handbook 6.3-6.5")

CONTINUOUS_MEASURE = Option(
    "continuous_measure", "model", str, "MD", "Effect measure of continuous outcomes",
    "effect measure of the outcomes the outcome registry types continuous (studies/"
    "outcomes.yaml); `measure` is that of binary outcomes. A `--measure` that is itself "
    "continuous (MD, SMD, ROM) applies to continuous data as given",
    choices=(Choice("MD", "mean difference", "the mean difference (MD), in the outcome's "
                    "units"),
             Choice("SMD", "standardized mean difference",
                    "the standardized mean difference as Hedges' g with the exact "
                    "small-sample correction (Hedges 1981, J Educ Stat 6:107)"),
             Choice("ROM", "ratio of means", "the ratio of means on the log scale (Hedges, "
                    "Gurevitch & Curtis 1999, Ecology 80:1150)")),
    reference="Cochrane Handbook 6.5.1")

MEDIAN_TO_MEAN = Option(
    "median_to_mean", "model", str, "luo-shi", "Means and SDs from medians",
    "how an arm reported only as a median with its IQR and/or range enters a continuous "
    "analysis; none: such a trial is not pooled",
    choices=(Choice("luo-shi", "Luo/Shi", "the mean by Luo et al. (2018, Stat Methods Med "
                    "Res 27:1785) and the SD by Shi et al. (2020, Res Synth Methods 11:641) "
                    "from the five-number summary, by Wan et al. (2014, BMC Med Res Methodol "
                    "14:135) from the IQR or the range alone, as R meta's metacont("
                    "method.mean = \"Luo\", method.sd = \"Shi\")"),
             Choice("wan", "Wan", "the mean and SD by Wan et al. (2014, BMC Med Res "
                    "Methodol 14:135)"),
             Choice("mcgrath", "quantile estimation", "the mean and SD by quantile "
                    "estimation (McGrath et al. 2020, Stat Methods Med Res 29:2520)"),
             Choice("none", "none", "not converted: an arm without a mean and SD is not "
                    "pooled")),
    reference="Cochrane Handbook 6.5.2.5 (the methods it names); Luo 2018 and Shi 2020 "
              "improve on Wan 2014 for the mean and for the SD from the five-number summary")

SMD = Option(
    "smd", "model", str, "metafor", "Small-sample correction and variance of the SMD",
    "Hedges' g convention: metafor's exact correction and variance, or RevMan's approximations",
    choices=(Choice("metafor", "metafor", "Hedges' g with the exact correction factor "
                    "J = Γ(m/2) / (√(m/2) Γ((m-1)/2)) and the variance 1/n1 + 1/n2 + g²/(2N) "
                    "(metafor escalc, vtype \"LS\"; Hedges 1981)"),
             Choice("revman", "RevMan", "Hedges' g with the approximate correction "
                    "1 - 3/(4N - 9) and the variance N/(n1 n2) + g²/(2(N - 3.94)) (RevMan 5 and "
                    "RevMan Web; Deeks & Higgins, Statistical algorithms in Review Manager 5, "
                    "2010)")),
    reference="Hedges 1981, J Educ Stat 6:107; Deeks & Higgins 2010")

SUBGROUP_SE = Option(
    "subgroup_se", "model", str, "wald", "Standard errors in the test for subgroup differences",
    "standard errors of the subgroup estimates in the test for subgroup differences",
    choices=(Choice("wald", "Wald", "the subgroups' model-based (Wald) standard errors "
                    "(Cochrane Handbook 10.11.3.1; RevMan 5, metafor, R meta)"),
             Choice("ci", "CI method", "the standard errors of the subgroups' CI method, "
                    "the HKSJ ones after HKSJ fits (RevMan Web)")),
    reference="Deeks, Higgins & Altman, Cochrane Handbook 10.11.3.1")

TAU2 = Option(
    "tau2", "model", str, "REML", "Between-study variance (tau²) estimator",
    "between-study variance estimator",
    choices=(Choice("REML", "REML", "restricted maximum likelihood (Viechtbauer 2005)"),
             Choice("DL", "DerSimonian-Laird", "DerSimonian & Laird (1986)"),
             Choice("PM", "Paule-Mandel", "Paule & Mandel (1982)"),
             Choice("ML", "maximum likelihood", "maximum likelihood (Hardy & Thompson 1996)"),
             Choice("HE", "Hedges", "Hedges (1983)"),
             Choice("SJ", "Sidik-Jonkman", "Sidik & Jonkman (2005)"),
             Choice("EB", "empirical Bayes", "empirical Bayes (Morris 1983; Berkey et al. 1995)")),
    reference="Veroniki et al. 2016, Res Synth Methods 7:55")

CI = Option(
    "ci", "model", str, "hksj", "Confidence interval of the random-effects mean",
    "confidence interval for the random-effects mean",
    choices=(Choice("hksj", "HKSJ", "Hartung & Knapp (2001) and Sidik & Jonkman (2002): "
                    "t with k - 1 df and the HKSJ variance"),
             Choice("hksj-adhoc", "HKSJ (ad hoc)", "Hartung-Knapp-Sidik-Jonkman with the ad hoc "
                    "variance correction, never narrower than Wald (Röver, Knapp & Friede 2015)"),
             Choice("wald", "Wald", "a Wald-type interval with normal quantiles")),
    reference="IntHout, Ioannidis & Borm 2014, BMC Med Res Methodol 14:25")

PI = Option(
    "pi", "model", str, "hts", "Prediction interval",
    "prediction interval for the effect in a new trial",
    choices=(Choice("hts", "HTS", "Higgins, Thompson & Spiegelhalter (2009): t with k - 2 df "
                    "and the standard error of the chosen CI method"),
             Choice("metafor", "metafor", "metafor's predict(): z after a Wald fit, t with "
                    "k - 1 df and the HKSJ standard error after an HKSJ fit")),
    reference="Higgins, Thompson & Spiegelhalter 2009, J R Stat Soc A 172:137")

COMMON_METHOD = Option(
    "common_method", "model", str, "MH", "Common-effect method",
    "common-effect (fixed-effect) method",
    choices=(Choice("MH", "Mantel-Haenszel", "Mantel & Haenszel (1959); variances of Greenland "
                    "& Robins (1985) for RR, Robins, Breslow & Greenland (1986) for OR, Sato "
                    "(1989) for RD"),
             Choice("IV", "inverse variance", "inverse-variance weighting"),
             Choice("Peto", "Peto", "Peto's method (Yusuf et al. 1985): the one-step odds ratio of 2x2 "
                    "counts, or the hazard ratio Σ(O - E) / ΣV of log-rank statistics")),
    reference="Mantel-Haenszel and Peto need 2x2 counts (Peto for HR: O - E and V); other "
              "data types are pooled by inverse variance")

HET_Q = Option(
    "het_q", "model", str, "iv", "Estimate that Cochran's Q is taken around",
    "the estimate the heterogeneity Q (Chi²) is computed around; with DerSimonian-Laird, "
    "tau² is computed from that Q",
    choices=(Choice("iv", "inverse variance", "Cochran's Q around the inverse-variance "
                    "common-effect estimate (metafor rma)"),
             Choice("common", "common effect", "Cochran's Q around the estimate of the "
                    "common-effect method, Mantel-Haenszel or Peto (RevMan 5; R meta "
                    "Q.Cochrane; metafor rma.mh and rma.peto QE), and the DerSimonian-Laird "
                    "tau² from it")),
    reference="Deeks & Higgins, Statistical algorithms in Review Manager 5 (2010)")

MH_CORRECTION = Option(
    "mh_correction", "model", bool, False, "Continuity correction inside Mantel-Haenszel",
    "add the continuity correction to zero-cell studies inside Mantel-Haenszel too (RevMan, "
    "R meta); off: raw counts, as metafor's rma.mh")

ADD = Option(
    "add", "model", float, 0.5, "Continuity correction",
    "amount added to each cell of the studies the zero-cell rule selects", low=0.0, high=10.0,
    reference="Cochrane Handbook 10.4.4")

TO = Option(
    "to", "model", str, "only0", "Studies that get the continuity correction",
    "which studies get the continuity correction",
    choices=(Choice("only0", "studies with a zero cell", "in studies with a zero cell"),
             Choice("all", "all studies", "in all studies"),
             Choice("if0all", "all studies if any has a zero cell",
                    "in all studies when any has a zero cell"),
             Choice("none", "none", "in no study")))

KEEP_DOUBLE_ZERO = Option(
    "keep_double_zero", "model", bool, False, "Keep studies without events in either arm",
    "keep studies without events in either arm for RR and OR (they are always kept for RD)")

LEVEL = Option(
    "level", "model", float, 0.95, "Confidence level",
    "confidence level of every interval", low=0.5, high=1.0, low_open=True, high_open=True)

EXPERIMENTAL = Option(
    "experimental", None, str, "MSC", "Experimental arm", "name of the experimental arm")

CONTROL = Option("control", None, str, "Control", "Control arm", "name of the control arm")

BETTER = Option(
    "better", None, str, None, "Direction of benefit",
    "which direction is better (default: the outcome registry's, else lower)",
    choices=(Choice("lower", "lower", "lower values are better"),
             Choice("higher", "higher", "higher values are better")), nullable=True)

TAU_PRIOR = Option(
    "tau_prior", "bayes", str, "half-normal", "Prior for tau", "prior for the heterogeneity tau",
    choices=(Choice("half-normal", "half-normal", "a half-normal prior"),
             Choice("half-cauchy", "half-Cauchy", "a half-Cauchy prior"),
             Choice("turner-mortality", "Turner et al. (2015)",
                    "the log-normal prior for all-cause mortality of Turner et al. (2015)"),
             Choice("uniform", "uniform", "a uniform prior")),
    commands=("bayes",), reference="Röver et al. 2021, Res Synth Methods 12:448")

TAU_SCALE = Option(
    "tau_scale", "bayes", float, 0.5, "Scale of the tau prior",
    "scale of the half-normal or half-Cauchy prior", low=0.0, high=100.0, low_open=True,
    commands=("bayes",))

TURNER_COMPARISON = Option(
    "turner_comparison", "bayes", str, "pharmacological vs. placebo / control",
    "Comparison type of the Turner prior", "comparison type for the turner-mortality prior",
    commands=("bayes",))

MU_PRIOR_SD = Option(
    "mu_prior_sd", "bayes", float, None, "Prior SD of the pooled log effect",
    "sd of a normal(0, sd) prior on the pooled log effect (default: flat)", low=1e-3,
    high=100.0, nullable=True, commands=("bayes",))

THRESHOLDS = Option(
    "thresholds", "bayes", "floats", (1.0, 0.9, 0.8), "Thresholds of the posterior probabilities",
    "comma-separated t for P(effect < t)", low=0.0, high=1e6, low_open=True, commands=("bayes",))

CONTROL_RISK = Option(
    "control_risk", "tsa", float, 0.40, "Anticipated control-arm risk",
    "anticipated control-arm risk", low=0.0, high=1.0, low_open=True, high_open=True,
    commands=("tsa",))

RRR = Option(
    "relative_risk_reduction", "tsa", float, 0.425, "Anticipated relative risk reduction",
    "anticipated relative risk reduction", low=0.0, high=1.0, low_open=True, high_open=True,
    aliases=("--rrr",), commands=("tsa",))

ALPHA = Option(
    "alpha", "tsa", float, 0.05, "Two-sided alpha", "two-sided type I error", low=0.0, high=0.5,
    low_open=True, high_open=True, commands=("tsa",))

BETA = Option(
    "beta", "tsa", float, 0.10, "Beta (1 - power)", "type II error (1 - power)", low=0.0,
    high=0.5, low_open=True, high_open=True, commands=("tsa",))

D2 = Option(
    "d2", "tsa", float, None, "Diversity D²", "diversity D² to assume (default: the observed)",
    low=0.0, high=1.0, high_open=True, nullable=True, commands=("tsa",))

FUTILITY = Option(
    "futility", "tsa", bool, True, "Futility boundaries",
    "draw the beta-spending futility boundaries", commands=("tsa",))

SIMULATE_RR = Option(
    "simulate_rr", "simulate", "floats", (1.0, 0.9, 0.8, 0.7), "True risk ratios simulated",
    "comma-separated true pooled risk ratios of the simulated scenarios", low=0.0,
    low_open=True, high=100.0, aliases=("--rr",), commands=("simulate",),
    reference="IntHout, Ioannidis & Borm 2014, BMC Med Res Methodol 14:25")

SIMULATE_TAU = Option(
    "simulate_tau", "simulate", "floats", (0.0, 0.1, 0.2, 0.4), "Between-trial SDs simulated",
    "comma-separated between-trial standard deviations tau (log RR scale) of the simulated "
    "scenarios", low=0.0, high=10.0, aliases=("--tau",), commands=("simulate",))

CONTROL_RISKS = Option(
    "control_risks", "simulate", str, "observed", "Control-arm risks simulated",
    "control-arm risks of the simulated trials",
    choices=(Choice("observed", "observed", "each trial's observed control-arm risk (0.5 "
                    "added to events and 1 to the total of an arm with no events or only events)"),
             Choice("fitted", "fitted", "drawn for every simulated trial from a normal "
                    "distribution on the logit scale fitted to the observed control-arm risks "
                    "(Smith, Spiegelhalter & Thomas 1995)")),
    commands=("simulate",))

OPTIONS: tuple[Option, ...] = (
    OUTCOME, PRESET, MEASURE, CONTINUOUS_MEASURE, SMD, MEDIAN_TO_MEAN, SUBGROUP_SE, TAU2, CI,
    PI, COMMON_METHOD, HET_Q, MH_CORRECTION, ADD, TO,
    KEEP_DOUBLE_ZERO, LEVEL,
    EXPERIMENTAL, CONTROL, BETTER, BY, ALTERNATIVE,
    TAU_PRIOR, TAU_SCALE, TURNER_COMPARISON, MU_PRIOR_SD, THRESHOLDS,
    CONTROL_RISK, RRR, ALPHA, BETA, D2, FUTILITY,
    SIMULATE_RR, SIMULATE_TAU, CONTROL_RISKS,
)
BY_NAME = {o.name: o for o in OPTIONS}

# Options of one verb, not of the analysis: they are not in the spec or the plan, but
# the CLI flag and the API keyword are checked against the same row (``resolve.parameter``).
ITERATIONS = Option(
    "iterations", None, int, 10_000, "Permutations", "Monte Carlo permutations when k > 16 "
    "(fewer than 10 cannot give a p-value below 0.1)", low=10, high=10_000_000,
    commands=("permutest",), in_plan=False)

PERMUTATIONS = Option(
    "permutations", None, int, 1000, "Permutations",
    "permutations for the permutation p-value of the moderators", low=10, high=1_000_000,
    commands=("metareg",), in_plan=False)

MAX_SUBSETS = Option(
    "max_subsets", None, int, 2**20, "Subsets",
    "sample this many subsets when there are more", low=1, high=2**24, commands=("gosh",),
    in_plan=False)

PARAMETERS: dict[str, Option] = {o.name: o for o in (ITERATIONS, PERMUTATIONS, MAX_SUBSETS)}


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    values: dict
    reference: str


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("metasynth", "metasynth's defaults", {}, ""),
    Preset("revman5", "the RevMan 5 analysis: DerSimonian-Laird tau², Wald CI, Mantel-Haenszel "
           "with the continuity correction in zero-cell studies, Q (Chi²) and tau² around the "
           "Mantel-Haenszel estimate",
           {"tau2": "DL", "ci": "wald", "common_method": "MH", "mh_correction": True,
            "het_q": "common", "smd": "revman"},
           "Deeks & Higgins, Statistical algorithms in Review Manager 5 (2010)"),
    Preset("revman-web", "the RevMan Web analysis: REML tau², HKSJ CI, prediction interval, "
           "Mantel-Haenszel with the continuity correction in zero-cell studies",
           {"tau2": "REML", "ci": "hksj", "pi": "hts", "common_method": "MH",
            "mh_correction": True, "smd": "revman", "subgroup_se": "ci"},
           "Cochrane Statistical Methods Group 2022; RevMan Web since January 2025"),
)}
