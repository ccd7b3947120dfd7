"""The scenarios of a simulation built from the evidence of one outcome.

Each scenario keeps the trials as they are (their number and their arm sizes) and the
risks in their control arms, and sets a true pooled risk ratio and a between-trial
standard deviation tau on the log scale. Trial i of a replicate has the true log risk
ratio theta_i = log(RR) + tau z_i (z_i standard normal), control risk p0_i and
experimental risk min(p0_i exp(theta_i), 1): the generating model of the simulations
in IntHout, Ioannidis & Borm (2014, BMC Med Res Methodol 14:25), here with the reader's
own trials rather than generic ones.

Control risks are either the observed ones (``observed``: c_i / n2_i, with a trial
without control events, or with only events, given (c_i + 0.5) / (n2_i + 1) so that its
arm is not certain to repeat the extreme) or drawn afresh for every trial of every
replicate from a normal distribution on the logit scale fitted to the observed risks
(``fitted``: mean and SD of logit((c_i + 0.5) / (n2_i + 1)), the between-trial model
of control risks of Smith, Spiegelhalter & Thomas 1995, Stat Med 14:2685).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTROL_RISK_MODES = ("observed", "fitted")


@dataclass(frozen=True)
class TrialDesign:
    """The trials a simulation reproduces: labels, arm sizes, observed control risks."""

    labels: tuple[str, ...]
    treatment_total: tuple[int, ...]
    control_total: tuple[int, ...]
    control_events: tuple[int, ...]
    control_risks: str = "observed"

    @property
    def n1(self) -> np.ndarray:
        return np.asarray(self.treatment_total, dtype=np.int64)

    @property
    def n2(self) -> np.ndarray:
        return np.asarray(self.control_total, dtype=np.int64)

    @property
    def k(self) -> int:
        return len(self.labels)

    @property
    def observed_risk(self) -> np.ndarray:
        """Control risks as the scenarios use them (``observed``)."""
        c, n2 = np.asarray(self.control_events, dtype=float), self.n2.astype(float)
        extreme = (c == 0) | (c == n2)
        return np.where(extreme, (c + 0.5) / (n2 + 1.0), c / n2)

    def logit_fit(self) -> tuple[float, float]:
        """Mean and SD of the logit control risks (``fitted``); SD 0 for one trial."""
        c, n2 = np.asarray(self.control_events, dtype=float), self.n2.astype(float)
        p = (c + 0.5) / (n2 + 1.0)
        x = np.log(p / (1.0 - p))
        return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0

    def to_dict(self) -> dict:
        mu, sd = self.logit_fit()
        return {"k": self.k, "labels": list(self.labels),
                "treatment_total": list(self.treatment_total),
                "control_total": list(self.control_total),
                "control_events": list(self.control_events),
                "control_risks": self.control_risks,
                "control_risk_used": [float(x) for x in self.observed_risk],
                "logit_control_risk_mean": mu, "logit_control_risk_sd": sd}


def design_of(result, control_risks: str = "observed") -> TrialDesign:
    """The trials of a pooled result (``PoolResult``) that report 2x2 counts, as a
    simulation reproduces them."""
    rows = [r for r in result.effects.table.rows if r.has_counts]
    return TrialDesign(
        labels=tuple(r.label for r in rows),
        treatment_total=tuple(int(r.treatment_total) for r in rows),
        control_total=tuple(int(r.control_total) for r in rows),
        control_events=tuple(int(r.control_events) for r in rows),
        control_risks=control_risks)


@dataclass(frozen=True)
class Scenario:
    rr: float
    tau: float

    @property
    def mu(self) -> float:
        """The true pooled log risk ratio."""
        return float(np.log(self.rr))


def scenario_grid(rr, tau) -> tuple[Scenario, ...]:
    """Every combination, RR-major (RR 1.0 with each tau, then RR 0.9, ...)."""
    return tuple(Scenario(float(r), float(t)) for r in rr for t in tau)


@dataclass(frozen=True)
class Counts:
    """Simulated 2x2 counts of a batch of replicates, (m, k) each."""

    a: np.ndarray
    n1: np.ndarray
    c: np.ndarray
    n2: np.ndarray
    capped: int  # trials whose experimental risk p0 exp(theta) exceeded 1 and was set to 1


def generate(design: TrialDesign, scenario: Scenario, rng: np.random.Generator,
             m: int) -> Counts:
    """``m`` replicates of the trials under ``scenario``, drawn with ``rng`` in a fixed
    order (trial effects, control risks when fitted, control events, experimental
    events), so a generator seeded the same gives the same counts."""
    k = design.k
    theta = scenario.mu + scenario.tau * rng.standard_normal((m, k))
    if design.control_risks == "fitted":
        mean, sd = design.logit_fit()
        x = mean + sd * rng.standard_normal((m, k))
        p0 = 1.0 / (1.0 + np.exp(-x))
    else:
        p0 = np.broadcast_to(design.observed_risk, (m, k))
    p1 = p0 * np.exp(theta)
    over = p1 > 1.0
    p1 = np.where(over, 1.0, p1)
    n1 = np.broadcast_to(design.n1, (m, k))
    n2 = np.broadcast_to(design.n2, (m, k))
    c = rng.binomial(n2, p0)
    a = rng.binomial(n1, p1)
    return Counts(a.astype(float), n1.astype(float), c.astype(float), n2.astype(float),
                  int(over.sum()))
