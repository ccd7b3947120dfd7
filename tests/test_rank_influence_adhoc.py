"""Begg's rank test with ties, the full influence rule and test = "adhoc", pinned to
metafor (#12; fixture metafor-analyses/issue12.json from make_issue12_fixtures.R)."""

import json

import numpy as np
import pytest

from metasynth.effects.binary import effect_sizes
from metasynth.models.robustness.small_study import begg, rank_correlation
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
