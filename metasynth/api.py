"""The library API: ``pool`` runs records -> effects -> models in one call.

Each step is also public on its own (``load_studies``, ``select_outcome``,
``effect_sizes``, ``pool_effects``) for users who want to stop in between.
"""

from __future__ import annotations

from pathlib import Path

from metasynth.effects.binary import EffectSizes, ZeroCellRule, effect_sizes
from metasynth.errors import DataError
from metasynth.models.options import PoolOptions
from metasynth.models.pool import pool_effects
from metasynth.models.results import PoolResult
from metasynth.models.robustness import refits as subsets
from metasynth.models.robustness.refits import SubsetAnalysis
from metasynth.models.subgroups import SubgroupResult, pool_subgroups
from metasynth.records.load import StudySet, load_studies
from metasynth.records.select import select_outcome
from metasynth.records.table import StudyRow, StudyTable, publication_order, read_table

DEFAULT_OUTCOME = "mortality"


def study_table(data, outcome: str | None = None, alternative: bool = False) -> StudyTable:
    """Coerce ``data`` to a StudyTable.

    ``data`` may be a studies folder (path), a CSV/TSV file (path), a ``StudySet``,
    a ``StudyTable``, or a pandas DataFrame with the CSV columns.
    """
    if isinstance(data, StudyTable):
        return data
    if isinstance(data, StudySet):
        return select_outcome(data, outcome or DEFAULT_OUTCOME, alternative)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.is_dir():
            return select_outcome(load_studies(path), outcome or DEFAULT_OUTCOME, alternative)
        if path.is_file():
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


def make_options(*, measure: str = "RR", tau2: str = "REML", ci: str = "hksj", pi: str = "hts",
                 common: str = "MH", classic: bool = False, mh_correction: bool | None = None,
                 zero_cells: ZeroCellRule | None = None, level: float = 0.95) -> PoolOptions:
    """PoolOptions from the keyword arguments that ``pool`` and the CLI share."""
    if classic:
        options = PoolOptions.classic_revman5(measure.upper(), common)
    else:
        options = PoolOptions(measure=measure.upper(), tau2_method=tau2.upper(),
                              ci_method=ci.lower(), pi_method=pi.lower(),
                              common_method=common, level=level)
    changes = {}
    if mh_correction is not None:
        changes["mh_correction"] = mh_correction
    if zero_cells is not None:
        changes["zero_cells"] = zero_cells
    return options.with_(**changes) if changes else options


def _effects(data, outcome, options, alternative) -> EffectSizes:
    table = study_table(data, outcome, alternative)
    return effect_sizes(table, options.measure, options.zero_cells)


def pool(data, outcome: str | None = None, *, options: PoolOptions | None = None,
         alternative: bool = False, **settings) -> PoolResult:
    """Pool ``data`` (see ``study_table``) for ``outcome`` and return a ``PoolResult``.

    ``settings`` are those of ``make_options``: ``measure`` (RR, OR, RD), ``tau2``
    (REML, DL, PM, ML, HE, SJ, EB), ``ci`` (hksj, hksj-adhoc, wald), ``pi`` (hts,
    metafor), ``common`` (MH, IV, Peto), ``classic`` (the RevMan 5 analysis:
    DerSimonian-Laird, Wald CI, Mantel-Haenszel with 0.5 added to zero-cell studies),
    ``mh_correction``, ``zero_cells``, ``level``. ``alternative=True`` uses, where
    sources conflict, the first alternative value a record lists (sensitivity analysis).
    """
    options = options or make_options(**settings)
    return pool_effects(_effects(data, outcome, options, alternative), options)


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


def pool_by(data, by: str, outcome: str | None = None, *, options: PoolOptions | None = None,
            alternative: bool = False, **settings) -> SubgroupResult:
    """Subgroup analysis: ``pool`` within each value of ``by`` and the test for
    subgroup differences."""
    options = options or make_options(**settings)
    effects = _effects(data, outcome, options, alternative)
    return pool_subgroups(effects, subgroup_labels(effects.table, by), by, options)


def leave_one_out(data, outcome: str | None = None, *, options: PoolOptions | None = None,
                  **settings) -> SubsetAnalysis:
    """The pooled result without each study in turn (metafor ``leave1out``)."""
    options = options or make_options(**settings)
    return subsets.leave_one_out(_effects(data, outcome, options, False), options)


def cumulative(data, outcome: str | None = None, *, options: PoolOptions | None = None,
               **settings) -> SubsetAnalysis:
    """The pooled result as studies accrue by year (metafor ``cumul``)."""
    options = options or make_options(**settings)
    return subsets.cumulative(_effects(data, outcome, options, False), options)


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


def metaregression(data, moderators: list[str], outcome: str | None = None, *,
                   options: PoolOptions | None = None, permutations: int = 1000, **settings):
    """Mixed-effects meta-regression on study-level moderators (see models.metaregression)."""
    from metasynth.models.robustness.metaregression import fit_metaregression

    options = options or make_options(**settings)
    effects = _effects(data, outcome, options, False)
    columns = {m: moderator_values(effects.table, m) for m in moderators}
    return fit_metaregression(effects, columns, options, permutations=permutations)


def influence(data, outcome: str | None = None, *, options: PoolOptions | None = None,
              **settings):
    """Influence diagnostics and Baujat coordinates (metafor ``influence``, ``baujat``)."""
    from metasynth.models.robustness.influence import influence as run

    options = options or make_options(**settings)
    return run(_effects(data, outcome, options, False), options)


def small_study_tests(data, outcome: str | None = None, *, options: PoolOptions | None = None,
                      force: bool = False, **settings) -> dict:
    """Egger, Peters-type, Begg (and Harbord for OR) tests and trim-and-fill (L0, R0);
    each entry is a result or the reason it was not run (fewer than 10 studies)."""
    from metasynth.models.robustness import small_study as ss

    options = options or make_options(**settings)
    effects = _effects(data, outcome, options, False)
    runs = {"egger": lambda: ss.egger(effects, options, force=force),
            "egger_lm": lambda: ss.egger(effects, options, model="lm", force=force),
            "peters": lambda: ss.egger(effects, options, model="lm", predictor="ninv", force=force),
            "begg": lambda: ss.begg(effects, force=force),
            "trimfill_L0": lambda: ss.trim_and_fill(effects, options, "L0", force=force),
            "trimfill_R0": lambda: ss.trim_and_fill(effects, options, "R0", force=force)}
    if options.measure == "OR":
        runs["harbord"] = lambda: ss.harbord(effects, force=force)
    out = {}
    for name, fn in runs.items():
        try:
            out[name] = fn()
        except ss.TooFewStudies as err:
            out[name] = str(err)
    return out


def permutation_test(data, outcome: str | None = None, *, options: PoolOptions | None = None,
                     iterations: int = 10_000, **settings):
    from metasynth.models.robustness.permutation import permutation_test as run

    options = options or make_options(**settings)
    return run(_effects(data, outcome, options, False), options, iterations=iterations)


def gosh(data, outcome: str | None = None, *, options: PoolOptions | None = None,
         max_subsets: int = 2**20, progress=None, **settings):
    from metasynth.models.robustness.gosh import gosh as run

    options = options or make_options(**settings)
    return run(_effects(data, outcome, options, False), options, max_subsets=max_subsets,
               progress=progress)


def _ordered_included(effects: EffectSizes) -> list[int]:
    """Indices of the included studies in order of publication; an error if there are none."""
    idx = [i for i, inc in enumerate(effects.included) if inc]
    if not idx:
        raise DataError("no study with usable counts for this outcome", effects.table.source)
    rows = effects.table.rows
    return [idx[j] for j in publication_order([rows[i] for i in idx])]


RR_THRESHOLDS = (1.0, 0.9, 0.8)


def bayes(data, outcome: str | None = None, *, tau_prior=None, mu_prior=None,
          options: PoolOptions | None = None, thresholds=RR_THRESHOLDS, shrinkage: bool = True,
          **settings):
    """Bayesian random-effects meta-analysis (see ``models.bayes``): posterior of the pooled
    effect, of tau, of a new trial's effect and of each trial's effect (shrinkage), with
    P(ratio < t) for each threshold t on the ratio scale (RR/OR) or the difference scale (RD).
    ``tau_prior`` defaults to half-normal(0.5); ``mu_prior`` is None (flat) or (mean, sd)."""
    import math

    from metasynth.models.bayes.normal_normal import bayes_meta

    options = options or make_options(**settings)
    effects = _effects(data, outcome, options, False)
    idx = _ordered_included(effects)
    ratio = options.measure in ("RR", "OR")
    probs = {f"P({options.measure} < {t:g})": (math.log(t) if ratio else t) for t in thresholds}
    return bayes_meta(effects.yi[idx], effects.vi[idx], tau_prior=tau_prior, mu_prior=mu_prior,
                      labels=[effects.table.rows[i].label for i in idx], thresholds=probs,
                      shrinkage=shrinkage)


def tsa(data, outcome: str | None = None, *, plan=None, options: PoolOptions | None = None,
        **settings):
    """Trial sequential analysis (see ``models.tsa``) of a risk-ratio outcome; ``plan`` is a
    ``TSAPlan`` (control risk, relative risk reduction, alpha, beta, D²)."""
    from metasynth.models.sequential.tsa import trial_sequential_analysis

    options = options or make_options(**settings)
    if options.measure != "RR":
        raise DataError("trial sequential analysis is implemented for risk ratios (measure RR)")
    effects = _effects(data, outcome, options, False)
    idx = _ordered_included(effects)
    rows = effects.table.rows
    return trial_sequential_analysis(
        effects.yi[idx], effects.vi[idx],
        [rows[i].treatment_total + rows[i].control_total for i in idx],
        [rows[i].label for i in idx], [rows[i].year for i in idx], plan)
