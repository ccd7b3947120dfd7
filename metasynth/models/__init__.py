"""Models: common effect, random effects and heterogeneity, on batches of meta-analyses."""

from metasynth.models.options import PoolOptions
from metasynth.models.pool import pool_effects
from metasynth.models.results import (
    CommonEffect,
    Heterogeneity,
    PoolResult,
    RandomEffects,
    StudyEffect,
)

__all__ = ["CommonEffect", "Heterogeneity", "PoolOptions", "PoolResult", "RandomEffects",
           "StudyEffect", "pool_effects"]
