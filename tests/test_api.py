"""The library API: records -> effects -> models in one call, and its special cases."""

import json
import math
import shutil
from pathlib import Path

import pytest

import metasynth
from metasynth.records.load import load_studies
from metasynth.records.select import select_outcome
from tests.conftest import FIXTURES, STUDIES

GOOD = Path(__file__).parent / "good_record.yaml"


def _fixture(name, kind, **match):
    data = json.loads((FIXTURES / "metafor" / f"{name}.json").read_text())
    return next(e for e in data[kind] if all(e.get(k) == v for k, v in match.items()))


def test_revman5_preset_is_dl_wald_and_mh_with_correction():
    res = metasynth.pool(FIXTURES / "data" / "double_zero.csv", preset="revman5")
    dl = _fixture("double_zero", "random", measure="RR", tau2_method="DL", ci_method="wald")
    mh = _fixture("double_zero", "common", measure="RR", method="MH", mh_correction=True)
    assert res.random.tau2_method == "DL" and res.random.ci_method == "wald"
    assert math.isclose(res.random.theta, dl["theta"], rel_tol=1e-9)
    assert math.isclose(res.common.theta, mh["theta"], rel_tol=1e-9)
    assert res.common.mh_correction and "Preset: the RevMan 5 analysis" in res.summary()


def test_pandas_dataframe_input_equals_csv():
    pd = pytest.importorskip("pandas")
    path = FIXTURES / "data" / "bcg.csv"
    a = metasynth.pool(pd.read_csv(path))
    b = metasynth.pool(path)
    assert a.random.theta == b.random.theta and a.k == b.k == 13


def _record(folder: Path, stem: str, text: str) -> None:
    (folder / f"{stem}.yaml").write_text(text.replace("id: good2021", f"id: {stem}"))


def test_multi_arm_trial_combines_experimental_arms(studies_dir):
    text = GOOD.read_text().replace("""  - id: control
    role: control""", """  - id: msc_high
    role: experimental
    label: "MSC high dose"
    randomized: 30
    provenance:
      - {source: main, status: primary, location: "Figure 1", quote: "30 randomized to the high dose"}
  - id: control
    role: control""").replace("""      control: {events: 15, total: 50}
    provenance:
      - {source: main, status: primary, location: "Table 2", quote: "Death by day 28: 10/50 (20%) vs 15/50 (30%)"}""",
                              """      msc_high: {events: 4, total: 30}
      control: {events: 15, total: 50}
    provenance:
      - {source: main, status: primary, location: "Table 2", quote: "Death by day 28: 10/50 (20%), 4/30 vs 15/50 (30%)"}""")
    _record(studies_dir, "multi2021", text)
    table = select_outcome(load_studies(studies_dir), "mortality")
    row = table.rows[0]
    assert (row.treatment_events, row.treatment_total) == (14, 80)
    assert (row.control_events, row.control_total) == (15, 50)  # the shared control once
    res = metasynth.pool(studies_dir)
    assert any("combined against the shared control" in n for n in res.notes)


def test_study_with_only_a_reported_estimate_enters_by_generic_inverse_variance(studies_dir):
    _record(studies_dir, "good2021", GOOD.read_text())
    only_estimate = GOOD.read_text().replace("""    counts:
      msc: {events: 10, total: 50}
      control: {events: 15, total: 50}
    provenance:
      - {source: main, status: primary, location: "Table 2", quote: "Death by day 28: 10/50 (20%) vs 15/50 (30%)"}""",
                                             """    provenance:
      - {source: main, status: primary, location: "Abstract", quote: "RR 0.70 (95% CI 0.40 to 1.20)"}
    reported_estimate:
      measure: RR
      value: 0.70
      ci_lower: 0.40
      ci_upper: 1.20
      adjusted: true
      provenance:
        - {source: main, status: primary, location: "Abstract", quote: "RR 0.70 (95% CI 0.40 to 1.20)"}""")
    only_estimate = only_estimate.replace("NCT99999991", "NCT99999992").replace("test.2021.1", "test.2021.2")
    _record(studies_dir, "estimate2021", only_estimate)
    res = metasynth.pool(studies_dir)
    est = next(s for s in res.studies if s.id == "estimate2021")
    assert est.included and est.source == "reported"
    assert math.isclose(est.yi, math.log(0.70))
    assert math.isclose(est.vi, ((math.log(1.2) - math.log(0.4)) / (2 * 1.959963984540054)) ** 2)
    assert res.k == 2 and res.common.method == "IV"  # MH needs counts from every study
    assert any("generic inverse variance" in n for n in res.notes)
    # an OR-only estimate cannot be pooled as RR
    res_or = metasynth.pool(studies_dir, measure="OR")
    assert not next(s for s in res_or.studies if s.id == "estimate2021").included


def test_shipped_corpus_pools_and_notes_non_reporting_trials():
    res = metasynth.pool(STUDIES, "mortality")
    assert res.k >= 5
    assert any(s.id == "bowdish2023" for s in res.included)
    assert any(n.startswith("Not reporting all-cause death") for n in res.notes)
    text = res.summary()
    assert "Heterogeneity: Tau² = " in text and "95% prediction interval" in text


def test_records_folder_copy_pools_identically(tmp_path):
    shutil.copytree(STUDIES, tmp_path / "s")
    a = metasynth.pool(tmp_path / "s").to_dict()
    b = metasynth.pool(STUDIES).to_dict()
    a.pop("source"), b.pop("source")
    assert a == b
