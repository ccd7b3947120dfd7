"""The words of every warning a model attaches to a result (``ResultWarning``: a code and
the numbers the words need). One place for text output, JSON (code and message), the
plots' notes and the report; models know no words."""

from __future__ import annotations

from collections.abc import Callable

from metasynth.models.results import ResultWarning
from metasynth.render.numbers import num, percent


def _level(level: float) -> str:
    return f"{100 * level:g}%"


WORDS: dict[str, Callable[[ResultWarning], str]] = {
    "one_study": lambda w: (
        "Only one study: nothing is pooled; the study's own estimate is shown, and "
        "heterogeneity cannot be assessed."),
    "few_studies": lambda w: (
        f"Only {w['k']} studies: the between-study variance tau² is estimated very "
        "imprecisely, and random-effects results depend on the method chosen."),
    "hksj_t_multiplier": lambda w: (
        f"The HKSJ interval uses t with {w['df']} df: a multiplier of {num(w['multiplier'])} "
        f"instead of {num(w['z'])}, so it is wide by design."),
    "wald_few_studies": lambda w: (
        "The Wald interval ignores the uncertainty in tau²; with few studies its coverage "
        f"can fall far below {_level(w['level'])} (IntHout et al. 2014)."),
    "no_prediction_interval": lambda w: (
        "The prediction interval needs at least 3 studies (t with k - 2 df) and is not given."),
    "wide_prediction_interval": lambda w: (
        f"The prediction interval uses t with {w['df']} df (multiplier {num(w['multiplier'])}): "
        "with so few studies it is very wide."),
    "i2_ci_wide": lambda w: (
        f"The {_level(w['level'])} CI for I² runs from {percent(w['lower'])} to "
        f"{percent(w['upper'])}: the data cannot tell low from high heterogeneity."),
    "hksj_narrower_than_wald": lambda w: (
        "The HKSJ standard error is smaller than the Wald one here (the studies agree more "
        "than their variances imply); the ad hoc HKSJ variant never narrows below Wald "
        "(Röver et al. 2015)."),
    "tau2_not_converged": lambda w: (
        f"{w['method']} Fisher scoring did not converge within {w['iterations']} steps; tau² "
        "was found instead from the roots of its estimating equation (for REML and ML the "
        "one with the highest likelihood, compared with tau² = 0)."),
    # tau² at 4 significant digits: the two maxima can differ in the third decimal
    "tau2_multiple_maxima": lambda w: (
        f"The {w['method']} likelihood has more than one local maximum in tau²: the higher, "
        f"tau² = {w['tau2']:.4g}, is used; another is at tau² = {w['other']:.4g}; small "
        "changes in the data can move the estimate from one to the other."),
    # ``check``: the skewness check's verdict in the words of effects/conversions
    "median_conversion_skewed": lambda w: (
        f"{w['study']}, {w['arm']} arm: the mean and SD derived from the median and IQR may "
        f"mislead: {w['check']}."),
    "metareg_few_studies": lambda w: (
        f"Only {w['k']} studies for {w['moderators']} moderator(s): meta-regression with "
        "fewer than about 10 studies per moderator has little power and a high risk of "
        "spurious findings; treat any association as a hypothesis (Thompson & Higgins 2002)."),
    "metareg_observational": lambda w: (
        "Associations across trials are observational: they can be confounded by other "
        "trial characteristics and do not show that the moderator causes a difference in "
        "effect (ecological bias)."),
}


def warning_text(w: ResultWarning) -> str:
    """The warning in words."""
    return WORDS[w.code](w)


def worded(data, codes: bool = True):
    """``data`` (a result's ``to_dict()``, or dicts and lists of them) with a ``message``
    beside the ``code`` of every warning under a ``warnings`` key (the JSON contract);
    with ``codes=False`` each warning is only its message (a string)."""
    if isinstance(data, dict):
        out = {k: worded(v, codes) for k, v in data.items()}
        if isinstance(data.get("warnings"), list):
            out["warnings"] = [_message(w, codes) for w in out["warnings"]]
        return out
    if isinstance(data, list):
        return [worded(v, codes) for v in data]
    return data


def _message(w, codes: bool):
    if isinstance(w, dict) and w.get("code") in WORDS and "message" not in w:
        text = warning_text(ResultWarning(**w))
        return {**w, "message": text} if codes else text
    return w
