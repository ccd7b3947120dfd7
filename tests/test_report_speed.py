"""The PDF's figures are drawn from a lean copy of their SVG (report/page.py::lean_svg):
fewer nodes for WeasyPrint, the same drawing. Checked on a figure that has what the
report's figures have: text (one of it rotated), clipped lines, markers, patches."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

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
