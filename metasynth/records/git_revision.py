"""The studies folder as it is in a git revision (read with ``git archive``), for
``metasynth diff``: the "before" side of a pull request's change."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from metasynth.errors import UsageError


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
