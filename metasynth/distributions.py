"""Normal, t and chi-square tail functions, from ``scipy.special``.

``scipy.stats`` costs about a second to import on these machines; the ufuncs in
``scipy.special`` give the same numbers (``scipy.stats`` calls them) and load in a
fraction of that, which keeps ``metasynth pool`` fast to start.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def norm_sf2(z: np.ndarray | float) -> np.ndarray:
    """Two-sided normal p-value, 2 * P(Z > |z|)."""
    return 2.0 * special.ndtr(-np.abs(z))


def norm_quantile(p: float) -> float:
    """Standard normal quantile (``qnorm``)."""
    return float(special.ndtri(p))


def t_sf2(t: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Two-sided Student t p-value, 2 * P(T_df > |t|)."""
    return 2.0 * special.stdtr(df, -np.abs(t))


def t_quantile(p: float, df: np.ndarray | float) -> np.ndarray:
    """Student t quantile (``qt``); NaN where df < 1."""
    df = np.asarray(df, dtype=float)
    out = np.full(df.shape, np.nan)
    ok = df >= 1
    out[ok] = special.stdtrit(df[ok], p)
    return out if out.shape else float(out)


def chi2_sf(x: np.ndarray | float, df: np.ndarray | float) -> np.ndarray:
    """Upper tail of chi-square, P(X_df > x) (``pchisq(..., lower.tail = FALSE)``)."""
    return special.chdtrc(df, x)


def chi2_quantile(p: float, df: np.ndarray | float) -> np.ndarray:
    """Chi-square quantile (``qchisq(p, df)``)."""
    return special.chdtri(df, 1.0 - p)
