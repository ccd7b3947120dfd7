"""The library API: ``pool`` runs records -> effects -> models in one call.

Each step is also public on its own (``load_studies``, ``select_outcome``,
``effect_sizes``, ``pool_effects``) for users who want to stop in between.
"""

from __future__ import annotations

from pathlib import Path

from metasynth.effects.binary import ZeroCellRule, effect_sizes
from metasynth.errors import DataError
from metasynth.models.options import PoolOptions
from metasynth.models.pool import pool_effects
from metasynth.models.results import PoolResult
from metasynth.records.load import StudySet, load_studies
from metasynth.records.select import select_outcome
from metasynth.records.table import StudyRow, StudyTable, read_table

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


def pool(data, outcome: str | None = None, *, measure: str = "RR", tau2: str = "REML",
         ci: str = "hksj", pi: str = "hts", common: str = "MH", classic: bool = False,
         mh_correction: bool | None = None, zero_cells: ZeroCellRule | None = None,
         level: float = 0.95, options: PoolOptions | None = None,
         alternative: bool = False) -> PoolResult:
    """Pool ``data`` (see ``study_table``) for ``outcome`` and return a ``PoolResult``.

    ``classic=True`` gives the RevMan 5 analysis (DerSimonian-Laird, Wald CI,
    Mantel-Haenszel with 0.5 added to zero-cell studies). ``alternative=True`` uses,
    where sources conflict, the first alternative value a record lists (sensitivity
    analysis).
    """
    if options is None:
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
        if changes:
            options = options.with_(**changes)
    table = study_table(data, outcome, alternative)
    effects = effect_sizes(table, options.measure, options.zero_cells)
    return pool_effects(effects, options)
