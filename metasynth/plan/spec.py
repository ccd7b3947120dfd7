"""``AnalysisSpec``: everything one analysis needs, as one immutable value.

Its fields are generated from ``plan.options.OPTIONS`` (the one table), so a new option
is a new table row and nothing else. A spec is made by ``plan.resolve.resolve`` (table
defaults, then a preset, then the plan file, then command-line or API overrides) and
travels with every result fitted from it, as metafor's fits carry ``x$method`` and
``x$level``.
"""

from __future__ import annotations

from dataclasses import asdict, field, make_dataclass

from metasynth.effects.binary import ZeroCellRule
from metasynth.plan.options import OPTIONS


class _SpecMethods:
    """Derived views of a spec. Nothing here chooses a value: that is the table's job."""

    @property
    def zero_cells(self) -> ZeroCellRule:
        return ZeroCellRule(add=self.add, to=self.to,
                            drop00=False if self.keep_double_zero else None)

    @property
    def level_percent(self) -> str:
        """'95%' (or '90%', '99.5%')."""
        return f"{100 * self.level:g}%"

    @property
    def ci_label(self) -> str:
        return f"{self.level_percent} CI"

    @property
    def direction(self) -> str:
        """The direction of benefit: the spec's, else lower."""
        return self.better or "lower"

    def for_data(self, data_type: str) -> AnalysisSpec:
        """The spec for an outcome of ``data_type`` (the outcome registry's type): binary
        outcomes use ``measure``, continuous ones ``continuous_measure`` unless ``measure``
        is itself continuous (an explicit ``--measure SMD``)."""
        from metasynth.effects.measures import CONTINUOUS

        if data_type != "continuous" or self.measure in CONTINUOUS:
            return self
        return self.with_(measure=self.continuous_measure)

    def with_(self, **changes) -> AnalysisSpec:
        """A new spec with ``changes`` validated as any override is."""
        from metasynth.plan.resolve import resolve

        return resolve(changes, base=self)

    def to_dict(self) -> dict:
        d = asdict(self)
        for o in OPTIONS:
            if o.kind == "floats":
                d[o.name] = list(d[o.name])
        return d


AnalysisSpec = make_dataclass(
    "AnalysisSpec",
    [(o.name, object, field(default=o.default)) for o in OPTIONS],
    bases=(_SpecMethods,), frozen=True)
AnalysisSpec.__module__ = __name__  # make_dataclass's module= needs Python 3.12
AnalysisSpec.__doc__ = ("One analysis, fully specified. Fields: "
                        + ", ".join(o.name for o in OPTIONS) + " (see plan.options).")
