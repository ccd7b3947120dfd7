"""The library API: ``pool`` runs records -> effects -> models in one call.

Every function takes its options as keyword arguments named as in the option table
(``plan.options``: ``measure``, ``tau2``, ``ci``, ``pi``, ``common_method``, ``level``,
``preset``, ...) or a resolved ``spec``; defaults come from that table. The verbs
(``leave_one_out``, ``cumulative``, ``influence``, ``small_study_tests``,
``permutation_test``, ``gosh``, ``metaregression``, ``bayes``, ``tsa``, ``pool_by``)
take a fitted ``PoolResult`` and inherit its spec, as metafor's ``leave1out(x)`` reuses
``x$method`` and ``x$level``; given data instead, they pool it first.

Each step is also public on its own (``load_studies``, ``select_outcome``,
``effect_sizes``, ``pool_effects``) for users who want to stop in between.
"""

from __future__ import annotations

from pathlib import Path

import metasynth.render.text  # noqa: F401  (registers the results' summary() printers)
from metasynth.effects.binary import EffectSizes
from metasynth.effects.measures import BINARY, is_ratio
from metasynth.errors import DataError, UsageError
from metasynth.models.pool import pool_table
from metasynth.models.results import PoolResult
from metasynth.models.robustness import refits as subsets
from metasynth.models.robustness.refits import SubsetAnalysis
from metasynth.models.subgroups import SubgroupResult, pool_subgroups
from metasynth.plan.options import OUTCOME, TAU_SCALE
from metasynth.plan.resolve import OptionError, parameter, resolve
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.load import StudySet, load_studies
from metasynth.records.revman import RevManAnalysis, RevManReview, is_revman_file, read_revman
from metasynth.records.select import select_outcome
from metasynth.records.table import StudyRow, StudyTable, publication_order, read_table


def study_table(data, outcome: str | None = None, alternative: bool = False) -> StudyTable:
    """Coerce ``data`` to a StudyTable.

    ``data`` may be a studies folder (path), a CSV/TSV file (path), a ``StudySet``,
    a ``StudyTable``, or a pandas DataFrame with the CSV columns.
    """
    outcome = outcome or OUTCOME.default
    if isinstance(data, StudyTable):
        return data
    if isinstance(data, RevManAnalysis):
        return data.table()
    if isinstance(data, (str, Path)) and is_revman_file(data):
        raise DataError("a RevMan file holds several analyses: read one with "
                        "revman_analysis(path, '1.1')", str(data))
    if isinstance(data, StudySet):
        return select_outcome(data, outcome, alternative)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.is_dir():
            return select_outcome(load_studies(path), outcome, alternative)
        if path.exists():  # the reader refuses what is not a regular file (FIFO, device)
            return read_table(path)
        raise DataError("no such file or folder", str(path))
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a pandas DataFrame
        rows = []
        for rec in data.to_dict("records"):
            rows.append(StudyRow(
                id=str(rec["study"]), label=str(rec["study"]),
                treatment_events=int(rec["treatment_events"]),
                treatment_total=int(rec["treatment_total"]),
                control_events=int(rec["control_events"]),
                control_total=int(rec["control_total"]),
                year=int(rec["year"]) if rec.get("year") == rec.get("year") and "year" in rec else None,
                subgroup=str(rec["subgroup"]) if rec.get("subgroup") is not None else None))
        return StudyTable(rows=tuple(rows), source="DataFrame")
    raise TypeError(f"cannot pool data of type {type(data).__name__}")


def resolve_spec(spec: AnalysisSpec | None = None, **options) -> AnalysisSpec:
    """``spec`` (default: the table's defaults) with ``options`` on top, validated."""
    return resolve(options, base=spec)


def pool(data, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
         **options) -> PoolResult:
    """Pool ``data`` (see ``study_table``) for ``outcome`` and return a ``PoolResult``.

    ``options`` are those of the option table (``plan.options.OPTIONS``), e.g.
    ``measure="OR"``, ``tau2="PM"``, ``ci="hksj-adhoc"``, ``preset="revman5"``,
    ``level=0.9``; ``alternative=True`` uses, where sources conflict, the first
    alternative value a record lists (sensitivity analysis)."""
    if outcome is not None:
        options["outcome"] = outcome
    spec = resolve_spec(spec, **options)
    table = study_table(data, spec.outcome, spec.alternative)
    if table.outcome is not None:  # a registry outcome: its data type picks the measure
        spec = spec.for_data(table.data_type)
    return pool_table(table, spec)


def revman_analysis(path, analysis: str | None = None) -> RevManAnalysis:
    """One analysis ("1.1") of a RevMan file (``.rm5``, RevMan's analysis CSV or a
    Cochrane data package); ``analysis`` may be left out when the file has only one."""
    review: RevManReview = read_revman(path)
    if analysis is None:
        if len(review.analyses) != 1:
            known = ", ".join(a.id for a in review.analyses) or "none"
            raise DataError(f"the file has {len(review.analyses)} analyses; choose one "
                            f"with --analysis (analyses: {known})", str(path))
        return review.analyses[0]
    return review.analysis(analysis)


def pool_revman(analysis: RevManAnalysis, *, spec: AnalysisSpec | None = None,
                **options) -> PoolResult:
    """Pool a RevMan analysis (dichotomous, continuous, generic inverse variance or O - E
    and variance) with RevMan's settings for it (its method, measure and CI level on the
    ``revman5`` preset, and a data package's tau² estimator and CI method: see
    ``RevManAnalysis.spec_options``), ``options`` on top. Subgroups:
    ``pool_by(result, "subgroup")``."""
    spec = spec or resolve(analysis.spec_options(), options)
    return pool_table(analysis.table(), spec)


def fitted(x, outcome: str | None = None, spec: AnalysisSpec | None = None,
           **options) -> PoolResult:
    """``x`` if it is a ``PoolResult`` and no option changes (else refitted to the same
    studies with the changes); otherwise ``pool(x, ...)``."""
    if isinstance(x, PoolResult):
        if outcome is not None:
            options["outcome"] = outcome
        base = spec or x.spec
        new = resolve_spec(base, **options)
        if new == x.spec:
            return x
        return pool_table(x.effects.table, new)
    return pool(x, outcome, spec=spec, **options)


def subgroup_labels(table: StudyTable, by: str) -> list[str | None]:
    """Each row's value of ``by``: a record field (see ``study_attributes``) or the
    CSV's ``subgroup`` column."""
    labels = []
    for row in table.rows:
        if by == "subgroup" and row.subgroup is not None:
            labels.append(row.subgroup)
        elif by in row.attributes:
            value = row.attributes[by]
            labels.append(None if value is None else str(value).lower() if isinstance(value, bool)
                          else str(value))
        else:
            known = ", ".join(sorted(k for k in row.attributes if k != "source_kinds")) or "subgroup"
            raise DataError(f"cannot group by '{by}' (known: {known})", table.source or None)
    return labels


def pool_by(x, by: str | None = None, outcome: str | None = None, *,
            spec: AnalysisSpec | None = None, **options) -> SubgroupResult:
    """Subgroup analysis: ``pool`` within each value of ``by`` (default: the spec's) and
    the test for subgroup differences."""
    result = fitted(x, outcome, spec, **options)
    by = by or result.spec.by
    if not by:
        raise DataError("a subgroup analysis needs a variable to group by (--by)")
    effects = result.effects
    return pool_subgroups(effects, subgroup_labels(effects.table, by), by, result.spec)


def leave_one_out(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
                  glmm: str | None = None, **options) -> SubsetAnalysis:
    """The pooled result without each study in turn (metafor ``leave1out``).

    ``glmm`` ("UM.FS", "UM.RS", "CM.EL", "CM.AL"): the binomial-normal GLMM of the sparse
    table refitted without each trial with 2x2 counts, double-zero trials kept, all k
    refits in one batched optimisation (``models.sparse.glmm.leave_one_out_glmm``); odds
    ratios."""
    result = fitted(x, outcome, spec, **options)
    if glmm is None:
        return subsets.leave_one_out(result.effects, result.spec)
    from dataclasses import replace

    from metasynth.models.sparse.glmm import GLMM_MODELS, leave_one_out_glmm

    if glmm not in GLMM_MODELS:
        raise DataError(f"unknown GLMM {glmm!r}: one of {', '.join(GLMM_MODELS)}")
    rows, (a, n1, c, n2) = _two_by_two(result)
    fits = leave_one_out_glmm(a, n1, c, n2, glmm, result.spec.level)
    return subsets.glmm_subsets(fits, [r.label for r in rows], replace(result.spec, measure="OR"),
                                "leave-one-out", glmm)


def cumulative(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
               **options) -> SubsetAnalysis:
    """The pooled result as studies accrue by year (metafor ``cumul``)."""
    result = fitted(x, outcome, spec, **options)
    return subsets.cumulative(result.effects, result.spec)


MODERATORS = ("dose_per_kg", "year", "control_risk")


def moderator_values(table: StudyTable, name: str) -> list[float | None]:
    """A study-level moderator for meta-regression: a record field (``dose_per_kg``,
    ``year``) or ``control_risk`` (control events / control total)."""
    out = []
    for row in table.rows:
        if name == "control_risk":
            out.append(row.control_events / row.control_total if row.has_counts else None)
        elif name == "year":
            out.append(float(row.year) if row.year is not None else None)
        elif name in row.attributes:
            value = row.attributes[name]
            out.append(float(value) if isinstance(value, (int, float)) and not isinstance(
                value, bool) else None)
        else:
            raise DataError(f"unknown moderator '{name}' (known: {', '.join(MODERATORS)})",
                            table.source or None)
    return out


def metaregression(x, moderators: list[str], outcome: str | None = None, *,
                   spec: AnalysisSpec | None = None, permutations: int = 1000, **options):
    """Mixed-effects meta-regression on study-level moderators (see models.robustness)."""
    from metasynth.models.robustness.metaregression import fit_metaregression

    permutations = parameter("permutations", permutations)
    moderators = [m.strip() for m in moderators if m and m.strip()]
    if not moderators:
        raise OptionError("moderators: name at least one (dose_per_kg, year, control_risk)")
    result = fitted(x, outcome, spec, **options)
    columns = {m: moderator_values(result.effects.table, m) for m in moderators}
    return fit_metaregression(result.effects, columns, result.spec, permutations=permutations)


def influence(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None, **options):
    """Influence diagnostics and Baujat coordinates (metafor ``influence``, ``baujat``)."""
    from metasynth.models.robustness.influence import influence as run

    result = fitted(x, outcome, spec, **options)
    return run(result.effects, result.spec)


def small_study_tests(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
                      force: bool = False, **options) -> dict:
    """Egger, Peters-type (binary measures), Begg (and Harbord for OR) tests and
    trim-and-fill (L0, R0); each entry is a result or the reason it was not run (fewer
    than 10 studies, or a test not defined for the measure)."""
    from metasynth.models.robustness import small_study as ss

    result = fitted(x, outcome, spec, **options)
    effects, spec = result.effects, result.spec
    runs = {"egger": lambda: ss.egger(effects, spec, force=force),
            "egger_lm": lambda: ss.egger(effects, spec, model="lm", force=force),
            "peters": lambda: ss.egger(effects, spec, model="lm", predictor="ninv", force=force),
            "begg": lambda: ss.begg(effects, force=force),
            "trimfill_L0": lambda: ss.trim_and_fill(effects, spec, "L0", force=force),
            "trimfill_R0": lambda: ss.trim_and_fill(effects, spec, "R0", force=force)}
    if spec.measure == "OR":
        runs["harbord"] = lambda: ss.harbord(effects, force=force)
    out = {}
    rows = [r for r, inc in zip(effects.table.rows, effects.included) if inc]
    if spec.measure not in BINARY:
        # Peters et al. (2006, JAMA 295:676) and Harbord et al. (2006, Stat Med 25:3443)
        # are built on 2x2 counts (the log odds ratio's variance and its score test)
        runs.pop("peters")
        out["peters"] = (f"the Peters test is for binary outcomes (log OR or RR on 1/n; "
                         f"Peters et al. 2006), not for {spec.measure}: use Egger's test")
    elif any(r.treatment_total is None or r.control_total is None for r in rows):
        runs.pop("peters")
        out["peters"] = ("the Peters-type test regresses on 1/n, and a study that "
                         "enters with only its reported estimate gives no sample size")
    for name, fn in runs.items():
        try:
            out[name] = fn()
        except ss.TooFewStudies as err:
            out[name] = str(err)
    return out


def permutation_test(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
                     iterations: int = 10_000, **options):
    """Sign-flip permutation test of the pooled effect (metafor ``permutest``)."""
    from metasynth.models.robustness.permutation import permutation_test as run

    iterations = parameter("iterations", iterations)
    result = fitted(x, outcome, spec, **options)
    return run(result.effects, result.spec, iterations=iterations)


def gosh(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
         max_subsets: int = 2**20, progress=None, workers: int | None = None,
         scheduler: str | None = None, client=None, **options):
    """The model fitted to every subset of studies (metafor ``gosh``); ``workers``,
    ``scheduler`` or ``client`` fit the chunks of subsets on Dask (as ``simulate``)."""
    from metasynth.models.parallel import Cluster
    from metasynth.models.robustness.gosh import gosh as run

    max_subsets = parameter("max_subsets", max_subsets)
    result = fitted(x, outcome, spec, **options)
    return run(result.effects, result.spec, max_subsets=max_subsets, progress=progress,
               cluster=Cluster(workers, scheduler, client))


def _ordered_included(effects: EffectSizes) -> list[int]:
    """Indices of the included studies in order of publication; an error if there are none."""
    idx = [i for i, inc in enumerate(effects.included) if inc]
    if not idx:
        raise DataError("no study with usable counts for this outcome", effects.table.source)
    rows = effects.table.rows
    return [idx[j] for j in publication_order([rows[i] for i in idx])]


def tau_prior(spec: AnalysisSpec, kind: str | None = None, scale: float | None = None,
              comparison: str | None = None):
    """The prior for tau that the spec's bayes options (or the arguments) name."""
    from metasynth.models.bayes import normal_normal as bayes

    kind = kind or spec.tau_prior
    scale = scale if scale is not None else spec.tau_scale
    if kind == "half-normal":
        return bayes.half_normal(scale)
    if kind == "half-cauchy":
        return bayes.half_cauchy(scale)
    if kind == "uniform":
        return bayes.uniform_tau()
    if spec.measure not in ("OR", "RR"):
        raise DataError(f"the Turner et al. (2015) priors are for the log odds ratio of binary "
                        f"outcomes, not for {spec.measure}: choose another --tau-prior")
    comparison = comparison or spec.turner_comparison
    if comparison not in bayes.TURNER_ALL_CAUSE_MORTALITY:
        known = "; ".join(bayes.TURNER_ALL_CAUSE_MORTALITY)
        raise DataError(f"unknown Turner comparison {comparison!r} (known: {known})")
    return bayes.turner_mortality(comparison)


def bayes(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None, prior=None,
          shrinkage: bool = True, **options):
    """Bayesian random-effects meta-analysis (see ``models.bayes``) of the studies of a
    pooled result: posterior of the pooled effect, of tau, of a new trial's effect and of
    each trial's effect (shrinkage), with P(effect < t) for the spec's thresholds (ratio
    scale for RR/OR, difference scale for RD). The prior is the spec's (``tau_prior``,
    ``tau_scale``, ``mu_prior_sd``) unless ``prior`` (a ``TauPrior``) is given. For a
    mean difference the half-normal or half-Cauchy scale must be given (``tau_scale``,
    in the outcome's units): the default is for log ratios. The result carries the spec
    and the pooled result's counts."""
    import math
    from dataclasses import replace

    from metasynth.models.bayes.normal_normal import bayes_meta

    result = fitted(x, outcome, spec, **options)
    spec, effects = result.spec, result.effects
    if (spec.measure == "MD" and prior is None and "tau_scale" not in options
            and spec.tau_prior in ("half-normal", "half-cauchy")
            and spec.tau_scale == TAU_SCALE.default):
        # the default scale (0.5) is meant for log ratios (Röver et al. 2021); tau of a
        # mean difference is in the outcome's units, where 0.5 can be anything from vague
        # to dogmatic, so the scale must be chosen in those units
        raise UsageError(f"the {spec.tau_prior} prior's default scale for tau "
                         f"({TAU_SCALE.default:g}) is for log ratios; a mean difference is in "
                         "the outcome's units: give --tau-scale in those units (a plausible "
                         "between-trial SD) or --tau-prior uniform")
    idx = _ordered_included(effects)
    ratio = is_ratio(spec.measure)
    probs = {f"P({spec.measure} < {t:g})": (math.log(t) if ratio else t) for t in spec.thresholds}
    mu_prior = None if spec.mu_prior_sd is None else (0.0, spec.mu_prior_sd)
    fit = bayes_meta(effects.yi[idx], effects.vi[idx], tau_prior=prior or tau_prior(spec),
                     mu_prior=mu_prior, labels=[effects.table.rows[i].label for i in idx],
                     thresholds=probs, shrinkage=shrinkage)
    return replace(fit, spec=spec, counts=result.counts)


def tsa(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None, **options):
    """Trial sequential analysis (see ``models.sequential.tsa``) of a risk-ratio outcome,
    with the spec's anticipated control risk, relative risk reduction, alpha, beta, D²
    and futility option. The result carries the spec and the pooled result's counts."""
    from dataclasses import replace

    from metasynth.models.sequential.tsa import TSAPlan, trial_sequential_analysis

    result = fitted(x, outcome, spec, **options)
    spec, effects = result.spec, result.effects
    if spec.measure != "RR":
        raise DataError(f"trial sequential analysis is implemented for risk ratios (measure "
                        f"RR), not {spec.measure}: its required information size is built "
                        "on a control risk and a relative risk reduction")
    idx = _ordered_included(effects)
    rows = effects.table.rows
    plan = TSAPlan(spec.control_risk, spec.relative_risk_reduction, spec.alpha, spec.beta,
                   spec.d2, "obf", spec.futility)
    fit = trial_sequential_analysis(
        effects.yi[idx], effects.vi[idx],
        [rows[i].treatment_total + rows[i].control_total for i in idx],
        [rows[i].label for i in idx], [rows[i].year for i in idx], plan)
    return replace(fit, spec=spec, counts=result.counts)


def _two_by_two(result: PoolResult):
    """The trials with 2x2 counts and their counts (a, n1, c, n2), for the sparse-data
    models; a one-line error if none has them."""
    table = result.effects.table
    rows = [r for r in table.rows if r.has_counts]
    if not rows:
        raise DataError("no trial reports 2x2 counts for this outcome: the sparse-data "
                        "models need them", table.source or None)
    return rows, tuple([getattr(r, f) for r in rows] for f in
                       ("treatment_events", "treatment_total", "control_events", "control_total"))


def sparse(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
           timings: bool = False, tests_for: tuple[str, ...] | None = None, **options):
    """Every sparse-data method side by side on the trials of a pooled result (see
    ``models.sparse.table``): Mantel-Haenszel with and without the continuity correction,
    Peto, inverse-variance random effects, metafor's four GLMMs (UM.FS, UM.RS, CM.EL,
    CM.AL) and the beta-binomial model (OR and RR). Double-zero trials enter every
    likelihood that can use them. Trials that report only an estimate (no 2x2 counts)
    cannot enter these models and are left out (the result's ``trials`` says how many
    entered). The result carries the spec and the pooled result's counts.
    ``tests_for``: the GLMMs whose heterogeneity tests are computed (default all)."""
    from dataclasses import replace

    from metasynth.models.sparse.glmm import GLMM_MODELS
    from metasynth.models.sparse.table import sparse_table

    result = fitted(x, outcome, spec, **options)
    table = result.effects.table
    rows, (a, n1, c, n2) = _two_by_two(result)
    sub = replace(table, rows=tuple(rows))
    return sparse_table(a, n1, c, n2, labels=[r.label for r in rows], spec=result.spec,
                        table=sub, outcome=table.outcome_label or table.outcome,
                        counts=result.counts, timings=timings,
                        tests_for=GLMM_MODELS if tests_for is None else tests_for)


def simulate(x, outcome: str | None = None, *, spec: AnalysisSpec | None = None,
             replicates: int = 1000, seed: int = 20261201, chunk: int | None = None,
             workers: int | None = None, scheduler: str | None = None, client=None,
             progress=None, **options):
    """Operating characteristics of every method on trials like those of a pooled result
    (see ``models.simulate``): for each true RR (``simulate_rr``) and tau
    (``simulate_tau``) of the spec, ``replicates`` meta-analyses of trials with the same
    arm sizes and control-arm risks (``control_risks``), fitted with MH, IV and every
    tau² estimator with the Wald, HKSJ and HKSJ ad hoc intervals under the spec's
    zero-cell rule, level and prediction interval. ``workers`` (a local Dask cluster),
    ``scheduler`` (an address, ``tcp://host:8786``) or ``client`` (an open
    ``dask.distributed.Client``) fit the chunks of ``chunk`` replicates on Dask; the
    figures are the same to the bit as in-process for the same ``seed`` and ``chunk``."""
    from dataclasses import replace

    from metasynth.models.parallel import Cluster
    from metasynth.models.simulate.run import CHUNK, simulate_design
    from metasynth.models.simulate.scenarios import design_of, scenario_grid

    result = fitted(x, outcome, spec, **options)
    spec = result.spec
    if spec.measure != "RR":
        raise DataError("the simulation generates risk ratios: use it with measure RR")
    table = result.effects.table
    rows = [r for r in table.rows if r.has_counts]
    if not rows:
        raise DataError("no trial reports 2x2 counts for this outcome: the simulation "
                        "reproduces trials' arm sizes and control-arm risks", table.source or None)
    design = design_of(result, spec.control_risks)
    notes = []
    if len(rows) < len(table.rows):
        notes.append(f"{len(table.rows) - len(rows)} trial(s) without 2x2 counts are not "
                     "simulated")
    sim = simulate_design(
        design, spec, scenario_grid(spec.simulate_rr, spec.simulate_tau), replicates, seed,
        chunk=chunk or CHUNK, cluster=Cluster(workers, scheduler, client), progress=progress,
        outcome=table.outcome, outcome_label=table.outcome_label, counts=result.counts,
        notes=tuple(notes))
    return replace(sim, spec=spec)
