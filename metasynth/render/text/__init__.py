"""Text output: every command's words. Importing this package registers the printers
behind the results' ``summary()`` (models know no words)."""

from metasynth.models.results import text_renderer
from metasynth.models.robustness.refits import SubsetAnalysis
from metasynth.models.subgroups import SubgroupResult
from metasynth.render.text import bayes_tsa as _bayes_tsa  # noqa: F401  (Bayes, TSA)
from metasynth.render.text import pool as _pool  # noqa: F401  (registers PoolResult)
from metasynth.render.text import simulate as _simulate  # noqa: F401  (SimulationResult)
from metasynth.render.text import sparse as _sparse  # noqa: F401  (SparseResult)
from metasynth.render.text.robustness import subgroups_text, subsets_text

text_renderer(SubgroupResult)(subgroups_text)
text_renderer(SubsetAnalysis)(subsets_text)
