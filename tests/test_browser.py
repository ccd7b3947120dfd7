"""The HTML report in a real browser (Playwright driving Debian's chromium): at a 390 px
phone and a 1280 px desktop width the page body does not scroll sideways, the console has
no errors, the page makes no request (it is one self-contained file), and every link of
the table of contents resolves to an element. Screenshots go to a temporary folder.

Skipped when playwright or /usr/bin/chromium is missing; `.ci/run` installs both."""

import os
import shutil

import pytest

pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """One chromium for both widths (a launch costs about as much as a page)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.mark.parametrize("width", [390, 1280])
def test_report_in_a_browser(built_report, browser, tmp_path, width):
    html = built_report.files.html
    errors, requests = [], []
    page = browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def route(r):
            url = r.request.url
            if url.startswith("data:") or url == html.as_uri():
                r.continue_()
            else:
                requests.append(url)
                r.abort()

        page.route("**/*", route)
        page.goto(html.as_uri())
        page.wait_for_load_state("load")
        overflow = page.evaluate(
            "[document.documentElement.scrollWidth, window.innerWidth]")
        missing = page.evaluate("""() => [...document.querySelectorAll('nav.toc a')]
            .map(a => a.getAttribute('href').slice(1))
            .filter(id => !document.getElementById(id))""")
        n_links = page.evaluate("document.querySelectorAll('nav.toc a').length")
        # the PRISMA checklist points to where each item is answered
        checklist = page.evaluate("""() => [...document.querySelectorAll(
            'table.frame-checklist a')].map(a => [a.getAttribute('href').slice(1),
            !!document.getElementById(a.getAttribute('href').slice(1))])""")
        # the contents: a sidebar that stays on screen at desktop width, on top on a phone
        position = page.evaluate("getComputedStyle(document.querySelector('nav.toc')).position")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
        toc_top = page.evaluate("document.querySelector('nav.toc').getBoundingClientRect().top")
        # the median paragraph (the first one may be a small-print note)
        body_px = page.evaluate(
            "(() => { const s = [...document.querySelectorAll('p')].map(p => "
            "parseFloat(getComputedStyle(p).fontSize)).sort((a, b) => a - b); "
            "return s[Math.floor(s.length / 2)]; })()")
        page.screenshot(path=str(tmp_path / f"report-{width}.png"))
        page.locator("section.outcome .figure").first.scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / f"report-{width}-forest.png"))
    finally:
        page.close()
    assert overflow[0] <= overflow[1], f"the page scrolls sideways at {width} px: {overflow}"
    assert errors == []
    assert requests == [], f"external requests: {requests}"
    assert n_links >= 10 and missing == []
    assert len(checklist) >= 20 and all(found for _, found in checklist), checklist
    if width >= 1100:
        assert position == "fixed" and toc_top == 0, (position, toc_top)
    else:
        assert position == "static" and toc_top < 0
    assert body_px >= 14  # readable on a phone without zooming
