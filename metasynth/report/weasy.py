"""Where WeasyPrint is slow for our pages, and what we do instead.

WeasyPrint (BSD-3-Clause) draws an SVG ``<text>`` one letter at a time: for every
character it makes a Pango layout, measures it, and writes a text object of its own to
the PDF (``weasyprint/svg/text.py``, 65-70). That is how it supports per-letter ``x``,
``dx`` and ``rotate`` lists, which our figures never use: matplotlib writes one ``x`` and
one ``y`` per string. Drawing the shipped report's 27 figures (1,521 strings) took 1.7
CPU-s that way, 0.83 with ``fast_svg_text``.

``fast_svg_text`` lays such a string out once and draws it as one run of glyphs, the
way browsers and matplotlib itself lay it out (with the font's kerning, which the
letter-by-letter path loses). Any text that uses what the fast path does not handle
(several positions, ``dx``/``dy``, ``rotate``, ``letter-spacing``, ``textLength``,
``<tspan>``/``<textPath>`` children) goes to WeasyPrint's own function unchanged.

pydyf (WeasyPrint's PDF writer) deflates every stream at zlib level 9
(``pydyf/__init__.py``, ``Stream.data``). On the report's 6.7 MB of page content that
takes 0.48 CPU-s against 0.11 at zlib's default level 6, for a file 3.6% larger (954 against
988 kB of streams): ``_Deflate`` gives pydyf level 6.

To size a table's columns WeasyPrint needs each cell's min-content width, the width of
its widest unbreakable piece. It finds it by calling ``split_first_line`` at a width of
zero once per word (``layout/preferred.py``, ``inline_line_widths``), each call making a
new Pango layout (font description, language, features) and measuring the word twice:
0.9 CPU-s for the shipped report's tables. ``MinContent`` breaks each text once, in one
layout, measures each distinct word once per font, and answers WeasyPrint's per-word
calls from that: the same break opportunities (Pango's), the same widths (each word
measured alone, as WeasyPrint measures it). Text whose breaking depends on more
(hyphenation, soft hyphens, letter or word spacing, ``overflow-wrap``, ``word-break``,
white space that is not ``normal``) goes to WeasyPrint. ``faster_weasyprint(check=True)``
asks WeasyPrint too and records every call where the two differ (a test runs the
report's tables that way).

WeasyPrint's PDF tags look up their page's reference once per box (``pdf/tags.py``,
``_build_box_tree``), and pydyf's ``PDF.page_references`` builds the tuple of every page's
reference on each call: 16,161 tuples of 97 for the shipped report, 0.6 CPU-s under the
profiler. ``_page_references`` keeps the tuple until a page is added.

WeasyPrint's user-agent stylesheet has rules for every element that our pages never
need: the pseudo-elements of footnotes and notes (``::footnote-call``, ``::note-marker``
...) and ``::marker`` on every element, ``[dir]`` and ``[hidden]`` attributes, form
controls, and the ``rules``/``frame`` attributes of tables. Each element's styles are
matched against them and a style is computed for each of its pseudo-elements: 0.6 CPU-s
of the cascade, 1.5 to 2 of the render in all. ``user_agent_css`` is WeasyPrint's own
sheet without those selectors (``::marker`` kept for ``li``, the only list items we
write); the pages are pixel-identical, and a test checks that the report's HTML uses none
of what was left out.

Every Pango layout WeasyPrint makes (33,271 for the shipped report: one per line of text
laid out, and again for each line drawn) builds a new Pango font description from the
style (``text/fonts.py``, ``get_font_description``). Pango copies the description into
the layout, so ``_FontDescriptions`` makes each distinct one once and hands it out again.

Every Pango layout is also set up from scratch (``text/line_break.py``, ``Layout.setup``):
a new Pango context, the language looked up, the font description, the decoration
metrics, the OpenType features string rebuilt. 30,330 layouts were set up for the shipped
report, from 849 distinct styles, and WeasyPrint's font cache key (the string of 14 style
values) was built 46,498 times for 978 (style, size) pairs. ``_LayoutSetup`` and
``_per_style`` make those once per style object: the render took 0.6 CPU-s less (5.91
against 5.30, the mean of four in-process renders each, interleaved).

To draw a line of text WeasyPrint reads each glyph's id, width and offsets as separate
cffi attributes and adds to the line's ``TJ`` string a piece at a time
(``draw/text.py``, ``draw_first_line``; 13,435 lines for the shipped report):
``fast_draw_first_line`` unpacks a run's glyph array at once. The PDF's writing took 0.33
CPU-s less (4.06 against 3.73, the mean of four writes each, interleaved).

Each line is shaped twice, to be laid out and to be drawn: ``_KeptLayouts`` keeps the
Pango layout a line was laid out in where the drawing's would be the same, and draws
from it. 22,987 layouts kept for the shipped report, 11,413 of them drawn from; the PDF's
writing took 0.96 CPU-s less (3.69 against 2.73, the mean of four builds each,
interleaved, the render unchanged within its noise: 5.95 against 6.10), for 11 MB more
memory at the peak (357 against 368 MB).

pydyf converts each item of a page's content stream with ``_to_bytes``, three
``isinstance`` tests per call (1,579,108 calls), though almost all items are bytes
already: ``_fast_to_bytes`` and ``_stream_data`` test the exact class first (about 0.1
CPU-s of the PDF's writing).

The patches are installed only while the report's PDF is rendered and written
(``faster_weasyprint``), so other users of WeasyPrint in the same process are not
affected, except a WeasyPrint render running in another thread at the same moment (the
patches are module attributes: one report is built at a time per process).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from functools import cache

_PER_LETTER = ("dx", "dy", "rotate", "textLength", "letter-spacing")


def _single(value: str | None) -> bool:
    """One coordinate (matplotlib's "53.28"), not a per-letter list ("1 2 3")."""
    if value is None:
        return True
    from weasyprint.svg.utils import normalize

    return " " not in normalize(value)


def fast_svg_text(original):
    """WeasyPrint's ``text(svg, node, font_size)`` with a one-layout path for a string
    at a single position; everything else goes to ``original``. The style WeasyPrint
    builds for a text and its Pango layout are made once per font and reused: a string
    is set into the layout, measured and drawn at once."""
    fonts: dict = {}  # font key -> (style, Layout)

    def font(svg, node, font_size):
        from weasyprint.css.properties import INITIAL_VALUES
        from weasyprint.svg.text import Style
        from weasyprint.text.line_break import Layout

        key = (node.get("font-family", "sans-serif"), node.get("font-style", "normal"),
               node.get("font-weight", 400), font_size, node.get("direction"),
               id(svg.font_config))
        if key not in fonts:
            # the style exactly as WeasyPrint's own function builds it
            style = Style()
            style.update(INITIAL_VALUES)
            style.font_config = svg.font_config
            style["font_family"] = [f.strip("\"'") for f in key[0].split(",")]
            style["font_style"] = key[1]
            weight = {"normal": 400, "bold": 700}.get(key[2], key[2])
            try:
                style["font_weight"] = int(weight)
            except ValueError:
                style["font_weight"] = 400
            style["font_size"] = font_size
            if key[4] in ("ltr", "rtl"):
                style["direction"] = key[4]
            fonts[key] = style, Layout(style)
        return fonts[key]

    def text(svg, node, font_size):
        attrib = node.attrib
        if (node.tag != "text" or not node.text or not node.text.strip()
                or len(node._etree_node)  # children (<tspan>): WeasyPrint's Node has no len
                or "\n" in node.text or any(k in attrib for k in _PER_LETTER)
                or not (_single(attrib.get("x")) and _single(attrib.get("y")))):
            return original(svg, node, font_size)
        from weasyprint.draw.text import draw_emojis, draw_first_line
        from weasyprint.matrix import Matrix
        from weasyprint.svg.bounding_box import extend_bounding_box
        from weasyprint.svg.text import TextBox
        from weasyprint.svg.utils import size
        from weasyprint.text.ffi import FROM_UNITS, pango
        from weasyprint.text.line_break import line_size

        # what split_first_line(text, style, context, inf, 0) measures, in one layout
        style, layout = font(svg, node, font_size)
        layout.set_text(node.text, justify=True)  # as reactivate() sets it for drawing
        line, _ = layout.get_first_line()
        width, height = line_size(line, style)
        baseline = pango.pango_layout_get_baseline(layout.layout) * FROM_UNITS
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
        svg.fill_stroke(fill, stroke, text=True)
        box = TextBox(layout, style)
        box.baseline = baseline
        emojis = draw_first_line(svg.stream, box, "none", "none", Matrix(d=-1, e=x, f=y))
        svg.stream.end_text()
        svg.stream.pop_state()
        draw_emojis(svg.stream, style, x, y, emojis)

    return text


def fast_draw_first_line(original):
    """WeasyPrint's ``draw_first_line(stream, textbox, text_overflow, block_ellipsis,
    matrix)`` (``draw/text.py``) reading each run's glyphs in one go. WeasyPrint reads
    every glyph's id, width and offsets as separate cffi attributes and builds the
    ``TJ`` string a piece at a time; here a run's ``PangoGlyphInfo`` array is unpacked
    at once with ``struct`` and its pieces joined: the same operators, strings, numbers,
    font widths and Unicode map, in the same order. A line WeasyPrint would draw with
    more (ellipsis, a glyph missing from the fonts, a glyph raised or lowered, a bitmap,
    colour or emoji font) goes to ``original`` whole, before anything is written."""
    import struct

    from weasyprint.text.ffi import FROM_UNITS, ffi, pango

    size = ffi.sizeof("PangoGlyphInfo")
    if (size < 16 or ffi.offsetof("PangoGlyphInfo", "geometry") != 4
            or ffi.sizeof("PangoGlyph") != 4 or ffi.sizeof("PangoGlyphGeometry") != 12):
        return original  # not the struct this reads
    unpack = struct.Struct("=Iiii" + "x" * (size - 16)).iter_unpack
    empty, unknown = pango.PANGO_GLYPH_EMPTY, pango.PANGO_GLYPH_UNKNOWN_FLAG
    old_pango = pango.pango_version() < 14802  # WeasyPrint's pango issue 530 workaround

    def draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix):
        if text_overflow == "ellipsis" or block_ellipsis != "none":
            return original(stream, textbox, text_overflow, block_ellipsis, matrix)
        if not textbox.text.strip() or textbox.style["font_size"] < 1e-6:
            return []
        layout = textbox.pango_layout
        pango.pango_layout_set_single_paragraph_mode(layout.layout, True)
        first_line, _ = layout.get_first_line()
        runs = []
        run = first_line.runs[0]
        while run != ffi.NULL:
            glyph_item = run.data
            run = run.next
            glyph_string = glyph_item.glyphs
            count = glyph_string.num_glyphs
            glyphs = list(unpack(ffi.buffer(glyph_string.glyphs, count * size))) if count else []
            pango_font = glyph_item.item.analysis.font
            font, font_size = stream.add_font(pango_font)  # registered as WeasyPrint does
            if (font.bitmap or font.png or font.svg or font.colr
                    or any(g & unknown or y for g, _, _, y in glyphs)):
                return original(stream, textbox, text_overflow, block_ellipsis, matrix)
            if old_pango:
                font_size = textbox.style["font_size"]
            runs.append((glyph_item, glyph_string, glyphs, pango_font, font, font_size))

        stream.set_text_matrix(*matrix.values)
        previous = None
        string = ""
        for glyph_item, glyph_string, glyphs, pango_font, run_font, run_size in runs:
            if pango_font != previous:
                previous, font, font_size = pango_font, run_font, run_size
                if string:
                    stream.show_text(string)
                string = ""
                stream.set_font_size(font.hash, font_size)
            widths, to_unicode = font.widths, font.to_unicode
            count = len(glyphs)
            parts = ["<"]
            for i, (glyph_id, width, x_offset, _) in enumerate(glyphs):
                if glyph_id == empty:  # a zero-width empty glyph
                    parts.append(f">{-width / font_size}<")
                    continue
                if glyph_id not in to_unicode:  # its text, from the cluster it starts
                    item, clusters = glyph_item.item, glyph_string.log_clusters
                    t1 = clusters[i]
                    if item.analysis.level % 2:  # rtl
                        t2 = item.length if i == 0 else clusters[i - 1]
                    else:
                        t2 = item.length if i == count - 1 else clusters[i + 1]
                    to_unicode[glyph_id] = layout.text.encode()[
                        item.offset + t1:item.offset + t2].decode()
                offset = x_offset / font_size
                if offset:
                    parts.append(f">{-offset}<")
                parts.append(f"{glyph_id:04x}")
                logical_width = widths.get(glyph_id)
                if logical_width is None:
                    pango.pango_font_get_glyph_extents(
                        pango_font, glyph_id, stream.ink_rect, stream.logical_rect)
                    logical_width = widths[glyph_id] = round(
                        stream.logical_rect.width * 1000 * FROM_UNITS / font_size)
                kerning = logical_width + offset - width * 1000 * FROM_UNITS / font_size
                if kerning:
                    parts.append(f">{int(kerning)}<")
            piece = "".join(parts)
            string += piece[:-1] if piece[-1] == "<" else piece + ">"
        stream.show_text(string)
        return []

    return draw_first_line


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


class MinContent:
    """WeasyPrint's ``split_first_line`` as ``inline_line_widths`` calls it for a
    min-content width (``max_width=0, minimum=True``), answered from one layout per text,
    and for a max-content width (``max_width=None``): the width of the text on one line,
    measured once per font and text (4,379 calls for the shipped report, 2,922 distinct).
    Only the resume index and the width are read by that caller."""

    def __init__(self, original, check: bool = False):
        self.original = original
        self.check = check
        self.answers: dict = {}  # (font key, suffix) -> (resume index, width)
        self.words: dict = {}  # (font key, word) -> width
        self.widest: dict = {}  # (font key, text) -> its width on one line
        self.mismatches: list = []
        self.calls = self.fast = 0

    @staticmethod
    def _eligible(style, text: str) -> bool:
        return (style["white_space"] == "normal" and style["letter_spacing"] == "normal"
                and not style["word_spacing"] and style["hyphens"] != "auto"
                and style["overflow_wrap"] == "normal" and style["word_break"] == "normal"
                and style["font_size"] > 0
                and not any(c in text for c in "\xad\t\n")
                # only spaces: WeasyPrint keeps the width of a line that is only a
                # space (3.39 pt at 8 pt), where a piece of words drops its trailing ones
                and text.strip(" ") != "")

    @staticmethod
    def _key(style) -> str:
        from weasyprint.text.line_break import _font_style_cache_key

        return _font_style_cache_key(style, include_size=True) + repr(
            (style["font_kerning"], style["direction"], id(style.font_config)))

    def _learn(self, key: str, text: str, style, context, spacing) -> None:
        """Break ``text`` at every opportunity (one Pango layout at width 0) and record,
        for the suffix starting at each piece, where the next piece starts and the width
        of the piece without its trailing spaces."""
        from weasyprint.text.ffi import ffi, pango
        from weasyprint.text.line_break import create_layout, line_size

        data = text.encode()
        layout = create_layout(text, style, context, 0, spacing)
        starts = []
        while (line := pango.pango_layout_get_line_readonly(
                layout.layout, len(starts))) != ffi.NULL:  # NULL past the last line
            starts.append(line.start_index)
        count = len(starts)
        measure = None
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < count else len(data)
            word = data[start:end].decode().rstrip(" ")
            width = self.words.get((key, word))
            if width is None:
                if measure is None:
                    measure = create_layout("", style, context, None, spacing)
                measure.set_text(word)
                width = line_size(measure.get_first_line()[0], style)[0] if word else 0
                self.words[(key, word)] = width
            resume = end - start if i + 1 < count else None
            self.answers.setdefault((key, data[start:].decode()), (resume, width))

    @staticmethod
    def _one_line(text: str, style, context, spacing) -> float:
        """The width of ``text`` laid out with no width, as ``split_first_line`` measures
        it at ``max_width=None`` (its first and only line, trailing spaces included)."""
        from weasyprint.text.line_break import create_layout, line_size

        layout = create_layout(text, style, context, None, spacing)
        return line_size(layout.get_first_line()[0], style)[0]

    def __call__(self, text, style, context, max_width, justification_spacing,
                 is_line_start=True, minimum=False):
        self.calls += 1
        if (max_width not in (0, None) or not minimum or not text
                or not self._eligible(style, text)):
            return self.original(text, style, context, max_width, justification_spacing,
                                 is_line_start=is_line_start, minimum=minimum)
        key = self._key(style)
        if max_width is None:  # one line: no newline, white space "normal" (_eligible)
            resume, width = None, self.widest.get((key, text))
            if width is None:
                width = self.widest[(key, text)] = self._one_line(
                    text, style, context, justification_spacing)
        else:
            if (key, text) not in self.answers:
                self._learn(key, text, style, context, justification_spacing)
            resume, width = self.answers[(key, text)]
        self.fast += 1
        if self.check:
            own = self.original(text, style, context, max_width, justification_spacing,
                                is_line_start=is_line_start, minimum=minimum)
            if own[2] != resume or abs(own[3] - width) > 1e-9:
                self.mismatches.append((text, (own[2], own[3]), (resume, width)))
        return None, None, resume, width, None, None


def _page_references(self) -> tuple:
    """pydyf's ``PDF.page_references``, rebuilt only when the number of pages changed."""
    kids = self.pages["Kids"]
    cached = self.__dict__.get("_metasynth_page_references")
    if cached is None or cached[0] != len(kids):
        cached = (len(kids), tuple(f"{n} 0 R".encode("ascii") for n in kids[::3]))
        self.__dict__["_metasynth_page_references"] = cached
    return cached[1]


# selectors of WeasyPrint's user-agent sheet that cannot match our pages (see above)
_UNUSED = re.compile(
    r"::(?:footnote|note)-|\[(?:dir|hidden|rules|frame|value|type|multiple|selected"
    r"|checked|seamless)\b|\b(?:input|button|select|textarea|keygen|option|optgroup"
    r"|fieldset)\b")


@contextmanager
def _library_search_without_compiler():
    """``ctypes.util.find_library`` answered from the dynamic linker's cache alone, while
    WeasyPrint is imported.

    WeasyPrint loads each of its seven C libraries by trying names in turn
    (``text/ffi.py``, ``_dlopen``): "libgobject-2.0-0", "gobject-2.0-0", "gobject-2.0",
    ..., "libgobject-2.0.so.0". cffi hands a name it cannot load to ``find_library``,
    which on Linux runs ``ldconfig -p``, then ``gcc -Wl,-t`` (gcc, collect2 and ld) and
    ``ld -t`` for each name that ldconfig does not know: 86 processes and 0.16-0.19
    CPU-s of children for every ``import weasyprint`` on a machine with a compiler.
    The names that a compiler's link search finds and ldconfig does not are the
    Windows and macOS spellings, which fail either way; every list ends with the
    library's soname, which the dynamic linker loads itself (``LD_LIBRARY_PATH``
    included). So the same libraries are loaded (a test), without the probes."""
    import ctypes.util
    import sys

    ldconfig = getattr(ctypes.util, "_findSoname_ldconfig", None)
    if not sys.platform.startswith("linux") or ldconfig is None:
        yield
        return
    original = ctypes.util.find_library
    ctypes.util.find_library = ldconfig
    try:
        yield
    finally:
        ctypes.util.find_library = original


def import_weasyprint():
    """``import weasyprint``, without its compiler probes on Linux
    (``_library_search_without_compiler``)."""
    import sys

    if "weasyprint" not in sys.modules:
        with _library_search_without_compiler():
            import weasyprint  # noqa: F401
    return sys.modules["weasyprint"]


def _selectors(prelude: str) -> list[str]:
    """A selector list split at its top-level commas."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(prelude):
        depth += (ch in "([") - (ch in ")]")
        if ch == "," and depth == 0:
            parts.append(prelude[start:i].strip())
            start = i + 1
    return parts + [prelude[start:].strip()]


@cache
def user_agent_css() -> str:
    """WeasyPrint's ``html5_ua.css`` without the selectors in ``_UNUSED``, and with
    ``::marker`` as ``li::marker``; every other rule as WeasyPrint wrote it."""
    from importlib.resources import files

    import tinycss2

    source = (files("weasyprint") / "css" / "html5_ua.css").read_text(encoding="utf-8")
    out = []
    for rule in tinycss2.parse_stylesheet(source, skip_comments=True, skip_whitespace=True):
        if rule.type != "qualified-rule":  # @page and the other at-rules, as they are
            out.append(rule.serialize())
            continue
        kept = ["li::marker" if sel == "::marker" else sel
                for sel in _selectors(tinycss2.serialize(rule.prelude).strip())
                if not _UNUSED.search(sel)]
        if kept:
            out.append(", ".join(kept) + " {" + tinycss2.serialize(rule.content) + "}")
    return "\n".join(out)


@cache
def _user_agent_sheet():
    import weasyprint

    return weasyprint.CSS(string=user_agent_css())


def _ua_stylesheets(original):
    def sheets(self, forms=False):
        return original(self, forms) if forms else [_user_agent_sheet()]

    return sheets


class _FontDescriptions:
    """WeasyPrint's ``get_font_description(style)``, one per distinct font (the fields
    it reads from the style), kept for the build. Safe to share: Pango's
    ``pango_layout_set_font_description`` copies the description it is given."""

    FIELDS = ("font_family", "font_style", "font_stretch", "font_weight", "font_size",
              "font_variant_caps", "font_variation_settings")

    def __init__(self, original):
        self.original = original
        self.made: dict = {}

    def __call__(self, style):
        key = repr(tuple(style[f] for f in self.FIELDS))
        description = self.made.get(key)
        if description is None:
            description = self.made[key] = self.original(style)
        return description


class _OncePerStyle:
    """``make(style, *args)`` made once per style object (and args). A box's style is
    computed before layout and its font properties are not written after (WeasyPrint
    writes them in place only on new styles, before their first use: ``svg/text.py``,
    ``character_ratio``); each entry keeps its style, so an id is never reused while the
    entry lives."""

    def __init__(self, make):
        self.make = make
        self.made: dict = {}  # (id(style), *args) -> (style, made)

    def __call__(self, style, *args):
        entry = self.made.get((id(style), *args))
        if entry is None or entry[0] is not style:
            entry = self.made[(id(style), *args)] = (style, self.make(style, *args))
        return entry[1]


def _per_style(original):
    """WeasyPrint's ``_font_style_cache_key(style, include_size)`` once per style object
    (``_OncePerStyle``). It builds the string of a tuple of 14 style values on each call:
    46,498 calls for the shipped report, on 978 distinct (style, include_size) pairs,
    0.24 s."""
    once = _OncePerStyle(original)

    def key(style, include_size=False):
        return once(style, include_size)

    return key


class _LayoutSetup:
    """WeasyPrint's ``Layout.setup(style)`` with what depends on the style alone made once
    per style object: the Pango context (font map, base direction, language, unrounded
    glyph positions), the language, the font description, the decoration metrics and the
    OpenType features attribute. Each layout still gets its own ``PangoLayout`` and
    attribute list (``set_text`` adds letter and word spacing to that list in place).
    30,330 layouts were set up for the shipped report, from 849 distinct styles.

    A shared context is how Pango is meant to be used (one per widget in GTK): a layout
    takes its own reference and reads the context's settings, which are never changed
    after they are made here. Same calls as WeasyPrint 70's ``setup``, in the same order
    for each layout; the PDF is byte-identical (a test)."""

    def __init__(self, original):
        # ``original`` (WeasyPrint's setup) is replaced whole: every call it makes is here
        self.prepared = _OncePerStyle(self._prepare)

    def _prepare(self, style) -> tuple:
        from weasyprint.text.constants import LST_TO_ISO, PANGO_DIRECTION
        from weasyprint.text.ffi import FROM_UNITS, ffi, gobject, pango, unicode_to_char_p
        from weasyprint.text.fonts import font_features
        from weasyprint.text.line_break import get_font_description

        context = ffi.gc(pango.pango_font_map_create_context(style.font_config.font_map),
                         gobject.g_object_unref)
        pango.pango_context_set_round_glyph_positions(context, False)
        pango.pango_context_set_base_dir(context, PANGO_DIRECTION[style["direction"]])
        if style["font_language_override"] != "normal":
            lang_p, lang = unicode_to_char_p(LST_TO_ISO.get(
                style["font_language_override"].lower(), style["font_language_override"]))
        elif style["lang"]:
            lang_p, lang = unicode_to_char_p(style["lang"])
        else:
            lang = None
            language = pango.pango_language_get_default()
        if lang:
            language = pango.pango_language_from_string(lang_p)
            pango.pango_context_set_language(context, language)
        assert not isinstance(style["font_family"], str), "font_family should be a list"
        description = get_font_description(style)
        if style["text_decoration_line"] != "none":
            metrics = ffi.gc(pango.pango_context_get_metrics(context, description, language),
                             pango.pango_font_metrics_unref)
            decoration = {
                "ascent": FROM_UNITS * pango.pango_font_metrics_get_ascent(metrics),
                "underline_position":
                    FROM_UNITS * pango.pango_font_metrics_get_underline_position(metrics),
                "strikethrough_position":
                    FROM_UNITS * pango.pango_font_metrics_get_strikethrough_position(metrics),
                "underline_thickness":
                    FROM_UNITS * pango.pango_font_metrics_get_underline_thickness(metrics),
                "strikethrough_thickness":
                    FROM_UNITS * pango.pango_font_metrics_get_strikethrough_thickness(metrics)}
        else:
            decoration = {"ascent": None, "underline_position": None,
                          "strikethrough_position": None}
        features = font_features(
            style["font_kerning"], style["font_variant_ligatures"],
            style["font_variant_position"], style["font_variant_caps"],
            style["font_variant_numeric"], style["font_variant_alternates"],
            style["font_variant_east_asian"], style["font_feature_settings"])
        attribute = None
        if features:
            features = ",".join(f"{key} {value}" for key, value in features.items()).encode()
            cached = style.font_config.font_features  # WeasyPrint's cache, as it uses it
            attribute = cached.get(features)
            if attribute is None:
                attribute = cached[features] = pango.pango_attr_font_features_new(features)
        return context, language, description, decoration, attribute

    def __call__(self, layout, style) -> None:
        from weasyprint.text.ffi import ffi, gobject, pango

        context, language, description, decoration, attribute = self.prepared(style)
        layout.style = style
        layout.first_line_direction = 0
        layout.language = language
        layout.layout = ffi.gc(pango.pango_layout_new(context), gobject.g_object_unref)
        pango.pango_layout_set_auto_dir(layout.layout, False)
        pango.pango_layout_set_font_description(layout.layout, description)
        layout.__dict__.update(decoration)
        if attribute is not None:
            attributes = pango.pango_attr_list_new()
            pango.pango_attr_list_insert(attributes, attribute)
            pango.pango_layout_set_attributes(layout.layout, attributes)


# Pango's paragraph separators: a text without them is one paragraph in either mode
_PARAGRAPH_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")


class _KeptLayouts:
    """WeasyPrint shapes each line of text twice: to lay it out (``split_first_line``,
    whose ``first_line_metrics`` then drops the Pango layout, ``Layout.deactivate``) and
    again to draw it (``Layout.reactivate``: a new layout of the same text, which Pango
    shapes anew). Where the drawing's layout would be the same as the one dropped, this
    keeps it and draws from it.

    The same: the same style object; one line of text (the layout of a line that was
    split is reset to no width and that line's text; a line that fit keeps its width,
    which it fits in); no letter or word spacing, no justification and no
    ``overflow-wrap`` (``set_text(justify=True)`` would add attributes); no tab; and
    single-paragraph mode, which drawing sets (``draw_first_line``): ``set_text`` sets it
    already on a text without paragraph separators, where it changes nothing but saves
    Pango the new layout that setting it at drawing makes (and unsets it on any other)."""

    def __init__(self, set_text, deactivate, reactivate):
        self.own = set_text, deactivate, reactivate
        self.kept = self.reused = 0

    def set_text(self, layout, text, justify=False) -> None:
        from weasyprint.text.ffi import pango

        self.own[0](layout, text, justify)
        single = not any(c in layout.text for c in _PARAGRAPH_BREAKS)
        pango.pango_layout_set_single_paragraph_mode(layout.layout, single)
        layout._metasynth_single = single

    def deactivate(self, layout) -> None:
        style = layout.style
        if (layout.__dict__.get("_metasynth_single")
                and not layout.justification_spacing and not style["word_spacing"]
                and style["letter_spacing"] == "normal"
                and style["overflow_wrap"] not in ("anywhere", "break-word")
                and "\t" not in layout.text):
            layout._metasynth_kept = (style, layout.layout, layout.language)
            self.kept += 1
        self.own[1](layout)

    def reactivate(self, layout, style) -> None:
        kept = layout.__dict__.pop("_metasynth_kept", None)
        if kept is not None and kept[0] is style:
            layout.style, layout.layout, layout.language = kept
            layout.first_line_direction = 0
            self.reused += 1
            return
        self.own[2](layout, style)


def _fast_to_bytes(original):
    """pydyf's ``_to_bytes(item)`` with the types it is given most tested first, by
    exact class: bytes (most items of a page's content stream, returned as they are),
    floats, strings and ints, each converted as pydyf converts it; anything else goes to
    pydyf's own function. 1,579,108 calls for the shipped report, each running
    ``isinstance`` up to three times."""

    def to_bytes(item):
        cls = item.__class__
        if cls is bytes:
            return item
        if cls is float:
            if item.is_integer():
                return b"%d" % item  # str(int(item)), for every integral float
            return f"{item:f}".rstrip("0").encode("ascii")
        if cls is str:
            return item.encode("ascii")  # UnicodeEncodeError as pydyf's (String.data)
        if cls is int:
            return b"%d" % item
        return original(item)

    return to_bytes


def _stream_data(self) -> bytes:
    """pydyf's ``Stream.data``, joining the items that are bytes already (almost all of
    a page's content stream: 642,895 items for the shipped report) without a call each.
    The rest as pydyf writes it: its dictionary, its deflate (``_Deflate``), its length."""
    import pydyf

    to_bytes = pydyf._to_bytes
    stream = b"\n".join([item if item.__class__ is bytes else to_bytes(item)
                         for item in self.stream])
    extra = pydyf.Dictionary(self.extra.copy())
    if self.compress:
        extra["Filter"] = "/FlateDecode"
        compressobj = pydyf.zlib.compressobj(level=9)
        stream = compressobj.compress(stream)
        stream += compressobj.flush()
    extra["Length"] = len(stream)
    return b"\n".join((extra.data, b"stream", stream, b"endstream"))


class _Deflate:
    """pydyf's view of the ``zlib`` module: the same, but level 6 for ``compressobj``."""

    def __init__(self, zlib):
        self._zlib = zlib

    def compressobj(self, level: int = -1, *args, **kwargs):
        return self._zlib.compressobj(min(level, 6), *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._zlib, name)


# The WeasyPrint majors these fast paths were written against and checked on (the
# report's pages pixel for pixel, every min-content answer against WeasyPrint's own):
# they reach into its internals, so under another major the report is built by
# WeasyPrint alone, slower and the same.
TESTED_MAJORS = ("70",)
# ``_fast_to_bytes`` and ``_stream_data`` restate pydyf's conversions: only under the
# pydyf releases they were compared with (a test compares them byte for byte)
TESTED_PYDYF = ("0.13",)


def active() -> bool:
    """Whether ``faster_weasyprint`` patches anything under the installed WeasyPrint."""
    import weasyprint

    return weasyprint.__version__.split(".")[0] in TESTED_MAJORS


@contextmanager
def faster_weasyprint(check: bool = False):
    """Install ``fast_svg_text``, ``fast_draw_first_line``, ``_KeptLayouts``, ``MinContent``,
    ``user_agent_css``, ``_FontDescriptions``, ``_LayoutSetup``, ``_per_style``,
    ``_page_references``, ``_Deflate``, ``_fast_to_bytes``, ``_stream_data`` and
    ``ResolvedPercentages`` (report/percentages.py), ``FirstLines`` (report/lines.py) and
    ``BatchedBorders`` (report/borders.py) for a render and its ``write_pdf``, and restore
    WeasyPrint's and pydyf's own after. Yields the ``MinContent``: its counts and, with
    ``check``, its disagreements with WeasyPrint; its ``percentages``, ``lines`` and
    ``borders`` attributes are the ``ResolvedPercentages``, the ``FirstLines`` and the
    ``BatchedBorders``, with their own.

    ``weasyprint.svg`` compares ``TAGS.get(node.tag) == text`` to find text nodes (for
    ``text-anchor``), so the module's name ``text`` and every ``TAGS`` entry that points
    to it are replaced together."""
    import pydyf

    weasyprint = import_weasyprint()
    import weasyprint.draw as draw
    import weasyprint.draw.text as draw_text
    import weasyprint.layout.inline as inline
    import weasyprint.layout.percent as percent
    import weasyprint.layout.preferred as preferred
    import weasyprint.svg as wsvg
    import weasyprint.text.line_break as line_break

    from metasynth.report.borders import BatchedBorders
    from metasynth.report.lines import FirstLines
    from metasynth.report.percentages import ResolvedPercentages

    min_content = MinContent(preferred.split_first_line, check)
    min_content.percentages = min_content.lines = min_content.borders = None
    if not active():
        yield min_content
        return
    resolved = min_content.percentages = ResolvedPercentages(percent.resolve_percentages, check)
    lines = min_content.lines = FirstLines(inline.split_first_line, check)
    borders = min_content.borders = BatchedBorders(draw.draw_collapsed_borders)
    text = fast_svg_text(wsvg.text)
    kept = _KeptLayouts(line_break.Layout.set_text, line_break.Layout.deactivate,
                        line_break.Layout.reactivate)
    patches = [(wsvg, "text", text), (preferred, "split_first_line", min_content),
               (inline, "split_first_line", lines),
               (draw, "draw_collapsed_borders", borders),
               (pydyf, "zlib", _Deflate(pydyf.zlib)),
               (pydyf.PDF, "page_references", property(_page_references)),
               (line_break, "get_font_description",
                _FontDescriptions(line_break.get_font_description)),
               (line_break, "_font_style_cache_key",
                _per_style(line_break._font_style_cache_key)),
               (line_break.Layout, "setup", _method(_LayoutSetup(line_break.Layout.setup))),
               *((line_break.Layout, name, _method(getattr(kept, name)))
                 for name in ("set_text", "deactivate", "reactivate")),
               (weasyprint.HTML, "_ua_stylesheets",
                _ua_stylesheets(weasyprint.HTML._ua_stylesheets))]
    patches += [(wsvg.TAGS, k, text) for k, f in wsvg.TAGS.items() if f is wsvg.text]
    # every module that took resolve_percentages by name
    patches += [(module, "resolve_percentages", resolved) for module in _importers(
        "weasyprint.layout", percent.resolve_percentages)]
    patches.append((draw_text, "draw_first_line", fast_draw_first_line(draw_text.draw_first_line)))
    if ".".join(pydyf.__version__.split(".")[:2]) in TESTED_PYDYF:
        patches += [(pydyf, "_to_bytes", _fast_to_bytes(pydyf._to_bytes)),
                    (pydyf.Stream, "data", property(_stream_data))]
    saved = [(owner, name, _get(owner, name)) for owner, name, _ in patches]
    for owner, name, new in patches:
        _set(owner, name, new)
    try:
        yield min_content
    finally:
        for owner, name, old in reversed(saved):
            _set(owner, name, old)


def _method(function):
    """A callable object as a method (a plain function is a descriptor, an instance is
    not)."""
    def method(self, *args, **kwargs):
        return function(self, *args, **kwargs)
    method.__wrapped__ = function
    return method


def _importers(package: str, function) -> list:
    """The modules of ``package`` (imported by now) that hold ``function`` by its name."""
    import sys

    return [module for name, module in sorted(sys.modules.items())
            if (name == package or name.startswith(package + "."))
            and getattr(module, function.__name__, None) is function]


def _get(owner, name):
    return owner[name] if isinstance(owner, dict) else getattr(owner, name)


def _set(owner, name, value) -> None:
    if isinstance(owner, dict):
        owner[name] = value
    else:
        setattr(owner, name, value)
