"""The text sanitiser: hostile or odd text from records, CSV tables and registries never
reaches a terminal, an SVG, the report or a CSV file as live markup or control codes."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import responses

from metasynth.safetext import csv_cell, one_line, url_problem
from tests.test_registries import CTGOV, FIX, env, serve_all  # noqa: F401  (env: autouse)

GOOD = (Path(__file__).parent / "good_record.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("char", ["\x1b", "\x07", "\x00", "\x7f", "\x9b", "\u202e"])
def test_control_characters_are_refused_at_validation(cli, studies_dir, char):
    text = GOOD.replace("first_author: Good", f'first_author: "Go{char.encode("unicode_escape").decode()}od"')
    if char == "\u202e":
        text = GOOD.replace("first_author: Good", "first_author: \"Go\u202eod\"")
    (studies_dir / "good2021.yaml").write_text(text, encoding="utf-8")
    r = cli("validate", studies_dir)
    assert r.returncode == 1
    line = next(x for x in r.stderr.splitlines() if "control character" in x)
    assert "good2021.yaml:" in line and "citation.first_author" in line
    assert char not in r.stderr  # the character itself is not echoed to the terminal


@pytest.mark.parametrize("url, ok", [
    ("https://example.org/a?b=1", True), ("http://47.251.13.51:8081/39931658", True),
    ("doi:10.1000/xyz", True), ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False),
    ("data:text/html,<script>", False), ("file:///etc/passwd", False), ("//evil.test/x", False),
    ("https://", False), ('https://a.test/"onmouseover="x', False),
])
def test_only_http_and_doi_links(url, ok):
    assert (url_problem(url) is None) == ok


def test_javascript_url_in_a_record_is_refused(cli, studies_dir):
    text = GOOD.replace("sources:\n", "sources:\n", 1)
    assert "doi: " in text
    text = GOOD.replace("    kind: primary\n", "    kind: primary\n    url: \"javascript:alert(1)\"\n", 1)
    (studies_dir / "good2021.yaml").write_text(text)
    r = cli("validate", studies_dir)
    assert r.returncode == 1 and "not an http(s) URL" in r.stderr and "sources.0.url" in r.stderr


def test_csv_formula_prefixes_are_escaped_and_controls_refused(cli, tmp_path):
    data = tmp_path / "t.csv"
    data.write_text("study,treatment_events,treatment_total,control_events,control_total\n"
                    '"=HYPERLINK(""http://x"")",1,10,2,10\n+a,2,10,3,10\n@b,1,12,1,11\n-c,0,9,2,9\n')
    r = cli("pool", data, "--format", "csv")
    assert r.returncode == 0, r.stderr
    ids = [row["id"] for row in csv.DictReader(io.StringIO(r.stdout)) if row["row"] == "study"]
    assert sorted(ids) == sorted(["'=HYPERLINK(\"http://x\")", "'+a", "'@b", "'-c"])
    assert csv_cell(-1.5) == -1.5  # numbers are not formulas
    data.write_text("study,treatment_events,treatment_total,control_events,control_total\n"
                    "a\x1b[31m,1,10,2,10\n")
    r = cli("pool", data)
    assert r.returncode == 1 and "t.csv:2:" in r.stderr and "U+001B" in r.stderr


def test_dollar_signs_in_labels_are_text_not_mathtext(cli, tmp_path):
    """A pair of $ in a study name was parsed as mathtext: every figure died."""
    data = tmp_path / "t.csv"
    data.write_text("study,treatment_events,treatment_total,control_events,control_total\n"
                    "$\\frac{a}{b}$ & <x>,1,10,2,10\nSmith $2$,2,10,3,10\n")
    out = tmp_path / "f.svg"
    r = cli("forest", data, "-o", out)
    assert r.returncode == 0, r.stderr
    svg = out.read_text()
    ET.fromstring(svg)  # valid XML
    assert "$\\frac{a}{b}$ &amp; &lt;x&gt;" in svg and "Smith $2$" in svg


def test_one_line_removes_line_breaks_and_controls():
    assert one_line("a\nb:\x1b[2J  c\r\n") == "a b: [2J c"
    assert len(one_line("x" * 1000, limit=50)) == 50


@responses.activate
def test_registry_text_with_newlines_stays_inside_its_comment(cli, studies_dir):
    """A registry time frame with a newline used to break out of its comment and write
    YAML keys into the scaffolded record."""
    serve_all(responses)
    trial = json.loads((FIX / "ctgov_NCT09999991.json").read_text())
    hostile = "90 days\nrecord:\n  extracted_by: attacker\x1b[2J"
    trial["resultsSection"]["adverseEventsModule"]["timeFrame"] = hostile
    responses.replace(responses.GET, f"{CTGOV}/studies/NCT09999991", json=trial)
    r = cli("new", "testwell2024", "--dir", studies_dir, "--nct", "NCT09999991")
    assert r.returncode == 0, r.stderr
    text = (studies_dir / "testwell2024.yaml").read_text()
    assert "\x1b" not in text and "attacker" in text
    assert not any(line.startswith("  extracted_by: attacker") for line in text.splitlines())
    import yaml

    assert yaml.safe_load(text)["record"].get("extracted_by") is None


def test_grade_comment_with_control_characters_is_refused(tmp_path):
    from metasynth.errors import DataError
    from metasynth.plan.file import load_overrides

    (tmp_path / "grade.yaml").write_text('mortality:\n  comment: "Few \\u001b[2J events"\n')
    with pytest.raises(DataError, match=r"grade.yaml:2: mortality.comment: text contains the "
                       r"control character U\+001B"):
        load_overrides(tmp_path / "grade.yaml")
