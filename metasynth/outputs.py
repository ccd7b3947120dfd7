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
  ``summary.json``), with a manifest naming the version that every file belongs to.
  The set is built in a sibling folder of the output folder (``.reports.metasynth-build-*``
  beside ``reports/``), the output folder's other entries (``reports/figures/``) are
  hard-linked into it, and the two folders are exchanged in one system call (Linux
  ``renameat2(RENAME_EXCHANGE)``). A reader of the folder sees the old set or the new one
  at every moment, even if the run is killed by SIGKILL, and the files stay plain files
  at their plain paths (``reports/<name>.pdf``). Where the exchange cannot be made (not
  Linux, a filesystem without it, a folder holding a pipe, a device, a ``.git`` or over
  ``LINK_LIMIT`` other entries, the working folder or one above it, hard links refused)
  the set is committed by renames inside the folder, signals held back, manifest last: a
  run killed by SIGKILL in that
  window is rolled forward by the next writer of the folder (the build folder's manifest
  says what belongs to the set). Every writer first removes the build folders of killed
  runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from metasynth.errors import UsageError

MANIFEST = "manifest.json"
BUILD_PREFIX = ".metasynth-build-"
#: entries of the output folder beyond the set's files that are hard-linked into the new
#: folder before the exchange; a folder with more is committed by renames instead
LINK_LIMIT = 1000
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


def _sibling_prefix(folder: Path) -> str:
    return f".{folder.name}{BUILD_PREFIX}"


def _owner_alive(build: Path, prefix: str) -> bool:
    """Whether the run that made ``build`` (its pid follows the prefix) still runs: a
    concurrent writer's build folder is not removed under it."""
    pid = build.name[len(prefix):].split("-", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def recover(folder: str | os.PathLike) -> None:
    """Clean up after killed runs: remove sibling build folders (before the exchange they
    hold an unused new set, after it the old one: never needed), finish a set whose
    commit by renames was killed (its build folder has a manifest), and remove build
    folders of runs killed before they were complete."""
    import glob

    folder = Path(os.path.realpath(folder))
    if folder.parent != folder:
        prefix = _sibling_prefix(folder)
        for sibling in folder.parent.glob(glob.escape(prefix) + "*"):
            if sibling.is_dir() and not sibling.is_symlink() and not _owner_alive(sibling,
                                                                                  prefix):
                shutil.rmtree(sibling, ignore_errors=True)
    if not folder.is_dir():
        return
    for build in sorted(folder.glob(BUILD_PREFIX + "*")):
        if not build.is_dir() or _owner_alive(build, BUILD_PREFIX):
            continue
        if (build / MANIFEST).is_file():
            _commit(build, folder)
        else:
            shutil.rmtree(build, ignore_errors=True)


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``, since 3.15). ``False`` when the system or the filesystem cannot:
    nothing was changed then."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2  # glibc 2.28 and later
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint)
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _link_others(folder: Path, build: Path, skip: set[str]) -> bool:
    """Hard-link the entries of ``folder`` that are not the set's (``reports/figures/``)
    into ``build``, so the exchanged folder keeps them. ``False`` (and nothing linked)
    when one cannot be linked or there are more than ``LINK_LIMIT``."""
    import stat

    cwd = Path(os.path.realpath(os.getcwd()))
    if cwd == folder or folder in cwd.parents:
        return False  # the working folder (ours, likely the user's shell's) is not swapped
    others, count = [], 0
    for entry in os.scandir(folder):
        if entry.name in skip or entry.name.startswith(BUILD_PREFIX):
            continue
        if entry.name == ".git":
            return False  # a repository is not relinked under git's feet
        others.append(entry)
        count += 1
        if entry.is_dir(follow_symlinks=False):
            for _root, dirs, files in os.walk(entry.path):
                count += len(dirs) + len(files)
                if count > LINK_LIMIT:
                    return False
        elif not (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
            return False  # a pipe, a socket or a device cannot be linked
        if count > LINK_LIMIT:
            return False
    done: list[Path] = []
    try:
        for entry in others:
            target = build / entry.name
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, target, symlinks=True, copy_function=os.link)
            else:
                os.link(entry.path, target, follow_symlinks=False)
            done.append(target)
        os.chmod(build, stat.S_IMODE(folder.stat().st_mode))  # mkdtemp made it 0700
    except OSError:
        for target in done:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(target)
        return False
    return True


class OutputSet:
    """Files written together: ``with OutputSet(folder) as s: s.write(name, data)``.

    Nothing in ``folder`` changes until the block ends without an exception; then the
    set is committed with a manifest ``{"version", "files": {name: {"sha256", "bytes",
    "version"}}}``. ``version`` is the digest of the set's contents. ``swapped`` says
    whether the commit exchanged the folders (atomic) or renamed files (rolled forward
    after a kill)."""

    def __init__(self, folder: str | os.PathLike, producer: str = ""):
        self.folder = Path(folder)
        self.producer = producer
        self.build: Path | None = None
        self.swapped = False
        self._sibling = False  # the build folder is beside the output folder, not in it
        self._files: dict[str, dict] = {}
        # a folder reached through a symlink is swapped where it is: the link stays
        self._abs = Path(os.path.realpath(self.folder))

    def __enter__(self) -> OutputSet:
        self.folder.mkdir(parents=True, exist_ok=True)
        recover(self.folder)
        # a signal between mkdtemp and the end of __enter__ would skip __exit__: hold
        # signals while the folder is made, and clean it up if one lands before return
        try:
            with _signals_held():
                self.build = self._make_build()
        except BaseException:
            if self.build is not None:
                shutil.rmtree(self.build, ignore_errors=True)
            raise
        return self

    def _make_build(self) -> Path:
        pid = f"{os.getpid()}-"
        if self._abs.parent != self._abs and not os.path.ismount(self._abs):
            with contextlib.suppress(OSError):  # a parent we may not write in
                build = Path(tempfile.mkdtemp(prefix=_sibling_prefix(self._abs) + pid,
                                              dir=self._abs.parent))
                self._sibling = True
                return build
        return Path(tempfile.mkdtemp(prefix=BUILD_PREFIX + pid, dir=self._abs))

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
            os.replace(self.build / (MANIFEST + ".part"), self.build / MANIFEST)
            _fsync_dir(self.build)
            with _signals_held():
                if self._sibling and self._swap():
                    return
                if self._sibling:  # no exchange: commit by renames
                    inside = Path(tempfile.mkdtemp(prefix=f"{BUILD_PREFIX}{os.getpid()}-",
                                                   dir=self._abs))
                    os.rmdir(inside)
                    os.rename(self.build, inside)  # one rename: a killed run is rolled on
                    self.build, self._sibling = inside, False
                # the build folder's manifest marks it complete: from here a killed
                # run is finished by the next one (recover)
                _commit(self.build, self._abs)
        except BaseException:
            if self._sibling or not (self.build / MANIFEST).exists():
                shutil.rmtree(self.build, ignore_errors=True)
            raise

    def _swap(self) -> bool:
        """Exchange the build folder with the output folder; remove the old set."""
        old = read_manifest(self.folder)
        skip = {MANIFEST, *self._files, *((old or {}).get("files", {}))}
        if not _link_others(self._abs, self.build, skip):
            return False
        _fsync_dir(self.build)
        if not exchange(self.build, self._abs):
            for entry in os.scandir(self.build):  # the links made for the exchange
                if entry.name not in (MANIFEST, *self._files):
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            return False
        _fsync_dir(self._abs.parent)
        self.swapped = True
        shutil.rmtree(self.build, ignore_errors=True)  # now the old set
        return True
