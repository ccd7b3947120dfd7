"""pool and forest for MD, SMD, ROM, HR (generic inverse variance) and HR (O - E and V)
from the command line, along each path: a CSV in the documented layouts, trial records,
a RevMan file pooled directly (``--analysis``) and the CSVs ``metasynth import`` writes
from it. The JSON fields of each data type are pinned (docs/json-contract.md)."""

import json
import math
from pathlib import Path

import pytest

from tests.test_continuous_cli import _records
from tests.test_json_contract import COMMON, RANDOM, STUDY, STUDY_DATA

DIR = Path(__file__).parent / "fixtures" / "metafor-continuous"
REVMAN = Path(__file__).parent / "fixtures" / "revman"
CD016297 = REVMAN / "CD016297-analysis-data.zip"
SYNTHETIC = REVMAN / "synthetic-package" / "synthetic-data-rows.csv"

#: the data keys each data type adds to a study's JSON record (beyond ``STUDY``)
DATA_KEYS = {"means": {"treatment_mean", "treatment_sd", "control_mean", "control_sd"},
             "reported": {"se_from"}, "o-e/v": {"o_minus_e", "variance"}}


def _json(cli, *args) -> dict:
    proc = cli("pool", *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _pinned(doc: dict, measure: str, source: str) -> None:
    """The JSON of one pooled analysis of a non-binary measure."""
    doc = doc.get("overall", doc)
    assert doc["measure"] == measure and set(doc["common"]) == COMMON
    assert set(doc["random"]) == RANDOM
    for s in doc["studies"]:
        assert s["source"] == source
        assert set(s) - STUDY == DATA_KEYS[source], set(s) - STUDY
        assert STUDY_DATA >= DATA_KEYS[source]
        assert s["treatment_events"] is None and s["control_events"] is None
        if source == "means":
            assert s["treatment_mean"] is not None and s["control_sd"] is not None
    assert doc["zero_cell_rule"].startswith("not applicable")


CSV_CASES = [("normand1999.csv", "MD", "means"), ("normand1999.csv", "SMD", "means"),
             ("normand1999.csv", "ROM", "means"), ("giv_hr.csv", "HR", "reported"),
             ("giv_se.csv", "HR", "reported"), ("oe_v.csv", "HR", "o-e/v")]


@pytest.mark.exhaustive  # about 4 CPU-s (a forest plot each)
@pytest.mark.parametrize("path, measure, source", CSV_CASES)
def test_csv_pool_json_and_forest(cli, tmp_path, path, measure, source):
    doc = _json(cli, DIR / path, "--measure", measure)
    _pinned(doc, measure, source)
    out = tmp_path / "forest.svg"
    proc = cli("forest", DIR / path, "--measure", measure, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert doc["studies"][0]["label"] in out.read_text()


def test_giv_csv_with_se_equals_the_ci_layout(cli):
    """giv_se.csv holds giv_hr.csv's estimates with the SEs their 95% CIs imply: the same
    pooled HR (up to the CIs' 15 digits)."""
    a = _json(cli, DIR / "giv_se.csv", "--measure", "HR")
    b = _json(cli, DIR / "giv_hr.csv", "--measure", "HR")
    assert [s["se_from"] for s in a["studies"]] == ["se"] * 4
    assert [s["yi"] for s in a["studies"]] == pytest.approx([-0.35, -0.12, 0.08, -0.51],
                                                            abs=1e-14)
    assert [s["vi"] for s in a["studies"]] == pytest.approx(
        [s["vi"] for s in b["studies"][:4]], rel=1e-12)
    assert a["studies"][0]["treatment_total"] == 120


@pytest.mark.exhaustive  # about 2 CPU-s
@pytest.mark.parametrize("measure", ["MD", "SMD", "ROM"])
def test_records_pool_json_and_forest(cli, tmp_path, measure):
    folder = _records(tmp_path)
    _pinned(_json(cli, folder, "--outcome", "vfd", "--measure", measure), measure, "means")
    out = tmp_path / "forest.png"
    assert cli("forest", folder, "--outcome", "vfd", "--measure", measure, "-o",
               out).returncode == 0 and out.stat().st_size > 0


@pytest.mark.exhaustive
def test_records_reported_hr(cli, tmp_path):
    doc = _json(cli, _records(tmp_path), "--outcome", "mortality", "--measure", "HR")
    assert doc["k"] == 1
    assert [s["source"] for s in doc["studies"]] == ["none", "reported"]


SLOW = pytest.mark.exhaustive  # about 6 CPU-s together: each imports and draws a forest
REVMAN_CASES = [  # file, analysis, measure, data source, flags that give the file's settings
    pytest.param(CD016297, "1.1", "SMD", "means", ["--tau2", "REML", "--ci", "hksj"],
                 marks=SLOW),
    pytest.param(CD016297, "1.6", "MD", "reported", ["--tau2", "REML", "--ci", "wald"],
                 marks=SLOW),
    pytest.param(CD016297, "1.2", "SMD", "reported", ["--tau2", "REML", "--ci", "wald"],
                 marks=SLOW),
    pytest.param(REVMAN / "Fleiss1993_CR.csv", "1.2", "MD", "means", [], marks=SLOW),
    pytest.param(SYNTHETIC, "1.1", "HR", "o-e/v", ["--common-method", "Peto"], marks=SLOW),
    pytest.param(SYNTHETIC, "1.2", "HR", "reported", [], marks=SLOW),
]


@pytest.mark.parametrize("path, analysis, measure, source, flags", REVMAN_CASES)
def test_revman_file_pooled_directly_and_through_import(cli, tmp_path, path, analysis,
                                                        measure, source, flags):
    direct = _json(cli, path, "--analysis", analysis)
    _pinned(direct, measure, source)
    assert cli("import", path, "-o", tmp_path / "imp").returncode == 0
    csv = tmp_path / "imp" / f"analysis-{analysis}.csv"
    common = [] if "--common-method" in flags else ["--common-method", "IV"]
    via = _json(cli, csv, "--measure", measure, "--preset", "revman5", *common, *flags)
    d, v = direct.get("overall", direct), via
    for model in ("common", "random"):
        for key in ("estimate", "ci_lower", "ci_upper", "p"):
            assert v[model][key] == pytest.approx(d[model][key], rel=1e-12, abs=1e-15)
    assert v["heterogeneity"]["tau2"] == pytest.approx(d["heterogeneity"]["tau2"], rel=1e-9,
                                                       abs=1e-15)
    out = tmp_path / "forest.svg"
    proc = cli("forest", path, "--analysis", analysis, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert d["studies"][0]["label"].replace("&", "&amp;") in out.read_text()


def test_synthetic_package_equals_the_metasynth_csvs(cli):
    """The synthetic data package carries oe_v.csv and giv_hr.csv (log HR and the SE of its
    CI): pooled from the package they give the CSVs' numbers."""
    oe = _json(cli, SYNTHETIC, "--analysis", "1.1")
    ref = _json(cli, DIR / "oe_v.csv", "--measure", "HR", "--preset", "revman5",
                "--common-method", "Peto")
    assert oe["common"]["method"] == "Peto"
    assert oe["common"]["estimate"] == pytest.approx(ref["common"]["estimate"], rel=1e-14)
    assert oe["common"]["estimate"] == pytest.approx(
        math.exp(sum([-6.2, -2.5, 1.1, -4, -0.7]) / sum([20.5, 31, 12.4, 18.8, 25.1])),
        rel=1e-14)
    giv = _json(cli, SYNTHETIC, "--analysis", "1.2")
    assert [s["estimate"] for s in giv["studies"]] == pytest.approx(
        [0.70468808971871344, 0.88692043671715748, 1.08328706767495864, 0.6004955788122659],
        rel=1e-14)
