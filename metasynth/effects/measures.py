"""What each effect measure is: its data type, its scale, and which function computes it.

The data type decides the effect function: binary measures (RR, OR, RD) take 2x2
counts (``effects.binary``), continuous measures (MD, SMD, ROM) take per-arm n, mean
and SD (``effects.continuous``), the hazard ratio takes O - E and V or a reported
estimate (``effects.generic``). Any measure also takes a study's reported estimate with
its CI or p-value (generic inverse variance). Ratios (RR, OR, ROM, HR) are analysed on
the log scale.
"""

from __future__ import annotations

import numpy as np

from metasynth.errors import UsageError

BINARY = ("RR", "OR", "RD")
CONTINUOUS = ("MD", "SMD", "ROM")
TIME_TO_EVENT = ("HR",)
ALL = BINARY + CONTINUOUS + TIME_TO_EVENT
LOG_SCALE = ("RR", "OR", "ROM", "HR")

# the data a measure needs, in words, for messages
DATA_TYPE = {**{m: "binary" for m in BINARY}, **{m: "continuous" for m in CONTINUOUS},
             **{m: "time-to-event" for m in TIME_TO_EVENT}}
DATA_WORDS = {"binary": "2x2 counts (events and totals per arm)",
              "continuous": "per-arm n, mean and SD",
              "time-to-event": "O - E and V (log-rank), or a reported hazard ratio",
              "generic": "a reported estimate with its CI or p-value"}
MEASURES_FOR = {"binary": BINARY, "continuous": CONTINUOUS, "time-to-event": TIME_TO_EVENT,
                "generic": ALL}


def is_ratio(measure: str) -> bool:
    """True for measures analysed on the log scale (RR, OR, ROM, HR)."""
    return measure in LOG_SCALE


def null_value(measure: str) -> float:
    """The value of no effect on the reporting scale: 1 for ratios, 0 for differences."""
    return 1.0 if is_ratio(measure) else 0.0


def back_transform(measure: str):
    """From the analysis scale to the reporting scale: exp for ratios (log RR, log OR,
    log ROM, log HR), the identity for differences (RD, MD, SMD). Works on scalars and
    arrays."""
    return np.exp if is_ratio(measure) else (lambda x: x)


def check_measure(measure: str, data_type: str, where: str | None = None) -> None:
    """A one-line usage error when ``measure`` cannot be computed from data of
    ``data_type`` (e.g. a binary measure asked of means and SDs)."""
    if measure in MEASURES_FOR[data_type]:
        return
    place = f"{where}: " if where else ""
    raise UsageError(
        f"{place}measure {measure} needs {DATA_WORDS[DATA_TYPE[measure]]}, but the data are "
        f"{data_type} ({DATA_WORDS[data_type]}): use --measure "
        f"{' or '.join(MEASURES_FOR[data_type]) if data_type != 'generic' else 'of the estimates'}")
