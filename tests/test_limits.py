"""Unbounded work is refused in one line, before it starts: a forest plot, leave-one-out,
cumulative, influence and GOSH of more studies than ``--max-rows`` (100,000 rows ran
past 5 minutes, or for hours), with the limit and what to do in the message."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from metasynth import api
from metasynth.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
TRIALS = ROOT / "examples" / "trials.csv"


@pytest.mark.parametrize("command, extra, what", [
    ("forest", ("-o", "{tmp}/f.svg"), "a forest plot"),
    ("leave-one-out", (), "leave-one-out"),
    ("cumulative", ("-o", "{tmp}/c.svg"), "cumulative meta-analysis"),
    ("influence", (), "influence diagnostics"),
    ("gosh", ("-o", "{tmp}/g.png"), "GOSH"),
])
def test_more_studies_than_max_rows_is_one_line_exit_2(cli, tmp_path, command, extra, what):
    args = [a.format(tmp=tmp_path) for a in extra]
    r = cli(command, TRIALS, *args, "--max-rows", "5")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert f"{what} of 13 studies is over the limit of 5 (--max-rows)" in r.stderr
    assert "--max-rows 13" in r.stderr and "metasynth pool" in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing drawn
    assert cli(command, TRIALS, "--max-rows", "0", *args).returncode == 2  # the range


def test_the_api_refuses_as_the_cli_does():
    result = api.pool(TRIALS)
    for verb in (api.leave_one_out, api.cumulative, api.influence):
        with pytest.raises(UsageError, match="over the limit of 12"):
            verb(result, max_rows=12)
    assert len(api.leave_one_out(result, max_rows=13).rows) == 13


def test_influence_in_batches_equals_one_batch(monkeypatch):
    """Influence refits in batches of MAX_CELLS cells (a k x k mask of 1,000 studies held
    1.2 GB); the batches give the numbers of one batch."""
    import metasynth.models.robustness.refits as refits
    from metasynth.models.robustness.influence import influence_of

    rng = np.random.default_rng(3)
    y, v = rng.normal(0, 0.3, 9), rng.uniform(0.02, 0.2, 9)
    one = influence_of(y, v, [str(i) for i in range(9)], "REML", "hksj")
    monkeypatch.setattr(refits, "MAX_CELLS", 20)  # batches of 2 refits
    many = influence_of(y, v, [str(i) for i in range(9)], "REML", "hksj")
    for a, b in zip(one.rows, many.rows):
        fields = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "dfbetas")
        np.testing.assert_allclose([getattr(a, f) for f in fields],
                                   [getattr(b, f) for f in fields], rtol=1e-12)


@pytest.mark.exhaustive
def test_forest_of_100000_rows_is_refused_quickly(cli, tmp_path):
    rng = np.random.default_rng(1)
    k = 100_000
    n1, n2 = rng.integers(20, 300, k), rng.integers(20, 300, k)
    e1, e2 = rng.binomial(n1, 0.2), rng.binomial(n2, 0.25)
    path = tmp_path / "many.csv"
    path.write_text("study,treatment_events,treatment_total,control_events,control_total\n"
                    + "".join(f"S{i},{e1[i]},{n1[i]},{e2[i]},{n2[i]}\n" for i in range(k)))
    start = time.process_time()
    r = cli("forest", path, "-o", tmp_path / "f.png")
    assert r.returncode == 2 and "a forest plot of 100,000 studies" in r.stderr
    assert time.process_time() - start < 30
    assert not (tmp_path / "f.png").exists()

