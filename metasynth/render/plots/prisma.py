"""The PRISMA 2020 flow diagram (Page MJ, McKenzie JE, Bossuyt PM, et al. The PRISMA 2020
statement: an updated guideline for reporting systematic reviews. BMJ 2021;372:n71), in the
statement's layout: the phases Identification, Screening and Included down the left, the
flow of records and reports down the main column, and what left the flow at each step in
boxes to its right (as the PRISMA2020 R package draws it, Haddaway et al. 2022).

Every box is sized from its measured text, so no text can overlap a box edge or another
box; long lines are wrapped to a measured width. The words are ``render.text.frame``'s.
"""

from __future__ import annotations

from metasynth.render.plots.kit import FONT_SIZE, INK, MARGIN, Sheet

LINE = 0.19  # inches per text line
PAD = 0.10  # inside a box
ARROW = 0.30  # vertical gap between main boxes, with its arrow
SIDE_GAP = 0.45  # horizontal gap main -> side box, with its arrow
PHASE_W = 0.34  # the phase band's width
MAX_W = 3.1  # widest text line in a box (inches) before wrapping
HEAD = "#D9E8F5"  # PRISMA's pale blue phase and header boxes
EDGE = "#1a1a1a"


def wrap(sheet: Sheet, lines: list[str], max_w: float, size: float = FONT_SIZE) -> list[str]:
    """Greedy word wrap by measured width; an indented line keeps its indent when wrapped."""
    out = []
    for line in lines:
        indent = line[: len(line) - len(line.lstrip())]
        words, cur = line.strip(" ").split(" "), indent  # not at no-break spaces
        for w in words:
            trial = f"{cur} {w}" if cur.strip() else f"{indent}{w}"
            if sheet.width(trial, size=size) <= max_w or not cur.strip():
                cur = trial
            else:
                out.append(cur)
                cur = f"{indent}   {w}"
        out.append(cur)
    return out


def _box(sheet: Sheet, x: float, y_top: float, w: float, h: float, lines: list[str],
         fill: str = "white", bold_first: bool = False) -> None:
    from matplotlib.patches import Rectangle

    sheet.fig.patches.append(Rectangle((x, y_top - h), w, h, transform=sheet.inch, fill=True,
                                       facecolor=fill, edgecolor=EDGE, lw=0.8))
    y = y_top - PAD - LINE / 2
    for i, line in enumerate(lines):
        sheet.put(x + PAD, y, line, bold=bold_first and i == 0)
        y -= LINE


def _arrow(sheet: Sheet, x0: float, y0: float, x1: float, y1: float) -> None:
    from matplotlib.patches import FancyArrowPatch

    sheet.fig.patches.append(FancyArrowPatch((x0, y0), (x1, y1), transform=sheet.inch,
                                             arrowstyle="-|>", mutation_scale=9, lw=0.8,
                                             color=INK, shrinkA=0, shrinkB=0))


def _height(lines: list[str]) -> float:
    return 2 * PAD + LINE * len(lines)


def prisma_plot(flow, title: str | None = None):
    """The flow diagram of ``flow`` (``records.review.Flow``) as a matplotlib Figure."""
    from matplotlib.patches import FancyBboxPatch

    from metasynth.render.text.frame import prisma_boxes

    boxes = prisma_boxes(flow)
    sheet = Sheet()
    rows = [(phase, [wrap(sheet, main, MAX_W), wrap(sheet, side, MAX_W) if side else None])
            for phase, main, side in boxes["rows"]]
    head = wrap(sheet, [title or boxes["header"]], 2 * MAX_W + SIDE_GAP)
    notes = wrap(sheet, boxes["notes"], 2 * MAX_W + SIDE_GAP + PHASE_W, size=FONT_SIZE - 1)

    def text_w(lines):
        return max(sheet.width(t) for t in lines) + 2 * PAD

    main_w = max(text_w(m) for _, (m, _) in rows)
    side_w = max(text_w(s) for _, (_, s) in rows if s)
    x_phase = MARGIN
    x_main = x_phase + PHASE_W + 0.15
    x_side = x_main + main_w + SIDE_GAP
    width = x_side + side_w + MARGIN
    width = max(width, x_main + max(sheet.width(t, True) for t in head) + 2 * PAD + MARGIN,
                MARGIN + max([sheet.width(n, size=FONT_SIZE - 1) for n in notes] + [0]) + MARGIN)
    row_h = [max(_height(m), _height(s) if s else 0) for _, (m, s) in rows]
    head_h = _height(head)
    notes_h = LINE * 0.9 * len(notes) + (0.15 if notes else 0)
    height = MARGIN + head_h + ARROW * 0.6 + sum(row_h) + ARROW * (len(rows) - 1) + notes_h + MARGIN

    # a phase label is rotated: its band must be at least as tall as the label is long
    phases: list[tuple[str, int, int]] = []
    for i, (phase, _) in enumerate(rows):
        if phases and phases[-1][0] == phase:
            phases[-1] = (phase, phases[-1][1], i)
        else:
            phases.append((phase, i, i))
    for phase, a, b in phases:
        span = sum(row_h[a:b + 1]) + ARROW * (b - a)
        need = sheet.width(phase, True) + 2 * PAD
        if need > span:
            extra = (need - span) / (b - a + 1)
            for i in range(a, b + 1):
                row_h[i] += extra
            height += need - span

    sheet.fig.set_size_inches(width, height)
    y = height - MARGIN
    _box(sheet, x_main, y, width - MARGIN - x_main, head_h, head, fill=HEAD, bold_first=True)
    y -= head_h + ARROW * 0.6
    tops = []
    for i, (_, (main, side)) in enumerate(rows):
        h = row_h[i]
        tops.append(y)
        mh = _height(main)
        _box(sheet, x_main, y - (h - mh) / 2, main_w, mh, main)
        if side:
            sh = _height(side)
            _box(sheet, x_side, y - (h - sh) / 2, side_w, sh, side)
            _arrow(sheet, x_main + main_w, y - h / 2, x_side, y - h / 2)
        if i + 1 < len(rows):
            nxt_mh = _height(rows[i + 1][1][0])
            _arrow(sheet, x_main + main_w / 2, y - (h - mh) / 2 - mh, x_main + main_w / 2,
                   y - h - ARROW - (row_h[i + 1] - nxt_mh) / 2)
        y -= h + ARROW
    for phase, a, b in phases:
        top, bottom = tops[a], tops[b] - row_h[b]
        sheet.fig.patches.append(FancyBboxPatch(
            (x_phase, bottom), PHASE_W, top - bottom, transform=sheet.inch,
            boxstyle="round,pad=0,rounding_size=0.06", facecolor=HEAD, edgecolor=EDGE, lw=0.8))
        sheet.fig.text(x_phase + PHASE_W / 2, (top + bottom) / 2, phase, transform=sheet.inch,
                       rotation=90, ha="center", va="center", fontsize=FONT_SIZE,
                       fontweight="bold", color=INK)
    ny = MARGIN + notes_h - 0.15 - LINE * 0.45
    for n in notes:
        sheet.put(MARGIN, ny, n, size=FONT_SIZE - 1, color="#444444")
        ny -= LINE * 0.9
    return sheet.fig
