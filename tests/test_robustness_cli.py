"""The robustness analyses from the command line and their figures."""

import json

import pytest

from tests.conftest import FIXTURES, STUDIES
from tests.test_forest import assert_no_overlap

BCG = FIXTURES / "data" / "bcg.csv"


def test_pool_by_prints_subgroups_and_the_test(cli):
    proc = cli("pool", STUDIES, "--outcome", "mortality_longest", "--by", "tissue_source")
    assert proc.returncode == 0, proc.stderr
    assert "=== tissue_source: umbilical-cord ===" in proc.stdout
    assert "Test for subgroup differences: Chi² = " in proc.stdout
    proc = cli("pool", STUDIES, "--by", "tissue_source", "--format", "json")
    assert json.loads(proc.stdout)["test_for_subgroup_differences"]["df"] >= 1
    assert cli("pool", STUDIES, "--by", "nonsense").returncode == 1


def test_metareg_text_json_and_plot(tmp_path, cli):
    proc = cli("metareg", STUDIES, "--outcome", "mortality_longest", "--mods", "control_risk",
                   "-o", tmp_path / "bubble.svg")
    assert proc.returncode == 0, proc.stderr
    assert "Test of moderators: QM = " in proc.stdout and "permutation p = " in proc.stdout
    assert "Thompson & Higgins 2002" in proc.stdout and (tmp_path / "bubble.svg").exists()
    proc = cli("metareg", STUDIES, "--mods", "year", "--format", "json")
    assert json.loads(proc.stdout)["moderators"] == ["year"]
    proc = cli("metareg", STUDIES, "--mods", "shoe_size")
    assert proc.returncode == 1 and "unknown moderator" in proc.stderr


def test_influence_bias_permutest_gosh(tmp_path, cli):
    proc = cli("influence", BCG, "-o", tmp_path / "baujat.png")
    assert proc.returncode == 0 and "rstudent" in proc.stdout
    proc = cli("bias", BCG)
    assert "Egger (rma)" in proc.stdout and "trimfill_L0: 1 studies imputed" in proc.stdout
    proc = cli("bias", STUDIES)
    assert "not run: Egger's regression test needs at least 10 studies" in proc.stdout
    assert "Begg" in cli("bias", STUDIES, "--force").stdout
    proc = cli("permutest", STUDIES)
    assert "exact" in proc.stdout and "smallest attainable p-value" in proc.stdout
    proc = cli("gosh", BCG, "-o", tmp_path / "gosh.png")
    assert proc.returncode == 0 and "8191 subsets of 13 studies" in proc.stderr


@pytest.mark.parametrize("kind", ["bubble", "baujat", "gosh"])
def test_robustness_figures_have_no_overlaps(kind):
    from metasynth import api
    from metasynth.render.plots.robustness import baujat_plot, bubble_plot, gosh_plot

    if kind == "bubble":
        fig = bubble_plot(api.metaregression(STUDIES, ["control_risk"], "mortality_longest"), "RR")
    elif kind == "baujat":
        fig = baujat_plot(api.influence(BCG))
    else:
        fig = gosh_plot(api.gosh(BCG), "RR")
    assert_no_overlap(fig)
