"""Errors meant for users: one line, with the file and line where possible."""

from __future__ import annotations


class MetasynthError(Exception):
    """Base class. ``str(err)`` is the one-line message shown to the user."""

    exit_code = 1


class DataError(MetasynthError):
    """Invalid input data (exit status 1)."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.message, self.path, self.line = message, path, line
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")


class UsageError(MetasynthError):
    """A bad option or argument (exit status 2)."""

    exit_code = 2
