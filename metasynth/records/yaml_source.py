"""Safe YAML reading that keeps the line of every value.

Parsing uses libyaml through PyYAML's C composer (about 20x faster here than
ruamel.yaml's pure-Python parser, which cost ~0.2 s for 17 records and was the
largest part of `metasynth pool`'s start-up). PyYAML's *constructors* are not used:
``safe_load`` keeps the last of duplicate keys, turns ``no`` into False and ``1.10``
into 1.1, builds dates, and expands aliases. Instead the composed node tree is turned
into plain values here, with YAML 1.2 core-schema rules for plain scalars:

- duplicate keys, aliases (anchors that are used), explicit tags, more than one
  document, files over ``MAX_BYTES`` and documents over ``MAX_NODES`` values are
  refused with a one-line ``DataError`` naming file and line;
- ``no``/``yes``/``on``/``off`` stay text (only true/false are booleans), dates stay
  text, and numbers keep their YAML 1.2 meaning (``1.10`` is the number 1.1; the
  schema then asks for quotes where text is wanted).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from metasynth.errors import DataError
from metasynth.inputs import MAX_BYTES

MAX_NODES = 100_000
MAX_DEPTH = 64  # records nest 4 deep; libyaml and Python recursion both fail near 1000
MAX_DIGITS = 30  # an integer longer than this is a typo (and past 4300 Python refuses it)
_STR, _SEQ, _MAP = ("tag:yaml.org,2002:" + t for t in ("str", "seq", "map"))
_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL = re.compile(r"^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)|0o[0-7]+|0x[0-9a-fA-F]+)$")


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


def _loader_class():
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available

    class NoImplicitTypes(base):
        """Resolve nothing implicitly: every plain scalar arrives tagged str, so any
        other tag on a node was written explicitly in the file."""

        yaml_implicit_resolvers: dict = {}  # noqa: RUF012

    return NoImplicitTypes


def _line(node) -> int:
    return node.start_mark.line + 1


def _plain_scalar(node, path: str):
    """YAML 1.2 core schema for an untagged plain scalar."""
    text = node.value
    if node.style:  # quoted or block scalar: always text (plain is None, or '' from libyaml)
        return text
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        if len(text.lstrip("+-")) > MAX_DIGITS:
            raise DataError(f"number with {len(text.lstrip('+-'))} digits is too long (at most "
                            f"{MAX_DIGITS}); quote it if it is text", path, _line(node))
        return int(text)
    if _FLOAT.match(text):
        value = float(text)
        if not math.isfinite(value):  # 1e400 overflows to infinity, as .inf would be
            raise DataError(f"number {text[:40]} is out of range (not a finite number)", path,
                            _line(node))
        return value
    if _SPECIAL.match(text):
        raise DataError(f"value {text!r} is not allowed; write a plain decimal number or quote "
                        "it as text", path, _line(node))
    return text


def _scan_quotes(line: str) -> tuple[str | None, bool]:
    """The quote character left open at the end of ``line`` (YAML flow scalars) or
    ``None``, and whether a closed quoted value is followed by more text (``title: ""A"``,
    ``year: "2020"x``). A quote opens only where a value starts (after ``key:``, ``- ``
    or ``[``)."""
    i, quote, after = 0, None, False
    while i < len(line):
        c = line[i]
        if quote is None:
            if c == "#" and (i == 0 or line[i - 1] in " \t"):
                return None, after  # a comment
            if c in "\"'" and (i == 0 or line[:i].rstrip()[-1:] in (":", "-", "[", ",", "{", "")):
                quote = c
        elif quote == '"' and c == "\\":
            i += 1
        elif c == quote:
            if quote == "'" and line[i + 1:i + 2] == "'":
                i += 1  # '' is a quote inside single quotes
            else:
                rest = line[i + 1:].lstrip()
                after = after or bool(rest and rest[0] not in ",]}:#")
                quote = None
        i += 1
    return quote, after


def _open_quote(line: str) -> str | None:
    return _scan_quotes(line)[0]


def _text_after_quote(line: str) -> bool:
    """libyaml says "did not find expected key" further down for these."""
    return _scan_quotes(line)[1]


def yaml_hint(text: str, problem: str, line: int | None) -> tuple[str, int | None] | None:
    """A message naming the common cause of a YAML syntax error, and its line: a tab, a
    quote never closed (the line where it opened, not where libyaml noticed), a colon in
    an unquoted value. ``None`` when the cause is something else."""
    lines = text.splitlines()
    for n, raw in enumerate(lines, start=1):
        if "\t" in raw[: len(raw) - len(raw.lstrip(" \t"))]:
            return "a tab in the indentation: YAML allows only spaces there (replace the tab " \
                   "with spaces)", n
    for n, raw in enumerate(lines, start=1):
        if line is not None and n > line:
            break
        quote = _open_quote(raw)
        if quote is not None:
            # a multi-line quoted value is legal YAML; it is the cause when the error
            # comes after it and no later line closes it before the error
            closed = any(_closes(lines[m], quote) for m in range(n, (line or len(lines)) - 1))
            if not closed:
                return (f"unclosed quote: the {quote} opened on this line is never closed "
                        f"(add the closing {quote})"), n
    # libyaml notices it at the next key: look at the few lines up to the error
    start = max(0, (line or 0) - 4)
    for n, raw in enumerate(lines[start:line or 0], start=start + 1):
        if _text_after_quote(raw):
            return ("text after a closing quote: the quoted value ends before the rest of "
                    "the line (remove the extra quote, or quote the whole value once)"), n
    if "mapping values are not allowed" in problem and line is not None:
        return ("a colon followed by a space inside an unquoted value: put the value in "
                "double quotes"), line
    return None


def _closes(line: str, quote: str) -> bool:
    body = line.replace("\\" + quote, "") if quote == '"' else line.replace("''", "")
    return quote in body


def load_yaml(path: str | Path) -> YamlDocument:
    """Read one YAML file safely; every problem is a ``DataError`` with a line."""
    import yaml
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    from metasynth.inputs import read_text

    name = str(path)
    text = read_text(path, MAX_BYTES, "YAML file")
    try:
        node = yaml.compose(text, Loader=_loader_class())
    except RecursionError:
        raise DataError(f"values nested too deeply (at most {MAX_DEPTH} levels)", name) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        problem = (err.problem or err.context or "invalid YAML").strip()
        line = mark.line + 1 if mark else None
        if "expected a single document" in (err.context or "") + problem:
            problem = "more than one YAML document in the file"
        else:
            hint = yaml_hint(text, problem, line)
            if hint is not None:
                problem, line = hint
            else:
                problem = f"invalid YAML: {problem}"
        raise DataError(problem, name, line) from None
    except yaml.YAMLError as err:
        raise DataError(f"invalid YAML: {str(err).splitlines()[0]}", name) from None

    lines: dict = {}
    seen: set[int] = set()

    def build(n, loc):
        if len(loc) > MAX_DEPTH:
            raise DataError(f"values nested too deeply (at most {MAX_DEPTH} levels)", name,
                            _line(n))
        if id(n) in seen:  # the composer shares the anchored node with each alias
            raise DataError("YAML anchors and aliases are not allowed", name, _line(n))
        seen.add(id(n))
        if len(seen) > MAX_NODES:
            raise DataError(f"document has more than {MAX_NODES} values", name, _line(n))
        lines.setdefault(loc, _line(n))
        allowed = {ScalarNode: _STR, SequenceNode: _SEQ, MappingNode: _MAP}.get(type(n))
        if n.tag != allowed:
            raise DataError(f"YAML tag {n.tag!r} is not allowed (plain values only)", name, _line(n))
        if isinstance(n, ScalarNode):
            return _plain_scalar(n, name)
        if isinstance(n, SequenceNode):
            return [build(item, (*loc, i)) for i, item in enumerate(n.value)]
        out: dict = {}
        for key_node, value_node in n.value:
            if not isinstance(key_node, ScalarNode):
                raise DataError("mapping keys must be plain text", name, _line(key_node))
            key = _plain_scalar(key_node, name)
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise DataError(f"mapping key {key_node.value!r} must be text", name, _line(key_node))
            key = str(key)
            if key in out:
                raise DataError(f"duplicate key {key!r} (first on line {lines[(*loc, key)]})",
                                name, _line(key_node))
            lines[(*loc, key)] = _line(key_node)
            out[key] = build(value_node, (*loc, key))
        return out

    data = None if node is None else build(node, ())
    lines.setdefault((), 1)
    return YamlDocument(path=name, data=data, lines=lines)
