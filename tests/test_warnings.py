"""Models attach warnings as codes with their numbers (``ResultWarning``); their words are
in one place, render/text/warnings.py, used by the text, the JSON, the plots and the report."""

import json

import pytest

from metasynth import api
from metasynth.models.results import WARNING_VALUES, ResultWarning
from metasynth.render.json_out import render_json
from metasynth.render.text.warnings import WORDS, warning_text
from tests.conftest import FIXTURES, ROOT

DATA = FIXTURES / "data"
# a value of each kind a warning carries, to render every code
SAMPLE = {"k": 3, "df": 2, "multiplier": 4.3027, "z": 1.96, "level": 0.95, "lower": 0.0,
          "upper": 91.7, "method": "REML", "iterations": 1000, "tau2": 0.1146, "other": 0.0,
          "moderators": 1}


def test_every_warning_code_has_words():
    assert set(WORDS) == set(WARNING_VALUES)
    contract = (ROOT / "docs" / "json-contract.md").read_text()
    for code, names in WARNING_VALUES.items():
        w = ResultWarning(code, **{n: SAMPLE[n] for n in names})
        text = warning_text(w)
        assert text[0].isupper() and text.endswith("."), (code, text)
        assert "{" not in text and "None" not in text, (code, text)
        assert f"`{code}`" in contract and all(f"`{n}`" in contract for n in names), code


def test_a_warning_takes_exactly_the_values_of_its_code():
    assert ResultWarning("few_studies", k=3)["k"] == 3
    assert ResultWarning("few_studies", k=3).to_dict() == {"code": "few_studies", "k": 3}
    with pytest.raises(ValueError, match="unknown warning code"):
        ResultWarning("few_trials", k=3)
    with pytest.raises(ValueError, match="takes"):
        ResultWarning("few_studies")
    with pytest.raises(ValueError, match="takes"):
        ResultWarning("one_study", k=1)


@pytest.mark.parametrize(("data", "options", "codes"), [
    ("k1.csv", {}, {"one_study"}),
    ("k2.csv", {"ci": "wald"}, {"few_studies", "wald_few_studies", "no_prediction_interval"}),
    ("msc3.csv", {}, {"few_studies", "hksj_t_multiplier", "wide_prediction_interval",
                      "i2_ci_wide", "hksj_narrower_than_wald"}),
    ("two_peak_example.csv", {}, {"tau2_multiple_maxima"}),
    ("reml_nonconv.csv", {}, {"tau2_not_converged"}),
])
def test_results_carry_codes_and_every_output_words_them_alike(data, options, codes):
    res = api.pool(DATA / data, **options)
    assert all(isinstance(w, ResultWarning) for w in res.warnings)
    assert codes <= {w.code for w in res.warnings}
    said = [warning_text(w) for w in res.warnings]
    text = res.summary()
    assert all(f"  ! {s}" in text for s in said)
    out = json.loads(render_json(res))["warnings"]
    assert [w["code"] for w in out] == [w.code for w in res.warnings]
    assert [w["message"] for w in out] == said


def test_the_level_is_in_the_warnings_words():
    res = api.pool(DATA / "msc3.csv", level=0.9)
    said = " ".join(warning_text(w) for w in res.warnings)
    assert "a multiplier of 2.92 instead of 1.64" in said and "multiplier 6.31" in said
    assert "90% CI for I²" in said and "95%" not in said
