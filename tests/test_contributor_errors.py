"""Errors a first-time contributor can act on: a blank record lists only "missing required
field" lines, one per blank; the common YAML mistakes name their cause and the line where
it is; misspelt fields and subcommands get a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

GOOD = (Path(__file__).parent / "good_record.yaml").read_text(encoding="utf-8")


def test_blank_record_from_new_gives_only_missing_required_field_lines(cli, studies_dir):
    from metasynth.records.template import template_text

    assert cli("new", "blank2024", "--dir", studies_dir).returncode == 0
    r = cli("validate", studies_dir)
    assert r.returncode == 1
    findings = r.stderr.strip().splitlines()[:-1]  # the last line is the summary
    assert findings and all("missing required field '" in f for f in findings), findings
    fields = [f.split("'")[1] for f in findings]
    assert len(fields) == len(set(fields))  # one line per blank
    assert "citation.title" in fields and "design.randomization" in fields
    # each finding points at a line of the template where a value is left blank
    lines = template_text("blank2024").splitlines()
    for f in findings:
        number = int(f.split(":")[1])
        key = f.split("'")[1].split(".")[-1]
        text = lines[number - 1].split("#")[0]
        assert f"{key}:" in text, (f, text)
        value = text.split(f"{key}:", 1)[1].strip()
        assert value in ("", ",", "}") or value.startswith((",", "}")), (f, text)


@pytest.mark.parametrize("edit, line, words", [
    (lambda t: t.replace('title: "A valid minimal record"', 'title: "A valid minimal record'),
     3, 'unclosed quote: the " opened on this line is never closed'),
    (lambda t: t.replace('title: "A valid minimal record"', 'title: ""A valid minimal record"'),
     3, "text after a closing quote"),
    (lambda t: t.replace("  journal:", "\tjournal:"), 6, "a tab in the indentation"),
    (lambda t: t.replace('title: "A valid minimal record"', "title: Effect: a trial"), 3,
     "a colon followed by a space inside an unquoted value"),
    (lambda t: t.replace("  journal:", "  jurnal:"), 6, "unknown field 'citation.jurnal': did "
     "you mean 'journal'?"),
    (lambda t: t.replace("  doi:", "  doi:", 1).replace("registration:", "registation:"), None,
     "did you mean 'registration'?"),
])
def test_common_yaml_mistakes_name_the_cause(cli, studies_dir, edit, line, words):
    (studies_dir / "good2021.yaml").write_text(edit(GOOD))
    r = cli("validate", studies_dir)
    assert r.returncode == 1
    findings = r.stderr.strip().splitlines()[:-1]
    assert len(findings) == 1, findings  # no second error for the same mistake
    assert words in findings[0]
    if line is not None:
        assert findings[0].startswith(f"{studies_dir / 'good2021.yaml'}:{line}: ")


@pytest.mark.parametrize("typed, suggestion", [("pol", "'pool'"), ("valdate", "'validate'"),
                                               ("leave-one", "'leave-one-out'")])
def test_misspelt_subcommand_gets_did_you_mean(cli, typed, suggestion):
    r = cli(typed, "studies")
    assert r.returncode == 2 and f"did you mean {suggestion}" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_misspelt_outcome_gets_did_you_mean(cli):
    r = cli("pool", "studies", "--outcome", "mortalty")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "unknown outcome 'mortalty' (did you mean 'mortality'? known: mortality," in r.stderr
