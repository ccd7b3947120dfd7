"""The PDF's figures are drawn from a lean copy of their SVG (report/page.py::lean_svg):
fewer nodes for WeasyPrint, the same drawing. Checked on a figure that has what the
report's figures have: text (one of it rotated), clipped lines, markers, patches."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zlib

import pytest

from metasynth.report.page import lean_svg

SVG = "{http://www.w3.org/2000/svg}"


def _figure_svg() -> str:
    import matplotlib as mpl

    from metasynth.render.plots.kit import ROB_PALETTES, Sheet, figure_svg, rc, rob_dot

    with mpl.rc_context(rc()):
        sheet = Sheet()
        sheet.fig.set_size_inches(3, 2)
        ax = sheet.axes_inches(0.4, 0.4, 2.2, 1.2)
        ax.plot([0, 1, 2], [0, 1, 0.5], color="#0072B2", lw=1.2, marker="s", markersize=4)
        ax.plot([0.5, 1.5], [0.2, 0.2], color="#1a1a1a", ls="--", solid_joinstyle="miter")
        ax.set_xticks([0, 1, 2])
        sheet.put(0.1, 1.9, "Study or subgroup", bold=True)
        sheet.put(0.2, 1.0, "Rotated", rotation=90)
        sheet.fig.add_artist(rob_dot(2.8, 1.8, "high", ROB_PALETTES["cochrane"], sheet.inch))
        return figure_svg(sheet.fig)


def _texts(root) -> list:
    def turn(t):  # matplotlib writes rotate(-0 x y) on unrotated text; lean_svg drops it
        tr = t.get("transform")
        return None if tr is None or re.fullmatch(r"rotate\(-?0 [^)]*\)", tr) else tr

    return [(t.text, t.get("x"), t.get("y"), turn(t)) for t in root.iter(SVG + "text")]


def _count(root, tag: str) -> int:
    return sum(1 for _ in root.iter(SVG + tag))


@pytest.fixture(scope="module")
def svgs():
    full = _figure_svg()
    return full, lean_svg(full)


def test_lean_svg_keeps_every_text_path_and_reference(svgs):
    full, lean = svgs
    a, b = ET.fromstring(full), ET.fromstring(lean)
    assert _texts(a) == _texts(b)  # words, positions and the one rotation
    assert any(t[3] and "rotate(-90" in t[3] for t in _texts(b))
    for tag in ("path", "use", "text", "clipPath", "rect"):
        assert _count(a, tag) == _count(b, tag), tag
    ids = {e.get("id") for e in b.iter() if e.get("id")}
    assert set(re.findall(r'(?:url\(#|href="#)([^")]+)', lean)) <= ids
    assert "style=" not in lean and "<metadata" not in lean
    assert _count(b, "g") < _count(a, "g") / 2
    # matplotlib's sheet *{stroke-linejoin: round} is the root's, a node's own value wins
    assert b.get("stroke-linejoin") == "round" and b.get("stroke-linecap") == "butt"
    assert 'stroke-linejoin="miter"' in lean


@pytest.mark.exhaustive
@pytest.mark.pdf
def test_lean_svg_draws_the_same_picture(svgs, tmp_path):
    """Both SVGs as WeasyPrint draws them in the PDF, rasterised: the same pixels."""
    import base64

    import numpy as np
    import pypdfium2
    import weasyprint

    def pixels(svg: str) -> np.ndarray:
        data = base64.b64encode(svg.encode()).decode()
        pdf = weasyprint.HTML(string=f'<img src="data:image/svg+xml;base64,{data}">').write_pdf()
        page = pypdfium2.PdfDocument(pdf)[0]
        return np.asarray(page.render(scale=2).to_pil().convert("L"), dtype=float)

    full, lean = svgs
    a, b = pixels(full), pixels(lean)
    assert a.shape == b.shape and (a < 250).sum() > 500  # something is drawn
    assert np.abs(a - b).max() <= 8  # anti-aliasing noise at most


def _weasy_pdf(svg: str, fast: bool) -> bytes:
    """One figure's SVG drawn by WeasyPrint into a PDF, by its own text function or by
    report/weasy.py's one-layout-per-string path (as the report does)."""
    import base64
    import contextlib

    import weasyprint

    from metasynth.report.weasy import faster_weasyprint

    data = base64.b64encode(svg.encode()).decode()
    html = weasyprint.HTML(string=f'<img src="data:image/svg+xml;base64,{data}">')
    with faster_weasyprint() if fast else contextlib.nullcontext():
        return html.write_pdf(uncompressed_pdf=True)


@pytest.fixture(scope="module")
def drawn(svgs):
    import logging

    seen: list = []

    class Catch(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    handler = Catch(level=logging.WARNING)
    logging.getLogger("weasyprint").addHandler(handler)
    try:
        lean = svgs[1]
        return _weasy_pdf(lean, False), _weasy_pdf(lean, True), seen
    finally:
        logging.getLogger("weasyprint").removeHandler(handler)


def test_fast_svg_text_draws_each_string_once(drawn, svgs):
    """WeasyPrint writes one text object per letter; the fast path one per string, the
    same strings, and WeasyPrint reports no failure (it draws an empty figure and only
    logs when a text function raises)."""
    import pydyf
    import weasyprint.svg as wsvg

    from metasynth.report.weasy import active

    if not active():
        pytest.skip("the fast paths are off under this WeasyPrint")

    own, fast, logged = drawn
    assert logged == []
    strings = [t.text for t in ET.fromstring(svgs[1]).iter(SVG + "text")]
    letters = sum(len(s) - s.count(" ") for s in strings)
    assert own.count(b" Tj") + own.count(b" TJ") >= letters
    assert fast.count(b" Tj") + fast.count(b" TJ") == len(strings)
    # and both patches are gone after the build
    assert wsvg.TAGS["text"] is wsvg.text and wsvg.text.__module__ == "weasyprint.svg.text"
    assert pydyf.zlib is zlib


def test_pdf_streams_are_deflated_at_level_6():
    """pydyf asks zlib for level 9; inside ``faster_weasyprint`` it gets level 6, and the
    stream still inflates to the same bytes."""
    import pydyf

    from metasynth.report.weasy import active, faster_weasyprint

    if not active():
        pytest.skip("the fast paths are off under this WeasyPrint")
    content = b"BT /F1 8 Tf 10 20 Td (Study or subgroup) Tj ET\n" * 400
    asked = []
    real = zlib.compressobj

    def spy(level=-1, *args, **kwargs):
        asked.append(level)
        return real(level, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(zlib, "compressobj", spy)
        with faster_weasyprint():
            stream = pydyf.Stream([content], compress=True)
            data = stream.data
    assert asked == [6]
    body = data.split(b"stream\n", 1)[1].rsplit(b"\nendstream", 1)[0]
    assert zlib.decompress(body) == content


@pytest.mark.exhaustive
@pytest.mark.pdf
def test_fast_svg_text_draws_the_same_words_in_the_same_places(drawn):
    """Rasterised and read back: the same text, the same ink within a pixel or two at
    every string's ends (the whole-string layout applies the font's kerning, which
    WeasyPrint's letter-by-letter layout drops: matplotlib measured the strings with it)."""
    import numpy as np
    import pypdfium2

    def read(pdf: bytes):
        page = pypdfium2.PdfDocument(pdf)[0]
        ink = np.asarray(page.render(scale=2).to_pil().convert("L")) < 128
        return page.get_textpage().get_text_range(), ink

    (text_a, ink_a), (text_b, ink_b) = read(drawn[0]), read(drawn[1])
    assert "Study or subgroup" in text_b and "Rotated" in text_b
    # the same characters in the same order (WeasyPrint's own path reads back the rotated
    # word in pieces, "R otated", as each letter is a text object of its own)
    assert "".join(text_a.split()) == "".join(text_b.split())
    cols_a, cols_b = np.flatnonzero(ink_a.any(0)), np.flatnonzero(ink_b.any(0))
    rows_a, rows_b = np.flatnonzero(ink_a.any(1)), np.flatnonzero(ink_b.any(1))
    assert abs(cols_a[0] - cols_b[0]) <= 2 and abs(cols_a[-1] - cols_b[-1]) <= 2
    assert abs(rows_a[0] - rows_b[0]) <= 2 and abs(rows_a[-1] - rows_b[-1]) <= 2
    assert abs(int(ink_a.sum()) - int(ink_b.sum())) <= 0.03 * ink_a.sum()


@pytest.mark.exhaustive
@pytest.mark.pdf
def test_min_content_widths_are_weasyprints_own(built_report):
    """The shipped report's PDF was built with every min-content answer also asked of
    WeasyPrint's own ``split_first_line``: the same break and the same width each time,
    so the same column widths and the same pages."""
    from metasynth.report.weasy import active

    if not active():
        pytest.skip("the fast paths are off under this WeasyPrint")
    checked = built_report.min_content
    assert built_report.errors == ()  # every figure drawn (WeasyPrint only logs a failure)
    assert checked is not None and checked.check
    assert checked.fast > 10_000 and len(checked.words) > 1_000
    assert checked.mismatches == []
    # and every reused set of used margins, paddings and sizes also resolved by WeasyPrint
    assert checked.percentages.reused > 10_000 and checked.percentages.differences == []
    # and every reused first line also fitted by WeasyPrint
    assert checked.lines.reused > 2_000 and checked.lines.differences == []


def test_page_references_are_pydyfs_own():
    """The kept tuple of page references is pydyf's, and follows pages added later."""
    import pydyf

    from metasynth.report.weasy import _page_references

    pdf = pydyf.PDF()
    for _ in range(3):
        pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
    assert _page_references(pdf) == pdf.page_references
    pdf.add_page(pydyf.Dictionary({"Type": "/Page"}))
    assert _page_references(pdf) == pdf.page_references and len(pdf.page_references) == 4


def test_report_uses_nothing_the_user_agent_sheet_leaves_out(built_report):
    """``user_agent_css`` drops WeasyPrint's rules for form controls, iframes, ``dir``,
    ``hidden``, table ``rules``/``frame``, footnote and note pseudo-elements, and keeps
    ``::marker`` for ``li`` only. The report's HTML (its tags, attributes and CSS) needs
    none of them, so the trimmed sheet gives the same pages."""
    from html.parser import HTMLParser

    import weasyprint

    from metasynth.report.weasy import user_agent_css

    tags, attributes = set(), set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.add(tag)
            attributes.update(name for name, _ in attrs)

    html = built_report.files.html.read_text(encoding="utf-8")
    Collect().feed(html)
    assert "li" in tags and "table" in tags  # the parser saw the report
    left_out = {"input", "button", "select", "textarea", "keygen", "option", "optgroup",
                "fieldset", "iframe"}
    assert not tags & left_out
    assert not attributes & {"dir", "hidden", "rules", "frame"}
    css = "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.S))
    assert "list-item" not in css and "footnote" not in css and "float: note" not in css
    # what is kept is WeasyPrint's: every kept rule's declarations are one of its rules'
    from importlib.resources import files

    import tinycss2

    def blocks(css: str) -> list:
        return [tinycss2.serialize(r.content).strip() for r in tinycss2.parse_stylesheet(
            css, skip_comments=True, skip_whitespace=True) if r.type == "qualified-rule"]

    own = (files("weasyprint") / "css" / "html5_ua.css").read_text(encoding="utf-8")
    kept = user_agent_css()
    assert "li::marker" in kept and "::footnote-call" not in kept and "[dir" not in kept
    assert set(blocks(kept)) <= set(blocks(own)) and len(blocks(kept)) > 0.6 * len(blocks(own))
    weasyprint.CSS(string=kept)  # parses


def test_font_descriptions_are_made_once_per_font():
    """``_FontDescriptions`` hands out one description per distinct font and asks
    WeasyPrint for each new one; a style differing in any field it reads is a new font."""
    from metasynth.report.weasy import _FontDescriptions

    made = []
    fonts = _FontDescriptions(lambda style: made.append(dict(style)) or object())
    base = {"font_family": ("DejaVu Sans",), "font_style": "normal",
            "font_stretch": "normal", "font_weight": 400, "font_size": 10.0,
            "font_variant_caps": "normal", "font_variation_settings": "normal"}
    first = fonts(base)
    assert fonts(dict(base)) is first and len(made) == 1
    for field, value in [("font_weight", 700), ("font_size", 8.0), ("font_style", "italic"),
                         ("font_family", ("DejaVu Serif",))]:
        assert fonts({**base, field: value}) is not first
    assert len(made) == 5


def test_svg_text_metrics_are_matplotlibs_own_and_kept_for_the_process(monkeypatch):
    """``_SvgTextMetrics``: the same SVG with the process-wide cache empty, full, and
    without it; a second figure with the same words asks matplotlib for none of them;
    matplotlib's own method is back afterwards."""
    from matplotlib.backends.backend_svg import RendererSVG

    import metasynth.render.plots.kit as kit

    own = RendererSVG.get_text_width_height_descent
    asked = []

    def counting(renderer, s, prop, ismath):
        asked.append(s)
        return own(renderer, s, prop, ismath)

    monkeypatch.setattr(kit, "_SVG_METRICS", {})
    monkeypatch.setattr(RendererSVG, "get_text_width_height_descent", counting)
    first = _figure_svg()
    assert "Study or subgroup" in asked and len(kit._SVG_METRICS) == len(set(asked))
    asked.clear()
    assert _figure_svg() == first and asked == []  # every answer from the cache
    assert RendererSVG.get_text_width_height_descent is counting  # restored
    monkeypatch.setattr(kit, "_SvgTextMetrics", _NoCache)
    assert _figure_svg() == first and asked  # matplotlib alone draws the same SVG


class _NoCache:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_a_report_build_raises_the_young_gc_threshold_and_restores_it(monkeypatch, tmp_path):
    """report/heap.py: young collections every 10,000 allocations while the report is
    built, so the build's millions of live objects are not walked by full collections;
    the caller's thresholds come back afterwards, also when the build fails."""
    import gc

    import metasynth.report.write as write

    seen = []

    def assemble(*args):  # the build's first step
        seen.append(gc.get_threshold())
        raise RuntimeError("stop")

    before = gc.get_threshold()
    monkeypatch.setattr(write, "assemble", assemble)
    with pytest.raises(RuntimeError):
        write.write_report(tmp_path, tmp_path / "out")
    assert seen[0][0] >= 10_000 and seen[0][1:] == before[1:]
    assert gc.get_threshold() == before
    gc.set_threshold(20_000, *before[1:])  # a caller's own larger threshold is kept
    try:
        with pytest.raises(RuntimeError):
            write.write_report(tmp_path, tmp_path / "out")
        assert seen[1][0] == 20_000
    finally:
        gc.set_threshold(*before)


# Text that exercises what Layout.setup and pydyf's serialisation depend on: languages,
# decorations, OpenType features, spacing, justification, right-to-left, tables, links.
_TEXT_HTML = """<html lang="en"><head><style>
@page { size: A6; margin: 8mm; @bottom-center { content: "Page " counter(page); } }
@page wide { size: A6 landscape; }
body { font-family: DejaVu Sans; font-size: 8pt; padding: 0 3%; }
.u { text-decoration: underline; } .s { text-decoration: line-through; }
.o { text-decoration: overline; } .c { font-variant-caps: small-caps; }
.f { font-feature-settings: "tnum" 1; font-variant-numeric: oldstyle-nums; }
.l { letter-spacing: 1.5pt; } .w { word-spacing: 3pt; } .j { text-align: justify; }
.k { font-kerning: none; } .b { font-weight: bold; font-style: italic; }
</style></head><body>
<h1>Título — 10⁶ cells/kg, τ² = 0.01</h1>
<p class="u">Underlined text, AVAT kerning pairs, 0.77 (0.56 to 1.07).</p>
<p class="s" lang="fr">Texte barré en français, « guillemets ».</p>
<p class="o c" lang="de">Überstrichen, Kapitälchen, Straße.</p>
<p class="f">Tabular figures 1111 0000 and old-style 123456789.</p>
<p class="l">Letter spacing.</p> <p class="w">Word spacing across words.</p>
<p class="j">Justified text that runs over more than one line so that the justification
spacing reaches the drawing of each line but the last one, as in the report's notes.</p>
<p class="k b">No kerning AVAT, bold italic.</p>
<p>Zero\u200bwidth space, soft\u00adhyphen, a private-use character \ue000 no font has.</p>
<p dir="rtl" lang="ar">نص من اليمين إلى اليسار 123</p>
<table><thead><tr><th>Study</th><th>Events</th></tr></thead>
<tbody><tr><td><a href="#x">Bowdish 2023</a></td><td>42/112 vs 47/110</td></tr>
<tr><td id="x">Lanzoni 2021</td><td class="u">2/12 vs 7/12</td></tr></tbody></table>
<table style="border-collapse: collapse; width: 80%"><tr>
<td style="border: 2pt solid; padding: 5%; width: calc(30% + 4pt)">Collapsed borders</td>
<td style="border: 0.5pt solid; box-sizing: border-box; padding: 2pt 10%">and border-box</td>
</tr></table>
<div style="box-sizing: border-box; width: 60%; padding: 3% 2pt; border: 1pt solid;
min-height: 2em; max-width: calc(100% - 10pt); margin: 1em 5%">Sized as border-box</div>
<div style="box-sizing: padding-box; width: 50%; padding: 4pt">Sized as padding-box</div>
<section style="page: wide; padding: 0 4%"><p style="margin: 0 10%">On a landscape page: the
body and section in a wider containing block.</p></section>
</body></html>"""


def test_style_caches_text_drawing_and_pdf_serialisation_write_the_same_pdf(monkeypatch):
    """``_LayoutSetup`` (one Pango context, language, font description, decoration
    metrics and features attribute per style), ``_per_style`` (WeasyPrint's font cache
    key once per style), ``_KeptLayouts`` (a line drawn from the layout it was laid out
    in), ``fast_draw_first_line`` (a run's glyphs read at once),
    ``_fast_to_bytes`` and ``_stream_data`` (pydyf's serialisation), ``ResolvedPercentages``
    and ``FirstLines`` (a line fitted once per style, text and width) change how the PDF is
    made, not what it is: the same bytes as with WeasyPrint's and pydyf's own functions,
    the other fast paths in place both times. The line with a glyph no font has is
    drawn by WeasyPrint's own function; the others are not."""
    import pydyf
    import weasyprint

    import metasynth.report.weasy as weasy

    if not weasy.active():
        pytest.skip("the fast paths are off under this WeasyPrint")

    def pdf() -> bytes:
        with weasy.faster_weasyprint():
            document = weasyprint.HTML(string=_TEXT_HTML).render()
            return document.write_pdf(pdf_identifier=b"test", pdf_tags=True)

    handed_over, real_fast_draw = [], weasy.fast_draw_first_line

    def counting(original):
        def draw(*args):
            handed_over.append(args[1].text)
            return original(*args)
        return real_fast_draw(draw)

    with monkeypatch.context() as mp:
        mp.setattr(weasy, "fast_draw_first_line", counting)
        fast = pdf()
    assert handed_over and all("\ue000" in text for text in handed_over)
    class OwnLayouts(weasy._KeptLayouts):  # WeasyPrint's set_text, deactivate, reactivate
        def set_text(self, layout, text, justify=False):
            self.own[0](layout, text, justify)

        def deactivate(self, layout):
            self.own[1](layout)

        def reactivate(self, layout, style):
            self.own[2](layout, style)

    with monkeypatch.context() as mp:
        mp.setattr(weasy, "fast_draw_first_line", lambda original: original)
        mp.setattr(weasy, "_KeptLayouts", OwnLayouts)
        mp.setattr(weasy, "_LayoutSetup", lambda original: original)
        mp.setattr(weasy, "_per_style", lambda original: original)
        mp.setattr(weasy, "_fast_to_bytes", lambda original: original)
        mp.setattr(weasy, "_stream_data", pydyf.Stream.data.fget)
        mp.setattr("metasynth.report.percentages.ResolvedPercentages",
                   lambda original, check=False: original)
        mp.setattr("metasynth.report.lines.FirstLines", lambda original, check=False: original)
        # BatchedBorders stays in place both times: it draws the collapsed table's paint
        # with other operators, not the same bytes (its own test below)
        own = pdf()
    assert fast == own and len(fast) > 5_000


def test_fast_to_bytes_converts_as_pydyf_does():
    import pydyf

    from metasynth.report.weasy import TESTED_PYDYF, _fast_to_bytes

    if ".".join(pydyf.__version__.split(".")[:2]) not in TESTED_PYDYF:
        pytest.skip("pydyf's own conversions are used under this pydyf")
    own = pydyf._to_bytes
    fast = _fast_to_bytes(own)
    values = [b"BT", b"", 0.0, -0.0, 3.0, -2.0, 1e20, 0.1, -1 / 3, 123.456, 1e-9, 2.5e-7,
              float("inf"), 0, -7, 2**70, True, False, "/F1", "", "Tj", 1.0000001,
              pydyf.Dictionary({"Type": "/Page", "Count": 3}), pydyf.Array([1, 2.5, "/N"]),
              pydyf.String("(a)"), type("Name", (str,), {})("/Sub")]
    for value in values:
        assert fast(value) == own(value), value
    for function in (own, fast):
        with pytest.raises(UnicodeEncodeError):
            function("Título")


def test_layout_setup_is_made_once_per_style():
    """Layouts of one style share what ``_LayoutSetup`` prepared; each still has its own
    Pango layout. A style is prepared once, however many layouts it sets up."""
    import weasyprint
    from weasyprint.text.line_break import Layout

    import metasynth.report.weasy as weasy

    if not weasy.active():
        pytest.skip("the fast paths are off under this WeasyPrint")
    styles = []
    document = weasyprint.HTML(string=_TEXT_HTML).render()

    def collect(box):
        if type(box).__name__ == "TextBox":
            styles.append(box.style)
        for child in getattr(box, "children", ()):
            collect(child)

    for page in document.pages:
        collect(page._page_box)
    assert len(styles) > 10
    with weasy.faster_weasyprint():
        setup = Layout.setup
        layouts = [Layout(style) for style in styles for _ in range(3)]
    prepared = setup.__wrapped__.prepared.made
    assert len(prepared) == len({id(s) for s in styles})
    assert len({id(layout.layout) for layout in layouts}) == len(layouts)
    underlined = [lay for lay in layouts if lay.style["text_decoration_line"] != "none"]
    assert underlined and all(lay.underline_thickness > 0 for lay in underlined)


_LOADED = """
import subprocess, sys
started = []
real = subprocess.Popen.__init__
def recording(self, args, *a, **k):
    started.append(args[0] if isinstance(args, (list, tuple)) else args)
    real(self, args, *a, **k)
subprocess.Popen.__init__ = recording
import ctypes.util
before = ctypes.util.find_library
if sys.argv[1] == "ours":
    from metasynth.report.weasy import import_weasyprint
    import_weasyprint()
else:
    import weasyprint
libs = sorted({line.split()[-1] for line in open("/proc/self/maps")
               if any(n in line for n in ("pango", "harfbuzz", "gobject", "fontconfig"))})
print(repr((libs, started, ctypes.util.find_library is before)))
"""


def test_weasyprint_loads_the_same_libraries_without_compiler_probes():
    """``import_weasyprint`` loads the same C libraries as ``import weasyprint`` and runs
    no compiler or linker to find them (``find_library`` is the process's own again
    after)."""
    import ast
    import os
    import subprocess
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the compiler probes are those of ctypes.util on Linux")

    def run(how: str):
        out = subprocess.run([sys.executable, "-c", _LOADED, how], check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"}).stdout
        return ast.literal_eval(out.strip().splitlines()[-1])

    own_libs, _, _ = run("weasyprint")
    libs, started, restored = run("ours")
    assert libs == own_libs and any("libpango-1.0" in lib for lib in libs)
    assert restored
    assert not [cmd for cmd in started if os.path.basename(str(cmd)) in ("gcc", "cc", "ld")]


def test_min_and_max_content_answers_are_weasyprints_own():
    """Every min- and max-content width ``MinContent`` answers for a page of tables and
    text (trailing spaces, links, bold runs, right to left) is the one WeasyPrint's own
    ``split_first_line`` gives; the default suite's short check of what the exhaustive
    one checks on the whole report."""
    import weasyprint

    import metasynth.report.weasy as weasy

    if not weasy.active():
        pytest.skip("the fast paths are off under this WeasyPrint")
    html = _TEXT_HTML.replace("</body>", "<table><tr><td>two words <b>bold</b> </td>"
                              "<td>τ² = 0.01, I² = 12%</td></tr></table></body>")
    with weasy.faster_weasyprint(check=True) as min_content:
        weasyprint.HTML(string=html).render()
    assert min_content.widest and min_content.answers and min_content.fast > 20
    assert min_content.mismatches == []


def test_reused_margins_paddings_and_sizes_are_weasyprints_own():
    """report/percentages.py: on a page with percentages, calc(), border-box and
    padding-box sizing, a table with collapsed borders and a margin box on each page, most
    calls reuse the used values of an earlier call, and each reused set is the one
    WeasyPrint resolves for that box."""
    import weasyprint

    import metasynth.report.weasy as weasy

    if not weasy.active():
        pytest.skip("the fast paths are off under this WeasyPrint")
    with weasy.faster_weasyprint(check=True) as min_content:
        document = weasyprint.HTML(string=_TEXT_HTML.replace(
            "<body>", "<body>" + "<p>A page of its own.</p>" * 40)).render()
    resolved = min_content.percentages
    assert len(document.pages) >= 3
    assert resolved.calls > 100 and resolved.reused > resolved.calls / 3
    assert resolved.differences == []


# a table longer than a page (its header repeated, a row broken across pages), cells
# that read the same, and a running header: the same texts laid out again
_REPEATED_HTML = _TEXT_HTML.replace("</body>", "<table><thead><tr><th>Study</th><th>Risk of "
                                    "bias</th></tr></thead><tbody>" + "".join(
    f"<tr><td>Trial {i}</td><td>{'Low' if i % 3 else 'Some concerns about the outcome'}"
    "</td></tr>" for i in range(60)) + "</tbody></table></body>").replace(
    "@bottom-center {", '@top-center { content: "DRAFT: not verified"; } @bottom-center {')


def _text_boxes(box):
    from weasyprint.formatting_structure import boxes

    if isinstance(box, boxes.TextBox):
        yield box
    for child in getattr(box, "children", ()):
        yield from _text_boxes(child)


def test_repeated_first_lines_are_weasyprints_own():
    """report/lines.py: on a page where texts are laid out again (a repeated header, the
    row a page breaks in, cells that read the same, a running header), many lines are
    fitted from an earlier answer, each such answer is the one WeasyPrint gives, and every
    box drawn has its own Layout."""
    import weasyprint

    import metasynth.report.weasy as weasy

    if not weasy.active():
        pytest.skip("the fast paths are off under this WeasyPrint")
    with weasy.faster_weasyprint(check=True) as min_content:
        document = weasyprint.HTML(string=_REPEATED_HTML).render()
    lines = min_content.lines
    assert len(document.pages) >= 4
    assert lines.calls > 150 and lines.reused > 50
    assert lines.differences == []
    drawn = [b for page in document.pages for b in _text_boxes(page._page_box)]
    assert sum(b.text == "Low" for b in drawn) > 30
    layouts = [b.pango_layout for b in drawn if getattr(b, "pango_layout", None) is not None]
    assert len({id(x) for x in layouts}) == len(layouts)


_BORDERS_HTML = """<html><head><style>
@page { size: A6; margin: 8mm; } body { font-family: DejaVu Sans; font-size: 8pt; }
table { border-collapse: collapse; width: 100%; margin-bottom: 6pt; }
td, th { border: 0.5px solid #999; padding: 2pt; }
.heavy { border-bottom: 2px solid #0072B2; } .dash td { border: 1px dashed #D55E00; }
.dbl { border: 3px double black; } .faint td { border: 4px solid rgba(0, 0, 0, 0.4); }
table.order { border: 4px solid #999; } .order tr.red { border: 4px solid #D55E00; }
.order td { border: 4px solid #999; border-top: none; border-bottom: none; }
</style></head><body>
<table><thead><tr><th>Study</th><th>Events</th><th>RR</th></tr></thead><tbody>
""" + "".join(f"<tr{' class=heavy' if i == 3 else ''}><td>Trial {i}</td><td>{i}/40</td>"
              f"<td{' class=dbl' if i == 5 else ''}>0.{i}</td></tr>" for i in range(70)) + """
</tbody></table>
<table class="dash"><tr><td>dashed</td><td>borders</td></tr></table>
<table class="faint"><tr><td>not</td><td>opaque</td></tr><tr><td>drawn</td><td>twice</td></tr>
</table>
<table class="order"><tr><td>a table's,</td><td>a</td></tr><tr class="red"><td>row's</td><td>and
</td></tr><tr><td>cells'</td><td>borders</td></tr></table></body></html>"""


def test_batched_collapsed_borders_paint_what_weasyprint_paints(monkeypatch):
    """report/borders.py: a table over several pages with a heavier blue rule, a double
    cell border, a dashed table, a half-transparent one (each edge stroked alone, so
    the joints overlap as in WeasyPrint's) and one whose grey and red edges alternate in
    WeasyPrint's painting order: the same pixels (but anti-aliasing where two of
    WeasyPrint's strokes met) with far fewer strokes."""
    import numpy as np
    import pypdfium2
    import weasyprint

    import metasynth.report.weasy as weasy

    if not weasy.active():
        pytest.skip("the fast paths are off under this WeasyPrint")

    def pdf() -> tuple:
        with weasy.faster_weasyprint() as fast:
            out = weasyprint.HTML(string=_BORDERS_HTML).write_pdf(uncompressed_pdf=True)
        return out, fast.borders

    batched, counts = pdf()
    with monkeypatch.context() as mp:
        mp.setattr("metasynth.report.borders.BatchedBorders",
                   lambda original: type("Own", (), {"__call__": staticmethod(original)})())
        own, _ = pdf()
    assert counts.edges > 500 and counts.strokes < counts.edges / 10
    assert batched.count(b"\nS\n") < own.count(b"\nS\n") / 5
    a, b = pypdfium2.PdfDocument(own), pypdfium2.PdfDocument(batched)
    assert len(a) == len(b) >= 3
    for i in range(len(a)):
        x, y = (np.asarray(d[i].render(scale=3).to_pil().convert("RGB"), dtype=int)
                for d in (a, b))
        differ = np.abs(x - y).max(2)
        assert (x.min(2) < 250).sum() > 1000
        assert (differ > 40).sum() <= 20, i  # joints' anti-aliasing at most
    # what is not a plain opaque stroke is drawn by WeasyPrint's own operators
    assert b"[5] 0 d" in batched and b"[5] 0 d" in own  # the dashed table (5 x 1 px)


def test_lines_are_drawn_from_their_layouts_unless_drawing_would_differ(monkeypatch):
    """Most lines of the test page are drawn from the layout they were laid out in; the
    justified lines, the letter- and word-spaced ones are laid out again to be drawn
    (``set_text(justify=True)`` adds their spacing)."""
    import weasyprint

    import metasynth.report.weasy as weasy

    if not weasy.active():
        pytest.skip("the fast paths are off under this WeasyPrint")
    made, drawn_again = [], []

    class Counting(weasy._KeptLayouts):
        def __init__(self, *args):
            super().__init__(*args)
            made.append(self)

        def reactivate(self, layout, style):
            if "_metasynth_kept" not in layout.__dict__:
                drawn_again.append(layout.text)
            super().reactivate(layout, style)

    monkeypatch.setattr(weasy, "_KeptLayouts", Counting)
    with weasy.faster_weasyprint():
        weasyprint.HTML(string=_TEXT_HTML).render().write_pdf()
    kept = made[0]
    assert kept.reused > 10 and kept.kept >= kept.reused
    assert any("Letter spacing" in t for t in drawn_again)
    assert any("justification" in t for t in drawn_again)
    assert not any("Underlined text" in t for t in drawn_again)


def _page_faults_at_worst_depth(calls: int = 200) -> int:
    """The most minor page faults that ``calls`` calls of a small function made, over the
    call depths 0-299: a depth whose calls cross a stack chunk's boundary maps a fresh
    chunk for each call, and touching it faults once (CPython gh-142183)."""
    import resource

    def leaf():
        return None

    def at_depth(d):
        if d:
            return at_depth(d - 1)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(calls):
            leaf()
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    return max(at_depth(d) for d in range(300))


def test_the_build_runs_on_a_stack_chunk_it_does_not_leave():
    """report/stack.py: calls inside ``on_roomy_stack`` do not map a stack chunk each, at
    any depth the build reaches; the function's result, arguments, exceptions and name
    pass through; and the report's build is wrapped in it."""
    import metasynth.report.write as write
    from metasynth.report.stack import ROOM, _call_on_roomy_stack, on_roomy_stack

    plain = _page_faults_at_worst_depth()
    if plain < 100:
        pytest.skip(f"this Python does not map a chunk per call at a boundary ({plain} faults "
                    "for 200 calls): it caches one (CPython gh-145789)")
    assert on_roomy_stack(_page_faults_at_worst_depth)() < 20
    assert _call_on_roomy_stack.__code__.co_stacksize == ROOM

    def divide(a, b=1):
        """Divides."""
        return a / b

    roomy = on_roomy_stack(divide)
    assert roomy(6, b=3) == 2 and roomy.__name__ == "divide" and roomy.__doc__ == "Divides."
    with pytest.raises(ZeroDivisionError):
        roomy(1, 0)
    # the outermost decorator of the build (every on_roomy_stack wrapper shares one code)
    assert write.write_report.__code__ is roomy.__code__


def test_matplotlib_fonts_read_from_memory_draw_the_same_glyphs(monkeypatch):
    """render/plots/fontfiles.py: with the fonts' bytes in memory, matplotlib opens no font
    file, and draws the same glyph outlines (SVG text as paths), the same pixels (PNG) and
    the same text-as-text SVG as it does reading the files."""
    import builtins
    import io

    import matplotlib as mpl
    import matplotlib.font_manager as fm

    from metasynth.render.plots import fontfiles
    from metasynth.render.plots.kit import Sheet, figure_svg, rc

    def draw() -> tuple:
        fm._get_font.cache_clear()
        with mpl.rc_context(rc()):
            sheet = Sheet()
            sheet.fig.set_size_inches(3, 1)
            sheet.put(0.1, 0.7, "Study or subgroup 0.77 (0.56 to 1.07) → ≥ ±", bold=True)
            sheet.put(0.1, 0.3, "Weight 12.3% Favours MSCs", rotation=5)
            widths = (sheet.width("Total (95% CI)"), sheet.width("Heterogeneity", bold=True))
            png, paths = io.BytesIO(), io.StringIO()
            sheet.fig.savefig(png, format="png", dpi=100, metadata={"Software": None})
            with mpl.rc_context({"svg.fonttype": "path", "svg.hashsalt": "x"}):
                sheet.fig.savefig(paths, format="svg", metadata={"Date": None})
            return widths, png.getvalue(), paths.getvalue(), figure_svg(sheet.fig)

    fontfiles.in_memory()
    wrapper = fm._get_font
    monkeypatch.setattr(fm, "_get_font", wrapper.__wrapped__)  # matplotlib's own
    monkeypatch.setattr("metasynth.render.plots.kit._WIDTHS", {})
    monkeypatch.setattr("metasynth.render.plots.kit._SVG_METRICS", {})
    from_files = draw()
    monkeypatch.setattr(fm, "_get_font", wrapper)
    monkeypatch.setattr("metasynth.render.plots.kit._WIDTHS", {})
    monkeypatch.setattr("metasynth.render.plots.kit._SVG_METRICS", {})
    fontfiles._STREAMS.clear()
    fontfiles._CONTENTS.clear()
    opened = []
    real_open = builtins.open

    def recording_open(file, *a, **k):
        opened.append(str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", recording_open)
    from_memory = draw()
    monkeypatch.setattr(builtins, "open", real_open)
    assert from_memory == from_files
    # each font file read once, whole, by fontfiles; none kept open for FreeType's reads
    fonts = [f for f in opened if f.endswith((".ttf", ".otf"))]
    assert fonts and len(fonts) == len(set(fonts)) == len(fontfiles._CONTENTS)
    font = fm.get_font(fm.findfont(fm.FontProperties(family="DejaVu Sans")))
    assert isinstance(font.fname, io.BytesIO)
    with fontfiles.from_files():  # as save_figure draws a PDF, which embeds fonts by path
        assert isinstance(fm.get_font(fm.findfont(fm.FontProperties(family="DejaVu Sans")))
                          .fname, str)
    fm._get_font.cache_clear()


def test_figures_saved_as_pdf_embed_their_fonts_after_fonts_went_to_memory(tmp_path):
    """The PDF backend finds the font to embed by ``FT2Font.fname``: save_figure draws PDF
    from the font files even after in_memory() (render/plots/fontfiles.py)."""
    import matplotlib as mpl

    from metasynth.render.plots.fontfiles import in_memory
    from metasynth.render.plots.kit import Sheet, rc, save_figure

    in_memory()
    with mpl.rc_context(rc()):
        sheet = Sheet()
        sheet.put(0.1, 0.5, "Study or subgroup", bold=True)
        sheet.width("Weight")  # a font opened from memory before the PDF is drawn
        save_figure(sheet.fig, tmp_path / "f.pdf")
    pdf = (tmp_path / "f.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"DejaVuSans-Bold" in pdf
