"""JSON output: ``PoolResult.to_dict()`` serialised (contract: docs/json-contract.md)."""

from __future__ import annotations

import json

from metasynth.models.results import PoolResult


def render_json(result: PoolResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
