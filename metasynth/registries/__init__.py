"""Public registries that check and scaffold trial records: ClinicalTrials.gov (API v2),
Crossref and NCBI E-utilities (PubMed). All HTTP goes through ``client.RegistryClient``."""
