"""Binomial-normal GLMMs for the odds ratio, fitted by maximum likelihood as
metafor 3.8's ``rma.glmm(measure = "OR", model = ...)``: UM.FS, UM.RS, CM.EL, CM.AL.

Stijnen, Hamza & Oezdemir (2010), Stat Med 29:3046; Jackson et al. (2018), Stat Med
37:1059 (they compare these models); Viechtbauer (2010), J Stat Softw 36(3) (metafor).

The likelihoods are in :mod:`metasynth.models.sparse.likelihoods`. The maximum is found
by L-BFGS-B (SD parameters bounded below by 0) and polished by Newton steps on a
central-difference Hessian; the standard error comes from that Hessian of the deviance
in (SDs, fixed effects), as lme4's ``vcov`` (its Hessian by finite differences, step
1e-4) and metafor's ``numDeriv::hessian`` for CM.EL. Where metafor's CM.EL cannot
invert its Hessian because tau^2 runs to 0 (log tau^2 to minus infinity), the maximum
is on the boundary: metasynth reports it as such, tau^2 = 0, and the SE from the
Hessian of the log OR at tau^2 = 0 (the same fit as ``rma.glmm(model = "CM.EL",
method = "EE")``).

Results carry status codes, not words (``render/text/sparse.py`` has the words).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from metasynth.distributions import chi2_sf, norm_quantile, norm_sf2, t_quantile
from metasynth.models.sparse import glm as G
from metasynth.models.sparse import likelihoods as L

GLMM_MODELS = ("UM.FS", "UM.RS", "CM.EL", "CM.AL")
NAGQ = {"UM.FS": 7, "UM.RS": 1, "CM.AL": 7, "CM.EL": 0}
BOUNDARY_SD = 1e-4   # an SD below this at the optimum is the boundary tau = 0


@dataclass(frozen=True)
class GLMMFit:
    model: str
    status: str    # ok | tau2_boundary | not_converged | not_estimable | too_few_trials
    estimate: float | None      # log odds ratio
    se: float | None
    tau2: float | None
    ci_lower: float | None
    ci_upper: float | None
    z: float | None
    p: float | None
    ci_t_lower: float | None    # test = "t": t with k - 1 df
    ci_t_upper: float | None
    df_t: int
    qe_wald: float | None
    qe_lrt: float | None
    qe_df: int
    qe_wald_p: float | None
    qe_lrt_p: float | None
    loglik: float | None
    trials_used: int
    participants_used: int
    nagq: int
    reason: str | None = None   # status detail code
    details: dict = field(default_factory=dict)


# metasynth.distributions, not scipy.stats: importing scipy.stats costs ~0.5 CPU-s,
# which these two scalars were the report's only reason to pay
def _chi2_sf(x, df):
    return float(chi2_sf(x, df)) if x is not None and df > 0 else None


def _t_crit(level, df):
    return float(t_quantile(1 - (1 - level) / 2, df))


class _Objective:
    """A deviance that is a sum of per-trial terms, with ``m`` shared parameters
    (SDs first, then fixed effects) and optionally one local parameter per trial (the
    UM.FS study intercepts, each entering only its own trial's term).

    Derivatives are central differences. Because a local parameter enters one term
    only, all locals are perturbed at once and each term gives its own derivatives: a
    Newton step costs O(m^2) vectorised evaluations whatever the number of trials.
    """

    def __init__(self, terms, m: int, k: int, local: bool, batched: bool = False):
        # batched: ``terms`` also takes a stack of parameter vectors (B, p) and returns
        # (B, k); the points of a finite-difference Hessian are then one evaluation
        self.terms, self.m, self.k, self.local, self.batched = terms, m, k, local, batched

    def __call__(self, x):
        # a non-finite deviance (overflow far from the maximum) is never a step to take
        v = float(np.sum(self.terms(x)))
        return v if np.isfinite(v) else np.inf

    def _dirs(self, x, h, fixed):
        m = self.m
        dirs = [j for j in range(m) if j not in fixed]
        E = []
        for j in dirs:
            e = np.zeros_like(x)
            e[j] = h
            E.append(e)
        if self.local:
            e = np.zeros_like(x)
            e[m:] = h
            E.append(e)
        return dirs, E

    def grad_hess(self, x, h=1e-4, fixed=()):
        """Gradient and Hessian over the free coordinates (``fixed``: shared indices held)."""
        dirs, E = self._dirs(x, h, fixed)
        nd = len(E)
        pairs = [(i, j) for i in range(nd) for j in range(i)]
        points = ([x] + [x + e for e in E] + [x - e for e in E]
                  + [x + sa * E[i] + sb * E[j] for i, j in pairs
                     for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1))])
        F = self.terms(np.stack(points)) if self.batched else [self.terms(p) for p in points]
        f0, fp, fm = F[0], F[1:1 + nd], F[1 + nd:1 + 2 * nd]
        cross = {}
        for n, (i, j) in enumerate(pairs):
            pp, pm, mp, mm = F[1 + 2 * nd + 4 * n:5 + 2 * nd + 4 * n]
            cross[i, j] = (pp - pm - mp + mm) / (4 * h * h)
        ns = len(dirs)
        p = ns + (self.k if self.local else 0)
        g = np.zeros(p)
        H = np.zeros((p, p))
        for i in range(ns):
            g[i] = np.sum(fp[i] - fm[i]) / (2 * h)
            H[i, i] = np.sum(fp[i] - 2 * f0 + fm[i]) / h ** 2
            for j in range(i):
                H[i, j] = H[j, i] = np.sum(cross[i, j])
        if self.local:
            L = ns
            g[ns:] = (fp[L] - fm[L]) / (2 * h)
            H[ns:, ns:] = np.diag((fp[L] - 2 * f0 + fm[L]) / h ** 2)
            for i in range(ns):
                H[i, ns:] = H[ns:, i] = cross[L, i]
        idx = np.array(dirs + (list(range(self.m, self.m + self.k)) if self.local else []), int)
        return g, H, idx


def _col(par, i):
    """Parameter ``i`` of one vector (p,) or of a stack (B, p), shaped to broadcast over
    (trials, observations)."""
    return par[..., i, None, None] if par.ndim > 1 else par[i]


def _warm(state: dict, key: str, par, deviance):
    """Evaluate ``deviance(u0)`` from the last single evaluation's conditional modes
    (``state[key]``). A single evaluation stores its modes for the next; a stack of
    points (a Hessian's) all start from them and store nothing."""
    u0 = state[key]
    if par.ndim == 1:
        d, state[key] = deviance(u0)
        return d
    if u0 is not None:
        u0 = np.broadcast_to(u0, (par.shape[0],) + u0.shape)
    return deviance(u0)[0]


def _minimise(obj: _Objective, x0, n_sd, hold=(), ftol: float | None = None, maxiter: int = 200,
              _restart: bool = False):
    """Levenberg-damped Newton on ``obj`` from ``x0``; the first ``n_sd`` coordinates are
    SDs (the deviance is even in each). An SD below ``BOUNDARY_SD`` is set to 0 and
    held there (the boundary, where the deviance is stationary by symmetry).
    ``ftol``: also stop when an iteration lowers the deviance by less than this (for
    fits whose maximum lies at infinity, e.g. a zero cell's own log OR, as glm stops).
    Returns ``(x, deviance, converged, fixed)``.
    """
    x = np.asarray(x0, float).copy()
    fixed: set[int] = set(hold)
    f0 = obj(x)
    converged = False
    lam = 0.0
    for _ in range(maxiter):
        for j in range(n_sd):
            if j not in fixed and abs(x[j]) < BOUNDARY_SD:
                x[j] = 0.0
                fixed.add(j)
                f0 = obj(x)
        g, H, idx = obj.grad_hess(x, h=1e-5, fixed=fixed)
        # (every coordinate held, e.g. a profile at tau = 0 of a model without others)
        if not g.size or np.max(np.abs(g)) < 1e-8:
            converged = True
            break
        lam = max(lam / 10.0, 0.0)
        moved = False
        for _ in range(40):
            try:
                step = np.linalg.solve(H + lam * np.diag(np.maximum(np.abs(np.diag(H)), 1e-8)), g)
            except np.linalg.LinAlgError:
                step = None
            if step is not None and np.all(np.isfinite(step)) and np.all(np.isfinite(g)):
                y = x.copy()
                y[idx] = x[idx] - step
                fy = obj(y)
                if fy <= f0:
                    moved = True
                    small = np.max(np.abs(step)) < 1e-10 or (ftol is not None and f0 - fy < ftol)
                    x, f0 = y, fy
                    break
            lam = max(lam * 10.0, 1e-6)
        if not moved or small:
            converged = moved or np.max(np.abs(g)) < 1e-5
            break
    x[:n_sd] = np.abs(x[:n_sd])
    # an SD can pass near 0 on the way to an inner maximum: restart each SD held at 0
    # from 0.5 and keep the restart if its deviance is lower
    if not _restart:
        for j in sorted(fixed - set(hold)):
            y = x.copy()
            y[j] = 0.5
            r = _minimise(obj, y, n_sd, hold, ftol, maxiter, _restart=True)
            if r[1] < f0 - 1e-9:
                x, f0, converged, fixed = r
    return x, f0, converged, fixed


def _as_arrays(a, n1, c, n2):
    return (np.asarray(a, float), np.asarray(n1, float), np.asarray(c, float), np.asarray(n2, float))


def _informative(model, a, n1, c, n2):
    """Trials that enter the model's likelihood with information on the log OR or tau^2.

    Double-zero (and double-full) trials carry none in UM.FS (their fixed intercept
    absorbs them) and none in the conditional models (the total is 0 or everything);
    in UM.RS they inform the random intercept distribution and so the fit.
    """
    m = a + c
    full = (m == 0) | (m == n1 + n2)
    if model == "UM.RS":
        return np.ones(len(a), bool)
    return ~full


def _heterogeneity(model, a, n1, c, n2):
    """metafor's Wald and LRT tests of the saturated vs. the common-OR model (k - 1 df)."""
    k = len(a)
    if k < 2:
        return None, None, 0
    if model == "UM.FS":
        eta, v = G.glm_saturated(np.concatenate([a, c]), np.concatenate([n1, n2]))
        eta_t, eta_c, v_t, v_c = eta[:k], eta[k:], v[:k], v[k:]
        wald = G.wald_equal(eta_t - eta_c, v_t + v_c)
        X = np.zeros((2 * k, k + 1))
        X[0::2, 0] = 1.0
        X[np.arange(2 * k), 1 + np.repeat(np.arange(k), 2)] = 1.0
        x = np.ravel(np.column_stack([a, c]))
        n = np.ravel(np.column_stack([n1, n2]))
        _, ll_fe, _ = G.logistic_fit(X, x, n)
        mu_sat = np.ravel(np.column_stack([G.linkinv(eta_t), G.linkinv(eta_c)]))
        ll_qe = float(G.binom_loglik(x, n, mu_sat).sum())
    else:
        m = a + c
        off = np.log(n1 / n2)
        eta, v = G.glm_saturated(a, m)
        wald = G.wald_equal(eta - off, v)
        _, ll_fe, _ = G.logistic_fit(np.ones((k, 1)), a, m, offset=off)
        ll_qe = float(G.binom_loglik(a, m, G.linkinv(eta)).sum())
    lrt = max(-2.0 * (ll_fe - ll_qe), 0.0)
    return max(wald, 0.0), lrt, k - 1


def _um_rs_heterogeneity(a, n1, c, n2):
    """UM.RS's tests as metafor makes them: two glmer fits with random study intercepts
    (Laplace), one common log OR ("FE") against one log OR per trial ("QE"); the LRT of
    the two, and the Wald test of the per-trial log ORs' equality with the QE fit's
    Hessian-based covariance (lme4's ``vcov``). The QE fit is parametrised by the
    per-trial log ORs (metafor: the last trial's and differences from it; the Wald test
    is the same)."""
    k = len(a)
    x = np.column_stack([a, c])
    n = np.column_stack([n1, n2])
    grp = np.tile([0.5, -0.5], (k, 1))
    arm = np.array([1.0, 0.0])[None, :]
    st = {"fe": None, "qe": None}

    def fe_terms(par):   # sigma, logOR, const
        eta_f = _col(par, 2) + _col(par, 1) * arm + np.zeros((k, 1))
        return _warm(st, "fe", par, lambda u0: L.um_rs_deviance(
            x, n, eta_f, grp, np.abs(par[..., 0]), 0.0, u0))

    def qe_terms(par):   # sigma, const, logOR_1..k (local)
        eta_f = _col(par, 1) + par[..., 2:, None] * arm
        return _warm(st, "qe", par, lambda u0: L.um_rs_deviance(
            x, n, eta_f, grp, np.abs(par[..., 0]), 0.0, u0))

    p_all = (a + c + 0.5) / (n1 + n2 + 1)
    lp = float(np.log(p_all.mean() / (1 - p_all.mean())))
    fe = _Objective(fe_terms, 3, k, local=False)
    pf, dfe, _, _ = _minimise(fe, np.array([0.5, 0.0, lp]), 1, ftol=1e-10, maxiter=40)
    qe = _Objective(qe_terms, 2, k, local=True)
    # start at the trials' own log ORs (0.5 added), which the QE fit moves little
    lor = np.clip(np.log((a + 0.5) * (n2 - c + 0.5) / ((n1 - a + 0.5) * (c + 0.5))), -5, 5)
    pq, dqe, _, fixed = _minimise(qe, np.concatenate([[max(pf[0], 0.1), pf[2] - lor.mean() / 2], lor]),
                                  1, ftol=1e-10, maxiter=40)
    lrt = max(dfe - dqe, 0.0)
    _, H, idx = qe.grad_hess(pq, h=1e-4, fixed=fixed)
    try:
        V = np.linalg.inv(H / 2.0)
    except np.linalg.LinAlgError:
        return None, lrt
    sel = [list(idx).index(i) for i in range(2, 2 + k)]
    Vt = V[np.ix_(sel, sel)]
    C = np.eye(k)[:-1] - np.eye(k)[-1]          # theta_i - theta_k
    d = C @ pq[2:]
    try:
        wald = float(d @ np.linalg.solve(C @ Vt @ C.T, d))
    except np.linalg.LinAlgError:
        wald = None
    return (max(wald, 0.0) if wald is not None else None), lrt


def _cm_el_heterogeneity(tables, k):
    """CM.EL's LRT: the common-OR conditional likelihood against per-trial ORs (the
    saturated maximum: 0 for trials with a zero cell, whose maximum is at infinity)."""
    from scipy.optimize import minimize_scalar

    support, logc, a = tables
    fe = minimize_scalar(lambda b: -L.cm_el_loglik(tables, b, 0.0).sum(), bounds=(-20, 20),
                         method="bounded", options={"xatol": 1e-12})
    ll_qe = 0.0
    for i in range(k):
        ti = (support[i:i + 1], logc[i:i + 1], a[i:i + 1])
        lo, hi = support[i][np.isfinite(logc[i])].min(), support[i][np.isfinite(logc[i])].max()
        if a[i] in (lo, hi):
            continue
        r = minimize_scalar(lambda b, ti=ti: -L.cm_el_loglik(ti, b, 0.0).sum(), bounds=(-30, 30),
                            method="bounded", options={"xatol": 1e-12})
        ll_qe += -r.fun
    return max(-2.0 * (-fe.fun - ll_qe), 0.0)


def _problem(model, a, n1, c, n2):
    """The deviance of ``model`` on these trials as an ``_Objective`` (per-trial terms),
    with its start and where the SDs, the log OR and tau sit in the parameter vector:
    ``(obj, x0, n_sd, i_beta, i_tau, extra)`` (``extra``: CM.EL's tables)."""
    k = len(a)
    nagq = NAGQ[model]
    tables = None
    if model == "UM.FS":
        x = np.column_stack([a, c])
        n = np.column_stack([n1, n2])
        zc = np.tile([0.5, -0.5], (k, 1))
        arm = np.array([1.0, 0.0])[None, :]
        # start: the common-OR logistic fit (glm with study intercepts)
        X = np.zeros((2 * k, k + 1))
        X[0::2, 0] = 1.0
        X[np.arange(2 * k), 1 + np.repeat(np.arange(k), 2)] = 1.0
        b0, _, _ = G.logistic_fit(X, x.ravel(), n.ravel())
        state = {"u": None}

        def terms(par):
            eta_f = par[..., 2:, None] + _col(par, 1) * arm
            return _warm(state, "u", par, lambda u0: L.scalar_re_deviance(
                x, n, eta_f, zc, np.abs(par[..., 0]), nagq, u0))

        obj = _Objective(terms, 2, k, local=True, batched=True)
        x0 = np.concatenate([[0.3], np.clip(b0, -30, 30)])
        n_sd, i_beta, i_tau = 1, 1, 0
    elif model == "UM.RS":
        x = np.column_stack([a, c])
        n = np.column_stack([n1, n2])
        grp = np.tile([0.5, -0.5], (k, 1))
        arm = np.array([1.0, 0.0])[None, :]
        state = {"u": None}

        def terms(par):
            eta_f = _col(par, 3) + _col(par, 2) * arm + np.zeros((k, 1))
            return _warm(state, "u", par, lambda u0: L.um_rs_deviance(
                x, n, eta_f, grp, np.abs(par[..., 0]), np.abs(par[..., 1]), u0))

        obj = _Objective(terms, 4, k, local=False, batched=True)
        p_all = (a + c + 0.5) / (n1 + n2 + 1)
        x0 = np.array([0.5, 0.3, 0.0, float(np.log(p_all.mean() / (1 - p_all.mean())))])
        n_sd, i_beta, i_tau = 2, 2, 1
    elif model == "CM.AL":
        x = a[:, None]
        n = (a + c)[:, None]
        off = np.log(n1 / n2)[:, None]
        zc = np.ones((k, 1))
        state = {"u": None}

        def terms(par):
            return _warm(state, "u", par, lambda u0: L.scalar_re_deviance(
                x, n, off + _col(par, 1), zc, np.abs(par[..., 0]), nagq, u0))

        obj = _Objective(terms, 2, k, local=False, batched=True)
        b0, _, _ = G.logistic_fit(np.ones((k, 1)), a, a + c, offset=off[:, 0])
        x0 = np.array([0.3, b0[0]])
        n_sd, i_beta, i_tau = 1, 1, 0
    else:  # CM.EL
        tables = L.nchg_tables(a, n1, c, n2)

        def terms(par):
            if par.ndim > 1:  # a Hessian's points, one vectorised pass
                return -2.0 * L.cm_el_loglik_stack(tables, par[:, 1], np.abs(par[:, 0]))
            return -2.0 * L.cm_el_loglik(tables, par[1], abs(par[0]))

        obj = _Objective(terms, 2, k, local=False, batched=True)
        b0, _, _ = G.logistic_fit(np.ones((k, 1)), a, a + c, offset=np.log(n1 / n2))
        x0 = np.array([0.3, b0[0]])
        n_sd, i_beta, i_tau = 1, 1, 0

    return obj, x0, n_sd, i_beta, i_tau, tables


def _screen(model, a, n1, c, n2):
    """The trials the model uses and the fits that need no optimisation: ``(use, empty,
    early)`` with ``empty`` the GLMMFit fields of a fit without an estimate and ``early``
    a GLMMFit when the model cannot be fitted (no events, too few trials, separation),
    else None."""
    use = _informative(model, a, n1, c, n2)
    k_used = int(use.sum())
    n_used = int((n1 + n2)[use].sum())
    empty = dict(estimate=None, se=None, tau2=None, ci_lower=None, ci_upper=None, z=None,
                 p=None, ci_t_lower=None, ci_t_upper=None, df_t=max(len(a) - 1, 0),
                 qe_wald=None, qe_lrt=None, qe_df=0, qe_wald_p=None, qe_lrt_p=None,
                 loglik=None, trials_used=k_used, participants_used=n_used, nagq=NAGQ[model])
    if (a + c).sum() == 0:
        return use, empty, GLMMFit(model, "not_estimable", reason="no_events", **empty)
    if k_used < 2:
        return use, empty, GLMMFit(model, "too_few_trials", reason="fewer_than_two_informative",
                                   **empty)
    # complete separation: in every trial with events the treatment arm has as many (or
    # as few) of them as the margins allow. Then the likelihood of UM.FS and CM.EL (the
    # conditional likelihood, which UM.FS's free study intercepts reproduce) keeps rising
    # as the log OR goes to +-infinity: no finite estimate exists. CM.AL's binomial
    # approximation ignores the upper margin min(n1, m) and diverges only when every
    # trial's events are all in one arm; UM.RS's random intercepts bound its likelihood.
    m = a + c
    info = (m > 0) & (m < n1 + n2)
    if model == "CM.AL":
        hi, lo = m, np.zeros_like(m)
    else:
        hi, lo = np.minimum(n1, m), np.maximum(0.0, m - n2)
    separated = info.any() and (np.all(a[info] == hi[info]) or np.all(a[info] == lo[info]))
    if separated and model != "UM.RS":
        return use, empty, GLMMFit(model, "not_estimable", reason="separation", **empty)
    return use, empty, None


def _fitted(model, par, dmin, converged, boundary, var, level, empty, n_sd, i_beta, i_tau,
            wald=None, lrt=None):
    """The GLMMFit at the maximum ``par`` (deviance ``dmin``), ``var`` the variance of the
    log OR from the Hessian."""
    if not np.isfinite(var) or var <= 0:
        return GLMMFit(model, "not_estimable", reason="singular_hessian", **empty)
    df_t = empty["df_t"]
    qdf = df_t  # metafor's QE.df counts every trial passed, as its t df
    est = float(par[i_beta])
    se = float(np.sqrt(var))
    tau = abs(par[i_tau])
    crit = float(norm_quantile(1 - (1 - level) / 2))
    tcrit = _t_crit(level, df_t) if df_t > 0 else float("nan")
    zval = est / se
    status = "tau2_boundary" if boundary else ("ok" if converged else "not_converged")
    return GLMMFit(
        model, status, est, se, 0.0 if boundary else float(tau ** 2),
        est - crit * se, est + crit * se, float(zval), float(norm_sf2(np.array(zval))),
        est - tcrit * se, est + tcrit * se, df_t,
        wald, lrt, qdf, _chi2_sf(wald, qdf), _chi2_sf(lrt, qdf), -dmin / 2.0,
        empty["trials_used"], empty["participants_used"], NAGQ[model],
        reason=None, details={"sd_parameters": [float(abs(v)) for v in par[:n_sd]],
                              "deviance": float(dmin)})


def fit_glmm(a, n1, c, n2, model: str = "UM.FS", level: float = 0.95,
             keep_double_zero: bool = True, beta_fixed: float | None = None,
             tests: bool = True) -> GLMMFit:
    """Fit one of metafor's GLMMs for the odds ratio to the 2x2 counts of k trials.

    ``keep_double_zero`` (default True) passes double-zero trials to the likelihood
    (metafor's ``drop00 = FALSE``); only UM.RS learns from them. ``beta_fixed`` holds
    the log OR there and maximises over the rest (the profile likelihood, in
    ``details["deviance"]``), to compare with another program's stopping point.
    ``tests=False`` leaves out UM.RS's heterogeneity tests (two more Laplace fits, most
    of its time) for callers that do not show them.
    """
    a, n1, c, n2 = _as_arrays(a, n1, c, n2)
    if not keep_double_zero:
        keep = ~(((a == 0) & (c == 0)) | ((a == n1) & (c == n2)))
        a, n1, c, n2 = a[keep], n1[keep], c[keep], n2[keep]
    # rma.glmm(test = "t") uses k - 1 df with k the trials passed to the model, including
    # those that carry no information (double-zero trials when drop00 = FALSE)
    use, empty, early = _screen(model, a, n1, c, n2)
    if early is not None:
        return early
    if model in ("CM.EL", "CM.AL", "UM.FS"):
        a, n1, c, n2 = a[use], n1[use], c[use], n2[use]
    k = len(a)
    wald, lrt = (_heterogeneity(model, a, n1, c, n2)[:2] if model in ("UM.FS", "CM.AL")
                 else (None, None))
    if model == "UM.RS" and k > 1 and tests:
        wald, lrt = _um_rs_heterogeneity(a, n1, c, n2)

    obj, x0, n_sd, i_beta, i_tau, tables = _problem(model, a, n1, c, n2)
    if model == "CM.EL":
        lrt = _cm_el_heterogeneity(tables, k)

    hold = ()
    if beta_fixed is not None:
        x0[i_beta] = beta_fixed
        hold = (i_beta,)
    par, dmin, converged, fixed = _minimise(obj, x0, n_sd, hold)
    if beta_fixed is not None:
        return GLMMFit(model, "profile", reason=None, **{**empty, "estimate": beta_fixed,
                       "loglik": -dmin / 2.0}, details={"deviance": dmin})
    # SE from the Hessian of the deviance (lme4: V = (H / 2)^-1; metafor's CM.EL: the
    # Hessian of -ll). An SD held at 0 is left out: the deviance is even in it, so the
    # cross derivatives vanish there.
    _, H, idx = obj.grad_hess(par, h=1e-4, fixed=fixed)
    try:
        V = np.linalg.inv(H / 2.0)
        var = float(V[list(idx).index(i_beta), list(idx).index(i_beta)])
    except np.linalg.LinAlgError:
        var = float("nan")
    return _fitted(model, par, dmin, converged, i_tau in fixed, var, level, empty, n_sd,
                   i_beta, i_tau, wald, lrt)


# ------------------------------------------------------------ batched refits ------

def _stack_terms(obj: _Objective, P):
    """The per-trial deviance terms at each row of ``P`` (N, p): one vectorised call where
    the model's terms take a stack (UM.FS, UM.RS, CM.AL), else row by row (CM.EL)."""
    if obj.batched:
        return obj.terms(P)
    return np.stack([obj.terms(row) for row in P])


def _deviance_batch(obj, X, W):
    """Deviance of each subset (row of the weights ``W``, 1 = trial in) at its parameters."""
    F = _stack_terms(obj, X)
    v = np.where(W > 0, F, 0.0).sum(-1)
    return np.where(np.isfinite(v), v, np.inf)


def _grad_hess_batch(obj: _Objective, X, W, h, free):
    """``_Objective.grad_hess`` for B subsets at once: parameters ``X`` (B, p), trial
    weights ``W`` (B, k), ``free`` (B, p) the coordinates not held. Every finite-difference
    point of every subset is one stacked evaluation of the terms. Held coordinates (and
    the intercepts of trials left out) get a zero gradient and an identity row, so a
    Newton step leaves them where they are."""
    B, p = X.shape
    m, k = obj.m, obj.k
    _, E = obj._dirs(np.zeros(p), h, ())  # the single fit's step directions, none held
    nd = len(E)
    pairs = [(i, j) for i in range(nd) for j in range(i)]
    offs = ([np.zeros(p)] + E + [-e for e in E]
            + [sa * E[i] + sb * E[j] for i, j in pairs
               for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1))])
    P = (X[None, :, :] + np.stack(offs)[:, None, :]).reshape(-1, p)
    F = _stack_terms(obj, P).reshape(len(offs), B, k)
    F = np.where(W[None] > 0, F, 0.0)
    f0, fp, fm = F[0], F[1:1 + nd], F[1 + nd:1 + 2 * nd]
    cross = {}
    for n, (i, j) in enumerate(pairs):
        pp, pm, mp, mm = F[1 + 2 * nd + 4 * n:5 + 2 * nd + 4 * n]
        cross[i, j] = (pp - pm - mp + mm) / (4 * h * h)
    g = np.zeros((B, p))
    H = np.zeros((B, p, p))
    for i in range(m):
        g[:, i] = np.sum(fp[i] - fm[i], -1) / (2 * h)
        H[:, i, i] = np.sum(fp[i] - 2 * f0 + fm[i], -1) / h ** 2
        for j in range(i):
            H[:, i, j] = H[:, j, i] = np.sum(cross[i, j], -1)
    if obj.local:
        L_ = m
        g[:, m:] = (fp[L_] - fm[L_]) / (2 * h)
        idx = np.arange(m, p)
        H[:, idx, idx] = (fp[L_] - 2 * f0 + fm[L_]) / h ** 2
        for i in range(m):
            H[:, i, m:] = H[:, m:, i] = cross[L_, i]
    g = np.where(free, g, 0.0)
    both = free[:, :, None] & free[:, None, :]
    H = np.where(both, H, 0.0) + np.eye(p)[None] * (~free)[:, :, None]
    return g, H


def _solve_rows(M, g):
    """Solve each (p, p) system of a stack; a singular one gives a NaN step."""
    try:
        return np.linalg.solve(M, g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(g.shape, np.nan)
        for b in range(len(g)):
            try:
                out[b] = np.linalg.solve(M[b], g[b])
            except np.linalg.LinAlgError:
                pass
        return out


def _minimise_batch(obj: _Objective, X0, W, n_sd, maxiter: int = 200, _restart: bool = False):
    """``_minimise`` for B subsets at once (same steps, same stopping rules, member by
    member): Levenberg-damped Newton on each subset's deviance, an SD below
    ``BOUNDARY_SD`` set to 0 and held, then each held SD restarted from 0.5.
    Returns ``(X, deviance, converged, fixed)`` with ``fixed`` (B, p) boolean."""
    X = np.array(X0, float)
    B, p = X.shape
    m = obj.m
    fixed = np.zeros((B, p), bool)
    loc = np.zeros((B, p), bool)
    if obj.local:
        loc[:, m:] = ~(W > 0)          # a left-out trial's intercept never moves
    f0 = _deviance_batch(obj, X, W)
    converged = np.zeros(B, bool)
    active = np.ones(B, bool)
    lam = np.zeros(B)
    for _ in range(maxiter):
        for j in range(n_sd):
            new = active & ~fixed[:, j] & (np.abs(X[:, j]) < BOUNDARY_SD)
            if new.any():
                X[new, j] = 0.0
                fixed[new, j] = True
                f0[new] = _deviance_batch(obj, X[new], W[new])
        a = np.flatnonzero(active)
        if not len(a):
            break
        g, H = _grad_hess_batch(obj, X[a], W[a], 1e-5, ~(fixed[a] | loc[a]))
        gmax = np.max(np.abs(g), 1)
        done = gmax < 1e-8
        converged[a[done]] = True
        active[a[done]] = False
        a, g, H, gmax = a[~done], g[~done], H[~done], gmax[~done]
        if not len(a):
            break
        lam[a] = np.maximum(lam[a] / 10.0, 0.0)
        moved = np.zeros(len(a), bool)
        small = np.zeros(len(a), bool)
        diag = np.maximum(np.abs(np.diagonal(H, axis1=1, axis2=2)), 1e-8)
        for _ in range(40):
            s = ~moved
            if not s.any():
                break
            rows = np.flatnonzero(s)
            M = H[rows] + lam[a[rows], None, None] * (np.eye(p)[None] * diag[rows][:, None, :])
            step = _solve_rows(M, g[rows])
            ok = np.all(np.isfinite(step), 1) & np.all(np.isfinite(g[rows]), 1)
            Y = X[a[rows]] - np.where(ok[:, None], step, 0.0)
            fy = np.full(len(rows), np.inf)
            if ok.any():
                fy[ok] = _deviance_batch(obj, Y[ok], W[a[rows[ok]]])
            acc = ok & (fy <= f0[a[rows]])
            acc_rows = rows[acc]
            small[acc_rows] = np.max(np.abs(step[acc]), 1) < 1e-10
            X[a[acc_rows]] = Y[acc]
            f0[a[acc_rows]] = fy[acc]
            moved[acc_rows] = True
            rej = a[rows[~acc]]
            lam[rej] = np.maximum(lam[rej] * 10.0, 1e-6)
        stop = ~moved | small
        converged[a[stop]] = moved[stop] | (gmax[stop] < 1e-5)
        active[a[stop]] = False
    X[:, :n_sd] = np.abs(X[:, :n_sd])
    if not _restart:
        held = fixed.copy()
        for j in range(n_sd):
            rows = np.flatnonzero(held[:, j])
            if not len(rows):
                continue
            Y = X[rows].copy()
            Y[:, j] = 0.5
            rX, rf, rc, rfix = _minimise_batch(obj, Y, W[rows], n_sd, maxiter, _restart=True)
            better = rf < f0[rows] - 1e-9
            r = rows[better]
            X[r], f0[r], converged[r], fixed[r] = rX[better], rf[better], rc[better], rfix[better]
    return X, f0, converged, fixed


def fit_glmm_subsets(a, n1, c, n2, subsets, model: str = "UM.FS", level: float = 0.95,
                     keep_double_zero: bool = True) -> tuple[GLMMFit, ...]:
    """``fit_glmm`` refitted to many subsets of the trials in one batched optimisation
    (each subset its own parameters, every finite-difference point of every subset one
    vectorised evaluation of the per-trial deviance terms). ``subsets``: (B, k) boolean,
    one row per refit. The same fits as ``fit_glmm`` on each subset, to the optimiser's
    tolerance; no heterogeneity tests (None)."""
    a, n1, c, n2 = _as_arrays(a, n1, c, n2)
    S = np.asarray(subsets, bool)
    if not keep_double_zero:
        keep = ~(((a == 0) & (c == 0)) | ((a == n1) & (c == n2)))
        a, n1, c, n2, S = a[keep], n1[keep], c[keep], n2[keep], S[:, keep]
    use_all = _informative(model, a, n1, c, n2)
    if model == "UM.RS":
        use_all = np.ones(len(a), bool)
    out: list = [None] * len(S)
    todo, empties = [], {}
    for b, sub in enumerate(S):
        _, empty, early = _screen(model, a[sub], n1[sub], c[sub], n2[sub])
        if early is not None:
            out[b] = early
        else:
            todo.append(b)
            empties[b] = empty
    if not todo:
        return tuple(out)
    cols = np.flatnonzero(use_all)
    A, N1, C, N2 = a[cols], n1[cols], c[cols], n2[cols]
    obj, x_full, n_sd, i_beta, i_tau, _ = _problem(model, A, N1, C, N2)
    W = S[todo][:, cols].astype(float)
    X0 = np.empty((len(todo), len(x_full)))
    for r in range(len(todo)):  # each subset starts where fit_glmm would (a glm fit)
        w = W[r] > 0
        _, x0, *_ = _problem(model, A[w], N1[w], C[w], N2[w])
        if obj.local:
            X0[r, :obj.m] = x0[:obj.m]
            X0[r, obj.m:] = x_full[obj.m:]
            X0[r, obj.m + np.flatnonzero(w)] = x0[obj.m:]
        else:
            X0[r] = x0
    X, dev, conv, fixed = _minimise_batch(obj, X0, W, n_sd)
    # the SE from the Hessian at h = 1e-4, as fit_glmm's
    held = fixed.copy()
    if obj.local:
        held[:, obj.m:] |= ~(W > 0)
    _, H = _grad_hess_batch(obj, X, W, 1e-4, ~held)
    for r, b in enumerate(todo):
        try:
            var = float(np.linalg.inv(H[r] / 2.0)[i_beta, i_beta])
        except np.linalg.LinAlgError:
            var = float("nan")
        out[b] = _fitted(model, X[r], dev[r], bool(conv[r]), bool(fixed[r, i_tau]), var, level,
                         empties[b], n_sd, i_beta, i_tau)
    return tuple(out)


def leave_one_out_glmm(a, n1, c, n2, model: str = "UM.FS", level: float = 0.95,
                       keep_double_zero: bool = True) -> tuple[GLMMFit, ...]:
    """The GLMM refitted without each trial in turn (row i leaves out trial i), all k
    refits in one batched optimisation (``fit_glmm_subsets``)."""
    k = len(np.asarray(a))
    return fit_glmm_subsets(a, n1, c, n2, ~np.eye(k, dtype=bool), model, level,
                            keep_double_zero)
