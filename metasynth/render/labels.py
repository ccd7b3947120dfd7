"""One label map: record field names and values into the words readers read."""

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
    "dose_per_kg": "Dose per kg",
    "control_risk": "Control-arm risk",
    "year": "Year",
    "subgroup": "Subgroup",
}

VALUE_LABELS = {
    "some-concerns": "some concerns",
    "extracellular-vesicles": "extracellular vesicles",
    "true": "yes",
    "false": "no",
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
