"""The per-study table that every analysis starts from, and the CSV/TSV reader.

A ``StudyTable`` is what the records layer hands to the effects layer: one row per
study with the arm counts (treatment = experimental arm(s), control), the arms' n,
mean and SD (continuous outcomes), O - E and V (time-to-event, RevMan's data type),
or, for a study that reports only an effect estimate, that estimate with its CI or
p-value (generic inverse variance).

CSV layouts, told apart by their header (``LAYOUTS``; optional ``subgroup``, ``year``):

- binary: ``study,treatment_events,treatment_total,control_events,control_total``
- continuous: ``study,treatment_mean,treatment_sd,treatment_total,control_mean,control_sd,control_total``
- generic inverse variance: ``study,estimate,ci_lower,ci_upper[,p]`` (or ``study,estimate,p``,
  or ``study,estimate,se``), the estimate on the reporting scale (a ratio for RR, OR, ROM,
  HR), ``se`` its standard error on the analysis scale (of the log for ratios, as RevMan's
  generic inverse variance holds it), with ``--measure``
- O - E and variance: ``study,o_minus_e,variance`` (log-rank statistics; hazard ratio)

The generic and O - E layouts may carry ``treatment_total,control_total`` (the arms' sizes,
for display and for the sample-size-based small-study tests).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

from metasynth.errors import DataError

CSV_COLUMNS = ("study", "treatment_events", "treatment_total", "control_events", "control_total")
CSV_OPTIONAL = ("subgroup", "year", "source")  # source: where the row came from (metasynth import)
CONTINUOUS_COLUMNS = ("study", "treatment_mean", "treatment_sd", "treatment_total",
                      "control_mean", "control_sd", "control_total")
GENERIC_COLUMNS = ("study", "estimate", "ci_lower", "ci_upper", "p", "se")
ARM_SIZES = ("treatment_total", "control_total")
OE_COLUMNS = ("study", "o_minus_e", "variance")
# data type -> (required columns, optional columns besides subgroup and year)
LAYOUTS = {"binary": (CSV_COLUMNS, ()), "continuous": (CONTINUOUS_COLUMNS, ()),
           "generic": (("study", "estimate"), ("ci_lower", "ci_upper", "p", "se") + ARM_SIZES),
           "time-to-event": (OE_COLUMNS, ARM_SIZES)}


@dataclass(frozen=True)
class ReportedEffect:
    """A study's own estimate with its CI (or its two-sided p-value), for generic
    inverse-variance pooling. ``measure`` None: the analysis's measure (a CSV of estimates
    pooled with ``--measure``)."""

    measure: str | None  # RR | OR | RD | HR | MD | SMD | ROM
    value: float
    ci_lower: float | None = None
    ci_upper: float | None = None
    p: float | None = None
    level: float = 0.95  # the level of the reported CI
    se: float | None = None  # its SE on the analysis scale (RevMan's generic inverse variance)


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
    treatment_mean: float | None = None
    treatment_sd: float | None = None
    control_mean: float | None = None
    control_sd: float | None = None
    o_minus_e: float | None = None
    variance: float | None = None
    subgroup: str | None = None
    notes: tuple[str, ...] = ()
    attributes: dict = field(default_factory=dict, compare=False)
    # continuous records: each arm's summary as published (records.schema.ContinuousSummary:
    # a mean and SD, or a median with its IQR and/or range); a median is converted to the
    # means above at analysis time (effects.conversions.convert_table), never by hand
    treatment_summary: object = None
    control_summary: object = None
    # the conversions that produced the means: ((arm, effects.conversions.Conversion), ...)
    conversions: tuple = ()

    @property
    def has_counts(self) -> bool:
        return None not in (self.treatment_events, self.treatment_total,
                            self.control_events, self.control_total)

    @property
    def has_means(self) -> bool:
        return None not in (self.treatment_mean, self.treatment_sd, self.treatment_total,
                            self.control_mean, self.control_sd, self.control_total)

    @property
    def has_summaries(self) -> bool:
        """Both arms' continuous summaries as published (means or medians)."""
        return self.treatment_summary is not None and self.control_summary is not None

    @property
    def has_oe(self) -> bool:
        return None not in (self.o_minus_e, self.variance)


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
    data_type: str = "binary"  # binary | continuous | generic | time-to-event | mixed
    units: str | None = None  # of a continuous outcome (the outcome registry's)

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


def _float_cell(text: str, column: str, path: str, line: int, low: float | None = None,
                positive: bool = False) -> float:
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{column} must be a number, got {text!r}", path, line) from None
    if not math.isfinite(value):
        raise DataError(f"{column} must be a finite number, got {text!r}", path, line)
    if positive and value <= 0:
        raise DataError(f"{column} must be positive, got {text}", path, line)
    if low is not None and value < low:
        raise DataError(f"{column} must not be below {low:g}, got {text}", path, line)
    return value


def layout_of(header: list[str]) -> str:
    """The data type a CSV header announces (see ``LAYOUTS``)."""
    if "treatment_mean" in header or "control_mean" in header:
        return "continuous"
    if "o_minus_e" in header:
        return "time-to-event"
    if "estimate" in header:
        return "generic"
    return "binary"


def _data_cells(kind: str, cells: dict[str, str], name: str, line: int) -> dict:
    """The StudyRow fields of one CSV line of layout ``kind``."""
    if kind == "binary":
        te, tt, ce, ct = (_int_cell(cells[c], c, name, line) for c in CSV_COLUMNS[1:])
        for events, total, arm in ((te, tt, "treatment"), (ce, ct, "control")):
            if total == 0:
                raise DataError(f"{arm}_total must be at least 1", name, line)
            if events > total:
                raise DataError(f"{arm}_events ({events}) exceed {arm}_total ({total})", name, line)
        return dict(treatment_events=te, treatment_total=tt, control_events=ce, control_total=ct)
    if kind == "continuous":
        out = {}
        for arm in ("treatment", "control"):
            n = _int_cell(cells[f"{arm}_total"], f"{arm}_total", name, line)
            if n == 0:
                raise DataError(f"{arm}_total must be at least 1", name, line)
            out[f"{arm}_total"] = n
            out[f"{arm}_mean"] = _float_cell(cells[f"{arm}_mean"], f"{arm}_mean", name, line)
            out[f"{arm}_sd"] = _float_cell(cells[f"{arm}_sd"], f"{arm}_sd", name, line, low=0.0)
        return out
    sizes = {}
    for c in ARM_SIZES:  # optional in the generic and O - E layouts
        if cells.get(c, "").strip():
            sizes[c] = _int_cell(cells[c], c, name, line)
    if kind == "time-to-event":
        return dict(o_minus_e=_float_cell(cells["o_minus_e"], "o_minus_e", name, line),
                    variance=_float_cell(cells["variance"], "variance", name, line,
                                         positive=True), **sizes)
    value = _float_cell(cells["estimate"], "estimate", name, line)
    lo, hi = (cells.get(c, "").strip() for c in ("ci_lower", "ci_upper"))
    p_text = cells.get("p", "").strip()
    se_text = cells.get("se", "").strip()
    if bool(lo) != bool(hi):
        raise DataError("give both ci_lower and ci_upper, or neither", name, line)
    if not lo and not p_text and not se_text:
        raise DataError("an estimate needs its CI (ci_lower, ci_upper), its p-value (p) or "
                        "its standard error (se)", name, line)
    ci = (None, None)
    if lo:
        ci = (_float_cell(lo, "ci_lower", name, line), _float_cell(hi, "ci_upper", name, line))
        if not ci[0] <= value <= ci[1]:
            raise DataError(f"estimate {value:g} lies outside its CI [{ci[0]:g}, {ci[1]:g}]",
                            name, line)
    p = None
    if p_text:
        p = _float_cell(p_text, "p", name, line)
        if not 0 < p <= 1:
            raise DataError(f"p must lie in (0, 1], got {p_text}", name, line)
    se = _float_cell(se_text, "se", name, line, positive=True) if se_text else None
    return dict(reported=ReportedEffect(None, value, ci[0], ci[1], p, se=se), **sizes)


def read_table(path: str | Path) -> StudyTable:
    """Read a CSV or TSV file in one of the layouts of ``LAYOUTS`` (told apart by the
    header; optional ``subgroup`` and ``year``). Every problem is a ``DataError`` naming
    the line."""
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
    kind = layout_of(header)
    required, optional = LAYOUTS[kind]
    missing = [c for c in required if c not in header]
    if kind == "generic" and not {"p", "se"} & set(header) and \
            not {"ci_lower", "ci_upper"} <= set(header):
        missing += [c for c in ("ci_lower", "ci_upper") if c not in header]
    if missing:
        expected = ",".join(required + optional) if kind != "generic" else \
            "study,estimate,ci_lower,ci_upper[,p] or study,estimate,se"
        raise DataError(f"missing column(s) {', '.join(missing)}; expected {expected}", name, 1)
    unknown = [c for c in header if c not in required + optional + CSV_OPTIONAL]
    if unknown:
        raise DataError(f"unknown column(s) {', '.join(unknown)}", name, 1)
    col = {c: header.index(c) for c in header}
    rows, seen, sources = [], {}, {}
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
        data = _data_cells(kind, {c: cells[i] for c, i in col.items()}, name, line)
        year = None
        if "year" in col and cells[col["year"]].strip():
            year = _int_cell(cells[col["year"]], "year", name, line)
        subgroup = cells[col["subgroup"]].strip() or None if "subgroup" in col else None
        if "source" in col and cells[col["source"]].strip():
            sources.setdefault(cells[col["source"]].strip(), None)
        rows.append(StudyRow(id=study, label=study, year=year, subgroup=subgroup, **data))
    if not rows:
        raise DataError("no studies in file", name)
    return StudyTable(rows=tuple(rows), source=name, data_type=kind,
                      notes=tuple(f"data from {src}" for src in sources))
