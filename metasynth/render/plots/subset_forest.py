"""Forest plots of leave-one-out and cumulative meta-analyses (metafor's
``forest(leave1out(...))`` and ``forest(cumul(...))``): one row per refit, its pooled
estimate and CI, tau² and I², with the all-studies result as a diamond below."""

from __future__ import annotations

from metasynth.effects.measures import is_ratio
from metasynth.models.results import PoolResult
from metasynth.models.robustness.refits import SubsetAnalysis
from metasynth.render.numbers import interval, num, percent
from metasynth.render.plots.kit import (
    BLUE,
    GAP,
    INK,
    MARGIN,
    ROW_H,
    Sheet,
    diamond,
    effect_axis,
    favours,
    rc,
    whisker,
    x_range,
)
from metasynth.render.text.methods import name

PLOT_W = 2.6


def subset_forest_plot(analysis: SubsetAnalysis, overall: PoolResult, *,
                       experimental: str = "MSC", control: str = "Control"):
    """Draw a leave-one-out or cumulative analysis; ``overall`` is the all-studies fit."""
    import matplotlib as mpl

    ratio = is_ratio(analysis.measure)
    prefix = "Omitting " if analysis.kind == "leave-one-out" else "+ "
    rows = [(f"{prefix}{r.label}", str(r.k), interval(r.estimate, r.ci_lower, r.ci_upper),
             num(r.tau2, 3) if r.tau2 is not None else "", percent(r.I2) if r.I2 is not None else "",
             r) for r in analysis.rows]
    o, h = overall.random, overall.heterogeneity
    total = ("All studies", str(overall.k), interval(o.estimate, o.ci_lower, o.ci_upper),
             num(h.tau2, 3) if h.tau2 is not None else "", percent(h.I2) if h.I2 is not None else "")
    heads = ("Study" if analysis.kind == "cumulative" else "Left out", "k",
             f"{analysis.measure} [{analysis.spec.ci_label}]", "Tau²", "I²")
    title = (f"{'Leave-one-out' if analysis.kind == 'leave-one-out' else 'Cumulative'} "
             f"meta-analysis: {overall.outcome_label or overall.outcome or ''}").rstrip(": ")
    spec = analysis.spec
    model = f"{spec.tau2}, {name('ci', spec.ci)} {spec.ci_label}, random effects"
    if analysis.kind == "cumulative":
        model += "; studies added by year"
    with mpl.rc_context(rc()):
        sheet = Sheet()
        cols = list(zip(*[r[:5] for r in rows], total, heads))
        widths = [max(sheet.width(t, bold=i >= len(c) - 2) for i, t in enumerate(c)) for c in cols]
        x = [MARGIN]
        x.append(x[0] + widths[0] + GAP)
        plot_x0 = x[1] + widths[1] + 2 * GAP
        plot_w = max(PLOT_W, 2 * (sheet.width(f"Favours {experimental}") + 0.1),
                     2 * (sheet.width(f"Favours {control}") + 0.1))
        x.append(plot_x0 + plot_w + 2 * GAP)
        x.append(x[2] + widths[2] + GAP)
        x.append(x[3] + widths[3] + GAP)
        fig_w = max(x[4] + widths[4] + MARGIN, sheet.width(title, True) + 2 * MARGIN,
                    sheet.width(model) + 2 * MARGIN)
        n_body = len(rows) + 2
        fig_h = MARGIN * 2 + ROW_H * (3 + n_body) + 0.62
        sheet.fig.set_size_inches(fig_w, fig_h)

        def y(i):
            return fig_h - MARGIN - (i + 0.5) * ROW_H

        sheet.put(MARGIN, y(0), title, bold=True)
        sheet.put(MARGIN, y(1), model)
        right = {1, 3, 4}

        def put_row(i, cells, bold=False):
            for c, text in enumerate(cells):
                if c in right:
                    sheet.put(x[c] + widths[c], y(i), text, ha="right", bold=bold)
                else:
                    sheet.put(x[c], y(i), text, bold=bold)

        put_row(2, heads, bold=True)
        top, bottom = y(3) + ROW_H / 2, y(2 + n_body) - ROW_H / 2
        ax = sheet.axes_inches(plot_x0, bottom, plot_w, top - bottom)
        ax.set_ylim(n_body - 0.5, -0.5)
        points = [r[5].estimate for r in rows] + [o.estimate]
        x_lo, x_hi = x_range(points, [o.ci_lower, o.ci_upper], ratio,
                             wide=analysis.measure in ("MD", "SMD"))
        null = effect_axis(ax, x_lo, x_hi, ratio)
        for i, r in enumerate(rows):
            put_row(3 + i, r[:5])
            s = r[5]
            if s.estimate is not None:
                whisker(ax, i, s.ci_lower, s.ci_upper, x_lo, x_hi, INK)
                if x_lo <= s.estimate <= x_hi:
                    ax.scatter([s.estimate], [i], marker="s", s=22, color=BLUE, zorder=3, lw=0)
        put_row(3 + len(rows) + 1, total, bold=True)
        if o.estimate is not None:
            diamond(ax, len(rows) + 1, o.estimate, o.ci_lower, o.ci_upper, x_lo, x_hi)
        favours(sheet, ax, bottom - 0.42, null, ratio, x_lo, x_hi, overall.better,
                experimental, control)
    return sheet.fig
