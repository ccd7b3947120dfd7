"""The outcome registry (``studies/outcomes.yaml``): endpoints that records record and
outcomes that analyses pool, each outcome a window of timepoints of one endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from metasynth.errors import DataError
from metasynth.records.schema import NonEmpty, Strict
from metasynth.records.yaml_source import load_yaml

REGISTRY_FILE = "outcomes.yaml"


class Endpoint(Strict):
    id: NonEmpty
    label: NonEmpty
    type: Literal["binary", "continuous"]
    units: str | None = Field(None, description="units of a continuous endpoint (days, mmHg, "
                              "...), shown on forest plots and in the text")


class OutcomeDefinition(Strict):
    id: NonEmpty
    label: NonEmpty
    endpoint: NonEmpty
    better: Literal["lower", "higher"]
    window_days: Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]
    prefer: int | Literal["longest"]

    @model_validator(mode="after")
    def _window(self):
        lo, hi = self.window_days
        if lo > hi:
            raise ValueError(f"window_days [{lo}, {hi}] is empty")
        return self

    def pick(self, timepoints: list[int]) -> int | None:
        """The timepoint this outcome uses among those a trial reports, or None."""
        lo, hi = self.window_days
        inside = [t for t in timepoints if lo <= t <= hi]
        if not inside:
            return None
        if self.prefer == "longest":
            return max(inside)
        return min(inside, key=lambda t: (abs(t - self.prefer), -t))


class Registry(Strict):
    endpoints: list[Endpoint]
    outcomes: list[OutcomeDefinition]

    @model_validator(mode="after")
    def _refs(self):
        ids = [e.id for e in self.endpoints]
        if len(set(ids)) != len(ids):
            raise ValueError("duplicate endpoint id")
        oids = [o.id for o in self.outcomes]
        if len(set(oids)) != len(oids):
            raise ValueError("duplicate outcome id")
        for o in self.outcomes:
            if o.endpoint not in ids:
                raise ValueError(f"outcome {o.id!r} names unknown endpoint {o.endpoint!r}")
        return self

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.id == endpoint_id), None)

    def outcome(self, outcome_id: str) -> OutcomeDefinition | None:
        return next((o for o in self.outcomes if o.id == outcome_id), None)


def load_registry(path: str | Path) -> Registry:
    from metasynth.records.messages import first_schema_error

    path = Path(path)
    if not path.exists():
        raise DataError(f"outcome registry not found (expected {REGISTRY_FILE} beside the "
                        "records)", str(path))
    doc = load_yaml(path)
    from pydantic import ValidationError

    try:
        return Registry.model_validate(doc.data)
    except ValidationError as err:
        raise first_schema_error(err, doc) from None
