"""`metasynth diff` as Markdown (readable in a terminal and in a CI job summary)."""

from __future__ import annotations

from metasynth.models.evidence_change import EvidenceDiff, PooledSummary
from metasynth.render.numbers import interval, num, percent


def _cell(s: PooledSummary | None) -> str:
    if s is None:
        return "-"
    if s.k == 0:
        return f"not pooled ({s.note})" if s.note else "not pooled"
    tau2 = f"τ² {num(s.tau2, 3)}, I² {percent(s.I2)}" if s.k >= 2 else "single study"
    return f"k={s.k}: {interval(s.estimate, s.ci_lower, s.ci_upper)}; {tau2}"


def render_diff(diff: EvidenceDiff) -> str:
    out = [f"## Evidence diff against `{diff.ref[:12]}`", ""]
    if diff.after_errors:
        out.append(f"**The records have {diff.after_errors} validation error(s)**: run "
                   "`metasynth validate studies/`.")
        out.append("")
    out.append(f"- Records added: {', '.join(diff.added) or 'none'}")
    out.append(f"- Records removed: {', '.join(diff.removed) or 'none'}")
    if diff.changed:
        out.append("- Records changed: " + "; ".join(f"{rid} ({', '.join(keys)})"
                                                    for rid, keys in diff.changed))
    else:
        out.append("- Records changed: none")
    out += ["", f"| outcome | before ({diff.measure}, random effects) | after | changed |",
            "|---|---|---|---|"]
    for o in diff.outcomes:
        out.append(f"| {o.outcome} | {_cell(o.before)} | {_cell(o.after)} | "
                   f"{'**yes**' if o.changed else 'no'} |")
    return "\n".join(out) + "\n"
