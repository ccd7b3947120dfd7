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


RELEASE_TAGS = "review-v*"


def previous_release(folder: Path, current: str | None = None,
                     pattern: str = RELEASE_TAGS) -> str | None:
    """The newest release tag reachable from HEAD (``review-v*``, by version order) other
    than the current version's own tag; None when there is none yet (the first version)."""
    repo = Path(folder).resolve()
    tags = _git(["tag", "--list", pattern, "--merged", "HEAD", "--sort=-v:refname"],
                repo).decode().split()
    own = f"{pattern.rstrip('*')}{current}" if current else None
    return next((t for t in tags if t != own), None)


def changed_files(folder: Path, ref: str, names: list[str]) -> list[str]:
    """Which of ``names`` (files in ``folder``) differ between ``ref`` and the working tree."""
    folder = Path(folder).resolve()
    paths = [str(folder / n) for n in names]
    out = _git(["diff", "--name-only", ref, "--", *paths], folder).decode().split()
    return [n for n in names if any(o.endswith(f"/{n}") or o == n for o in out)]


def file_at_ref(folder: Path, ref: str, path: str) -> bytes | None:
    """The bytes of ``path`` (relative to the repository's top) at ``ref``; None if absent."""
    folder = Path(folder).resolve()
    repo = Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    try:
        return _git(["show", f"{ref}:{path}"], repo)
    except UsageError:
        return None
