"""What every metasynth figure shares: fonts, sizes, colour-blind-safe colours, measured
text, the effect axis, CI whiskers and reproducible saving.

Figures are built on ``matplotlib.figure.Figure`` with an Agg canvas, never pyplot, so
nothing depends on global state. Text is measured with the renderer so layouts are
computed (column widths, figure size) rather than guessed.
"""

from __future__ import annotations

import math

FONT_SIZE = 9.0
ROW_H = 0.22  # inches per row
GAP = 0.14  # inches between columns
MARGIN = 0.15
INK = "#1a1a1a"
GREY = "#7f7f7f"
# Okabe & Ito (2008) colour-blind-safe palette
BLUE, VERMILLION, GREEN, YELLOW, SKY = "#0072B2", "#D55E00", "#009E73", "#F0E442", "#56B4E9"
# Risk-of-bias colours and symbols as robvis draws them (McGuinness & Higgins 2021):
# "+" low, "−" some concerns, "X" high, "?" no information; Cochrane's colours (robvis's
# default) or a colour-blind-safe set. "not assessed" (no assessment for the outcome shown)
# is a pale grey cell without a symbol.
ROB_PALETTES = {
    "cochrane": {"low": "#02C100", "some-concerns": "#E2DF07", "high": "#BF0000",
                 "no-information": "#4EA1F7", "not assessed": "#E4E4E4"},
    "colourblind": {"low": GREEN, "some-concerns": YELLOW, "high": VERMILLION,
                    "no-information": SKY, "not assessed": "#E4E4E4"},
}
ROB_SYMBOLS = {"low": "+", "some-concerns": "−", "high": "X", "no-information": "?",
               "not assessed": ""}
ROB_LEVEL_NAMES = {"low": "Low", "some-concerns": "Some concerns", "high": "High",
                   "no-information": "No information", "not assessed": "Not assessed"}
ROB_KEY_LEVELS = ("low", "some-concerns", "high", "not assessed")
ROB_DOMAINS = ("D1", "D2", "D3", "D4", "D5", "overall")
ROB_DOMAIN_NAMES = {
    "D1": "Randomization process", "D2": "Deviations from intended interventions",
    "D3": "Missing outcome data", "D4": "Measurement of the outcome",
    "D5": "Selection of the reported result", "overall": "Overall risk of bias"}
MEASURE_NAMES = {"RR": "Risk ratio", "OR": "Odds ratio", "RD": "Risk difference",
                 "MD": "Mean difference", "SMD": "Std. mean difference",
                 "ROM": "Ratio of means", "HR": "Hazard ratio"}

# Axis ranges as RevMan offers them, each with ticks that fit a 2.6-inch axis.
LOG_RANGES = {(0.5, 2): (0.5, 0.7, 1, 1.5, 2), (0.2, 5): (0.2, 0.5, 1, 2, 5),
              (0.1, 10): (0.1, 0.2, 0.5, 1, 2, 5, 10), (0.05, 20): (0.05, 0.2, 1, 5, 20),
              (0.02, 50): (0.02, 0.1, 1, 10, 50), (0.01, 100): (0.01, 0.1, 1, 10, 100),
              (0.005, 200): (0.005, 0.1, 1, 10, 200), (0.001, 1000): (0.001, 0.1, 1, 10, 1000)}
LIN_RANGES = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0)
# differences not bounded by 1 (MD, SMD): RevMan's symmetric ranges on
WIDE_LIN_RANGES = LIN_RANGES + (2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
WIDEST_FOR_POOLED_CI = 5  # pooled CIs widen a ratio axis up to 0.01-100, no further


def rc() -> dict:
    # SVG text names DejaVu Sans (matplotlib's own font, which measures the layout) and
    # then the generic sans-serif, so a browser without DejaVu Sans keeps a sans font.
    # Mathtext off: labels come from the data, and "$...$" in an author name is text
    return {"text.parse_math": False, "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"],
            "font.size": FONT_SIZE, "svg.fonttype": "none",
            "pdf.fonttype": 42, "axes.linewidth": 0.8, "xtick.labelsize": FONT_SIZE - 1,
            "ytick.labelsize": FONT_SIZE - 1}


# the rc settings a text's width depends on, beside its words, weight and size
_WIDTH_RC = ("font.family", "font.sans-serif", "font.style", "font.stretch", "font.variant",
             "text.hinting", "text.hinting_factor", "text.kerning_factor", "text.antialiased")
_WIDTHS: dict = {}


class Sheet:
    """A Figure with an Agg renderer; positions in inches from the bottom left."""

    def __init__(self):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from metasynth.render.plots.fontfiles import in_memory

        in_memory()  # glyphs read from memory, not by a system call each: fontfiles.py
        self.fig = Figure(figsize=(8, 4), dpi=100)
        self.renderer = FigureCanvasAgg(self.fig).get_renderer()
        self.inch = self.fig.dpi_scale_trans

    def width(self, text: str, bold: bool = False, size: float = FONT_SIZE) -> float:
        """Width of ``text`` in inches as it will be drawn. A report measures the same
        words again and again (column heads, legends, study names on every figure): each
        is measured once per process and font settings (``_WIDTHS``)."""
        if not text:
            return 0.0
        import matplotlib as mpl

        key = (text, bold, size, self.fig.dpi,
               *(str(mpl.rcParams[k]) for k in _WIDTH_RC))
        if key not in _WIDTHS:
            t = self.fig.text(0, 0, text, fontsize=size,
                              fontweight="bold" if bold else "normal", parse_math=False)
            _WIDTHS[key] = t.get_window_extent(self.renderer).width / self.fig.dpi
            t.remove()
        return _WIDTHS[key]

    def put(self, x: float, y: float, text: str, ha: str = "left", bold: bool = False,
            color: str = INK, size: float = FONT_SIZE, **kw):
        if text:
            # data labels: "$...$" is text, whatever rc context the caller is in
            kw.setdefault("parse_math", False)
            return self.fig.text(x, y, text, transform=self.inch, ha=ha, va="center",
                                 fontsize=size, fontweight="bold" if bold else "normal",
                                 color=color, **kw)
        return None

    def axes_inches(self, x0: float, y0: float, w: float, h: float):
        fw, fh = self.fig.get_size_inches()
        return self.fig.add_axes((x0 / fw, y0 / fh, w / fw, h / fh))


def titled_frame(title: str, notes: list[str], plot_w: float, plot_h: float,
                 left: float = 0.9) -> tuple[Sheet, float, float]:
    """A figure with a bold title on top and one line per note below: room for a plot area
    ``plot_w`` x ``plot_h`` inches starting ``left`` inches from the edge. Returns the
    sheet, the bottom of the plot area and the figure's height (inches)."""
    sheet = Sheet()
    w = max(plot_w + left + 0.4, max([sheet.width(n) for n in notes] + [0]) + 2 * MARGIN,
            sheet.width(title, True) + 2 * MARGIN)
    h = MARGIN + ROW_H * 1.5 + plot_h + 0.6 + ROW_H * (len(notes) + 0.3) + MARGIN
    sheet.fig.set_size_inches(w, h)
    sheet.put(MARGIN, h - MARGIN - ROW_H / 2, title, bold=True)
    for i, n in enumerate(notes):
        sheet.put(MARGIN, MARGIN + ROW_H * (len(notes) - i - 0.5), n)
    return sheet, MARGIN + ROW_H * (len(notes) + 0.3) + 0.5, h


def x_range(points, pooled_cis, ratio: bool, wide: bool = False) -> tuple[float, float]:
    """The narrowest standard range holding every point estimate and, up to 0.01-100
    (ratios) or -1 to 1 (RD), the pooled CIs; what lies beyond ends in arrows. ``wide``:
    a difference not bounded by 1 (MD, SMD), on symmetric ranges up to ±1000."""
    ranges = list(LOG_RANGES) if ratio else [
        (-h, h) for h in (WIDE_LIN_RANGES if wide else LIN_RANGES)]

    def need(vals):
        vals = [v for v in vals if v is not None and math.isfinite(v) and (v > 0 or not ratio)]
        return next((i for i, (lo, hi) in enumerate(ranges)
                     if all(lo <= v <= hi for v in vals)), len(ranges) - 1)

    cap = WIDEST_FOR_POOLED_CI if ratio else len(ranges) - 1
    return ranges[max(need(points), min(need(pooled_cis), cap))]


def effect_axis(ax, x_lo: float, x_hi: float, ratio: bool) -> float:
    """Log (ratios) or linear (RD) effect axis with the line of no effect; returns it."""
    if ratio:
        ax.set_xscale("log")
        ticks = list(LOG_RANGES[(x_lo, x_hi)])
    else:
        half = x_hi / 2
        ticks = [x_lo, -half, 0.0, half, x_hi] if round(half, 2) == half else [x_lo, 0.0, x_hi]
    ax.set_xlim(x_lo, x_hi)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}".replace("-", "−") for t in ticks])
    ax.minorticks_off()
    ax.tick_params(axis="x", length=3, pad=2)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    null = 1.0 if ratio else 0.0
    ax.axvline(null, color=GREY, lw=0.8, zorder=0)
    ax.patch.set_alpha(0)
    return null


def whisker(ax, y, lo, hi, x_lo, x_hi, color=INK, lw=1.0):
    """A CI line; where it leaves the axis it ends in an arrow at the axis edge."""
    if lo is None or hi is None:
        return
    a, b = max(lo, x_lo), min(hi, x_hi)
    if b < x_lo or a > x_hi:
        a = b = x_lo if hi < x_lo else x_hi
    ax.plot([a, b], [y, y], color=color, lw=lw, solid_capstyle="butt", zorder=2)
    if lo < x_lo:
        ax.plot([x_lo], [y], marker="<", color=color, markersize=4, zorder=2, clip_on=False)
    if hi > x_hi:
        ax.plot([x_hi], [y], marker=">", color=color, markersize=4, zorder=2, clip_on=False)


def diamond(ax, y, est, lo, hi, x_lo, x_hi, color=INK, half_height=0.32):
    from matplotlib.patches import Polygon

    lo, hi = max(lo, x_lo), min(hi, x_hi)
    est = min(max(est, x_lo), x_hi)
    ax.add_patch(Polygon([(lo, y), (est, y - half_height), (hi, y), (est, y + half_height)],
                         closed=True, color=color, zorder=3))


def favours(sheet: Sheet, ax, y: float, null: float, ratio: bool, x_lo: float, x_hi: float,
            better: str, experimental: str, control: str) -> None:
    """"Favours ..." either side of the line of no effect, the side from the outcome's
    direction (lower is better: the experimental arm is favoured left of it)."""
    from matplotlib.transforms import blended_transform_factory

    tx = blended_transform_factory(ax.transData, sheet.inch)
    left, right = (experimental, control) if better == "lower" else (control, experimental)
    gap = (x_hi / x_lo) ** 0.02 if ratio else (x_hi - x_lo) * 0.02
    for label, xpos, ha in ((left, null / gap if ratio else null - gap, "right"),
                            (right, null * gap if ratio else null + gap, "left")):
        sheet.fig.text(xpos, y, f"Favours {label}", transform=tx, ha=ha, va="center",
                       fontsize=FONT_SIZE - 0.5, color=INK)


def save_figure(fig, path) -> None:
    """Save with fixed metadata so the same data give byte-identical SVG and PDF files
    (no dates, fixed SVG hash salt); written to a temporary file and renamed, so an
    interrupted run leaves the previous file intact (``outputs.atomic_output``)."""
    from pathlib import Path

    import matplotlib as mpl

    from metasynth.outputs import atomic_output
    from metasynth.render.plots.fontfiles import from_files

    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    metadata = {"svg": {"Date": None, "Creator": "metasynth"},
                "pdf": {"CreationDate": None, "ModDate": None, "Creator": "metasynth",
                        "Producer": "metasynth"},
                "png": {"Software": "metasynth"}}.get(fmt)
    if metadata is None:
        raise ValueError(f"unsupported figure format {path.suffix!r} (use .png, .svg or .pdf)")
    with mpl.rc_context({"svg.hashsalt": "metasynth", "svg.fonttype": "none",
                         "pdf.fonttype": 42, "font.sans-serif": rc()["font.sans-serif"]}), \
            atomic_output(path) as fh, from_files():  # PDF embeds fonts by path: fontfiles.py
        fig.savefig(fh, format=fmt, dpi=200 if fmt == "png" else 72, metadata=metadata)


_SVG_METRICS: dict = {}


class _SvgTextMetrics:
    """matplotlib's SVG text measurement, kept for the process.

    ``RendererSVG.get_text_width_height_descent`` lays the string out at 100 pt
    (``textpath.TextToPath``, ``FONT_SCALE``), about 1 ms for a 30-letter label under
    matplotlib 3.11, and matplotlib caches the answer per renderer, that is per figure.
    The report's 27 figures asked 1,046 times for 372 distinct strings (0.6 CPU-s). The
    answer depends only on the string, the font properties, mathtext and the rc font
    settings that resolve a generic family, which make the key here."""

    def __enter__(self):
        from matplotlib.backends.backend_svg import RendererSVG

        self.owner, self.original = RendererSVG, RendererSVG.get_text_width_height_descent
        original = self.original

        def measured(renderer, s, prop, ismath):
            import matplotlib as mpl

            key = (s, prop.copy(), ismath, *(str(mpl.rcParams[k]) for k in _WIDTH_RC))
            if key not in _SVG_METRICS:
                _SVG_METRICS[key] = original(renderer, s, prop, ismath)
            return _SVG_METRICS[key]

        self.owner.get_text_width_height_descent = measured
        return self

    def __exit__(self, *exc):
        self.owner.get_text_width_height_descent = self.original


def figure_svg(fig) -> str:
    """The figure as SVG markup (text kept as text, no date, fixed ids) for inlining."""
    import io

    import matplotlib as mpl

    buf = io.StringIO()
    # font.sans-serif as the figure was drawn with: SVG text then reads
    # "font-family: 'DejaVu Sans', sans-serif"
    with mpl.rc_context({"svg.hashsalt": "metasynth", "svg.fonttype": "none",
                         "font.sans-serif": rc()["font.sans-serif"]}), _SvgTextMetrics():
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "metasynth"})
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype for inlining


def rob_dot(cx: float, cy: float, level: str, palette: dict, transform, radius: float = 0.075):
    """A robvis judgement cell: a filled circle (pale and dashed when not assessed)."""
    from matplotlib.patches import Circle

    missing = level == "not assessed"
    return Circle((cx, cy), radius, transform=transform, facecolor=palette[level],
                  edgecolor="#9a9a9a" if missing else "#404040", lw=0.4,
                  ls=(0, (1.5, 1.5)) if missing else "-", zorder=1)


def rob_key_width(sheet, levels=ROB_KEY_LEVELS) -> float:
    return sum(0.24 + sheet.width(ROB_LEVEL_NAMES[lv]) + 0.18 for lv in levels)


def rob_key(sheet, x: float, y: float, palette: dict, levels=ROB_KEY_LEVELS) -> float:
    """The swatch legend (dot, symbol, words) from ``x`` at height ``y``; returns its end."""
    for lv in levels:
        sheet.fig.add_artist(rob_dot(x + 0.09, y, lv, palette, sheet.inch))
        sheet.put(x + 0.09, y, ROB_SYMBOLS[lv], ha="center", bold=True)
        sheet.put(x + 0.24, y, ROB_LEVEL_NAMES[lv])
        x += 0.24 + sheet.width(ROB_LEVEL_NAMES[lv]) + 0.18
    return x
