"""The one bounded reader of every file a command reads (records, the outcome registry,
plans, GRADE overrides, the review frame, CSV/TSV tables).

The file is checked with ``os.stat`` before it is opened: only regular files are read
(a FIFO would block forever, ``/dev/zero`` would never end), and the size limit is
applied before a byte is read. The open itself is non-blocking and the opened file is
checked again (``fstat``), so a file swapped for a pipe between the two checks is refused
too; at most ``limit + 1`` bytes are ever read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from metasynth.errors import DataError

#: the default limit: records are a few kB, the largest plausible CSV some MB
MAX_BYTES = 1_000_000
MAX_TABLE_BYTES = 50_000_000

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a folder"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bounded(path: str | os.PathLike, limit: int = MAX_BYTES, what: str = "file") -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; otherwise a
    one-line ``DataError`` naming the file."""
    name = str(path)
    try:
        st = os.stat(path)  # follows symlinks: a link to /dev/zero is a device
    except OSError as err:
        raise DataError(f"cannot read {what}: {err.strerror}", name) from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{what} is {_kind(st.st_mode)}, not a regular file; refusing to read it",
                        name)
    if st.st_size > limit:
        raise DataError(f"{what} is {st.st_size} bytes; the limit is {limit}", name)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise DataError(f"cannot read {what}: {err.strerror}", name) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{what} is {_kind(st.st_mode)}, not a regular file; refusing to "
                            "read it", name)
        data = fh.read(limit + 1)
    if len(data) > limit:  # grew since stat
        raise DataError(f"{what} is over the limit of {limit} bytes", name)
    return data


def read_text(path: str | os.PathLike, limit: int = MAX_BYTES, what: str = "file",
              encoding: str = "utf-8") -> str:
    """``read_bounded`` decoded; a decoding error names the line."""
    raw = read_bounded(path, limit, what)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte {err.start}); save the file as UTF-8", str(path),
                        line) from None


def is_yaml_name(name: str) -> bool:
    """``.yaml``/``.yml`` in any case (``x.YAML`` is refused by name, not ignored)."""
    return Path(name).suffix.lower() in (".yaml", ".yml")
