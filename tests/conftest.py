import contextlib
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# the SOURCE_DATE_EPOCH every test build of the report uses (byte-identical PDFs need one)
REPORT_EPOCH = "1764115200"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m metasynth ...` as a user would (separate process).

    Costs a fresh interpreter (~0.3-0.5 s); kept for the tests of the process boundary
    (exit status, entry point, start-up imports). Tests of behaviour use the `cli` fixture.
    """
    return subprocess.run([sys.executable, "-m", "metasynth", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=120)


@dataclass(frozen=True)
class CliResult:
    """What `metasynth.cli.main` returned and printed: the fields of CompletedProcess the
    tests read."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """`metasynth ARGS` in this process: `main([...])` with its output captured by capsys.

    Same return code, stdout and stderr as `run_cli`, without starting an interpreter.
    argparse's usage errors (SystemExit(2)) become return code 2, as in a process.
    `cwd` (default: the repository root, as for `run_cli`) holds for the rest of the test.
    """
    from metasynth.cli import main

    def run(*args: Any, cwd: Path | None = None) -> CliResult:
        monkeypatch.chdir(cwd or ROOT)
        capsys.readouterr()  # only this command's output
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
                code = 1
            else:
                code = exc.code or 0
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def studies_dir(tmp_path: Path) -> Path:
    """An empty studies folder with the shipped outcome registry."""
    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(STUDIES / "outcomes.yaml", folder / "outcomes.yaml")
    return folder


def build_report(out_dir: Path, pdf: bool = True):
    """`write_report(studies/, out_dir)` with the tests' SOURCE_DATE_EPOCH."""
    from metasynth.report.write import write_report

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOURCE_DATE_EPOCH", REPORT_EPOCH)
        return write_report(STUDIES, out_dir, pdf=pdf)


@dataclass(frozen=True)
class BuiltReport:
    files: Any  # metasynth.report.write.ReportFiles
    data: Any  # the ReportData that build assembled
    document: Any = None  # the laid-out WeasyPrint Document the PDF was written from
    min_content: Any = None  # report/weasy.py's MinContent of that build, in check mode
    errors: tuple = ()  # what WeasyPrint logged as errors while building (a failed figure)


def _pdf_selected(session) -> bool:
    return any(item.get_closest_marker("pdf") for item in session.items)


@pytest.fixture(scope="session")
def built_report(tmp_path_factory, request) -> BuiltReport:
    """The report of the shipped records, built ONCE per test run (HTML, summary.json, and
    the PDF when a test marked ``pdf`` is selected: those are exhaustive, so the default run
    skips WeasyPrint's ~10 CPU-s) and shared by every test that reads a built report; also
    the ReportData it was built from (recorded on the way, so `assemble` runs once)."""
    pytest.importorskip("weasyprint")
    import weasyprint

    import metasynth.report.weasy as weasy
    import metasynth.report.write as write

    assembled, documents, checked = [], [], []
    real = getattr(write, "assemble", None)
    real_render = weasyprint.HTML.render
    real_faster = weasy.faster_weasyprint

    @contextlib.contextmanager
    def checking():  # every min-content answer also asked of WeasyPrint (+~1 CPU-s)
        with real_faster(check=True) as min_content:
            checked.append(min_content)
            yield min_content

    def recording(*args, **kwargs):
        data = real(*args, **kwargs)
        assembled.append(data)
        return data

    def recording_render(self, *args, **kwargs):  # the page layout, for the page checks
        document = real_render(self, *args, **kwargs)
        documents.append(document)
        return document

    errors: list = []

    class Errors(logging.Handler):  # WeasyPrint logs a figure it fails to draw, and goes on
        def emit(self, record):
            errors.append(record.getMessage()[:300])

    handler = Errors(level=logging.ERROR)
    logging.getLogger("weasyprint").addHandler(handler)
    try:
        with pytest.MonkeyPatch.context() as mp:
            if real is not None:
                mp.setattr(write, "assemble", recording)
            mp.setattr(weasyprint.HTML, "render", recording_render)
            mp.setattr(weasy, "faster_weasyprint", checking)
            files = build_report(tmp_path_factory.mktemp("report"),
                                 pdf=_pdf_selected(request.session))
    finally:
        logging.getLogger("weasyprint").removeHandler(handler)
    if not assembled:  # write_report no longer goes through write.assemble
        from metasynth.report.assemble import assemble

        assembled.append(assemble(STUDIES))
    return BuiltReport(files, assembled[0], documents[0] if documents else None,
                       checked[0] if checked else None, tuple(errors))


@pytest.fixture(scope="session")
def report_data(request):
    """The assembled report of the shipped records (`assemble(studies/)`), computed once:
    the built report's when WeasyPrint is installed, else assembled on its own."""
    try:
        import weasyprint  # noqa: F401
    except ImportError:
        from metasynth.report.assemble import assemble

        return assemble(STUDIES)
    return request.getfixturevalue("built_report").data
