"""RevMan-style forest plot of a pooled result (or of a subgroup analysis).

``forest_plot(result)`` returns a matplotlib ``Figure``; it reads the numbers of the
result and never recomputes a statistic. Layout as in Cochrane reviews: study, events
and totals per arm and weight on the left; the plot (log axis for ratios, linear for
RD) with squares whose area is proportional to weight, whiskers with arrows where they
leave the axis, a diamond per pooled estimate and the prediction interval as a bar;
the estimate and CI as text on the right; optional RoB 2 columns; heterogeneity and
overall-effect lines in RevMan's wording below.

Sizing is computed, not guessed: every column is as wide as its widest text (measured
with the renderer), the figure as tall as its rows, so 1 study or 100 lay out without
overlap (``tests/test_forest.py`` measures the text boxes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metasynth.effects.measures import BINARY, is_ratio
from metasynth.models.results import PoolResult
from metasynth.models.subgroups import SubgroupResult
from metasynth.render.labels import SECONDARY_SOURCE_NOTE
from metasynth.render.numbers import interval, num
from metasynth.render.plots.kit import (
    BLUE,
    GAP,
    INK,
    MARGIN,
    MEASURE_NAMES,
    ROB_PALETTES,
    ROB_SYMBOLS,
    ROW_H,
    VERMILLION,
    Sheet,
    diamond,
    effect_axis,
    favours,
    rc,
    rob_dot,
    rob_key,
    rob_key_width,
    whisker,
    x_range,
)
from metasynth.render.text.methods import name
from metasynth.render.text.pool import (
    data_cells,
    data_columns,
    data_layout,
    heterogeneity_line,
    overall_effect_line,
    units,
)
from metasynth.render.text.robustness import subgroup_difference_line

SECONDARY_MARK = "‡"
ROB_KEY_LINE = "\x00rob-key"  # the footer row where the swatch legend is drawn

PLOT_W = 2.6  # inches of the plot column
PAGE_HEIGHT = 6.3  # inches: a landscape A4 or Letter page holds one page of a plot, with its heading
STUDY_COLOUR = BLUE  # squares
POOLED_COLOUR = INK  # diamonds
PI_COLOUR = VERMILLION  # prediction interval


@dataclass
class Row:
    kind: str  # header, study, group, pooled, pi, events, line, blank
    cells: dict = field(default_factory=dict)  # column -> text
    bold: bool = False
    est: float | None = None
    lo: float | None = None
    hi: float | None = None
    weight: float | None = None
    span: str | None = None  # text spanning the left columns (heterogeneity lines)
    rob: dict | None = None


def _fmt_weight(w: float | None) -> str:
    return "" if w is None else f"{w:.1f}"


def _shown_weight(s, whole_k: int) -> float | None:
    """The weight the plot shows: random-effects when the whole analysis pools several
    studies, common-effect for one (a subgroup's weights are shares of the whole)."""
    return s.weight_random if whole_k > 1 else s.weight_common


def _study_rows(result: PoolResult, rob: dict | None, whole_k: int, layout: str) -> list[Row]:
    rows = []
    for s in result.studies:
        # ‡: the counts were read only in a secondary source (the record's extraction status)
        label = s.label + (f" {SECONDARY_MARK}" if s.extraction == "secondary" else "")
        cells = {"study": label, **data_cells(s, layout)}
        if s.included:
            cells["weight"] = _fmt_weight(_shown_weight(s, whole_k))
            cells["effect"] = interval(s.estimate, s.ci_lower, s.ci_upper)
            if s.source == "reported" and layout != "generic":
                cells["study"] = label + " †"  # reported estimates carry no counts
        else:
            cells["effect"] = "Not estimable"
        rows.append(Row("study", cells, est=s.estimate, lo=s.ci_lower, hi=s.ci_upper,
                        weight=_shown_weight(s, whole_k),
                        rob=(rob.get(s.id) or {}) if rob is not None else None))
    return rows


def _pooled_rows(result: PoolResult, label: str, show_common: bool, subtotal: bool,
                 whole_k: int, layout: str) -> list[Row]:
    inc = result.studies  # as RevMan: totals include studies that are not estimable
    e_total = sum(s.treatment_total or 0 for s in inc)
    c_total = sum(s.control_total or 0 for s in inc)
    e_events = sum(s.treatment_events or 0 for s in inc)
    c_events = sum(s.control_events or 0 for s in inc)
    r, c = result.random, result.common
    rows = []
    # a subgroup's weight is its share of the whole analysis, as RevMan shows it
    weight = sum(_shown_weight(s, whole_k) or 0.0 for s in result.included)
    totals = ({"e_total": str(e_total), "c_total": str(c_total)}
              if layout in ("binary", "continuous") else {})
    rows.append(Row("pooled", {"study": f"{label} ({result.spec.ci_label})", **totals,
                               "weight": _fmt_weight(weight),
                               "effect": interval(r.estimate, r.ci_lower, r.ci_upper)},
                    bold=True, est=r.estimate, lo=r.ci_lower, hi=r.ci_upper))
    if show_common and result.k > 1:
        rows.append(Row("pooled", {"study": f"Common effect ({c.method})",
                                   "effect": interval(c.estimate, c.ci_lower, c.ci_upper)},
                        est=c.estimate, lo=c.ci_lower, hi=c.ci_upper))
    if r.pi_lower is not None:
        rows.append(Row("pi", {"study": "Prediction interval",
                               "effect": f"[{num(r.pi_lower)}, {num(r.pi_upper)}]"},
                        lo=r.pi_lower, hi=r.pi_upper))
    if layout == "binary":
        rows.append(Row("events", {"study": "Total events", "e_events": str(e_events),
                                   "c_events": str(c_events)}))
    if subtotal:
        rows.append(Row("line", span=heterogeneity_line(result)))
        rows.append(Row("line", span=overall_effect_line(result, "random" if result.k > 1
                                                         else "common")))
    return rows


def _rows(result: PoolResult | SubgroupResult, show_common: bool, rob: dict | None) -> tuple[
        list[Row], list[str], PoolResult]:
    """Body rows and footer lines."""
    if isinstance(result, SubgroupResult):
        overall = result.overall
        layout = data_layout(overall)
        body: list[Row] = []
        for name, sub in result.groups:
            body.append(Row("group", {"study": f"{result.by}: {name}"}, bold=True))
            body += _study_rows(sub, rob, overall.k, layout)
            body += _pooled_rows(sub, "Subtotal", False, subtotal=True, whole_k=overall.k,
                                 layout=layout)
            body.append(Row("blank"))
        for name, why in result.not_pooled:
            body.append(Row("group", {"study": f"{result.by}: {name}"}, bold=True))
            body.append(Row("line", span=f"Not pooled: {why}"))
            body.append(Row("blank"))
        body += _pooled_rows(overall, "Total", show_common, subtotal=False, whole_k=overall.k,
                             layout=layout)
        footer = [heterogeneity_line(overall), overall_effect_line(overall, "random"
                                                                   if overall.k > 1 else "common")]
        t = result.test
        if t is not None:
            footer.append(subgroup_difference_line(t))
        return body, footer, overall
    layout = data_layout(result)
    body = _study_rows(result, rob, result.k, layout)
    body.append(Row("blank"))
    body += _pooled_rows(result, "Total", show_common, subtotal=False, whole_k=result.k,
                         layout=layout)
    footer = []
    if result.k > 1:
        footer.append(heterogeneity_line(result))
    footer.append(overall_effect_line(result, "random" if result.k > 1 else "common"))
    return body, footer, result


def forest_plot(result: PoolResult | SubgroupResult, *, show_common: bool = False,
                rob: dict | None = None, notes: bool = True, rob_palette: str = "cochrane",
                rob_endpoint: str | None = None):
    """Draw the forest plot of ``result`` and return the matplotlib Figure.

    ``rob``: optional {study id: {"D1": judgement, ..., "D5": ..., "overall": ...}} for
    RoB 2 columns: the assessments made for the outcome shown, named by ``rob_endpoint``
    in the legend; a trial absent from ``rob`` is drawn "not assessed" (robvis symbols
    and colours, ``rob_palette`` "cochrane" or "colourblind"). The arm names in the column
    headers and the "Favours" labels, the level of every interval and the direction of
    benefit are the result's spec's.
    """
    return forest_pages(result, show_common=show_common, rob=rob, notes=notes,
                        rob_palette=rob_palette, rob_endpoint=rob_endpoint, max_height=None)[0]


def forest_pages(result: PoolResult | SubgroupResult, *, show_common: bool = False,
                 rob: dict | None = None, notes: bool = True, rob_palette: str = "cochrane",
                 rob_endpoint: str | None = None,
                 max_height: float | None = PAGE_HEIGHT) -> list:
    """The forest plot of ``result`` as one Figure per page, none taller than
    ``max_height`` inches (None: one Figure, however tall).

    Every page repeats the column headers and the axis, with the same columns, axis range
    and square scale, so the pages read as one plot (as RevMan splits a long forest plot);
    the pooled rows follow the last trial and the notes close the last page, none of them
    clipped. Arguments as for ``forest_plot``.
    """
    import matplotlib as mpl

    body, footer, overall = _rows(result, show_common, rob)
    spec = overall.spec
    measure, experimental, control = spec.measure, spec.experimental, spec.control
    ratio = is_ratio(measure)
    layout, data_cols = data_layout(overall), data_columns(overall)
    unit = units(overall)
    if notes:
        if any(r.cells.get("study", "").endswith(" †") for r in body):
            footer.append(f"† enters with its reported estimate and {spec.ci_label} (generic "
                          "inverse variance)")
        if any(s.extraction == "secondary" for s in overall.studies):
            footer.append(f"{SECONDARY_MARK} {SECONDARY_SOURCE_NOTE}.")
        if measure in BINARY:
            footer.append(f"Zero cells: {overall.zero_cell_rule}.")
        if layout == "generic":
            footer.append(f"{data_cols[0][1]} and SE: the estimate on the analysis scale and its "
                          "standard error (from the reported CI, p-value or SE).")
        for s in overall.excluded:
            footer.append(f"{s.label}: {s.excluded_reason}.")
    if rob is not None:
        what = f" for {rob_endpoint.lower()}" if rob_endpoint else ""
        footer.append(f"Risk of bias (RoB 2{what}): D1 randomization process; D2 deviations "
                      "from intended interventions;")
        footer.append("D3 missing outcome data; D4 measurement of the outcome; D5 selection of "
                      "the reported result; O overall.")
        footer.append(ROB_KEY_LINE)
    palette = ROB_PALETTES[rob_palette]
    title = overall.outcome_label or ""
    n_head = 4 if title else 3
    axis_h = 0.62  # tick labels and "Favours" labels
    fixed = 2 * MARGIN + n_head * ROW_H + axis_h
    chunks = _page_rows(len(body), len(footer), fixed, max_height)

    with mpl.rc_context(rc()):
        widths_sheet = Sheet()
        width = widths_sheet.width
        ci_name = name("ci", overall.random.ci_method) if overall.k > 1 else ""
        model = (f"{overall.random.tau2_method}, {ci_name}, {spec.ci_label}" if overall.k > 1
                 else spec.ci_label)
        if measure not in BINARY:  # RevMan: "Mean Difference IV, Random, 95% CI"
            model = f"IV, {'Random' if overall.k > 1 else 'Fixed'}, {model}"
        measure_name = MEASURE_NAMES[measure] + (f" ({unit})" if unit else "")
        header2 = {"study": "Study or subgroup", **{k: h for k, h, _ in data_cols},
                   "weight": "(%)", "effect": f"{measure} [{spec.ci_label}]"}
        plot_header = (measure_name, model)
        left_cols = ["study", *(k for k, _, _ in data_cols), "weight"]
        arms = {a: [k for k, _, arm in data_cols if arm == a] for a in ("e", "c")}
        widths = {c: max([width(header2.get(c, ""), c == "study")]
                         + [width(r.cells.get(c, ""), r.bold) for r in body]) for c in left_cols}
        # arm-group headers span their arm's columns
        for cols, arm in ((arms["e"], experimental), (arms["c"], control)):
            if not cols:
                continue
            need = width(arm, True) - (sum(widths[c] for c in cols) + GAP * (len(cols) - 1))
            if need > 0:
                widths[cols[0]] += need
        widths["weight"] = max(widths["weight"], width("Weight", True))
        widths["effect"] = max([width(header2["effect"]), width(measure_name, True)]
                               + [width(r.cells.get("effect", ""), r.bold) for r in body])
        left_total = sum(widths[c] for c in left_cols) + GAP * (len(left_cols) - 1)
        span_w = max([width(r.span) for r in body if r.span] + [0.0])
        if span_w > left_total:  # heterogeneity lines under subgroups span the left columns
            widths["study"] += span_w - left_total
        plot_w = max(PLOT_W, width(plot_header[1]) + 0.1, width(plot_header[0], True) + 0.1,
                     2 * (width(f"Favours {experimental}") + 0.1),
                     2 * (width(f"Favours {control}") + 0.1))
        rob_cols = ["D1", "D2", "D3", "D4", "D5", "overall"] if rob is not None else []
        rob_w = 0.28
        x = {}
        pos = MARGIN
        for c in left_cols:
            x[c] = pos
            pos += widths[c] + GAP
        plot_x0 = pos + GAP
        plot_x1 = plot_x0 + plot_w
        x["effect"] = plot_x1 + 2 * GAP
        pos = x["effect"] + widths["effect"] + GAP
        for c in rob_cols:
            x[c] = pos
            pos += rob_w
        continued = "Continued on the next page." if len(chunks) > 1 else ""
        fig_w = max(pos + MARGIN, max([rob_key_width(widths_sheet) if line == ROB_KEY_LINE
                                       else width(line) for line in [*footer, continued]]
                                      + [0.0]) + 2 * MARGIN, width(title, True) + 2 * MARGIN)
        points = [r.est for r in body if r.kind in ("study", "pooled")]
        pooled_cis = [v for r in body if r.kind == "pooled" for v in (r.lo, r.hi)]
        x_lo, x_hi = x_range(points, pooled_cis, ratio, wide=measure in ("MD", "SMD"))
        weights = [r.weight for r in body if r.kind == "study" and r.weight]
        w_max = max(weights) if weights else 1.0
        right = {*(k for k, _, _ in data_cols), "weight"}

        figures = []
        for page, (start, stop) in enumerate(chunks):
            last = page == len(chunks) - 1
            rows = body[start:stop]
            lines = footer if last else [continued]
            page_title = title if page == 0 or not title else f"{title} (continued)"
            figures.append(_draw_page(
                rows, lines, page_title, n_head, axis_h, fig_w, x, widths, left_cols, right,
                rob_cols, rob_w, header2, plot_header, plot_x0, plot_w, x_lo, x_hi, ratio,
                w_max, palette, overall, experimental, control, measure_name, arms))
    return figures


def _page_rows(n_body: int, n_foot: int, fixed: float, max_height: float | None) -> list:
    """Split body rows 0..n_body into pages of at most ``max_height`` inches: every page
    has the fixed header and axis, the last one the footer lines, the others one line
    ("continued"). Returns [(start, stop)]."""
    if max_height is None or fixed + (n_body + n_foot) * ROW_H <= max_height:
        return [(0, n_body)]
    per_page = max(5, int((max_height - fixed) / ROW_H) - 1)
    last_room = max(3, int((max_height - fixed) / ROW_H) - n_foot)
    chunks, start = [], 0
    while n_body - start > last_room:
        stop = min(start + per_page, n_body - 1)
        chunks.append((start, stop))
        start = stop
    chunks.append((start, n_body))
    return chunks


def _draw_page(body, footer, title, n_head, axis_h, fig_w, x, widths, left_cols, right,
               rob_cols, rob_w, header2, plot_header, plot_x0, plot_w, x_lo, x_hi, ratio,
               w_max, palette, overall, experimental, control, measure_name, arms):
    """One page of a forest plot: headers, the rows ``body`` on the shared axis range and
    columns, the axis with its "Favours" labels, then ``footer``."""
    sheet = Sheet()
    fig, put = sheet.fig, sheet.put
    plot_x1 = plot_x0 + plot_w
    n_body, n_foot = len(body), len(footer)
    fig_h = MARGIN + (n_head + n_body + n_foot) * ROW_H + axis_h + MARGIN
    fig.set_size_inches(fig_w, fig_h)

    def y_row(i: float) -> float:  # centre of header/body row i, inches from bottom
        return fig_h - MARGIN - (i + 0.5) * ROW_H

    def put_cell(col, yi, text, bold=False):
        if col in right:
            put(x[col] + widths[col], yi, text, ha="right", bold=bold)
        else:
            put(x[col], yi, text, bold=bold)

    # headers: [title], group names, plot title, column names
    h0 = 1 if title else 0
    if title:
        put(MARGIN, y_row(0), title, bold=True)
    for cols, arm in ((arms["e"], experimental), (arms["c"], control)):
        if cols:
            put((x[cols[0]] + x[cols[-1]] + widths[cols[-1]]) / 2, y_row(h0 + 1), arm,
                ha="center", bold=True)
    put(x["weight"] + widths["weight"], y_row(h0 + 1), "Weight", ha="right", bold=True)
    put((plot_x0 + plot_x1) / 2, y_row(h0 + 0.5), plot_header[0], ha="center", bold=True)
    put((plot_x0 + plot_x1) / 2, y_row(h0 + 1.5), plot_header[1], ha="center")
    put(x["effect"], y_row(h0 + 1), measure_name, bold=True)
    for col, text in header2.items():
        put_cell(col, y_row(h0 + 2), text, bold=col == "study")
    for c in rob_cols:
        put(x[c] + rob_w / 2, y_row(h0 + 2), "O" if c == "overall" else c, ha="center",
            bold=True)

    # plot axes spanning the body rows; row i of the body sits at data y = i
    top = y_row(n_head) + ROW_H / 2
    bottom = y_row(n_head + n_body - 1) - ROW_H / 2
    ax = sheet.axes_inches(plot_x0, bottom, plot_w, top - bottom)
    ax.set_ylim(n_body - 0.5, -0.5)
    null = effect_axis(ax, x_lo, x_hi, ratio)

    side_max = 0.75 * ROW_H * 72  # points
    squares = []  # (estimate, row, area): one scatter for the page's squares
    for i, r in enumerate(body):
        yi = y_row(n_head + i)
        for col in [*left_cols, "effect"]:
            put_cell(col, yi, r.cells.get(col, ""), bold=r.bold)
        if r.span:
            put(x["study"], yi, r.span)
        if r.kind == "study" and r.est is not None:
            whisker(ax, i, r.lo, r.hi, x_lo, x_hi, INK)
            if x_lo <= r.est <= x_hi:  # square area proportional to weight
                squares.append((r.est, i, max(side_max**2 * (r.weight or 0) / w_max, 4.0)))
        elif r.kind == "pooled" and r.est is not None:
            diamond(ax, i, r.est, r.lo, r.hi, x_lo, x_hi, POOLED_COLOUR)
        elif r.kind == "pi" and r.lo is not None:
            whisker(ax, i, r.lo, r.hi, x_lo, x_hi, PI_COLOUR, lw=2.2)
        for c in rob_cols if r.rob is not None else ():
            j = r.rob.get(c, "not assessed")
            cx = x[c] + rob_w / 2
            fig.add_artist(rob_dot(cx, yi, j, palette, sheet.inch))
            put(cx, yi, ROB_SYMBOLS[j], ha="center", bold=True)

    if squares:
        ax.scatter([q[0] for q in squares], [q[1] for q in squares], marker="s",
                   s=[q[2] for q in squares], color=STUDY_COLOUR, zorder=3, linewidths=0)
    favours(sheet, ax, bottom - 0.42, null, ratio, x_lo, x_hi, overall.better,
            experimental, control)
    y0 = bottom - axis_h
    for k, line in enumerate(footer):
        if line == ROB_KEY_LINE:
            rob_key(sheet, MARGIN, y0 - (k + 0.5) * ROW_H, palette)
        else:
            put(MARGIN, y0 - (k + 0.5) * ROW_H, line)
    return fig

