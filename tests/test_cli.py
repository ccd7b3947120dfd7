"""The command line as a user meets it: output, exit codes, start-up imports.

Behaviour is tested in-process (`cli`: `metasynth.cli.main` with captured output); the
last tests run real processes for what only a process shows: the exit status, the
`python -m metasynth` and `metasynth` entry points, and what start-up imports."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, STUDIES, run_cli


def test_pool_studies_json_lists_bowdish(cli):
    proc = cli("pool", STUDIES, "--outcome", "mortality", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    bowdish = next(s for s in out["studies"] if s["id"] == "bowdish2023")
    assert (bowdish["treatment_events"], bowdish["treatment_total"]) == (42, 112)
    assert (bowdish["control_events"], bowdish["control_total"]) == (47, 110)
    # The abstract: RR 0.88, 95% CI 0.64-1.21, P = 0.43
    assert f"{bowdish['estimate']:.2f}" == "0.88"
    assert f"{bowdish['ci_lower']:.2f}" == "0.64"
    assert f"{bowdish['ci_upper']:.2f}" == "1.21"
    assert f"{bowdish['p']:.2f}" == "0.43"


def test_single_study_p_value_matches_the_paper(tmp_path, cli):
    (tmp_path / "b.csv").write_text("study,treatment_events,treatment_total,control_events,"
                                    "control_total\nBowdish 2023,42,112,47,110\n")
    proc = cli("pool", tmp_path / "b.csv", "--format", "json")
    out = json.loads(proc.stdout)
    assert out["k"] == 1
    assert f"{out['common']['p']:.2f}" == "0.43"
    assert f"{out['random']['p']:.2f}" == "0.43"
    assert out["warnings"][0]["code"] == "one_study"
    assert out["warnings"][0]["message"].startswith("Only one study: nothing is pooled")


def test_pool_text_reads_like_revman(cli):
    proc = cli("pool", STUDIES)
    assert proc.returncode == 0, proc.stderr
    assert "Bowdish 2023" in proc.stdout
    assert "0.88 [0.64, 1.21]" in proc.stdout
    assert "Test for overall effect:" in proc.stdout
    assert "Zero cells:" in proc.stdout


def test_csv_input_and_heterogeneity_line(tmp_path, cli):
    (tmp_path / "d.csv").write_text(
        "study,treatment_events,treatment_total,control_events,control_total,year\n"
        "A,10,50,15,50,2020\nB,5,40,9,41,2021\nC,0,20,3,20,2022\n")
    proc = cli("pool", tmp_path / "d.csv")
    assert proc.returncode == 0, proc.stderr
    assert "Heterogeneity: Tau² = " in proc.stdout
    assert "; Chi² = " in proc.stdout and ", df = 2 (P = " in proc.stdout and "); I² = " in proc.stdout
    assert "Test for overall effect: t = " in proc.stdout
    assert "Only 3 studies" in proc.stdout


def test_tsv_input(tmp_path, cli):
    (tmp_path / "d.tsv").write_text(
        "study\ttreatment_events\ttreatment_total\tcontrol_events\tcontrol_total\n"
        "A\t10\t50\t15\t50\nB\t5\t40\t9\t41\n")
    proc = cli("pool", tmp_path / "d.tsv", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("row,id,treatment_events")


@pytest.mark.parametrize("content, message", [
    ("study,treatment_events\nA,1\n", "missing column(s)"),
    ("study,treatment_events,treatment_total,control_events,control_total\nA,5,4,1,10\n",
     ":2: treatment_events (5) exceed treatment_total (4)"),
    ("study,treatment_events,treatment_total,control_events,control_total\nA,x,4,1,10\n",
     ":2: treatment_events must be a whole number"),
    ("study,treatment_events,treatment_total,control_events,control_total\nA,1,4,1,10\nA,1,4,1,10\n",
     ":3: duplicate study 'A'"),
    ("study,treatment_events,treatment_total,control_events,control_total\nA,-1,4,1,10\n",
     "must not be negative"),
])
def test_bad_csv(tmp_path, content, message, cli):
    (tmp_path / "bad.csv").write_text(content)
    proc = cli("pool", tmp_path / "bad.csv")
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_all_studies_excluded_is_a_clear_error(tmp_path, cli):
    (tmp_path / "z.csv").write_text(
        "study,treatment_events,treatment_total,control_events,control_total\nA,0,20,0,20\nB,0,30,0,31\n")
    proc = cli("pool", tmp_path / "z.csv")
    assert proc.returncode == 1
    assert "no study can be pooled" in proc.stderr and "no events in either arm" in proc.stderr
    # RD keeps double-zero studies
    proc = cli("pool", tmp_path / "z.csv", "--measure", "RD", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["k"] == 2


@pytest.mark.parametrize("args", [
    ["pool"], ["pool", "x", "--tau2", "XYZ"], ["pool", "x", "--ci", "nope"], ["frobnicate"], [],
])
def test_usage_errors_exit_2(args, cli):
    proc = cli(*args)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_peto_with_rr_is_a_usage_error(tmp_path, cli):
    (tmp_path / "d.csv").write_text(
        "study,treatment_events,treatment_total,control_events,control_total\nA,1,10,2,10\nB,2,10,3,10\n")
    proc = cli("pool", tmp_path / "d.csv", "--common-method", "Peto")
    assert proc.returncode == 2
    assert "odds ratio" in proc.stderr


def test_unknown_outcome(studies_dir, cli):
    proc = cli("pool", STUDIES, "--outcome", "happiness")
    assert proc.returncode == 1
    assert "unknown outcome 'happiness'" in proc.stderr


def test_pool_does_not_import_heavy_libraries():
    code = ("import sys, io, contextlib\n"
            "from metasynth.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    rc = main(['pool', r'{STUDIES}'])\n"
            "heavy = [m for m in ('matplotlib', 'statsmodels', 'pymare', 'pandas', 'scipy')"
            " if m in sys.modules]\n"
            "print(rc, heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "0 []", proc.stdout + proc.stderr


_BLAS_THREADS = """
import atexit, ctypes, glob, os, sys
from metasynth.cli import run

def report():  # atexit: after main, before run's os._exit
    import numpy
    names = ('scipy_openblas_get_num_threads64_', 'scipy_openblas_get_num_threads',
             'openblas_get_num_threads64_', 'openblas_get_num_threads')
    for path in glob.glob(os.path.dirname(numpy.__file__) + '.libs/*openblas*'):
        lib = ctypes.CDLL(path)
        found = [getattr(lib, n) for n in names if hasattr(lib, n)]
        if found:
            print(os.environ['OMP_NUM_THREADS'], found[0](), file=sys.stderr)
            return
    print(os.environ['OMP_NUM_THREADS'], 'no OpenBLAS of numpy found', file=sys.stderr)

atexit.register(report)
sys.argv = ['metasynth', 'pool', sys.argv[1]]
run()
"""


@pytest.mark.parametrize("given, threads", [(None, "1"), ("2", "2")])
def test_the_cli_runs_one_blas_thread_unless_told(given, threads):
    """numpy's OpenBLAS, as loaded in a CLI process (``run``): one thread, or the user's
    number."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS",
                                                             "OPENBLAS_NUM_THREADS")}
    if given:
        env["OMP_NUM_THREADS"] = given
    proc = subprocess.run([sys.executable, "-c", _BLAS_THREADS, str(STUDIES)], env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    omp, blas = proc.stderr.strip().splitlines()[-1].split(maxsplit=1)
    rc = str(proc.returncode)
    assert (rc, omp) == ("0", threads), proc.stderr
    if blas.strip() == "no OpenBLAS of numpy found":  # another BLAS build: not read here
        pytest.skip(blas.strip())
    assert blas.strip() == threads


def test_python_dash_m_and_console_script_agree():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("metasynth ")
    script = shutil.which("metasynth", path=str(Path(sys.executable).parent))
    if script is not None:  # the console script of this environment's install
        console = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=120)
        assert (console.returncode, console.stdout) == (0, proc.stdout)


_HARD_EXIT = """
import atexit, sys, threading, time
import metasynth.cli as cli
class Loud:
    def __del__(self):
        print('freed at teardown', file=sys.stderr, flush=True)
keep = Loud()
atexit.register(lambda: print('atexit ran', file=sys.stderr))
returned = threading.Event()
def main_then_mark():
    code = real_main()
    returned.set()
    return code
real_main, cli.main = cli.main, main_then_mark
if sys.argv[1] == 'thread':  # still running when main has returned
    threading.Thread(target=lambda: (returned.wait(), time.sleep(0.3),
                                     print('thread done', file=sys.stderr))).start()
sys.argv = ['metasynth', 'pool', sys.argv[2], '--format', 'json']
cli.run()
"""


@pytest.mark.parametrize("how", ["run", "thread", "plain"])
def test_the_process_ends_without_the_interpreters_teardown(how):
    """``run`` (the script's and ``python -m``'s entry): the whole output, the atexit
    handlers, the exit status, and no teardown (an object's ``__del__`` is not called);
    with a thread still running, the usual exit that waits for it. ``plain``: the same
    program ending as a script normally does (the teardown calls ``__del__``)."""
    code = _HARD_EXIT if how != "plain" else _HARD_EXIT.replace(
        "cli.run()\n", "sys.exit(cli.main())\n")
    proc = subprocess.run([sys.executable, "-c", code, how, str(STUDIES)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["studies"]  # every byte of the JSON arrived
    lines = proc.stderr.split()
    assert "atexit" in lines and ("thread" in lines) == (how == "thread")
    assert ("freed" in lines) == (how != "run")


def test_exit_status_of_the_process():
    """0 success, 1 invalid data, 2 usage error, as the process's exit status, messages on
    stderr and no traceback."""
    assert run_cli("pool", STUDIES, "--format", "json").returncode == 0
    proc = run_cli("pool", STUDIES, "--outcome", "happiness")
    assert proc.returncode == 1 and "unknown outcome 'happiness'" in proc.stderr
    proc = run_cli("pool", STUDIES, "--tau2", "XYZ")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
