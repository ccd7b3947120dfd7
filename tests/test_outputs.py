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


def test_export_writes_through_the_one_atomic_writer(cli, tmp_path, monkeypatch):
    import metasynth.outputs as outputs

    written = []
    real = outputs.write_text
    monkeypatch.setattr(outputs, "write_text", lambda p, t: written.append(p) or real(p, t))
    trials = Path(__file__).parent.parent / "examples" / "trials.csv"
    r = cli("export", trials, "--revman", "-o", tmp_path / "out.csv")
    assert r.returncode == 0 and written == [str(tmp_path / "out.csv")]
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no temporary left


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


def _as_in_a_terminal() -> None:
    """In the child before exec: SIGINT back to its default action. A shell starts a
    background job with SIGINT ignored, the children inherit that, and Python then keeps
    it ignored, so a Ctrl-C test run from ``.ci/run &`` or ``nohup`` would wait for a child
    that never stops (seen on 3 December 2026: the SIGINT kills timed out after 30 s)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_children_start_as_in_a_terminal():
    code = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             preexec_fn=_as_in_a_terminal, check=True).stdout
        inherited = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                   text=True, check=True).stdout
    finally:
        signal.signal(signal.SIGINT, old)
    assert (out, inherited) == ("True\n", "False\n")


def _kill_at_random_moments(folder: Path, n: int, sig: int, seed: int) -> set[str]:
    import random

    rng = random.Random(seed)
    seen = set()
    for _ in range(n):
        p = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(folder), "new"],
                             stdout=subprocess.PIPE, text=True, preexec_fn=_as_in_a_terminal)
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
    # 30 kills, about 9 s (60 took 17 s of .ci/run's 10 minutes)
    seen = _kill_at_random_moments(tmp_path, 12, signal.SIGTERM, seed=3)
    seen |= _kill_at_random_moments(tmp_path, 12, signal.SIGKILL, seed=4)
    seen |= _kill_at_random_moments(tmp_path, 6, signal.SIGINT, seed=5)
    assert seen == {"old", "new"}  # the kills landed on both sides of commits


@pytest.mark.exhaustive
def test_report_killed_at_random_moments_is_old_or_new(tmp_path):
    """The real report, killed while it computes and renders: the folder holds the old
    set or the new one, never new HTML beside an old PDF, and no temporary is left."""
    import random

    from tests.conftest import REPORT_EPOCH

    out, tmp = tmp_path / "reports", tmp_path / "tmp"
    tmp.mkdir()  # the runs' temporary folder: other programs' /tmp/weasyprint-* are not theirs
    env = {**os.environ, "SOURCE_DATE_EPOCH": REPORT_EPOCH, "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-m", "metasynth", "report", str(STUDIES), "-o", str(out)]
    subprocess.run(cmd + ["--no-pdf"], env=env, check=True, capture_output=True, timeout=600)
    old = read_manifest(out)
    assert set(old["files"]) == {"msc-covid-ards.html", "summary.json", "msc-covid-ards.R"}
    rng = random.Random(7)

    def whole_set():
        manifest = read_manifest(out)
        assert manifest is not None
        for name, f in manifest["files"].items():
            assert hashlib.sha256((out / name).read_bytes()).hexdigest() == f["sha256"], name
        return set(manifest["files"])

    for sig in (signal.SIGTERM, signal.SIGINT):
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=_as_in_a_terminal)
        time.sleep(1.5 + rng.random() * 5)  # the report takes 8 s here, 20 s on CI
        p.send_signal(sig)
        p.wait(timeout=120)
        whole_set()
        assert not list(out.glob(BUILD_PREFIX + "*"))
        assert sorted(x.name for x in tmp_path.iterdir()) == ["reports", "tmp"]
        assert list(tmp.iterdir()) == []  # unwound: WeasyPrint's font folder went too
    # SIGKILL inside the rename window of the commit (the PDF made): old or new at once
    p = subprocess.Popen([sys.executable, "-c", REPORT_IN_WINDOW, *cmd[3:]], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout.readline() == "window\n"
    time.sleep(0.1 + rng.random() * 0.2)  # before or after the exchange
    p.kill()
    p.wait(timeout=30)
    p.stdout.close()
    assert whole_set() - {"msc-covid-ards.pdf"} == set(old["files"])
    recover(out)  # the next run's first step: the killed run's build folder goes
    assert sorted(x.name for x in tmp_path.iterdir()) == ["reports", "tmp"]
    assert not [x for x in out.iterdir() if x.name.startswith(".")]
    assert list(tmp.iterdir()) == []  # WeasyPrint's folder was in the build folder


REPORT_IN_WINDOW = textwrap.dedent("""
    import sys, time
    import metasynth.outputs as outputs
    from metasynth.cli import main
    real = outputs.exchange

    def slow_exchange(a, b):
        print("window", flush=True)
        time.sleep(0.15)
        done = real(a, b)
        time.sleep(0.15)
        return done

    outputs.exchange = slow_exchange
    sys.exit(main(sys.argv[1:]))
""")


# -- the swap: old or new at every moment, even under SIGKILL --------------------------

def test_output_set_is_swapped_in_one_step_and_keeps_the_folders_other_entries(tmp_path):
    folder = tmp_path / "reports"
    _write_set(folder, "old")
    (folder / "figures").mkdir()
    (folder / "figures" / "forest.png").write_bytes(b"png")
    (folder / "notes.txt").write_text("mine")
    os.chmod(folder, 0o750)
    inode = (folder / "figures" / "forest.png").stat().st_ino
    with OutputSet(folder) as s:
        for n in ("a.html", "summary.json"):
            s.write(n, f"new:{n}".encode())
    assert s.swapped
    assert _assert_whole_set(folder) == "new" and not (folder / "b.pdf").exists()
    assert (folder / "figures" / "forest.png").stat().st_ino == inode  # linked, not copied
    assert (folder / "notes.txt").read_text() == "mine"
    assert folder.stat().st_mode & 0o777 == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]  # no build left


def test_output_set_commits_by_renames_where_it_cannot_swap(tmp_path):
    _write_set(tmp_path / "r", "old")
    os.mkfifo(tmp_path / "r" / "pipe")  # cannot be hard-linked into the new folder
    with OutputSet(tmp_path / "r") as s:
        for n in ("a.html", "b.pdf", "summary.json"):
            s.write(n, f"new:{n}".encode())
    assert not s.swapped and _assert_whole_set(tmp_path / "r") == "new"
    assert (tmp_path / "r" / "pipe").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_a_reader_of_the_folder_sees_old_or_new_while_sets_are_swapped(tmp_path):
    """A reader that opens the folder once and reads the set in it never sees a file of
    one version beside the manifest of another (with renames in the folder it could)."""
    folder = tmp_path / "reports"
    _write_set(folder, "old")
    stop = threading.Event()

    def writer():
        tag = "new"
        while not stop.is_set():
            _write_set(folder, tag)
            tag = "old" if tag == "new" else "new"

    thread = threading.Thread(target=writer)
    thread.start()
    seen, reads, start = set(), 0, time.monotonic()
    try:
        while (reads < 100 or len(seen) < 2) and time.monotonic() - start < 10:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                def read(name):
                    f = os.open(name, os.O_RDONLY, dir_fd=fd)  # noqa: B023
                    with os.fdopen(f, "rb") as fh:
                        return fh.read()
                manifest = json.loads(read(MANIFEST))
                tags = {read(n).split(b":")[0] for n in manifest["files"]}
            except FileNotFoundError:  # the old folder being removed after a swap
                continue
            finally:
                os.close(fd)
            assert len(tags) == 1, tags
            seen |= tags
            reads += 1
            time.sleep(0.001)  # let the writer swap
    finally:
        stop.set()
        thread.join()
    assert seen == {b"old", b"new"}


SWAP_CHILD = textwrap.dedent("""
    import os, sys, time
    import metasynth.outputs as outputs
    from metasynth.outputs import OutputSet
    folder, tag, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    real_exchange, real_replace = outputs.exchange, os.replace

    def slow_exchange(a, b):  # the rename window, stretched
        if mode == "renames":
            return False
        print("window", flush=True)
        time.sleep(0.03)
        done = real_exchange(a, b)
        time.sleep(0.03)
        return done

    def slow_replace(a, b):
        if mode == "renames" and str(b).startswith(folder) and ".metasynth-build" not in str(b):
            print("window", flush=True)
            time.sleep(0.02)
        return real_replace(a, b)

    outputs.exchange = slow_exchange
    outputs.os.replace = slow_replace
    while True:
        with OutputSet(folder) as s:
            for n in ("a.html", "b.pdf", "summary.json"):
                s.write(n, (tag + ":" + n).encode() * 2000)
        tag = "new" if tag == "old" else "old"
""")


def _kill_in_the_rename_window(folder: Path, n: int, seed: int, mode: str = "swap") -> set:
    """SIGKILL the writer inside its rename window: with the swap the folder is old or
    new at once, with no repair; with renames only after the next writer's recovery.
    Either way no build folder and no temporary file is left once it has run."""
    import random

    rng = random.Random(seed)
    seen = set()
    for _ in range(n):
        p = subprocess.Popen([sys.executable, "-c", SWAP_CHILD, str(folder), "new", mode],
                             stdout=subprocess.PIPE, text=True)
        for _ in range(rng.randrange(1, 4)):  # one of the first few commits
            assert p.stdout.readline() == "window\n"
        time.sleep(rng.random() * 0.06)  # before or after the exchange (or a rename)
        p.kill()
        p.wait(timeout=30)
        p.stdout.close()
        if mode == "swap":
            seen.add(_assert_whole_set(folder))  # no repair needed
        recover(folder)  # what the next writer does first
        seen.add(_assert_whole_set(folder))
        left = [x.name for x in folder.parent.iterdir() if x.name != folder.name]
        left += [x.name for x in folder.iterdir() if x.name.startswith(".")]
        assert left == [], left
    return seen


def test_output_set_killed_in_the_rename_window_is_old_or_new(tmp_path):
    _write_set(tmp_path / "reports", "old")
    _kill_in_the_rename_window(tmp_path / "reports", 2, seed=11)


@pytest.mark.exhaustive
def test_output_set_killed_in_the_rename_window_many_times(tmp_path):
    _write_set(tmp_path / "reports", "old")
    seen = _kill_in_the_rename_window(tmp_path / "reports", 12, seed=12)
    seen |= _kill_in_the_rename_window(tmp_path / "reports", 6, seed=13, mode="renames")
    assert seen == {"old", "new"}


def test_a_folder_reached_through_a_symlink_is_swapped_where_it_is(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    _write_set(tmp_path / "link", "old")
    _write_set(tmp_path / "link", "new")
    assert (tmp_path / "link").is_symlink() and _assert_whole_set(tmp_path / "real") == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


def test_the_working_folder_is_not_swapped(tmp_path, monkeypatch):
    """Swapping the folder a process works in would leave it (and a user's shell) in the
    removed old folder: such a folder gets the renames."""
    (tmp_path / "r").mkdir()
    monkeypatch.chdir(tmp_path / "r")
    _write_set(Path("."), "old")
    with OutputSet(".") as s:
        for n in ("a.html", "b.pdf", "summary.json"):
            s.write(n, f"new:{n}".encode())
    assert not s.swapped and _assert_whole_set(Path(".")) == "new"
    assert Path.cwd() == (tmp_path / "r").resolve() and Path("a.html").exists()


def test_a_mount_point_is_built_in_place_and_committed_by_renames(tmp_path, monkeypatch):
    folder = tmp_path / "r"
    _write_set(folder, "old")
    monkeypatch.setattr("metasynth.outputs.os.path.ismount", lambda p: True)
    with OutputSet(folder) as s:
        assert s.build.parent == folder  # no sibling folder beside a mount point
        for n in ("a.html", "b.pdf", "summary.json"):
            s.write(n, f"new:{n}".encode())
    assert not s.swapped and _assert_whole_set(folder) == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
