"""Leave-one-out, cumulative and subgroup analyses against metafor (bcg_groups fixture)."""

import json
import math

import pytest

from metasynth.effects.binary import effect_sizes
from metasynth.models.robustness.refits import cumulative, leave_one_out
from metasynth.models.subgroups import pool_subgroups
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.table import read_table
from tests.conftest import FIXTURES

REF = json.loads((FIXTURES / "metafor-analyses" / "bcg_groups.json").read_text())
EFFECTS = effect_sizes(read_table(FIXTURES / "data" / "bcg_groups.csv"), "RR")


def close(a, b, rel=1e-6, abs_=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)


@pytest.mark.parametrize("ref", REF["subsets"], ids=lambda r: f"{r['tau2_method']}-{r['ci_method']}")
def test_leave_one_out_matches_leave1out(ref):
    opts = AnalysisSpec(tau2=ref["tau2_method"], ci=ref["ci_method"])
    res = leave_one_out(EFFECTS, opts)
    exp = ref["leave1out"]
    assert len(res.rows) == len(exp["estimate"]) == 13
    for i, row in enumerate(res.rows):
        assert close(math.log(row.estimate), exp["estimate"][i])
        assert close(math.log(row.ci_lower), exp["ci_lower"][i])
        assert close(math.log(row.ci_upper), exp["ci_upper"][i])
        assert close(row.p, exp["p"][i], 1e-6, 1e-12)
        assert close(row.tau2, exp["tau2"][i]) and close(row.I2, exp["I2"][i], 1e-6, 1e-6)


@pytest.mark.parametrize("ref", REF["subsets"], ids=lambda r: f"{r['tau2_method']}-{r['ci_method']}")
def test_cumulative_matches_cumul(ref):
    opts = AnalysisSpec(tau2=ref["tau2_method"], ci=ref["ci_method"])
    res = cumulative(EFFECTS, opts, order="year")
    exp = ref["cumul"]
    assert [r.label for r in res.rows] == exp["study"]
    for i, row in enumerate(res.rows[1:], start=1):  # metafor's first row is a k = 1 fit
        assert close(math.log(row.estimate), exp["estimate"][i])
        assert close(math.log(row.ci_lower), exp["ci_lower"][i])
        assert close(math.log(row.ci_upper), exp["ci_upper"][i])
        assert close(row.tau2, exp["tau2"][i])


@pytest.mark.parametrize("ref", REF["subgroups"], ids=lambda r: f"{r['tau2_method']}-{r['ci_method']}")
def test_subgroups_and_test_for_differences(ref):
    opts = AnalysisSpec(tau2=ref["tau2_method"], ci=ref["ci_method"])
    labels = [r.subgroup for r in EFFECTS.table.rows]
    res = pool_subgroups(EFFECTS, labels, "alloc", opts)
    assert [g for g, _ in res.groups] == [s["subgroup"] for s in ref["subgroups"]]
    for (_, r), s in zip(res.groups, ref["subgroups"], strict=True):
        assert r.k == s["k"]
        assert close(r.random.theta, s["theta"]) and close(r.heterogeneity.tau2, s["tau2"])
        assert close(math.log(r.random.ci_lower), s["ci_lower"])
    assert close(res.test.Q, ref["Q"]) and res.test.df == ref["df"]
    assert close(res.test.p, ref["p"])


def test_a_report_fits_each_analysis_once_and_reuses_it():
    # report.analyses.Fits: the same data set (an equal table) under the same spec is one
    # fit; pool_subgroups given that fit as its whole gives what it fits itself
    from dataclasses import replace

    from metasynth.models.pool import pool_table
    from metasynth.records.load import load_studies
    from metasynth.records.select import select_outcome
    from metasynth.report.analyses import Fits
    from tests.conftest import STUDIES

    table = select_outcome(load_studies(STUDIES), "mortality")
    spec = AnalysisSpec(measure="RR")
    fits = Fits()
    main = fits.pool(table, spec)
    assert fits.pool(replace(table, rows=tuple(table.rows)), spec) is main
    assert fits.pool(table, spec.with_(tau2="DL")) is not main
    assert main.to_dict() == pool_table(table, spec).to_dict()
    effects = fits.effects(table, spec)
    labels = [str(i % 2) for i in range(len(table.rows))]
    reused = pool_subgroups(effects, labels, "half", spec, overall=main)
    assert reused.to_dict() == pool_subgroups(effects, labels, "half", spec).to_dict()
