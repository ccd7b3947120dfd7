"""Effect sizes: 2x2 counts (or reported estimates) -> yi, vi on the analysis scale."""

from metasynth.effects.binary import MEASURES, EffectSizes, ZeroCellRule, effect_sizes

__all__ = ["MEASURES", "EffectSizes", "ZeroCellRule", "effect_sizes"]
