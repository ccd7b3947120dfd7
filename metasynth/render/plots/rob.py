"""Risk-of-bias figures in the look reviewers know from robvis (McGuinness & Higgins
2021, Res Synth Methods 12:55-61): the traffic-light plot (study x domain) and the
summary bar plot (share of studies, or of weight, at each judgement per domain).
Colours: Cochrane's palette (robvis's default) or a colour-blind-safe one (Okabe & Ito);
every judgement also carries robvis's symbol (+ low, − some concerns, X high, ? no
information) so colour is never the only cue. RoB 2 is outcome-specific: each figure is
of the assessments made for one endpoint, named in its title, and a trial without an
assessment for it is drawn "not assessed", never with another outcome's judgements."""

from __future__ import annotations

from metasynth.render.plots.kit import (
    GREY,
    MARGIN,
    ROB_DOMAIN_NAMES,
    ROB_DOMAINS,
    ROB_LEVEL_NAMES,
    ROB_PALETTES,
    ROB_SYMBOLS,
    ROW_H,
    Sheet,
    rc,
    rob_dot,
    rob_key,
    rob_key_width,
)

LEVELS = ("low", "some-concerns", "high", "not assessed")
LEVEL_NAMES = ROB_LEVEL_NAMES


def _title(endpoint: str | None) -> str:
    return "Risk of bias (RoB 2)" + (f" for {endpoint.lower()}" if endpoint else "")


def _legend_lines() -> list[str]:
    return [f"{d}: {ROB_DOMAIN_NAMES[d]}" for d in ROB_DOMAINS[:-1]]


def traffic_light_plot(judgements: dict, labels: dict | None = None,
                       palette: str = "cochrane", endpoint: str | None = None,
                       studies: list[str] | None = None):
    """``judgements``: {study id: {D1..D5, overall: low | some-concerns | high}}, the
    assessments made for ``endpoint`` (its label, for the title); ``studies``: the trials
    to show, in order (default: those assessed); one without an assessment is drawn
    "not assessed"."""
    import matplotlib as mpl

    colours = ROB_PALETTES[palette]
    labels = labels or {}
    ids = list(studies) if studies is not None else list(judgements)
    with mpl.rc_context(rc()):
        sheet = Sheet()
        names = [labels.get(i, i) for i in ids]
        name_w = max([sheet.width(n) for n in names] + [sheet.width("Study", True)])
        col_w = 0.42
        legend = _legend_lines()
        title = _title(endpoint)
        w = max(MARGIN * 2 + name_w + 0.2 + col_w * len(ROB_DOMAINS),
                max(sheet.width(t) for t in legend) + 2 * MARGIN,
                sheet.width(title, True) + 2 * MARGIN, rob_key_width(sheet) + 2 * MARGIN)
        h = MARGIN * 2 + ROW_H * (2 + len(ids) + 1 + len(legend) + 1)
        sheet.fig.set_size_inches(w, h)

        def y(i):
            return h - MARGIN - (i + 0.5) * ROW_H

        sheet.put(MARGIN, y(0), title, bold=True)
        x0 = MARGIN + name_w + 0.2
        sheet.put(MARGIN, y(1), "Study", bold=True)
        for j, d in enumerate(ROB_DOMAINS):
            sheet.put(x0 + (j + 0.5) * col_w, y(1), "Overall" if d == "overall" else d,
                      ha="center", bold=True)
        for i, (sid, name) in enumerate(zip(ids, names), start=2):
            sheet.put(MARGIN, y(i), name)
            for j, d in enumerate(ROB_DOMAINS):
                level = judgements.get(sid, {}).get(d, "not assessed")
                cx = x0 + (j + 0.5) * col_w
                sheet.fig.add_artist(rob_dot(cx, y(i), level, colours, sheet.inch, 0.085))
                sheet.put(cx, y(i), ROB_SYMBOLS[level], ha="center", bold=True)
        row = len(ids) + 2.5
        for k, line in enumerate(legend):
            sheet.put(MARGIN, y(row + k), line, color=GREY)
        rob_key(sheet, MARGIN, y(row + len(legend)), colours)
    return sheet.fig


def summary_plot(judgements: dict, weights: dict | None = None, palette: str = "cochrane",
                 endpoint: str | None = None, studies: list[str] | None = None):
    """Share of studies (or of ``weights``: {study id: weight}) at each judgement, per
    domain, of the assessments made for ``endpoint``; ``studies``: the trials counted
    (default: those assessed), a trial without an assessment counted "not assessed"."""
    import matplotlib as mpl
    from matplotlib.patches import Patch

    colours = ROB_PALETTES[palette]
    ids = list(studies) if studies is not None else list(judgements)
    wt = {i: (weights or {}).get(i, 1.0) if weights else 1.0 for i in ids}
    total = sum(wt.values()) or 1.0
    with mpl.rc_context(rc()):
        sheet = Sheet()
        rows = list(reversed(ROB_DOMAINS))
        names = [ROB_DOMAIN_NAMES[d] for d in rows]
        name_w = max(sheet.width(n) for n in names)
        bar_w = 3.6
        title = _title(endpoint) + (", weighted by study weight" if weights
                                    else ", share of studies")
        w = max(MARGIN * 2 + name_w + 0.15 + bar_w + 0.2, sheet.width(title, True) + 2 * MARGIN)
        h = MARGIN * 2 + ROW_H * 2 + 0.35 * len(rows) + 0.75
        sheet.fig.set_size_inches(w, h)
        sheet.put(MARGIN, h - MARGIN - ROW_H / 2, title, bold=True)
        ax = sheet.axes_inches(MARGIN + name_w + 0.15, MARGIN + 0.75, bar_w, 0.35 * len(rows))
        bars = []  # (row, share, left, level), drawn by one barh call (one artist per bar)
        for r, d in enumerate(rows):
            left = 0.0
            for lv in LEVELS:
                share = 100 * sum(wt[i] for i in ids
                                  if judgements.get(i, {}).get(d, "not assessed") == lv) / total
                if share > 0:
                    bars.append((r, share, left, lv))
                left += share
        if bars:
            ax.barh([b[0] for b in bars], [b[1] for b in bars], left=[b[2] for b in bars],
                    height=0.7, color=[colours[b[3]] for b in bars], edgecolor="#404040",
                    lw=0.4)
        ax.set_xlim(0, 100)
        ax.set_ylim(-0.5, len(rows) - 0.5)
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(names)
        ax.set_xticks([0, 25, 50, 75, 100])
        ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        shown = [lv for lv in LEVELS if lv != "not assessed"
                 or any(i not in judgements for i in ids)]
        ax.legend(handles=[Patch(facecolor=colours[lv], edgecolor="#404040", lw=0.4,
                                 label=f"{ROB_SYMBOLS[lv]} {LEVEL_NAMES[lv]}".strip())
                           for lv in shown],
                  loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(shown),
                  frameon=False, fontsize=8)
    return sheet.fig
