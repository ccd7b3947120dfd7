"""The one number formatter: every number a reader reads (text output, report, plots).

- P values: "P = 0.43", "P = 0.004", "P < 0.001" (no more digits than a reader uses).
- Ratios (RR, OR) as RevMan prints them: two decimals, never scientific notation; beyond
  the printable range "> 999" and "< 0.01".
- One precision per statistic (``PRECISION``): a ratio 2 decimals, tau² 3, tau 2, I² and
  shares 0, Z and Q 2.
- One interval notation per context: "0.88 [0.64, 1.21]" in forest plots and statistical
  tables (RevMan), "0.77 (0.56 to 1.07)" in the GRADE tables (GRADEpro).
"""

from __future__ import annotations

import math
import re

PRECISION = {"ratio": 2, "difference": 2, "tau2": 3, "tau": 2, "I2": 0, "z": 2, "Q": 2,
             "percent": 0, "weight": 1}


def p_value(p: float | None) -> str:
    """'P = 0.43', 'P = 0.004', 'P < 0.001'."""
    if p is None or not math.isfinite(p):
        return "P = NA"
    if p < 0.001:
        return "P < 0.001"
    if p < 0.01:
        return f"P = {p:.3f}"
    text = f"{p:.2f}"
    return "P > 0.99" if text == "1.00" and p < 1 else f"P = {text}"


def num(x: float | None, decimals: int = 2) -> str:
    """Fixed decimals, never scientific notation ("120581.14", "0.007")."""
    if x is None or not math.isfinite(x):
        return "NA"
    text = f"{x:.{decimals}f}"
    return text.lstrip("-") if float(text) == 0 else text


def ratio(x: float | None, decimals: int = PRECISION["ratio"]) -> str:
    """A risk or odds ratio as RevMan prints it: '0.77', '> 999', '< 0.01'."""
    if x is None or not math.isfinite(x):
        return "NA"
    if x >= 999.5:
        return "> 999"
    if 0 <= x < 0.5 * 10 ** -decimals:
        return f"< {10 ** -decimals:.{decimals}f}"
    return f"{x:.{decimals}f}"


def stat(name: str, x: float | None) -> str:
    """A statistic at its one precision (``PRECISION``): stat('tau2', 0.0065) -> '0.007'."""
    return num(x, PRECISION[name])


def percent(x: float | None, decimals: int = 0) -> str:
    return "NA" if x is None or not math.isfinite(x) else f"{x:.{decimals}f}%"


def _bound(x: float | None, decimals: int, is_ratio: bool) -> str:
    return ratio(x, decimals) if is_ratio else num(x, decimals)


def interval(est: float | None, lo: float | None, hi: float | None, decimals: int = 2,
             is_ratio: bool = True) -> str:
    """'0.88 [0.64, 1.21]' as in RevMan's forest plots and statistical tables; ratios
    beyond the printable range as '> 999' and '< 0.01' (``is_ratio=False`` for a risk
    difference)."""
    f = [_bound(v, decimals, is_ratio) for v in (est, lo, hi)]
    return f"{f[0]} [{f[1]}, {f[2]}]"


def ci_text(est: float | None, lo: float | None, hi: float | None, decimals: int = 2,
            is_ratio: bool = True) -> str:
    """'0.77 (0.56 to 1.07)' as GRADEpro writes an estimate and its CI."""
    f = [_bound(v, decimals, is_ratio) for v in (est, lo, hi)]
    return f"{f[0]} ({f[1]} to {f[2]})"


def range_text(lo: float | None, hi: float | None, decimals: int = 2,
               is_ratio: bool = True) -> str:
    """'0.56 to 1.07' (an interval without its estimate)."""
    return f"{_bound(lo, decimals, is_ratio)} to {_bound(hi, decimals, is_ratio)}"


SUPERSCRIPTS = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")


def power_of_ten(x: float) -> str:
    """2.0e6 -> '2 × 10⁶', 1.5e8 -> '1.5 × 10⁸' (cell doses)."""
    if x == 0 or not math.isfinite(x):
        return num(x, 0)
    exp = math.floor(math.log10(abs(x)))
    mant = x / 10 ** exp
    m = f"{mant:.2f}".rstrip("0").rstrip(".")
    return f"{m} × 10{str(exp).translate(SUPERSCRIPTS)}" if exp else m


def superscripts(text: str) -> str:
    """Powers of ten as a reader writes them: '1 x 10^6 cells/kg' -> '1 × 10⁶ cells/kg'."""
    text = re.sub(r"10\^([-+]?\d+)", lambda m: "10" + m.group(1).translate(SUPERSCRIPTS), text)
    return re.sub(r"(\d)\s*[xX]\s*10(?=[⁰¹²³⁴⁵⁶⁷⁸⁹⁻])", r"\1 × 10", text)
