"""Every number against R metafor (fixtures from tests/fixtures/make_metafor_fixtures.R).

Relative tolerance 1e-6 for closed forms; iterative estimators and root-found
interval bounds were run in R at tight tolerances, and are compared at 1e-6 relative
or 1e-8 absolute (a tau² of 0 reached by step-halving is ~1e-12 in metafor).
"""

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from metasynth.distributions import t_quantile
from metasynth.effects.binary import ZeroCellRule, effect_sizes
from metasynth.models.pool import pool_effects
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.table import read_table

FIXTURES = Path(__file__).parent / "fixtures"
FILES = sorted((FIXTURES / "metafor").glob("*.json"))
RTOL, ATOL = 1e-6, 1e-8
METAFOR_TAU2_MAX = 100.0


@functools.cache
def _load(path):
    """One parse per fixture file per run (the dicts are only read)."""
    return json.loads(path.read_text())


def close(ours, theirs, rtol=RTOL, atol=ATOL):
    if theirs is None:
        return ours is None or (isinstance(ours, float) and not math.isfinite(ours))
    if ours is None:
        return False
    return math.isclose(ours, theirs, rel_tol=rtol, abs_tol=atol)


@functools.cache
def _effects(name, measure):
    """One read per dataset and measure per run (results are frozen, only read)."""
    table = read_table(FIXTURES / "data" / f"{name}.csv")
    return effect_sizes(table, measure, ZeroCellRule())


def _cases(kind):
    out = []
    for f in FILES:
        data = _load(f)
        for i, entry in enumerate(data.get(kind, [])):
            label = "-".join(str(entry.get(k)) for k in ("measure", "tau2_method", "ci_method", "method")
                             if entry.get(k) is not None)
            out.append(pytest.param(f, i, id=f"{data['dataset']}-{label}"))
    return out


def test_fixtures_exist():
    assert len(FILES) >= 10
    names = {_load(f)["dataset"] for f in FILES}
    assert {"bcg", "k1", "k2", "msc3", "double_zero", "homogeneous", "large60"} <= names


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
@pytest.mark.parametrize("measure", ["RR", "OR", "RD"])
def test_escalc(path, measure):
    data = _load(path)
    ref = data["escalc"][measure]
    eff = _effects(data["dataset"], measure)
    for ours_y, ours_v, y, v in zip(eff.yi, eff.vi, ref["yi"], ref["vi"], strict=True):
        if y is None:
            assert not np.isfinite(ours_y)
        else:
            assert close(float(ours_y), y, 1e-10, 1e-12) and close(float(ours_v), v, 1e-10, 1e-12)


def _check_weights(studies, theirs, attr):
    """Weights in data order; a study we leave out must carry no weight in metafor
    (metafor lists 0 for a double-zero study kept in the Mantel-Haenszel tables)."""
    assert len(studies) == len(theirs)
    for s, w in zip(studies, theirs, strict=True):
        if s.included:
            assert w is not None and close(getattr(s, attr), w, 1e-6, 1e-8), (s.label, w)
        else:
            assert w is None or w == 0, (s.label, w)


@pytest.mark.parametrize("path, index", _cases("random"))
def test_random_effects(path, index):
    data = _load(path)
    ref = data["random"][index]
    if ref.get("error") and ref.get("fallback") is None and ref.get("theta") is None:
        pytest.skip(f"metafor could not fit: {ref['error']}")
    eff = _effects(data["dataset"], ref["measure"])
    opts = AnalysisSpec(measure=ref["measure"], tau2=ref["tau2_method"],
                        ci=ref["ci_method"], common_method="IV")
    res = pool_effects(eff, opts)
    assert res.k == ref["k"]
    r, h = res.random, res.heterogeneity
    assert close(r.theta, ref["theta"])
    if ref["k"] == 1:
        return
    assert close(h.tau2, ref["tau2"], 1e-6, 1e-9)
    assert close(r.se, ref["se"])
    lo, hi = (math.log(r.ci_lower), math.log(r.ci_upper)) if ref["measure"] != "RD" else (
        r.ci_lower, r.ci_upper)
    assert close(lo, ref["ci_lower"]) and close(hi, ref["ci_upper"])
    assert close(r.stat, ref["stat"])
    assert close(r.p, ref["p"], 1e-6, 1e-12)
    assert close(h.Q, ref["Q"]) and close(h.Q_p, ref["Q_p"], 1e-6, 1e-14)
    assert close(h.I2, ref["I2"], 1e-6, 1e-6) and close(h.H2, ref["H2"], 1e-6, 1e-8)
    keys = ["tau2_ci_lower", "tau2_ci_upper", "I2_ci_lower", "I2_ci_upper"]
    if ref.get("tau2_ci_upper") is not None and ref["tau2_ci_upper"] >= METAFOR_TAU2_MAX:
        # metafor's confint() searches for the upper bound only up to tau2.max (100) and
        # then reports that cap; we solve for the actual root, which lies beyond it.
        assert h.tau2_ci_upper >= METAFOR_TAU2_MAX
        keys = ["tau2_ci_lower", "I2_ci_lower"]
    for key in keys:
        if ref.get(key) is not None:
            assert close(getattr(h, key), ref[key], 1e-5, 1e-7), key
    _check_weights(res.studies, ref["weights"], "weight_random")
    # prediction intervals: Higgins-Thompson-Spiegelhalter and metafor's predict()
    back = (lambda x: math.log(x)) if ref["measure"] != "RD" else (lambda x: x)
    if ref.get("pi_hts_lower") is not None:
        if ref["ci_method"] == "wald":  # the fixture's HTS interval uses the Wald SE
            assert close(back(r.pi_lower), ref["pi_hts_lower"])
            assert close(back(r.pi_upper), ref["pi_hts_upper"])
        # HTS with the SE of the chosen CI method (the HKSJ SE after hksj), as metafor's
        # predict() does after test = "knha": built here from metafor's own theta, tau²
        # and SE, with t on k - 2 df.
        half = t_quantile(0.975, ref["k"] - 2) * math.sqrt(ref["tau2"] + ref["se"] ** 2)
        assert close(back(r.pi_lower), ref["theta"] - half)
        assert close(back(r.pi_upper), ref["theta"] + half)
        # it always contains the CI it must contain (tau² >= 0, t_{k-2} > t_{k-1})
        assert r.pi_lower <= r.ci_lower + 1e-12 and r.pi_upper >= r.ci_upper - 1e-12
    if ref["k"] >= 3:
        m = pool_effects(eff, opts.with_(pi="metafor")).random
        assert close(back(m.pi_lower), ref["pi_lower"]) and close(back(m.pi_upper), ref["pi_upper"])


@pytest.mark.parametrize("path, index", _cases("common"))
def test_common_effect(path, index):
    data = _load(path)
    ref = data["common"][index]
    if ref.get("theta") is None:
        pytest.skip(f"metafor gives no estimate: {ref.get('error')}")
    eff = _effects(data["dataset"], ref["measure"])
    opts = AnalysisSpec(measure=ref["measure"], common_method=ref["method"],
                       mh_correction=bool(ref.get("mh_correction", False)))
    res = pool_effects(eff, opts)
    c = res.common
    assert close(c.theta, ref["theta"])
    assert close(c.se, ref["se"])
    assert close(c.z, ref["z"]) and close(c.p, ref["p"], 1e-6, 1e-14)
    if ref.get("Q") is not None and res.k >= 2:
        assert close(c.Q, ref["Q"])
    if ref.get("weights") is not None:
        _check_weights(res.studies, ref["weights"], "weight_common")
