"""Turn pydantic validation errors into one-line messages with file and line."""

from __future__ import annotations

from metasynth.errors import DataError

_HINTS = {
    "int_type": " (write a whole number without quotes)",
    "float_type": " (write a number without quotes)",
    "string_type": " (quote the value, e.g. \"1.10\" or \"no\", so it stays text)",
    "bool_type": " (write true or false)",
}


#: errors that, on a blank value (YAML null), mean the field was left empty
_BLANKABLE = {"string_type", "int_type", "float_type", "bool_type", "literal_error",
              "enum", "model_type", "dict_type", "list_type", "model_attributes_type"}


def _blank(error: dict) -> bool:
    return error.get("input", ...) is None and error["type"] in _BLANKABLE


def _describe(error: dict) -> str:
    loc = tuple(error["loc"])
    where = ".".join(str(p) for p in loc)
    kind = error["type"]
    if kind == "missing":
        return f"missing required field '{where}'"
    if _blank(error):  # a blank from the template: the contributor has to fill it
        allowed = ""
        if kind == "literal_error":
            allowed = " (" + error["msg"].replace("Input should be ", "one of ") + ")"
        return f"missing required field '{where}'{allowed}"
    if kind == "extra_forbidden":
        return f"unknown field '{where}' (misspelt, or not in the schema: see studies/README.md)"
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{where or 'record'}: {msg}{_HINTS.get(kind, '')}"


def _field_names() -> set[str]:
    """Every field name of the record schema (the vocabulary of "did you mean")."""
    from metasynth.records import schema

    names: set[str] = set()
    for obj in vars(schema).values():
        if isinstance(obj, type) and issubclass(obj, schema.Strict):
            names.update(obj.model_fields)
    return names


def _did_you_mean(errors: list[dict]) -> tuple[list[dict], dict[int, str]]:
    """A misspelt key gives pydantic two errors (unknown 'jurnal', missing 'journal'):
    pair them into one with a suggestion; an unknown key alone gets the nearest field
    name of the schema."""
    import difflib

    hints: dict[int, str] = {}
    dropped: set[int] = set()
    missing = {i: e for i, e in enumerate(errors) if e["type"] == "missing"}
    vocabulary = None
    for i, e in enumerate(errors):
        if e["type"] != "extra_forbidden":
            continue
        loc = tuple(e["loc"])
        siblings = {str(m["loc"][-1]): j for j, m in missing.items()
                    if tuple(m["loc"][:-1]) == loc[:-1] and j not in dropped}
        close = difflib.get_close_matches(str(loc[-1]), list(siblings), n=1, cutoff=0.6)
        if close:
            dropped.add(siblings[close[0]])
        else:
            vocabulary = vocabulary or _field_names()
            close = difflib.get_close_matches(str(loc[-1]), sorted(vocabulary), n=1, cutoff=0.75)
        if close:
            hints[i] = close[0]
    return [e for i, e in enumerate(errors) if i not in dropped], {
        id(errors[i]): h for i, h in hints.items()}


def schema_errors(err, doc) -> list[DataError]:
    """Every pydantic error of ``err`` as a DataError located in ``doc``."""
    out = []
    errors, hints = _did_you_mean(err.errors(include_url=False))
    for e in errors:
        loc = tuple(e["loc"])
        # a missing field is reported on the line of the mapping that lacks it
        line = doc.line_of(loc[:-1] if e["type"] == "missing" else loc)
        message = _describe(e)
        if id(e) in hints:
            where = ".".join(str(p) for p in loc)
            message = (f"unknown field '{where}': did you mean '{hints[id(e)]}'? "
                       "(see studies/README.md)")
        out.append(DataError(message, doc.path, line))
    return out


def first_schema_error(err, doc) -> DataError:
    return schema_errors(err, doc)[0]
