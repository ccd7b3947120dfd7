"""Methods text, derived from the option table: every method named as published and with
its reference (``plan.options``), for the CLI's one sentence and the report's paragraphs."""

from __future__ import annotations

from metasynth.plan.options import BY_NAME, PRESETS


def method(option: str, value) -> str:
    """The methods-section words of an option value ('restricted maximum likelihood
    (Viechtbauer 2005)')."""
    return BY_NAME[option].choice(value).method


def name(option: str, value) -> str:
    """The published name of an option value ('REML', 'HKSJ', 'Mantel-Haenszel')."""
    return BY_NAME[option].choice(value).name


def preset_line(spec) -> str | None:
    """'Preset: the RevMan 5 analysis: ...' when the spec follows a named preset."""
    if spec.preset == "metasynth":
        return None
    return f"Preset: {PRESETS[spec.preset].label}."


def methods_sentence(result) -> str:
    """One sentence naming every method a pooled result used, with its reference."""
    spec, c = result.spec, result.common
    parts = [f"common effect by {method('common_method', c.method)}"]
    if result.k >= 2:
        parts.append(f"random effects with tau² by {method('tau2', spec.tau2)}")
        parts.append(f"{spec.ci_label} by {method('ci', spec.ci)}")
        parts.append(f"prediction interval by {method('pi', spec.pi)}")
        parts.append("I² from tau² (Higgins & Thompson 2002); Q-profile CIs for tau² and I² "
                     "(Viechtbauer 2007)")
        if spec.het_q != "iv" and c.method in ("MH", "Peto"):
            parts.append(f"Chi² (Q): {method('het_q', spec.het_q)}")
    return "; ".join(parts) + "."


def model_paragraph(spec) -> str:
    """The report's paragraph on the effect measure and the models, from the spec."""
    rule = spec.zero_cells.describe(spec.measure)
    mh = (f" with {spec.add:g} added to zero-cell trials" if spec.mh_correction
          else " on the raw counts")
    text = (f"Effect measure: {method('measure', spec.measure)} with its {spec.ci_label}, "
            f"computed from the 2x2 counts of each trial. Zero cells: {rule}. Trials with "
            "several experimental arms contribute their arms combined against the shared "
            "control (Cochrane Handbook 23.3.4). Random-effects model: between-trial variance "
            f"tau² by {method('tau2', spec.tau2)}; confidence interval for the mean by "
            f"{method('ci', spec.ci)}; prediction interval by {method('pi', spec.pi)}. "
            f"Common-effect model by {method('common_method', spec.common_method)}"
            + (mh if spec.common_method == "MH" else "") + ".")
    if spec.het_q != "iv" and spec.common_method in ("MH", "Peto"):
        text += f" Heterogeneity: {method('het_q', spec.het_q)}."
    text += (f" Continuous outcomes: {method('continuous_measure', spec.continuous_measure)}"
             ", from each trial's arm means and SDs, common effect by inverse variance; an arm "
             "reported as a median with its IQR or range enters with "
             + ("no mean and SD, so the trial is not pooled (no conversion)"
                if spec.median_to_mean == "none" else
                f"a mean and SD derived by {method('median_to_mean', spec.median_to_mean)}, "
                "each conversion listed in the appendix, and a skewness check (Bowley's "
                "coefficient, after Shi et al. 2023) warns where the median's data look "
                "skewed") + ".")
    preset = preset_line(spec)
    return f"{text} {preset}" if preset else text
