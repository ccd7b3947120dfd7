"""Figures of the robustness analyses: meta-regression bubble plot, Baujat plot and GOSH
plot (metafor's ``regplot``, ``baujat`` and ``plot.gosh.rma``)."""

from __future__ import annotations

import numpy as np

from metasynth.effects.measures import is_ratio
from metasynth.render.plots.kit import BLUE, GREY, INK, MEASURE_NAMES, VERMILLION, rc, titled_frame


def _frame(title: str, notes: list[str], plot_w: float = 4.2, plot_h: float = 3.2):
    sheet, y0, _ = titled_frame(title, notes, plot_w, plot_h)
    ax = sheet.axes_inches(0.9, y0, plot_w, plot_h)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return sheet, ax


def bubble_plot(reg, measure: str):
    """Effect against the first moderator, bubbles sized by random-effects weight, with
    the fitted line (for one moderator; with several, the line holds the others at 0)."""
    import matplotlib as mpl

    x, y, v = (np.asarray(a) for a in (reg.x, reg.y, reg.v))
    b = {c.name: c for c in reg.coefficients}
    slope = b[reg.moderators[0]]
    notes = [f"Slope {slope.estimate:.3f} (95% CI {slope.ci_lower:.3f} to {slope.ci_upper:.3f}), "
             f"p = {slope.p:.3f}; permutation p = {reg.permutation_p:.3f}; k = {reg.k}"]
    from metasynth.render.text.warnings import warning_text

    notes += [t[:110] + ("…" if len(t) > 110 else "") for t in map(warning_text, reg.warnings[:1])]
    with mpl.rc_context(rc()):
        sheet, ax = _frame(f"Meta-regression on {reg.moderators[0]}", notes)
        w = 1 / (v + reg.tau2)
        ax.scatter(x, y, s=600 * w / w.max(), color=BLUE, alpha=0.6, edgecolors=INK, lw=0.5)
        grid = np.linspace(x.min(), x.max(), 50)
        ax.plot(grid, b["intercept"].estimate + slope.estimate * grid, color=VERMILLION)
        ax.axhline(0, color=GREY, lw=0.8, ls=":")
        ratio = is_ratio(measure)
        ax.set_ylabel(f"log {MEASURE_NAMES[measure].lower()}" if ratio else MEASURE_NAMES[measure])
        ax.set_xlabel(reg.moderators[0])
    return sheet.fig


def baujat_plot(inf):
    import matplotlib as mpl

    x = np.array([r.baujat_x for r in inf.rows])
    y = np.array([r.baujat_y for r in inf.rows])
    notes = ["x: contribution to heterogeneity; y: influence on the pooled result "
             "(Baujat et al. 2002)."]
    with mpl.rc_context(rc()):
        sheet, ax = _frame("Baujat plot", notes)
        ax.scatter(x, y, s=18, color=BLUE, zorder=3)
        # label only the most extreme studies, to keep labels from colliding
        order = np.argsort(-(x / (x.max() or 1) + y / (y.max() or 1)))[:3]
        for i in order:
            right_half = x[i] > 0.5 * x.max()  # label inwards so it stays inside the figure
            ax.annotate(inf.rows[i].label, (x[i], y[i]), xytext=(-5 if right_half else 5, 4),
                        textcoords="offset points", ha="right" if right_half else "left",
                        fontsize=7.5)
        ax.set_xlabel("Squared Pearson residual")
        ax.set_ylabel("Influence on the pooled estimate")
    return sheet.fig


def gosh_plot(g, measure: str):
    import matplotlib as mpl

    est = np.exp(g.estimate) if is_ratio(measure) else g.estimate
    keep = g.n_studies >= 2
    notes = [f"{g.subsets} subsets of {g.k} studies" + (" (random sample)" if g.sampled else "")
             + "; each point is the random-effects model fitted to one subset."]
    with mpl.rc_context(rc()):
        sheet, ax = _frame("GOSH plot (Olkin, Dahabreh & Trikalinos 2012)", notes)
        ax.scatter(est[keep], g.I2[keep], s=3 if g.subsets > 2000 else 8, color=BLUE,
                   alpha=0.35 if g.subsets > 2000 else 0.7, lw=0)
        if is_ratio(measure):
            from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

            ax.set_xscale("log")
            lo, hi = ax.get_xlim()
            ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10,
                                 20, 50, 100) if lo <= t <= hi]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.axvline(1.0, color=GREY, lw=0.8, ls=":")
            ax.set_xlabel(f"{MEASURE_NAMES[measure]} (log scale)")
        else:
            ax.axvline(0.0, color=GREY, lw=0.8, ls=":")
            ax.set_xlabel(MEASURE_NAMES[measure])
        ax.set_ylabel("I² (%)")
        ax.set_ylim(-2, 102)
    return sheet.fig
