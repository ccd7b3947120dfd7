"""The report's words: no raw identifiers, one participant count, per-outcome RoB, the
DRAFT mark (each test a defect of issue 13). Reads the report built once per run."""

import re
import typing
from html.parser import HTMLParser

import pytest

pytest.importorskip("weasyprint")


class _Text(HTMLParser):
    """The text a reader reads: no <style>, <svg> (figures are checked apart), <code>, or
    verbatim quotes of the sources."""

    SKIP: typing.ClassVar = {"style", "svg", "code", "script", "title"}

    def __init__(self):
        super().__init__()
        self.parts, self.stack = [], []

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class", "")
        self.stack.append(tag in self.SKIP or "quote" in cls)

    def handle_endtag(self, tag):
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not any(self.stack):
            self.parts.append(data)


def _reader_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    return " ".join(p.parts)


def _raw_identifiers() -> set[str]:
    """Field names and enumerated values of the record schema written as code (with _ or
    -), and the outcome registry's ids."""
    from metasynth.records import schema

    names = set()
    for model in vars(schema).values():
        if isinstance(model, type) and issubclass(model, schema.Strict):
            for fname, f in model.model_fields.items():
                if "_" in fname:
                    names.add(fname)
                for arg in typing.get_args(f.annotation) or (f.annotation,):
                    for v in typing.get_args(arg) if typing.get_origin(arg) is typing.Literal else ():
                        if isinstance(v, str) and ("-" in v or "_" in v):
                            names.add(v)
    names |= {"sae", "hksj-adhoc", "half-cauchy", "msc_ev", "ards_improvement",
              "clinical_improvement", "invasive_ventilation"}
    return names


def test_no_raw_identifiers_in_the_report_text(built_report):
    """Checked on the report's own words; the appendix reproduces the records' provenance
    (quotes and the extractors' derivations) as written, and is left out. The records'
    source ids ("review_cc") are raw identifiers too: the Included studies table showed
    "Wharton's jelly-derived per secondary source review_cc"."""
    from metasynth.records.load import load_studies
    from tests.conftest import STUDIES

    text = _reader_text(built_report.files.html.read_text())
    # up to the appendix's heading, the last time its name is written: the first is in
    # the table of contents (splitting there had left 5,000 characters to check)
    text = text.rsplit("Appendix: the source of every number pooled", 1)[0]
    assert len(text) > 100_000
    source_ids = {src.id for st in load_studies(STUDIES).studies for src in st.study.sources
                  if "_" in src.id or "-" in src.id}
    assert "review_cc" in source_ids
    found = {n for n in _raw_identifiers() | source_ids
             if re.search(rf"(?<![\w/.-]){re.escape(n)}(?![\w-])", text)}
    assert not found, f"raw identifiers in the report text: {sorted(found)}"


def test_source_ids_are_written_as_short_citations():
    from types import SimpleNamespace as NS

    from metasynth.render.text.report import short_citation, source_words

    cc = NS(id="review_cc", citation="Meta-analysis, Crit Care 2023;27:31, Table 1 (PMC9857915)")
    ghrp = NS(id="review_ghrp", citation="Safety and efficiency of stem cell therapy for "
              "COVID-19: a systematic review and meta-analysis. Glob Health Res Policy "
              "2022;7:19, Table 1 (PMC9217728)")
    odd = NS(id="main", citation="Trial listing page (no journal)")
    assert short_citation(cc) == "Crit Care 2023"
    assert short_citation(ghrp) == "Glob Health Res Policy 2022"
    assert short_citation(odd) == "Trial listing page (no journal)"
    study = NS(sources=[cc, ghrp, odd])
    assert source_words("MSCs (per secondary source review_cc; 'UC-MSCs' per review_ghrp)",
                        study) == ("MSCs (per secondary source Crit Care 2023; 'UC-MSCs' per "
                                   "Glob Health Res Policy 2022)")
    assert source_words("the main arm; domain", study) == "the main arm; domain"


def test_method_names_keep_their_capitals_in_the_methods_text(built_report):
    """Issue #13: method names as published, also where a sensitivity label is run into
    a sentence (the list was lower-cased whole: "dersimonian-laird, wald ci (revman 5)")."""
    text = _reader_text(built_report.files.html.read_text())
    methods = text.split("Sensitivity analyses: ", 1)[1].split(".", 1)[0]
    assert "DerSimonian-Laird, Wald CI (RevMan 5)" in methods
    assert "common-effect model (Mantel-Haenszel)" in methods
    assert "Paule-Mandel, HKSJ ad hoc CI" in methods


def test_participant_counts_agree_across_sections(report_data):
    """The Summary of Findings, GRADE's imprecision rule and the outcome's counts give one
    number of participants."""
    for sec in report_data.outcomes:
        if sec.result is None:
            continue
        n = sec.result.counts.participants
        assert sec.sof["participants"].startswith(f"{n} ("), sec.id
        imprecision = next(d for d in sec.certainty.domains if d.domain == "imprecision")
        assert f"{n} participants" in imprecision.rule, sec.id
    if report_data.tsa is not None:
        tsa_out = next(s for s in report_data.outcomes if s.id == report_data.tsa.id)
        assert f"{tsa_out.result.counts.participants} participants" in " ".join(
            report_data.tsa.sentences)


def test_rob_per_outcome_in_the_report(report_data):
    """GRADE's risk of bias names the outcome's own assessments; an outcome nobody assessed
    is 'not assessed', never given death's judgements."""
    for sec in report_data.outcomes:
        if sec.result is None:
            continue
        rob = next(d for d in sec.certainty.domains if d.domain == "risk_of_bias")
        assert sec.rob_endpoint.lower() in rob.rule
        if sec.id == "sae":  # every SAE trial has its own SAE assessment (issue 16)
            assert re.search(r"(?<![\d.])0% not assessed", rob.rule), rob.rule
    by_endpoint = {r["endpoint"]: r for r in report_data.rob_figures}
    assert "traffic" in by_endpoint["death"] and "traffic" in by_endpoint["sae"]


def test_draft_mark_names_the_unverified_records(built_report, report_data):
    html = built_report.files.html.read_text()
    assert report_data.unverified  # every shipped record awaits verification
    assert "DRAFT" in html
    for label in report_data.unverified:
        assert label in report_data.sof["draft"]


def test_included_studies_show_the_extraction_status(built_report, report_data):
    """Each included study says which numbers were read in the trial's own publication,
    which only in a secondary source and which were derived (issue 16)."""
    rows = {r["label"]: r["extraction"] for r in report_data.included}
    assert rows["Lanzoni 2021"].startswith("Read in the trial's own publication: arm sizes.")
    assert "Read only in a secondary source: all-cause death (day 31)" in rows["Lanzoni 2021"]
    assert "Derived from the trial's own publication: all-cause death (day 90)" in rows["Pochon 2023"]
    assert "<th>Extraction status</th>" in built_report.files.html.read_text()
