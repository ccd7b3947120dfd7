"""Every malformed record gets a one-line error with file and line and exit 1.

The per-file checks call the command line in-process (`cli`); one test runs a real
`python -m metasynth` process for the exit status and stderr of invalid records."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli

BAD = Path(__file__).parent / "bad_records"

# file stem -> (line, text the message must contain)
EXPECTED = {
    "alias2021": (3, "anchors and aliases are not allowed"),
    "badenum2021": (16, "design.blinding"),
    "duplicatekey2021": (6, "duplicate key 'year' (first on line 5)"),
    "derivedwithouthow2021": (50, "status 'derived' needs `derived`"),
    "duplicatetimepoint2021": (51, "recorded twice"),
    "emptyfile2021": (1, "must be a mapping"),
    "estimatemismatch2021": (53, "reported RR 0.42 disagrees with the counts"),
    "eventsexceedtotal2021": (47, "events (51) exceed total (50) in arm 'msc'"),
    "floatfortext2021": (7, "quote the value"),
    "idmismatch2021": (1, "must equal the file name"),
    "invalidyaml2021": (7, "invalid YAML"),
    "missingdoi2021": (2, "missing required field 'citation.doi'"),
    "negativeevents2021": (47, "greater than or equal to 0"),
    "nonutf82021": (52, "not UTF-8"),
    "notamapping2021": (1, "must be a mapping"),
    "percentmismatch2021": (50, "10/50 is 25%, but it is 20.0%"),
    "roboveralltoomild2021": (59, "less severe than the worst domain"),
    "statusmismatch2021": (54, "status 'primary' but source 'review' is a secondary source"),
    "totalexceedsrandomized2021": (48, "total (60) exceeds the 50 randomized"),
    "twodocuments2021": (51, "more than one YAML document"),
    "unknownarm2021": (48, "unknown arm 'placebo'"),
    "unknownendpoint2021": (44, "unknown endpoint 'mortalty'"),
    "unknownfield2021": (7, "unknown field 'citation.jornal'"),
    "unknownsource2021": (50, "unknown source 'paper'"),
    "unsafetag2021": (6, "is not allowed"),
    "wrongtypeevents2021": (47, "valid integer"),
    "yesnobool2021": (16, "design.blinding"),
    "zerototal2021": (47, "greater than or equal to 1"),
}


def test_every_bad_file_has_an_expectation():
    assert {p.stem for p in BAD.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("stem", sorted(EXPECTED))
@pytest.mark.parametrize("command", ["validate", "pool"])
def test_bad_record_one_line_error(stem, command, studies_dir, cli):
    shutil.copy(BAD / f"{stem}.yaml", studies_dir)
    proc = cli(command, studies_dir)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    line, text = EXPECTED[stem]
    located = [ln for ln in proc.stderr.splitlines() if ln.startswith(f"{studies_dir}/{stem}.yaml:")]
    assert located, proc.stderr
    assert any(ln.startswith(f"{studies_dir}/{stem}.yaml:{line}: ") and text in ln
               for ln in located), proc.stderr


def test_all_errors_reported_at_once(studies_dir):
    """A real process: invalid records exit 1, every error on stderr, no traceback."""
    for stem in ("eventsexceedtotal2021", "unknownarm2021", "duplicatekey2021"):
        shutil.copy(BAD / f"{stem}.yaml", studies_dir)
    proc = run_cli("validate", studies_dir)
    assert proc.returncode == 1
    for stem in ("eventsexceedtotal2021", "unknownarm2021", "duplicatekey2021"):
        assert f"{stem}.yaml:" in proc.stderr
    assert "0 valid record(s)" in proc.stderr and "Traceback" not in proc.stderr


def test_good_record_passes(studies_dir, cli):
    shutil.copy(Path(__file__).parent / "good_record.yaml", studies_dir / "good2021.yaml")
    proc = cli("validate", studies_dir)
    assert proc.returncode == 0, proc.stderr
    assert "0 error(s), 0 warning(s)" in proc.stderr


def test_adjusted_estimate_mismatch_is_a_warning(studies_dir, cli):
    text = (BAD / "estimatemismatch2021.yaml").read_text().replace("adjusted: false", "adjusted: true")
    (studies_dir / "estimatemismatch2021.yaml").write_text(text)
    proc = cli("validate", studies_dir)
    assert proc.returncode == 0, proc.stderr
    assert "warning: reported RR 0.42 disagrees" in proc.stderr


def test_duplicate_registration_across_records(studies_dir, cli):
    good = (Path(__file__).parent / "good_record.yaml").read_text()
    (studies_dir / "good2021.yaml").write_text(good)
    (studies_dir / "copy2022.yaml").write_text(
        good.replace("id: good2021", "id: copy2022").replace("10.1000/test.2021.1", "10.1000/x"))
    proc = cli("validate", studies_dir)
    assert proc.returncode == 1
    assert "registration NCT99999991 is already used by" in proc.stderr
