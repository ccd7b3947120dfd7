"""Number formats as RevMan prints them."""

from __future__ import annotations

import math


def p_value(p: float | None) -> str:
    """RevMan style: 'P = 0.43', 'P = 0.004', 'P < 0.00001'."""
    if p is None or not math.isfinite(p):
        return "P = NA"
    if p < 0.00001:
        return "P < 0.00001"
    for decimals, floor in ((2, 0.01), (3, 0.001), (4, 0.0001), (5, 0.00001)):
        if p >= floor:
            text = f"{p:.{decimals}f}"
            return f"P = {text}"
    return "P < 0.00001"  # pragma: no cover


def num(x: float | None, decimals: int = 2) -> str:
    """Fixed decimals; beyond 10,000 three significant digits ("3.61e+11"), since the
    bounds of a wide interval on the ratio scale can be astronomically large."""
    if x is None or not math.isfinite(x):
        return "NA"
    if abs(x) >= 1e4:
        return f"{x:.3g}"
    text = f"{x:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def percent(x: float | None, decimals: int = 0) -> str:
    return "NA" if x is None or not math.isfinite(x) else f"{x:.{decimals}f}%"


def interval(est: float | None, lo: float | None, hi: float | None, decimals: int = 2) -> str:
    """'0.88 [0.64, 1.21]' as in RevMan's forest plots."""
    return f"{num(est, decimals)} [{num(lo, decimals)}, {num(hi, decimals)}]"
