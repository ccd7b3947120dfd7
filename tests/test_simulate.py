"""metasynth simulate: the simulator checked against what it must reproduce.

- The generator and the reduction: with tau = 0 and large arms every estimator is
  unbiased and the inverse-variance common effect covers 95% of the time, within its
  Monte Carlo SE.
- The fits are the analysis's: each simulated replicate, pooled one at a time by
  ``models.pool`` (the analysis path, with its zero-cell and double-zero rules), gives the
  kernels' estimates and intervals.
- Published direction at k = 6 small trials: DerSimonian-Laird with a Wald CI
  under-covers under heterogeneity, HKSJ stays near nominal (IntHout, Ioannidis & Borm
  2014, BMC Med Res Methodol 14:25; Röver, Knapp & Friede 2015, BMC Med Res Methodol 15:99).
- Reproducibility: the seed fixes the figures; the chunking changes none of the counts;
  Dask workers give the same figures to the bit (exhaustive: a LocalCluster starts).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from metasynth import api
from metasynth.effects.binary import effect_sizes
from metasynth.models.pool import pool_effects
from metasynth.models.simulate.kernels import METHODS, FitSettings, fit_all
from metasynth.models.simulate.run import block_rng, fit_settings, make_tasks, simulate_design
from metasynth.models.simulate.scenarios import Scenario, TrialDesign, generate, scenario_grid
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.table import StudyRow, StudyTable
from tests.conftest import STUDIES

SPEC = AnalysisSpec()


def _design(n: int, p0: float, k: int = 6) -> TrialDesign:
    return TrialDesign(tuple(f"T{i}" for i in range(k)), (n,) * k, (n,) * k,
                       (round(n * p0),) * k)


@pytest.fixture(scope="module")
def large_arms():
    """tau = 0, k = 6 trials of 2000 per arm, control risk 0.3, RR 0.8."""
    return simulate_design(_design(2000, 0.3), SPEC, (Scenario(0.8, 0.0),), 3000, 11)


@pytest.fixture(scope="module")
def small_trials():
    """k = 6 trials of 50 per arm, control risk 0.3, RR 1, tau 0 and 0.4."""
    return simulate_design(_design(50, 0.3), SPEC, scenario_grid((1.0,), (0.0, 0.4)), 2000, 7)


def test_iv_common_effect_covers_95_percent_with_large_arms_and_no_heterogeneity(large_arms):
    iv = large_arms.row("IV", 0.8, 0.0)
    assert iv.fits == iv.replicates == 3000
    assert abs(iv.coverage.value - 0.95) < 3.3 * iv.coverage.mcse  # two-sided 0.1%
    assert iv.coverage.mcse == pytest.approx(math.sqrt(0.95 * 0.05 / 3000), rel=0.05)
    for r in large_arms.rows:  # every estimator unbiased here
        assert abs(r.bias.value) < 3.3 * r.bias.mcse + 1e-3, r.method
        assert r.failure.value == 0
    # power against RR 0.8 with 12,000 per arm in all: essentially 1
    assert iv.rejection.value > 0.99
    assert large_arms.row("MH", 0.8, 0.0).rmse.value == pytest.approx(iv.rmse.value, rel=0.05)


def test_generator_draws_the_scenario():
    design = _design(400, 0.25, k=3)
    counts = generate(design, Scenario(0.6, 0.0), block_rng(1, 0, 0), 4000)
    assert counts.c.mean() / 400 == pytest.approx(0.25, abs=0.002)
    assert counts.a.mean() / 400 == pytest.approx(0.15, abs=0.002)
    again = generate(design, Scenario(0.6, 0.0), block_rng(1, 0, 0), 4000)
    assert np.array_equal(counts.a, again.a) and np.array_equal(counts.c, again.c)
    # theta_i ~ N(log RR, tau^2): the trials' log risk ratios spread by about tau
    het = generate(_design(100_000, 0.2, k=2), Scenario(1.0, 0.3), block_rng(2, 0, 0), 3000)
    log_rr = np.log((het.a / het.n1) / (het.c / het.n2))
    assert log_rr.std() == pytest.approx(0.3, rel=0.05)


@pytest.mark.parametrize("preset", ["metasynth", "revman5"])
def test_kernels_fit_each_replicate_as_the_analysis_does(preset):
    """Sparse trials (zero cells and double zeros happen): every replicate pooled by
    models.pool, one at a time, agrees with the batched fits of the same counts."""
    spec = AnalysisSpec().with_(preset=preset)
    design = TrialDesign(tuple("ABCDE"), (12, 20, 30, 15, 60), (12, 22, 30, 14, 60),
                         (1, 3, 2, 0, 6))
    counts = generate(design, Scenario(0.8, 0.3), block_rng(5, 0, 0), 24)
    settings = fit_settings(spec)
    fits = fit_all(counts, settings)
    names = [m for m, _, _ in METHODS]
    checked = 0
    for j in range(24):
        rows = tuple(StudyRow(id=f"s{i}", label=f"s{i}", treatment_events=int(counts.a[j, i]),
                              treatment_total=int(counts.n1[j, i]),
                              control_events=int(counts.c[j, i]),
                              control_total=int(counts.n2[j, i])) for i in range(design.k))
        effects = effect_sizes(StudyTable(rows=rows), "RR", spec.zero_cells)
        if effects.k < 2 or counts.a[j].sum() == 0 or counts.c[j].sum() == 0:
            continue
        checked += 1
        assert fits.k[j] == effects.k
        # every method in turn: the common effects and two random-effects methods per
        # replicate, so the 21 tau² estimator x CI methods are each checked at least once
        random = [m for m in METHODS if m[1] is not None]
        for method, tau2, ci in (METHODS[checked % 2], random[(2 * checked) % len(random)],
                                 random[(2 * checked + 1) % len(random)]):
            s = (spec.with_(common_method=method) if tau2 is None
                 else spec.with_(tau2=tau2, ci=ci))
            res = pool_effects(effects, s)
            i = names.index(method)
            part = res.common if tau2 is None else res.random
            assert fits.theta[i, j] == pytest.approx(part.theta, rel=1e-9, abs=1e-12), method
            assert math.exp(fits.lower[i, j]) == pytest.approx(part.ci_lower, rel=1e-8), method
            assert math.exp(fits.upper[i, j]) == pytest.approx(part.ci_upper, rel=1e-8), method
            if tau2 is not None and effects.k >= 3:
                assert math.exp(fits.pi_lower[i, j]) == pytest.approx(part.pi_lower, rel=1e-8)
    assert checked >= 12


def test_every_method_is_checked_one_replicate_at_a_time():
    """The rotation above reaches every method within the replicates it checks."""
    random = [m for m in METHODS if m[1] is not None]
    seen = {random[(2 * j + o) % len(random)][0] for j in range(12) for o in (0, 1)}
    assert seen == {m for m, _, _ in random}


def test_dl_wald_undercovers_and_hksj_stays_near_nominal_at_k6(small_trials):
    """IntHout et al. 2014: with few trials and heterogeneity, DL + Wald rejects a true
    null too often; HKSJ keeps close to the nominal 5%."""
    dl = small_trials.row("DL-wald", 1.0, 0.4)
    hk = small_trials.row("REML-hksj", 1.0, 0.4)
    assert dl.coverage.value + 3 * dl.coverage.mcse < 0.94
    assert dl.rejection.value > 0.06
    assert 0.93 <= hk.coverage.value <= 0.97
    assert hk.median_width.value > dl.median_width.value  # HKSJ pays with width
    # common-effect intervals ignore tau: far below nominal
    assert small_trials.row("IV", 1.0, 0.4).coverage.value < 0.85
    # without heterogeneity HKSJ is near nominal too, and ad hoc HKSJ errs on the safe side
    assert 0.93 <= small_trials.row("REML-hksj", 1.0, 0.0).coverage.value <= 0.97
    assert small_trials.row("REML-hksj-adhoc", 1.0, 0.0).coverage.value > 0.97


def test_seed_fixes_the_figures_and_the_chunking_changes_no_count():
    design = _design(30, 0.2, k=4)
    grid = scenario_grid((0.7,), (0.0, 0.3))
    a = simulate_design(design, SPEC, grid, 2100, 3, chunk=4000)
    b = simulate_design(design, SPEC, grid, 2100, 3, chunk=10_000)
    for ra, rb in zip(a.rows, b.rows):
        assert (ra.fits, ra.coverage, ra.rejection, ra.pi_coverage.value is None) == (
            rb.fits, rb.coverage, rb.rejection, rb.pi_coverage.value is None)
        assert ra.bias.value == pytest.approx(rb.bias.value, rel=1e-9, abs=1e-15)
    assert len(make_tasks(design, FitSettings(), grid, 2100, 3, 4000)) == 2
    assert a == simulate_design(design, SPEC, grid, 2100, 3, chunk=4000)
    small = simulate_design(design, SPEC, grid[:1], 2234, 3)  # not a multiple of the block
    assert small.rows[0].replicates == 2234
    assert small.rows != simulate_design(design, SPEC, grid[:1], 2234, 4).rows


def test_api_inherits_the_fitted_spec_and_renders(tmp_path):
    fitted = api.pool(STUDIES, "mortality", tau2="DL", ci="wald")
    sim = api.simulate(fitted, replicates=200, simulate_rr=(1.0,), simulate_tau=(0.0, 0.2))
    assert sim.spec == fitted.spec.with_(simulate_rr=(1.0,), simulate_tau=(0.0, 0.2))
    assert sim.analysis_method() == "DL-wald"
    assert sim.design.k == sum(1 for s in fitted.studies if s.treatment_total is not None)
    assert len(sim.rows) == 2 * len(METHODS)
    text = sim.summary()
    assert "DerSimonian-Laird, Wald *" in text and "RR 1.00, tau 0.20" in text
    data = json.loads(json.dumps(sim.to_dict()))
    assert data["analysis_method"] == "DL-wald" and data["spec"]["tau2"] == "DL"
    assert set(data["rows"][0]["coverage"]) == {"value", "mcse"}
    frame = sim.to_frame()
    assert {"coverage", "coverage_mcse", "pi_coverage"} <= set(frame.columns)
    assert len(frame) == len(sim.rows)


def test_cli_simulate_text_json_and_plot(cli, tmp_path):
    out = tmp_path / "sim.png"
    proc = cli("simulate", STUDIES, "--outcome", "mortality", "--replicates", "100",
               "--rr", "0.8", "--tau", "0,0.2", "-o", out, "--tau2", "DL")
    assert proc.returncode == 0, proc.stderr
    assert "DerSimonian-Laird, HKSJ *" in proc.stdout and "RR 0.80, tau 0.20" in proc.stdout
    assert out.stat().st_size > 10_000
    saved = tmp_path / "simulation.json"
    proc = cli("simulate", STUDIES, "--replicates", "50", "--rr", "1", "--tau", "0",
               "--format", "json", "--seed", "5", "--save", saved)
    data = json.loads(proc.stdout)
    assert data["seed"] == 5 and data["replicates"] == 50 and len(data["scenarios"]) == 1
    assert json.loads(saved.read_text()) == data
    fp = data["fingerprint"]
    assert fp["seed"] == 5 and fp["rr"] == [1.0] and fp["tau"] == [0.0]
    assert fp["trials"]["control_total"] == data["design"]["control_total"]
    assert fp["methods"] == [m for m, _, _ in METHODS]
    assert cli("simulate", STUDIES, "--tau", "-0.1").returncode == 2
    assert cli("simulate", STUDIES, "--replicates", "0").returncode == 2
    assert cli("simulate", STUDIES, "--workers", "2", "--scheduler", "tcp://x:1").returncode == 2


def test_plan_file_simulate_section(tmp_path):
    from metasynth.plan.file import AnalysisPlan, plan_layer

    plan = AnalysisPlan.model_validate({"title": "t", "name": "n", "outcomes": ["mortality"],
                                        "simulate": {"simulate_tau": [0, 0.3],
                                                     "control_risks": "fitted"}})
    layer = plan_layer(plan)
    spec = api.resolve_spec(None, **layer)
    assert spec.simulate_tau == (0.0, 0.3) and spec.control_risks == "fitted"
    assert spec.simulate_rr == (1.0, 0.9, 0.8, 0.7)


@pytest.fixture(scope="module")
def saved_simulation():
    """The plan, its spec, the pooled mortality result and a small saved simulation of
    it (40 replicates per scenario of the plan's grid) as ``--save`` writes it."""
    from metasynth.plan.file import load_plan
    from metasynth.render.json_out import render_json
    from metasynth.report.analyses import base_spec

    plan = load_plan(STUDIES / "analysis.yaml")
    options = base_spec(plan)
    result = api.pool(STUDIES, "mortality", spec=options)
    data = json.loads(render_json(api.simulate(result, replicates=40)))
    return plan, options, {"mortality": result}, data


def test_report_section_reads_the_saved_simulation_and_checks_its_fingerprint(
        saved_simulation, tmp_path):
    from metasynth.report.simulation import SIMULATION_FILE, simulation_section

    plan, options, pooled, data = saved_simulation
    assert plan.simulate is not None  # the section follows the plan's simulate section
    path = tmp_path / SIMULATION_FILE
    missing = simulation_section(tmp_path, plan, options, pooled)
    assert missing.status == "missing" and not missing.rows
    assert ("metasynth simulate" in missing.sentences[0]
            and f"--save {tmp_path.name}/simulation.json" in missing.sentences[0])
    path.write_text(json.dumps(data))
    sec = simulation_section(tmp_path, plan, options, pooled)
    assert sec.status == "current"
    assert len(sec.rows) == len(METHODS) and len(sec.columns) == len(options.simulate_tau)
    assert sum(r["analysis"] for r in sec.rows) == 1
    # the scenario like the evidence: the grid's RR nearest the pooled RR, tau nearest tau
    est = pooled["mortality"].random.estimate
    rr = min(options.simulate_rr, key=lambda r: abs(math.log(r / est)))
    assert f"RR {rr:.2f}" in sec.outside
    flagged = [r["method"] for r in sec.rows if any(c["outside"] for c in r["cells"])]
    assert flagged and "93-97%" in sec.outside
    assert sec.justification == ""  # the plan does not ask for one
    justified = plan.model_copy(update={"simulate": plan.simulate.model_copy(
        update={"justification": "simulation"})})
    why = simulation_section(tmp_path, justified, options, pooled)
    assert "simulated coverage" in why.justification and "40 simulated" in why.justification
    # evidence changed since: one more death in a control arm
    changed = json.loads(json.dumps(data))
    changed["fingerprint"]["trials"]["control_events"][0] += 1
    path.write_text(json.dumps(changed))
    stale = simulation_section(tmp_path, justified, options, pooled)
    assert stale.status == "stale" and not stale.rows
    assert "out of date: the trials (arm sizes or control-arm events)" in stale.sentences[0]
    assert "--replicates 40" in stale.sentences[0]
    assert "missing or out of date" in stale.justification
    changed = json.loads(json.dumps(data))
    changed["fingerprint"]["seed"] += 1  # another seed still describes the evidence
    path.write_text(json.dumps(changed))
    assert simulation_section(tmp_path, plan, options, pooled).status == "current"
    path.write_text("{not json")
    assert simulation_section(tmp_path, plan, options, pooled).status == "unreadable"


def test_methods_text_cites_the_simulated_coverage():
    from metasynth.plan.file import load_plan
    from metasynth.render.text.report import methods_text

    plan = load_plan(STUDIES / "analysis.yaml")
    spec = AnalysisSpec()
    text = methods_text(plan, spec, justification="REML with HKSJ was chosen for X.")
    assert text[0].endswith(" REML with HKSJ was chosen for X.")
    assert "chosen for" not in methods_text(plan, spec)[0]


@pytest.mark.exhaustive
def test_dask_local_cluster_gives_the_in_process_figures_to_the_bit():
    distributed = pytest.importorskip("dask.distributed")
    fitted = api.pool(STUDIES, "mortality")
    kw = dict(replicates=2500, chunk=4000, simulate_rr=(1.0, 0.8), simulate_tau=(0.0, 0.2))
    local = api.simulate(fitted, **kw)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = api.simulate(fitted, client=client, **kw)
        g_local = api.gosh(fitted)
        g_remote = api.gosh(fitted, client=client)
    assert remote.workers == "a Dask client"
    assert remote == local
    # repr of every float: equal strings are equal bits
    assert json.dumps(remote.to_dict()) == json.dumps(local.to_dict())
    for name in ("estimate", "tau2", "I2", "Q", "included"):
        assert getattr(g_local, name).tobytes() == getattr(g_remote, name).tobytes()


@pytest.mark.exhaustive
def test_k6_published_direction_with_tight_monte_carlo_error():
    """20,000 replicates per scenario (MCSE about 0.15%): DL + Wald covers below 93% at
    tau = 0.4 (below 94.5% at 0.2), REML + HKSJ within 94-96% at both."""
    sim = simulate_design(_design(50, 0.3), SPEC, scenario_grid((1.0,), (0.2, 0.4)), 20_000, 8)
    assert sim.row("DL-wald", 1.0, 0.4).coverage.value < 0.93
    assert sim.row("DL-wald", 1.0, 0.2).coverage.value < 0.945
    for tau in (0.2, 0.4):
        hk = sim.row("REML-hksj", 1.0, tau).coverage
        assert abs(hk.value - 0.95) < 0.01, (tau, hk)
