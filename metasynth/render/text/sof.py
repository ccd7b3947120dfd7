"""Summary of Findings wording for continuous outcomes, as GRADEpro writes it.

"The mean ventilator-free days was 12 days; MD 2.1 days higher (0.4 higher to 3.8 higher)"
(units once, on the estimate, as in GRADEpro's exported tables).
For the SMD, which has no units, the Cochrane rule of thumb reads the size: below 0.2 a
trivial, 0.2 a small, 0.5 a moderate and 0.8 a large effect (Cohen 1988; Cochrane Handbook
15.5.3.1, Schünemann et al.).
"""

from __future__ import annotations

from metasynth.models.results import PoolResult
from metasynth.render.numbers import num
from metasynth.render.text.pool import units


def _side(x: float, unit: str) -> str:
    word = "higher" if x > 0 else "lower" if x < 0 else "no different"
    return f"{num(abs(x))}{unit} {word}" if x else word


def smd_size(smd: float) -> str:
    """Cochrane's rule of thumb for the size of an SMD (Handbook 15.5.3.1; Cohen 1988)."""
    a = abs(smd)
    return ("a trivial effect" if a < 0.2 else "a small effect" if a < 0.5
            else "a moderate effect" if a < 0.8 else "a large effect")


def control_mean_text(result: PoolResult, label: str | None = None) -> str:
    """GRADEpro's "risk with the comparator" of a continuous outcome: "The mean hospital
    length of stay was 24.0 days", or the range of the control groups' means when they
    differ ("ranged across control groups from ... to ...")."""
    what = (label or result.outcome_label or "outcome").lower()
    unit = units(result)
    u = f" {unit}" if unit else ""
    controls = [s.control_mean for s in result.included if s.control_mean is not None]
    if not controls:
        return ""
    if len(set(controls)) == 1:
        return f"The mean {what} was {num(controls[0])}{u}"
    return (f"The mean {what} ranged across control groups from {num(min(controls))} to "
            f"{num(max(controls))}{u}")


def difference_text(result: PoolResult) -> str:
    """The pooled effect as GRADEpro writes it: "MD 3.83 days lower (6.99 lower to 0.67
    lower)" (units once, on the estimate), "SMD 0.45 higher (...): a small effect by the
    Cochrane rule of thumb", or "ratio of means 0.85 (0.70 to 1.03)"."""
    r = result.random if result.k > 1 else result.common
    m = result.measure
    if m == "ROM":
        return f"ratio of means {num(r.estimate)} ({num(r.ci_lower)} to {num(r.ci_upper)})"
    unit = units(result) if m == "MD" else None
    u = f" {unit}" if unit else ""
    text = (f"{m} {_side(r.estimate, u)} ({_side(r.ci_lower, '')} to "
            f"{_side(r.ci_upper, '')})")
    if m == "SMD":
        text += f": {smd_size(r.estimate)} by the Cochrane rule of thumb"
    return text


def continuous_effect_text(result: PoolResult, label: str | None = None) -> str:
    """The anticipated-effects cell of a SoF row for an MD, SMD or ROM result: the control
    groups' mean (or its range), then the pooled effect in words."""
    base = control_mean_text(result, label)
    return (base + "; " if base else "") + difference_text(result)
