"""Continuous (MD, SMD, ROM), generic inverse-variance and O - E/V (HR) analyses against
metafor 3.8.1 (fixtures from tests/fixtures/make_continuous_fixtures.R).

Tolerance: rtol 1e-6 (abs 1e-8) for every pooled number; 1e-10 for escalc's closed forms.
Each test loops over the 7 tau² estimators x 2 CI methods of one data set and measure, so
the default suite runs a handful of tests, not a hundred.
"""

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from metasynth.effects.continuous import hedges_j
from metasynth.effects.generic import se_from_ci, se_from_p
from metasynth.effects.sizes import effect_sizes
from metasynth.errors import UsageError
from metasynth.models.pool import pool_effects
from metasynth.plan.resolve import OptionError
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.table import read_table

DIR = Path(__file__).parent / "fixtures" / "metafor-continuous"
RTOL, ATOL = 1e-6, 1e-8
WORST: dict = {}


@functools.cache
def _load(name):
    return json.loads((DIR / f"{name}.json").read_text())


def close(ours, theirs, what, rtol=RTOL, atol=ATOL):
    if theirs is None:
        return ours is None
    if ours is None:
        return False
    rel = abs(ours - theirs) / max(abs(theirs), 1e-300)
    if abs(ours - theirs) > atol:
        WORST[what] = max(WORST.get(what, 0.0), rel)
    return math.isclose(ours, theirs, rel_tol=rtol, abs_tol=atol)


def _check_fits(name, measure, ref, ratio):
    eff = effect_sizes(read_table(DIR / f"{name}.csv"), measure)
    back = math.log if ratio else (lambda x: x)
    for f in ref["random"]:
        spec = AnalysisSpec(measure=measure, tau2=f["tau2_method"], ci=f["ci_method"],
                            common_method="IV")
        res = pool_effects(eff, spec)
        r, h = res.random, res.heterogeneity
        tag = f"{name} {measure} {f['tau2_method']} {f['ci_method']}"
        assert res.k == f["k"], tag
        assert close(r.theta, f["theta"], "theta"), tag
        if f["k"] == 1:
            continue
        assert close(h.tau2, f["tau2"], "tau2", atol=1e-9), tag
        assert close(r.se, f["se"], "se"), tag
        assert close(back(r.ci_lower), f["ci_lower"], "ci") and \
            close(back(r.ci_upper), f["ci_upper"], "ci"), tag
        assert close(r.stat, f["stat"], "stat") and close(r.p, f["p"], "p", atol=1e-12), tag
        assert close(h.Q, f["Q"], "Q") and close(h.I2, f["I2"], "I2", atol=1e-6), tag
        assert close(h.H2, f["H2"], "H2"), tag
        if f.get("tau2_ci_upper") is not None and f["tau2_ci_upper"] < 100:
            assert close(h.tau2_ci_lower, f["tau2_ci_lower"], "tau2 CI", 1e-5, 1e-7), tag
            assert close(h.tau2_ci_upper, f["tau2_ci_upper"], "tau2 CI", 1e-5, 1e-7), tag
        ours_w = [s.weight_random for s in res.studies if s.included]
        assert all(close(a, b, "weights") for a, b in zip(ours_w, f["weights"], strict=True)), tag
        if f["k"] >= 3:
            m = pool_effects(eff, spec.with_(pi="metafor")).random
            assert close(back(m.pi_lower), f["pi_lower"], "PI") and \
                close(back(m.pi_upper), f["pi_upper"], "PI"), tag
    c = pool_effects(eff, AnalysisSpec(measure=measure, common_method="IV")).common
    assert close(c.theta, ref["common"]["theta"], "theta") and \
        close(c.se, ref["common"]["se"], "se")
    return eff


# the default suite: every measure on normand1999 and k = 1, the edge cases for SMD (where
# Hedges' J at n = 2 and a zero SD matter most); the rest behind the exhaustive marker
DEFAULT = {("continuous_edge", "SMD")} | {(n, m) for n in ("normand1999", "continuous_k1")
                                          for m in ("MD", "SMD", "ROM")}
CONTINUOUS = [pytest.param(n, m, id=f"{n}-{m}", marks=() if (n, m) in DEFAULT
                           else pytest.mark.exhaustive)
              for n in ("normand1999", "continuous_edge", "continuous_k1")
              for m in ("MD", "SMD", "ROM")]


@pytest.mark.parametrize("name, measure", CONTINUOUS)
def test_continuous_against_metafor(name, measure):
    ref = _load(name)["measures"][measure]
    eff = _check_fits(name, measure, ref, measure == "ROM")
    for y, v, ry, rv in zip(eff.yi, eff.vi, ref["yi"], ref["vi"], strict=True):
        if ry is None or rv is None or rv == 0:
            assert not np.isfinite(y)
        else:
            assert math.isclose(y, ry, rel_tol=1e-10, abs_tol=1e-12)
            assert math.isclose(v, rv, rel_tol=1e-10, abs_tol=1e-12)


@pytest.mark.exhaustive
@pytest.mark.parametrize("measure", ["MD", "SMD", "ROM"])
def test_curtis1998_k102(measure):
    _check_fits("curtis1998", measure, _load("curtis1998")["measures"][measure], measure == "ROM")


@pytest.mark.parametrize("name", [pytest.param("giv_bangertdrowns2004", marks=pytest.mark.exhaustive),
                                  "giv_hr", "oe_v"])
def test_generic_and_oe_against_metafor(name):
    ref = _load(name)
    eff = _check_fits(name, ref["measure"], ref, ref["measure"] == "HR")
    if name == "giv_hr":
        assert eff.se_from == ("ci",) * 4 + ("p",) * 2
    if name == "oe_v":
        res = pool_effects(eff, AnalysisSpec(measure="HR", common_method="Peto"))
        assert res.common.method == "Peto" and set(eff.source) == {"o-e/v"}
        assert close(res.common.theta, ref["peto_theta"], "theta")
        assert close(res.common.se, ref["peto_se"], "se")


def test_hedges_j_and_handbook_examples():
    # J(m) = Γ(m/2) / (√(m/2) Γ((m-1)/2)): 1/√π at m = 2; ≈ 1 - 3/(4m - 1) for large m
    assert math.isclose(hedges_j(2)[0], 1 / math.sqrt(math.pi), rel_tol=1e-14)
    assert math.isclose(hedges_j(1000)[0], 1 - 3 / 3999, rel_tol=1e-6)
    assert np.isnan(hedges_j(1)[0])
    # Handbook 5.1 7.7.7.2: "The Z value that corresponds to a P value of 0.008 is Z = 2.652"
    assert round(1.0 / se_from_p(1.0, 0.008), 3) == 2.652
    # a 95% CI is 3.92 standard errors wide (Handbook: SE = (upper - lower) / 3.92)
    assert math.isclose(se_from_ci(1.0, 4.92), 1.0, rel_tol=1e-3)
    assert math.isclose(se_from_ci(1.0, 1 + 2 * 1.6448536269514722, 0.90), 1.0, rel_tol=1e-12)


def test_measure_and_data_type_must_match(tmp_path):
    table = read_table(DIR / "normand1999.csv")
    with pytest.raises(UsageError, match=r"measure RR needs 2x2 counts.*continuous"):
        effect_sizes(table, "RR")
    counts = tmp_path / "c.csv"
    counts.write_text("study,treatment_events,treatment_total,control_events,control_total\n"
                      "a,1,10,2,10\n")
    with pytest.raises(UsageError, match="measure MD needs per-arm n, mean and SD"):
        effect_sizes(read_table(counts), "MD")
    with pytest.raises(OptionError, match="Mantel-Haenszel method needs 2x2 counts"):
        AnalysisSpec().with_(measure="MD", common_method="MH")
    assert AnalysisSpec().with_(measure="SMD").common_method == "IV"
    assert AnalysisSpec().with_(preset="revman5", measure="MD").common_method == "IV"
    assert AnalysisSpec().with_(measure="RR").common_method == "MH"
    with pytest.raises(OptionError, match="Peto"):
        AnalysisSpec().with_(measure="MD", common_method="Peto")


def test_worst_difference_is_reported():
    """Runs last in this module: the worst relative difference of every compared number."""
    if not WORST:
        pytest.skip("run with the fixture tests")
    print("worst relative differences vs metafor:", {k: f"{v:.1e}" for k, v in WORST.items()})
    assert max(WORST.values()) < RTOL
