"""The page skeleton of the rendered report, applied once to the whole HTML so that every
section gets it, whoever wrote the section's template:

- every heading (h2, h3) has an id and a link to itself (``a.anchor``, screen only), and
  the table of contents (``<nav class="toc">``) links to every h2 (its h3s nested under
  it): a sidebar that stays on screen at desktop width, on top of the page on a phone;
- every table's leading header rows are a ``<thead>`` (the PDF repeats them on every
  page), every table has a ``<caption>`` (the nearest heading, for screen readers, when
  the template gave none) and sits in a horizontal scroll container;
- every figure (inline SVG) has ids of its own (prefixed "figN-") and is an image with an
  accessible name (``role="img"``,
  ``aria-label`` and an SVG ``<title>``).

The HTML is the report's own (Jinja2 output, no nested tables), so regular expressions
over it are enough; none of this changes a number or a word of the sections.
"""

from __future__ import annotations

import html as _html
import re

_HEADING = re.compile(r"<h([23])([^>]*)>(.*?)</h\1>", re.S)
_TABLE = re.compile(r"<table([^>]*)>(.*?)</table>", re.S)
_ROW = re.compile(r"\s*<tr[^>]*>.*?</tr>", re.S)
_SVG_OPEN = re.compile(r"<svg\b([^>]*)>")
_TAGS = re.compile(r"<[^>]+>")
TOC_MARK = "<!-- toc -->"


def plain(fragment: str) -> str:
    """Text of an HTML fragment, tags dropped, whitespace collapsed."""
    return " ".join(_html.unescape(_TAGS.sub(" ", fragment)).split())


def _slug(text: str, seen: set) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"
    if base[0].isdigit():
        base = "s-" + base
    slug, n = base, 2
    while slug in seen:
        slug, n = f"{base}-{n}", n + 1
    seen.add(slug)
    return slug


def _headings(doc: str) -> tuple[str, list]:
    seen = set(re.findall(r'\sid="([^"]+)"', doc))
    found = []

    def add_id(m: re.Match) -> str:
        level, attrs, inner = m.group(1), m.group(2), m.group(3)
        text = plain(inner)
        own = re.search(r'\sid="([^"]+)"', attrs)
        hid = own.group(1) if own else _slug(text, seen)
        found.append((int(level), hid, text, m.start()))
        if own:
            return m.group(0)
        return f'<h{level}{attrs} id="{hid}">{inner}</h{level}>'

    return _HEADING.sub(add_id, doc), found


def _toc(found: list) -> str:
    items, open_sub = [], False
    for level, hid, text, _ in found:
        link = f'<a href="#{hid}">{_html.escape(text)}</a>'
        if level == 2:
            if open_sub:
                items.append("</ul></li>")
                open_sub = False
            elif items:
                items.append("</li>")
            items.append(f"<li>{link}")
        elif items:
            if not open_sub:
                items.append('<ul class="toc-sub">')
                open_sub = True
            items.append(f"<li>{link}</li>")
    if items:
        items.append("</ul></li>" if open_sub else "</li>")
    return "<ul>" + "".join(items) + "</ul>"


def _table(m: re.Match, caption: str) -> str:
    attrs, inner = m.group(1), m.group(2)
    if "<thead" not in inner:
        pos, head = 0, []
        while True:
            row = _ROW.match(inner, pos)
            if not row or "<td" in row.group(0) or "<th" not in row.group(0):
                break
            head.append(row.group(0))
            pos = row.end()
        if head:
            inner = "<thead>" + "".join(head) + "</thead>" + inner[pos:]
    if "<caption" not in inner and caption:
        inner = f'<caption class="sr">{_html.escape(caption)}</caption>' + inner
    # a short table is never split: a two-row tail alone on a page reads as a near-empty page
    keep = ' style="break-inside: avoid"' if (inner.count("<tr") <= SHORT_TABLE_ROWS
                                               and "style=" not in attrs) else ""
    return f'<div class="scroll"><table{attrs}{keep}>{inner}</table></div>'


SHORT_TABLE_ROWS = 6


def _figures(doc: str, found: list) -> str:
    starts = [f[3] for f in found]

    def label(m: re.Match) -> str:
        attrs = m.group(1)
        if "aria-label" in attrs:
            return m.group(0)
        i = sum(1 for s in starts if s < m.start()) - 1
        name = f"Figure: {found[i][2]}" if i >= 0 else "Figure"
        esc = _html.escape(name, quote=True)
        return f'<svg{attrs} role="img" aria-label="{esc}"><title>{esc}</title>'

    return _SVG_OPEN.sub(label, doc)


_SVG = re.compile(r"<svg\b.*?</svg>", re.S)


def _unique_svg_ids(doc: str) -> str:
    """matplotlib numbers the ids of each figure from 1 ("patch_1"): prefix them with the
    figure's number in the page, so no id occurs twice and every url(#...) and href
    still points into its own figure."""
    count = iter(range(1, 1_000_000))

    def one(m: re.Match) -> str:
        n = next(count)
        svg = m.group(0)
        svg = re.sub(r'\sid="([^"]+)"', lambda i: f' id="fig{n}-{i.group(1)}"', svg)
        svg = re.sub(r'(url\(#|href="#)([^")]+)', lambda r: f"{r.group(1)}fig{n}-{r.group(2)}",
                     svg)
        return svg

    return _SVG.sub(one, doc)


def finish_page(doc: str) -> str:
    """Ids on headings, the table of contents at ``TOC_MARK``, thead, captions and
    scroll containers on tables, accessible names on figures (each named for the
    nearest heading before it)."""
    doc = _unique_svg_ids(doc)
    doc, _ = _headings(doc)
    doc = _figures(doc, _headings(doc)[1])
    found = _headings(doc)[1]  # positions in the final text of the headings
    starts = [f[3] for f in found]

    def table(m: re.Match) -> str:
        i = sum(1 for s in starts if s < m.start()) - 1
        return _table(m, found[i][2] if i >= 0 else "")

    doc = _TABLE.sub(table, doc)
    doc = doc.replace(TOC_MARK, _toc([f for f in found if f[1] != "contents"]), 1)
    return _HEADING.sub(_self_link, doc)


def _self_link(m: re.Match) -> str:
    """A heading's link to itself (``#``, shown on screen only): a reader can copy the
    address of any section."""
    hid = re.search(r'\sid="([^"]+)"', m.group(2))
    if not hid or hid.group(1) == "contents":
        return m.group(0)
    return (f'<h{m.group(1)}{m.group(2)}>{m.group(3)}<a class="anchor" href="#{hid.group(1)}" '
            f'aria-label="Link to this section"></a></h{m.group(1)}>')


_ARIA = re.compile(r'aria-label="([^"]*)"')
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
_NO_ROTATION = re.compile(r' transform="rotate\(-?0 [^)]*\)"')
_GROUP = re.compile(r"<g\b([^>]*?)(/?)>|</g>")
_ID = re.compile(r'\s*id="[^"]*"')
_STYLE = re.compile(r' style="([^"]*)"')
_SHEET = re.compile(r"\s*<defs>\s*<style[^>]*>\*\{([^}]*)\}</style>\s*</defs>")
_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")
_REFERENCED = re.compile(r'(?:url\(#|href="#)([^")]+)')


def _attributes(declarations: str) -> str:
    """CSS declarations as SVG presentation attributes ("fill: #fff" -> fill="#fff")."""
    pairs = (d.split(":", 1) for d in declarations.split(";") if ":" in d)
    return " ".join(f'{k.strip()}="{v.strip()}"' for k, v in pairs)


def lean_svg(svg: str) -> str:
    """The same drawing in fewer SVG nodes, for WeasyPrint, which cascades and draws each
    node of a figure on its own (the figures were a fifth of the PDF's drawing time):

    - no ``<metadata>`` and no ``rotate(0 ...)`` transforms (matplotlib writes one on
      every text);
    - groups that carry nothing but an id nobody refers to are unwrapped (matplotlib
      wraps every artist in one);
    - every ``style="..."`` becomes presentation attributes, which WeasyPrint reads
      without a CSS parser; matplotlib's sheet ``*{stroke-linejoin: round;
      stroke-linecap: butt}`` becomes attributes of the root ``<svg>``, inherited by
      every node that sets no value of its own, as the sheet's rule was overridden by
      each node's own style.

    Text stays text, paths stay paths, every coordinate and colour is kept."""
    svg = _NO_ROTATION.sub("", _METADATA.sub("", svg))
    referenced = set(_REFERENCED.findall(svg))
    out, keep_stack, pos = [], [], 0
    for m in _GROUP.finditer(svg):
        out.append(svg[pos:m.start()])
        pos = m.end()
        if m.group(0) == "</g>":
            if keep_stack.pop():
                out.append("</g>")
            continue
        attrs = m.group(1)
        own_id = re.search(r'id="([^"]*)"', attrs)
        keep = bool(_ID.sub("", attrs).strip()) or bool(own_id and own_id.group(1) in referenced)
        if keep:
            out.append(m.group(0))
        if not m.group(2):  # "<g ...>" (not self-closing "<g .../>")
            keep_stack.append(keep)
    out.append(svg[pos:])
    svg = "".join(out)
    sheet = _SHEET.search(svg)
    if sheet:
        svg = svg[:sheet.start()] + svg[sheet.end():]
        svg = svg.replace("<svg ", f"<svg {_attributes(sheet.group(1))} ", 1)
    svg = _STYLE.sub(lambda m: " " + _attributes(m.group(1)), svg)
    return _BETWEEN_TAGS.sub("><", svg)  # indentation (text never holds a line break)


def svg_as_images(doc: str) -> str:
    """For WeasyPrint: each inline figure as an ``<img>`` of its SVG (a data URI, its
    accessible name as ``alt``), made lean (``lean_svg``). WeasyPrint then parses each
    figure once as an image instead of styling its thousands of nodes as part of the
    page: the same pages and the same text, about 15% less time to lay out and draw the
    PDF."""
    import base64

    def one(m: re.Match) -> str:
        svg = m.group(0)
        name = _ARIA.search(svg[:svg.index(">")])
        alt = name.group(1) if name else "Figure"
        data = base64.b64encode(lean_svg(svg).encode("utf-8")).decode("ascii")
        return f'<img alt="{alt}" src="data:image/svg+xml;base64,{data}">'

    return _SVG.sub(one, doc)
