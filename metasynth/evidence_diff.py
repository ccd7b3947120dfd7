"""`metasynth diff`: what a change to ``studies/`` does to the evidence.

Records added, removed or changed, and for every outcome of the registry the pooled
estimate, CI, tau² and I² before and after. The "before" side is the studies folder as
it is in a git revision (default: the merge base with main), read with ``git archive``;
the "after" side is the working tree. This is what a reviewer reads on a pull request.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from metasynth.errors import DataError, MetasynthError, UsageError
from metasynth.models.options import PoolOptions
from metasynth.records.load import StudySet, record_files, validate_studies
from metasynth.records.yaml_source import load_yaml


@dataclass(frozen=True)
class PooledSummary:
    k: int
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    tau2: float | None
    I2: float | None
    note: str = ""


@dataclass(frozen=True)
class OutcomeChange:
    outcome: str
    label: str
    before: PooledSummary | None
    after: PooledSummary | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class EvidenceDiff:
    ref: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, tuple[str, ...]], ...]  # (record id, changed top-level fields)
    outcomes: tuple[OutcomeChange, ...]
    before_errors: int
    after_errors: int
    measure: str

    def to_dict(self) -> dict:
        return asdict(self)


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise UsageError("git is not installed; metasynth diff needs it") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise UsageError(f"git {' '.join(args)}: {msg[-1] if msg else 'failed'}")
    return proc.stdout


def default_ref(repo: Path) -> str:
    """The merge base of HEAD with main (or origin/main); HEAD when on main itself."""
    for branch in ("main", "origin/main", "master"):
        try:
            return _git(["merge-base", "HEAD", branch], repo).decode().strip()
        except UsageError:
            continue
    return "HEAD"


def studies_at_ref(folder: Path, ref: str, into: Path) -> Path:
    """Extract ``folder`` as it is at ``ref`` into ``into``; return the extracted folder."""
    folder = folder.resolve()
    repo = Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    rel = folder.relative_to(repo)
    data = _git(["archive", "--format=tar", ref, "--", str(rel)], repo)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        try:
            tar.extractall(into, filter="data")
        except TypeError:  # Python < 3.10.12 / 3.11.4: no extraction filters
            tar.extractall(into)  # our own repository's files
    out = into / rel
    out.mkdir(parents=True, exist_ok=True)
    return out


def _summary(studies: StudySet, outcome: str, options: PoolOptions) -> PooledSummary | None:
    from metasynth.api import pool

    if studies.registry is None or studies.registry.outcome(outcome) is None:
        return None
    try:
        res = pool(studies, outcome, options=options)
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
                  options: PoolOptions | None = None) -> EvidenceDiff:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a studies folder", str(folder))
    options = options or PoolOptions()
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
