"""Models attach warnings as codes with their numbers (``ResultWarning``); their words are
in one place, render/text/warnings.py, used by the text, the JSON, the plots and the report."""

import ast
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
          "moderators": 1, "study": "Zhu 2021", "arm": "treatment",
          "check": "Bowley's skewness B = 1.00 (|B| above 0.26)"}


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


def test_metaregression_warnings_are_codes():
    from metasynth.models.robustness.metaregression import fit_metaregression

    bcg = api.pool(DATA / "bcg.csv")
    ablat = [44, 55, 42, 52, 13, 44, 19, 13, -27, 42, 18, 33, 33]  # metafor's dat.bcg
    reg = fit_metaregression(bcg.effects, {"ablat": ablat, "order": list(range(13))},
                             bcg.spec, permutations=10)
    assert [w.code for w in reg.warnings] == ["metareg_few_studies", "metareg_observational"]
    out = json.loads(render_json(reg))["warnings"]
    assert out[0]["message"].startswith("Only 13 studies for 2 moderator(s): ")
    assert out[1]["message"].startswith("Associations across trials are observational")


def test_no_module_under_models_words_a_warning():
    """Under models/, whatever is appended to or passed as ``warnings`` is a
    ``ResultWarning(...)`` (or a list of them), never a string."""
    wrong = []
    for path in (ROOT / "metasynth" / "models").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            values = []
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("append", "extend")
                    and isinstance(node.func.value, ast.Name) and "warn" in node.func.value.id):
                values = node.args
            elif isinstance(node, ast.keyword) and node.arg == "warnings":
                values = [node.value]
            elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and "warn" in t.id for t in node.targets):
                values = [node.value]
            for v in values:
                for s in ast.walk(v):
                    words = isinstance(s, ast.JoinedStr) or (
                        isinstance(s, ast.Constant) and isinstance(s.value, str))
                    if words and not _is_code(s, v):
                        wrong.append(f"{path.relative_to(ROOT)}:{s.lineno}")
    wrong = sorted(set(wrong))
    assert not wrong, "words a warning (use ResultWarning and render/text/warnings.py): " \
        + ", ".join(wrong)


def _is_code(node, root) -> bool:
    """A string that is the code argument of ``ResultWarning(code, ...)``."""
    return any(isinstance(c, ast.Call) and getattr(c.func, "id", None) == "ResultWarning"
               and c.args and c.args[0] is node for c in ast.walk(root))
