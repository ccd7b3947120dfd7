"""The evidence report: PDF read back, reproducibility, summary.json kept current.

The report is built once per test run (`built_report` in conftest.py) and shared; only the
reproducibility test builds a second copy.
"""

import functools
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("weasyprint")
pdfium = pytest.importorskip("pypdfium2")

from metasynth.plan.file import Grade, Override  # noqa: E402
from metasynth.report.grade import optimal_information_size, propose  # noqa: E402
from metasynth.report.write import write_report  # noqa: E402
from tests.approx_tree import ATOL, RTOL, assert_trees_close  # noqa: E402
from tests.conftest import ROOT, STUDIES, build_report  # noqa: E402


@pytest.fixture(scope="module")
def built(built_report):
    return built_report.files


@functools.lru_cache(maxsize=4)
def pdf_text(path: Path) -> str:
    """The PDF's text, page by page: read once per file and run, since several tests read
    the one shared build. pdfium (0.25 s on the 75-page report) rather than pypdf (9 s),
    and it keeps the spaces between words of the SVG figures that pypdf drops."""
    document = pdfium.PdfDocument(path)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


@pytest.mark.exhaustive
@pytest.mark.pdf
def test_pdf_states_the_pooled_mortality_and_every_trial(built):
    import metasynth

    text = pdf_text(built.pdf)
    result = metasynth.pool(STUDIES, "mortality")
    r = result.random
    assert f"{r.estimate:.2f} [{r.ci_lower:.2f}, {r.ci_upper:.2f}]" in text
    from metasynth.render.text.pool import heterogeneity_line

    assert heterogeneity_line(result) in text
    for item in metasynth.load_studies(STUDIES).studies:
        c = item.study.citation
        assert f"{c.first_author} {c.year}" in text, c.first_author
    assert "Summary of findings" in text and "⊕" in text
    assert "Appendix: the source of every number pooled" in text
    assert built.pages and built.pages > 10


def test_html_is_self_contained(built):
    html = built.html.read_text()
    assert "<svg" in html and 'src="http' not in html and "<link" not in html


@pytest.mark.exhaustive  # a second full build (~20 CPU-s); .ci/run runs the exhaustive set too
@pytest.mark.pdf
def test_pdf_is_reproducible(built, tmp_path):
    """Two builds in this run, same inputs and SOURCE_DATE_EPOCH: byte-identical PDF, HTML
    and summary.json. (A property of one environment: the bytes are never compared with
    the committed reports/, which another numpy, scipy or matplotlib may not reproduce.)"""
    again = build_report(tmp_path)
    assert again.pdf.read_bytes() == built.pdf.read_bytes()
    assert again.html.read_bytes() == built.html.read_bytes()
    assert again.summary.read_bytes() == built.summary.read_bytes()


def test_committed_summary_matches_the_records(built, report_data):
    """A pull request that changes studies/ must regenerate reports/.

    The committed reports/summary.json is compared with this run's fresh computation of
    the same records: structure, strings, integers, booleans and None exactly; floats to
    1e-6 relative, with an absolute floor of 1e-8 for values near 0 (numpy and scipy
    releases move quadrature and root-found numbers by up to ~3e-8; see
    tests/approx_tree.py). Never byte for byte: the file was written on one machine.
    """
    committed = json.loads((ROOT / "reports" / "summary.json").read_text())
    fresh = json.loads(built.summary.read_text())
    assert (RTOL, ATOL) == (1e-6, 1e-8)  # as the docstring says
    assert_trees_close(committed, fresh, RTOL, ATOL, hint="run: metasynth report studies/ -o reports/")
    name = report_data.plan.name
    assert (ROOT / "reports" / f"{name}.pdf").exists() and (ROOT / "reports" / f"{name}.html").exists()


def test_interrupted_build_keeps_the_previous_report(tmp_path, monkeypatch, report_data):
    (tmp_path / "msc-covid-ards.pdf").write_bytes(b"previous report")
    import weasyprint

    import metasynth.report.write as write

    # the records' analysis is already assembled once in this run: reuse it (the test is
    # about the interrupted PDF rendering)
    monkeypatch.setattr(write, "assemble", lambda *a, **k: report_data, raising=False)

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(weasyprint.HTML, "render", boom)
    with pytest.raises(KeyboardInterrupt):
        write_report(STUDIES, tmp_path)
    assert (tmp_path / "msc-covid-ards.pdf").read_bytes() == b"previous report"
    assert not list(tmp_path.glob(".*.tmp"))


def test_plan_errors_are_one_line(tmp_path, cli):
    folder = tmp_path / "studies"
    shutil.copytree(STUDIES, folder)
    plan = (folder / "analysis.yaml").read_text().replace("  - sae\n", "  - happiness\n")
    (folder / "analysis.yaml").write_text(plan)
    proc = cli("report", folder, "-o", tmp_path / "out", "--no-pdf")
    assert proc.returncode == 1 and "unknown outcome 'happiness'" in proc.stderr
    assert "analysis.yaml:" in proc.stderr and len(proc.stderr.splitlines()) == 1
    (folder / "analysis.yaml").write_text(plan.replace("page_size: A4", "page_size: A3"))
    proc = cli("report", folder, "-o", tmp_path / "out", "--no-pdf")
    assert proc.returncode == 1 and "analysis.yaml:" in proc.stderr and "page_size" in proc.stderr


def test_optimal_information_size():
    # 40% -> 30% (RRR 25%), alpha 0.05, power 0.8, the TSA's formula (one calculation):
    # 4 x (1.95996 + 0.84162)^2 x 0.35 x 0.65 / 0.1^2 = 714.3 -> 715 in all
    assert optimal_information_size(0.40, 0.25, 0.05, 0.80) == 715


def test_grade_rules_and_overrides():
    import metasynth

    result = metasynth.pool(STUDIES, "mortality")
    rob = {s.id: "high" for s in result.included}
    cert = propose("mortality", result, rob, Grade(), {})
    rob_domain = next(d for d in cert.domains if d.domain == "risk_of_bias")
    assert rob_domain.proposed == 2 and "high > 50%" in rob_domain.rule
    overrides = {"mortality": {"risk_of_bias": Override(downgrade=1, reason="sensitivity agrees")}}
    cert2 = propose("mortality", result, rob, Grade(), overrides)
    d = next(d for d in cert2.domains if d.domain == "risk_of_bias")
    assert d.proposed == 2 and d.final == 1 and d.override_reason == "sensitivity agrees"
    assert cert2.level == cert.level + 1
