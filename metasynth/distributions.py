"""Normal, Student t and chi-square tail probabilities and quantiles.

Why not ``scipy.special`` (or ``scipy.stats``)? Importing ``scipy.special`` costs about
0.25 s on these machines (it pulls in its array-API layer and ``numpy.f2py``): half of
``metasynth pool``'s start-up, against a target of half of metafor's wall time. The
functions needed here are a few textbook continued fractions, so they are written out
with the standard library and numpy, and ``tests/test_distributions.py`` pins them to
scipy over wide grids (relative error < 1e-12).

Regularized incomplete beta and gamma: continued fractions evaluated by the modified
Lentz method (Press et al., Numerical Recipes, 3rd ed., 6.2 and 6.4; Lentz 1976), in
plain Python floats (for one value ~100x faster than numpy); arrays loop over them.
Quantiles: Newton steps kept inside a bracket, to machine precision.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

_EPS = 1e-16
_TINY = 1e-300
_MAXITER = 400
_STD_NORMAL = NormalDist()


def _as_array(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _scalar_if(shape_source, out):
    return float(out) if np.ndim(shape_source) == 0 and np.ndim(out) == 0 else out


# --- normal ---------------------------------------------------------------------

_erfc = np.frompyfunc(math.erfc, 1, 1)


def norm_cdf(x):
    """P(Z <= x)."""
    x = _as_array(x)
    out = np.asarray(0.5 * _erfc(-x / math.sqrt(2.0)), dtype=float)
    return _scalar_if(x, out)


def norm_sf2(z):
    """Two-sided normal p-value, 2 * P(Z > |z|)."""
    z = _as_array(z)
    if z.size > LARGE:
        from scipy import special

        return 2.0 * special.ndtr(-np.abs(z))
    out = np.asarray(_erfc(np.abs(z) / math.sqrt(2.0)), dtype=float)
    return _scalar_if(z, out)


def norm_quantile(p: float) -> float:
    """Standard normal quantile (``qnorm``), Wichura's AS241 via the standard library."""
    return _STD_NORMAL.inv_cdf(p)


# --- incomplete beta and gamma (scalars; arrays loop over them) ----------------------

def _betacf1(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAXITER + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        c = 1.0 + aa / c
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        c = 1.0 + aa / c
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _EPS:
            break
    return h


def _betainc1(a: float, b: float, x: float, y: float) -> float:
    if x <= 0:
        return 0.0
    if y <= 0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log(y))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf1(a, b, x) / a
    return 1.0 - front * _betacf1(b, a, y) / b


def _gammaincc1(a: float, x: float) -> float:
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        ap, total = a, 1.0 / a
        delta = total
        for _ in range(_MAXITER * 4):
            ap += 1.0
            delta *= x / ap
            total += delta
            if abs(delta) < abs(total) * _EPS:
                break
        return 1.0 - total * math.exp(log_front)
    b = x + 1.0 - a
    c, d = 1.0 / _TINY, 1.0 / b
    h = d
    for i in range(1, _MAXITER + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= _EPS:
            break
    return math.exp(log_front) * h


def _t_sf2_1(t: float, df: float) -> float:
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return _betainc1(df / 2.0, 0.5, df / (df + t * t), t * t / (df + t * t))


def _newton(f, fprime, x: float, lo: float, hi: float) -> float:
    """Root of an increasing f in [lo, hi] by Newton steps kept inside the bracket."""
    for _ in range(100):
        fx = f(x)
        if fx == 0:
            return x
        if fx > 0:
            hi = x
        else:
            lo = x
        slope = fprime(x)
        step = fx / slope if slope > 0 else math.inf
        new = x - step
        if not (lo < new < hi) or not math.isfinite(new):
            new = 0.5 * (lo + hi) if math.isfinite(hi) else max(2.0 * x, 1.0)
        if abs(new - x) <= 1e-15 * abs(new):
            return new
        x = new
    return x


# --- t and chi-square --------------------------------------------------------------------

# Above this many values, scipy's vectorized ufuncs are imported (once, ~0.25 s) instead
# of looping in Python (~20 us a value): batches of thousands of meta-analyses.
LARGE = 2048


def t_sf2(t, df):
    """Two-sided Student t p-value, 2 * P(T_df > |t|) = I_{df/(df+t^2)}(df/2, 1/2)."""
    t, df = _as_array(t), _as_array(df)
    tb, db = np.broadcast_arrays(t, df)
    if tb.size > LARGE:
        from scipy import special

        return 2.0 * special.stdtr(db, -np.abs(tb))
    out = np.array([_t_sf2_1(a, b) for a, b in zip(tb.ravel().tolist(), db.ravel().tolist())])
    return _scalar_if(t, out.reshape(tb.shape))


def _t_quantile_one(p: float, df: float) -> float:
    if p == 0.5:
        return 0.0
    upper = p > 0.5
    tail = 1.0 - p if upper else p  # one-sided tail beyond |t|
    if df == 1:
        q = math.tan(math.pi * (0.5 - tail))
    elif df == 2:
        q = (1 - 2 * tail) / math.sqrt(2 * tail * (1 - tail))
    else:
        z = norm_quantile(1.0 - tail)
        q = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

        def f(t):  # increasing in t: one-sided tail target minus tail at t
            return tail - 0.5 * _t_sf2_1(t, df)

        def fprime(t):
            return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))

        q = _newton(f, fprime, max(q, 1e-8), 0.0, math.inf)
    return q if upper else -q


def _per_df(df, quantile):
    """Apply a scalar quantile function once per distinct df value."""
    df_arr = _as_array(df)
    # a batch of fits has a few distinct df among many rows: one call per distinct value
    # (NaN compares unequal to itself, so NaNs are mapped one by one, as before)
    flat = df_arr.ravel()
    nan = np.isnan(flat)
    out = np.empty(flat.size)
    if (~nan).any():
        values, inverse = np.unique(flat[~nan], return_inverse=True)
        out[~nan] = np.array([quantile(d) for d in values.tolist()])[inverse]
    out[nan] = [quantile(d) for d in flat[nan].tolist()]
    out = out.reshape(df_arr.shape)
    return float(out) if out.ndim == 0 else out


def t_quantile(p: float, df):
    """Student t quantile (``qt(p, df)``); NaN where df < 1."""
    return _per_df(df, lambda d: _t_quantile_one(p, d) if d >= 1 else math.nan)


def chi2_sf(x, df):
    """Upper tail of chi-square, P(X_df > x) (``pchisq(x, df, lower.tail = FALSE)``)."""
    x, df = _as_array(x), _as_array(df)
    xb, db = np.broadcast_arrays(x, df)
    if xb.size > LARGE:
        from scipy import special

        return special.chdtrc(db, np.maximum(xb, 0.0))
    out = np.array([math.nan if math.isnan(a) else _gammaincc1(b / 2.0, max(a, 0.0) / 2.0)
                    for a, b in zip(xb.ravel().tolist(), db.ravel().tolist())])
    return _scalar_if(x, out.reshape(xb.shape))


def _chi2_quantile_one(p: float, k: float) -> float:
    z = norm_quantile(p)
    h = 2.0 / (9.0 * k)
    x0 = k * max(1.0 - h + z * math.sqrt(h), 0.05) ** 3  # Wilson-Hilferty start
    log_c = -(k / 2) * math.log(2.0) - math.lgamma(k / 2)

    def f(x):  # increasing: cdf(x) - p
        return (1.0 - _gammaincc1(k / 2.0, x / 2.0)) - p

    def fprime(x):
        return math.exp(log_c + (k / 2 - 1) * math.log(x) - x / 2) if x > 0 else 0.0

    return _newton(f, fprime, x0, 0.0, math.inf)


def chi2_quantile(p: float, df):
    """Chi-square quantile (``qchisq(p, df)``)."""
    return _per_df(df, lambda d: _chi2_quantile_one(p, d))


def f_sf(x, d1, d2):
    """Upper tail of the F distribution, P(F_{d1,d2} > x) = I_{d2/(d2+d1 x)}(d2/2, d1/2)."""
    x, d1, d2 = (_as_array(a) for a in (x, d1, d2))
    xb, ab, bb = np.broadcast_arrays(x, d1, d2)
    out = []
    for xi, a, b in zip(xb.ravel().tolist(), ab.ravel().tolist(), bb.ravel().tolist()):
        if math.isnan(xi):
            out.append(math.nan)
        elif xi <= 0:
            out.append(1.0)
        else:
            out.append(_betainc1(b / 2.0, a / 2.0, b / (b + a * xi), a * xi / (b + a * xi)))
    return _scalar_if(x, np.array(out).reshape(xb.shape))
