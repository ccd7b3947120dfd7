"""Environment variables metasynth reads, each checked once with a range: a bad value is
a one-line usage error (exit 2), never an exception deep inside a command."""

from __future__ import annotations

import math
import os
from datetime import datetime, timezone

from metasynth.errors import UsageError

#: name -> (kind, low, high): numbers outside the range are refused
NUMERIC = {
    "METASYNTH_HTTP_RETRIES": (int, 0, 10),
    "METASYNTH_HTTP_BACKOFF": (float, 0.0, 10.0),
    "METASYNTH_HTTP_TIMEOUT": (float, 0.1, 300.0),
    "METASYNTH_HTTP_DEADLINE": (float, 0.1, 3600.0),
    "METASYNTH_HTTP_BUDGET": (float, 0.1, 86400.0),
    # 0 .. 9999-12-31T23:59:59Z: what a PDF date and Python's datetime can hold
    "SOURCE_DATE_EPOCH": (int, 0, 253_402_300_799),
}


def env_number(name: str, default=None):
    """The value of ``name`` as its kind, within its range; ``default`` when unset or empty."""
    kind, low, high = NUMERIC[name]
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    try:
        if len(text) > 40:
            raise ValueError
        value = kind(text)
        if not math.isfinite(value):
            raise ValueError
    except ValueError:
        what = "a whole number" if kind is int else "a finite number"
        raise UsageError(f"environment variable {name}={raw[:40]!r} must be {what} "
                         f"from {low} to {high}") from None
    if not low <= value <= high:
        raise UsageError(f"environment variable {name}={text} must be from {low} to {high}")
    return value


def check_environment() -> None:
    """Check every variable in ``NUMERIC`` (the CLI does this before any work)."""
    for name in NUMERIC:
        env_number(name)


def source_date() -> datetime | None:
    """``SOURCE_DATE_EPOCH`` as a UTC time (reproducible builds), or ``None``."""
    epoch = env_number("SOURCE_DATE_EPOCH")
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)
