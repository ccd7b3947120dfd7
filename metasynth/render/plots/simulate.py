"""The simulation figure: CI coverage (top row) and the rate at which the CI excludes
RR = 1 (bottom row: type I error at RR = 1, power below) against tau, one panel per true
RR, one line per method (colour: the tau² estimator; line style: the CI method; grey:
the common effects). The nominal level and the 93-97% band are drawn on the coverage
panels; Monte Carlo error is in the text and JSON output."""

from __future__ import annotations

from metasynth.render.plots.kit import (
    BLUE,
    GREEN,
    GREY,
    INK,
    MARGIN,
    ROW_H,
    SKY,
    VERMILLION,
    YELLOW,
    Sheet,
    rc,
)
from metasynth.render.text.simulate import BAND, method_label

_COLOURS = {"REML": BLUE, "DL": VERMILLION, "PM": GREEN, "ML": SKY, "HE": "#CC79A7",
            "SJ": YELLOW, "EB": "#8c564b"}
_STYLES = {"wald": "--", "hksj": "-", "hksj-adhoc": ":"}
PANEL_W, PANEL_H = 2.0, 1.7


def simulation_plot(result):
    """Coverage and rejection rate against tau, one column per true RR."""
    import matplotlib as mpl

    rrs = list(dict.fromkeys(s.rr for s in result.scenarios))
    taus = sorted(dict.fromkeys(s.tau for s in result.scenarios))
    methods = list(dict.fromkeys(r.method for r in result.rows))
    by = {(r.method, r.rr, r.tau): r for r in result.rows}
    mark = result.analysis_method()
    nominal = result.spec.level
    with mpl.rc_context(rc()):
        sheet = Sheet()
        left, gap, legend_rows = 0.75, 0.35, 5.5
        w = left + len(rrs) * PANEL_W + (len(rrs) - 1) * gap + 0.3
        legend_h = ROW_H * legend_rows
        h = MARGIN + ROW_H * 2.6 + 2 * PANEL_H + 1.2 + legend_h + MARGIN
        w = max(w, 7.2)
        sheet.fig.set_size_inches(w, h)
        title = (f"Simulated coverage and rejection rate: {result.outcome_label or result.outcome}"
                 f" ({result.design.k} trials, {result.replicates} replicates per scenario)")
        sheet.put(MARGIN, h - MARGIN - ROW_H / 2, title, bold=True)
        top = h - MARGIN - ROW_H * 2.6
        axes = []
        for row_i, what in enumerate(("coverage", "rejection")):
            y0 = top - (row_i + 1) * PANEL_H - row_i * 0.45
            for col, rr in enumerate(rrs):
                ax = sheet.axes_inches(left + col * (PANEL_W + gap), y0, PANEL_W, PANEL_H)
                axes.append(ax)
                for side in ("top", "right"):
                    ax.spines[side].set_visible(False)
                if what == "coverage":
                    ax.axhspan(100 * (nominal - (0.95 - BAND[0])),
                               100 * (nominal + (BAND[1] - 0.95)), color="#eeeeee", zorder=0)
                    ax.axhline(100 * nominal, color=GREY, lw=0.8, zorder=0)
                    ax.set_title(f"RR {rr:g}", fontsize=9)
                elif rr == 1:
                    ax.axhline(100 * (1 - nominal), color=GREY, lw=0.8, zorder=0)
                for m in methods:
                    vals = [by[(m, rr, t)] for t in taus]
                    ys = [None if getattr(r, what).value is None else 100 * getattr(r, what).value
                          for r in vals]
                    r0 = vals[0]
                    colour = _COLOURS.get(r0.tau2_method, INK if m == "MH" else GREY)
                    style = _STYLES.get(r0.ci_method, "-.")
                    ax.plot(taus, [float("nan") if y is None else y for y in ys], style,
                            color=colour, lw=2.0 if m == mark else 0.9, marker="o",
                            markersize=2.5 if m == mark else 1.5)
                ax.set_xticks(taus)
                ax.set_xticklabels([f"{t:g}" for t in taus])
                ax.tick_params(length=2, pad=1)
                if col == 0:
                    ax.set_ylabel("CI coverage (%)" if what == "coverage" else
                                  "CI excludes RR = 1 (%)")
                if row_i == 1:
                    ax.set_xlabel("tau (log RR)")
        # legend: colours (estimators), styles (CI methods), the common effects
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=c, lw=1.5) for c in _COLOURS.values()]
        labels = [method_label(by[(f"{t}-hksj", rrs[0], taus[0])]).split(",")[0]
                  for t in _COLOURS]
        handles += [Line2D([], [], color=INK, ls=s, lw=1.0) for s in _STYLES.values()]
        labels += [method_label(by[(f"REML-{c}", rrs[0], taus[0])]).split(", ", 1)[1] + " CI"
                   for c in _STYLES]
        handles += [Line2D([], [], color=INK, ls="-.", lw=0.9), Line2D([], [], color=GREY,
                                                                          ls="-.", lw=0.9)]
        labels += ["Mantel-Haenszel", "inverse variance (common)"]
        handles.append(Line2D([], [], color=INK, lw=2.0))
        labels.append(f"the analysis: {method_label(by[(mark, rrs[0], taus[0])])}")
        sheet.fig.legend(handles, labels, loc="lower left", ncol=3, frameon=False,
                         bbox_to_anchor=(MARGIN / w, MARGIN / h), fontsize=8)
        sheet.put(MARGIN, MARGIN + legend_h + 0.15,
                  f"Grey band: coverage {100 * BAND[0]:g}-{100 * BAND[1]:g}%; line: the nominal "
                  f"{result.spec.level_percent}. Zero cells: {result.spec.zero_cells.describe('RR')}.",
                  size=8)
    return sheet.fig
