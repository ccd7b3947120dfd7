"""Begg's rank test with ties, the full influence rule and test = "adhoc", pinned to
metafor (#12; fixture metafor-analyses/issue12.json from make_issue12_fixtures.R)."""

import json

import numpy as np
import pytest

from metasynth.effects.binary import effect_sizes
from metasynth.models.engine.random_effects import fit_random
from metasynth.models.engine.weighted import as_batch
from metasynth.models.robustness.influence import influence_of
from metasynth.models.robustness.permutation import permutation_test
from metasynth.models.robustness.small_study import begg, rank_correlation
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.table import read_table
from tests.conftest import FIXTURES

REF = json.loads((FIXTURES / "metafor-analyses" / "issue12.json").read_text())


def _exact(values):
    return np.array([float.fromhex(x) for x in values])


@pytest.mark.parametrize("rec", REF["ranktest"], ids=lambda r: r["name"])
def test_rank_correlation_matches_ranktest(rec):
    tau, p, detail = rank_correlation(_exact(rec["yi_hex"]), _exact(rec["vi_hex"]))
    assert tau == pytest.approx(rec["tau"], rel=1e-13, abs=1e-15)
    assert p == pytest.approx(rec["pval"], rel=1e-12)
    assert ("exact" in detail) == (not rec["ties_ystar"] and not rec["ties_vi"])


def test_rank_fixtures_have_ties_and_begg_uses_them():
    assert sum(r["ties_vi"] for r in REF["ranktest"]) >= 8
    effects = effect_sizes(read_table(FIXTURES / "data" / "large60.csv"), "RR")
    rec = next(r for r in REF["ranktest"] if r["name"] == "large60")
    res = begg(effects)  # k = 60 without ties: exact p, as cor.test(exact = TRUE)
    assert res.statistic == pytest.approx(rec["tau"], rel=1e-13)
    assert res.p == pytest.approx(rec["pval"], rel=1e-12)


CASES = [(r, f) for r in REF["influence"] for f in r["fits"]]


@pytest.mark.parametrize("rec,fit", CASES,
                         ids=[f"{r['name']}-{f['tau2_method']}-{f['ci_method']}" for r, f in CASES])
def test_influence_flags_and_dfbetas_match_metafor(rec, fit):
    inf = influence_of(np.array(rec["yi"]), np.array(rec["vi"]), [str(i) for i in rec["yi"]],
                       fit["tau2_method"], fit["ci_method"])
    assert [r.influential for r in inf.rows] == fit["is_infl"]
    for key in ("dfbetas", "dffits", "rstudent", "cook_d", "cov_r", "hat"):
        np.testing.assert_allclose([getattr(r, key) for r in inf.rows], fit[key], rtol=1e-6,
                                   atol=1e-9, err_msg=key)
    np.testing.assert_allclose([r.tau2_del for r in inf.rows], fit["tau2_del"], rtol=1e-6, atol=1e-8)


def test_some_studies_are_flagged_by_dfbetas_alone():
    alone = 0
    for rec, fit in CASES:
        k = len(rec["yi"])
        other = ((np.abs(fit["dffits"]) > 3 * np.sqrt(1 / (k - 1))) | (np.array(fit["hat"]) > 3 / k))
        alone += int((np.array(fit["is_infl"]) & ~other & (np.abs(fit["dfbetas"]) > 1)).sum())
    assert alone >= 6


@pytest.mark.parametrize("rec", REF["adhoc"], ids=lambda r: f"{r['dataset']}-{r['tau2_method']}")
def test_hksj_adhoc_matches_rma_test_adhoc(rec):
    effects = effect_sizes(read_table(FIXTURES / "data" / f"{rec['dataset']}.csv"), "RR")
    inc = effects.included
    fit = fit_random(*as_batch(effects.yi[inc], effects.vi[inc]), rec["tau2_method"], "hksj-adhoc",
                     "metafor")
    for ours, theirs in (("theta", "theta"), ("se", "se"), ("ci_lower", "ci_lower"),
                         ("ci_upper", "ci_upper"), ("stat", "stat"), ("p", "p"), ("df", "df"),
                         ("pi_lower", "pi_lower"), ("pi_upper", "pi_upper")):
        assert getattr(fit, ours)[0] == pytest.approx(rec[theirs], rel=1e-9), ours


def test_permutation_test_of_an_adhoc_fit_matches_permutest():
    effects = effect_sizes(read_table(FIXTURES / "data" / "bcg.csv"), "RR")
    sub = effects.subset(np.arange(13) < REF["adhoc_permutest"]["k"])
    assert permutation_test(sub, AnalysisSpec(ci="hksj-adhoc")).p == REF["adhoc_permutest"]["pval"]
