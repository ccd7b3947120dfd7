"""The per-study 2x2 table that every analysis starts from, and the CSV/TSV reader.

A ``StudyTable`` is what the records layer hands to the effects layer: one row per
study with the arm counts (treatment = experimental arm(s), control), or, for a
study that reports only an effect estimate, that estimate on the analysis scale.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from metasynth.errors import DataError

CSV_COLUMNS = ("study", "treatment_events", "treatment_total", "control_events", "control_total")
CSV_OPTIONAL = ("subgroup", "year")


@dataclass(frozen=True)
class ReportedEffect:
    """A study's own estimate with its 95% CI, for generic inverse-variance pooling."""

    measure: str  # RR | OR | RD | HR
    value: float
    ci_lower: float
    ci_upper: float


@dataclass(frozen=True)
class StudyRow:
    id: str
    label: str
    treatment_events: int | None = None
    treatment_total: int | None = None
    control_events: int | None = None
    control_total: int | None = None
    reported: ReportedEffect | None = None
    year: int | None = None
    subgroup: str | None = None
    notes: tuple[str, ...] = ()
    attributes: dict = field(default_factory=dict, compare=False)

    @property
    def has_counts(self) -> bool:
        return None not in (self.treatment_events, self.treatment_total,
                            self.control_events, self.control_total)


def publication_order(rows) -> list[int]:
    """Indices of ``rows`` in order of publication: by year (rows without one last), ties
    kept in table order (cumulative meta-analysis, trial sequential analysis)."""
    return sorted(range(len(rows)),
                  key=lambda i: (rows[i].year if rows[i].year is not None else 10**6, i))


@dataclass(frozen=True)
class StudyTable:
    """Rows in presentation order, plus where they came from (for messages)."""

    rows: tuple[StudyRow, ...]
    outcome: str | None = None
    outcome_label: str | None = None
    better: str = "lower"  # which direction of the effect favours the experimental arm
    source: str = ""
    notes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)


def _int_cell(text: str, column: str, path: str, line: int) -> int:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{column} must be a whole number, got {text!r}", path, line) from None
    if not math.isfinite(value) or value != int(value):
        raise DataError(f"{column} must be a whole number, got {text!r}", path, line)
    if value < 0:
        raise DataError(f"{column} must not be negative, got {text}", path, line)
    return int(value)


def read_table(path: str | Path) -> StudyTable:
    """Read a CSV or TSV file of 2x2 counts (columns ``CSV_COLUMNS``, optional
    ``subgroup`` and ``year``). Every problem is a ``DataError`` naming the line."""
    path = Path(path)
    name = str(path)
    from metasynth.inputs import MAX_TABLE_BYTES, read_text
    from metasynth.safetext import control_problem

    text = read_text(path, MAX_TABLE_BYTES, "table", encoding="utf-8-sig")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") or (
        "\t" in text.splitlines()[0] if text else False) else ","
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError("file is empty", name, 1) from None
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; expected "
                        f"{','.join(CSV_COLUMNS)}", name, 1)
    unknown = [c for c in header if c not in CSV_COLUMNS + CSV_OPTIONAL]
    if unknown:
        raise DataError(f"unknown column(s) {', '.join(unknown)}", name, 1)
    col = {c: header.index(c) for c in header}
    rows, seen = [], {}
    for line, cells in enumerate(reader, start=2):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise DataError(f"expected {len(header)} fields, found {len(cells)}", name, line)
        for cell in cells:  # study and subgroup names reach terminals, SVG and the report
            problem = control_problem(cell)
            if problem:
                raise DataError(f"cell {cell[:30]!r} {problem}", name, line)
        study = cells[col["study"]].strip()
        if not study:
            raise DataError("empty study name", name, line)
        if study in seen:
            raise DataError(f"duplicate study {study!r} (first on line {seen[study]})", name, line)
        seen[study] = line
        te, tt, ce, ct = (_int_cell(cells[col[c]], c, name, line) for c in CSV_COLUMNS[1:])
        for events, total, arm in ((te, tt, "treatment"), (ce, ct, "control")):
            if total == 0:
                raise DataError(f"{arm}_total must be at least 1", name, line)
            if events > total:
                raise DataError(f"{arm}_events ({events}) exceed {arm}_total ({total})", name, line)
        year = None
        if "year" in col and cells[col["year"]].strip():
            year = _int_cell(cells[col["year"]], "year", name, line)
        subgroup = cells[col["subgroup"]].strip() or None if "subgroup" in col else None
        rows.append(StudyRow(id=study, label=study, treatment_events=te, treatment_total=tt,
                             control_events=ce, control_total=ct, year=year, subgroup=subgroup))
    if not rows:
        raise DataError("no studies in file", name)
    return StudyTable(rows=tuple(rows), source=name)
