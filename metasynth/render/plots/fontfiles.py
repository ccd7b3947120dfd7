"""matplotlib's fonts read from memory instead of from their files.

matplotlib opens each font file once (``font_manager._get_font``, cached) and hands
FreeType a stream whose reads are Python calls on the open file: ``seek`` then ``read``
of 4 KiB, for every glyph FreeType loads, and it loads glyphs each time a text is
measured or laid out (``FT2Font.set_text``, ``textpath.TextToPath``). The shipped
report's figures made 124,514 ``lseek`` and 54,923 ``read`` system calls on
DejaVuSans.ttf (strace, matplotlib 3.11.2, 3 December 2026); a benchmark of 3,000 texts
measured and saved as SVG took 7.3-8.2 CPU-s from the file and 3.2-4.4 from memory.

``FT2Font`` takes a file-like object as well as a path (its docstring: "filename : str,
bytes, os.PathLike, or io.BinaryIO"), so ``in_memory`` wraps ``_get_font`` to give it
each font's bytes in a ``BytesIO``, read once per file. The bytes, and so every glyph and
metric, are the file's own; figures are byte-identical (tests/test_plot_fonts.py).
matplotlib's Last Resort font stays a path: ``_get_font`` recognises it by its path, and
it is only read for a glyph no other font has.

The PDF and PostScript backends embed a font by its ``FT2Font.fname``, which is then the
``BytesIO``, not a path: ``save_figure`` draws those formats ``from_files()``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

_CONTENTS: dict[str, bytes] = {}
# one stream per file and thread (matplotlib keys its fonts on the thread too): the same
# object each time, so matplotlib's cache of fonts still finds it
_STREAMS: dict[tuple[str, int], io.BytesIO] = {}
_FROM_FILES = [0]  # depth of from_files() blocks


def _in_memory(path):
    import threading

    if not isinstance(path, str):  # bytes or a file object already: as matplotlib has it
        return path
    key = (path, threading.get_ident())
    if key not in _STREAMS:
        if path not in _CONTENTS:
            with open(path, "rb") as fh:
                _CONTENTS[path] = fh.read()
        _STREAMS[key] = io.BytesIO(_CONTENTS[path])  # shares the bytes until written
    return _STREAMS[key]


@cache
def in_memory() -> None:
    """Make matplotlib read the fonts it opens from here on from memory (once per process;
    the fonts matplotlib has already opened keep their files)."""
    import matplotlib.font_manager as fm

    original = fm._get_font
    if getattr(original, "__wrapped_by_metasynth__", False):
        return
    last_resort = fm._cached_realpath(fm.cbook._get_data_path(
        "fonts", "ttf", "LastResortHE-Regular.ttf"))

    def _get_font(font_filepaths, **kw):
        if _FROM_FILES[0]:
            return original(font_filepaths, **kw)
        return original(tuple((p if p == last_resort else _in_memory(p), i)
                              for p, i in font_filepaths), **kw)

    _get_font.__wrapped_by_metasynth__ = True
    _get_font.__wrapped__ = original
    _get_font.cache_clear = original.cache_clear  # as matplotlib clears it after a fork
    fm._get_font = _get_font


@contextmanager
def from_files() -> Iterator[None]:
    """Fonts opened from their files inside the block, with a path as ``fname``, as the
    backends that embed fonts (PDF, PostScript) need."""
    _FROM_FILES[0] += 1
    try:
        yield
    finally:
        _FROM_FILES[0] -= 1
