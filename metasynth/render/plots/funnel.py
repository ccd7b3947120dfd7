"""Contour-enhanced funnel plot (Peters et al. 2008, J Clin Epidemiol 61:991-996).

Effect (log scale for ratios) against its standard error, the axis inverted so large
studies sit at the top. Shaded contours mark where a study's own two-sided p-value
against no effect is < 0.01, 0.01-0.05 and 0.05-0.10; the pooled random-effects
estimate is a vertical line with its pseudo 95% confidence region (dashed). Asymmetry
tests need at least 10 studies (Cochrane Handbook 13.3.5.4): below that the plot says so.
"""

from __future__ import annotations

import math

from metasynth.effects.measures import is_ratio
from metasynth.models.results import PoolResult
from metasynth.render.plots.kit import BLUE, GREY, INK, MARGIN, MEASURE_NAMES, ROW_H, Sheet, rc

# (z boundary, colour inside it, label of the band just outside it): darker = smaller p
OUTSIDE = ("#969696", "p < 0.01")
CONTOURS = ((2.5758293035489, "#bdbdbd", "0.01 ≤ p < 0.05"),
            (1.959963984540054, "#d9d9d9", "0.05 ≤ p < 0.10"),
            (1.6448536269514722, "white", "p ≥ 0.10"))


def funnel_plot(result: PoolResult):
    """Draw the contour-enhanced funnel plot of ``result``; return the Figure."""
    import matplotlib as mpl
    import numpy as np
    from matplotlib.patches import Patch

    ratio = is_ratio(result.measure)
    inc = result.included
    y = np.array([s.yi for s in inc], dtype=float)
    se = np.sqrt(np.array([s.vi for s in inc], dtype=float))
    theta = result.random.theta
    with mpl.rc_context(rc()):
        sheet = Sheet()
        fig = sheet.fig
        notes = []
        if result.k < 10:
            notes.append(f"Only {result.k} studies: funnel-plot asymmetry cannot be judged "
                         "below 10 (Cochrane Handbook 13.3.5.4).")
        notes.append("Shading: a study's own two-sided p-value against no effect.")
        title = f"Funnel plot: {result.outcome_label or result.outcome or ''}".rstrip(": ")
        w = max(6.6, max(sheet.width(n) for n in notes) + 2 * MARGIN,
                sheet.width(title, True) + 2 * MARGIN)
        plot_h = 3.4
        h = MARGIN + ROW_H * 1.5 + plot_h + 0.75 + ROW_H * (len(notes) + 0.5) + MARGIN
        fig.set_size_inches(w, h)
        sheet.put(MARGIN, h - MARGIN - ROW_H / 2, title, bold=True)
        ax_x0, ax_w = 0.8, 4.0
        ax_y0 = MARGIN + ROW_H * (len(notes) + 0.5) + 0.5
        ax = sheet.axes_inches(ax_x0, ax_y0, ax_w, plot_h)
        se_max = float(se.max()) * 1.1 if len(se) else 1.0
        span = max(abs(y - 0).max() if len(y) else 1.0, 2.6 * se_max, abs(theta or 0) + 2 * se_max)
        xs = np.linspace(0, se_max, 200)
        x_lo, x_hi = -span * 1.05, span * 1.05
        ax.fill_between([x_lo, x_hi], 0, se_max, color=OUTSIDE[0], lw=0)
        for z, colour, _ in CONTOURS:  # widest first, each band painted inside the last
            ax.fill_betweenx(xs, -z * xs, z * xs, color=colour, lw=0)
        if theta is not None:
            ax.axvline(theta, color=INK, lw=1.0)
            ax.plot(theta - 1.959963984540054 * xs, xs, ls="--", color=INK, lw=0.8)
            ax.plot(theta + 1.959963984540054 * xs, xs, ls="--", color=INK, lw=0.8)
        ax.axvline(0, color=GREY, lw=0.8, ls=":")
        ax.scatter(y, se, s=22, color=BLUE, edgecolors="white", linewidths=0.5, zorder=3)
        ax.set_ylim(se_max, 0)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylabel("Standard error")
        if ratio:
            ticks = [t for t in (0.01, 0.02, 0.1, 0.2, 0.5, 1, 2, 5, 10, 50, 100)
                     if x_lo <= math.log(t) <= x_hi]
            ax.set_xticks([math.log(t) for t in ticks])
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.set_xlabel(f"{MEASURE_NAMES[result.measure]} (log scale)")
        else:
            ax.set_xlabel(MEASURE_NAMES[result.measure])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        handles = [Patch(facecolor=OUTSIDE[0], label=OUTSIDE[1])]
        handles += [Patch(facecolor=c, edgecolor=GREY, lw=0.3, label=lab) for _, c, lab in CONTOURS]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7,
                  frameon=False, title="Study p-value", title_fontsize=7.5)
        for i, n in enumerate(notes):
            sheet.put(MARGIN, MARGIN + ROW_H * (len(notes) - i - 0.5), n)
    return fig
