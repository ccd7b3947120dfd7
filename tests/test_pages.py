"""Pages that work: the page skeleton of the report (headers repeated on every page, a
table of contents whose links resolve, captions, accessible figures, a phone viewport),
forest plots that split across pages, and no content past a page's bottom margin or
nearly empty page, on the shipped corpus and on a 40- and 60-trial SYNTHETIC corpus
(tests/stress_corpus.py, written to a temporary folder)."""

import re

import pytest

pytest.importorskip("weasyprint")

from metasynth.api import pool
from metasynth.render.plots.forest import PAGE_HEIGHT, forest_pages
from tests.conftest import REPORT_EPOCH
from tests.stress_corpus import write_corpus
from tests.test_forest import assert_no_overlap, table


def test_every_table_has_a_header_caption_and_scroll_box(built_report):
    html = built_report.files.html.read_text()
    tables = re.findall(r"<table[^>]*>.*?</table>", html, re.S)
    assert len(tables) > 20
    for t in tables:
        row_headed = 'scope="row"' in t and "<th" not in t.replace('<th scope="row"', "")
        if row_headed or t.startswith(('<table class="facts', '<table class="pico"')):
            continue  # key-value tables (title page, PICO, abstract, eligibility): no column head
        assert "<thead>" in t and "<caption" in t, t[:300]
    assert html.count('<div class="scroll"><table') == len(tables)
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "an id is used twice"
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media screen" in html and "@media print" in html


def test_headings_have_ids_and_the_contents_resolve(built_report):
    html = built_report.files.html.read_text()
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    for _level, attrs in re.findall(r"<h([23])([^>]*)>", html):
        assert 'id="' in attrs, attrs
    toc = html[html.index('<nav class="toc"'):html.index("</nav>")]
    links = re.findall(r'href="#([^"]+)"', toc)
    assert len(links) >= 10 and all(link in ids for link in links)


def test_figures_have_names_and_a_generic_font(built_report):
    html = built_report.files.html.read_text()
    svgs = re.findall(r"<svg\b[^>]*>", html)
    assert svgs and all('role="img"' in s and "aria-label=" in s for s in svgs)
    families = set(re.findall(r"font-family: ([^;\"]+)", html.split("</style>", 1)[1]))
    assert families == {"'DejaVu Sans', sans-serif"}, families


def test_a_60_trial_forest_plot_splits_into_pages():
    result = pool(table(60), measure="RR")
    figs = forest_pages(result, rob=None)
    assert len(figs) >= 3
    for fig in figs:
        assert fig.get_size_inches()[1] <= PAGE_HEIGHT + 1e-9
    assert_no_overlap(figs[-1])
    texts = [t.get_text() for t in figs[-1].texts]
    assert any(t.startswith("Heterogeneity") for t in texts)  # notes on the last page
    assert any(t.startswith("Total") for t in texts)
    names = [t.get_text() for fig in figs for t in fig.texts]
    assert sum(n.startswith("Author") and ":" not in n for n in names) == 60  # each trial once


def _page_problems(document) -> list[str]:
    """Boxes past the bottom or the right edge of a page's content area (a table too
    wide for its page is cut off at the paper's edge), and nearly empty pages."""
    from weasyprint.formatting_structure.boxes import MarginBox

    problems = []
    for number, page in enumerate(document.pages, 1):
        box = page._page_box
        bottom = box.content_box_y() + box.height
        right = box.content_box_x() + box.width
        lowest = box.content_box_y()
        flow = [c for c in box.children if not isinstance(c, MarginBox)]  # not the footer
        wide = False
        for child in (d for c in flow for d in c.descendants()):
            if getattr(child, "element_tag", "") in ("html", "body") or child.height is None:
                continue
            end = child.position_y + child.margin_height() - (child.margin_bottom or 0)
            lowest = max(lowest, end)
            if end > bottom + 1:
                problems.append(f"page {number}: <{child.element_tag}> ends {end - bottom:.0f}px "
                                "below the page's content area")
                break
            edge = child.position_x + child.margin_width() - (child.margin_right or 0)
            if not wide and child.width is not None and edge > right + 1:
                problems.append(f"page {number}: <{child.element_tag}> ends {edge - right:.0f}px "
                                "right of the page's content area")
                wide = True  # one per page
        filled = (lowest - box.content_box_y()) / box.height
        if filled < 0.12 and number not in (1, len(document.pages)):
            problems.append(f"page {number} is nearly empty ({filled:.0%})")
    return problems


def _render(folder, tmp_path):
    import weasyprint

    from metasynth.report.assemble import assemble
    from metasynth.report.write import _font_files, render_html

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", REPORT_EPOCH)
        html = render_html(assemble(folder), _font_files())
    return weasyprint.HTML(string=html, base_url=str(tmp_path)).render()


@pytest.mark.exhaustive
@pytest.mark.pdf
def test_no_page_of_the_report_overflows_or_is_nearly_empty(built_report):
    document = built_report.document  # the layout the shipped PDF was written from
    assert document is not None and _page_problems(document) == []


@pytest.mark.exhaustive
def test_a_stress_report_fits_its_pages(tmp_path):
    # 60 trials: forests of 60, 30, 20 and 15 rows, one to three pages each; a 40-trial
    # report (15 s more of .ci/run) adds no page-break case, and benchmarks/report.py
    # builds it
    folder = write_corpus(tmp_path / "synthetic-studies", 60)
    document = _render(folder, tmp_path)
    assert _page_problems(document) == []
