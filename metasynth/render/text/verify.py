"""`metasynth verify` as a table: a line per record and check, then the totals."""

from __future__ import annotations


def render_checks(checks) -> str:
    from metasynth.safetext import one_line

    if not checks:
        return "no records to verify\n"
    w1 = max(len(c.study) for c in checks) + 2
    w2 = max(len(c.check) for c in checks) + 2
    lines = [f"{'record':<{w1}}{'check':<{w2}}{'status':<9}detail"]
    for c in checks:
        # registry text (titles, error pages) reaches the terminal: one line, no controls
        lines.append(f"{c.study:<{w1}}{c.check:<{w2}}{c.status:<9}{one_line(c.detail)}")
    n = {s: sum(c.status == s for c in checks) for s in ("ok", "warning", "error", "skipped")}
    lines.append(f"{n['ok']} ok, {n['warning']} warning(s), {n['error']} error(s), "
                 f"{n['skipped']} skipped")
    return "\n".join(lines) + "\n"
