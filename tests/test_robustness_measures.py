"""The robustness verbs on MD, SMD, ROM and HR (generic inverse variance and O - E/V),
through the API on a pooled result, pinned to metafor 3.8.1
(metafor-continuous/robustness_measures.json, from make_continuous_fixtures.R); and the
verbs that are not defined for a measure refuse in one line."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from metasynth import api
from metasynth.errors import UsageError

DIR = Path(__file__).parent / "fixtures" / "metafor-continuous"
REF = json.loads((DIR / "robustness_measures.json").read_text())["measures"]
CASES = {"MD": ("curtis12.csv", "MD"), "SMD": ("curtis12.csv", "SMD"),
         "ROM": ("curtis12.csv", "ROM"), "HR-GIV": ("giv_hr.csv", "HR"),
         "HR-OE": ("oe_v.csv", "HR")}
NAMES = list(CASES)


@pytest.fixture(scope="module")
def fits():
    """Each case pooled once as metafor's rma(method = "REML", test = "z")."""
    return {n: api.pool(DIR / f, measure=m, tau2="REML", ci="wald", common_method="IV")
            for n, (f, m) in CASES.items()}


def close(a, b, rel=1e-6, abs_=1e-9):
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=rel, atol=abs_)


def _log(measure: str, values):
    """Reporting scale -> analysis scale (metafor's leave1out and cumul report yi's)."""
    return [math.log(v) if measure in ("ROM", "HR") else v for v in values]


@pytest.mark.parametrize("name", NAMES)
def test_leave_one_out(fits, name):
    res, ref = fits[name], REF[name]["leave1out"]
    rows = api.leave_one_out(res).rows
    m = res.spec.measure
    assert close(_log(m, [r.estimate for r in rows]), ref["estimate"])
    assert close(_log(m, [r.ci_lower for r in rows]), ref["ci_lower"])
    assert close(_log(m, [r.ci_upper for r in rows]), ref["ci_upper"])
    assert close([r.p for r in rows], ref["p"], 1e-6, 1e-12)
    assert close([r.tau2 for r in rows], ref["tau2"], 1e-6, 1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_cumulative(fits, name):
    res, ref = fits[name], REF[name]["cumul"]
    rows = api.cumulative(res).rows
    labels = [res.studies[i - 1].label for i in ref["order"]]
    assert [r.label for r in rows] == labels
    m = res.spec.measure  # metafor's first row is a k = 1 fit: compared from the second
    assert close(_log(m, [r.estimate for r in rows[1:]]), ref["estimate"][1:])
    assert close(_log(m, [r.ci_lower for r in rows[1:]]), ref["ci_lower"][1:])
    assert close([r.tau2 for r in rows[1:]], ref["tau2"][1:], 1e-6, 1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_influence(fits, name):
    inf, ref = api.influence(fits[name]), REF[name]["influence"]
    for key in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight"):
        assert close([getattr(r, key) for r in inf.rows], ref[key], 1e-6, 1e-9), key


EX = pytest.mark.exhaustive  # the same code on more data sets: the exhaustive run
DEFAULT = ("MD", "HR-OE")  # a difference and a ratio measure in the default run


def _some(names):
    return [n if n in DEFAULT else pytest.param(n, marks=EX) for n in names]


@pytest.mark.parametrize("name", _some(NAMES))
def test_small_study_tests(fits, name):
    """Egger (rma and lm), Begg and trim-and-fill: forced below 10 studies for the HR
    sets (metafor runs them at any k)."""
    from metasynth.models.robustness import small_study as ss

    res, ref = fits[name], REF[name]
    eff, spec = res.effects, res.spec
    force = res.k < 10
    e1 = ss.egger(eff, spec, force=force)
    assert close(e1.statistic, ref["regtest"]["rma_sei"]["zval"])
    assert close(e1.p, ref["regtest"]["rma_sei"]["pval"])
    e2 = ss.egger(eff, spec, model="lm", force=force)
    assert close(e2.statistic, ref["regtest"]["lm_sei"]["zval"])
    assert e2.df == ref["regtest"]["lm_sei"]["dfs"]
    b = ss.begg(eff, force=force)
    assert close(b.statistic, ref["ranktest"]["tau"]) and close(b.p, ref["ranktest"]["pval"])
    for tf_ref in ref["trimfill"]:
        tf = ss.trim_and_fill(eff, spec, tf_ref["estimator"], force=force)
        assert (tf.k0, tf.side) == (tf_ref["k0"], tf_ref["side"])
        # metafor's refit of the filled data stops at its default threshold (1e-5): tau²
        # on its boundary comes out near 1e-6 there (SMD), 0 here
        assert close(tf.theta, tf_ref["theta"], 1e-5) and close(tf.tau2, tf_ref["tau2"], 1e-5,
                                                                  1e-5)
    tests = api.small_study_tests(res)  # the verb: what runs at this k, and why not
    if res.k >= 10:
        assert close(tests["egger"].p, ref["regtest"]["rma_sei"]["pval"])
    else:
        assert "at least 10 studies" in tests["egger"]
    assert "binary" in tests["peters"] and "harbord" not in tests


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.exhaustive)
                                  if n in ("MD", "SMD", "ROM") else n for n in NAMES])
def test_permutation_test(fits, name):  # 4096 exact permutations of 12 studies: exhaustive
    res = api.permutation_test(fits[name])
    assert res.kind == "exact" and res.p == pytest.approx(REF[name]["permutest"]["pval"],
                                                          rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_gosh(fits, name):
    from metasynth.models.robustness.gosh import gosh

    res, ref = fits[name], REF[name]["gosh"]
    g = gosh(res.effects.subset(np.arange(len(res.studies)) < ref["k"]), res.spec)
    index = {tuple(row.astype(int)): i for i, row in enumerate(g.included)}
    assert g.subsets == len(ref["estimate"]) == 2 ** min(ref["k"], res.k) - 1
    for incl, est, tau2 in zip(ref["incl"], ref["estimate"], ref["tau2"], strict=True):
        i = index[tuple(incl)]
        assert close(g.estimate[i], est) and close(g.tau2[i], tau2, 1e-6, 1e-9)


@pytest.mark.parametrize("name", ["MD", pytest.param("SMD", marks=EX),
                                  pytest.param("ROM", marks=EX)])
def test_meta_regression(fits, name):
    mr, ref = api.metaregression(fits[name], ["year"], permutations=10), REF[name]["metareg"]
    assert close([c.estimate for c in mr.coefficients], ref["beta"], 1e-5)
    assert close([c.se for c in mr.coefficients], ref["se"], 1e-5)
    assert close(mr.tau2, ref["tau2"], 1e-5, 1e-9) and close(mr.QM, ref["QM"], 1e-5)
    assert close(mr.QE, ref["QE"], 1e-6)


@pytest.mark.exhaustive  # about 3 CPU-s
@pytest.mark.parametrize("name", ["SMD", "ROM", "HR-GIV", "HR-OE"])
def test_bayes_runs_on_the_analysis_scale(fits, name):
    """The normal-normal model takes the analysis-scale yi and vi of any measure: its
    posterior median lies between the common-effect and the data's range, and the
    thresholds are read on the ratio scale for ROM and HR."""
    res = fits[name]
    fit = api.bayes(res)
    assert fit.k == res.k
    lo, hi = min(res.effects.yi), max(res.effects.yi)
    assert lo < fit.mu.median < hi
    assert all(k.startswith(f"P({res.spec.measure} < ") for k in fit.probabilities)


def test_bayes_md_needs_its_tau_scale(fits, cli):
    """tau of a mean difference is in the outcome's units: the default half-normal scale
    (0.5, meant for log ratios) is refused in one line."""
    with pytest.raises(UsageError, match=r"default scale for tau \(0.5\) is for log ratios"):
        api.bayes(fits["MD"])
    proc = cli("bayes", DIR / "curtis12.csv", "--measure", "MD")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--tau-scale" in proc.stderr


@pytest.mark.exhaustive  # about 2 CPU-s
def test_bayes_md_runs_with_an_explicit_scale(fits, cli):
    assert api.bayes(fits["MD"], tau_scale=50.0).spec.tau_scale == 50.0
    assert cli("bayes", DIR / "curtis12.csv", "--measure", "MD", "--tau-scale",
               "0.5").returncode == 0  # given explicitly: the user's choice


@pytest.mark.parametrize("path, measure", [
    ("curtis12.csv", "MD"), pytest.param("curtis12.csv", "SMD", marks=EX),
    pytest.param("curtis12.csv", "ROM", marks=EX), ("oe_v.csv", "HR")])
def test_tsa_refuses_other_measures_in_one_line(cli, path, measure):
    proc = cli("tsa", DIR / path, "--measure", measure)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"risk ratios (measure RR), not {measure}" in proc.stderr


VERBS = [("leave-one-out",), ("cumulative",), ("influence",), ("bias",), ("permutest",),
         ("metareg", "--mods", "year")]  # gosh draws a plot: its numbers are above


@pytest.mark.parametrize("path, measure", [
    pytest.param("curtis12.csv", "MD", marks=pytest.mark.exhaustive),  # 4096 permutations
    ("oe_v.csv", "HR")])
def test_verbs_run_from_the_command_line(cli, path, measure):
    """Each verb runs on a difference and a ratio measure from the CLI; the small-study
    output says why Peters (binary only) was not run; Harbord (OR only) is not offered."""
    for verb in VERBS:
        if verb[0] == "metareg" and path == "oe_v.csv":
            proc = cli(*verb[:1], DIR / path, "--measure", measure, *verb[1:])
            assert proc.returncode == 1 and proc.stderr.count("\n") == 1  # no years there
            continue
        proc = cli(verb[0], DIR / path, "--measure", measure, *verb[1:])
        assert proc.returncode == 0, (verb, proc.stderr)
        if verb[0] == "bias":
            assert (f"peters: not run: the Peters test is for binary outcomes (log OR or RR on "
                    f"1/n; Peters et al. 2006), not for {measure}") in proc.stdout
            assert "harbord" not in proc.stdout
