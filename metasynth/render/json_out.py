"""JSON output of every command: a result's ``to_dict()`` (or plain data) serialised
(contract: docs/json-contract.md)."""

from __future__ import annotations

import json


def render_json(obj) -> str:
    data = obj.to_dict() if hasattr(obj, "to_dict") else obj
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
