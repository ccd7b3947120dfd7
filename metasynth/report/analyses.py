"""The analyses the plan asks for beyond the main one, each fitted once from the main
spec (``Fits``): sensitivity analyses, subgroups, the sensitivity matrix and the
robustness lines."""

from __future__ import annotations

from dataclasses import dataclass, replace

from metasynth.errors import DataError
from metasynth.models.pool import effects_key, pool_effects, spec_effects
from metasynth.models.results import PoolResult
from metasynth.models.subgroups import pool_subgroups
from metasynth.plan.file import AnalysisPlan, plan_layer
from metasynth.plan.resolve import OptionError, resolve
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.select import select_outcome
from metasynth.records.table import StudyTable
from metasynth.render.text.methods import name
from metasynth.render.text.report import matrix_cell, matrix_label, subgroup_table, table_row


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


class Fits:
    """The pooled analyses of one report, each fitted once: a section that asks for the
    analysis of a data set under a spec that an earlier section fitted (the main analysis
    as a sensitivity row, a matrix cell or a subgroup's whole; a data set equal to another,
    as when there is no high-risk trial to leave out) gets that fit. Data sets are
    ``StudyTable`` values, compared by content."""

    def __init__(self):
        self._effects: dict = {}
        self._results: dict = {}

    def effects(self, table: StudyTable, spec: AnalysisSpec):
        """``spec_effects(table, spec)``, computed once per table and ``effects_key``."""
        key = (table, *effects_key(spec))
        if key not in self._effects:
            self._effects[key] = spec_effects(table, spec)
        return self._effects[key]

    def pool(self, table: StudyTable, spec: AnalysisSpec) -> PoolResult:
        """``pool_table(table, spec)``, fitted once (a DataError is raised each time)."""
        key = (table, spec)
        if key not in self._results:
            self._results[key] = pool_effects(self.effects(table, spec), spec)
        return self._results[key]


def sensitivity_analyses(plan, studies, outcome, options, fits: Fits) -> tuple[list, dict]:
    """Each sensitivity analysis of the plan: (table rows, {id: result})."""
    rows, results = [], {}
    for s in plan.sensitivity:
        opts = options.with_(**s.options.model_dump(exclude_none=True)) if s.options else options
        table = filtered(select_outcome(studies, outcome, s.alternative), s.include, s.exclude)
        try:
            result = fits.pool(table, opts)
        except DataError as err:
            rows.append(table_row(s.label, None, why=err.message.split(" (")[0]))
            continue
        label = s.label
        if s.model == "common" and result.common.method != "MH" and "Mantel-Haenszel" in label:
            # a continuous outcome's common effect is by inverse variance (no 2x2 counts):
            # the label names the method that was fitted
            label = label.replace("Mantel-Haenszel", name("common_method", result.common.method))
        rows.append(table_row(label, result, s.model))
        results[s.id] = result
    return rows, results


def subgroup_analyses(plan, effects, options, overall: PoolResult) -> tuple[list, dict]:
    """Each subgroup analysis of the plan; ``overall``: ``effects`` pooled under
    ``options`` (the main analysis, every subgroup analysis's whole)."""
    from metasynth.api import subgroup_labels

    tables, results = [], {}
    for by in plan.subgroups:
        labels = subgroup_labels(effects.table, by)
        res = pool_subgroups(effects, labels, by, options, overall=overall)
        tables.append(subgroup_table(res))
        results[by] = res
    return tables, results

MATRIX_MODELS = [{"common_method": "MH"}, {"common_method": "IV"}] + [
    {"tau2": t, "ci": c} for t in ("DL", "REML", "PM") for c in ("wald", "hksj", "hksj-adhoc")]


def sensitivity_matrix(studies, outcome, options, fits: Fits) -> dict:
    """The sensitivity matrix: every model (rows) on every data set (columns), each fit
    taken from ``fits`` (the outcome's main analysis is one of its cells; a data set equal
    to another column is fitted once)."""
    columns = [("All trials", dict(alternative=False, exclude=None)),
               ("Without high risk of bias", dict(alternative=False,
                                                  exclude={"rob_overall": ["high"]})),
               ("Alternative values", dict(alternative=True, exclude=None))]
    tables = [filtered(select_outcome(studies, outcome, data["alternative"]), None,
                       data["exclude"]) for _, data in columns]
    rows = []
    for spec in MATRIX_MODELS:
        label = matrix_label(spec)
        cells = []
        model = "common" if "common_method" in spec else "random"
        try:
            opts = options.with_(**spec)
        except OptionError:  # Mantel-Haenszel asked of a continuous outcome: no such row
            continue
        for table in tables:
            try:
                res = fits.pool(table, opts)
            except (DataError, ValueError) as err:
                cells.append(matrix_cell(None, model, getattr(err, "message", str(err)).split(" (")[0]))
                continue
            cells.append(matrix_cell(res, model))
        rows.append({"label": label, "cells": cells})
    return {"columns": [c for c, _ in columns], "rows": rows}


@dataclass(frozen=True)
class Robustness:
    """The robustness analyses of one outcome, each fitted once from its pooled result."""

    k: int
    measure: str
    leave_one_out: object = None  # SubsetAnalysis (k >= 3)
    influential: tuple[str, ...] = ()
    permutation: object = None  # PermutationTest (k >= 3)
    egger: object = None  # TestResult, or None when not run
    egger_not_run: str = ""  # why


def robustness(result: PoolResult) -> Robustness:
    """Leave-one-out, influence, the permutation test and Egger's test of a pooled result."""
    from metasynth import api
    from metasynth.models.robustness.small_study import TooFewStudies, egger

    out = {"k": result.k, "measure": result.measure}
    if result.k >= 3:
        out["leave_one_out"] = api.leave_one_out(result)
        out["influential"] = tuple(r.label for r in api.influence(result).rows if r.influential)
        out["permutation"] = api.permutation_test(result)
    try:
        out["egger"] = egger(result.effects, result.spec)
    except TooFewStudies as err:
        out["egger_not_run"] = str(err).split("; use --force")[0]
    return Robustness(**out)
