"""What a change to the records does to the pooled evidence: the before/after summaries
of every outcome and the records added, removed or changed (``metasynth diff``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PooledSummary:
    k: int
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    tau2: float | None
    I2: float | None
    note: str = ""


@dataclass(frozen=True)
class OutcomeChange:
    outcome: str
    label: str
    before: PooledSummary | None
    after: PooledSummary | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True)
class EvidenceDiff:
    ref: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, tuple[str, ...]], ...]  # (record id, changed top-level fields)
    outcomes: tuple[OutcomeChange, ...]
    before_errors: int
    after_errors: int
    measure: str

    def to_dict(self) -> dict:
        return asdict(self)
