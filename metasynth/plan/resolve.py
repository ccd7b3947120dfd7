"""The one place where option values are validated and layered into an ``AnalysisSpec``.

Layers, lowest first: the table's defaults (or a ``base`` spec), then each mapping given,
in order. A layer may name a ``preset``: its values apply first, then the layer's own.
So ``resolve(plan_layer(plan), cli_overrides)`` gives the plan's choices with the
command line's on top, and ``spec.with_(tau2="DL")`` is a one-option override.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from typing import Any

from metasynth.plan.options import BY_NAME, OPTIONS, PARAMETERS, PRESETS, Option
from metasynth.plan.spec import AnalysisSpec


class OptionError(ValueError):
    """An option value that is not allowed; the message names the option and why."""


def _suggest(word: str, known) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(option: Option, value: Any) -> float:
    if isinstance(value, bool):
        raise OptionError(f"{option.name} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{option.name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise OptionError(f"{option.name} must be a finite number, got {value!r}")
    lo, hi = option.low, option.high
    if (lo is not None and (x < lo or (option.low_open and x == lo))) or (
            hi is not None and (x > hi or (option.high_open and x == hi))):
        raise OptionError(f"{option.name} must satisfy {option.range_text()}, got {x:g}")
    return x


def coerce(option: Option, value: Any) -> Any:
    """``value`` as the option's type, or an ``OptionError`` saying what is allowed."""
    if value is None:
        if option.nullable:
            return None
        raise OptionError(f"{option.name} needs a value")
    if option.choices:
        text = str(value)
        for c in option.values:
            if c.lower() == text.lower():
                return c
        raise OptionError(f"{option.name} must be one of {', '.join(option.values)}; got "
                          f"{text!r}" + _suggest(text, option.values))
    if option.kind is bool:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "1", "on"):
            return True
        if str(value).lower() in ("false", "no", "0", "off"):
            return False
        raise OptionError(f"{option.name} must be true or false, got {value!r}")
    if option.kind is float:
        return _number(option, value)
    if option.kind is int:
        text = str(value).strip()
        if isinstance(value, bool) or not (isinstance(value, int) or (
                text.lstrip("+-").isdigit() and len(text) < 20)):
            raise OptionError(f"{option.name} must be a whole number, got {value!r}")
        return int(_number(option, int(text)))
    if option.kind == "floats":
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:  # one number (from the API or a plan's scalar)
            items = [value]
        out = tuple(_number(option, v) for v in items if str(v).strip())
        if not out:
            raise OptionError(f"{option.name} needs at least one value")
        return out
    text = str(value)
    if not text.strip():
        raise OptionError(f"{option.name} must not be empty")
    return text


def parameter(name: str, value: Any) -> Any:
    """A verb's parameter (``plan.options.PARAMETERS``: permutations, subsets), checked
    against its row as the analysis options are; the CLI and the API both call this."""
    return coerce(PARAMETERS[name], value)


def _check(values: dict, chosen: set) -> None:
    from metasynth.effects.measures import BINARY

    measure, method = values["measure"], values["common_method"]
    if measure not in BINARY and method == "MH":
        if "common_method" in chosen:
            raise OptionError(f"the Mantel-Haenszel method needs 2x2 counts: measure {measure} "
                              "is not binary (use common_method IV)")
        # the table's or a preset's MH applies to binary outcomes; RevMan pools every other
        # data type by inverse variance, and so do we unless told otherwise
        values["common_method"] = "IV"
    if method == "Peto" and measure not in ("OR", "HR"):
        raise OptionError("the Peto method estimates an odds ratio (2x2 counts) or a hazard "
                          "ratio (O - E and V): use it with measure OR or HR")


def resolve(*layers: Mapping[str, Any] | None, base: AnalysisSpec | None = None) -> AnalysisSpec:
    """The spec from the table defaults (or ``base``) and ``layers`` on top, in order.

    Keys are option names (``plan.options.OPTIONS``). In a layer, ``None`` for an option
    that admits no "none" means "not given". Unknown names and disallowed values raise
    ``OptionError``."""
    values = {o.name: o.default for o in OPTIONS} if base is None else base.to_dict()
    chosen: set = set()  # options set by a layer itself (not by a default or a preset)
    for layer in layers:
        if not layer:
            continue
        layer = dict(layer)
        preset = layer.pop("preset", None)
        if preset is not None:
            preset = coerce(BY_NAME["preset"], preset)
            values.update(PRESETS[preset].values)
            values["preset"] = preset
        for name, value in layer.items():
            option = BY_NAME.get(name)
            if option is None:
                raise OptionError(f"unknown option {name!r}" + _suggest(name, BY_NAME))
            if value is None and not option.nullable:
                continue
            values[name] = coerce(option, value)
            chosen.add(name)
    for o in OPTIONS:  # a base spec's to_dict() gives lists; a spec holds tuples
        if o.kind == "floats" and isinstance(values[o.name], list):
            values[o.name] = tuple(values[o.name])
    _check(values, chosen)
    return AnalysisSpec(**values)
