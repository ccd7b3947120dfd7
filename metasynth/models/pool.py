"""One pooled analysis from effect sizes: common effect, random effects, heterogeneity.

``pool_effects`` is the single-analysis front of the batch functions in this package:
it stacks the included studies as a batch of one and reads row 0 back into
immutable result objects.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from metasynth.distributions import chi2_sf, norm_quantile, norm_sf2, t_quantile
from metasynth.effects.binary import EffectSizes, escalc
from metasynth.effects.measures import BINARY, back_transform
from metasynth.errors import DataError
from metasynth.models.engine.common_effect import (
    CommonBatch,
    inverse_variance,
    mantel_haenszel,
    peto,
    peto_effects,
)
from metasynth.models.engine.heterogeneity import heterogeneity
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.tau2 import dersimonian_laird
from metasynth.models.engine.weighted import as_batch
from metasynth.models.results import (
    CommonEffect,
    Counts,
    Heterogeneity,
    PoolResult,
    RandomEffects,
    ResultWarning,
    StudyEffect,
)
from metasynth.plan.spec import AnalysisSpec

NO_ZERO_CELL_RULE = "not applicable (no 2x2 counts)"


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _common(effects: EffectSizes, options: AnalysisSpec, y, v, mask) -> tuple[CommonBatch, float, list[str]]:
    """The common-effect fit and the Q around its estimate."""
    notes: list[str] = []
    method = options.common_method
    inc = effects.included
    has_counts = all(s == "counts" for s, i in zip(effects.source, inc) if i)
    if method == "Peto" and effects.measure == "HR":
        # Peto's log HR is Σ(O - E) / ΣV with variance 1 / ΣV: the inverse-variance fit of
        # yi = (O - E) / V, vi = 1 / V (Deeks & Higgins 2010)
        fit = inverse_variance(y, v, mask, options.level)
        if all(s == "o-e/v" for s, i in zip(effects.source, inc) if i):
            fit = replace(fit, method="Peto")
        else:
            notes.append("Peto's method needs O - E and V from every study; some report only "
                         "an estimate, so the common effect uses inverse-variance weights")
        with np.errstate(invalid="ignore"):
            q = float(np.sum(np.where(mask, (y - fit.theta[:, None]) ** 2 / v, 0.0)))
        return fit, q, notes
    if method in ("MH", "Peto") and not has_counts:
        notes.append(f"{method} needs 2x2 counts from every study; some report only an "
                     "estimate, so the common effect uses inverse-variance weights")
        method = "IV"
    if method == "IV":
        fit = inverse_variance(y, v, mask, options.level)
        yq, vq = y, v
    else:
        a, n1, c, n2 = (x[inc][None, :] for x in effects.counts())
        if method == "MH":
            if options.mh_correction:
                _, _, corrected, _ = escalc(effects.measure, a, n1, c, n2, effects.rule)
                inc_ = np.where(corrected, effects.rule.add, 0.0)
                a, c = a + inc_, c + inc_
                n1, n2 = n1 + 2 * inc_, n2 + 2 * inc_
            fit = mantel_haenszel(a, n1, c, n2, mask, effects.measure, options.level)
            yq, vq = y, v
        else:
            fit = peto(a, n1, c, n2, mask, options.level)
            yq, vq = (np.atleast_2d(x) for x in peto_effects(a, n1, c, n2))
            vq = np.where(np.isfinite(vq), vq, 1.0)
            yq = np.where(np.isfinite(yq), yq, 0.0)
    with np.errstate(invalid="ignore"):
        q = float(np.sum(np.where(mask, (yq - fit.theta[:, None]) ** 2 / vq, 0.0)))
    return fit, q, notes


def effects_key(spec: AnalysisSpec) -> tuple:
    """What of ``spec`` the effect sizes depend on, in the order ``spec_effects`` passes
    them: measure, zero-cell rule, median-to-mean conversion and SMD convention. Two specs
    with the same key give the same ``spec_effects`` of a table."""
    return spec.measure, spec.zero_cells, spec.median_to_mean, spec.smd


def spec_effects(table, spec: AnalysisSpec) -> EffectSizes:
    """The effect sizes of ``table`` (a ``StudyTable``) as ``spec`` computes them
    (``effects_key``)."""
    from metasynth.effects.sizes import effect_sizes

    measure, rule, median_to_mean, smd = effects_key(spec)
    return effect_sizes(table, measure, rule, median_to_mean=median_to_mean, smd=smd)


def pool_table(table, spec: AnalysisSpec) -> PoolResult:
    """``table`` (a ``StudyTable``) pooled with ``spec``: ``spec_effects`` then
    ``pool_effects``."""
    return pool_effects(spec_effects(table, spec), spec)


def pool_effects(effects: EffectSizes, options: AnalysisSpec | None = None) -> PoolResult:
    """Pool the included studies of ``effects`` under ``options``."""
    options = options or AnalysisSpec(measure=effects.measure)
    if options.measure != effects.measure:
        raise ValueError(f"effects are {effects.measure} but options ask for {options.measure}")
    table = effects.table
    inc = effects.included
    k = int(inc.sum())
    if k == 0:
        reasons = "; ".join(f"{r.label}: {why}" for r, why in zip(table.rows, effects.reasons))
        raise DataError(f"no study can be pooled for {table.outcome or 'this outcome'} "
                        f"({reasons or '; '.join(table.notes) or 'no studies'})", table.source or None)
    y, v, mask = as_batch(effects.yi[inc], effects.vi[inc])
    common, common_q, notes = _common(effects, options, y, v, mask)
    # RevMan 5 takes Q around the Mantel-Haenszel (or Peto) estimate and the DL tau² from
    # that Q (het_q = "common"); metafor's rma takes both around the IV estimate.
    around_common = options.het_q == "common" and common.method in ("MH", "Peto") and k >= 2
    tau2_est = (dersimonian_laird(y, v, mask, q=[common_q])
                if around_common and options.tau2 == "DL" else None)
    rand = fit_random(y, v, mask, options.tau2, options.ci, options.pi,
                      options.level, tau2=tau2_est)
    het = heterogeneity(y, v, mask, rand.tau2.tau2, options.level, with_ci=k >= 2)
    if around_common:
        het = replace(het, q=np.array([common_q]), q_p=chi2_sf(np.array([common_q]), k - 1))
    back = back_transform(effects.measure)

    def rep(x):
        x = _f(x)
        return None if x is None else float(back(x))

    studies = []
    j = 0
    crit = norm_quantile(1 - (1 - options.level) / 2)
    for i, row in enumerate(table.rows):
        data = dict(id=row.id, label=row.label, treatment_events=row.treatment_events,
                    treatment_total=row.treatment_total, control_events=row.control_events,
                    control_total=row.control_total, source=effects.source[i], year=row.year,
                    subgroup=row.subgroup, notes=row.notes, treatment_mean=row.treatment_mean,
                    treatment_sd=row.treatment_sd, control_mean=row.control_mean,
                    control_sd=row.control_sd, o_minus_e=row.o_minus_e, variance=row.variance,
                    se_from=effects.se_from[i] if effects.se_from else None,
                    extraction=row.attributes.get("extraction"),
                    conversions=tuple({"arm": arm, **c.to_dict(), "description": c.describe()}
                                      for arm, c in row.conversions) or None)
        if inc[i]:
            yi, vi = float(effects.yi[i]), float(effects.vi[i])
            half = crit * math.sqrt(vi)
            studies.append(StudyEffect(
                **data, yi=yi, vi=vi, estimate=rep(yi),
                ci_lower=rep(yi - half), ci_upper=rep(yi + half),
                p=float(norm_sf2(yi / math.sqrt(vi))),
                weight_common=_f(common.weights[0, j]), weight_random=_f(rand.weights[0, j]),
                included=True, corrected=bool(effects.corrected[i]), excluded_reason=None))
            j += 1
        else:
            studies.append(StudyEffect(
                **data, yi=None, vi=None, estimate=None, ci_lower=None, ci_upper=None, p=None,
                weight_common=None, weight_random=None, included=False, corrected=False,
                excluded_reason=effects.reasons[i]))

    common_res = CommonEffect(
        method=common.method, theta=_f(common.theta[0]), se=_f(common.se[0]),
        estimate=rep(common.theta[0]), ci_lower=rep(common.ci_lower[0]),
        ci_upper=rep(common.ci_upper[0]), z=_f(common.z[0]), p=_f(common.p[0]),
        Q=_f(common_q) if k >= 2 else None,
        mh_correction=common.method == "MH" and options.mh_correction)
    random_res = RandomEffects(
        tau2_method=options.tau2 if k >= 2 else "none (k = 1)",
        ci_method=options.ci if k >= 2 else "wald",
        pi_method=options.pi, theta=_f(rand.theta[0]), se=_f(rand.se[0]),
        estimate=rep(rand.theta[0]), ci_lower=rep(rand.ci_lower[0]),
        ci_upper=rep(rand.ci_upper[0]), stat=_f(rand.stat[0]), df=_f(rand.df[0]),
        p=_f(rand.p[0]), pi_lower=rep(rand.pi_lower[0]) if k >= 3 else None,
        pi_upper=rep(rand.pi_upper[0]) if k >= 3 else None, se_wald=_f(rand.se_wald[0]),
        tau2_iterations=int(rand.tau2.iterations[0]), tau2_fallback=bool(rand.tau2.fallback[0]),
        tau2_multiple_maxima=bool(k >= 2 and rand.tau2.multiple_maxima[0]))
    tau2 = _f(het.tau2[0])
    het_res = Heterogeneity(
        Q=_f(het.q[0]), Q_df=int(het.q_df[0]), Q_p=_f(het.q_p[0]), I2=_f(het.i2[0]),
        H2=_f(het.h2[0]), tau2=tau2 if k >= 2 else None,
        tau=math.sqrt(tau2) if (tau2 is not None and k >= 2) else None,
        tau2_ci_lower=_f(het.tau2_ci_lower[0]), tau2_ci_upper=_f(het.tau2_ci_upper[0]),
        I2_ci_lower=_f(het.i2_ci_lower[0]), I2_ci_upper=_f(het.i2_ci_upper[0]),
        H2_ci_lower=_f(het.h2_ci_lower[0]), H2_ci_upper=_f(het.h2_ci_upper[0]))
    warnings = small_k_warnings(k, options, random_res, het_res)
    if random_res.tau2_fallback:
        warnings.append(ResultWarning("tau2_not_converged", method=options.tau2,
                                      iterations=random_res.tau2_iterations))
    if k >= 2 and rand.tau2.multiple_maxima[0]:
        warnings.append(ResultWarning("tau2_multiple_maxima", method=options.tau2,
                                      tau2=float(rand.tau2.tau2[0]),
                                      other=float(rand.tau2.other_maximum[0])))
    warnings += conversion_warnings(studies)
    notes = list(table.notes) + notes
    for s in studies:
        if not s.included:
            notes.append(f"{s.label} excluded: {s.excluded_reason}")
        elif s.source == "reported" and s.se_from == "p":
            notes.append(f"{s.label} enters with its reported {effects.measure} and its "
                         "p-value (SE = |estimate| / z of p/2; generic inverse variance)")
        elif s.source == "reported" and s.se_from == "se":
            notes.append(f"{s.label} enters with its reported {effects.measure} and SE "
                         "(generic inverse variance)")
        elif s.source == "reported":
            notes.append(f"{s.label} enters with its reported {effects.measure} and 95% CI "
                         "(generic inverse variance)")
        elif s.corrected:
            notes.append(f"{s.label}: {effects.rule.add:g} added to each cell (zero cell)")
        if s.conversions:
            arms = " and ".join(c["arm"] for c in s.conversions)
            how = s.conversions[0]["description"].split(" from ")[0]
            notes.append(f"{s.label}: means and SDs derived from medians ({arms} arm"
                         f"{'s' if len(s.conversions) > 1 else ''}; {how}).")
    spec = options if options.better is not None else options.with_(better=table.better)
    return PoolResult(
        outcome=table.outcome, outcome_label=table.outcome_label, k=k, studies=tuple(studies),
        common=common_res, random=random_res, heterogeneity=het_res, spec=spec,
        counts=count_participants(effects), zero_cell_rule=(
            effects.rule.describe(effects.measure) if effects.measure in BINARY
            else NO_ZERO_CELL_RULE),
        warnings=tuple(warnings), notes=tuple(notes), source=table.source, effects=effects)


def conversion_warnings(studies) -> list[ResultWarning]:
    """The warnings of the conversions of medians to means (the skewness check of Shi et
    al. 2023, a table size of Wan et al. used for another n), one per study arm."""
    return [ResultWarning("median_conversion_skewed", study=s.label, arm=c["arm"], check=w)
            for s in studies for c in s.conversions or () for w in c["warnings"]
            if w.startswith("Bowley")]


def count_participants(effects: EffectSizes) -> Counts:
    """Trials, participants and events by RevMan's rule: every trial with data for the
    outcome counts, estimable or not; ``*_estimable`` counts those in the estimate."""
    rows = effects.table.rows
    with_data = [i for i, s in enumerate(effects.source) if s != "none"]

    def total(idx, attr):
        return sum(getattr(rows[i], attr) or 0 for i in idx)

    def people(idx):
        return total(idx, "treatment_total") + total(idx, "control_total")

    estimable = [i for i in with_data if effects.included[i]]
    return Counts(trials=len(with_data), trials_estimable=len(estimable),
                  participants=people(with_data), participants_estimable=people(estimable),
                  events_experimental=total(with_data, "treatment_events"),
                  total_experimental=total(with_data, "treatment_total"),
                  events_control=total(with_data, "control_events"),
                  total_control=total(with_data, "control_total"))


def small_k_warnings(k: int, options: AnalysisSpec, rand: RandomEffects,
                     het: Heterogeneity) -> list[ResultWarning]:
    """The warnings of the few-studies case (most MSC pools have k < 5), as codes with
    the numbers their words need (render/text/warnings.py)."""
    if k == 1:
        return [ResultWarning("one_study")]
    out: list[ResultWarning] = []
    # the two-sided quantile of the spec's level (1.96 and t(0.975) at 95%)
    upper = 1 - (1 - options.level) / 2
    if k < 5:
        out.append(ResultWarning("few_studies", k=k))
        if options.ci.startswith("hksj"):
            out.append(ResultWarning("hksj_t_multiplier", df=k - 1,
                                     multiplier=float(t_quantile(upper, k - 1)),
                                     z=float(norm_quantile(upper))))
        elif options.ci == "wald":
            out.append(ResultWarning("wald_few_studies", level=options.level))
    if k == 2:
        out.append(ResultWarning("no_prediction_interval"))
    elif 3 <= k < 5 and options.pi == "hts":
        out.append(ResultWarning("wide_prediction_interval", df=k - 2,
                                 multiplier=float(t_quantile(upper, k - 2))))
    lo, hi = het.I2_ci_lower, het.I2_ci_upper
    if lo is not None and hi is not None and k < 10 and hi - lo >= 50:
        out.append(ResultWarning("i2_ci_wide", level=options.level, lower=lo, upper=hi))
    if (options.ci == "hksj" and rand.se is not None and rand.se_wald is not None
            and rand.se < rand.se_wald):
        out.append(ResultWarning("hksj_narrower_than_wald"))
    return out
