"""JSON output of every command: a result's ``to_dict()`` (or plain data) serialised
(contract: docs/json-contract.md)."""

from __future__ import annotations

import json


def render_json(obj) -> str:
    """``obj.to_dict()`` (or ``obj``) as JSON, each warning's code with its message."""
    from metasynth.render.text.warnings import worded

    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return json.dumps(worded(data), indent=2, ensure_ascii=False) + "\n"


def sparse_json(result) -> dict:
    """``metasynth sparse --format json`` (docs/json-contract.md): the result's fields plus
    each row's method label and note in words, and the agreement sentence."""
    from metasynth import __version__
    from metasynth.render.text.sparse import agreement_sentence, method_label, row_note

    data = result.to_dict()
    for row, out in zip(result.rows, data["rows"]):
        out["label"] = method_label(row)
        out["note"] = row_note(row)
    spec = data.pop("spec", None)
    data.pop("seconds", None)
    return {"metasynth_version": __version__, **data,
            "agreement_sentence": agreement_sentence(result),
            "spec": spec}
