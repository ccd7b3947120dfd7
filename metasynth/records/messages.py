"""Turn pydantic validation errors into one-line messages with file and line."""

from __future__ import annotations

from metasynth.errors import DataError

_HINTS = {
    "int_type": " (write a whole number without quotes)",
    "float_type": " (write a number without quotes)",
    "string_type": " (quote the value, e.g. \"1.10\" or \"no\", so it stays text)",
    "bool_type": " (write true or false)",
}


def _describe(error: dict) -> str:
    loc = tuple(error["loc"])
    where = ".".join(str(p) for p in loc)
    kind = error["type"]
    if kind == "missing":
        return f"missing required field '{where}'"
    if kind == "extra_forbidden":
        return f"unknown field '{where}' (misspelt, or not in the schema: see studies/README.md)"
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{where or 'record'}: {msg}{_HINTS.get(kind, '')}"


def schema_errors(err, doc) -> list[DataError]:
    """Every pydantic error of ``err`` as a DataError located in ``doc``."""
    out = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        # a missing field is reported on the line of the mapping that lacks it
        line = doc.line_of(loc[:-1] if e["type"] == "missing" else loc)
        out.append(DataError(_describe(e), doc.path, line))
    return out


def first_schema_error(err, doc) -> DataError:
    return schema_errors(err, doc)[0]
