"""pool and forest for MD, SMD, ROM and HR, from CSV and from records: text, JSON, CSV and
the forest plot's RevMan layouts (continuous, generic inverse variance, O - E/V)."""

import json
from pathlib import Path

import pytest
import yaml

from metasynth import api
from tests.conftest import ROOT

DIR = Path(__file__).parent / "fixtures" / "metafor-continuous"


@pytest.mark.parametrize("path, measure, heads", [
    ("normand1999.csv", "MD", ("Mean", "SD", "Total", "MD [95% CI]")),
    ("normand1999.csv", "SMD", ("Mean", "SD", "SMD [95% CI]")),
    ("normand1999.csv", "ROM", ("Mean", "ROM [95% CI]")),
    ("giv_hr.csv", "HR", ("log[HR]", "SE", "HR [95% CI]")),
    ("oe_v.csv", "HR", ("O - E", "Variance", "HR [95% CI]")),
])
def test_pool_text_json_csv(cli, path, measure, heads):
    proc = cli("pool", str(DIR / path), "--measure", measure)
    assert proc.returncode == 0, proc.stderr
    assert all(h in proc.stdout for h in heads)
    assert "Common effect (IV)" in proc.stdout and "Zero cells" not in proc.stdout
    out = json.loads(cli("pool", str(DIR / path), "--measure", measure, "--format", "json").stdout)
    assert out["measure"] == measure and out["common"]["method"] == "IV"
    assert {s["source"] for s in out["studies"]} <= {"means", "reported", "o-e/v"}
    csv = cli("pool", str(DIR / path), "--measure", measure, "--format", "csv").stdout
    header = csv.splitlines()[0].split(",")
    assert "treatment_events" not in header and "estimate" in header


def test_mismatched_measure_is_one_line_usage_error(cli):
    proc = cli("pool", str(DIR / "normand1999.csv"), "--measure", "OR")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "measure OR needs 2x2 counts" in proc.stderr and "MD or SMD or ROM" in proc.stderr
    proc = cli("pool", str(ROOT / "studies"), "--measure", "MD", "--common-method", "MH")
    assert proc.returncode == 2 and "Mantel-Haenszel method needs 2x2 counts" in proc.stderr


def test_generic_csv_errors(cli, tmp_path):
    bad = tmp_path / "g.csv"
    bad.write_text("study,estimate,ci_lower,ci_upper\na,0.8,0.9,1.2\n")
    proc = cli("pool", str(bad), "--measure", "HR")
    assert proc.returncode == 1 and "g.csv:2: estimate 0.8 lies outside its CI" in proc.stderr
    bad.write_text("study,estimate,ci_lower,ci_upper,p\na,0.8,,,\n")
    proc = cli("pool", str(bad), "--measure", "HR")
    assert proc.returncode == 1
    assert "needs its CI (ci_lower, ci_upper), its p-value (p) or its standard error" in proc.stderr


def _records(tmp_path):
    """Two trials with (synthetic, test-only) ventilator-free days and one with a reported
    hazard ratio, in a copy of the registry with a pooled outcome for the endpoint."""
    folder = tmp_path / "studies"
    folder.mkdir()
    reg = yaml.safe_load((ROOT / "studies" / "outcomes.yaml").read_text())
    reg["outcomes"].append({"id": "vfd", "label": "Ventilator-free days at day 28",
                            "endpoint": "ventilator_free_days", "better": "higher",
                            "window_days": [28, 28], "prefer": 28})
    (folder / "outcomes.yaml").write_text(yaml.safe_dump(reg, sort_keys=False))
    base = yaml.safe_load((ROOT / "tests" / "good_record.yaml").read_text())
    def prov():  # a fresh list each time: a shared one would be dumped as a YAML alias
        return [{"source": "main", "location": "Table 3", "quote": "synthetic test values"}]
    for i, (m1, m2) in enumerate(((14.2, 11.0), (12.5, 10.9))):
        rec = json.loads(json.dumps(base))
        rec["id"] = f"good202{i + 1}"
        rec["citation"]["year"] = 2021 + i
        rec["registration"] = [f"NCT9999999{i + 5}"]
        rec["citation"]["doi"] = rec["sources"][0]["doi"] = f"10.1000/test.vfd.{i}"
        rec["outcomes"].append({"endpoint": "ventilator_free_days", "timepoint_days": 28,
                                "values": {"msc": {"n": 50, "mean": m1, "sd": 8.0},
                                           "control": {"n": 50, "mean": m2, "sd": 9.0}},
                                "provenance": prov()})
        if i == 1:
            rec["outcomes"][0]["reported_estimate"] = {
                "measure": "HR", "value": 0.7, "ci_lower": 0.45, "ci_upper": 1.1,
                "adjusted": False, "provenance": prov()}
        (folder / f"{rec['id']}.yaml").write_text(yaml.safe_dump(rec, sort_keys=False))
    return folder


def test_records_md_units_and_hr(cli, tmp_path):
    folder = _records(tmp_path)
    res = api.pool(folder, "vfd", measure="MD")
    assert res.k == 2 and res.common.method == "IV"
    assert abs(res.studies[0].estimate - 3.2) < 1e-12
    assert "MD [95% CI] (days)" in res.summary()
    out = tmp_path / "vfd.png"
    assert cli("forest", str(folder), "--outcome", "vfd", "--measure", "SMD", "-o",
               str(out)).returncode == 0 and out.stat().st_size > 0
    hr = api.pool(folder, "mortality", measure="HR")
    assert hr.k == 1 and hr.studies[1].se_from == "ci"
    assert "reports 2x2 counts (binary); cannot be pooled as HR" in hr.studies[0].excluded_reason


def test_forest_layouts_share_the_forest_code(tmp_path):
    from metasynth.render.plots.forest import _rows

    for path, measure, cols in (("normand1999.csv", "MD", {"e_mean", "e_sd", "e_total"}),
                                ("giv_hr.csv", "HR", {"est", "se"}),
                                ("oe_v.csv", "HR", {"oe", "var"})):
        res = api.pool(DIR / path, measure=measure, tau2="DL", ci="wald")
        body, _, _ = _rows(res, False, None)
        assert cols <= set(body[0].cells)
        assert not any(r.kind == "events" for r in body)  # no "Total events" row


def test_robustness_verbs_on_continuous():
    res = api.pool(DIR / "normand1999.csv", measure="MD")
    loo = api.leave_one_out(res)
    assert len(loo.rows) == res.k


def test_bayes_and_tsa_on_other_measures():
    from metasynth.errors import DataError

    res = api.pool(DIR / "normand1999.csv", measure="SMD")
    fit = api.bayes(res)
    assert fit.k == res.k
    with pytest.raises(DataError, match=r"Turner et al. \(2015\) priors are for the log odds"):
        api.bayes(res, tau_prior="turner-mortality")
    with pytest.raises(DataError, match="risk ratios"):
        api.tsa(res)


def test_sof_wording_for_continuous(tmp_path):
    from metasynth.render.text.sof import continuous_effect_text, smd_size

    res = api.pool(_records(tmp_path), "vfd", measure="MD", tau2="DL", ci="wald")
    assert continuous_effect_text(res) == (
        "The mean ventilator-free days at day 28 ranged across control groups from 10.90 to "
        "11.00 days; MD 2.40 days higher (0.04 higher to 4.76 higher)")
    smd = api.pool(DIR / "normand1999.csv", measure="SMD")
    assert continuous_effect_text(smd).endswith("by the Cochrane rule of thumb")
    assert [smd_size(x) for x in (0.1, -0.3, 0.6, 0.9)] == [
        "a trivial effect", "a small effect", "a moderate effect", "a large effect"]


def test_peters_refused_without_sample_sizes():
    tests = api.small_study_tests(DIR / "giv_bangertdrowns2004.csv", measure="SMD")
    assert "the Peters test is for binary outcomes" in tests["peters"]
    assert tests["egger"].p is not None


@pytest.mark.parametrize("path, measure", [("normand1999.csv", "MD"), ("giv_hr.csv", "HR"),
                                           ("oe_v.csv", "HR")])
def test_data_type_layouts_have_no_text_overlaps(path, measure):
    from metasynth.render.plots.forest import forest_plot
    from tests.test_forest import assert_no_overlap

    assert_no_overlap(forest_plot(api.pool(DIR / path, measure=measure), show_common=True))


def test_means_derived_from_medians_print_to_two_decimals(cli):
    """A mean and SD converted from a median are estimates: two decimals in the study
    table (they printed with %g's six digits, '23.4649'); published means stay as given."""
    out = cli("pool", str(ROOT / "studies"), "--outcome", "hospital_length_of_stay").stdout
    shu = next(line for line in out.splitlines() if line.startswith("Shu 2020"))
    assert "23.46" in shu and "23.4649" not in shu
    assert "20.00" in shu  # the MSC arm's median 20 enters as a derived mean: 2 decimals too
