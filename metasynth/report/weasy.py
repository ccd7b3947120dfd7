"""Where WeasyPrint is slow for our pages, and what we do instead.

WeasyPrint (BSD-3-Clause) draws an SVG ``<text>`` one letter at a time: for every
character it makes a Pango layout, measures it, and writes a text object of its own to
the PDF (``weasyprint/svg/text.py``, 65-70). That is how it supports per-letter ``x``,
``dx`` and ``rotate`` lists, which our figures never use: matplotlib writes one ``x`` and
one ``y`` per string. The 1,521 strings of the shipped report's 27 figures cost 2.1
CPU-s of the PDF's drawing that way (``benchmarks/report.py --phases``).

``fast_svg_text`` lays such a string out once and draws it as one run of glyphs, the
way browsers and matplotlib itself lay it out (with the font's kerning, which the
letter-by-letter path loses). Any text that uses what the fast path does not handle
(several positions, ``dx``/``dy``, ``rotate``, ``letter-spacing``, ``textLength``,
``<tspan>``/``<textPath>`` children) goes to WeasyPrint's own function unchanged.

The patch is installed only while the report's PDF is rendered and written
(``fast_text``), so other users of WeasyPrint in the same process are not affected.
"""

from __future__ import annotations

from contextlib import contextmanager
from math import inf

_PER_LETTER = ("dx", "dy", "rotate", "textLength", "letter-spacing")


def _single(value: str | None) -> bool:
    """One coordinate (matplotlib's "53.28"), not a per-letter list ("1 2 3")."""
    if value is None:
        return True
    from weasyprint.svg.utils import normalize

    return " " not in normalize(value)


def fast_svg_text(original):
    """WeasyPrint's ``text(svg, node, font_size)`` with a one-layout path for a string
    at a single position; everything else goes to ``original``."""

    def text(svg, node, font_size):
        attrib = node.attrib
        if (node.tag != "text" or not node.text or not node.text.strip()
                or len(node._etree_node)  # children (<tspan>): WeasyPrint's Node has no len
                or any(k in attrib for k in _PER_LETTER)
                or not (_single(attrib.get("x")) and _single(attrib.get("y")))):
            return original(svg, node, font_size)
        from weasyprint.css.properties import INITIAL_VALUES
        from weasyprint.draw.text import draw_emojis, draw_first_line
        from weasyprint.matrix import Matrix
        from weasyprint.svg.bounding_box import extend_bounding_box
        from weasyprint.svg.text import Style, TextBox
        from weasyprint.svg.utils import size
        from weasyprint.text.line_break import split_first_line

        # the style exactly as WeasyPrint's own function builds it
        style = Style()
        style.update(INITIAL_VALUES)
        style.font_config = svg.font_config
        style["font_family"] = [f.strip("\"'") for f in
                                node.get("font-family", "sans-serif").split(",")]
        style["font_style"] = node.get("font-style", "normal")
        weight = node.get("font-weight", 400)
        weight = {"normal": 400, "bold": 700}.get(weight, weight)
        try:
            style["font_weight"] = int(weight)
        except ValueError:
            style["font_weight"] = 400
        style["font_size"] = font_size
        if node.get("direction") in ("ltr", "rtl"):
            style["direction"] = node.get("direction")

        layout, _, _, width, height, baseline = split_first_line(
            node.text, style, svg.context, inf, 0)
        x = (size(attrib["x"], font_size, svg.inner_width) if "x" in attrib
             else svg.cursor_position[0])
        y = (size(attrib["y"], font_size, svg.inner_height) if "y" in attrib
             else svg.cursor_position[1])
        svg.cursor_position = x + width, y
        y += _baseline_shift(node, font_size, height)  # drawn there; the cursor stays
        node.text_bounding_box = extend_bounding_box(
            node.text_bounding_box, ((x, y - baseline), (x + width, y - baseline + height)))

        svg.stream.push_state()
        fill, stroke = svg.set_graphical_state(node, font_size)
        svg.stream.begin_text()
        layout.reactivate(style)  # split_first_line hands the layout back deactivated
        svg.fill_stroke(fill, stroke, text=True)
        box = TextBox(layout, style)
        box.baseline = baseline
        emojis = draw_first_line(svg.stream, box, "none", "none", Matrix(d=-1, e=x, f=y))
        svg.stream.end_text()
        svg.stream.pop_state()
        draw_emojis(svg.stream, style, x, y, emojis)

    return text


def _baseline_shift(node, font_size: float, height: float) -> float:
    """WeasyPrint's vertical alignment of a text (its ascent and descent are 0.8 and 0.2
    of the font size, as in its own function)."""
    ascent, descent = font_size * .8, font_size * .2
    anchor = node.get("display-anchor")
    baseline = node.get("dominant-baseline", node.get("alignment-baseline"))
    if anchor == "middle":
        return -height / 2
    if anchor == "top":
        return 0
    if anchor == "bottom":
        return -height
    if baseline in ("central", "middle"):
        return (ascent + descent) / 2 - descent
    if baseline in ("text-before-edge", "before_edge", "top", "hanging", "text-top"):
        return ascent
    if baseline in ("text-after-edge", "after_edge", "bottom", "text-bottom"):
        return -descent
    return 0


@contextmanager
def fast_text():
    """Install ``fast_svg_text`` for the duration of a render and ``write_pdf``.

    ``weasyprint.svg`` compares ``TAGS.get(node.tag) == text`` to find text nodes (for
    ``text-anchor``), so the module's name ``text`` and every ``TAGS`` entry that points
    to it are replaced together, and restored after."""
    import weasyprint.svg as wsvg

    original = wsvg.text
    fast = fast_svg_text(original)
    keys = [k for k, f in wsvg.TAGS.items() if f is original]
    wsvg.text = fast
    for k in keys:
        wsvg.TAGS[k] = fast
    try:
        yield
    finally:
        wsvg.text = original
        for k in keys:
            wsvg.TAGS[k] = original
