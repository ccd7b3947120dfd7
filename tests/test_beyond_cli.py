"""`metasynth bayes` and `metasynth tsa` on the shipped corpus, their figures, the plan
defaults, bad input, and the report sections."""

import json

from metasynth import api
from metasynth.models.bayes.normal_normal import half_normal
from tests.conftest import FIXTURES, STUDIES

BCG = FIXTURES / "data" / "bcg.csv"


def test_bayes_text_json_and_figures(tmp_path, cli):
    proc = cli("bayes", STUDIES, "-o", tmp_path / "post.svg", "--forest", tmp_path / "shr.png")
    assert proc.returncode == 0, proc.stderr
    assert "Prior for tau: half-normal prior (scale 0.5) on tau" in proc.stdout
    assert "P(RR < 0.9)" in proc.stdout and "Shrunken trial estimates" in proc.stdout
    assert (tmp_path / "post.svg").stat().st_size > 0 and (tmp_path / "shr.png").exists()
    doc = json.loads(cli("bayes", STUDIES, "--format", "json").stdout)
    direct = api.bayes(STUDIES, prior=half_normal(0.5))
    assert api.bayes(STUDIES, tau_prior="half-normal", tau_scale=0.5).probabilities == \
        direct.probabilities
    assert doc["probabilities"]["P(RR < 1)"] == direct.probabilities["P(RR < 1)"]
    assert doc["k"] == direct.k == len(doc["shrinkage"])
    assert 0.5 < doc["probabilities"]["P(RR < 1)"] < 1


def test_bayes_options_override_the_plan(cli):
    base = json.loads(cli("bayes", STUDIES, "--format", "json").stdout)
    turner = json.loads(cli("bayes", STUDIES, "--tau-prior", "turner-mortality",
                                "--format", "json").stdout)
    assert turner["tau_prior"].startswith("Turner et al. (2015)")
    assert turner["tau"]["median"] != base["tau"]["median"]
    proc = cli("bayes", BCG, "--thresholds", "1,0.5", "--format", "json")
    assert set(json.loads(proc.stdout)["probabilities"]) == {"P(RR < 1)", "P(RR < 0.5)"}


def test_bayes_bad_input_is_one_line(cli):
    proc = cli("bayes", STUDIES, "--tau-prior", "flat")
    assert proc.returncode == 2 and "usage error" in proc.stderr
    proc = cli("bayes", STUDIES, "--thresholds", "1,zero")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def test_tsa_text_json_and_plot(tmp_path, cli):
    proc = cli("tsa", STUDIES, "-o", tmp_path / "tsa.pdf")
    assert proc.returncode == 0, proc.stderr
    assert "Required information size 313.8 participants" in proc.stdout
    assert "control risk 40.0%, relative risk reduction 42.5%" in proc.stdout
    assert "TSA-adjusted CI" in proc.stdout and (tmp_path / "tsa.pdf").exists()
    doc = json.loads(cli("tsa", STUDIES, "--format", "json").stdout)
    n = api.pool(STUDIES).counts
    assert doc["participants"][-1] == n.participants_estimable
    assert doc["crossed"] in {"none", "futility"}
    assert abs(doc["ris"] - 313.8047) < 1e-3


def test_tsa_options_and_errors(cli):
    doc = json.loads(cli("tsa", STUDIES, "--rrr", "0.2", "--d2", "0.3", "--no-futility",
                             "--format", "json").stdout)
    assert doc["plan"]["relative_risk_reduction"] == 0.2 and doc["futility"] == []
    assert abs(doc["daris"] - doc["ris"] / 0.7) < 1e-9
    # a 20% RRR needs far more than the ~500 participants: no boundary can be crossed yet
    assert doc["fraction_reached"] < 0.5 and doc["crossed"] == "none"
    proc = cli("tsa", STUDIES, "--rrr", "1.5")
    assert proc.returncode == 2 and "relative risk reduction" in proc.stderr
    proc = cli("tsa", STUDIES, "--measure", "OR")
    assert proc.returncode == 1 and "risk ratios" in proc.stderr


def test_report_has_both_sections(report_data):
    data = report_data  # assembled once per run (conftest.py)
    assert [b.id for b in data.bayes] == ["mortality", "mortality_longest"]
    first = data.bayes[0]
    assert any("by at least 10%" in s for s in first.sentences)
    assert len(first.rows) == 3 and first.posterior_svg.startswith("<svg")
    # one count everywhere (all trials with data), and the information the TSA uses
    n = api.pool(STUDIES).counts
    assert data.tsa.sentences[0].startswith(
        f"The outcome has {n.participants} participants in {n.trials} trials")
    assert f"The accrued information is {n.participants_estimable} participants" in \
        data.tsa.sentences[0]
    assert data.summary["tsa"]["participants"][-1] == n.participants_estimable
    assert "bayes" in data.summary
