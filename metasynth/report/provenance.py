"""Where every number came from: the records' git commit and, per pooled number, its
source, location and verbatim quote (the appendix)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from metasynth.records.load import StudySet
from metasynth.records.table import StudyTable
from metasynth.safetext import url_problem


def git_commit(folder: Path) -> str:
    """The last commit that changed the records (stable when only reports/ changes)."""
    try:
        head = subprocess.run(["git", "log", "-1", "--format=%h", "--abbrev=12", "--", "."],
                              cwd=folder, capture_output=True, text=True, timeout=20)
        if head.returncode != 0 or not head.stdout.strip():
            return "not under version control"
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=folder,
                               capture_output=True, text=True, timeout=20).stdout.strip()
        return head.stdout.strip() + (" (with uncommitted changes to the records)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "not under version control"


def appendix(studies: StudySet, table: StudyTable, outcome_endpoint: str) -> list:
    out = []
    for row in table.rows:
        study = studies.get(row.id)
        if study is None:
            continue
        day = row.attributes.get("timepoint_days")
        entry = next((o for o in study.outcomes
                      if o.endpoint == outcome_endpoint and o.timepoint_days == day), None)
        if entry is None:
            continue
        sources = {s.id: s for s in study.sources}
        counts = (f"{row.treatment_events}/{row.treatment_total} vs "
                  f"{row.control_events}/{row.control_total}" if row.has_counts else
                  f"{_summary(row.treatment_summary)} vs {_summary(row.control_summary)}"
                  if row.has_summaries else "reported estimate")
        for p in entry.provenance:
            src = sources.get(p.source)
            link = f"https://doi.org/{src.doi}" if src and src.doi else (src.url if src else "")
            out.append({"study": row.label, "day": day, "counts": counts,
                        "source": f"{src.citation} ({src.kind})" if src else p.source,
                        # the schema admits only http(s) and doi links; checked again here
                        # because a live link in the HTML and PDF is what a reader clicks
                        "link": link if link and url_problem(link) is None else "",
                        "location": p.location, "quote": p.quote, "derived": p.derived or ""})
    return out


def _summary(v) -> str:
    """One arm's continuous summary as published: "median 20 (IQR 16 to 24), n = 12"."""
    if v.mean is not None and v.sd is not None:
        return f"mean {v.mean:g} (SD {v.sd:g}), n = {v.n}"
    spread = [f"IQR {v.q1:g} to {v.q3:g}" if v.q1 is not None else "",
              f"range {v.min:g} to {v.max:g}" if v.min is not None else ""]
    return f"median {v.median:g} ({'; '.join(x for x in spread if x)}), n = {v.n}"
