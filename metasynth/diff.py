"""`metasynth diff`: what a change to ``studies/`` does to the evidence.

Records added, removed or changed, and for every outcome of the registry the pooled
estimate, CI, tau² and I² before and after. The "before" side is the studies folder as
it is in a git revision (default: the merge base with main); the "after" side is the
working tree. This is what a reviewer reads on a pull request.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from metasynth.errors import DataError, MetasynthError
from metasynth.models.evidence_change import EvidenceDiff, OutcomeChange, PooledSummary
from metasynth.plan.spec import AnalysisSpec
from metasynth.records.git_revision import default_ref, studies_at_ref
from metasynth.records.load import StudySet, record_files, validate_studies
from metasynth.records.yaml_source import load_yaml


def _summary(studies: StudySet, outcome: str, options: AnalysisSpec) -> PooledSummary | None:
    from metasynth.api import pool

    if studies.registry is None or studies.registry.outcome(outcome) is None:
        return None
    try:
        res = pool(studies, outcome, spec=options)
    except MetasynthError as err:
        message = getattr(err, "message", str(err))
        return PooledSummary(0, None, None, None, None, None, note=message.split(" (")[0])
    r, h = res.random, res.heterogeneity
    return PooledSummary(res.k, r.estimate, r.ci_lower, r.ci_upper, h.tau2, h.I2)


def _record_data(folder: Path) -> dict[str, dict]:
    out = {}
    for f in record_files(folder):
        try:
            out[f.stem] = load_yaml(f).data
        except DataError:
            out[f.stem] = {"__invalid__": f.read_bytes().hex()}
    return out


def diff_evidence(folder: str | Path = "studies", ref: str | None = None,
                  options: AnalysisSpec | None = None) -> EvidenceDiff:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a studies folder", str(folder))
    options = options or AnalysisSpec()
    ref = ref or default_ref(folder.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        old_folder = studies_at_ref(folder, ref, Path(tmp))
        old_data, new_data = _record_data(old_folder), _record_data(folder)
        old = validate_studies(old_folder) if record_files(old_folder) else None
        new = validate_studies(folder)
        registry = new.registry or (old.registry if old else None)
        outcomes = []
        for definition in (registry.outcomes if registry else []):
            before = _summary(old, definition.id, options) if old and not old.errors else None
            after = _summary(new, definition.id, options) if not new.errors else None
            outcomes.append(OutcomeChange(definition.id, definition.label, before, after))
    changed = []
    for rid in sorted(set(old_data) & set(new_data)):
        a, b = old_data[rid], new_data[rid]
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys = tuple(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))
        else:
            keys = ("(whole file)",)
        changed.append((rid, keys))
    return EvidenceDiff(
        ref=ref, added=tuple(sorted(set(new_data) - set(old_data))),
        removed=tuple(sorted(set(old_data) - set(new_data))), changed=tuple(changed),
        outcomes=tuple(outcomes), before_errors=len(old.errors) if old else 0,
        after_errors=len(new.errors), measure=options.measure)
