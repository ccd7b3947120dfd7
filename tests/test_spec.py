"""One analysis specification: the option table drives the CLI, the plan file, the API and
the methods text; results carry their spec and counts; the arrows point one way; and the
wrong outputs of the "one analysis, one truth" issue stay fixed."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import metasynth
from metasynth import api
from metasynth.cli import main
from metasynth.plan.options import OPTIONS, TAU2
from metasynth.plan.resolve import OptionError, resolve
from tests.conftest import FIXTURES, ROOT, STUDIES

BCG = FIXTURES / "data" / "bcg.csv"
PACKAGE = ROOT / "metasynth"


def test_a_default_is_one_line_and_reaches_cli_plan_docs_api_and_methods(tmp_path):
    """Edit the tau² default in a copy of the package, in the one line that defines it, and
    read it back from the CLI help, the plan file schema and its docs, the API and the
    report's methods paragraph."""
    copy = tmp_path / "metasynth"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    source = (copy / "plan" / "options.py").read_text()
    line = '    "tau2", "model", str, "REML", "Between-study variance (tau²) estimator",\n'
    assert source.count(line) == 1
    (copy / "plan" / "options.py").write_text(source.replace(line, line.replace('"REML"', '"PM"')))
    probe = f"""
import contextlib, io, json
import metasynth
from metasynth.cli import build_parser
from metasynth.plan.docs import markdown_reference
from metasynth.plan.file import AnalysisPlan
from metasynth.plan.resolve import resolve
from metasynth.render.text.methods import model_paragraph
assert metasynth.__file__.startswith({str(tmp_path)!r}), metasynth.__file__
help_text = build_parser()._subparsers._group_actions[0].choices["pool"].format_help()
plan = AnalysisPlan(title="t", name="t", outcomes=["mortality"])
res = metasynth.pool({str(BCG)!r})
print(json.dumps({{"help": " ".join(help_text.split()), "plan": plan.model.tau2,
                  "docs": markdown_reference(), "api": [res.spec.tau2, res.random.tau2_method],
                  "methods": model_paragraph(resolve())}}))
"""
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": ""}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "between-study variance estimator (default PM;" in out["help"]
    assert out["plan"] == "PM"
    assert "| `tau2` | `model.tau2` | `--tau2` | `PM` |" in out["docs"]
    assert out["api"] == ["PM", "PM"]
    assert "tau² by Paule & Mandel (1982)" in out["methods"]


def test_committed_plan_docs_are_current():
    from metasynth.plan.docs import markdown_reference

    assert (ROOT / "docs" / "analysis-plan.md").read_text() == markdown_reference(), \
        "run: metasynth schema --plan > docs/analysis-plan.md"


def test_engines_implement_every_choice_of_the_table():
    from metasynth.models.engine.common_effect import COMMON_METHODS
    from metasynth.models.engine.random_effects import CI_METHODS, PI_METHODS
    from metasynth.models.engine.tau2 import TAU2_METHODS

    by = {o.name: set(o.values) for o in OPTIONS}
    assert by["tau2"] == set(TAU2_METHODS) and by["ci"] == set(CI_METHODS)
    assert by["pi"] == set(PI_METHODS) and by["common_method"] == set(COMMON_METHODS)


def test_resolve_layers_presets_and_refuses_bad_values():
    spec = resolve({"preset": "revman5"}, {"tau2": "pm", "level": "0.9"})
    assert (spec.tau2, spec.ci, spec.mh_correction, spec.level) == ("PM", "wald", True, 0.9)
    assert resolve().tau2 == TAU2.default
    for bad in ({"tau2": "XX"}, {"level": 1.5}, {"add": float("nan")}, {"add": -1},
                {"thresholds": "1,nan"}, {"taus2": "DL"}, {"common_method": "Peto"}):
        with pytest.raises(OptionError):
            resolve(bad)
    with pytest.raises(OptionError, match="did you mean 'tau2'"):
        resolve({"taus2": "DL"})


def test_cli_rejects_bad_values_in_one_line(capsys):
    assert main(["pool", str(STUDIES), "--tau2", "XX"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--tau2" in err and "REML" in err
    assert main(["pool", str(STUDIES), "--add", "-1"]) == 2
    assert "--add" in capsys.readouterr().err


def test_the_level_is_in_every_label(capsys, tmp_path):
    assert main(["pool", str(STUDIES), "--level", "0.9"]) == 0
    text = capsys.readouterr().out
    assert "95%" not in text and "RR [90% CI]" in text and "Total (90% CI)" in text
    assert "90% prediction interval" in text
    out = tmp_path / "f.svg"
    assert main(["forest", str(STUDIES), "--level", "0.9", "-o", str(out)]) == 0
    svg = out.read_text()
    assert "90% CI" in svg and "95% CI" not in svg


def test_the_zero_cell_increment_is_the_one_used(capsys):
    assert main(["pool", str(STUDIES), "--add", "0.25", "--mh-correction"]) == 0
    text = capsys.readouterr().out
    assert "0.5 added" not in text
    assert "Common effect (MH, 0.25 added to zero cells)" in text
    assert "0.25 added to each cell" in text


def _favours_x(fig) -> dict:
    return {t.get_text(): t.get_position()[0] for t in fig.texts
            if t.get_text().startswith("Favours")}


def test_bayes_shrinkage_forest_follows_the_outcomes_direction():
    from metasynth.render.plots.bayes_tsa import shrinkage_forest

    lower = _favours_x(shrinkage_forest(api.bayes(STUDIES, "mortality")))
    higher = _favours_x(shrinkage_forest(api.bayes(STUDIES, "ards_improvement")))
    assert lower["Favours MSC"] < lower["Favours Control"]
    assert higher["Favours MSC"] > higher["Favours Control"]


def test_prediction_interval_never_narrower_than_the_ci():
    """Random meta-analyses, k = 3 to 40, including tau² = 0 with an HKSJ scale above 1
    (the issue's 40-study example): the PI contains the CI for every CI method."""
    from metasynth.models.engine.random_effects import fit_random
    from metasynth.models.engine.weighted import as_batch

    rng = np.random.default_rng(11)
    for k in (3, 5, 10, 40):
        v = rng.uniform(0.005, 0.5, size=(400, k))
        y = rng.normal(0, np.sqrt(v) * rng.uniform(0.5, 2.0, size=(400, 1)))
        yy, vv, mm = as_batch(y, v)
        for ci in ("hksj", "hksj-adhoc", "wald"):
            for method in ("REML", "DL"):
                fit = fit_random(yy, vv, mm, method, ci, "hts")
                assert np.all(fit.pi_lower <= fit.ci_lower + 1e-12)
                assert np.all(fit.pi_upper >= fit.ci_upper - 1e-12)
        zero = fit_random(yy, vv, mm, "REML", "hksj", "hts")
        assert np.any((zero.tau2.tau2 == 0) & (zero.se > zero.se_wald))  # the case that failed


def test_subgroup_weights_are_shares_of_the_whole_analysis():
    res = api.pool_by(STUDIES, "tissue_source")
    overall = {s.id: s.weight_random for s in res.overall.included}
    shown = {s.id: s.weight_random for _, g in res.groups for s in g.included}
    assert shown == pytest.approx(overall)
    assert sum(shown.values()) == pytest.approx(100.0)
    assert "Weights are each study's share of the whole analysis" in res.summary()
    # the forest plot's subtotal weights add up to the total's 100%
    from metasynth.render.plots.forest import _rows

    body, _, _ = _rows(res, False, None)
    subtotals = [float(r.cells["weight"]) for r in body if r.cells.get("study", "").startswith(
        "Subtotal")]
    assert sum(subtotals) == pytest.approx(100.0, abs=0.2)


def test_results_carry_their_spec_and_verbs_inherit_it():
    res = api.pool(BCG, tau2="DL", ci="wald", level=0.9)
    assert (res.spec.tau2, res.spec.level) == ("DL", 0.9)
    loo = api.leave_one_out(res)
    assert loo.spec == res.spec
    manual = api.pool(BCG, tau2="DL", ci="wald", level=0.9)
    assert api.cumulative(manual).rows == api.cumulative(res).rows
    changed = api.leave_one_out(res, tau2="REML")
    assert changed.spec.tau2 == "REML" and changed.spec.level == 0.9
    assert api.influence(res).rows == api.influence(BCG, tau2="DL", ci="wald", level=0.9).rows
    bayes = api.bayes(api.pool(STUDIES), thresholds=(1.0,))
    assert list(bayes.probabilities) == ["P(RR < 1)"]
    assert bayes.counts == api.pool(STUDIES).counts


def test_to_frame_and_dataframe_input():
    pd = pytest.importorskip("pandas")
    res = api.pool(BCG)
    frame = res.to_frame()
    assert list(frame.index) == [s.id for s in res.studies]
    again = api.pool(pd.read_csv(BCG))
    assert again.random.theta == pytest.approx(res.random.theta, rel=1e-12)
    assert api.leave_one_out(res).to_frame().shape[0] == res.k


@pytest.fixture(scope="module")
def corpus_verbs():
    """The shipped mortality analysis and its Bayes and TSA verbs, fitted once for the module."""
    res = api.pool(STUDIES)
    return SimpleNamespace(pool=res, bayes=api.bayes(res), tsa=api.tsa(res))


def test_every_result_has_to_frame(corpus_verbs):
    pytest.importorskip("pandas")
    res = corpus_verbs.pool
    results = [res, api.pool_by(res, "tissue_source"), api.leave_one_out(res),
               api.cumulative(res), api.influence(res), corpus_verbs.bayes, corpus_verbs.tsa,
               api.metaregression(api.pool(STUDIES, "mortality_longest"), ["control_risk"],
                                  permutations=10),
               api.gosh(res, max_subsets=64)]
    for r in results:
        frame = r.to_frame()
        assert len(frame) > 0, type(r).__name__


def test_one_participant_count_across_sections(corpus_verbs):
    res = corpus_verbs.pool
    n = res.counts
    assert n.trials - n.trials_estimable == 1 == n.not_estimable  # Shi 2021: no deaths at all
    assert n.trials_estimable == res.k
    assert n.participants == sum((s.treatment_total or 0) + (s.control_total or 0)
                                 for s in res.studies)
    words = f"{n.participants} participants in {n.trials} trials"
    assert words in corpus_verbs.bayes.summary() and words in corpus_verbs.tsa.summary()
    assert f"{n.trials} trials, {n.participants} participants" in res.summary()


FORBIDDEN = {
    "metasynth/records": ("effects", "models", "render", "report", "cli", "api", "plan"),
    "metasynth/effects": ("models", "render", "report", "cli", "api", "plan"),
    "metasynth/plan": ("models", "render", "report", "cli", "api"),
    "metasynth/models": ("render", "report", "cli", "api", "diff"),
    "metasynth/render": ("report", "cli", "api", "diff"),
    "metasynth/report": ("cli",),
}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_data_flow_one_way():
    """records -> effects -> models -> render -> report -> cli; plan (the specification)
    sits beside records and is read by models and everything after."""
    wrong = []
    for folder, banned in FORBIDDEN.items():
        for path in (ROOT / folder).rglob("*.py"):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] == "metasynth" and len(parts) > 1 and parts[1] in banned:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_cli_handlers_write_no_words_of_their_own():
    """Each handler resolves, calls the API, renders and emits: no f-string tables."""
    source = (PACKAGE / "cli.py").read_text()
    assert "json.dumps" not in source
    assert not re.search(r"print\(f\"\{'", source)


def test_top_level_exports_resolve():
    for name in metasynth.__all__:
        assert getattr(metasynth, name) is not None
