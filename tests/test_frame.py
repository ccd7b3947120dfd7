"""The review as code: review.yaml and the screening log validated like the records, the
PRISMA 2020 flow diagram drawn from them (no overlaps, unknown counts as "not recorded"),
and `metasynth prisma`."""

import shutil
from dataclasses import replace

import pytest

from metasynth.errors import DataError
from metasynth.records.load import load_studies, record_files
from metasynth.records.review import Flow, flow_counts, load_frame
from tests.conftest import STUDIES
from tests.test_forest import assert_no_overlap, text_boxes


@pytest.fixture(scope="module")
def frame():
    return load_frame(STUDIES)


@pytest.fixture(scope="module")
def flow(frame):
    return flow_counts(frame, load_studies(STUDIES))


def test_shipped_frame_is_a_draft_that_invents_no_counts(frame, flow):
    r = frame.review
    assert r.status == "draft" and "pending" in r.human_review
    assert r.authors[0].name == "metasynth contributors"
    assert r.funding.startswith("None") and r.conflicts_of_interest == "None declared."
    # nobody counted these: they stay unknown
    assert all(n is None for _, n in flow.sources)
    for name in ("duplicates_removed", "records_screened", "records_excluded", "reports_sought",
                 "reports_not_retrieved", "reports_assessed"):
        assert getattr(flow, name) is None, name
    # the counted ones follow from the data
    log = frame.log.screened
    assert sum(n for _, n in flow.excluded_reasons) == sum(s.status == "excluded" for s in log)
    assert flow.awaiting == sum(s.status == "awaiting" for s in log)
    assert flow.studies_included == len(record_files(STUDIES))
    assert "review.yaml" not in {f.name for f in record_files(STUDIES)}


def _copy(tmp_path):
    folder = tmp_path / "studies"
    shutil.copytree(STUDIES, folder)
    return folder


@pytest.mark.parametrize("old, new, message", [
    ("funding: ", "fundng: ", "unknown field 'fundng'"),
    ("status: draft", "status: drafty", "status"),
    ("    records: null\n", "    records: \"12\"\n", "records"),
])
def test_review_errors_are_one_line_with_file_and_line(tmp_path, old, new, message):
    folder = _copy(tmp_path)
    path = folder / "review.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(DataError) as err:
        load_frame(folder)
    assert err.value.path == str(path) and err.value.line and message in str(err.value)
    assert "\n" not in str(err.value)
    line = text.replace(old, new, 1).splitlines()[err.value.line - 1]
    assert new.strip().split(":")[0].strip() in line or message in line


def test_screening_log_is_validated(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "screening.yaml"
    text = path.read_text()
    path.write_text(text.replace('    category: "not COVID-19"\n', "", 1))
    with pytest.raises(DataError, match="needs a category") as err:
        load_frame(folder)
    assert err.value.path == str(path) and err.value.line > 1
    path.write_text(text.replace("status: awaiting", "status: waiting", 1))
    with pytest.raises(DataError, match="status"):
        load_frame(folder)


def _stress_flow(flow: Flow) -> Flow:
    return replace(
        flow, sources=(("MEDLINE via Ovid, 1946 to 30 November 2026, full strategy in the "
                        "appendix", 1234),) + flow.sources + (("ClinicalTrials.gov", 56),),
        duplicates_removed=120, records_screened=1170, records_excluded=1100,
        excluded_reasons=flow.excluded_reasons + (
            ("wrong population: children, or mild COVID-19 without respiratory failure", 7),),
        further_reports=3)


@pytest.mark.parametrize("stress", [False, True])
def test_prisma_diagram_has_no_overlaps_and_text_stays_in_its_box(flow, stress):
    from matplotlib.patches import Rectangle

    from metasynth.render.plots.prisma import prisma_plot

    fig = prisma_plot(_stress_flow(flow) if stress else flow)
    assert_no_overlap(fig)
    rects = [p.get_window_extent() for p in fig.patches if isinstance(p, Rectangle)]
    texts = [(t, b) for t, b in text_boxes(fig) if not t.startswith(("'not recorded'",
                                                                      "Counted", "   ", "The "))]
    boxed = 0
    for text, b in texts:
        inside = [r for r in rects if r.x0 - 0.5 <= b.x0 and b.x1 <= r.x1 + 0.5
                  and r.y0 - 0.5 <= b.y0 and b.y1 <= r.y1 + 0.5]
        overlapping = [r for r in rects if min(r.x1, b.x1) - max(r.x0, b.x0) > 0.5
                       and min(r.y1, b.y1) - max(r.y0, b.y0) > 0.5]
        assert len(inside) == len(overlapping), f"{text!r} crosses a box edge"
        boxed += bool(inside)
    assert boxed >= 12
    # boxes never overlap each other
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            a, b = rects[i], rects[j]
            assert not (min(a.x1, b.x1) - max(a.x0, b.x0) > 1
                        and min(a.y1, b.y1) - max(a.y0, b.y0) > 1), "boxes overlap"
    words = " ".join(t for t, _ in text_boxes(fig))
    assert "n\u00a0=\u00a0not\u00a0recorded" in words  # unknown counts say so
    assert f"n\u00a0=\u00a0{flow.studies_included}" in words
    if stress:
        assert "n\u00a0=\u00a01234" in words


def test_cli_prisma_writes_each_format(tmp_path, cli):
    for fmt in ("png", "svg", "pdf"):
        a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
        assert cli("prisma", STUDIES, "-o", a).returncode == 0
        assert a.stat().st_size > 1000
        if fmt == "pdf":  # two runs, one file: the PDF's dates and ids are fixed
            assert cli("prisma", STUDIES, "-o", b).returncode == 0
            assert a.read_bytes() == b.read_bytes()
    assert "not recorded" in (tmp_path / "a.svg").read_text()
    assert cli("prisma", str(STUDIES), "-o", str(tmp_path / "x.gif")).returncode == 2
    assert cli("prisma", str(tmp_path), "-o", str(tmp_path / "x.png")).returncode == 1


# --- the frame in the report ---------------------------------------------------------------

def test_report_abstract_numbers_come_from_the_fitted_results(report_data):
    from metasynth.render.numbers import interval

    frame = report_data.frame
    assert frame is not None and frame.status == "draft"
    abstract = dict(frame.abstract)
    results = abstract["Results"]
    t = report_data.title
    assert f"{t['trials']} trials ({t['participants']} participants randomized)" in results
    pooled = [o for o in report_data.outcomes if o.result is not None]
    assert pooled
    for o in pooled:
        r, c = o.result.random, o.result.counts
        assert f"{o.result.measure} {interval(r.estimate, r.ci_lower, r.ci_upper)}" in results
        assert f"{c.trials} trial{'s' if c.trials != 1 else ''}, {c.participants} participants" \
            in results
        assert f"{o.certainty.label.lower()}-certainty" in results
    assert "draft awaiting human review" in abstract["Conclusions"]
    assert any(str(t["participants"]) in p for p in frame.plain_language)
    # the outcomes no trial reported, named mid-sentence with their own capitals
    unreported = [o.label for o in report_data.outcomes if o.result is None]
    assert "PaO2/FiO2" in " ".join(unreported)
    for label in unreported:
        assert label[0].lower() + label[1:] in results


def test_report_excluded_studies_and_checklist(report_data):
    frame = report_data.frame
    log = load_frame(STUDIES).log
    excluded = [s for s in log.screened if s.status == "excluded"]
    studies = [r["study"] for r in frame.excluded]
    assert all(s.study in studies for s in excluded)
    assert all(r["reason"] and r["reference"] for r in frame.excluded)
    # analysis.yaml's excluded_studies are all in the screening log: none is listed twice
    assert len(frame.excluded) == len(excluded) + sum(s.status == "same-trial" for s in log.screened)
    assert {r["study"] for r in frame.awaiting} == {s.study for s in log.screened
                                                    if s.status == "awaiting"}
    items = [c["item"] for c in frame.checklist]
    assert len(items) == len(set(items)) == 42 and items[0] == "1" and items[-1] == "27"
    assert {c["where"] for c in frame.checklist if c["item"] in ("3", "23a", "23b", "23d")} \
        == {"Not reported"}
    # the excluded studies are not listed a second time among the non-contributing records
    assert not any(e["study"] == r["label"] for e in frame.excluded
                   for r in report_data.not_contributing)
    assert frame.changes["lead"]  # first version, a diff, or why neither could be determined


FRAME_HEADINGS = ("Abstract", "Plain-language summary", "Changes since the preceding version",
                  "Review frame: eligibility, outcomes, search and screening",
                  "PRISMA 2020 flow diagram", "Characteristics of excluded studies",
                  "Studies awaiting classification", "PRISMA 2020 checklist", "DRAFT",
                  "metasynth contributors", "Conflicts of interest", "None declared.")


def test_report_html_shows_the_frame(built_report):
    import html as html_lib

    html = built_report.files.html.read_text()
    text = html_lib.unescape(html)
    for heading in FRAME_HEADINGS:
        assert heading in text, heading
    assert 'aria-label="PRISMA 2020 flow diagram"' in html and 'id="prisma-checklist"' in html
    from datetime import datetime, timezone

    from tests.conftest import REPORT_EPOCH

    day = datetime.fromtimestamp(int(REPORT_EPOCH), tz=timezone.utc).strftime("%Y-%m-%d")
    version = built_report.data.frame.version
    assert f"{version} (draft), dated {day}" in html  # the version's date is the report's


@pytest.mark.exhaustive
@pytest.mark.pdf
def test_report_pdf_pages_show_the_frame(built_report):
    from tests.test_report import pdf_text

    text = pdf_text(built_report.files.pdf)
    for heading in FRAME_HEADINGS:
        assert heading in text, heading
    squash = text.replace(" ", "").replace("\u00a0", "")  # the diagram's boxes break lines mid-phrase
    assert "Recordsidentifiedfrom" in squash and "(n=notrecorded)" in squash


def test_changes_table_renders(release_repo):
    """The template's branch for a preceding release (the shipped report has none yet)."""
    from types import SimpleNamespace

    from jinja2 import Environment, PackageLoader

    from metasynth.plan.resolve import resolve
    from metasynth.report.frame import changes

    folder = release_repo / "studies"
    _git(release_repo, "tag", "review-v0.1")
    (folder / "zhu2021.yaml").unlink()
    labels = {"mortality": "All-cause mortality at 28-30 days"}
    frame = SimpleNamespace(abstract=[], plain_language=[], update_triggers="",
                            changes=changes(folder, "0.2", resolve({}), labels))
    env = Environment(loader=PackageLoader("metasynth.report", "templates"), autoescape=True)
    html = env.get_template("_frame_front.html.j2").render(frame=frame)
    assert "review-v0.1" in html and "Trials removed: zhu2021." in html
    assert "<th>Certainty (GRADE)</th>" in html and labels["mortality"] in html


def test_frame_must_agree_with_the_plan(tmp_path):
    from metasynth.records.outcomes import load_registry
    from metasynth.records.review import check_frame

    folder = _copy(tmp_path)
    frame = load_frame(folder)
    ids = {o.id for o in load_registry(folder / "outcomes.yaml").outcomes}
    check_frame(frame, frame.review.title, ids)
    with pytest.raises(DataError, match="title differs") as err:
        check_frame(frame, "Another title", ids)
    assert err.value.line == frame.line_of("title") > 1
    with pytest.raises(DataError, match="unknown outcome 'mortality'"):
        check_frame(frame, frame.review.title, ids - {"mortality"})
    with pytest.raises(DataError, match="mortality_day60, which has no prespecified"):
        check_frame(frame, frame.review.title, ids, ["mortality", "mortality_day60"])


# --- living-review versioning (PRISMA-LSR) ---------------------------------------------------

def _git(repo, *args):
    import subprocess

    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def release_repo(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    shutil.copytree(STUDIES, repo / "studies")
    (repo / "reports").mkdir()
    shutil.copy(STUDIES.parent / "reports" / "summary.json", repo / "reports" / "summary.json")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "corpus")
    return repo


def test_changes_since_the_preceding_version(release_repo):
    from metasynth.plan.resolve import resolve
    from metasynth.report.frame import changes

    folder = release_repo / "studies"
    labels = {"mortality": "All-cause mortality at 28-30 days"}
    spec = resolve({"measure": "RR"})
    first = changes(folder, "0.1", spec, labels)
    assert "first version" in first["lead"] and not first["rows"]
    _git(release_repo, "tag", "review-v0.1")
    # the release itself: its own tag is not a preceding version
    assert "first version" in changes(folder, "0.1", spec, labels)["lead"]
    # version 0.2: one trial withdrawn, one record changed, the frame's version bumped
    (folder / "bowdish2023.yaml").unlink()
    review = folder / "review.yaml"
    review.write_text(review.read_text().replace('version: "0.1"', 'version: "0.2"'))
    _git(release_repo, "commit", "-qam", "0.2")
    import json

    released = json.loads((release_repo / "reports" / "summary.json").read_text())
    level = released["outcomes"]["mortality"]["grade"]["level"]
    out = changes(folder, "0.2", spec, labels, {"mortality": "VERY LOW"})
    assert "review-v0.1" in out["lead"]
    assert out["rows"][0]["certainty"] == (f"{level} → VERY LOW" if level != "VERY LOW"
                                           else "VERY LOW (unchanged)")
    assert "Trials removed: bowdish2023." in out["items"]
    assert "Trials added: none." in out["items"]
    assert any("review.yaml" in i for i in out["items"])
    (row,) = out["rows"]
    assert row["outcome"] == labels["mortality"] and row["changed"] == "yes"
    assert row["before"] != row["after"] and row["before"].startswith("RR ")
    # a newer tag on the same history becomes the preceding version
    _git(release_repo, "tag", "review-v0.2")
    _git(release_repo, "commit", "-q", "--allow-empty", "-m", "0.3 work")
    again = changes(folder, "0.3", spec, labels, {"mortality": level})
    assert "review-v0.2" in again["lead"] and again["rows"][0]["changed"] == "no"
    assert again["rows"][0]["certainty"] == f"{level} (unchanged)"
    assert again["rows"][0]["conclusion"] == "unchanged"


def test_changes_outside_git_say_so(tmp_path):
    from metasynth.plan.resolve import resolve
    from metasynth.report.frame import changes

    folder = _copy(tmp_path)
    out = changes(folder, "0.1", resolve({}), {})
    assert "could not be determined" in out["lead"] or "first version" in out["lead"]


def test_validate_checks_the_frame(tmp_path, cli):
    folder = _copy(tmp_path)
    assert cli("validate", folder).returncode == 0
    path = folder / "review.yaml"
    path.write_text(path.read_text().replace("funding:", "fundng:", 1))
    proc = cli("validate", folder)
    assert proc.returncode == 1 and "review.yaml:" in proc.stderr and "fundng" in proc.stderr


def test_review_schema_is_documented():
    from metasynth.records.docs import review_json_schema

    for part in ("review", "screening"):
        path = STUDIES.parent / "docs" / f"{part}.schema.json"
        assert path.read_text() == review_json_schema(part), \
            f"run: metasynth schema --{part} > docs/{part}.schema.json"


def test_excluded_rows_merge_the_plan_and_the_log(frame):
    from types import SimpleNamespace

    from metasynth.render.text.frame import excluded_rows

    log_first = frame.log.screened[0]
    plan = [SimpleNamespace(study=log_first.study.split(" (")[0] + " (short name)",
                            reference=log_first.reference, reason="short reason"),
            SimpleNamespace(study="Newtrial 2026", reference="https://example.org/x",
                            reason="Not randomized")]
    rows = excluded_rows(frame.log, plan)
    assert [r["study"] for r in rows].count(log_first.study) == 1
    assert not any(r["study"].endswith("(short name)") for r in rows)  # the log's entry wins
    assert rows[-1] == {"study": "Newtrial 2026", "reason": "Not randomized",
                        "reference": "https://example.org/x"}


def test_a_registered_protocol_names_its_registry(tmp_path):
    folder = _copy(tmp_path)
    path = folder / "review.yaml"
    path.write_text(path.read_text().replace("  registered: false", "  registered: true", 1))
    with pytest.raises(DataError, match="needs its registry and registration_id") as err:
        load_frame(folder)
    assert err.value.line > 1


def test_checklist_places_link_to_the_page():
    """Each place a PRISMA 2020 checklist item is answered links to its section (longest
    matching name first); places the page has no section for are words only."""
    from metasynth.render.text.frame import checklist_places, checklist_rows

    assert checklist_places("Review frame: search (strategies as recorded); Methods",
                            "outcome-x") == [
        ("Review frame: search (strategies as recorded)", "search"), ("Methods", "methods")]
    assert checklist_places("Each outcome's forest plot", "outcome-mortality") == [
        ("Each outcome's forest plot", "outcome-mortality")]
    rows = checklist_rows("outcome-mortality")
    assert all(r["places"] == [] for r in rows if r["where"] == "Not reported")
    assert all(any(a for _, a in r["places"]) for r in rows if r["where"] != "Not reported")
