"""The options of one pooled analysis, with the defaults metasynth recommends."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from metasynth.effects.binary import MEASURES, ZeroCellRule
from metasynth.models.engine.common_effect import COMMON_METHODS
from metasynth.models.engine.random_effects import CI_METHODS, PI_METHODS
from metasynth.models.engine.tau2 import TAU2_METHODS


@dataclass(frozen=True)
class PoolOptions:
    """Defaults: REML tau^2, HKSJ interval, HTS prediction interval, Mantel-Haenszel
    common effect on raw counts (metafor's ``rma.mh``), 0.5 added to zero-cell studies
    for the per-study effects, double-zero studies excluded for RR and OR.

    ``classic()`` gives the RevMan 5 line: DerSimonian-Laird, Wald interval, and 0.5
    added to zero-cell studies inside Mantel-Haenszel too (RevMan 5, R meta).
    """

    measure: str = "RR"
    tau2_method: str = "REML"
    ci_method: str = "hksj"
    pi_method: str = "hts"
    common_method: str = "MH"
    mh_correction: bool = False
    zero_cells: ZeroCellRule = field(default_factory=ZeroCellRule)
    level: float = 0.95
    classic: bool = False

    def __post_init__(self):
        checks = (("measure", self.measure, MEASURES), ("tau2_method", self.tau2_method, TAU2_METHODS),
                  ("ci_method", self.ci_method, CI_METHODS), ("pi_method", self.pi_method, PI_METHODS),
                  ("common_method", self.common_method, COMMON_METHODS))
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if self.common_method == "Peto" and self.measure != "OR":
            raise ValueError("the Peto method estimates an odds ratio: use it with measure OR")
        if not 0.5 < self.level < 1:
            raise ValueError(f"level must be between 0.5 and 1, got {self.level}")

    @classmethod
    def classic_revman5(cls, measure: str = "RR", common_method: str = "MH") -> PoolOptions:
        return cls(measure=measure, tau2_method="DL", ci_method="wald", common_method=common_method,
                   mh_correction=True, classic=True)

    def with_(self, **changes) -> PoolOptions:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {"measure": self.measure, "tau2_method": self.tau2_method,
                "ci_method": self.ci_method, "pi_method": self.pi_method,
                "common_method": self.common_method, "mh_correction": self.mh_correction,
                "zero_cells": self.zero_cells.to_dict(), "level": self.level,
                "classic": self.classic}
