"""One label map: record field names and values, and method names, into the words readers
read (the report, the text output and the plots all use it)."""

from __future__ import annotations

FIELD_LABELS = {
    "tissue_source": "Tissue source",
    "product_type": "Product type",
    "ventilation_at_baseline": "Ventilation at baseline",
    "control": "Control",
    "blinding": "Blinding",
    "randomization": "Randomization",
    "rob_overall": "Overall risk of bias",
    "placebo_controlled": "Placebo or sham control",
    "secondary_only": "Numbers read only in secondary sources",
    "extraction": "Extraction status",
    "dose_per_kg": "Dose per kg",
    "control_risk": "Control-arm risk",
    "year": "Year",
    "subgroup": "Subgroup",
    "timepoint_days": "Follow-up (days)",
    "ards_severity": "ARDS severity",
}

VALUE_LABELS = {
    "some-concerns": "some concerns",
    "no-information": "no information",
    "extracellular-vesicles": "extracellular vesicles",
    "bone-marrow": "bone marrow",
    "umbilical-cord": "umbilical cord",
    "wharton-jelly": "Wharton's jelly",
    "menstrual-blood": "menstrual blood",
    "dental-pulp": "dental pulp",
    "perinatal-other": "other perinatal tissue",
    "non-invasive-or-oxygen": "non-invasive ventilation or oxygen",
    "standard-care": "standard care",
    "open-label": "open label",
    "quasi-randomized": "quasi-randomized",
    "moderate-to-severe": "moderate to severe",
    "not-ARDS": "not ARDS",
    "true": "yes",
    "false": "no",
}

# the forest plot's footnote for a trial whose counts were read only in a secondary source
SECONDARY_SOURCE_NOTE = ("counts read only in a secondary source (review, meta-analysis or "
                         "registry summary), not in the trial's own publication")

# values whose meaning depends on the field they belong to
FIELD_VALUE_LABELS = {
    ("blinding", "double"): "double-blind",
    ("blinding", "single"): "single-blind",
    ("blinding", "unclear"): "blinding unclear",
    ("randomization", "unclear"): "randomization unclear",
    ("randomization", "randomized"): "randomized",
    ("ventilation_at_baseline", "invasive"): "invasive ventilation",
    ("ventilation_at_baseline", "mixed"): "mixed respiratory support",
    ("ventilation_at_baseline", "unclear"): "respiratory support unclear",
    ("tissue_source", "unclear"): "tissue source unclear",
    ("product_type", "cells"): "cells",
    # the extraction status of a record's numbers (records.schema.Study.extraction_status)
    ("extraction", "primary"): "read in the trial's own publication",
    ("extraction", "derived"): "derived from the trial's own publication",
    ("extraction", "secondary"): "read only in a secondary source",
    ("extraction", "None"): "status not recorded",
}


def field_label(field: str) -> str:
    """'tissue_source' -> 'Tissue source' (a field not in the map: its name in words)."""
    return FIELD_LABELS.get(field, field.replace("_", " ").capitalize())


def value_label(value) -> str:
    """'bone-marrow' -> 'bone marrow', 'some-concerns' -> 'some concerns', True -> 'yes'."""
    if isinstance(value, bool):
        value = str(value).lower()
    text = str(value)
    return VALUE_LABELS.get(text, text.replace("-", " ").replace("_", " "))


def field_value(field: str, value, with_field: bool | None = None) -> str:
    """'Tissue source: bone marrow'; values that say their field by themselves stand alone
    ('double-blind', 'invasive ventilation')."""
    if isinstance(value, bool):
        value = str(value).lower()
    own = FIELD_VALUE_LABELS.get((field, str(value)))
    if own is not None and not with_field:
        return own
    return f"{field_label(field)}: {value_label(value)}"


def heading_case(text: str) -> str:
    """``text`` with its first letter capitalised, for a table cell or a heading
    ("inverse variance" -> "Inverse variance"; "REML, HKSJ" unchanged)."""
    return text[:1].upper() + text[1:]


def mid_sentence(text: str) -> str:
    """``text`` as it reads inside a sentence: a plain first word loses its capital
    ("Excluding trials ..." -> "excluding trials ..."), a name keeps its own
    ("DerSimonian-Laird, Wald CI", "Paule-Mandel, HKSJ", "RevMan 5" unchanged), and
    nothing after the first word changes (issue #13: method names stay as published)."""
    first = text.split(" ", 1)[0].rstrip(",;:")
    if len(first) > 1 and first[1:] == first[1:].lower() and first[0].isupper():
        return text[0].lower() + text[1:]
    return text
