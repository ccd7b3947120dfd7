"""Continuous outcomes in the plan and the report (issue #14): the per-data-type measure,
the median-to-mean option, the report's pooled mean differences against metafor, the
list of conversions, the GRADEpro wording and the "why not pooled" text of one-trial
outcomes. Every test reads the one shared report build (``built_report``/``report_data``)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from metasynth.effects.sizes import effect_sizes
from metasynth.plan.resolve import OptionError, resolve
from metasynth.render.text.warnings import warning_text

FIXTURE = Path(__file__).parent / "fixtures" / "report-continuous" / "report_continuous.json"
RTOL = 1e-6
POOLED = ("hospital_length_of_stay", "time_to_clinical_improvement")
ONE_TRIAL = ("ventilator_free_days", "ventilation_duration", "pao2_fio2_change_day7")


def _section(data, oid):
    return next(s for s in data.outcomes if s.id == oid)


def _close(a, b):
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-12)


def test_measure_per_data_type_from_the_option_table():
    spec = resolve()
    assert (spec.measure, spec.continuous_measure, spec.median_to_mean) == ("RR", "MD", "luo-shi")
    assert spec.for_data("binary") is spec
    md = spec.for_data("continuous")
    assert md.measure == "MD" and md.common_method == "IV"  # MH is for 2x2 counts only
    assert spec.with_(continuous_measure="SMD").for_data("continuous").measure == "SMD"
    # a --measure that is itself continuous applies as given
    assert spec.with_(measure="ROM").for_data("continuous").measure == "ROM"
    assert resolve({"median_to_mean": "WAN"}).median_to_mean == "wan"
    with pytest.raises(OptionError, match="continuous_measure must be one of MD, SMD, ROM"):
        resolve({"continuous_measure": "RR"})
    with pytest.raises(OptionError, match="median_to_mean must be one of"):
        resolve({"median_to_mean": "hozo"})
    # effect_sizes' own default is the table's (for callers without a spec)
    import inspect

    from metasynth.effects.conversions import MEDIAN_METHODS
    from metasynth.plan.options import MEDIAN_TO_MEAN

    assert inspect.signature(effect_sizes).parameters["median_to_mean"].default == \
        MEDIAN_TO_MEAN.default
    assert set(MEDIAN_METHODS) | {"none"} == set(MEDIAN_TO_MEAN.values)


def test_report_pools_continuous_outcomes_as_metafor_does(built_report):
    """summary.json's mean differences against escalc(measure = "MD") + rma (REML, HKSJ)
    on means and SDs derived in R from the same medians (make_report_continuous_fixtures.R)."""
    ref = json.loads(FIXTURE.read_text())
    summary = json.loads(built_report.files.summary.read_text())["outcomes"]
    for oid in POOLED:
        main, want = summary[oid]["main"], ref[oid]
        assert main["measure"] == "MD" and main["k"] == 2
        studies = [s for s in main["studies"] if s["included"]]
        assert [s["label"] for s in studies] == want["study"]
        for i, s in enumerate(studies):
            for key, r_key in (("treatment_mean", "mean1"), ("treatment_sd", "sd1"),
                               ("control_mean", "mean2"), ("control_sd", "sd2"),
                               ("yi", "yi"), ("vi", "vi")):
                assert _close(s[key], want[r_key][i]), (oid, s["label"], key)
        for key in ("estimate", "ci_lower", "ci_upper", "se", "p"):
            assert _close(main["random"][key], want["random"][key]), (oid, key)
        assert main["heterogeneity"]["tau2"] == pytest.approx(want["random"]["tau2"], abs=1e-10)
        for key in ("estimate", "ci_lower", "ci_upper"):
            assert _close(main["common"][key], want["common"][key]), (oid, key)
        dl = summary[oid]["sensitivity"]["classic-dl"]["random"]
        for key in ("estimate", "ci_lower", "ci_upper"):
            assert _close(dl[key], want["dl_wald"][key]), (oid, "DL", key)


def test_every_conversion_is_listed_with_method_and_inputs(built_report):
    data = built_report.data
    rows = data.conversions
    # 2 pooled outcomes x 2 trials x 2 arms, and the 3 one-trial outcomes of Monsel 2022
    assert len(rows) == 2 * 2 * 2 + 3 * 2
    shu = next(r for r in rows if r["outcome"] == "Length of hospital stay"
               and r["study"] == "Shu 2020" and r["arm"] == "MSC")
    assert shu["inputs"] == "median 20, IQR 16 to 24, n = 12"
    assert shu["method"] == "mean by Luo et al. 2018; SD by Wan et al. 2014"
    assert shu["result"] == "mean 20.00, SD 6.63"
    assert "Table 2 has no n = 12" in shu["warnings"]
    # the MSC arm of Zhu 2021's time to improvement: q1 = median = 7, Bowley's B = 1
    flagged = _section(data, "time_to_clinical_improvement").skewed
    assert flagged == ["Zhu 2021 (MSC)"]
    result = _section(data, "time_to_clinical_improvement").result
    assert any(warning_text(w).startswith("Zhu 2021, treatment arm: the mean and SD derived "
                                          "from the median") for w in result.warnings
               if w.code == "median_conversion_skewed")
    study = next(s for s in result.studies if s.label == "Zhu 2021")
    assert {c["arm"]: c["method"] for c in study.conversions} == {
        "treatment": {"mean": "luo", "sd": "wan"}, "control": {"mean": "luo", "sd": "wan"}}
    html = built_report.files.html.read_text()
    assert "Appendix: means and SDs derived from medians" in html
    appendix = _section(data, "hospital_length_of_stay").appendix
    assert appendix[0]["counts"] == ("median 20 (IQR 16 to 24), n = 12 vs median 24 (IQR 20 "
                                     "to 26.5), n = 29")
    assert "The skewness check flags\nZhu 2021 (MSC)" in html
    summary = json.loads(built_report.files.summary.read_text())["outcomes"]
    inputs = [c["inputs"] for s in summary["hospital_length_of_stay"]["main"]["studies"]
              for c in s.get("conversions", [])]
    assert {"q1": 16.0, "median": 20.0, "q3": 24.0} in inputs


def test_median_to_mean_none_pools_no_median(report_data):
    result = _section(report_data, "hospital_length_of_stay").result
    table, rule = result.effects.table, result.spec.zero_cells
    none = effect_sizes(table, "MD", rule, median_to_mean="none")
    assert not none.included.any()
    assert all("median_to_mean: none" in r for r in none.reasons)
    from metasynth import api

    # a registry outcome's data type picks the measure: the default spec (RR) pools it as MD
    assert table.data_type == "continuous" and api.pool(table).measure == "MD"
    wan = effect_sizes(table, "MD", rule, median_to_mean="wan")  # Wan's mean (q1 + m + q3) / 3
    shu = wan.table.rows[0]
    assert shu.treatment_mean == pytest.approx((16 + 20 + 24) / 3)
    assert shu.conversions[0][1].method == {"mean": "wan", "sd": "wan"}


def test_sof_wording_and_grade_for_continuous(built_report):
    data = built_report.data
    sec = _section(data, "hospital_length_of_stay")
    assert sec.sof["effect_text"] == (
        "The mean length of hospital stay ranged across control groups from 15.00 to 23.46 "
        "days; MD 3.83 days lower (6.99 lower to 0.67 lower)")
    assert sec.sof["relative"] == "—"
    imprecision = next(d for d in sec.certainty.domains if d.domain == "imprecision")
    assert "threshold: the null" in imprecision.rule and "no optimal information" in imprecision.rule
    assert imprecision.proposed == 0  # the CI excludes 0
    slow = _section(data, "time_to_clinical_improvement")
    assert next(d for d in slow.certainty.domains if d.domain == "imprecision").proposed == 1
    assert "trial sequential analysis is not run" in sec.beyond
    summary = json.loads(built_report.files.summary.read_text())["outcomes"]
    assert summary["hospital_length_of_stay"]["sof"] == sec.sof["effect_text"]
    assert "MD: mean difference" in data.sof["abbreviations"]
    from metasynth import api
    from metasynth.render.text.report import sof_row

    smd = api.fitted(sec.result, measure="SMD")  # the same converted arms, as Hedges' g
    row = sof_row(smd, sec.certainty, None)
    assert row["difference"].startswith("SMD 0.")
    assert row["difference"].endswith("effect by the Cochrane rule of thumb")


def test_one_trial_outcomes_say_why_not_pooled(built_report):
    summary = json.loads(built_report.files.summary.read_text())["outcomes"]
    html = built_report.files.html.read_text()
    for oid in ONE_TRIAL:
        sec = _section(built_report.data, oid)
        assert sec.result is None and sec.k == 1
        assert sec.not_pooled.startswith("Not pooled: only one trial (Monsel 2022, 45 "
                                         "participants) reports this outcome")
        assert summary[oid]["main"] is None and summary[oid]["not_pooled"] == sec.not_pooled
        assert summary[oid]["trial"]["k"] == 1
        assert html.count(sec.not_pooled) == 2  # the SoF row and the outcome's section


def test_report_writes_and_links_the_r_script(built_report):
    out = built_report.files.html.parent
    script = out / built_report.data.r_script_name
    assert script.is_file()
    assert script.name in json.loads((out / "manifest.json").read_text())["files"]
    assert f'href="{script.name}"' in built_report.files.html.read_text()
    text = script.read_text()
    assert 'escalc(measure = "MD", m1i = m1i' in text
    assert "# Shu 2020, treatment arm: mean by Luo 2018; SD by Wan 2014" in text


@pytest.mark.exhaustive
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R with metafor")
def test_report_r_script_reproduces_the_report(built_report):
    """The report's R script, run with Rscript, prints every main estimate of summary.json
    (random effects) to 1e-6."""
    out = built_report.files.html.parent
    run = subprocess.run(["Rscript", str(out / built_report.data.r_script_name)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(built_report.files.summary.read_text())["outcomes"]
    blocks = run.stdout.split("\n== ")[1:]
    assert blocks
    for block in blocks:
        oid = block.split(":")[0]
        line = next(x for x in block.splitlines() if x.startswith("random "))
        got = [float(x) for x in line.split()[1:]]
        r = summary[oid]["main"]["random"]
        assert got == pytest.approx([r["estimate"], r["ci_lower"], r["ci_upper"]], rel=1e-6)


@pytest.fixture(scope="module")
def stay_results():
    import metasynth

    return {o: metasynth.pool(STUDIES_DIR, o) for o in POOLED}


STUDIES_DIR = Path(__file__).resolve().parent.parent / "studies"


def _imprecision_of(result, outcome: str, mids: dict):
    from metasynth.plan.file import Grade
    from metasynth.report.grade import propose

    cert = propose(outcome, result, {}, Grade(mids=mids), {})
    return next(d for d in cert.domains if d.domain == "imprecision")


def test_a_minimally_important_difference_rates_a_mean_difference_on_it(stay_results):
    """GRADE 34/35 with a MID in the plan (``grade.mids``): the CI of the MD against the
    MID both ways, then GRADE 6's optimal information size, 4 (z_0.975 + z_0.8)^2 SD^2 /
    MID^2, with the pooled SD of the control arms when the plan gives none."""
    from metasynth.distributions import norm_quantile

    stay = stay_results["hospital_length_of_stay"]  # MD -3.83 (-6.99 to -0.67) days, n 99
    r = stay.random
    assert stay.measure == "MD" and r.ci_lower < -1 < r.ci_upper < -0.5
    one_day = _imprecision_of(stay, "hospital_length_of_stay",
                              {"hospital_length_of_stay": {"mid": 1, "source": "a test"}})
    assert one_day.proposed == 1
    assert "crosses the threshold of important benefit" in one_day.rule
    assert "a minimally important difference of 1 days (a test; benefit -1.00" in one_day.rule

    rows = [row for row in stay.effects.table.rows if row.control_sd is not None]
    df = sum(row.control_total - 1 for row in rows)
    sd = math.sqrt(sum((row.control_total - 1) * row.control_sd ** 2 for row in rows) / df)
    z = norm_quantile(0.975) + norm_quantile(0.80)
    ois = math.ceil(4 * z * z * sd * sd / 0.5 ** 2)
    half = _imprecision_of(stay, "hospital_length_of_stay",
                           {"hospital_length_of_stay": {"mid": 0.5, "source": "a test"}})
    assert ois > stay.counts.participants == 99
    assert half.proposed == 1 and "participants below the OIS" in half.rule
    assert f"OIS {ois} (MID 0.5 days, SD " in half.rule and "pooled from the control arms" in half.rule
    # the plan's SD, so small that 99 participants meet the OIS: not rated down
    met = _imprecision_of(stay, "hospital_length_of_stay", {"hospital_length_of_stay": {
        "mid": 0.5, "sd": 0.5, "source": "a test"}})
    assert met.proposed == 0 and "OIS met" in met.rule and "the plan's" in met.rule
    assert f"OIS {math.ceil(4 * z * z)} " in met.rule

    slow = stay_results["time_to_clinical_improvement"]  # MD -4.01 (-15.14 to 7.12)
    both = _imprecision_of(slow, "time_to_clinical_improvement",
                           {"time_to_clinical_improvement": {"mid": 2, "source": "a test"}})
    assert both.proposed == 2 and "crosses both thresholds" in both.rule
    # a MID for another outcome leaves this one on the null, as before
    null = _imprecision_of(slow, "time_to_clinical_improvement",
                           {"hospital_length_of_stay": {"mid": 2, "source": "a test"}})
    assert null.proposed == 1 and "threshold: the null" in null.rule
