"""Extraction status (issue 16): each provenance entry says whether its number was read in
the trial's own publication, only in a secondary source, or derived; a number's status is
the best of its entries; the forest plot marks counts read only in a secondary source."""

import pytest

import metasynth
from metasynth.records.schema import Study
from metasynth.records.select import select_outcome
from tests.conftest import STUDIES


def _study(*entries):
    """A minimal record whose death outcome has the provenance ``entries``."""
    prov = [dict(source=s, status=st, location="Table 2", quote="10/50 vs 15/50",
                 **({"derived": "how"} if st == "derived" else {})) for s, st in entries]
    return Study.model_validate({
        "id": "good2021", "registration": ["NCT1"],
        "citation": {"title": "t", "first_author": "Good", "year": 2021, "journal": "J",
                     "doi": "10.1000/x"},
        "sources": [{"id": "main", "kind": "primary", "citation": "c", "doi": "10.1000/x"},
                    {"id": "review", "kind": "secondary", "citation": "r", "doi": "10.1000/y"}],
        "design": {"randomization": "randomized", "blinding": "double", "control": "placebo",
                   "countries": ["X"]},
        "population": {"condition": "c", "ards_severity": "s",
                       "ventilation_at_baseline": "invasive"},
        "intervention": {"product": "p", "product_type": "cells",
                         "tissue_source": "bone-marrow", "dose": "d", "comparator": "c"},
        "arms": [{"id": "msc", "role": "experimental", "label": "MSC"},
                 {"id": "control", "role": "control", "label": "Placebo"}],
        "outcomes": [{"endpoint": "death", "timepoint_days": 28, "provenance": prov,
                      "counts": {"msc": {"events": 10, "total": 50},
                                 "control": {"events": 15, "total": 50}}}]})


@pytest.mark.parametrize("entries, expected", [
    ([("main", "primary"), ("review", "secondary")], "primary"),
    ([("main", "derived"), ("review", "secondary")], "derived"),  # computed from the trial's text
    ([("review", "secondary"), ("review", "derived")], "secondary"),  # derived from a review
    ([("review", "secondary")], "secondary"),
    ([("main", None)], None),
])
def test_a_number_takes_the_best_status_of_its_entries(entries, expected):
    study = _study(*entries)
    assert study.extraction_status(study.outcomes[0].provenance) == expected


def test_every_provenance_entry_of_the_corpus_has_a_status():
    studies = metasynth.load_studies(STUDIES)
    for item in studies.studies:
        s = item.study
        provs = [p for a in s.arms for p in a.provenance]
        for o in s.outcomes:
            provs += o.provenance + [p for alt in o.alternatives for p in alt.provenance]
            if o.reported_estimate:
                provs += o.reported_estimate.provenance
        assert all(p.status for p in provs), s.id


def test_secondary_only_counts_are_marked_in_the_forest_plot():
    pytest.importorskip("matplotlib")
    from metasynth.api import pool
    from metasynth.render.labels import SECONDARY_SOURCE_NOTE
    from metasynth.render.plots.forest import SECONDARY_MARK, forest_plot
    from tests.test_forest import text_boxes

    studies = metasynth.load_studies(STUDIES)
    table = select_outcome(studies, "mortality")
    status = {r.label: r.attributes["extraction"] for r in table.rows}
    result = pool(studies, "mortality")
    assert {s.label: s.extraction for s in result.studies} == status
    labels = [t for t, _ in text_boxes(forest_plot(result))]
    secondary = [lab for lab, st in status.items() if st == "secondary"]
    assert secondary, "the corpus has trials whose deaths were read only in reviews"
    for lab, st in status.items():
        assert (f"{lab} {SECONDARY_MARK}" in labels) == (st == "secondary"), lab
    assert any(SECONDARY_SOURCE_NOTE in t for t in labels)
    # the sensitivity analysis without secondary-only numbers drops exactly these trials
    assert {r.label for r in table.rows if r.attributes["secondary_only"]} == set(secondary)
