"""Names of the effect measures as reviewers read them."""

MEASURE_LABELS = {"RR": "risk ratio", "OR": "odds ratio", "RD": "risk difference"}
