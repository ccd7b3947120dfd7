"""A SYNTHETIC studies folder of any size, for stress tests and benchmarks of the report.

Every record is invented (random counts from a seeded generator), titled "SYNTHETIC
stress-test record", with a synthetic source and DOI prefix 10.0000: none of it is evidence,
and it is only ever written to a temporary folder, never to ``studies/``.

To follow the record schema as it grows, the parts a stress test does not vary (design,
population, intervention, risk of bias, the record block) are copied from the shipped
records in turn; identity, sources, arms and outcome counts are replaced. Every record
reports death at 28 days, so the mortality forest plot has one row per record.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import yaml

from metasynth.records.load import NOT_RECORDS

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"
KEEP = ("design", "population", "intervention", "risk_of_bias", "record")
# (endpoint, day, every how many records reports it)
ENDPOINTS = (("death", 28, 1), ("death", 90, 3), ("sae", 28, 2),
             ("clinical_improvement", 28, 2), ("invasive_ventilation", 28, 3),
             ("ards_improvement", 28, 4))


def _templates() -> list[dict]:
    docs = []
    for path in sorted(STUDIES.glob("*.yaml")):
        if path.name in NOT_RECORDS or path.name.startswith(("_", ".")):
            continue
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and "arms" in doc:
            docs.append(doc)
    return docs


def _provenance(text: str) -> list[dict]:
    return [{"source": "synthetic", "location": "synthetic stress-test data",
             "quote": f"SYNTHETIC: {text}", "derived": "random numbers for a stress test"}]


def synthetic_record(i: int, template: dict, rng: np.random.Generator) -> dict:
    n1, n2 = int(rng.integers(15, 300)), int(rng.integers(15, 300))
    code = chr(97 + i // 26 % 26) + chr(97 + i % 26)  # aa, ab, ...: ids are firstauthorYEAR
    year = 2000 + i % 25
    doc = {"id": f"synthetic{code}{year}",
           "citation": {"title": f"SYNTHETIC stress-test record {i} (not a trial)",
                        "first_author": f"Synthetic{code.upper()}", "year": year,
                        "journal": "Synthetic", "doi": f"10.0000/synthetic.{i}"},
           "registration": [f"NCT9{i:07d}"],
           "sources": [{"id": "synthetic", "kind": "primary",
                        "citation": "SYNTHETIC stress-test data (random numbers)",
                        "url": "https://example.org/synthetic"}]}
    for key in KEEP:
        if key in template:
            doc[key] = copy.deepcopy(template[key])
    doc["arms"] = [
        {"id": "msc", "role": "experimental", "label": "MSC", "randomized": n1,
         "provenance": _provenance(f"{n1} randomized to MSC")},
        {"id": "control", "role": "control", "label": "Placebo", "randomized": n2,
         "provenance": _provenance(f"{n2} randomized to control")}]
    outcomes = []
    for endpoint, day, every in ENDPOINTS:
        if i % every:
            continue
        p2 = float(rng.uniform(0.08, 0.5))
        p1 = min(0.95, p2 * float(np.exp(rng.normal(-0.15, 0.35))))
        e1, e2 = int(rng.binomial(n1, p1)), int(rng.binomial(n2, p2))
        outcomes.append({"endpoint": endpoint, "timepoint_days": day,
                         "counts": {"msc": {"events": e1, "total": n1},
                                    "control": {"events": e2, "total": n2}},
                         "provenance": _provenance(f"{e1}/{n1} vs {e2}/{n2}")})
    doc["outcomes"] = outcomes
    return doc


def write_corpus(folder: Path, n: int, seed: int = 13) -> Path:
    """Write ``n`` synthetic records and the shipped plan, registry and other non-record
    files of ``studies/`` into ``folder`` (created); returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path in STUDIES.iterdir():
        if path.is_file() and (path.name in NOT_RECORDS or path.suffix != ".yaml"):
            shutil.copy(path, folder / path.name)
    templates = _templates()
    rng = np.random.default_rng(seed)
    for i in range(n):
        doc = synthetic_record(i, templates[i % len(templates)], rng)
        (folder / f"{doc['id']}.yaml").write_text(
            "# SYNTHETIC stress-test record: invented numbers, not evidence\n"
            + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return folder
