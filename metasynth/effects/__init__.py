"""Effect sizes: 2x2 counts, per-arm means and SDs, O - E and V, or reported estimates
-> yi, vi on the analysis scale."""

from metasynth.effects.binary import MEASURES, EffectSizes, ZeroCellRule
from metasynth.effects.sizes import effect_sizes

__all__ = ["MEASURES", "EffectSizes", "ZeroCellRule", "effect_sizes"]
