"""The evidence report: analysis plan -> analyses -> GRADE -> HTML and PDF."""
