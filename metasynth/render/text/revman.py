"""The words of ``metasynth import``: a RevMan file's analyses, their settings and the
results RevMan stored."""

from __future__ import annotations

from metasynth.records.revman import RevManReview
from metasynth.render.numbers import interval, num, p_value, percent


def review_text(review: RevManReview) -> str:
    """One block per analysis: id, name, data type and settings, then RevMan's stored
    pooled result and heterogeneity line (as RevMan prints it)."""
    title = f": {review.title}" if review.title else ""
    lines = [f"{review.source} ({review.format}{', RevMan ' + review.version if review.version else ''})"
             f"{title}", f"{len(review.analyses)} analyses", ""]
    for a in review.analyses:
        s = a.stored
        model = "Random" if a.random else "Fixed"
        method = f"{a.method}, " if a.method else ""
        subgroups = f", {len(a.subgroups)} subgroups" if a.subgroups else ""
        lines.append(f"{a.id}  {a.name}")
        lines.append(f"     {a.data_type}; {a.measure} ({method}{model}, "
                     f"{100 * a.ci_total:g}% CI); {len(a.rows)} study rows{subgroups}")
        if s.effect is not None and s.ci_lower is not None:
            ratio = a.measure in ("RR", "OR", "HR")
            lines.append(f"     RevMan: {interval(s.effect, s.ci_lower, s.ci_upper, 2, ratio)}; "
                         f"Tau² = {num(s.tau2)}; Chi² = {num(s.chi2)}, df = {num(s.df, 0)} "
                         f"({p_value(s.p_chi2)}); I² = {percent(s.i2)}; "
                         f"Z = {num(s.z)} ({p_value(s.p_z)})")
        else:
            lines.append("     RevMan stored no pooled result")
        if a.dichotomous:
            lines.append(f"     pool it: metasynth pool {review.source} --analysis {a.id}")
        else:
            lines.append("     not pooled by metasynth yet (dichotomous data only)")
    return "\n".join(lines) + "\n"
