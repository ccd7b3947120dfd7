"""RevMan files in: RevMan 5 ``.rm5`` reviews, RevMan's analysis CSV export and the data
package (zip) of a published Cochrane review.

Each reader returns a ``RevManReview``: its analyses, each with RevMan's settings
(data type, statistical method, fixed or random effects, effect measure, CI levels), the
per-study input data, and the results RevMan computed and stored, for every study, every
subgroup and the whole analysis. Those stored numbers are the oracle of
``tests/test_revman.py``; nothing here computes anything.

Formats (the real examples are in ``tests/fixtures/revman/``):

- ``.rm5``: XML in ISO-8859-1. ``ANALYSES_AND_DATA/COMPARISON`` holds
  ``DICH_OUTCOME``, ``CONT_OUTCOME``, ``IV_OUTCOME`` (generic inverse variance) and
  ``IPD_OUTCOME`` (O - E and variance), each with optional ``*_SUBGROUP`` children and
  ``*_DATA`` rows (one per study). Study ids escape characters as ``_xHHHH_``
  (``STD-ISIS_x002d_2`` is ISIS-2). Parsed with expat, refusing any DTD or entity
  declaration (no entity expansion, no external entities), and keeping line numbers
  for messages.
- RevMan's analysis CSV (``Comparison Number,Outcome Number,Subgroup Number,Name,Data
  Type,...``): one line per analysis, subgroup and study.
- The Cochrane data package: ``*-data-rows.csv`` (one line per study and analysis),
  ``*-overall-estimates-and-settings.csv`` (settings and pooled results) and
  ``*-subgroup-estimates.csv``, in a zip (possibly inside another zip).
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from metasynth.errors import DataError
from metasynth.records.table import ReportedEffect, StudyRow, StudyTable

DATA_TYPES = ("dichotomous", "continuous", "generic inverse variance", "O-E and variance")
_RM5_KIND = {"DICH": "dichotomous", "CONT": "continuous", "IV": "generic inverse variance",
             "IPD": "O-E and variance"}
_CSV_KIND = {"DIC": "dichotomous", "CON": "continuous", "GIV": "generic inverse variance",
             "IV": "generic inverse variance", "OEV": "O-E and variance",
             "IPD": "O-E and variance"}
_WORDS_KIND = {"dichotomous": "dichotomous", "continuous": "continuous",
               "generic inverse variance": "generic inverse variance",
               "contrast level": "generic inverse variance",  # RevMan Web's word for it
               "o-e and variance": "O-E and variance"}
#: RevMan's effect measures (codes and the words of the data package) -> metasynth's names
_MEASURES = {"RR": "RR", "OR": "OR", "RD": "RD", "PETO_OR": "OR", "MD": "MD", "SMD": "SMD",
             "HR": "HR", "RATE_RATIO": "RATE RATIO",
             "risk ratio": "RR", "odds ratio": "OR", "risk difference": "RD",
             "peto odds ratio": "OR", "mean difference": "MD",
             "standardized mean difference": "SMD", "standardised mean difference": "SMD",
             "std. mean difference": "SMD", "hazard ratio": "HR"}
#: RevMan Web's settings (data package) -> metasynth's option values
_TAU2 = {"REML": "REML", "DL": "DL", "DerSimonian-Laird": "DL", "PM": "PM",
         "Paule-Mandel": "PM"}
_CI = {"HKSJ": "hksj", "Wald": "wald", "Wald-type": "wald"}
_METHODS = {"MH": "MH", "IV": "IV", "PETO": "Peto", "Peto": "Peto"}


@dataclass(frozen=True)
class Stored:
    """Results RevMan computed and stored (``None`` where the file has none). Effects
    and CI bounds are on the reporting scale (ratios for RR, OR, HR); ``weight`` in
    percent; ``i2`` in percent."""

    effect: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    se: float | None = None
    var: float | None = None
    weight: float | None = None
    chi2: float | None = None
    df: float | None = None
    p_chi2: float | None = None
    i2: float | None = None
    tau2: float | None = None
    z: float | None = None
    p_z: float | None = None
    estimable: bool | None = None
    t: float | None = None  # the test statistic of an HKSJ analysis (RevMan Web's Effect T)

    def values(self) -> dict[str, float]:
        """The stored numbers that are present, by name."""
        return {k: v for k, v in self.__dict__.items()
                if isinstance(v, float) and k != "estimable"}


@dataclass(frozen=True)
class SubgroupTest:
    """RevMan's stored test for subgroup differences."""

    chi2: float | None
    df: float | None
    p: float | None
    i2: float | None


@dataclass(frozen=True)
class RevManRow:
    """One study's line of an analysis: its input ``data`` (``events_1``, ``total_1``,
    ``mean_1``, ``sd_1``, ..., ``o_e``, ``var``, ``giv_effect``, ``giv_se``; arm 1 is
    RevMan's experimental arm) and RevMan's ``stored`` result for it."""

    study: str
    study_id: str
    year: int | None
    subgroup: str | None
    data: dict
    stored: Stored
    line: int | None = None


@dataclass(frozen=True)
class RevManSubgroup:
    number: int
    name: str
    stored: Stored


@dataclass(frozen=True)
class RevManAnalysis:
    """One analysis ("1.1": comparison 1, outcome 1) with RevMan's settings."""

    id: str
    comparison: str
    name: str
    data_type: str  # one of DATA_TYPES, or RevMan's own word when unknown
    method: str | None  # MH | IV | Peto
    random: bool
    measure: str  # RR | OR | RD | MD | SMD | HR | ...
    ci_study: float  # confidence level of the per-study intervals (0.95)
    ci_total: float  # of the pooled intervals
    rows: tuple[RevManRow, ...]
    stored: Stored
    subgroups: tuple[RevManSubgroup, ...] = ()
    subgroup_test: SubgroupTest | None = None
    group_labels: tuple[str | None, str | None] = (None, None)
    totals: bool = True
    swap_events: bool = False
    source: str = ""
    line: int | None = None
    settings: dict = field(default_factory=dict, compare=False)  # everything else RevMan wrote

    @property
    def dichotomous(self) -> bool:
        return self.data_type == "dichotomous"

    @property
    def provenance(self) -> str:
        return f"{self.source}, analysis {self.id} ({self.name})"

    def table(self) -> StudyTable:
        """The study table of the analysis, rows in RevMan's order; a study that appears
        in several subgroups gets one row per subgroup. Dichotomous: the 2x2 counts;
        continuous: n, mean and SD per arm; generic inverse variance: the estimate and its
        SE (RevMan holds both on the analysis scale, the log for ratios); O - E and
        variance: the log-rank statistics."""
        kind = {"dichotomous": "binary", "continuous": "continuous",
                "generic inverse variance": "generic", "O-E and variance": "time-to-event"}.get(
            self.data_type)
        if kind is None:
            raise DataError(f"analysis {self.id} is {self.data_type} data; metasynth pools "
                            "dichotomous, continuous, generic inverse variance and O-E and "
                            "variance data", self.source or None, self.line)
        need = {"binary": ("events_1", "total_1", "events_2", "total_2"),
                "continuous": ("mean_1", "sd_1", "total_1", "mean_2", "sd_2", "total_2"),
                "generic": ("giv_effect", "giv_se"), "time-to-event": ("o_e", "var")}[kind]
        words = {"binary": "2x2 counts", "continuous": "means, SDs and totals per arm",
                 "generic": "estimate and SE", "time-to-event": "O - E and variance"}[kind]
        ratio = self.measure in ("RR", "OR", "HR", "ROM")
        rows = []
        for rid, r in zip(_row_ids(self.rows), self.rows):
            d = r.data
            if any(d.get(k) is None for k in need):
                raise DataError(f"study {r.study} has no {words}", self.source or None, r.line)
            base = dict(id=rid, label=r.study, year=r.year, subgroup=r.subgroup)
            totals = {k: int(d[src]) for k, src in (("treatment_total", "total_1"),
                                                     ("control_total", "total_2"))
                      if d.get(src) is not None}
            if kind == "binary":
                row = StudyRow(**base, treatment_events=int(d["events_1"]),
                               control_events=int(d["events_2"]), **totals)
            elif kind == "continuous":
                row = StudyRow(**base, treatment_mean=d["mean_1"], treatment_sd=d["sd_1"],
                               control_mean=d["mean_2"], control_sd=d["sd_2"], **totals)
            elif kind == "generic":
                value = math.exp(d["giv_effect"]) if ratio else d["giv_effect"]
                row = StudyRow(**base, reported=ReportedEffect(None, value, se=d["giv_se"]),
                               **totals)
            else:
                row = StudyRow(**base, o_minus_e=d["o_e"], variance=d["var"], **totals)
            rows.append(row)
        model = "random effects" if self.random else "fixed effect"
        return StudyTable(rows=tuple(rows), outcome=self.id, outcome_label=self.name,
                          source=self.provenance, data_type=kind,
                          notes=(f"RevMan's analysis: {self.method or 'no method'}, {model}, "
                                 f"{self.measure}, {100 * self.ci_total:g}% CI",))

    def spec_options(self) -> dict:
        """metasynth's options for RevMan's analysis: the ``revman5`` preset (MH with
        the continuity correction in zero-cell studies, DerSimonian-Laird, Wald, Q around
        the common-effect estimate, RevMan's SMD) with this analysis's method, measure and
        CI level, and the tau² estimator and CI method a RevMan Web data package names
        (with RevMan Web's test for subgroup differences on the CI method's SEs)."""
        out = {"preset": "revman5", "level": self.ci_total}
        if self.measure in ("RR", "OR", "RD", "MD", "SMD", "ROM", "HR"):
            out["measure"] = self.measure
        if self.dichotomous:
            if self.method:
                out["common_method"] = self.method
        elif self.data_type == "O-E and variance" and self.method != "IV":
            out["common_method"] = "Peto"  # RevMan's O - E and variance: Peto's method
        else:
            out["common_method"] = "IV"  # continuous and generic inverse variance
        tau2 = _TAU2.get(self.settings.get("Heterogeneity estimator", ""))
        if tau2:
            out["tau2"] = tau2
        ci = _CI.get(self.settings.get("CI method", ""))
        if ci:  # a RevMan Web analysis: its subgroup test uses the CI method's SEs
            out["ci"] = ci
            out["subgroup_se"] = "ci"
        labels = self.group_labels
        if labels[0]:
            out["experimental"] = labels[0]
        if labels[1]:
            out["control"] = labels[1]
        return out


def _row_ids(rows) -> list[str]:
    """Unique row ids: a study in several subgroups is "name [subgroup]" after its first."""
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        n = seen[r.study] = seen.get(r.study, 0) + 1
        out.append(r.study if n == 1 else f"{r.study} [{r.subgroup or n}]")
    return out


@dataclass(frozen=True)
class RevManReview:
    title: str
    source: str
    format: str  # rm5 | revman-csv | data-package
    analyses: tuple[RevManAnalysis, ...]
    version: str = ""

    def analysis(self, analysis_id: str) -> RevManAnalysis:
        for a in self.analyses:
            if a.id == analysis_id:
                return a
        known = ", ".join(a.id for a in self.analyses) or "none"
        raise DataError(f"no analysis {analysis_id!r} (analyses: {known})", self.source)


# --------------------------------------------------------------------------- helpers

def _num(text, path: str, line: int | None, what: str) -> float | None:
    """RevMan's number text: '' is missing; 'Infinity'/'NaN' (RevMan writes them for
    subgroups without an estimate) are kept as floats; anything else is an error."""
    if text is None:
        return None
    text = str(text).strip().rstrip("%")
    if text in ("", "#N/A"):
        return None
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{what} is not a number: {text!r}", path, line) from None


def _level(text, path: str, line: int | None) -> float:
    value = _num(text, path, line, "confidence level")
    return 0.95 if value is None else value / 100.0


def _int(value) -> int | None:
    return None if value is None or not math.isfinite(value) else int(value)


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_study_id(study_id: str) -> str:
    """RevMan's study id without the ``STD-`` prefix and with ``_xHHHH_`` escapes
    decoded: ``STD-ISIS_x002d_2`` -> ``ISIS-2``."""
    text = study_id[4:] if study_id.startswith("STD-") else study_id
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


# --------------------------------------------------------------------------- rm5

@dataclass
class _Node:
    tag: str
    attrib: dict
    line: int
    children: list = field(default_factory=list)
    text: str = ""

    def find(self, tag: str):
        return next((c for c in self.children if c.tag == tag), None)

    def findtext(self, tag: str) -> str | None:
        node = self.find(tag)
        return None if node is None else node.text.strip()


def _parse_xml(data: bytes, path: str) -> _Node:
    """A tree of ``_Node`` with line numbers. DTDs and entity declarations are refused,
    so no entity is ever expanded (billion laughs) or fetched (XXE)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []
    root: list[_Node] = []

    def refuse(*_):
        raise DataError("the file declares a DTD or entities; RevMan files have none",
                        path, parser.CurrentLineNumber)

    def start(tag, attrib):
        node = _Node(tag, attrib, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_tag):
        stack.pop()

    def chars(text):
        if stack:
            stack[-1].text += text

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as err:
        raise DataError(f"not well-formed XML: {expat.errors.messages[err.code]}", path,
                        err.lineno) from None
    if not root:
        raise DataError("no XML element", path, 1)
    return root[0]


def _stored(a: dict, path: str, line: int) -> Stored:
    def n(key):
        return _num(a.get(key), path, line, key)

    est = a.get("ESTIMABLE")
    return Stored(effect=n("EFFECT_SIZE"), ci_lower=n("CI_START"), ci_upper=n("CI_END"),
                  se=n("SE"), var=n("VAR"), weight=n("WEIGHT"), chi2=n("CHI2"), df=n("DF"),
                  p_chi2=n("P_CHI2"), i2=n("I2"), tau2=n("TAU2"), z=n("Z"), p_z=n("P_Z"),
                  estimable=None if est is None else est == "YES")


_ROW_FIELDS = {"EVENTS_1": "events_1", "TOTAL_1": "total_1", "EVENTS_2": "events_2",
               "TOTAL_2": "total_2", "MEAN_1": "mean_1", "SD_1": "sd_1", "MEAN_2": "mean_2",
               "SD_2": "sd_2", "O_E": "o_e", "VAR": "var"}


def _rm5_row(node: _Node, kind: str, studies: dict, subgroup: str | None, path: str) -> RevManRow:
    a = node.attrib
    sid = a.get("STUDY_ID", "")
    name, year = studies.get(sid, (decode_study_id(sid), None))
    data = {}
    for key, name_ in _ROW_FIELDS.items():
        if key in a and not (kind == "dichotomous" and key in ("VAR", "O_E")):
            data[name_] = _num(a[key], path, node.line, key)
    if kind == "generic inverse variance":  # the input is the estimate and its SE
        data["giv_effect"] = _num(a.get("EFFECT_SIZE"), path, node.line, "EFFECT_SIZE")
        data["giv_se"] = _num(a.get("SE"), path, node.line, "SE")
    return RevManRow(study=name, study_id=sid, year=year, subgroup=subgroup, data=data,
                     stored=_stored(a, path, node.line), line=node.line)


def read_rm5(path: str | Path, data: bytes | None = None) -> RevManReview:
    """Read a RevMan 5 ``.rm5`` file."""
    name = str(path)
    if data is None:
        data = _read_bytes(path)
    root = _parse_xml(data, name)
    if root.tag != "COCHRANE_REVIEW":
        raise DataError(f"not a RevMan 5 file (root element {root.tag}, expected "
                        "COCHRANE_REVIEW)", name, root.line)
    studies = {}
    sar = root.find("STUDIES_AND_REFERENCES")
    for group in (sar.find("STUDIES").children if sar and sar.find("STUDIES") else ()):
        for s in group.children:
            if s.tag == "STUDY":
                year = s.attrib.get("YEAR", "")
                studies[s.attrib.get("ID", "")] = (
                    s.attrib.get("NAME") or decode_study_id(s.attrib.get("ID", "")),
                    int(year) if year.isdigit() else None)
    cover = root.find("COVER_SHEET")
    title = (cover.findtext("TITLE") if cover else None) or ""
    analyses = []
    block = root.find("ANALYSES_AND_DATA")
    for comp in (block.children if block else ()):
        if comp.tag != "COMPARISON":
            continue
        comp_no = comp.attrib.get("NO", "")
        for out in comp.children:
            prefix, _, rest = out.tag.partition("_")
            if rest != "OUTCOME" or prefix not in _RM5_KIND:
                continue
            analyses.append(_rm5_analysis(out, prefix, comp_no, comp.findtext("NAME") or "",
                                          studies, name))
    return RevManReview(title=title, source=name, format="rm5", analyses=tuple(analyses),
                        version=root.attrib.get("REVMAN_SUB_VERSION", "").strip())


_RATIOS = ("RR", "OR", "HR", "ROM", "RATE RATIO")


def _giv_log_scale(row: RevManRow, path: str, level: float = 0.95) -> RevManRow:
    """A ratio's generic inverse-variance row of a ``.rm5`` with its estimate on the log
    scale (``giv_effect``; ``giv_se`` is the SE of the log). The file's EFFECT_SIZE is the
    ratio (as R meta's read.rm5 takes it, logging it); where the stored 95% CI says it is
    already the log, it is kept. A row whose CI fits neither is refused."""
    from metasynth.distributions import norm_quantile

    d, st = dict(row.data), row.stored
    est, se = d.get("giv_effect"), d.get("giv_se")
    if est is None or se is None:
        return row
    z = norm_quantile(1 - (1 - level) / 2)
    if st.ci_lower is not None and st.ci_lower > 0:
        low = math.log(st.ci_lower)
        if est > 0 and math.isclose(low, math.log(est) - z * se, rel_tol=1e-6, abs_tol=1e-6):
            d["giv_effect"] = math.log(est)
        elif not math.isclose(low, est - z * se, rel_tol=1e-6, abs_tol=1e-6):
            raise DataError(f"study {row.study}: EFFECT_SIZE {est:g} with SE {se:g} fits its "
                            f"CI ({st.ci_lower:g}) neither as a ratio nor as its log", path,
                            row.line)
    elif est > 0:
        d["giv_effect"] = math.log(est)
    else:
        raise DataError(f"study {row.study}: a ratio's EFFECT_SIZE must be positive, got "
                        f"{est:g}", path, row.line)
    return RevManRow(row.study, row.study_id, row.year, row.subgroup, d, row.stored, row.line)


def _rm5_analysis(out: _Node, prefix: str, comp_no: str, comp_name: str, studies: dict,
                  path: str) -> RevManAnalysis:
    a = out.attrib
    kind = _RM5_KIND[prefix]
    rows, subgroups = [], []
    for child in out.children:
        if child.tag == f"{prefix}_DATA":
            rows.append(_rm5_row(child, kind, studies, None, path))
        elif child.tag == f"{prefix}_SUBGROUP":
            sub = child.findtext("NAME") or ""
            subgroups.append(RevManSubgroup(int(child.attrib.get("NO", len(subgroups) + 1)), sub,
                                            _stored(child.attrib, path, child.line)))
            rows.extend(_rm5_row(r, kind, studies, sub, path) for r in child.children
                        if r.tag == f"{prefix}_DATA")
    measure = a.get("EFFECT_MEASURE", "")
    method = a.get("METHOD")
    if measure == "PETO_OR":
        method = "Peto"
    if kind == "generic inverse variance" and _MEASURES.get(measure, measure) in _RATIOS:
        level = _level(a.get("CI_STUDY"), path, out.line)
        rows = [_giv_log_scale(r, path, level) for r in rows]
    test = None
    if a.get("SUBGROUPS") == "YES" and a.get("SUBGROUP_TEST", "YES") == "YES":
        test = SubgroupTest(*(_num(a.get(k), path, out.line, k) for k in ("Q", "DF_Q", "P_Q", "I2_Q")))
        if test.df is None and subgroups:
            test = SubgroupTest(test.chi2, float(sum(1 for s in subgroups if s.stored.estimable) - 1),
                                test.p, test.i2)
    return RevManAnalysis(
        id=f"{comp_no}.{a.get('NO', '')}", comparison=comp_name, name=out.findtext("NAME") or "",
        data_type=kind, method=_METHODS.get(method or "", method), random=a.get("RANDOM") == "YES",
        measure=_MEASURES.get(measure, measure), ci_study=_level(a.get("CI_STUDY"), path, out.line),
        ci_total=_level(a.get("CI_TOTAL"), path, out.line), rows=tuple(rows),
        stored=_stored(a, path, out.line), subgroups=tuple(subgroups), subgroup_test=test,
        group_labels=(out.findtext("GROUP_LABEL_1"), out.findtext("GROUP_LABEL_2")),
        totals=a.get("TOTALS", "YES") != "NO", swap_events=a.get("SWAP_EVENTS") == "YES",
        source=path, line=out.line,
        settings={k: v for k, v in a.items() if k in ("SORT_BY", "SCALE", "UNITS", "SUBGROUPS")})


# --------------------------------------------------------------------------- CSV

def _csv_rows(text: str, path: str) -> tuple[list[str], list[tuple[int, dict]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DataError("file is empty", path, 1) from None
    rows = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise DataError(f"expected {len(header)} fields, found {len(cells)}", path, line)
        rows.append((line, dict(zip(header, (c.strip() for c in cells)))))
    return header, rows


def _require(header: list[str], columns: tuple[str, ...], path: str, what: str) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"not {what}: missing column(s) {', '.join(missing)}", path, 1)


_REVMAN_CSV = ("Comparison Number", "Outcome Number", "Subgroup Number", "Name", "Data Type",
               "Statistical Method", "Effect Measure", "Analysis Model")


def read_revman_csv(path: str | Path, text: str | None = None) -> RevManReview:
    """RevMan's analysis CSV export (``Comparison Number,Outcome Number,...``): a line
    per comparison, analysis, subgroup and study. A line with a data type opens an
    analysis; within it, a line with a heterogeneity Q is a subgroup, any other a study."""
    name = str(path)
    text = _read_text(path) if text is None else text
    header, rows = _csv_rows(text, name)
    _require(header, _REVMAN_CSV, name, "a RevMan analysis CSV")
    comparisons: dict[str, str] = {}
    analyses: list[dict] = []
    for line, r in rows:
        comp, out, sub = r["Comparison Number"], r["Outcome Number"], r["Subgroup Number"]
        def n(col, r=r, line=line):
            return _num(r.get(col), name, line, col)

        if out in ("", "0"):
            comparisons[comp] = r["Name"]
            continue
        stored = Stored(effect=n("Effect Estimate"), ci_lower=n("CI Start"), ci_upper=n("CI End"),
                        se=n("SE"), weight=n("Weight"), chi2=n("Q"), df=n("df"), p_chi2=n("P(Q)"),
                        i2=n("I²(Q)"), tau2=n("Tau²"), z=n("Z"), p_z=n("P(Z)"))
        if r["Data Type"]:
            kind = _CSV_KIND.get(r["Data Type"], r["Data Type"])
            analyses.append({
                "id": f"{comp}.{out}", "comparison": comparisons.get(comp, ""), "name": r["Name"],
                "data_type": kind, "method": _METHODS.get(r["Statistical Method"]) or None,
                "random": r["Analysis Model"].lower().startswith("random"),
                "measure": _MEASURES.get(r["Effect Measure"], r["Effect Measure"]),
                "stored": stored, "line": line, "rows": [], "subgroups": [],
                "group_labels": (r.get("Group Label 1") or None, r.get("Group Label 2") or None),
                "subgroup_test": SubgroupTest(n("Qint"), None, n("P(Qint)"), n("I²(Qint)")),
                "current": None})
            continue
        if not analyses or analyses[-1]["id"] != f"{comp}.{out}":
            raise DataError(f"a line of analysis {comp}.{out} before its analysis line", name, line)
        an = analyses[-1]
        if sub not in ("", "0") and r.get("Q"):
            an["subgroups"].append(RevManSubgroup(int(sub), r["Name"], stored))
            an["current"] = r["Name"]
            continue
        data = {k: n(col) for k, col in (("events_1", "Events 1"), ("total_1", "Total 1"),
                                         ("events_2", "Events 2"), ("total_2", "Total 2"),
                                         ("mean_1", "Mean 1"), ("sd_1", "SD 1"),
                                         ("mean_2", "Mean 2"), ("sd_2", "SD 2"))}
        if an["data_type"] == "dichotomous":
            data = {k: v for k, v in data.items() if k.startswith(("events", "total"))}
        elif an["data_type"] == "continuous":
            data = {k: v for k, v in data.items() if not k.startswith("events")}
        year = n("Year of study")
        an["rows"].append(RevManRow(study=r["Name"], study_id=r["Name"], year=_int(year),
                                    subgroup=an["current"], data=data, stored=stored, line=line))
    out = []
    for an in analyses:
        test = an["subgroup_test"] if an["subgroups"] else None
        if test is not None:
            test = SubgroupTest(test.chi2, float(len(an["subgroups"]) - 1), test.p, test.i2)
        out.append(RevManAnalysis(
            id=an["id"], comparison=an["comparison"], name=an["name"], data_type=an["data_type"],
            method=an["method"], random=an["random"], measure=an["measure"], ci_study=0.95,
            ci_total=0.95, rows=tuple(an["rows"]), stored=an["stored"],
            subgroups=tuple(an["subgroups"]), subgroup_test=test, group_labels=an["group_labels"],
            source=name, line=an["line"]))
    return RevManReview(title=next(iter(comparisons.values()), ""), source=name,
                        format="revman-csv", analyses=tuple(out))


_DATA_ROWS = ("Analysis group", "Analysis number", "Analysis name", "Subgroup", "Study",
              "Experimental cases", "Experimental N", "Control cases", "Control N", "Weight",
              "Mean", "CI start", "CI end")
_SETTINGS = ("Analysis group", "Analysis number", "Data type", "Statistical method",
             "Effect measure", "Analysis model", "Mean", "CI start", "CI end")


def read_data_package(path: str | Path, files: dict[str, str] | None = None) -> RevManReview:
    """A Cochrane review's data package: ``*-data-rows.csv`` with, when present beside
    it, ``*-overall-estimates-and-settings.csv`` and ``*-subgroup-estimates.csv``.
    ``path`` is the zip (searched through nested zips) or the data-rows CSV."""
    name = str(path)
    if files is None:
        files = _package_files(Path(path))
    rows_name = next((k for k in files if k.endswith("-data-rows.csv")),
                     name if name in files else None)
    if rows_name is None:
        raise DataError("no *-data-rows.csv in the data package", name)
    settings_name = next((k for k in files if k.endswith("-overall-estimates-and-settings.csv")), None)
    sub_name = next((k for k in files if k.endswith("-subgroup-estimates.csv")), None)
    where = f"{name}:{rows_name}" if rows_name != name else name
    header, rows = _csv_rows(files[rows_name], where)
    _require(header, _DATA_ROWS, where, "a data-rows CSV")
    settings: dict[str, tuple[int, dict]] = {}
    swhere = f"{name}:{settings_name}"
    if settings_name:
        sheader, srows = _csv_rows(files[settings_name], swhere)
        _require(sheader, _SETTINGS, swhere, "an overall-estimates CSV")
        settings = {f"{r['Analysis group']}.{r['Analysis number']}": (line, r) for line, r in srows}
    subgroups: dict[str, list] = {}
    gwhere = f"{name}:{sub_name}"
    if sub_name:
        _, grows = _csv_rows(files[sub_name], gwhere)
        for line, r in grows:
            subgroups.setdefault(f"{r['Analysis group']}.{r['Analysis number']}", []).append(
                RevManSubgroup(int(r.get("Subgroup number") or len(subgroups) + 1), r["Subgroup"],
                               _package_stored(r, gwhere, line)))
    by_id: dict[str, list] = {}
    names: dict[str, str] = {}
    for line, r in rows:
        aid = f"{r['Analysis group']}.{r['Analysis number']}"
        names[aid] = r["Analysis name"]
        def n(col, r=r, line=line):
            return _num(r.get(col), where, line, col)

        data = {"events_1": n("Experimental cases"), "total_1": n("Experimental N"),
                "events_2": n("Control cases"), "total_2": n("Control N"),
                "mean_1": n("Experimental mean"), "sd_1": n("Experimental SD"),
                "mean_2": n("Control mean"), "sd_2": n("Control SD"),
                "o_e": n("O-E"), "var": n("Variance"), "giv_effect": n("GIV Mean"),
                "giv_se": n("GIV SE")}
        year = n("Study year")
        stored = Stored(weight=n("Weight"), effect=n("Mean"), ci_lower=n("CI start"),
                        ci_upper=n("CI end"))
        by_id.setdefault(aid, []).append(RevManRow(
            study=r["Study"], study_id=r["Study"], year=_int(year), subgroup=r["Subgroup"] or None,
            data=data, stored=stored, line=line))
    analyses = []
    for aid, arows in by_id.items():
        line, s = settings.get(aid, (None, {}))
        kind = _WORDS_KIND.get(s.get("Data type", "").lower(), s.get("Data type") or "unknown")
        keep = {"dichotomous": ("events_1", "total_1", "events_2", "total_2"),
                "continuous": ("mean_1", "sd_1", "total_1", "mean_2", "sd_2", "total_2"),
                "generic inverse variance": ("giv_effect", "giv_se", "total_1", "total_2"),
                "O-E and variance": ("o_e", "var", "total_1", "total_2")}.get(kind)
        if keep:
            arows = [RevManRow(r.study, r.study_id, r.year, r.subgroup,
                               {k: r.data[k] for k in keep}, r.stored, r.line) for r in arows]
        test = None
        if s.get("Subgroup Chi²"):
            test = SubgroupTest(*(_num(s.get(c), swhere, line, c) for c in
                                  ("Subgroup Chi²", "Subgroup df", "Subgroup P", "Subgroup I²")))
        analyses.append(RevManAnalysis(
            id=aid, comparison=s.get("Analysis group name", ""), name=names[aid], data_type=kind,
            method=_METHODS.get(s.get("Statistical method", "")) or None,
            random=s.get("Analysis model", "").lower().startswith("random"),
            measure=_MEASURES.get(s.get("Effect measure", "").lower(), s.get("Effect measure", "")),
            ci_study=_level(s.get("Study CI", s.get("CI/PI level")), swhere, line),
            ci_total=_level(s.get("Estimate CI", s.get("CI/PI level")), swhere, line),
            rows=tuple(arows),
            stored=_package_stored(s, swhere, line) if s else Stored(),
            subgroups=tuple(subgroups.get(aid, ())), subgroup_test=test,
            group_labels=(s.get("Experimental group label") or None,
                          s.get("Control group label") or None),
            swap_events=s.get("Swap event and non-event", "").lower() == "true",
            source=where, line=line if settings_name else None,
            settings={k: v for k, v in s.items() if k in (
                "Log-scale data", "Data source", "ID", "Heterogeneity estimator", "CI method",
                "Prediction interval", "Overall estimates")}))
    return RevManReview(title="", source=name, format="data-package", analyses=tuple(analyses))


def _package_stored(r: dict, path: str, line: int | None) -> Stored:
    def n(col):
        return _num(r.get(col), path, line, col)

    return Stored(effect=n("Mean"), ci_lower=n("CI start"), ci_upper=n("CI end"),
                  weight=n("Weight"), tau2=n("Heterogeneity Tau²"), chi2=n("Heterogeneity Chi²"),
                  df=n("Heterogeneity df"), p_chi2=n("Heterogeneity P"), i2=n("Heterogeneity I²"),
                  z=n("Effect Z"), p_z=n("Effect P"), t=n("Effect T"))


def _read_bytes(path) -> bytes:
    """The file through the one bounded reader (regular files only, size checked first)."""
    from metasynth.inputs import MAX_TABLE_BYTES, read_bounded

    return read_bounded(path, MAX_TABLE_BYTES, "RevMan file")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _read_text(path) -> str:
    return _decode(_read_bytes(path))


def _package_files(path: Path) -> dict[str, str]:
    """The analysis CSVs of a data package: from a zip (and the zips inside it), or the
    data-rows CSV and its siblings."""
    if path.suffix.lower() != ".zip":
        return {str(f) if f == path else f.name: _read_text(f)
                for f in [path, *path.parent.glob("*-estimates*.csv")] if f.is_file()}
    from metasynth.inputs import MAX_TABLE_BYTES

    out: dict[str, str] = {}

    def walk(zf: zipfile.ZipFile, depth: int) -> None:
        for info in zf.infolist():
            lower = info.filename.lower()
            wanted = lower.endswith(".csv") and ("analysis" in lower
                                                 or lower.endswith("-data-rows.csv"))
            if (wanted or (lower.endswith(".zip") and depth < 2)) and \
                    info.file_size > MAX_TABLE_BYTES:  # the bounded reader's limit, unpacked
                raise DataError(f"{info.filename} unpacks to {info.file_size} bytes; the limit "
                                f"is {MAX_TABLE_BYTES}", str(path))
            if wanted:
                out[info.filename] = zf.read(info).decode("utf-8-sig")
            elif lower.endswith(".zip") and depth < 2:
                walk(zipfile.ZipFile(io.BytesIO(zf.read(info))), depth + 1)

    try:
        with zipfile.ZipFile(io.BytesIO(_read_bytes(path))) as zf:
            walk(zf, 0)
    except (OSError, zipfile.BadZipFile) as err:
        raise DataError(f"not a readable zip file: {err}", str(path)) from None
    return out


def is_revman_file(path: str | Path) -> bool:
    """Whether ``path`` is a file in one of the three RevMan formats (by name and first line)."""
    p = Path(path)
    if not p.is_file():
        return False
    if p.suffix.lower() in (".rm5", ".zip"):
        return True
    with p.open("rb") as fh:
        first = fh.readline(4096).lstrip(b"\xef\xbb\xbf")
    return first.startswith((b"Comparison Number", b"Analysis group", b"<?xml"))


def read_revman(path: str | Path) -> RevManReview:
    """Any of the three formats, told apart by the file's content."""
    p = Path(path)
    if p.suffix.lower() == ".zip":
        return read_data_package(p)
    data = _read_bytes(p)  # read once, and handed to the reader of its format
    head = data[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        return read_rm5(p, data)
    first = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    if first.startswith("Comparison Number"):
        return read_revman_csv(p, _decode(data))
    if first.startswith("Analysis group"):
        return read_data_package(p)
    raise DataError("not a RevMan file (.rm5 XML, RevMan analysis CSV or a Cochrane data "
                    "package)", str(path), 1)


# --------------------------------------------------------------------------- out

#: metasynth's CSV columns per RevMan data type: the layouts ``metasynth pool`` reads
#: (``records.table``); a generic inverse-variance estimate is written on the reporting
#: scale (the ratio for RR, OR, ROM, HR), its SE on the analysis scale
CSV_LAYOUTS = {
    "dichotomous": (("treatment_events", "events_1"), ("treatment_total", "total_1"),
                    ("control_events", "events_2"), ("control_total", "total_2")),
    "continuous": (("treatment_mean", "mean_1"), ("treatment_sd", "sd_1"),
                   ("treatment_total", "total_1"), ("control_mean", "mean_2"),
                   ("control_sd", "sd_2"), ("control_total", "total_2")),
    "generic inverse variance": (("estimate", "giv_effect"), ("se", "giv_se"),
                                 ("treatment_total", "total_1"), ("control_total", "total_2")),
    "O-E and variance": (("o_minus_e", "o_e"), ("variance", "var"), ("treatment_total", "total_1"),
                         ("control_total", "total_2")),
}


def _cell(value) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def analysis_csv(analysis: RevManAnalysis) -> str:
    """One analysis as a metasynth CSV: ``study``, the data columns of its type,
    ``subgroup``, ``year`` and ``source`` (file and analysis) on every row."""
    layout = CSV_LAYOUTS.get(analysis.data_type)
    if layout is None:
        raise DataError(f"analysis {analysis.id}: no CSV layout for {analysis.data_type} data",
                        analysis.source or None, analysis.line)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["study", *(c for c, _ in layout), "subgroup", "year", "source"])
    table_ids = _row_ids(analysis.rows)
    ratio = analysis.measure in ("RR", "OR", "HR", "ROM")
    for rid, r in zip(table_ids, analysis.rows):
        data = dict(r.data)
        if ratio and data.get("giv_effect") is not None:  # the CSV's estimate is the ratio
            data["giv_effect"] = math.exp(data["giv_effect"])
        w.writerow([rid, *(_cell(data.get(k)) for _, k in layout), r.subgroup or "",
                    "" if r.year is None else r.year, analysis.provenance])
    return buf.getvalue()


INDEX_COLUMNS = ("analysis", "name", "data_type", "method", "model", "measure", "studies",
                 "subgroups", "file", "effect", "ci_lower", "ci_upper", "chi2", "df", "i2",
                 "tau2", "z", "p_z", "source")


def _file_name(analysis: RevManAnalysis) -> str:
    return f"analysis-{analysis.id}.csv"


def index_csv(review: RevManReview) -> str:
    """One line per analysis: RevMan's settings and stored pooled results, and the CSV
    file ``write_import`` gives it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(INDEX_COLUMNS)
    for a in review.analyses:
        s = a.stored
        w.writerow([a.id, a.name, a.data_type, a.method or "", "random" if a.random else "fixed",
                    a.measure, len(a.rows), len(a.subgroups),
                    _file_name(a) if a.data_type in CSV_LAYOUTS else "",
                    *(_cell(x) for x in (s.effect, s.ci_lower, s.ci_upper, s.chi2, s.df, s.i2,
                                         s.tau2, s.z, s.p_z)), a.provenance])
    return buf.getvalue()


def write_import(review: RevManReview, folder: str | Path) -> list[Path]:
    """Write ``analyses.csv`` (the index) and one CSV per analysis into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "analyses.csv"]
    written[0].write_text(index_csv(review), encoding="utf-8")
    for a in review.analyses:
        if a.data_type in CSV_LAYOUTS and a.rows:
            path = folder / _file_name(a)
            path.write_text(analysis_csv(a), encoding="utf-8")
            written.append(path)
    return written
