"""metasynth: living meta-analysis of randomized trials.

The pipeline, one verb a step (as in metafor: escalc -> rma -> forest):

    studies = metasynth.load_studies("studies/")          # records: load, validate
    result = metasynth.pool(studies, outcome="mortality")   # effects -> models
    print(result.summary())                                 # presentation
    result.to_dict()                                        # the JSON contract

Heavy libraries (matplotlib, scipy, pandas, weasyprint) are imported only where used.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "load_studies": "metasynth.records.load",
    "validate_studies": "metasynth.records.load",
    "read_table": "metasynth.records.table",
    "effect_sizes": "metasynth.effects.binary",
    "ZeroCellRule": "metasynth.effects.binary",
    "AnalysisSpec": "metasynth.plan.spec",
    "resolve_spec": "metasynth.api",
    "OPTIONS": "metasynth.plan.options",
    "PRESETS": "metasynth.plan.options",
    "PoolResult": "metasynth.models.results",
    "pool": "metasynth.api",
    "pool_by": "metasynth.api",
    "leave_one_out": "metasynth.api",
    "cumulative": "metasynth.api",
    "study_table": "metasynth.api",
    "bayes": "metasynth.api",
    "tsa": "metasynth.api",
    "render_text": "metasynth.render.text.pool",
    "forest_plot": "metasynth.render.plots.forest",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    # Lazy exports keep `import metasynth` (and so the CLI's start-up) light.
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'metasynth' has no attribute {name!r}")
