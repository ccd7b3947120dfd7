"""Every outcome that the analysis plan and the reviewers' GRADE file name, checked against
the outcome registry, each problem with its file and line.

The schema cannot know the registry: a misspelt outcome under ``grade.thresholds`` or in
``grade.yaml`` would otherwise be ignored without a word, and the report would show the
default thresholds, or the proposal as the final judgement, while the reviewers believe
their own value was used."""

from __future__ import annotations

from pathlib import Path

from metasynth.errors import DataError


def _named(plan) -> list[tuple[tuple, str, str]]:
    """(YAML path, outcome id, the kind of endpoint it must have: "any", "binary",
    "continuous") for every outcome the plan names."""
    out = [(("outcomes", i), o, "any") for i, o in enumerate(plan.outcomes)]
    out += [(("timepoint_rationale", o), o, "any") for o in plan.timepoint_rationale]
    out += [(("grade", "thresholds", o), o, "binary") for o in plan.grade.thresholds]
    out += [(("grade", "mids", o), o, "continuous") for o in plan.grade.mids]
    if plan.bayes is not None:
        out += [(("bayes", "outcomes", i), o, "any") for i, o in enumerate(plan.bayes.outcomes)]
    for section in ("tsa", "simulate"):
        if getattr(plan, section) is not None:
            out.append(((section, "outcome"), getattr(plan, section).outcome, "binary"))
    return out


def _setting(loc: tuple) -> str:
    """("grade", "thresholds", "x") -> "grade.thresholds"; ("outcomes", 0) -> "outcomes[0]"."""
    *head, last = loc
    if isinstance(last, int):
        return ".".join(head) + f"[{last}]"
    return ".".join(loc) if last == "outcome" else ".".join(head)


def plan_problems(plan, plan_path: str | Path, registry) -> list[DataError]:
    """The plan's outcome ids that the registry lacks or whose endpoint is of the wrong
    kind, and the GRADE file's outcomes that the plan does not pool."""
    from metasynth.plan.file import load_overrides_document
    from metasynth.records.yaml_source import load_yaml

    plan_path = Path(plan_path)
    doc = load_yaml(plan_path)
    known = ", ".join(o.id for o in registry.outcomes)
    problems = []
    for loc, oid, kind in _named(plan):
        definition = registry.outcome(oid)
        where = (str(plan_path), doc.line_of(loc))
        if definition is None:
            problems.append(DataError(f"{_setting(loc)}: unknown outcome '{oid}' (known: "
                                      f"{known})", *where))
            continue
        endpoint = registry.endpoint(definition.endpoint)
        if kind != "any" and endpoint is not None and endpoint.type != kind:
            problems.append(DataError(f"{_setting(loc)}: '{oid}' is a {endpoint.type} "
                                      f"outcome; this setting is for {kind} outcomes", *where))
    if plan.grade.overrides:
        path = plan_path.parent / plan.grade.overrides
        grade_doc = load_overrides_document(path)
        if grade_doc is not None and isinstance(grade_doc.data, dict):
            for oid in grade_doc.data:
                if oid not in plan.outcomes:
                    problems.append(DataError(
                        f"judgements for '{oid}', which the plan does not pool (its outcomes: "
                        f"{', '.join(plan.outcomes)})", str(path), grade_doc.line_of((oid,))))
    return problems


def check_plan(plan, plan_path: str | Path, registry) -> None:
    """Raise the first of ``plan_problems``."""
    problems = plan_problems(plan, plan_path, registry)
    if problems:
        raise problems[0]


def plan_findings(folder: str | Path, registry) -> list:
    """The plan's schema error or its outcome problems as validation findings (for
    ``metasynth validate``); none when the folder has no plan or it is valid."""
    from metasynth.plan.file import PLAN_FILE, load_plan
    from metasynth.records.checks import Finding

    path = Path(folder) / PLAN_FILE
    if not path.is_file() or registry is None:
        return []
    try:
        problems = plan_problems(load_plan(path), path, registry)
    except DataError as err:
        problems = [err]
    return [Finding("error", e.path or str(path), e.line, e.message) for e in problems]
