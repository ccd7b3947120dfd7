"""Forest plots: no text overlaps another or leaves the figure, for 1 to 60 studies,
RR/OR/RD, with and without subgroups; files are reproducible byte for byte (two builds in
one run; never compared with a committed file).

60 studies take ~1 s a figure: the default run keeps one 60-study forest plot (subgroups,
RR) and one 60-study subset forest plot; the other 60-study cases are `exhaustive`
(`pytest -m exhaustive`)."""

import hashlib

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from metasynth.api import pool, pool_by
from metasynth.records.table import StudyRow, StudyTable
from metasynth.render.plots.forest import forest_plot
from metasynth.render.plots.kit import save_figure
from tests.conftest import STUDIES


def table(k: int, seed: int = 1) -> StudyTable:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(k):
        n1, n2 = int(rng.integers(8, 400)), int(rng.integers(8, 400))
        p2 = rng.uniform(0.05, 0.6)
        p1 = min(0.95, p2 * float(np.exp(rng.normal(-0.2, 0.5))))
        e1, e2 = int(rng.binomial(n1, p1)), int(rng.binomial(n2, p2))
        if i == 1:
            e1 = 0  # a zero cell
        if i == 2:
            e1 = e2 = 0  # double zero: "Not estimable" for RR/OR
        rows.append(StudyRow(id=f"s{i}", label=f"Author{'x' * (i % 9)} {2000 + i}",
                             treatment_events=e1, treatment_total=n1, control_events=e2,
                             control_total=n2, year=2000 + i,
                             subgroup=["bone marrow", "umbilical cord", "adipose"][i % 3]))
    return StudyTable(rows=tuple(rows), outcome="mortality",
                      outcome_label="All-cause mortality at 28-30 days", source="test")


def text_boxes(fig):
    # the layout without the rasterising (a third of a full draw; the same boxes)
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [t for t in ax.get_xticklabels() + ax.texts if t.get_visible()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text().strip()]


def assert_no_overlap(fig):
    """No text box leaves the figure or overlaps another by more than half a pixel each way
    (all pairs at once: a 60-study plot has several hundred boxes)."""
    boxes = text_boxes(fig)
    w, h = fig.get_size_inches() * fig.dpi
    for text, b in boxes:
        assert b.x0 >= -0.5 and b.y0 >= -0.5 and b.x1 <= w + 0.5 and b.y1 <= h + 0.5, \
            f"{text!r} leaves the figure"
    if len(boxes) < 2:
        return
    e = np.array([[b.x0, b.y0, b.x1, b.y1] for _, b in boxes])
    over_x = np.minimum(e[:, None, 2], e[None, :, 2]) - np.maximum(e[:, None, 0], e[None, :, 0])
    over_y = np.minimum(e[:, None, 3], e[None, :, 3]) - np.maximum(e[:, None, 1], e[None, :, 1])
    hit = np.triu((over_x > 0.5) & (over_y > 0.5), k=1)
    if hit.any():
        i, j = np.argwhere(hit)[0]
        raise AssertionError(f"{boxes[i][0]!r} overlaps {boxes[j][0]!r}")


def _overlap_cases():
    for subgroups in (False, True):
        for measure in ("RR", "OR", "RD"):
            for k in (1, 3, 12, 60):
                representative = (subgroups, measure) == (True, "RR")
                # with subgroups, OR and RD lay out as RR does: their 12-study cases are exhaustive
                slow = k == 60 or (k == 12 and subgroups)
                marks = [pytest.mark.exhaustive] if slow and not representative else []
                yield pytest.param(k, measure, subgroups, marks=marks,
                                   id=f"{subgroups}-{measure}-{k}")


@pytest.mark.parametrize("k, measure, subgroups", list(_overlap_cases()))
def test_no_text_overlaps(k, measure, subgroups):
    data = table(k)
    if subgroups:
        result = pool_by(data, "subgroup", measure=measure)
    else:
        result = pool(data, measure=measure)
    fig = forest_plot(result, show_common=True)
    assert_no_overlap(fig)
    # height follows the rows
    assert fig.get_size_inches()[1] > 0.2 * k


def test_shipped_corpus_with_rob_columns():
    import metasynth
    from metasynth.records.select import rob_judgements

    studies = metasynth.load_studies(STUDIES)
    fig = forest_plot(pool(studies, "mortality"), rob=rob_judgements(studies, "death"),
                      rob_endpoint="All-cause death")
    assert_no_overlap(fig)
    labels = [t for t, _ in text_boxes(fig)]
    assert "Bowdish 2023" in labels and "Favours MSC" in labels and "Favours Control" in labels
    assert any(t.startswith("Heterogeneity: Tau² = ") for t in labels)
    assert any(t.startswith("Test for overall effect: ") for t in labels)
    assert "Not estimable" in labels  # Shi 2021, no deaths in either arm


def test_rob_is_shown_per_outcome():
    """RoB 2 is outcome-specific: a forest plot shows each trial's assessment for its own
    endpoint, 'not assessed' where a trial has none, never another endpoint's, and its
    legend names the outcome."""
    import metasynth
    from metasynth.records.select import rob_judgements

    studies = metasynth.load_studies(STUDIES)
    sae, death = rob_judgements(studies, "sae"), rob_judgements(studies, "death")
    assert sae and death and set(death) - set(sae)  # some trials assessed for death only
    assert any(sae[s] != death[s] for s in sae)  # the SAE judgements are SAE's own
    fig = forest_plot(pool(studies, "sae"), rob=sae,
                      rob_endpoint="Patients with at least one serious adverse event")
    labels = [t for t, _ in text_boxes(fig)]
    assert any("RoB 2 for patients with at least one serious adverse event" in t for t in labels)
    # the mortality plot with the SAE assessments: the trials without one are not assessed
    unassessed = forest_plot(pool(studies, "mortality"), rob=sae,
                             rob_endpoint="Patients with at least one serious adverse event")
    assert "Not assessed" in [t for t, _ in text_boxes(unassessed)]
    death = forest_plot(pool(studies, "mortality"), rob=rob_judgements(studies, "death"),
                        rob_endpoint="All-cause death")
    assert any("RoB 2 for all-cause death" in t for t, _ in text_boxes(death))


def test_rob_symbols_are_robvis():
    """+ low, − some concerns, X high, ? no information (McGuinness & Higgins 2021), with a
    swatch legend in the traffic-light plot."""
    import metasynth
    from metasynth.records.select import rob_judgements
    from metasynth.render.plots.kit import ROB_PALETTES, ROB_SYMBOLS
    from metasynth.render.plots.rob import traffic_light_plot

    assert ROB_SYMBOLS["low"] == "+" and ROB_SYMBOLS["some-concerns"] == "−"
    assert ROB_SYMBOLS["high"] == "X" and ROB_SYMBOLS["no-information"] == "?"
    assert ROB_PALETTES["cochrane"]["low"] == "#02C100"
    assert ROB_PALETTES["cochrane"]["high"] == "#BF0000"
    studies = metasynth.load_studies(STUDIES)
    fig = traffic_light_plot(rob_judgements(studies, "death"), endpoint="All-cause death")
    labels = [t for t, _ in text_boxes(fig)]
    assert "Risk of bias (RoB 2) for all-cause death" in labels
    for word in ("Low", "Some concerns", "High", "Not assessed"):
        assert word in labels  # the swatch legend
    assert "X" in labels and "−" in labels and "+" in labels


def test_favours_sides_follow_the_outcome_direction():
    better_higher = pool(STUDIES, "clinical_improvement")
    fig = forest_plot(better_higher)
    boxes = dict(text_boxes(fig))
    assert boxes["Favours Control"].x1 < boxes["Favours MSC"].x0  # higher is better: MSC right


@pytest.mark.parametrize("fmt", ["svg", pytest.param("pdf", marks=pytest.mark.exhaustive),
                                 pytest.param("png", marks=pytest.mark.exhaustive)])
def test_files_are_byte_identical(tmp_path, fmt):
    digests = []
    for i in range(2):
        fig = forest_plot(pool(STUDIES, "mortality"))
        path = tmp_path / f"f{i}.{fmt}"
        save_figure(fig, path)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    if fmt == "svg":
        assert "<text" in path.read_text() and "Bowdish 2023" in path.read_text()  # text as text


def test_cli_forest_writes_each_format(tmp_path, cli):
    for fmt in ("png", "svg", "pdf"):
        out = tmp_path / f"forest.{fmt}"
        proc = cli("forest", STUDIES, "--outcome", "mortality", "-o", out, "--rob")
        assert proc.returncode == 0, proc.stderr
        assert out.stat().st_size > 1000
    proc = cli("forest", STUDIES, "-o", tmp_path / "x.jpg")
    assert proc.returncode == 2


def legend_texts(fig):
    out = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None:
            out += [t for t in leg.get_texts()]
    return out


def _other_figure_cases():
    for kind in ("leave-one-out", "cumulative", "funnel", "traffic", "summary"):
        for k in (3, 12, 60):
            # leave-one-out and cumulative are one figure (subset_forest_plot): one 60 by default
            marks = [pytest.mark.exhaustive] if (kind, k) == ("cumulative", 60) else []
            yield pytest.param(k, kind, marks=marks, id=f"{kind}-{k}")


@pytest.mark.parametrize("k, kind", list(_other_figure_cases()))
def test_other_figures_have_no_overlaps(k, kind):
    from metasynth.api import cumulative, leave_one_out
    from metasynth.render.plots.funnel import funnel_plot
    from metasynth.render.plots.rob import summary_plot, traffic_light_plot
    from metasynth.render.plots.subset_forest import subset_forest_plot

    data = table(k)
    levels = ("low", "some-concerns", "high")
    rob = {r.id: {d: levels[(i + j) % 3] for j, d in enumerate(("D1", "D2", "D3", "D4", "D5"))}
           | {"overall": levels[i % 3]} for i, r in enumerate(data.rows)}
    if kind == "leave-one-out":
        fig = subset_forest_plot(leave_one_out(data), pool(data))
    elif kind == "cumulative":
        fig = subset_forest_plot(cumulative(data), pool(data))
    elif kind == "funnel":
        fig = funnel_plot(pool(data))
    elif kind == "traffic":
        fig = traffic_light_plot(rob, {r.id: r.label for r in data.rows})
    else:
        fig = summary_plot(rob)
    assert_no_overlap(fig)  # laid the figure out
    renderer = fig.canvas.get_renderer()
    w = fig.get_size_inches()[0] * fig.dpi
    for t in legend_texts(fig):
        b = t.get_window_extent(renderer)
        assert b.x1 <= w + 0.5 and b.y0 >= -0.5, f"legend {t.get_text()!r} leaves the figure"


def test_figure_commands(tmp_path, cli):
    for args in (["funnel", STUDIES], ["rob-plot", STUDIES], ["rob-plot", STUDIES, "--summary",
                                                               "--weighted"],
                 ["leave-one-out", STUDIES], ["cumulative", STUDIES]):
        out = tmp_path / f"{args[0]}.svg"
        proc = cli(*args, "-o", out)
        assert proc.returncode == 0, proc.stderr
        assert out.stat().st_size > 1000
    proc = cli("leave-one-out", STUDIES)
    assert "Omitting" not in proc.stdout and "Bowdish 2023" in proc.stdout
    assert proc.stdout.splitlines()[-2].startswith("All studies")
    assert proc.stdout.splitlines()[-1].startswith("Model: random effects, REML tau², HKSJ")
