"""The one bounded reader (regular files only, size checked before reading) and the record
loader under hostile input: every problem is one line naming the file, never a hang, a
traceback or an exception other than ``DataError``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metasynth.errors import DataError
from metasynth.inputs import read_bounded
from metasynth.records.yaml_source import load_yaml
from tests.conftest import STUDIES

GOOD = (Path(__file__).parent / "good_record.yaml").read_text(encoding="utf-8")


def test_fifo_is_refused_before_it_is_opened(tmp_path):
    fifo = tmp_path / "a2020.yaml"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="named pipe"):
        read_bounded(fifo)  # would block forever if it were opened for reading


def test_link_to_a_device_is_refused(tmp_path):
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(DataError, match="character device"):
        load_yaml(tmp_path / "zero.yaml")


def test_size_is_checked_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:  # sparse: 2 GB on paper, nothing to read
        fh.truncate(2_000_000_000)
    opened = []
    monkeypatch.setattr(os, "open", lambda *a, **k: opened.append(a) or (_ for _ in ()).throw(
        AssertionError("opened")))
    with pytest.raises(DataError, match="2000000000 bytes; the limit is 1000000"):
        read_bounded(big)
    assert opened == []


@pytest.mark.parametrize("name", ["outcomes.yaml", "analysis.yaml", "b2021.yaml"])
def test_validate_and_pool_end_on_a_fifo_in_the_folder(cli, tmp_path, name):
    folder = tmp_path / "studies"
    shutil.copytree(STUDIES, folder)
    target = folder / name
    if target.exists():
        target.unlink()
    os.mkfifo(target)
    # validate reads no analysis plan; pool does
    for command in ((("validate", folder),) if name != "analysis.yaml" else ()) + (
            ("pool", folder),):
        r = cli(*command)
        assert r.returncode == 1, r.stderr
        assert "named pipe (FIFO), not a regular file" in r.stderr and "Traceback" not in r.stderr


def test_csv_fifo_is_refused(cli, tmp_path):
    os.mkfifo(tmp_path / "trials.csv")
    r = cli("pool", tmp_path / "trials.csv")
    assert r.returncode == 1 and "named pipe" in r.stderr


def test_uppercase_yaml_record_is_reported_not_ignored(cli, studies_dir):
    (studies_dir / "a2020.YAML").write_text(GOOD)
    r = cli("validate", studies_dir)
    assert r.returncode == 1
    assert "a2020.YAML: record file names end in lower-case .yaml: rename it to a2020.yaml" \
        in r.stderr


@pytest.mark.parametrize("text, words", [
    ("id: 1" + "2" * 5000, "5001 digits is too long"),
    ("x: 1e400", r"out of range \(not a finite number\)"),
    ("x: -1e400", "out of range"),
    ("id: " + "[" * 700 + "]" * 700, "nested too deeply"),
    ("id: " + "[" * 100_000 + "]" * 100_000, "nesting"),
    ("a:\n" + "".join(" " * (2 * i) + f"k{i}:\n" for i in range(1, 200)), "nested too deeply"),
])
def test_hostile_numbers_and_nesting_give_one_line_naming_the_file(tmp_path, text, words):
    path = tmp_path / "a2020.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=words) as err:
        load_yaml(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_grade_overrides_must_be_a_file_in_the_studies_folder(tmp_path):
    from metasynth.plan.file import load_plan

    plan = (STUDIES / "analysis.yaml").read_text()
    for bad in ("/etc/passwd", "../../secret.yaml", "sub/grade.yaml"):
        text = plan.replace("grade:\n", f"grade:\n  overrides: {bad!r}\n", 1) \
            if "grade:\n" in plan else plan + f"grade:\n  overrides: {bad!r}\n"
        (tmp_path / "analysis.yaml").write_text(text)
        with pytest.raises(DataError, match="overrides"):
            load_plan(tmp_path / "analysis.yaml")


# -- fuzzing the loader -----------------------------------------------------------------

YAML_BITS = st.sampled_from(list(":-[]{}#&*!|>'\"%@`,?\t\n \\") +
                            ["\x1b", "\x07", "\x00", "é", "1e400", "9" * 50, ".inf", "~", "no",
                             "<<: *a", "&a", "!!python/object", "---", "...", "- ", ": ", "\r"])


@st.composite
def mutated_record(draw) -> str:
    """The good record with up to 6 random edits of YAML-significant characters."""
    text = GOOD
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:at] + draw(YAML_BITS) + text[at:]
        else:
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
    return text


def _load_any(folder: Path, text: str | bytes) -> None:
    from metasynth.records.load import validate_studies

    path = folder / "fuzz2021.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        load_yaml(path)
    except DataError as err:
        assert "\n" not in str(err) and str(path) in str(err)
        return
    validate_studies(folder)  # a document that loads: findings, never an exception


FUZZ = settings(max_examples=15, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(text=mutated_record())
def test_fuzz_mutated_record_never_escapes_as_an_exception(studies_dir, text):
    _load_any(studies_dir, text)


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes_never_escape_as_an_exception(studies_dir, data):
    _load_any(studies_dir, data)


@pytest.mark.exhaustive
@settings(max_examples=3000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.one_of(mutated_record(), st.text(max_size=300)))
def test_fuzz_loader_exhaustive(studies_dir, text):
    _load_any(studies_dir, text)
