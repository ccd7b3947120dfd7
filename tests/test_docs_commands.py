"""Every command in the fenced ``sh`` blocks of README.md, CONTRIBUTING.md and
studies/README.md pastes as written: no ``[...]`` or ``<...>`` placeholders, every
``metasynth`` line parses, and every file it reads is shipped. The exhaustive run
executes each of them in a copy of the repository's data."""

from __future__ import annotations

import re
import shlex
import shutil

import pytest

from tests.conftest import ROOT

DOCS = ("README.md", "CONTRIBUTING.md", "studies/README.md")
# need the network or a git history with a main branch, or a Dask cluster (and hours of
# CPU: the README's cluster examples), or (the report) are built by tests/test_report.py's
# shared fixture already: parsed, not run
NOT_RUN = ("--nct", "--doi", "--pmid", "metasynth diff", "metasynth verify studies/\n",
           "metasynth report", "--workers ", "--scheduler ")


def commands() -> list[tuple[str, int, str]]:
    out = []
    for doc in DOCS:
        lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
        block = None
        for n, line in enumerate(lines, start=1):
            if line.startswith("```"):
                block = line[3:].strip() if block is None else None
                continue
            if block == "sh" and line.strip() and not line.lstrip().startswith("#"):
                out.append((doc, n, line.split("  #")[0].split(" # ")[0].strip()))
    return out


COMMANDS = commands()
METASYNTH = [c for c in COMMANDS if c[2].startswith("metasynth ")]


def test_the_docs_have_commands():
    assert len(METASYNTH) >= 30


@pytest.mark.parametrize("doc, line, command", COMMANDS, ids=[f"{d}:{n}" for d, n, _ in COMMANDS])
def test_command_has_no_placeholder(doc, line, command):
    assert not re.search(r"\[[A-Z-][^\]]*\]|<[^>]+>| \| ", command), f"{doc}:{line}: {command}"


@pytest.mark.parametrize("doc, line, command", METASYNTH, ids=[f"{d}:{n}" for d, n, _ in METASYNTH])
def test_metasynth_command_parses_and_its_inputs_exist(doc, line, command):
    from metasynth.cli import build_parser

    args = build_parser().parse_args(shlex.split(command)[1:])  # SystemExit(2) on a bad flag
    for name in ("path", "plan"):
        value = getattr(args, name, None)
        if value:
            assert (ROOT / value).exists(), f"{doc}:{line}: {value} is not shipped"


@pytest.mark.exhaustive
@pytest.mark.parametrize("doc, line, command", METASYNTH, ids=[f"{d}:{n}" for d, n, _ in METASYNTH])
def test_metasynth_command_runs_as_written(cli, tmp_path, monkeypatch, doc, line, command):
    if any(word in command + "\n" for word in NOT_RUN):
        pytest.skip("needs the network or the git history, or is run by test_report.py")
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    # the RevMan examples read the shipped test fixtures (R meta's and a Cochrane review's)
    shutil.copytree(ROOT / "tests" / "fixtures" / "revman", tmp_path / "tests" / "fixtures" / "revman")
    (tmp_path / "reports" / "figures").mkdir(parents=True)
    monkeypatch.setenv("METASYNTH_CACHE", str(tmp_path / "cache"))
    r = cli(*shlex.split(command)[1:], cwd=tmp_path)
    # verify --offline --allow-skipped exits 0; everything else must succeed too
    assert r.returncode == 0, f"{doc}:{line}: {command}\n{r.stderr}"
