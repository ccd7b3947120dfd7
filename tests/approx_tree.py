"""Compare two JSON-like trees: floats to a tolerance, everything else exactly.

Numbers computed through numpy/scipy move in the last digits between library versions and
machines (a BLAS, a libm, a quadrature rule's rounding). A file committed from one machine
is therefore compared to a fresh computation number by number, with a tolerance, never
byte for byte; structure, strings, integers, booleans and None must agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

# 1e-6 relative, as the metafor fixtures; the absolute floor 1e-8 is for values near 0 (a
# log-RR interval bound just above 0, a p-value): quadrature and root-found quantiles move by
# up to ~3e-8 absolute between numpy/scipy releases (seen: numpy 1.26/scipy 1.12 against
# numpy 2.4/scipy 1.17, 974 of 5771 floats of reports/summary.json differ, at most 2.7e-8
# absolute and 5.4e-7 relative).
RTOL = 1e-6
ATOL = 1e-8


def _is_float(x: Any) -> bool:
    return isinstance(x, float) or (isinstance(x, int) and not isinstance(x, bool))


def floats_close(a: float, b: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """|a - b| <= max(rtol * max(|a|, |b|), atol); NaN equals NaN, infinities must match."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)


def differences(expected: Any, actual: Any, rtol: float = RTOL, atol: float = ATOL,
                path: str = "") -> Iterator[str]:
    """Yield one readable line per difference, with its path (`/outcomes[0]/random/p`)."""
    where = path or "/"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}/{key}"
            if key not in actual:
                yield f"{sub}: missing from the fresh computation"
            elif key not in expected:
                yield f"{sub}: not in the committed file"
            else:
                yield from differences(expected[key], actual[key], rtol, atol, sub)
    elif isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{where}: {len(expected)} items committed, {len(actual)} computed"
        for i, (e, a) in enumerate(zip(expected, actual)):
            yield from differences(e, a, rtol, atol, f"{path}[{i}]")
    elif (isinstance(expected, float) or isinstance(actual, float)) and \
            _is_float(expected) and _is_float(actual):
        if not floats_close(float(expected), float(actual), rtol, atol):
            yield f"{where}: {expected!r} committed, {actual!r} computed"
    elif type(expected) is not type(actual) or expected != actual:
        yield f"{where}: {expected!r} committed, {actual!r} computed"


def assert_trees_close(expected: Any, actual: Any, rtol: float = RTOL, atol: float = ATOL,
                       hint: str = "", show: int = 10) -> None:
    """Fail listing the first `show` differing paths (and how many there are in all)."""
    found = list(differences(expected, actual, rtol, atol))
    if found:
        head = "\n  ".join(found[:show])
        more = f"\n  ... and {len(found) - show} more" if len(found) > show else ""
        raise AssertionError(f"{len(found)} difference(s) beyond rtol={rtol:g}, atol={atol:g}:"
                             f"\n  {head}{more}" + (f"\n{hint}" if hint else ""))
