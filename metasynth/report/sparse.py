"""The sparse-data section: for every binary outcome of the report, the table of
``metasynth sparse`` (every zero-cell method side by side) and a plain sentence on
whether the methods agree. Fitted once from the outcome's pooled result."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SparseSection:
    id: str
    label: str
    trials: str                  # participants and trials, and the zero cells, in words
    rows: list                   # one per method: method, estimate, tau2, trials, participants, note
    agreement: str
    disagree: bool
    heterogeneity: list = field(default_factory=list)
    grade_citation: str = ""     # what GRADE's imprecision judgement cites ("" if they agree)


def sparse_sections(pooled: dict) -> list[SparseSection]:
    """One section per pooled binary outcome (``pooled``: outcome id -> PoolResult)."""
    from metasynth import api
    from metasynth.render.text.sparse import (
        HETEROGENEITY_SHOWN,
        agreement_sentence,
        grade_citation,
        heterogeneity_lines,
        table_rows,
        zero_sentence,
    )

    out = []
    for oid, result in pooled.items():
        if result.spec.measure not in ("RR", "OR", "RD"):
            continue
        s = api.sparse(result, tests_for=HETEROGENEITY_SHOWN)  # only the tests it shows
        trials = (f"{s.participants} participants in {s.trials} trials with 2x2 counts. "
                  + zero_sentence(s))
        out.append(SparseSection(oid, result.outcome_label or oid, trials, table_rows(s),
                                 agreement_sentence(s), s.agreement.disagree,
                                 heterogeneity_lines(s), grade_citation(s)))
    return out
