"""The one text sanitiser for what comes from records, CSV tables and registries and
reaches a terminal, an SVG, the HTML or PDF report or a CSV file.

- Control characters (C0 but tab and newline, DEL, C1) and the bidirectional overrides
  of "Trojan source" are refused where text enters (the record schema, the CSV reader):
  ESC and BEL are printed raw to terminals and make SVG invalid XML.
- Links: only http(s) URLs and DOIs (``javascript:``, ``data:``, ``file:`` are refused).
- CSV cells that a spreadsheet would run as a formula (= + - @, and tab or CR first)
  are escaped with a leading apostrophe (OWASP's CSV-injection advice).
- ``one_line`` makes registry text safe inside a one-line YAML comment.
- Figures: data labels are drawn with matplotlib's mathtext off (``render.plots.kit.rc``),
  so ``$...$`` in an author name is text, not a formula.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# C0 controls except TAB and LF, CR is refused too (files are read with universal
# newlines); DEL; C1; bidi embeddings, overrides and isolates
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
URL_SCHEMES = ("http", "https")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def control_problem(text: str) -> str | None:
    """What is wrong with ``text`` (a control character and where), or ``None``."""
    m = CONTROL.search(text)
    if m is None:
        return None
    return (f"contains the control character U+{ord(m.group()):04X} at position "
            f"{m.start() + 1}; remove it (only tabs and newlines are allowed)")


def url_problem(url: str) -> str | None:
    """``None`` for an http(s) URL with a host or a ``doi:`` link; else why not."""
    text = url.strip()
    if text.lower().startswith("doi:"):
        return None if re.match(r"^doi:10\.\d{4,9}/\S+$", text, re.I) else \
            f"{url!r} is not a doi:10.NNNN/... link"
    parts = urlsplit(text)
    if parts.scheme.lower() not in URL_SCHEMES or not parts.netloc:
        return (f"{url[:60]!r} is not an http(s) URL (links may only be http://, https:// "
                "or doi:)")
    if any(c.isspace() for c in text) or '"' in text or "<" in text or ">" in text:
        return f"{url[:60]!r} contains spaces, quotes or angle brackets"
    return None


def csv_cell(value):
    """``value`` for a CSV cell: text a spreadsheet would evaluate gets a leading ``'``.
    Numbers are left alone (a negative number is not a formula)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def one_line(text: str | None, limit: int = 300) -> str:
    """Text for a single-line comment or message: controls and line breaks become
    spaces, runs of space collapse, and it is cut at ``limit`` characters."""
    if not text:
        return ""
    text = CONTROL.sub(" ", str(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
