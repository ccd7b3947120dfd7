"""The outcomes that analysis.yaml and grade.yaml name are checked against the registry:
`metasynth validate` lists every problem with its file and line, and the report refuses
to build on the first one (exit 1), never using a default in place of a misspelt entry."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import STUDIES


@pytest.fixture
def copy(tmp_path):
    folder = tmp_path / "studies"
    shutil.copytree(STUDIES, folder)
    return folder


def _edit(path, old: str, new: str) -> int:
    """Replace ``old`` (once) in ``path``; returns the line where ``new`` starts."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    at = text.index(old)
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[:at].count("\n") + 1


GRADE_END = "  overrides: grade.yaml"


def test_the_shipped_plan_names_only_outcomes_it_can_use(cli):
    r = cli("validate", STUDIES)
    assert r.returncode == 0 and "analysis.yaml" not in r.stderr


@pytest.mark.parametrize("entry, message", [
    ("  thresholds:\n    mortalty: {benefit_per_1000: 10, harm_per_1000: 10}\n",
     "grade.thresholds: unknown outcome 'mortalty' (known: mortality,"),
    ("  thresholds:\n    hospital_length_of_stay: {benefit_per_1000: 10, harm_per_1000: 10}\n",
     "grade.thresholds: 'hospital_length_of_stay' is a continuous outcome; this setting is "
     "for binary outcomes"),
    ("  mids:\n    mortality: {mid: 1, source: reviewers' judgement}\n",
     "grade.mids: 'mortality' is a binary outcome; this setting is for continuous outcomes"),
])
def test_a_grade_setting_for_the_wrong_outcome_is_an_error_at_its_line(cli, copy, entry,
                                                                       message):
    line = _edit(copy / "analysis.yaml", GRADE_END, entry + GRADE_END) + 1
    r = cli("validate", copy)
    assert r.returncode == 1
    assert f"analysis.yaml:{line}: {message}" in r.stderr
    r = cli("report", copy, "-o", copy.parent / "out", "--no-pdf")
    assert r.returncode == 1 and message in r.stderr and len(r.stderr.splitlines()) == 1
    assert not (copy.parent / "out").exists()


def test_an_unknown_outcome_in_the_bayes_list_names_its_index(cli, copy):
    text = (copy / "analysis.yaml").read_text(encoding="utf-8")
    assert "outcomes: [mortality, mortality_longest]" in text
    line = _edit(copy / "analysis.yaml", "outcomes: [mortality, mortality_longest]",
                 "outcomes: [mortality, mortality_longst]")
    r = cli("validate", copy)
    assert r.returncode == 1
    assert f"analysis.yaml:{line}: bayes.outcomes[1]: unknown outcome 'mortality_longst'" \
        in r.stderr


def test_judgements_for_an_outcome_the_plan_does_not_pool_are_an_error(cli, copy):
    grade = copy / "grade.yaml"
    lines = grade.read_text(encoding="utf-8").splitlines()
    grade.write_text("\n".join(lines) + "\nmortalty:\n  imprecision: {downgrade: 1, reason: "
                     "few events}\n", encoding="utf-8")
    r = cli("validate", copy)
    assert r.returncode == 1
    assert (f"grade.yaml:{len(lines) + 1}: judgements for 'mortalty', which the plan does "
            "not pool (its outcomes: mortality,") in r.stderr


def test_a_plan_that_breaks_its_schema_fails_validation(cli, copy):
    line = _edit(copy / "analysis.yaml", "  power: 0.80", "  power: 1.5")
    r = cli("validate", copy)
    assert r.returncode == 1 and f"analysis.yaml:{line}:" in r.stderr
