"""One validation of option values for the CLI and the API, from the option table: every
bad value is one line and exit 2 (never exit 0 with nonsense, never exit 3); the batch
paths stay within memory for huge k."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metasynth.plan.options import OPTIONS, PARAMETERS
from metasynth.plan.resolve import OptionError, coerce, parameter, resolve
from tests.conftest import STUDIES

BAD = [
    ("pool", "--add", "-1"), ("pool", "--add", "nan"), ("pool", "--add", "inf"),
    ("pool", "--level", "1"), ("bayes", "--mu-prior-sd", "-1"),
    ("bayes", "--mu-prior-sd", "1e-300"), ("bayes", "--thresholds", "nan"),
    ("bayes", "--thresholds", ","), ("bayes", "--tau-scale", "-1"),
    ("permutest", "--iterations", "0"), ("permutest", "--iterations", "1e3"),
    ("metareg", "--permutations", "-1"), ("gosh", "--max-subsets", "0"),
    ("pool", "--outcome", ""), ("pool", "--measure", "rr2"),
]


@pytest.mark.parametrize("command, flag, value", BAD)
def test_bad_option_value_is_one_line_exit_2(cli, tmp_path, command, flag, value):
    extra = {"metareg": ["--mods", "year"], "gosh": ["-o", tmp_path / "g.png"]}.get(command, [])
    r = cli(command, STUDIES, flag, value, *extra)
    assert r.returncode == 2, r.stderr
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert flag in r.stderr and "internal error" not in r.stderr
    assert not (tmp_path / "g.png").exists()


def test_empty_moderator_list_is_refused_by_cli_and_api(cli):
    from metasynth import api

    r = cli("metareg", STUDIES, "--mods", ",")
    assert r.returncode == 2 and "--mods" in r.stderr
    with pytest.raises(OptionError, match="moderators"):
        api.metaregression(STUDIES, [" ", ""])


@pytest.mark.parametrize("name, value", [("iterations", 0), ("permutations", -1),
                                         ("max_subsets", 0), ("iterations", True),
                                         ("iterations", 2.5), ("max_subsets", "9" * 40)])
def test_api_checks_verb_parameters_against_the_same_rows(name, value):
    from metasynth import api

    verb = {"iterations": lambda: api.permutation_test(STUDIES, iterations=value),
            "permutations": lambda: api.metaregression(STUDIES, ["year"], permutations=value),
            "max_subsets": lambda: api.gosh(STUDIES, max_subsets=value)}[name]
    with pytest.raises(OptionError, match=name):
        verb()


@pytest.mark.parametrize("env, value", [
    ("METASYNTH_HTTP_RETRIES", "x"), ("METASYNTH_HTTP_RETRIES", "-1"),
    ("METASYNTH_HTTP_BACKOFF", "nan"), ("METASYNTH_HTTP_BACKOFF", "1e400"),
    ("METASYNTH_HTTP_TIMEOUT", "0"), ("SOURCE_DATE_EPOCH", "99999999999999999999"),
    ("SOURCE_DATE_EPOCH", "-5"), ("SOURCE_DATE_EPOCH", "soon"),
])
def test_bad_environment_value_is_one_line_exit_2(cli, monkeypatch, env, value):
    monkeypatch.setenv(env, value)
    r = cli("pool", STUDIES)
    assert r.returncode == 2 and env in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- fuzzing the validation: any value is either accepted within range or refused -------

def _within(option, x) -> bool:
    lo, hi = option.low, option.high
    return math.isfinite(x) and (lo is None or x > lo or (x == lo and not option.low_open)) and (
        hi is None or x < hi or (x == hi and not option.high_open))


VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                   st.text(max_size=12), st.booleans(), st.none(),
                   st.sampled_from(["nan", "inf", "-0", "1e400", ",", " ", "1,nan", "1e-300"]))
NUMERIC = [o for o in (*OPTIONS, *PARAMETERS.values())
           if o.kind in (float, int, "floats") and not o.choices]


def _check_one(option, value) -> None:
    try:
        out = coerce(option, value)
    except OptionError as err:
        assert option.name in str(err) and "\n" not in str(err)
        return
    if out is None:
        assert option.nullable
        return
    for x in (out if isinstance(out, tuple) else (out,)):
        assert _within(option, float(x)), (option.name, value, out)
        if option.kind is int:
            assert isinstance(x, int) and not isinstance(x, bool)


FUZZ = settings(max_examples=60, deadline=None, derandomize=True)


@FUZZ
@given(option=st.sampled_from(NUMERIC), value=VALUES)
def test_fuzz_numeric_options_accept_only_values_in_range(option, value):
    _check_one(option, value)


@FUZZ
@given(layer=st.dictionaries(st.sampled_from([o.name for o in OPTIONS] + ["taau2"]), VALUES,
                             max_size=4))
def test_fuzz_resolve_gives_a_spec_or_an_option_error(layer):
    try:
        spec = resolve(layer)
    except OptionError as err:
        assert "\n" not in str(err)
        return
    for o in NUMERIC:
        value = getattr(spec, o.name, None)
        if value is not None and o.kind is float:
            assert _within(o, value)


@pytest.mark.exhaustive
@settings(max_examples=5000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(option=st.sampled_from(NUMERIC), value=VALUES)
def test_fuzz_numeric_options_exhaustive(option, value):
    _check_one(option, value)


def test_parameter_accepts_in_range_whole_numbers():
    assert parameter("iterations", "500") == 500 and parameter("max_subsets", 64) == 64


# -- memory-safe batch paths -----------------------------------------------------------

def _effects(k: int, seed: int = 1):
    from metasynth.effects.binary import effect_sizes
    from metasynth.records.table import StudyRow, StudyTable

    rng = np.random.default_rng(seed)
    rows = tuple(StudyRow(id=f"s{i}", label=f"s{i}", treatment_events=int(rng.integers(1, 20)),
                          treatment_total=40, control_events=int(rng.integers(1, 20)),
                          control_total=40, year=2000 + i % 20) for i in range(k))
    return effect_sizes(StudyTable(rows), "RR")


def test_refits_in_batches_equal_one_batch_and_stay_within_memory(monkeypatch):
    from metasynth.models.robustness import refits

    effects = _effects(40)
    whole = (refits.leave_one_out(effects), refits.cumulative(effects))
    monkeypatch.setattr(refits, "MAX_CELLS", 200)  # batches of 5 refits
    batched = (refits.leave_one_out(effects), refits.cumulative(effects))
    for a, b in zip(whole, batched):
        assert len(a.rows) == len(b.rows) == 40
        for ra, rb in zip(a.rows, b.rows):
            assert ra.label == rb.label and ra.k == rb.k
            assert ra.estimate == pytest.approx(rb.estimate, rel=1e-9)
            assert (ra.tau2 is None) == (rb.tau2 is None)
            if ra.tau2 is not None:
                assert ra.tau2 == pytest.approx(rb.tau2, rel=1e-7, abs=1e-12)

    big = _effects(400)
    monkeypatch.setattr(refits, "MAX_CELLS", 2**12)
    shapes = []
    real = refits.as_batch
    monkeypatch.setattr(refits, "as_batch", lambda y, v, m: shapes.append(m.shape) or real(y, v, m))
    spec = refits.AnalysisSpec(tau2="DL", ci="wald")
    assert len(refits.leave_one_out(big, spec).rows) == len(refits.cumulative(big, spec).rows) == 400
    # no batch near k x k: every array the engine gets is at most MAX_CELLS cells
    assert max(r * c for r, c in shapes) <= 2**12 and sum(r for r, _ in shapes) == 800


def test_gosh_beyond_63_studies_samples_without_overflow():
    from metasynth.models.robustness.gosh import gosh

    g = gosh(_effects(70), max_subsets=300)
    assert g.k == 70 and g.sampled and 290 <= g.subsets <= 300
    assert g.included.shape == (g.subsets, 70) and g.included.any(axis=1).all()
    assert np.isfinite(g.estimate).all()
    assert 25 < g.n_studies.mean() < 45  # each study in with probability 1/2


def test_gosh_refuses_a_table_that_cannot_fit():
    from metasynth.models.robustness.gosh import TooManySubsets, gosh

    with pytest.raises(TooManySubsets, match="use at most"):
        gosh(_effects(300), max_subsets=2**24)
