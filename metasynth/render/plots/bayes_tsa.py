"""Figures beyond the p-value: the posterior of the pooled effect and of tau (bayesmeta's
``plot``), a forest plot with shrunken (posterior) trial estimates, and the trial
sequential analysis plot in the layout of the Copenhagen TSA program."""

from __future__ import annotations

import math

import numpy as np

from metasynth.effects.binary import back_transform
from metasynth.effects.measures import is_ratio
from metasynth.render.plots.kit import (
    BLUE,
    GREY,
    INK,
    MARGIN,
    MEASURE_NAMES,
    ROW_H,
    VERMILLION,
    Sheet,
    rc,
    titled_frame,
)

_Z_CAP = 8.0  # boundaries above this are drawn at the edge


def posterior_plot(result):
    """Posterior density of the pooled effect (ratio scale, with the probabilities of the
    thresholds) beside the posterior density of tau."""
    measure = result.spec.measure
    import matplotlib as mpl

    ratio = is_ratio(measure)
    x = np.array([p[0] for p in result.mu_density])
    d = np.array([p[1] for p in result.mu_density])
    probs = "; ".join(f"{k} = {v:.1%}" for k, v in result.probabilities.items())
    notes = [f"Priors: {result.tau_prior}; pooled log {measure}: {result.mu_prior}.",
             f"{probs} (posterior probabilities)."]
    with mpl.rc_context(rc()):
        sheet, y0, _ = titled_frame("Posterior distributions (Bayesian random-effects model)", notes,
                              6.6, 2.4)
        ax = sheet.axes_inches(0.7, y0, 3.4, 2.4)
        xs = np.exp(x) if ratio else x
        ax.plot(xs, d, color=BLUE)
        if ratio:
            ax.set_xscale("log")
            ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5) if xs[0] <= t <= xs[-1]]
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.minorticks_off()
        null = 1.0 if ratio else 0.0
        below = xs <= null
        ax.fill_between(xs[below], 0, d[below], color=BLUE, alpha=0.25, lw=0)
        m = result.mu
        for val in (m.central_lower, m.median, m.central_upper):
            xv = math.exp(val) if ratio else val
            ax.axvline(xv, color=INK, lw=0.6, ls="--" if val != m.median else "-")
        ax.axvline(null, color=GREY, lw=0.8)
        ax.set_xlabel(f"{MEASURE_NAMES[measure]} (pooled)")
        ax.set_ylabel(f"density of log {measure}" if ratio else "density")
        ax.set_yticks([])
        ax.set_title(f"shaded: P({measure} < {null:g}) = {_prob_below(result, measure, null):.1%}",
                     fontsize=8, loc="left")
        ax2 = sheet.axes_inches(4.7, y0, 2.4, 2.4)
        t = np.array([p[0] for p in result.tau_density])
        dt = np.array([p[1] for p in result.tau_density])
        ax2.plot(t, dt, color=VERMILLION)
        ax2.axvline(result.tau.median, color=INK, lw=0.6)
        ax2.set_xlabel("tau (between-trial SD, log scale)" if ratio else "tau")
        ax2.set_yticks([])
        ax2.set_xlim(0, t[-1])
        ax2.set_ylim(bottom=0)
        for a in (ax, ax2):
            for side in ("top", "right"):
                a.spines[side].set_visible(False)
        ax.set_ylim(bottom=0)
    return sheet.fig


def _prob_below(result, measure: str, t: float) -> float:
    key = f"P({measure} < {t:g})"
    if key in result.probabilities:
        return result.probabilities[key]
    return float("nan")


def shrinkage_forest(result):
    """Each trial's own estimate (grey) and its posterior (shrunken) estimate (blue), then
    the pooled effect and the prediction for a new trial, with 95% (central) intervals.
    Arm names and the direction of benefit are the spec's (``better: higher`` puts
    "Favours experimental" on the right)."""
    spec = result.spec
    measure, experimental, control, better = (spec.measure, spec.experimental, spec.control,
                                              spec.direction)
    import matplotlib as mpl

    from metasynth.render.plots.kit import diamond, effect_axis, favours, whisker, x_range

    ratio = is_ratio(measure)
    f = back_transform(measure)
    k = result.k
    rows = []
    for i in range(k):
        y, se, s = result.y[i], result.se[i], result.shrinkage[i]
        rows.append((result.labels[i], f(y - 1.959964 * se), f(y), f(y + 1.959964 * se),
                     f(s.central_lower), f(s.median), f(s.central_upper)))
    m, th = result.mu, result.theta_new
    pooled = (f(m.central_lower), f(m.median), f(m.central_upper))
    pred = (f(th.central_lower), f(th.median), f(th.central_upper))
    points = [r[2] for r in rows] + [r[5] for r in rows]
    lo, hi = x_range(points, [pooled[0], pooled[2]], ratio)
    notes = ["Grey: the trial's own estimate; blue: its posterior (shrunken towards the pooled "
             "effect). Medians with 95% credible intervals.",
             f"Priors: {result.tau_prior}; pooled log {measure}: {result.mu_prior}."]
    n_rows = k + 3
    plot_h = ROW_H * 1.6 * n_rows
    with mpl.rc_context(rc()):
        sheet = Sheet()
        label_w = max(sheet.width(r[0]) for r in rows + [("Prediction (new trial)",)]) + 0.3
        text_w = sheet.width("0.00 [0.00, 0.00]") + 0.3
        w = max(MARGIN * 2 + label_w + 3.0 + text_w, max(sheet.width(n) for n in notes) + 0.4)
        h = MARGIN * 2 + ROW_H * 2 + plot_h + 0.5 + ROW_H * (len(notes) + 0.5)
        sheet.fig.set_size_inches(w, h)
        sheet.put(MARGIN, h - MARGIN - ROW_H / 2, "Shrinkage forest plot (Bayesian "
                  "random-effects model)", bold=True)
        y0 = MARGIN + ROW_H * (len(notes) + 0.5) + 0.5
        ax = sheet.axes_inches(MARGIN + label_w, y0, 3.0, plot_h)
        ax.set_ylim(-0.5, n_rows * 1.0 - 0.5)
        null = effect_axis(ax, lo, hi, ratio)
        for i, r in enumerate(rows):
            yy = n_rows - 1 - i
            whisker(ax, yy + 0.17, r[1], r[3], lo, hi, color=GREY)
            ax.plot([min(max(r[2], lo), hi)], [yy + 0.17], "s", color=GREY, ms=3.5)
            whisker(ax, yy - 0.17, r[4], r[6], lo, hi, color=BLUE)
            ax.plot([min(max(r[5], lo), hi)], [yy - 0.17], "o", color=BLUE, ms=3.5)
        y_pool, y_pred = 1.0, 0.0
        diamond(ax, y_pool, pooled[1], pooled[0], pooled[2], lo, hi, color=INK)
        whisker(ax, y_pred, pred[0], pred[2], lo, hi, color=VERMILLION, lw=1.4)
        labels = [r[0] for r in rows] + ["", "Pooled effect (mu)", "Prediction (new trial)"]
        values = [(r[4], r[5], r[6]) for r in rows] + [None, pooled, pred]
        for i, (lab, val) in enumerate(zip(labels, values)):
            yy = n_rows - 1 - i
            yin = y0 + plot_h * (yy + 0.5) / n_rows
            sheet.put(MARGIN, yin, lab, bold=i >= k)
            if val:
                sheet.put(MARGIN + label_w + 3.1, yin, f"{val[1]:.2f} [{val[0]:.2f}, {val[2]:.2f}]")
        favours(sheet, ax, y0 - 0.4, null, ratio, lo, hi, better, experimental, control)
        for i, n in enumerate(notes):
            sheet.put(MARGIN, MARGIN + ROW_H * (len(notes) - i - 0.5), n)
    return sheet.fig


def tsa_plot(result):
    """Cumulative Z-curve against cumulative participants, with the O'Brien-Fleming
    monitoring boundaries for benefit and harm, the futility wedge, the conventional
    |Z| = 1.96 lines and the (diversity-adjusted) required information size."""
    experimental, control = result.spec.experimental, result.spec.control
    import matplotlib as mpl

    r = result
    n = np.array(r.participants, dtype=float)
    z = np.array(r.z)
    curve = np.array(r.boundary_curve)  # t, efficacy, futility at the looks
    n_looks = curve[:, 0] * r.daris
    eff = np.minimum(curve[:, 1], _Z_CAP)
    fut = curve[:, 2]
    plan = r.plan
    notes = [f"Required information size {math.ceil(r.daris)} participants (control risk "
             f"{plan.control_risk:.0%}, RRR {plan.relative_risk_reduction:.1%}, alpha "
             f"{plan.alpha:.0%} two-sided, power {1 - plan.beta:.0%}, D² {r.d2:.0%}).",
             f"Information reached: {r.participants[-1]} participants "
             f"({r.fraction_reached:.0%}). Boundaries: Lan-DeMets O'Brien-Fleming; "
             f"Z-curve: DerSimonian-Laird."]
    with mpl.rc_context(rc()):
        sheet, y0, _h = titled_frame("Trial sequential analysis", notes, 5.2, 3.4, left=1.0)
        ax = sheet.axes_inches(1.0, y0, 5.2, 3.4)
        x_max = max(n[-1], r.daris) * 1.08
        ax.set_xlim(0, x_max)
        ax.set_ylim(-_Z_CAP, _Z_CAP)
        ax.axhline(0, color=GREY, lw=0.6)
        for s in (1, -1):
            ax.axhline(s * 1.959964, color=GREY, lw=0.8, ls="--")
            ax.plot(np.r_[n_looks, x_max] if n_looks[-1] < x_max else n_looks,
                    s * np.r_[eff, eff[-1]] if n_looks[-1] < x_max else s * eff,
                    color=VERMILLION, lw=1.4, marker="o", ms=2.5)
            if plan.futility:
                keep = fut > 0.05
                ax.plot(n_looks[keep], s * fut[keep], color=BLUE, lw=1.1, ls="-.",
                        marker="o", ms=2.2)
        ax.axvline(r.daris, color=INK, lw=0.9)
        ax.text(r.daris, _Z_CAP * 0.97, " RIS", va="top", fontsize=8)
        ax.plot(np.r_[0, n], np.r_[0, z], color=INK, lw=1.6, marker="s", ms=3.2)
        for xi, zi, lab in zip(n, z, r.labels):
            ax.annotate(lab, (xi, zi), textcoords="offset points", xytext=(3, 5), fontsize=6.5,
                        rotation=30, color=INK)
        ax.set_xlabel("Cumulative number of participants")
        ax.set_ylabel("Cumulative Z-score")
        ax.text(0.01, 0.99, f"Favours {experimental}", transform=ax.transAxes, va="top",
                fontsize=8)
        ax.text(0.01, 0.01, f"Favours {control}", transform=ax.transAxes, va="bottom",
                fontsize=8)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], color=INK, lw=1.6, marker="s", ms=3, label="Z-curve"),
                   Line2D([], [], color=VERMILLION, lw=1.4, label="Benefit / harm boundary"),
                   Line2D([], [], color=GREY, lw=0.8, ls="--", label="Conventional |Z| = 1.96")]
        if plan.futility:
            handles.insert(2, Line2D([], [], color=BLUE, lw=1.1, ls="-.", label="Futility"))
        ax.legend(handles=handles, loc="lower right", fontsize=7, frameon=False)
    return sheet.fig
