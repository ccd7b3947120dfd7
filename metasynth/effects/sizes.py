"""One entry point from a study table to effect sizes: the measure's data type decides
which effect function applies (``effects.measures``)."""

from __future__ import annotations

import numpy as np

from metasynth.effects import binary
from metasynth.effects.binary import EffectSizes, ZeroCellRule, _data_reason
from metasynth.effects.continuous import escalc_continuous
from metasynth.effects.conversions import convert_table
from metasynth.effects.generic import oe_effect, reported_effect
from metasynth.effects.measures import ALL, BINARY, CONTINUOUS, check_measure
from metasynth.records.table import StudyTable

DEFAULT_RULE = ZeroCellRule()


def effect_sizes(table: StudyTable, measure: str = "RR",
                 rule: ZeroCellRule = DEFAULT_RULE, *,
                 median_to_mean: str = "luo-shi",  # plan.options.MEDIAN_TO_MEAN's default
                 smd: str = "metafor") -> EffectSizes:
    """yi and vi of every row of ``table`` for ``measure``, noting exclusions and what
    each effect was computed from (``smd``: the SMD's convention, the spec's ``smd``).
    A measure of another data type than the table's (a binary measure asked of means and
    SDs) is a ``UsageError``. For a continuous measure, an arm published as a median is
    converted by ``median_to_mean`` (the plan option; ``effects.conversions.convert_table``),
    and the effects' table carries the converted means with their conversions."""
    measure = measure.upper()
    if measure not in ALL:
        raise ValueError(f"unknown measure {measure!r}; choose from {', '.join(ALL)}")
    reported = any(r.reported is not None and r.reported.measure in (None, measure)
                   for r in table.rows)
    if table.data_type != "mixed" and not reported:
        check_measure(measure, table.data_type, table.source or None)
    if measure in BINARY:
        return binary.effect_sizes(table, measure, rule)
    rows = table.rows
    n = len(rows)
    yi, vi = np.full(n, np.nan), np.full(n, np.nan)
    sources: list[str] = []
    reasons: list[str | None] = []
    se_from: list[str | None] = []
    not_converted: dict[int, str] = {}
    if measure in CONTINUOUS:
        table, not_converted = convert_table(table, median_to_mean)
        rows = table.rows

        def arm(attr):
            return [getattr(r, attr) if r.has_means else np.nan for r in rows]
        cy, cv, why = escalc_continuous(measure, arm("treatment_mean"), arm("treatment_sd"),
                                        arm("treatment_total"), arm("control_mean"),
                                        arm("control_sd"), arm("control_total"), smd)
    for i, row in enumerate(rows):
        own = row.has_means if measure in CONTINUOUS else row.has_oe
        if own:
            if measure in CONTINUOUS:
                est, reason = ((cy[i], cv[i]), None) if why[i] is None else (None, why[i])
            else:
                est, reason = oe_effect(row)
            sources.append("means" if measure in CONTINUOUS else "o-e/v")
            se_from.append(None)
        else:
            got, reason = reported_effect(row.reported, measure)
            est = None if got is None else got[:2]
            sources.append("none" if got is None else "reported")
            se_from.append(None if got is None else got[2])
            if got is None:
                reason = not_converted.get(i) or _data_reason(row, measure) or reason
        if est is not None:
            yi[i], vi[i] = est
        reasons.append(reason)
    included = np.isfinite(yi) & np.isfinite(vi)
    return EffectSizes(measure=measure, table=table, yi=yi, vi=vi, included=included,
                       corrected=np.zeros(n, dtype=bool), source=tuple(sources),
                       reasons=tuple(reasons), rule=rule, se_from=tuple(se_from))
