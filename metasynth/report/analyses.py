"""The analyses the plan asks for beyond the main one, each fitted once from the main
spec: sensitivity analyses, subgroups, the sensitivity matrix and the robustness lines."""

from __future__ import annotations

from dataclasses import replace

from metasynth.effects.binary import effect_sizes
from metasynth.errors import DataError
from metasynth.models.pool import pool_effects
from metasynth.models.results import PoolResult
from metasynth.models.subgroups import pool_subgroups
from metasynth.plan.file import AnalysisPlan, plan_layer
from metasynth.plan.resolve import resolve
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.select import select_outcome
from metasynth.records.table import StudyTable
from metasynth.render.labels import field_label, value_label
from metasynth.render.numbers import interval
from metasynth.render.text.methods import name
from metasynth.render.text.robustness import subgroup_difference_line
from metasynth.report.sections import (
    table_row,
)


def base_spec(plan: AnalysisPlan) -> AnalysisSpec:
    """The plan's analysis, resolved once (``plan.resolve``); every section derives its
    analyses from it with ``spec.with_(...)``."""
    return resolve(plan_layer(plan))

def filtered(table: StudyTable, include, exclude) -> StudyTable:
    def value(row, key):
        v = row.attributes.get(key)
        return str(v).lower() if isinstance(v, bool) else str(v)

    rows = []
    for row in table.rows:
        if include and not all(value(row, k) in [str(x) for x in vals] for k, vals in include.items()):
            continue
        if exclude and any(value(row, k) in [str(x) for x in vals] for k, vals in exclude.items()):
            continue
        rows.append(row)
    return replace(table, rows=tuple(rows))

def sensitivity_analyses(plan, studies, outcome, options) -> tuple[list, dict]:
    rows, results = [], {}
    for s in plan.sensitivity:
        opts = options.with_(**s.options.model_dump(exclude_none=True)) if s.options else options
        table = filtered(select_outcome(studies, outcome, s.alternative), s.include, s.exclude)
        try:
            result = pool_effects(effect_sizes(table, opts.measure, opts.zero_cells), opts)
        except DataError as err:
            rows.append(table_row(s.label, None, why=err.message.split(" (")[0]))
            continue
        rows.append(table_row(s.label, result, s.model))
        results[s.id] = result
    return rows, results

def subgroup_analyses(plan, effects, options) -> tuple[list, dict]:
    from metasynth.api import subgroup_labels

    tables, results = [], {}
    for by in plan.subgroups:
        labels = subgroup_labels(effects.table, by)
        res = pool_subgroups(effects, labels, by, options)
        head = field_label(by)
        rows = [table_row(f"{head}: {value_label(g)}", r) for g, r in res.groups]
        rows += [table_row(f"{head}: {value_label(g)}", None, why=why) for g, why in res.not_pooled]
        tables.append({"by": head, "rows": rows, "test": subgroup_difference_line(res.test)})
        results[by] = res
    return tables, results

MATRIX_MODELS = [{"common_method": "MH"}, {"common_method": "IV"}] + [
    {"tau2": t, "ci": c} for t in ("DL", "REML", "PM") for c in ("wald", "hksj", "hksj-adhoc")]

def matrix_label(changes: dict) -> str:
    if "common_method" in changes:
        return f"Common effect, {name('common_method', changes['common_method'])}"
    return f"{changes['tau2']}, {name('ci', changes['ci'])}"

def sensitivity_matrix(studies, outcome, options) -> dict:
    """The sensitivity matrix: every model (rows) on every data set (columns)."""
    columns = [("All trials", dict(alternative=False, exclude=None)),
               ("Without high risk of bias", dict(alternative=False,
                                                  exclude={"rob_overall": ["high"]})),
               ("Alternative values", dict(alternative=True, exclude=None))]
    rows = []
    for spec in MATRIX_MODELS:
        label = matrix_label(spec)
        cells = []
        for _, data in columns:
            table = filtered(select_outcome(studies, outcome, data["alternative"]), None,
                              data["exclude"])
            opts = options.with_(**spec)
            try:
                res = pool_effects(effect_sizes(table, opts.measure, opts.zero_cells), opts)
            except (DataError, ValueError) as err:
                cells.append(f"not estimable ({getattr(err, 'message', str(err)).split(' (')[0]})")
                continue
            r = res.common if "common_method" in spec else res.random
            cells.append(f"{interval(r.estimate, r.ci_lower, r.ci_upper)} (k={res.k})")
        rows.append({"label": label, "cells": cells})
    return {"columns": [c for c, _ in columns], "rows": rows}

def robustness_lines(effects, result: PoolResult, options) -> list[str]:
    """Leave-one-out range, influential trials, permutation test, small-study tests, in words."""
    from metasynth.models.robustness.influence import influence
    from metasynth.models.robustness.permutation import permutation_test
    from metasynth.models.robustness.refits import leave_one_out
    from metasynth.models.robustness.small_study import TooFewStudies, egger

    out = []
    if result.k >= 3:
        loo = leave_one_out(effects, options)
        ests = [(r.estimate, r.label) for r in loo.rows if r.estimate is not None]
        lo, hi = min(ests), max(ests)
        out.append(f"Leaving out one trial at a time, the pooled {result.measure} ranges from "
                   f"{lo[0]:.2f} (without {lo[1]}) to {hi[0]:.2f} (without {hi[1]}).")
        flagged = [r.label for r in influence(effects, options).rows if r.influential]
        out.append("Influential trials by metafor's criteria (Viechtbauer & Cheung 2010): "
                   + (", ".join(flagged) if flagged else "none") + ".")
        perm = permutation_test(effects, options)
        out.append(f"Permutation test of the pooled effect: p = {perm.p:.3f} ({perm.note}).")
    else:
        out.append("With fewer than 3 trials, leave-one-out, influence and permutation "
                   "analyses are not informative and are not shown.")
    try:
        e = egger(effects, options)
        out.append(f"Egger's regression test: p = {e.p:.3f} ({e.k} trials).")
    except TooFewStudies as err:
        out.append(f"Small-study effects were not tested: {str(err).split('; use --force')[0]}.")
    return out
