"""WeasyPrint's first line of a text, fitted once per style, text and width.

``weasyprint.text.line_break.split_first_line(text, style, context, max_width,
justification_spacing, is_line_start, minimum)`` fits as much of ``text`` as it can on
one line of ``max_width``: it shapes the text with Pango three or four times on the way
(a draft, the first word of the next line tried on this one, the final line). Inline
layout (``layout/inline.py``, ``split_text_box``) asks it again, with the same
arguments, whenever the same text is laid out again: a table that does not fit at the
foot of a page is laid out there and then again on the next page, the row a page breaks
in is laid out on both pages, a repeated header row on every page, the running header
on all 97 pages; and cells that read the same ("Low", "Not serious") share a style.
For the shipped report that is 3,495 of its 9,902 calls.

The answer depends on those arguments only: the style object (never written after
layout starts, except a grid item's ``width`` and ``height``, which do not reach the
text's own line), the text, the width, the spacing, and the two flags; ``context`` is
read only for hyphenation dictionaries, which are loaded once and never change. It is
``(layout, length, resume_index, width, height, baseline)``: numbers, and a Pango
``Layout`` that ``first_line_metrics`` has already deactivated (its text and widths,
no Pango object). Each box gets its own ``Layout``: a repeated answer hands a copy, so
drawing one box (``reactivate``, an ellipsis that resets the text) never changes
another's. A copy takes over the shaped layout ``_KeptLayouts`` keeps for drawing
(report/weasy.py) when the first box has not used it yet: the boxes laid out and then
dropped (the table moved to the next page) leave it to the one that is drawn.

Each entry keeps its style, so an id is never reused while the entry lives.
``check=True`` also asks WeasyPrint for every repeated answer and records each
difference (tests/test_report_speed.py).
"""

from __future__ import annotations

import copy

# what a deactivated Layout carries into drawing, compared in check mode
LAYOUT_FIELDS = ("text", "max_width", "justification_spacing", "first_line_direction")


class FirstLines:
    def __init__(self, original, check: bool = False):
        self.original, self.check = original, check
        self.answers: dict = {}  # key -> (style, answer)
        self.calls = self.reused = 0
        self.differences: list = []

    def __call__(self, text, style, context, max_width, justification_spacing,
                 is_line_start=True, minimum=False):
        self.calls += 1
        key = (id(style), text, max_width, justification_spacing, is_line_start, minimum)
        entry = self.answers.get(key)
        if entry is None or entry[0] is not style:
            answer = self.original(text, style, context, max_width, justification_spacing,
                                   is_line_start=is_line_start, minimum=minimum)
            self.answers[key] = (style, answer)
            return answer
        self.reused += 1
        first, *numbers = entry[1]
        layout = copy.copy(first)
        # the shaped layout kept for drawing goes to one box only (the next to draw it)
        first.__dict__.pop("_metasynth_kept", None)
        if self.check:
            own = self.original(text, style, context, max_width, justification_spacing,
                                is_line_start=is_line_start, minimum=minimum)
            expected = (*(getattr(own[0], f) for f in LAYOUT_FIELDS), *own[1:])
            got = (*(getattr(layout, f) for f in LAYOUT_FIELDS), *numbers)
            if got != expected:
                self.differences.append((text, expected, got))
        return (layout, *numbers)
