"""Risk-of-bias figures in the look reviewers know from robvis (McGuinness & Higgins
2021, Res Synth Methods 12:55-61): the traffic-light plot (study x domain) and the
summary bar plot (share of studies, or of weight, at each judgement per domain).
Colours: Cochrane's palette or a colour-blind-safe one (Okabe & Ito); every judgement
also carries a symbol (+ ? −) so colour is never the only cue."""

from __future__ import annotations

from metasynth.render.plots.kit import (
    GREY,
    MARGIN,
    ROB_DOMAIN_NAMES,
    ROB_DOMAINS,
    ROB_PALETTES,
    ROB_SYMBOLS,
    ROW_H,
    Sheet,
    rc,
)

LEVELS = ("low", "some-concerns", "high")
LEVEL_NAMES = {"low": "Low", "some-concerns": "Some concerns", "high": "High"}


def _legend_lines() -> list[str]:
    return [f"{d}: {ROB_DOMAIN_NAMES[d]}" for d in ROB_DOMAINS[:-1]]


def traffic_light_plot(judgements: dict, labels: dict | None = None,
                       palette: str = "colourblind"):
    """``judgements``: {study id: {D1..D5, overall: low | some-concerns | high}}."""
    import matplotlib as mpl
    from matplotlib.patches import Circle

    colours = ROB_PALETTES[palette]
    labels = labels or {}
    ids = list(judgements)
    with mpl.rc_context(rc()):
        sheet = Sheet()
        names = [labels.get(i, i) for i in ids]
        name_w = max([sheet.width(n) for n in names] + [sheet.width("Study", True)])
        col_w = 0.42
        legend = _legend_lines()
        key = "   ".join(f"{ROB_SYMBOLS[lv]} {LEVEL_NAMES[lv]}" for lv in LEVELS)
        w = max(MARGIN * 2 + name_w + 0.2 + col_w * len(ROB_DOMAINS),
                max(sheet.width(t) for t in [*legend, key]) + 2 * MARGIN)
        h = MARGIN * 2 + ROW_H * (2 + len(ids) + 1 + len(legend) + 1)
        sheet.fig.set_size_inches(w, h)

        def y(i):
            return h - MARGIN - (i + 0.5) * ROW_H

        sheet.put(MARGIN, y(0), "Risk of bias (RoB 2)", bold=True)
        x0 = MARGIN + name_w + 0.2
        sheet.put(MARGIN, y(1), "Study", bold=True)
        for j, d in enumerate(ROB_DOMAINS):
            sheet.put(x0 + (j + 0.5) * col_w, y(1), "Overall" if d == "overall" else d,
                      ha="center", bold=True)
        for i, (sid, name) in enumerate(zip(ids, names), start=2):
            sheet.put(MARGIN, y(i), name)
            for j, d in enumerate(ROB_DOMAINS):
                level = judgements[sid].get(d, "not assessed")
                cx = x0 + (j + 0.5) * col_w
                sheet.fig.add_artist(Circle((cx, y(i)), 0.085, transform=sheet.inch,
                                            facecolor=colours[level], edgecolor="#404040", lw=0.4))
                sheet.put(cx, y(i), ROB_SYMBOLS[level], ha="center", bold=True)
        row = len(ids) + 2.5
        for k, line in enumerate([*legend, key]):
            sheet.put(MARGIN, y(row + k), line, color=GREY if k < len(legend) else "#1a1a1a")
    return sheet.fig


def summary_plot(judgements: dict, weights: dict | None = None, palette: str = "colourblind"):
    """Share of studies (or of ``weights``: {study id: weight}) at each judgement, per domain."""
    import matplotlib as mpl
    from matplotlib.patches import Patch

    colours = ROB_PALETTES[palette]
    ids = list(judgements)
    wt = {i: (weights or {}).get(i, 1.0) if weights else 1.0 for i in ids}
    total = sum(wt.values()) or 1.0
    with mpl.rc_context(rc()):
        sheet = Sheet()
        rows = list(reversed(ROB_DOMAINS))
        names = [ROB_DOMAIN_NAMES[d] for d in rows]
        name_w = max(sheet.width(n) for n in names)
        bar_w = 3.6
        w = MARGIN * 2 + name_w + 0.15 + bar_w + 0.2
        h = MARGIN * 2 + ROW_H * 2 + 0.35 * len(rows) + 0.75
        sheet.fig.set_size_inches(w, h)
        title = "Risk of bias (RoB 2), " + ("weighted by study weight" if weights
                                            else "share of studies")
        sheet.put(MARGIN, h - MARGIN - ROW_H / 2, title, bold=True)
        ax = sheet.axes_inches(MARGIN + name_w + 0.15, MARGIN + 0.75, bar_w, 0.35 * len(rows))
        for r, d in enumerate(rows):
            left = 0.0
            for lv in LEVELS:
                share = 100 * sum(wt[i] for i in ids if judgements[i].get(d) == lv) / total
                if share > 0:
                    ax.barh(r, share, left=left, height=0.7, color=colours[lv],
                            edgecolor="#404040", lw=0.4)
                left += share
        ax.set_xlim(0, 100)
        ax.set_ylim(-0.5, len(rows) - 0.5)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(names)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.legend(handles=[Patch(facecolor=colours[lv], edgecolor="#404040", lw=0.4,
                                 label=LEVEL_NAMES[lv]) for lv in LEVELS],
                  loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False,
                  fontsize=8)
    return sheet.fig
