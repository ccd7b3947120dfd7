"""The analysis options as a Markdown reference (docs/analysis-plan.md), generated from the
option table so that the documentation cannot drift from the code."""

from __future__ import annotations

from metasynth.plan.options import OPTIONS, PRESETS, Option, value_text


def _allowed(o: Option) -> str:
    if o.choices:
        return "<br>".join(f"`{c.value}`: {c.method}" for c in o.choices)
    if o.kind is bool:
        return "true, false"
    rng = o.range_text()
    kind = {float: "number", "floats": "numbers", str: "text"}.get(o.kind, str(o.kind))
    return f"{kind}{' ' + rng if rng else ''}" + (", or none" if o.nullable else "")


def _where(o: Option) -> str:
    if not o.in_plan:
        return "(per run)"
    return f"`{o.section}.{o.name}`" if o.section else f"`{o.name}`"


def markdown_reference() -> str:
    """Every option: plan key, CLI flag, API keyword, default, allowed values, meaning."""
    lines = [
        "# Analysis options",
        "",
        "Generated from `metasynth/plan/options.py` by `metasynth schema --plan`; do not edit.",
        "Each option has one name: the `AnalysisSpec` field, the API keyword",
        "(`metasynth.pool(..., tau2=\"PM\")`), the key in `studies/analysis.yaml` (in the",
        "section shown) and the command-line flag. Values are resolved once, lowest first:",
        "these defaults, a preset, the plan file, then the command line or API keywords.",
        "",
        "| option | in analysis.yaml | flag | default | allowed values | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for o in OPTIONS:
        flags = ", ".join(f"`{f}`" for f in (o.flag, *o.aliases))
        ref = f" ({o.reference})" if o.reference else ""
        lines.append(f"| `{o.name}` | {_where(o)} | {flags} | `{value_text(o.default)}` | "
                     f"{_allowed(o)} | {o.label}: {o.help}{ref} |")
    lines += _plan_keys()
    lines += ["", "## Presets", "", "| preset | sets | what it is |", "|---|---|---|"]
    for p in PRESETS.values():
        sets = ", ".join(f"`{k}: {value_text(v)}`" for k, v in p.values.items()) or "(the defaults)"
        ref = f" ({p.reference})" if p.reference else ""
        lines.append(f"| `{p.name}` | {sets} | {p.label}{ref} |")
    lines += ["", "`--classic` is `--preset revman5`.", ""]
    return "\n".join(lines)


def _plan_keys() -> list[str]:
    """Keys of the plan's sections that are not analysis options (no flag, not in the
    spec), with the description their schema gives them."""
    from typing import get_args

    from metasynth.plan.file import TSA, Bayes, Simulate

    rows = []
    options = {o.name for o in OPTIONS}
    for section, model in (("bayes", Bayes), ("tsa", TSA), ("simulate", Simulate)):
        for key, f in model.model_fields.items():
            if key in options or not f.description:
                continue
            allowed = ", ".join(f"`{v}`" for v in get_args(f.annotation)) or "text"
            rows.append(f"| `{section}.{key}` | `{value_text(f.default)}` | {allowed} | "
                        f"{f.description} |")
    if not rows:
        return []
    return ["", "## Other keys of the plan", "",
            "Not analysis options: set in `studies/analysis.yaml` only.", "",
            "| in analysis.yaml | default | allowed values | meaning |", "|---|---|---|---|",
            *rows]
