"""`metasynth report`: the analysis plan's report as PDF and self-contained HTML, plus
``summary.json`` (every pooled result of the report, in the JSON contract of ``pool``).

The files are written as one set (``outputs.OutputSet``): built in a temporary folder
beside them and committed together with a manifest naming the version of every file, so
an interrupted run leaves the previous report whole, never new HTML beside an old PDF.
The same inputs and ``SOURCE_DATE_EPOCH`` give byte-identical
PDFs: the PDF's dates come from ``SOURCE_DATE_EPOCH`` (or the date of the data), its
identifier is fixed, and figures are SVG with fixed ids (inline in the HTML; images of
that SVG in the PDF, which WeasyPrint draws faster).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from metasynth.render.text.warnings import worded
from metasynth.report.assemble import METHOD_REFERENCES, ReportData, assemble
from metasynth.report.grade import DOMAIN_NAMES
from metasynth.report.heap import fewer_collections
from metasynth.report.page import finish_page, svg_as_images
from metasynth.report.stack import on_roomy_stack


@dataclass(frozen=True)
class ReportFiles:
    pdf: Path | None
    html: Path
    summary: Path
    seconds: float
    pages: int | None


def _created(data: ReportData) -> str:
    from metasynth.environment import source_date

    when = source_date()
    if when is not None:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    day = data.title["data_date"]
    return f"{day}T00:00:00Z" if len(day) == 10 else "2000-01-01T00:00:00Z"


@cache
def _template():
    """The page template, compiled once per process: the report renders it twice (the
    HTML file, then the PDF's page with its fonts), and compiling its seven templates
    took 0.2 CPU-s each time."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("metasynth.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                      lstrip_blocks=True)
    return env.get_template("report.html.j2")


def render_html(data: ReportData, font_files: dict | None = None, page_size: str | None = None) -> str:
    template = _template()
    return finish_page(template.render(
        t=data.title, plan=data.plan, methods=data.methods, included=data.included,
        outcomes=data.outcomes, rob_traffic=data.rob_traffic_svg, rob_summary=data.rob_summary_svg,
        not_contributing=data.not_contributing, references=data.references,
        method_references=METHOD_REFERENCES, domain_names=DOMAIN_NAMES,
        created=_created(data), font_files=font_files, bayes=data.bayes, tsa=data.tsa,
        page_size=page_size or data.plan.page_size, sof=data.sof, rob_figures=data.rob_figures,
        unverified=data.unverified, frame=data.frame, sparse=data.sparse,
        conversions=data.conversions, median_to_mean=data.median_to_mean,
        r_script=data.r_script_name,
        simulation=data.simulation))


def _font_files() -> dict:
    import matplotlib

    base = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return {"regular": (base / "DejaVuSans.ttf").as_uri(),
            "bold": (base / "DejaVuSans-Bold.ttf").as_uri()}


@on_roomy_stack  # no stack chunk mapped and unmapped at each call: report/stack.py
@fewer_collections()  # no full garbage collections over the build: report/heap.py
def write_report(folder: str | Path, out_dir: str | Path, plan_path: str | Path | None = None,
                 page_size: str | None = None, pdf: bool = True) -> ReportFiles:
    from metasynth import __version__
    from metasynth.outputs import OutputSet, check_output

    start = time.perf_counter()
    out = check_output(out_dir, inputs=(folder, plan_path), folder=True)
    data = assemble(folder, plan_path)
    name = data.plan.name
    pdf_path, pages = None, None
    with OutputSet(out, producer=f"metasynth {__version__} report") as files:
        html_path = files.write(f"{name}.html", render_html(data, None, page_size).encode("utf-8"))
        if data.r_script:  # the appendix links it: the main analyses in metafor
            files.write(data.r_script_name, data.r_script.encode("utf-8"))
        # warnings as their messages, the form of the released summaries (reports/)
        summary = worded(data.summary, codes=False)
        summary_path = files.write("summary.json", (json.dumps(
            summary, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
        if pdf:
            import shutil
            import tempfile

            from metasynth.report.weasy import faster_weasyprint, import_weasyprint

            weasyprint = import_weasyprint()  # without its compiler probes: report/weasy.py

            # WeasyPrint keeps the fonts it loads in a mkdtemp() folder that only its
            # __del__ removes: make it inside the build folder, which goes on any exit
            saved, tempfile.tempdir = tempfile.tempdir, str(files.build)
            try:
                with faster_weasyprint():  # where WeasyPrint is slow for us: report/weasy.py
                    document = weasyprint.HTML(
                        string=svg_as_images(render_html(data, _font_files(), page_size)),
                        base_url=str(out)).render()
                    pages = len(document.pages)
                    # a tagged PDF (headings, tables, figures as structure) for screen readers
                    pdf = document.write_pdf(
                        pdf_identifier=f"metasynth-{name}".encode(), pdf_tags=True)
                pdf_path = files.write(f"{name}.pdf", pdf)
            finally:
                tempfile.tempdir = saved
                for leftover in files.build.glob("weasyprint-*"):
                    shutil.rmtree(leftover, ignore_errors=True)
    return ReportFiles(pdf_path, html_path, summary_path, time.perf_counter() - start, pages)
