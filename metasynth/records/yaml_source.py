"""Safe YAML reading that keeps the line of every value.

ruamel.yaml parses (YAML 1.2: ``no`` stays the string "no"); this module then builds
plain Python values from the node tree itself, so no object is ever constructed
from a tag. Refused, each with a one-line ``DataError`` naming file and line:
anchors and aliases (the "billion laughs" expansion), explicit tags other than the
core ones, duplicate keys (PyYAML silently keeps the last), more than one document,
files over ``MAX_BYTES`` and documents with more than ``MAX_NODES`` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metasynth.errors import DataError

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
_CORE = "tag:yaml.org,2002:"
_SCALARS = {_CORE + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


@dataclass(frozen=True)
class YamlDocument:
    """Plain data (dict/list/str/int/float/bool/None) and the line of each path."""

    path: str
    data: object
    lines: dict  # path tuple -> 1-based line

    def line_of(self, loc: tuple) -> int:
        """Line of ``loc`` or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


def _line(node) -> int:
    return node.start_mark.line + 1


def _scalar(node, path: str):
    tag = node.tag if isinstance(node.tag, str) else getattr(node.tag, "value", None)
    if tag not in _SCALARS:
        raise DataError(f"YAML tag {tag!r} is not allowed (plain values only)", path, _line(node))
    value = node.value
    kind = tag[len(_CORE):]
    if kind in ("str", "timestamp"):  # dates stay the text that was written
        return value
    if kind == "null":
        return None
    if kind == "bool":
        return value.lower() == "true"
    text = value.replace("_", "").strip()
    try:
        if kind == "int":
            if text.lower().startswith(("0x", "0o", "-0x", "+0x")):
                return int(text, 0)
            return int(text)
        low = text.lower()
        if low in (".inf", "+.inf", "-.inf", ".nan"):
            raise ValueError
        return float(text)
    except ValueError:
        raise DataError(f"number {value!r} is not allowed here; write a finite number "
                        "(or quote it as text)", path, _line(node)) from None


def load_yaml(path: str | Path) -> YamlDocument:
    """Read one YAML file safely; every problem is a ``DataError`` with a line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"cannot read file: {err.strerror}", name) from None
    if len(raw) > MAX_BYTES:
        raise DataError(f"file is {len(raw)} bytes; records are limited to {MAX_BYTES}", name)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"not UTF-8 text (byte {err.start}); save the file as UTF-8", name,
                        line) from None

    yaml = YAML(typ="rt", pure=True)
    try:
        # Refuse anchors, aliases and extra documents at the event level, before any
        # node is composed, so an expansion bomb is never built.
        docs = 0
        for event in yaml.parse(text):
            kind = type(event).__name__
            if kind == "AliasEvent" or getattr(event, "anchor", None):
                raise DataError("YAML anchors and aliases are not allowed",
                                name, event.start_mark.line + 1)
            if kind == "DocumentStartEvent":
                docs += 1
                if docs > 1:
                    raise DataError("more than one YAML document in the file",
                                    name, event.start_mark.line + 1)
        node = yaml.compose(text)
    except DataError:
        raise
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        problem = (err.problem or err.context or "invalid YAML").strip()
        raise DataError(f"invalid YAML: {problem}", name, line) from None
    except YAMLError as err:
        raise DataError(f"invalid YAML: {str(err).splitlines()[0]}", name) from None

    lines: dict = {}
    count = [0]

    def build(n, loc):
        count[0] += 1
        if count[0] > MAX_NODES:
            raise DataError(f"document has more than {MAX_NODES} values", name, _line(n))
        lines.setdefault(loc, _line(n))
        if isinstance(n, ScalarNode):
            return _scalar(n, name)
        if isinstance(n, SequenceNode):
            if n.tag not in (None, _CORE + "seq") and str(n.tag) != _CORE + "seq":
                raise DataError(f"YAML tag {n.tag!r} is not allowed", name, _line(n))
            return [build(item, loc + (i,)) for i, item in enumerate(n.value)]
        if isinstance(n, MappingNode):
            if str(n.tag) != _CORE + "map" and n.tag is not None:
                raise DataError(f"YAML tag {n.tag!r} is not allowed", name, _line(n))
            out: dict = {}
            for key_node, value_node in n.value:
                if not isinstance(key_node, ScalarNode):
                    raise DataError("mapping keys must be plain text", name, _line(key_node))
                key = _scalar(key_node, name)
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    raise DataError(f"mapping key {key_node.value!r} must be text", name,
                                    _line(key_node))
                key = str(key)
                if key in out:
                    raise DataError(f"duplicate key {key!r} (first on line "
                                    f"{lines[loc + (key,)]})", name, _line(key_node))
                lines[loc + (key,)] = _line(key_node)
                out[key] = build(value_node, loc + (key,))
            return out
        raise DataError("unsupported YAML node", name, _line(n))

    data = None if node is None else build(node, ())
    lines.setdefault((), 1)
    return YamlDocument(path=name, data=data, lines=lines)
