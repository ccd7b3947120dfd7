"""Consistency checks a schema cannot express: counts, quotes, percentages, estimates.

Each check returns ``Finding``s located by file and line. Errors make a record
invalid; warnings are shown but do not fail validation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from metasynth.records.outcomes import Registry
from metasynth.records.schema import Outcome, Study
from metasynth.records.yaml_source import YamlDocument

SEVERITY = {"low": 0, "some-concerns": 1, "high": 2}


@dataclass(frozen=True)
class Finding:
    level: str  # "error" | "warning"
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        tag = "" if self.level == "error" else "warning: "
        return f"{where}: {tag}{self.message}"


class _Collector:
    def __init__(self, doc: YamlDocument):
        self.doc = doc
        self.findings: list[Finding] = []

    def error(self, loc: tuple, message: str) -> None:
        self.findings.append(Finding("error", self.doc.path, self.doc.line_of(loc), message))

    def warn(self, loc: tuple, message: str) -> None:
        self.findings.append(Finding("warning", self.doc.path, self.doc.line_of(loc), message))


def _decimals(x: float) -> int:
    text = repr(float(x))
    if "e" in text:
        return 6
    return len(text.split(".")[1].rstrip("0")) if "." in text else 0


def _numbers_in(text: str) -> set[str]:
    return set(re.findall(r"(?<![\d.])\d+(?![\d])", text.replace(",", "")))


_FRACTION_PERCENT = re.compile(
    r"(?<![\d.])(\d+)\s*/\s*(\d+)\s*[\(\[]\s*(\d+(?:\.\d+)?)\s*%")


def crude_estimate(measure: str, a: int, n1: int, c: int, n2: int) -> float | None:
    """Unadjusted RR, OR or RD from counts (0.5 added to every cell if one is zero)."""
    b, d = n1 - a, n2 - c
    if 0 in (a, b, c, d):
        if measure == "RD":
            pass
        else:
            a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
            n1, n2 = a + b, c + d
    if measure == "RR":
        return (a / n1) / (c / n2)
    if measure == "OR":
        return (a * d) / (b * c)
    if measure == "RD":
        return a / n1 - c / n2
    return None


def _within_rounding(computed: float, reported: float, decimals: int, slack: float = 1.0) -> bool:
    """True if ``computed`` rounds to ``reported`` at the precision it was reported."""
    return abs(computed - reported) <= slack * 0.5 * 10 ** (-decimals) + 1e-9


def check_study(study: Study, doc: YamlDocument, registry: Registry, stem: str) -> list[Finding]:
    out = _Collector(doc)
    if study.id != stem:
        out.error(("id",), f"id '{study.id}' must equal the file name '{stem}'")
    source_ids = [s.id for s in study.sources]
    kinds = {s.id: s.kind for s in study.sources}
    for i, sid in enumerate(source_ids):
        if source_ids.count(sid) > 1:
            out.error(("sources", i, "id"), f"duplicate source id '{sid}'")

    def check_provenance(provs, loc):
        for j, p in enumerate(provs):
            if p.source not in source_ids:
                out.error(loc + (j, "source"), f"provenance names unknown source '{p.source}' "
                          f"(sources: {', '.join(source_ids)})")
            _check_status(out, p, kinds.get(p.source), loc + (j,))

    arm_ids = [a.id for a in study.arms]
    arms = {a.id: a for a in study.arms}
    for i, arm in enumerate(study.arms):
        loc = ("arms", i)
        if arm_ids.count(arm.id) > 1:
            out.error(loc + ("id",), f"duplicate arm id '{arm.id}'")
        if arm.randomized is not None and arm.analysed is not None and arm.analysed > arm.randomized:
            out.error(loc + ("analysed",), f"analysed ({arm.analysed}) exceeds randomized "
                      f"({arm.randomized}) in arm '{arm.id}'")
        if (arm.randomized is not None or arm.analysed is not None) and not arm.provenance:
            out.error(loc, f"arm '{arm.id}' gives numbers without provenance")
        check_provenance(arm.provenance, loc + ("provenance",))
        _check_quotes(out, [arm.randomized, arm.analysed], arm.provenance, loc, f"arm '{arm.id}'")
    roles = {a.role for a in study.arms}
    if roles != {"experimental", "control"}:
        out.error(("arms",), "a trial needs at least one experimental and one control arm")

    seen: dict[tuple, int] = {}
    for i, outcome in enumerate(study.outcomes):
        loc = ("outcomes", i)
        key = (outcome.endpoint, outcome.timepoint_days)
        if key in seen:
            out.error(loc, f"endpoint '{outcome.endpoint}' at day {outcome.timepoint_days} is "
                      f"recorded twice (also outcomes[{seen[key]}])")
        seen[key] = i
        endpoint = registry.endpoint(outcome.endpoint)
        if endpoint is None:
            known = ", ".join(e.id for e in registry.endpoints)
            out.error(loc + ("endpoint",), f"unknown endpoint '{outcome.endpoint}' "
                      f"(known: {known})")
        elif endpoint.type == "binary" and outcome.counts is None and outcome.reported_estimate is None:
            out.error(loc, f"binary endpoint '{outcome.endpoint}' needs counts or a "
                      "reported_estimate")
        elif endpoint.type == "continuous" and outcome.values is None:
            out.error(loc, f"continuous endpoint '{outcome.endpoint}' needs values")
        check_provenance(outcome.provenance, loc + ("provenance",))
        _check_counts(out, outcome.counts, arms, loc + ("counts",), outcome.provenance)
        if outcome.reported_estimate is not None:
            check_provenance(outcome.reported_estimate.provenance,
                             loc + ("reported_estimate", "provenance"))
            _check_estimate(out, outcome, study, loc)
        for j, alt in enumerate(outcome.alternatives):
            check_provenance(alt.provenance, loc + ("alternatives", j, "provenance"))
            _check_counts(out, alt.counts, arms, loc + ("alternatives", j, "counts"), alt.provenance)
        _check_percentages(out, outcome.provenance, loc + ("provenance",))

    seen_rob: set[str] = set()
    for j, rob in enumerate(study.risk_of_bias):
        loc = ("risk_of_bias", j)
        if registry.endpoint(rob.endpoint) is None:
            known = ", ".join(e.id for e in registry.endpoints)
            out.error(loc + ("endpoint",), f"unknown endpoint '{rob.endpoint}' (known: {known})")
        if rob.endpoint in seen_rob:
            out.error(loc + ("endpoint",), f"risk of bias for '{rob.endpoint}' is assessed twice")
        seen_rob.add(rob.endpoint)
        worst = max(SEVERITY[getattr(rob, d).judgement] for d in ("D1", "D2", "D3", "D4", "D5"))
        if SEVERITY[rob.overall.judgement] < worst:
            out.error(loc + ("overall",), f"overall judgement '{rob.overall.judgement}' "
                      "is less severe than the worst domain (RoB 2: overall is at least the "
                      "worst domain)")
    return out.findings


def _check_status(out: _Collector, p, kind: str | None, loc: tuple) -> None:
    """A number read in the trial's own publication cites a primary source; one read only
    in a review or registry summary cites a secondary or registry source."""
    if p.status is None:
        out.warn(loc, "extraction status not recorded (status: primary | secondary | derived)")
    elif kind is not None and (p.status == "primary") != (kind == "primary") \
            and p.status != "derived":
        out.error(loc + ("status",), f"status '{p.status}' but source '{p.source}' is a "
                  f"{kind} source (primary: the trial's own publication; secondary: a review, "
                  "meta-analysis or registry summary)")


def _check_counts(out: _Collector, counts, arms: dict, loc: tuple, provenance) -> None:
    if counts is None:
        return
    roles = set()
    for arm_id, count in counts.items():
        cloc = loc + (arm_id,)
        arm = arms.get(arm_id)
        if arm is None:
            out.error(cloc, f"counts name unknown arm '{arm_id}' (arms: {', '.join(arms)})")
            continue
        roles.add(arm.role)
        if count.events > count.total:
            out.error(cloc + ("events",), f"events ({count.events}) exceed total "
                      f"({count.total}) in arm '{arm_id}'")
        if arm.randomized is not None and count.total > arm.randomized:
            out.error(cloc + ("total",), f"total ({count.total}) exceeds the {arm.randomized} "
                      f"randomized in arm '{arm_id}'")
        _check_quotes(out, [count.events, count.total], provenance, cloc, f"arm '{arm_id}'")
    if roles and roles != {"experimental", "control"}:
        out.error(loc, "counts need an experimental and a control arm")


def _check_quotes(out: _Collector, numbers, provenance, loc, what: str) -> None:
    """Every number should appear in a quote, unless the provenance says it was derived."""
    if not provenance or any(p.derived for p in provenance):
        return
    found = set().union(*(_numbers_in(p.quote) for p in provenance))
    for n in numbers:
        if n is not None and str(n) not in found:
            out.warn(loc, f"{n} ({what}) does not appear in any quote of its provenance; "
                     "quote the source or explain it in 'derived'")


def _check_percentages(out: _Collector, provenance, loc) -> None:
    """'x/n (p%)' in a quote must agree with x/n within the rounding of p."""
    for j, p in enumerate(provenance):
        for m in _FRACTION_PERCENT.finditer(p.quote.replace(",", "")):
            x, n, pct = int(m.group(1)), int(m.group(2)), m.group(3)
            if n == 0 or x > n:
                continue
            decimals = len(pct.split(".")[1]) if "." in pct else 0
            if not _within_rounding(100 * x / n, float(pct), decimals):
                out.error(loc + (j, "quote"), f"quote says {x}/{n} is {pct}%, but it is "
                          f"{100 * x / n:.{decimals + 1}f}%")


def _check_estimate(out: _Collector, outcome: Outcome, study: Study, loc: tuple) -> None:
    est = outcome.reported_estimate
    if est.measure not in ("RR", "OR", "RD") or outcome.counts is None:
        return
    roles = {a.id: a.role for a in study.arms}
    exp = [c for a, c in outcome.counts.items() if roles.get(a) == "experimental"]
    ctl = [c for a, c in outcome.counts.items() if roles.get(a) == "control"]
    if len(exp) != 1 or len(ctl) != 1:
        return  # multi-arm: the trial's estimate may be for one arm; not checked
    crude = crude_estimate(est.measure, exp[0].events, exp[0].total, ctl[0].events, ctl[0].total)
    if crude is None or not math.isfinite(crude):
        return
    decimals = _decimals(est.value)
    if not _within_rounding(crude, est.value, decimals, slack=2.0):
        message = (f"reported {est.measure} {est.value} disagrees with the counts "
                   f"({est.measure} {crude:.{decimals + 2}f} from "
                   f"{exp[0].events}/{exp[0].total} vs {ctl[0].events}/{ctl[0].total})")
        eloc = loc + ("reported_estimate", "value")
        if est.adjusted:
            out.warn(eloc, message + "; the record says it was adjusted")
        else:
            out.error(eloc, message + "; if the trial adjusted it, set adjusted: true")
