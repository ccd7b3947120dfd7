"""CSV output: one row per study plus the pooled rows, for spreadsheets."""

from __future__ import annotations

import csv
import io

from metasynth.models.results import PoolResult

COLUMNS = ("row", "id", "treatment_events", "treatment_total", "control_events",
           "control_total", "yi", "vi", "estimate", "ci_lower", "ci_upper",
           "weight_common", "weight_random", "p", "pi_lower", "pi_upper", "note")


# the data columns of each layout (render.text.pool.data_layout) in place of the counts
DATA_COLUMNS = {
    "binary": COLUMNS[2:6],
    "continuous": ("treatment_mean", "treatment_sd", "treatment_total", "control_mean",
                   "control_sd", "control_total"),
    "o-e/v": ("o_minus_e", "variance"),
    "generic": ("se_from",),
}


def csv_columns(result: PoolResult) -> tuple[str, ...]:
    """The CSV header: ``COLUMNS`` with the count columns replaced by the layout's."""
    from metasynth.render.text.pool import data_layout

    return COLUMNS[:2] + DATA_COLUMNS[data_layout(result)] + COLUMNS[6:]


def render_csv(result: PoolResult) -> str:
    buf = io.StringIO()
    columns = csv_columns(result)
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    from metasynth.safetext import csv_cell

    for s in result.studies:
        d = s.to_dict()
        # study names come from the data: one starting with = + - @ is not a formula
        writer.writerow({k: csv_cell(d.get(k)) for k in columns if k in d} | {
            "row": "study", "note": csv_cell(s.excluded_reason or "")})
    c, r = result.common, result.random
    writer.writerow({"row": f"common ({c.method})", "yi": c.theta, "vi": (c.se or 0) ** 2,
                     "estimate": c.estimate, "ci_lower": c.ci_lower, "ci_upper": c.ci_upper,
                     "p": c.p})
    writer.writerow({"row": f"random ({r.tau2_method}, {r.ci_method})", "yi": r.theta,
                     "vi": (r.se or 0) ** 2, "estimate": r.estimate, "ci_lower": r.ci_lower,
                     "ci_upper": r.ci_upper, "p": r.p, "pi_lower": r.pi_lower,
                     "pi_upper": r.pi_upper})
    return buf.getvalue()
