"""The JSON contract (docs/json-contract.md) and the generated docs stay in step."""

import json

from metasynth.records.docs import json_schema, markdown_reference
from tests.conftest import ROOT, STUDIES

TOP = {"metasynth_version", "outcome", "outcome_label", "measure", "k", "studies", "common",
       "random", "heterogeneity", "spec", "counts", "zero_cell_rule", "better", "warnings",
       "notes", "source"}
COUNTS = {"trials", "trials_estimable", "participants", "participants_estimable",
          "events_experimental", "total_experimental", "events_control", "total_control"}
STUDY = {"id", "label", "treatment_events", "treatment_total", "control_events", "control_total",
         "yi", "vi", "estimate", "ci_lower", "ci_upper", "p", "weight_common", "weight_random",
         "included", "source", "corrected", "excluded_reason", "year", "subgroup", "notes",
         "extraction"}
# keys of the other data types: present only where they have a value
STUDY_DATA = {"treatment_mean", "treatment_sd", "control_mean", "control_sd", "o_minus_e",
              "variance", "se_from"}
COMMON = {"method", "theta", "se", "estimate", "ci_lower", "ci_upper", "z", "p", "Q",
          "mh_correction"}
RANDOM = {"tau2_method", "ci_method", "pi_method", "theta", "se", "estimate", "ci_lower",
          "ci_upper", "stat", "df", "p", "pi_lower", "pi_upper", "se_wald", "tau2_iterations",
          "tau2_fallback", "tau2_multiple_maxima"}
HET = {"Q", "Q_df", "Q_p", "I2", "H2", "tau2", "tau", "tau2_ci_lower", "tau2_ci_upper",
       "I2_ci_lower", "I2_ci_upper", "H2_ci_lower", "H2_ci_upper"}


def test_json_keys_are_pinned(cli):
    proc = cli("pool", STUDIES, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == TOP
    assert all(STUDY <= set(s) <= STUDY | STUDY_DATA for s in out["studies"])
    assert set(out["common"]) == COMMON
    assert set(out["random"]) == RANDOM
    assert set(out["heterogeneity"]) == HET
    assert set(out["counts"]) == COUNTS
    from metasynth.plan.options import OPTIONS

    assert set(out["spec"]) == {o.name for o in OPTIONS}
    assert out["measure"] == "RR" and out["outcome"] == "mortality"
    assert out["k"] == sum(s["included"] for s in out["studies"])
    doc = (ROOT / "docs" / "json-contract.md").read_text()
    for key in TOP | STUDY | STUDY_DATA | COMMON | RANDOM | HET | COUNTS:
        assert f"`{key}`" in doc, key


def test_generated_docs_are_current():
    readme = (ROOT / "studies" / "README.md").read_text()
    assert markdown_reference() in readme, "run: metasynth schema --markdown (see studies/README.md)"
    assert (ROOT / "docs" / "record.schema.json").read_text() == json_schema(), \
        "run: metasynth schema > docs/record.schema.json"
