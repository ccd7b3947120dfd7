"""The one output writer: unique temporary files, atomic rename, no leftovers, output
paths checked before any work, the report written as a set (old or new, never mixed)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from metasynth.errors import UsageError
from metasynth.outputs import (
    BUILD_PREFIX,
    MANIFEST,
    OutputSet,
    atomic_output,
    check_output,
    read_manifest,
    recover,
    write_bytes,
)
from tests.conftest import STUDIES


def test_atomic_output_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.svg"
    target.write_bytes(b"old")
    write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg"]


def test_atomic_output_removes_temporary_and_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "a.svg"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as fh:
        fh.write(b"partial")
        raise RuntimeError("killed while drawing")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg"]


def test_concurrent_writers_never_share_a_temporary_name(tmp_path):
    """Six writers of one target at once (the issue's six `forest -o same.svg`): each
    finishes, and the survivor is one whole file."""
    target = tmp_path / "same.svg"
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            with atomic_output(target) as fh:
                for _ in range(200):
                    fh.write(bytes([65 + i]) * 100)
                time.sleep(0.01)
        except BaseException as err:  # pragma: no cover - the failure being tested for
            errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    data = target.read_bytes()
    assert len(data) == 20_000 and len(set(data)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.svg"]


def test_new_file_gets_umask_mode_not_mkstemp_0600(tmp_path):
    write_bytes(tmp_path / "x.png", b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "x.png").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("make, kwargs, words", [
    (lambda d: d / "in.csv", {"inputs": "self"}, "also an input"),
    (lambda d: d / "missing" / "x.png", {}, "does not exist"),
    (lambda d: d, {}, "is a folder"),
    (lambda d: d / "x.txt", {"suffixes": (".png", ".svg", ".pdf")}, "must end in"),
    (lambda d: d / "file", {"folder": True}, "is a file, not a folder"),
    (lambda d: d / "fifo", {}, "not a regular file"),
])
def test_check_output_refuses_harmful_targets(tmp_path, make, kwargs, words):
    (tmp_path / "in.csv").write_text("study\n")
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    target = make(tmp_path)
    if kwargs.get("inputs") == "self":
        kwargs = {"inputs": [tmp_path / "in.csv"]}
    with pytest.raises(UsageError, match=words):
        check_output(target, **kwargs)


def test_check_output_sees_an_input_through_a_symlink_or_hard_link(tmp_path):
    data = tmp_path / "trials.csv"
    data.write_text("study\n")
    (tmp_path / "link.png").symlink_to(data)
    os.link(data, tmp_path / "hard.png")
    for alias in ("link.png", "hard.png"):
        with pytest.raises(UsageError, match="also an input"):
            check_output(tmp_path / alias, inputs=[data])


def test_cli_refuses_output_that_is_an_input_before_reading_it(cli, tmp_path):
    """`forest trials.png -o trials.png` used to read the CSV, then overwrite it."""
    data = tmp_path / "trials.png"
    text = "study,treatment_events,treatment_total,control_events,control_total\na,1,10,2,10\n"
    data.write_text(text)
    r = cli("forest", data, "-o", data)
    assert r.returncode == 2 and "also an input" in r.stderr and len(r.stderr.splitlines()) == 1
    assert data.read_text() == text


def test_two_outputs_of_one_command_may_not_be_the_same_file(cli, tmp_path):
    r = cli("bayes", STUDIES, "-o", tmp_path / "x.png", "--forest", tmp_path / "x.png")
    assert r.returncode == 2 and "is given twice" in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_report_to_an_existing_file_fails_before_any_work(cli, tmp_path, monkeypatch):
    import metasynth.report.write as write

    def boom(*a, **k):  # pragma: no cover - reached only if the check came too late
        raise AssertionError("assembled the report before checking the output")

    monkeypatch.setattr(write, "assemble", boom)
    target = tmp_path / "report.pdf"
    target.write_text("x")
    r = cli("report", STUDIES, "-o", target)
    assert r.returncode == 2 and "is a file, not a folder" in r.stderr
    with pytest.raises(UsageError):
        write.write_report(STUDIES, target)


# -- the output set ------------------------------------------------------------------

def _write_set(folder: Path, tag: str, names=("a.html", "b.pdf", "summary.json")) -> None:
    with OutputSet(folder) as s:
        for n in names:
            s.write(n, f"{tag}:{n}".encode())


def _assert_whole_set(folder: Path, tags=("old", "new")) -> str:
    """Every file of the set and the manifest agree: returns the set's tag."""
    manifest = read_manifest(folder)
    assert manifest is not None
    seen = {(folder / n).read_bytes().split(b":")[0].decode() for n in manifest["files"]}
    assert len(seen) == 1 and seen <= set(tags), seen
    for n, f in manifest["files"].items():
        assert f["version"] == manifest["version"]
        assert f["bytes"] == len((folder / n).read_bytes())
    assert not list(folder.glob(BUILD_PREFIX + "*"))
    return seen.pop()


def test_output_set_commits_with_manifest_and_drops_files_of_the_old_set(tmp_path):
    _write_set(tmp_path, "old")
    (tmp_path / "figures").mkdir()  # not part of the set: left alone
    _write_set(tmp_path, "new", names=("a.html", "summary.json"))
    assert _assert_whole_set(tmp_path) == "new"
    assert not (tmp_path / "b.pdf").exists() and (tmp_path / "figures").is_dir()
    assert set(read_manifest(tmp_path)["files"]) == {"a.html", "summary.json"}


def test_output_set_unchanged_when_the_build_fails(tmp_path):
    _write_set(tmp_path, "old")
    with pytest.raises(RuntimeError), OutputSet(tmp_path) as s:
        s.write("a.html", b"new:a.html")
        raise RuntimeError("killed during PDF rendering")
    assert _assert_whole_set(tmp_path) == "old"


def test_recover_rolls_a_killed_commit_forward(tmp_path):
    """SIGKILL between two renames of the commit: the next writer finishes the set."""
    _write_set(tmp_path, "old")
    build = tmp_path / (BUILD_PREFIX + "x")
    build.mkdir()
    files = {}
    for n in ("a.html", "b.pdf", "summary.json"):
        (build / n).write_bytes(f"new:{n}".encode())
        files[n] = {"sha256": "-", "bytes": len(f"new:{n}"), "version": "v2"}
    (build / MANIFEST).write_text(json.dumps({"version": "v2", "files": files}))
    os.replace(build / "a.html", tmp_path / "a.html")  # the part that happened
    os.unlink(tmp_path / MANIFEST)
    recover(tmp_path)
    assert _assert_whole_set(tmp_path) == "new"
    incomplete = tmp_path / (BUILD_PREFIX + "y")
    incomplete.mkdir()
    (incomplete / "a.html").write_text("half")
    recover(tmp_path)
    assert not incomplete.exists()


KILL_CHILD = textwrap.dedent("""
    import sys, time
    from metasynth.outputs import OutputSet, signals_unwind
    folder, tag = sys.argv[1], sys.argv[2]
    with signals_unwind():
        while True:
            with OutputSet(folder) as s:
                for n in ("a.html", "b.pdf", "summary.json"):
                    s.write(n, (tag + ":" + n).encode() * 20000)
                    time.sleep(0.002)
            print("done", flush=True)
            tag = "new" if tag == "old" else "old"
""")


def _kill_at_random_moments(folder: Path, n: int, sig: int, seed: int) -> set[str]:
    import random

    rng = random.Random(seed)
    seen = set()
    for _ in range(n):
        p = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(folder), "new"],
                             stdout=subprocess.PIPE, text=True)
        time.sleep(0.15 + rng.random() * 0.25)  # after imports, anywhere in the loop
        p.send_signal(sig)
        p.wait(timeout=30)
        if sig == signal.SIGKILL:
            recover(folder)  # what the next writer does first
        seen.add(_assert_whole_set(folder))
        if sig != signal.SIGKILL:  # SIGTERM unwinds: the build folder went with it
            assert p.returncode != 0
    return seen


def test_output_set_killed_at_random_moments_is_old_or_new(tmp_path):
    _write_set(tmp_path, "old")
    _kill_at_random_moments(tmp_path, 3, signal.SIGTERM, seed=1)
    _kill_at_random_moments(tmp_path, 2, signal.SIGKILL, seed=2)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.exhaustive
def test_output_set_killed_many_times_is_old_or_new(tmp_path):
    _write_set(tmp_path, "old")
    seen = _kill_at_random_moments(tmp_path, 25, signal.SIGTERM, seed=3)
    seen |= _kill_at_random_moments(tmp_path, 25, signal.SIGKILL, seed=4)
    seen |= _kill_at_random_moments(tmp_path, 10, signal.SIGINT, seed=5)
    assert seen == {"old", "new"}  # the kills landed on both sides of commits


@pytest.mark.exhaustive
def test_report_killed_at_random_moments_is_old_or_new(tmp_path):
    """The real report, killed while it computes and renders: the folder holds the old
    set or the new one, never new HTML beside an old PDF, and no temporary is left."""
    import random

    from tests.conftest import REPORT_EPOCH

    out = tmp_path / "reports"
    env = {**os.environ, "SOURCE_DATE_EPOCH": REPORT_EPOCH}
    cmd = [sys.executable, "-m", "metasynth", "report", str(STUDIES), "-o", str(out)]
    subprocess.run(cmd + ["--no-pdf"], env=env, check=True, capture_output=True, timeout=600)
    old = read_manifest(out)
    assert set(old["files"]) == {"msc-covid-ards.html", "summary.json", "msc-covid-ards.R"}
    tmp_before = set(Path("/tmp").glob("weasyprint-*"))
    rng = random.Random(7)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2 + rng.random() * 10)
        p.send_signal(sig)
        p.wait(timeout=120)
        if sig == signal.SIGKILL:
            recover(out)
        manifest = read_manifest(out)
        assert manifest is not None
        for name, f in manifest["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == f["sha256"], name
        assert not list(out.glob(BUILD_PREFIX + "*"))
        if sig != signal.SIGKILL:  # unwound: WeasyPrint's font folder went too
            assert set(Path("/tmp").glob("weasyprint-*")) <= tmp_before
