"""The one writer of every file a command leaves behind, and the checks of output paths.

- ``check_output`` validates a target before any work: its folder exists, it is not a
  folder (or, for a folder target, not a file), and it is none of the inputs (so
  ``metasynth forest trials.png -o trials.png`` cannot overwrite the data it reads).
- ``atomic_output`` writes to a unique temporary file in the target's folder
  (``tempfile.mkstemp``: concurrent writers never share a name), fsyncs it and renames
  it over the target (``os.replace``, atomic on POSIX), so a reader sees the old file
  or the new one, never a part. The temporary file is removed on any exception, and
  ``signals_unwind`` turns SIGTERM and SIGHUP into an exception like SIGINT's,
  so ``finally`` clauses run on those signals too.
- ``OutputSet`` writes several files as one set (the report: HTML, PDF,
  ``summary.json``): they are built in a temporary folder beside the targets, a manifest
  names the version that every file belongs to, and the set is committed with signals
  held back. A run killed even by SIGKILL in the commit window is rolled forward by the
  next writer of the folder (the build folder's manifest says what belongs to the set).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from metasynth.errors import UsageError

MANIFEST = "manifest.json"
BUILD_PREFIX = ".metasynth-build-"
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised as an exception so temporary files are removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """Within the block SIGTERM and SIGHUP unwind like Ctrl-C (the CLI runs every
    command in it); the previous handlers come back afterwards."""
    old = {}
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                old[name] = signal.signal(getattr(signal, name), _raise_terminated)
    try:
        yield
    finally:
        for name, handler in old.items():
            signal.signal(getattr(signal, name), handler)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                 folder: bool = False, suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` if it can be written without harm, else a ``UsageError`` (exit 2).

    ``folder``: the target is a folder (it may not exist yet; its parent must).
    ``inputs``: files or folders the command reads; the target may be none of them."""
    p = Path(path)
    text = str(path)
    if not text or text.strip() != text:
        raise UsageError(f"output path {text!r} is empty or has surrounding spaces")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"output must end in {', '.join(suffixes[:-1])} or {suffixes[-1]}, "
                         f"not {text!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"output folder {str(parent)!r} does not exist (create it first)")
    if folder:
        if p.exists() and not p.is_dir():
            raise UsageError(f"output {text!r} is a file, not a folder")
    elif p.is_dir():
        raise UsageError(f"output {text!r} is a folder; give a file name")
    elif p.exists() and not p.is_file():
        raise UsageError(f"output {text!r} is not a regular file (a device or a pipe?)")
    for inp in inputs:
        if inp is None or str(inp) == "":
            continue
        q = Path(inp)
        if _same_file(p, q):
            raise UsageError(f"output {text!r} is also an input of this command; "
                             "choose another name")
    return p


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """A file object on a unique temporary file beside ``path``; renamed over ``path``
    when the block ends without an exception, removed otherwise."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _keep_mode(target, tmp)
        os.replace(tmp, target)
        _fsync_dir(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _keep_mode(target: Path, tmp: str) -> None:
    """mkstemp makes 0600 files; give the new file the old one's mode, or the umask's."""
    try:
        mode = target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_output(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _signals_held():
    """Hold SIGINT/SIGTERM/SIGHUP back for a few renames (delivered afterwards)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of the set in ``folder`` (``None`` when there is none or it is broken)."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _commit(build: Path, folder: Path) -> None:
    """Move the files of a complete build folder into ``folder``, manifest last."""
    manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    old = read_manifest(folder)
    with contextlib.suppress(FileNotFoundError):  # from here on, no manifest: in transition
        os.unlink(folder / MANIFEST)
    for name in manifest["files"]:
        if (build / name).exists():  # a rolled-forward commit may have moved some already
            os.replace(build / name, folder / name)
    for name in (old or {}).get("files", {}):  # files of the old set that the new one lacks
        if name not in manifest["files"] and name != MANIFEST:
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
    os.replace(build / MANIFEST, folder / MANIFEST)
    _fsync_dir(folder)
    shutil.rmtree(build, ignore_errors=True)


def recover(folder: str | os.PathLike) -> None:
    """Finish a set whose commit was killed (its build folder has a manifest), and remove
    build folders of runs killed before they were complete."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for build in sorted(folder.glob(BUILD_PREFIX + "*")):
        if not build.is_dir():
            continue
        if (build / MANIFEST).is_file():
            _commit(build, folder)
        else:
            shutil.rmtree(build, ignore_errors=True)


class OutputSet:
    """Files written together: ``with OutputSet(folder) as s: s.write(name, data)``.

    Nothing in ``folder`` changes until the block ends without an exception; then the
    set is committed with a manifest ``{"version", "files": {name: {"sha256", "bytes",
    "version"}}}``. ``version`` is the digest of the set's contents."""

    def __init__(self, folder: str | os.PathLike, producer: str = ""):
        self.folder = Path(folder)
        self.producer = producer
        self.build: Path | None = None
        self._files: dict[str, dict] = {}

    def __enter__(self) -> OutputSet:
        self.folder.mkdir(parents=True, exist_ok=True)
        recover(self.folder)
        # a signal between mkdtemp and the end of __enter__ would skip __exit__: hold
        # signals while the folder is made, and clean it up if one lands before return
        try:
            with _signals_held():
                self.build = Path(tempfile.mkdtemp(prefix=BUILD_PREFIX, dir=self.folder))
        except BaseException:
            if self.build is not None:
                shutil.rmtree(self.build, ignore_errors=True)
            raise
        return self

    def path(self, name: str) -> Path:
        """The temporary path of ``name`` in the build folder (for tools that write files)."""
        assert self.build is not None
        if "/" in name or name in (MANIFEST, "", ".", ".."):
            raise ValueError(f"bad name in an output set: {name!r}")
        return self.build / name

    def write(self, name: str, data: bytes) -> Path:
        target = self.path(name)
        with open(target, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self._files[name] = {"sha256": _digest(data), "bytes": len(data)}
        return self.folder / name

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.build is not None
        if exc_type is not None:
            shutil.rmtree(self.build, ignore_errors=True)
            return
        try:
            version = _digest("".join(f"{n}:{f['sha256']};" for n, f in
                                      sorted(self._files.items())).encode())[:16]
            manifest = {"version": version, "producer": self.producer,
                        "files": {n: {**f, "version": version}
                                  for n, f in sorted(self._files.items())}}
            with open(self.build / (MANIFEST + ".part"), "w", encoding="utf-8") as fh:
                json.dump(manifest, fh, indent=2, sort_keys=True)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            _fsync_dir(self.build)
            with _signals_held():
                # the manifest's arrival marks the build complete: from here a killed
                # run is finished by the next one (recover)
                os.replace(self.build / (MANIFEST + ".part"), self.build / MANIFEST)
                _commit(self.build, self.folder)
        except BaseException:
            if not (self.build / MANIFEST).exists():
                shutil.rmtree(self.build, ignore_errors=True)
            raise
