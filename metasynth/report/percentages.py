"""WeasyPrint's used margins, paddings, widths and heights, resolved once per style and
containing block.

``weasyprint.layout.percent.resolve_percentages(box, containing_block)`` sets 15 used
values on a box from its computed style: each margin, padding, width and height, with
percentages of the containing block's width or height and ``calc()`` resolved, then less
the padding and borders where ``box-sizing`` asks for it. It runs for every box each time
it is laid out, and for the margin boxes of every page: 27,450 times for the shipped
report, about 13 style lookups and ``setattr`` each (1.2 of 9.1 s of a profiled render).
The values depend on the style, on whether the box is a page, and on the containing
block's width and height, nothing else, except the border widths of a box in a table
with collapsed borders, which table layout has set on the box before: those are applied
as WeasyPrint applies them, on every call, and a collapsed-border box that also sizes as
``border-box`` (whose used width subtracts those borders) is always resolved by
WeasyPrint itself.

A style object is not written after layout starts, except by grid layout, which sets a
grid item's ``width`` and ``height`` in its style (``layout/grid.py``): those two values
are part of the key. Each entry keeps its style, so an id is never reused while the entry
lives. ``check=True`` also resolves every reused call with WeasyPrint, on a copy of the
box, and records each difference (tests/test_report_speed.py).
"""

from __future__ import annotations

SIDES = ("top", "right", "bottom", "left")
BORDERS = tuple(f"border_{side}_width" for side in SIDES)
# what resolve_percentages sets, besides the border widths
USED = (*(f"margin_{side}" for side in SIDES), *(f"padding_{side}" for side in SIDES),
        "width", "min_width", "max_width", "height", "min_height", "max_height")


class ResolvedPercentages:
    def __init__(self, original, check: bool = False):
        from weasyprint.formatting_structure import boxes

        self.original, self.check = original, check
        self.box_class, self.page_class = boxes.Box, boxes.PageBox
        self.resolved: dict = {}  # key -> (style, {name: used value})
        self.calls = self.reused = 0
        self.differences: list = []

    def __call__(self, box, containing_block) -> None:
        self.calls += 1
        style = box.style
        collapse = style["border_collapse"] == "collapse"
        if collapse and style["box_sizing"] == "border-box":
            return self.original(box, containing_block)
        if isinstance(containing_block, self.box_class):
            cb = (containing_block.width, containing_block.height)
        else:
            cb = tuple(containing_block)
        key = (id(style), *cb, isinstance(box, self.page_class), style["width"],
               style["height"])
        try:
            entry = self.resolved.get(key)
        except TypeError:  # a value that cannot be a key (a calc() expression)
            return self.original(box, containing_block)
        if entry is None or entry[0] is not style:
            self.original(box, containing_block)
            self.resolved[key] = (style, {name: getattr(box, name) for name in USED})
            return None
        self.reused += 1
        used = entry[1]
        if self.check:  # WeasyPrint's answer, on a copy of the box as it is now
            import copy

            own = copy.copy(box)
            self.original(own, containing_block)
            expected = {name: getattr(own, name) for name in (*USED, *BORDERS)}
        for name, value in used.items():
            setattr(box, name, value)
        for name in BORDERS:  # as WeasyPrint sets them: collapsed borders are the box's
            if not (collapse and hasattr(box, name)):
                setattr(box, name, style[name])
        if self.check:
            got = {name: getattr(box, name) for name in (*USED, *BORDERS)}
            if got != expected:
                self.differences.append((type(box).__name__, expected, got))
        return None
