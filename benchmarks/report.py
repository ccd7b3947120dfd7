"""Report benchmark: `metasynth report` (cold process, PDF + HTML + summary.json) on the
shipped corpus and on a 40-trial SYNTHETIC corpus (tests/stress_corpus.py, in a temporary
folder), against `metasynth pool studies/` measured in the same run. Times are CPU
seconds of the child process (user + sys), the measure of the targets: under 10 s for
the shipped corpus, under 25 s for 40 trials.

    python benchmarks/report.py [--runs 3]
    python benchmarks/report.py --phases studies/   # CPU-s per phase of one build

``--instructions`` counts the instructions each case executes instead, under valgrind's
cachegrind (no cache simulation; about 20 times slower, one run each): a measure that does
not move with the machine's load or clock, for comparing two trees on a noisy machine.
The same build's CPU seconds varied from 13.5 to 20 on one shared 2-core machine on
3 December 2026.

``--phases`` builds one report in this process and prints where its CPU seconds go (the
fits and figures of ``assemble``, the page, WeasyPrint's style cascade, layout, drawing,
its figures, tags and writing), timing the functions by wrapping them; nested phases are
indented and counted in their parent too.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.stress_corpus import write_corpus  # noqa: E402


def cpu_seconds(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "SOURCE_DATE_EPOCH": "1764115200"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def instructions(cmd: list[str]) -> int:
    """Instructions executed by ``cmd`` and its children (valgrind cachegrind)."""
    import re

    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
             f"--cachegrind-out-file={tmp}/cg.%p", *cmd], cwd=ROOT, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "SOURCE_DATE_EPOCH": "1764115200"})
    return sum(int(n.replace(",", "")) for n in re.findall(r"I\s+refs:\s+([\d,]+)", run.stderr))


def phases(folder: str) -> None:
    import time
    from collections import defaultdict

    os.environ.setdefault("SOURCE_DATE_EPOCH", "1764115200")
    start = time.process_time()
    from metasynth.report.weasy import import_weasyprint

    weasyprint = import_weasyprint()  # as the report imports it
    import weasyprint.document as wd
    import weasyprint.pdf as wp
    import weasyprint.svg as ws

    import metasynth.render.plots.forest as forest
    import metasynth.render.plots.kit as kit
    import metasynth.report.assemble as asm
    import metasynth.report.sparse as sparse
    import metasynth.report.write as write

    spent: dict = defaultdict(float)
    spent["imports"] = time.process_time() - start

    def timed(owner, name: str, label: str) -> None:
        f = getattr(owner, name, None)
        if f is None:  # another WeasyPrint version: that phase is not shown
            return

        def g(*a, **k):
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[label] += time.process_time() - t
        setattr(owner, name, g)

    for owner, name, label in [
            (write, "assemble", "assemble: every fit and figure"),
            (forest, "forest_pages", "  forest plots (layout)"),
            (kit, "figure_svg", "  figures drawn to SVG (matplotlib)"),
            (asm, "sensitivity_analyses", "  sensitivity analyses"),
            (asm, "sensitivity_matrix", "  sensitivity matrix"),
            (asm, "subgroup_analyses", "  subgroups"),
            (asm, "robustness", "  robustness (leave-one-out, permutation, Egger)"),
            (asm, "bayes_sections", "  Bayesian meta-analysis"),
            (asm, "tsa_section", "  trial sequential analysis"),
            (asm, "rob_sections", "  risk-of-bias figures"),
            (asm, "frame_section", "  review frame and PRISMA"),
            (sparse, "sparse_sections", "  sparse-data GLMMs"),
            (write, "render_html", "page (Jinja2, finish_page)"),
            (write, "svg_as_images", "lean SVG images for the PDF"),
            (weasyprint.HTML, "render", "WeasyPrint render (parse, cascade, layout)"),
            (wd, "get_all_computed_styles", "  style cascade"),
            (wd, "build_formatting_structure", "  box tree"),
            (wd.Document, "write_pdf", "WeasyPrint write_pdf"),
            (wd.Page, "paint", "  drawing the pages"),
            (ws.SVG, "draw", "    of which the figures"),
            (wp, "add_tags", "  PDF tags"),
            (wp, "build_fonts_dictionary", "  fonts (subsets)")]:
        timed(owner, name, label)
    from metasynth.cli import main as cli

    with tempfile.TemporaryDirectory() as out:
        cli(["report", folder, "-o", out])
    render = "WeasyPrint render (parse, cascade, layout)"
    spent["  layout (the rest of render)"] = spent[render] - spent["  style cascade"] - spent[
        "  box tree"]
    c = os.times()
    for label, t in spent.items():
        print(f"{label:<52} {t:6.2f} CPU-s")
    print(f"{'whole process (user + sys)':<52} {c.user + c.system:6.2f} CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--phases", metavar="FOLDER",
                        help="print the CPU-s per phase of one report of FOLDER, in-process")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under valgrind (one run each) instead of CPU-s")
    args = parser.parse_args()
    if args.phases:
        return phases(args.phases)
    tmp = Path(tempfile.mkdtemp())
    synthetic = write_corpus(tmp / "synthetic-40", 40)
    py = [sys.executable, "-m", "metasynth"]
    cases = {"pool studies/": [*py, "pool", "studies/"],
             "report studies/": [*py, "report", "studies/", "-o", str(tmp / "out")],
             "report 40 trials": [*py, "report", str(synthetic), "-o", str(tmp / "out40")]}
    if args.instructions:
        counts = {name: instructions(cmd) for name, cmd in cases.items()}
        for name, n in counts.items():
            print(f"metasynth {name:<18} {n / 1e9:7.2f} G instructions")
        pool = counts["pool studies/"]
        print(f"ratio report studies/ / pool = {counts['report studies/'] / pool:.1f}; "
              f"report 40 trials / pool = {counts['report 40 trials'] / pool:.1f}")
        return
    times = {name: statistics.median(cpu_seconds(cmd) for _ in range(args.runs))
             for name, cmd in cases.items()}
    targets = {"report studies/": 10, "report 40 trials": 25}
    for name, t in times.items():
        target = targets.get(name)
        verdict = f" (target < {target} s): {'OK' if t < target else 'TOO SLOW'}" if target else ""
        print(f"metasynth {name:<18} median {t:6.2f} CPU-s{verdict}")
    pool = times["pool studies/"]
    print(f"ratio report studies/ / pool = {times['report studies/'] / pool:.1f}; "
          f"report 40 trials / pool = {times['report 40 trials'] / pool:.1f} "
          f"(pool measured in the same run, {args.runs} run(s) each)")


if __name__ == "__main__":
    main()
