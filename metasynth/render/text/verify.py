"""`metasynth verify` as a table: a line per record and check, then the totals."""

from __future__ import annotations


def render_checks(checks) -> str:
    from metasynth.safetext import one_line

    if not checks:
        return "no records to verify\n"
    w1 = max(len(c.study) for c in checks) + 2
    w2 = max(len(c.check) for c in checks) + 2
    lines = [f"{'record':<{w1}}{'check':<{w2}}{'status':<9}detail"]
    unreachable: dict[str, list] = {}  # one line per registry that could not be reached
    for c in checks:
        if c.unreachable:
            unreachable.setdefault(c.unreachable, []).append(c)
            continue
        # registry text (titles, error pages) reaches the terminal: one line, no controls
        lines.append(f"{c.study:<{w1}}{c.check:<{w2}}{c.status:<9}{one_line(c.detail)}")
    if len(lines) == 1:  # every check hit an unreachable registry: no table
        lines = []
    for group in unreachable.values():
        first = next((c for c in group if "cannot be reached" not in c.detail), group[0])
        lines.append(f"{one_line(first.detail, 160)}: {len(group)} check(s) skipped")
    not_run = sum(not c.ran for c in checks)
    if not_run:
        lines.append(f"{not_run} check(s) could not run: verify fails unless --allow-skipped")
    n = {s: sum(c.status == s for c in checks) for s in ("ok", "warning", "error", "skipped")}
    lines.append(f"{n['ok']} ok, {n['warning']} warning(s), {n['error']} error(s), "
                 f"{n['skipped']} skipped")
    return "\n".join(lines) + "\n"

