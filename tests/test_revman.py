"""RevMan files in and out, with RevMan's own stored numbers as the oracle.

Every analysis in tests/fixtures/revman/ (R meta's Fleiss 1993 example in its three
formats; the Cochrane review "Antibiotics for sore throat", CD000023.pub4, RevMan 5.2;
the data package of the Cochrane review CD016297, RevMan Web 2026, with continuous SMD,
generic inverse-variance MD and SMD, and dichotomous inverse-variance RR analyses under
REML with Wald or HKSJ intervals) is pooled with RevMan's settings (``--preset revman5``
with the file's method, measure, CI level, and a data package's tau² estimator and CI
method; RevMan's SMD), and every number RevMan stored is compared: per study the effect,
CI, SE, variance and weight; per analysis and subgroup the effect, CI, Chi², df, P(Chi²),
I², tau², Z (or the HKSJ t) and P; and the test for subgroup differences. The worst
difference is printed per file and data type.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest

from metasynth import api
from metasynth.cli import main
from metasynth.errors import DataError
from metasynth.records.revman import DATA_TYPES, read_revman, read_rm5

FIXTURES = Path(__file__).parent / "fixtures" / "revman"
FILES = ("Fleiss1993.rm5", "Fleiss1993_CR.csv", "Fleiss1993.zip", "antibiotics-for-sore-throat.rm5",
         "CD016297-analysis-data.zip")

#: What each format stores: full doubles (rm5), 8 decimals (RevMan CSV), 6 decimals (data
#: package). A stored number x agrees when |metasynth - x| <= atol + rtol |x|.
TOLERANCE = {"rm5": (1e-12, 1e-9), "revman-csv": (0.5e-8 + 1e-12, 1e-9),
             "data-package": (0.5e-6 + 1e-12, 1e-9)}
#: CD016297's package stores full doubles, but from REML fits: RevMan's and metasynth's
#: REML iterations stop at different points (tau² agrees to about 1e-9, the effects and
#: CIs to 1e-8; I² in percent to 2e-5).
FILE_TOLERANCE = {"CD016297-analysis-data.zip": (1e-7, 1e-5)}
#: Where REML puts tau² on its boundary, RevMan stops at tau² near 1e-9 (I² up to 3.2e-5
#: percent) where metasynth reaches 0: I² (in percent) is compared to 1e-4 there.
I2_REML_ATOL = 1e-4
#: RevMan computes P values by an approximation: the same Chi² (85.893497, df 14) is
#: stored with P = 2.250977e-12 in analysis 1.1 and 2.250311e-12 in analysis 1.2 of the
#: sore-throat review. P values are compared to an absolute 1e-6 (their relative error,
#: up to 5e-7 for P near 0.25, is printed too).
P_ATOL = 1e-6


def _reviews():
    return {f: read_revman(FIXTURES / f) for f in FILES}


@pytest.fixture(scope="module")
def reviews():
    return _reviews()


def _pooled(result, random: bool) -> dict:
    m = result.random if random else result.common
    h = result.heterogeneity
    z = m.stat if random else m.z
    out = {"effect": m.estimate, "ci_lower": m.ci_lower, "ci_upper": m.ci_upper, "chi2": h.Q,
           "df": float(h.Q_df), "p_chi2": h.Q_p, "i2": h.I2,
           "tau2": (h.tau2 if random else 0.0), "z": None if z is None else abs(z), "p_z": m.p}
    if random and result.spec.ci == "hksj":
        # RevMan Web stores the HKSJ t as "Effect T", and as "Effect P" the P of the
        # Wald z test, not of that t (checked on every HKSJ analysis of CD016297)
        out["t"], out["z"] = out.pop("z"), None
    return out


def _single(result, random: bool = True, web: bool = False) -> dict:
    """RevMan's pooled row of an analysis or subgroup with one estimable study: the study
    itself, Chi² = 0 on 0 df, I² = 0, tau² = 0 (metasynth leaves heterogeneity undefined at
    k = 1), P(Chi²) = 1 (RevMan 5) or 0 (RevMan Web); RevMan Web stores the HKSJ t of one
    study as 0."""
    out = _pooled(result, random)
    out.update(chi2=0.0, df=0.0, p_chi2=1.0, i2=0.0, tau2=0.0)
    if web:
        out["p_chi2"] = None  # set from the stored Chi² by _values
    if "t" in out:
        out["t"] = 0.0
    return out


def _values(result, random: bool, web: bool = False, stored=None) -> dict:
    values = _single(result, random, web) if result.k == 1 else _pooled(result, random)
    if values["p_chi2"] is None:
        # RevMan Web's one-study Chi² is a rounding residue (0, or 1e-33) and its P is
        # P(χ²(0 df) > Chi²): 1 for an exact 0, else 0
        values["p_chi2"] = 1.0 if not stored.chi2 else 0.0
    if "t" in values:
        values["p_z"] = api.fitted(result, ci="wald").random.p
    return values


def _within_weight(group, study: str, random: bool) -> float:
    """A study's percent weight within its subgroup's own fit."""
    tau2 = (group.heterogeneity.tau2 or 0.0) if random else 0.0
    w = {x.label: 1 / (x.vi + tau2) for x in group.studies if x.included}
    return 100 * w[study] / sum(w.values())


def _no_result(a) -> bool:
    """RevMan Web's package of Fleiss 1993 stores 0 for every result of its SMD analysis
    (effect, CI, Chi², Z, P and each study's weight and CI): RevMan computed nothing."""
    s = a.stored
    return s.effect == 0 and s.ci_lower == 0 and s.ci_upper == 0 and s.p_z == 0


def _exhaustive_only(fname: str, a) -> bool:
    """CD016297's 53 dichotomous REML analyses (about 0.9 CPU-s) run with
    ``pytest -m exhaustive``; its continuous and generic ones in the default run."""
    return fname == "CD016297-analysis-data.zip" and a.dichotomous


def compare_all(reviews, only=None) -> tuple[list[dict], list[str]]:
    """Every stored number of every analysis (``only(fname, analysis)``: of those it
    selects) against metasynth's; returns the comparisons (each with its data type) and
    the stored values not compared (with why)."""
    rows, skipped = [], []

    def check(where, name, got, stored, fname, fmt, kind):
        if stored is None:
            return
        if got is None:
            skipped.append(f"{where} {name}: stored {stored!r}, metasynth has none")
            return
        atol, rtol = FILE_TOLERANCE.get(fname, TOLERANCE[fmt])
        if name.startswith("p_"):
            atol = max(atol, P_ATOL)
        elif name == "i2" and fname in FILE_TOLERANCE:
            atol = max(atol, I2_REML_ATOL)
        diff = abs(got - stored)
        rows.append({"where": where, "value": name, "got": got, "stored": stored, "diff": diff,
                     "rel": diff / abs(stored) if abs(stored) > 1e-3 else 0.0, "kind": kind,
                     "ok": diff <= atol + rtol * abs(stored), "p": name.startswith("p_")})

    def mark(where, value, ok, kind):
        rows.append({"where": where, "value": value, "got": 0, "stored": 0, "diff": 0.0,
                     "rel": 0.0, "ok": ok, "p": False, "kind": kind})

    for fname, review in reviews.items():
        fmt = review.format
        for a in review.analyses:
            if only is not None and not only(fname, a):
                continue
            where = f"{fname} {a.id}"
            kind = a.data_type
            if a.stored.estimable is False:
                with pytest.raises(DataError, match="no study can be pooled"):
                    api.pool_revman(a)
                mark(where, "not estimable", True, kind)
                continue
            if fmt == "data-package" and _no_result(a):
                skipped.append(f"{where}: RevMan stored 0 for every result")
                continue
            result = api.pool_revman(a)
            web = fmt == "data-package"
            for name, got in _values(result, a.random, web, a.stored).items():
                check(where, name, got, getattr(a.stored, name), fname, fmt, kind)
            by = api.pool_by(result, "subgroup") if a.subgroups else None
            groups = dict(by.groups) if by else {}
            # without overall estimates RevMan Web weighs each study within its subgroup
            within = bool(a.subgroups) and a.settings.get("Overall estimates") == "false"
            for row, s in zip(a.rows, result.studies):
                w = f"{where} {row.study}"
                if row.stored.estimable is False or (fmt != "rm5" and row.stored.weight == 0):
                    rows.append({"where": w, "value": "excluded", "got": float(s.included),
                                 "stored": 0.0, "diff": float(s.included), "rel": 0.0,
                                 "ok": not s.included, "p": False, "kind": kind})
                    continue
                weight = s.weight_random if a.random else s.weight_common
                if within:  # (pool_by's subgroup fits keep the overall weights, as RevMan 5)
                    weight = _within_weight(groups[row.subgroup], row.study, a.random)
                for name, got in (("effect", s.estimate), ("ci_lower", s.ci_lower),
                                  ("ci_upper", s.ci_upper), ("weight", weight),
                                  ("se", math.sqrt(s.vi)), ("var", s.vi)):
                    check(w, name, got, getattr(row.stored, name), fname, fmt, kind)
            if a.subgroups:
                for sub in a.subgroups:
                    w = f"{where} [{sub.name}]"
                    if sub.stored.estimable is False:
                        mark(w, "not estimable", sub.name not in groups, kind)
                        continue
                    for name, got in _values(groups[sub.name], a.random, web,
                                             sub.stored).items():
                        check(w, name, got, getattr(sub.stored, name), fname, fmt, kind)
                t = a.subgroup_test
                if t is not None and by.test is not None:
                    q, df, p, i2 = by.test.Q, by.test.df, by.test.p, by.test.I2
                    for name, got, stored in (("chi2", q, t.chi2), ("df", df, t.df),
                                              ("p_chi2", p, t.p), ("i2", i2, t.i2)):
                        check(f"{where} subgroup differences", name, float(got), stored, fname,
                              fmt, kind)
                elif t is not None:
                    skipped.append(f"{where} subgroup differences: {(t.chi2, t.df, t.p, t.i2)}")
    return rows, skipped


#: Stored values metasynth does not reproduce, and why. Analysis 4.3 has one estimable
#: subgroup (the other has no events): RevMan stores a test for subgroup differences of
#: Chi² = 0, df = 0, P = 1, I² = 0; metasynth reports no test with fewer than two pooled
#: subgroups. RevMan Web's data package of Fleiss 1993 stores zeros for its SMD analysis.
NOT_REPRODUCED = ["Fleiss1993.zip 1.2: RevMan stored 0 for every result",
                  "antibiotics-for-sore-throat.rm5 4.3 subgroup differences: (0.0, 0.0, 1.0, 0.0)"]


def _report(rows, skipped, capsys) -> list[dict]:
    """Print the worst difference per file and data type; the values compared."""
    values = [r for r in rows if r["value"] not in ("excluded", "not estimable")]
    with capsys.disabled():
        print(f"\nRevMan: {len(values)} stored values compared, {len(rows) - len(values)} "
              f"exclusions (not estimable) checked, {len(skipped)} not reproduced")
        for fname in FILES:
            for kind in DATA_TYPES:
                mine = [r for r in values if r["where"].startswith(fname + " ")
                        and r["kind"] == kind]
                est = [r for r in mine if not r["p"]]
                if not est:
                    continue
                worst = max(est, key=lambda r: r["diff"])
                worst_rel = max(est, key=lambda r: r["rel"])
                worst_p = max((r["diff"] for r in mine if r["p"]), default=None)
                print(f"  {fname} {kind}: {len(mine)} values; worst absolute {worst['diff']:.2g} "
                      f"({worst['where'][len(fname) + 1:]} {worst['value']}), relative "
                      f"{worst_rel['rel']:.2g} ({worst_rel['where'][len(fname) + 1:]} "
                      f"{worst_rel['value']})"
                      + ("" if worst_p is None else f"; P values: worst absolute {worst_p:.2g}"))
    return values


def test_every_stored_number_is_reproduced(reviews, capsys):
    rows, skipped = compare_all(reviews, only=lambda f, a: not _exhaustive_only(f, a))
    values = _report(rows, skipped, capsys)
    assert skipped == NOT_REPRODUCED
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad[:5]
    counts = {k: sum(r["kind"] == k for r in values) for k in DATA_TYPES}
    assert counts["dichotomous"] >= 1550 and counts["continuous"] >= 1350
    assert counts["generic inverse variance"] >= 390


@pytest.mark.exhaustive
def test_every_stored_number_of_the_revman_web_dichotomous_analyses(reviews, capsys):
    """CD016297's inverse-variance risk ratios (REML; Wald or HKSJ; subgroups)."""
    rows, skipped = compare_all(reviews, only=_exhaustive_only)
    values = _report(rows, skipped, capsys)
    assert skipped == []
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad[:5]
    assert len(values) >= 2700


def test_revman5_q_is_around_the_mantel_haenszel_estimate(reviews):
    """RevMan 5's heterogeneity Chi² of an MH analysis is Q around the MH estimate
    (metafor rma.mh's QE: 9.946056 for Fleiss 1993); metafor's rma Q (around the IV
    estimate) differs. het_q = "iv" gives metafor's."""
    a = reviews["Fleiss1993.rm5"].analysis("1.1")
    revman = api.pool_revman(a)
    assert revman.heterogeneity.Q == pytest.approx(9.946055983220074, rel=1e-12)
    assert revman.heterogeneity.Q == pytest.approx(revman.common.Q, rel=1e-14)
    iv = api.pool_revman(a, het_q="iv")  # 9.946053: here MH and IV estimates nearly agree
    assert abs(iv.heterogeneity.Q - 9.946055983220074) > 1e-6
    # random effects: the sore-throat review's tau² only follows from the MH Q
    b = reviews["antibiotics-for-sore-throat.rm5"].analysis("1.1")
    assert api.pool_revman(b).heterogeneity.tau2 == pytest.approx(b.stored.tau2, rel=1e-9)
    assert api.pool_revman(b, het_q="iv").heterogeneity.tau2 != pytest.approx(b.stored.tau2,
                                                                               rel=1e-3)


def test_continuous_analysis_in_three_formats(reviews):
    """The continuous analysis of the Fleiss file: its data agree in the three formats; the
    CSV export (an MD, fixed effect) pools to RevMan's numbers (compared in full above);
    the rm5 asks for an SMD and stored no result, the data package an SMD with zeros."""
    rm5 = reviews["Fleiss1993.rm5"].analysis("1.2")
    csv_ = reviews["Fleiss1993_CR.csv"].analysis("1.2")
    pkg = reviews["Fleiss1993.zip"].analysis("1.2")
    expected = {"Davis": (5.0, 4.7, 13, 6.5, 3.8, 13), "Florell": (4.9, 1.71, 30, 6.1, 2.3, 50),
                "Gruen": (22.5, 3.44, 35, 24.9, 10.65, 35), "Hart": (12.5, 1.47, 20, 12.3, 1.66, 20),
                "Wilson": (6.5, 0.76, 8, 7.38, 1.41, 8)}
    for a in (rm5, csv_, pkg):
        assert a.data_type == "continuous" and a.method in ("IV", None)
        got = {r.study: tuple(r.data[k] for k in ("mean_1", "sd_1", "total_1", "mean_2", "sd_2",
                                                   "total_2")) for r in a.rows}
        assert got == expected
    assert rm5.measure == "SMD" and rm5.stored.effect is None
    assert pkg.measure == "SMD" and pkg.stored.effect == 0.0
    assert csv_.measure == "MD" and not csv_.random
    md = api.pool_revman(csv_)
    assert (md.common.estimate, md.common.ci_lower, md.common.ci_upper) == pytest.approx(
        (-0.70938839, -1.25848502, -0.16029176), abs=1e-8)
    assert md.heterogeneity.Q == pytest.approx(5.66012379, abs=1e-8)
    # the rm5's SMD, pooled with RevMan's SMD (the revman5 preset) and with metafor's
    revman, metafor = api.pool_revman(rm5), api.pool_revman(rm5, smd="metafor")
    assert revman.spec.smd == "revman" and metafor.spec.smd == "metafor"
    assert revman.common.estimate != pytest.approx(metafor.common.estimate, rel=1e-4)


def test_revman_web_hksj_conventions(reviews):
    """What RevMan Web stores for an HKSJ analysis (CD016297 1.1, REML, 13 trials): the
    HKSJ CI and its t (Effect T), but as Effect P the P of the Wald z test; metasynth's
    HKSJ P is the t test's (as metafor's test = "knha")."""
    a = reviews["CD016297-analysis-data.zip"].analysis("1.1")
    assert a.settings["CI method"] == "HKSJ" and a.measure == "SMD"
    hksj = api.pool_revman(a)
    assert (hksj.spec.tau2, hksj.spec.ci, hksj.spec.smd) == ("REML", "hksj", "revman")
    assert abs(hksj.random.stat) == pytest.approx(a.stored.t, rel=1e-6)
    assert hksj.random.ci_lower == pytest.approx(a.stored.ci_lower, rel=1e-7)
    assert hksj.random.p == pytest.approx(3.4617e-4, rel=1e-3)  # t with 12 df
    wald = api.pool_revman(a, ci="wald")
    assert wald.random.p == pytest.approx(a.stored.p_z, rel=1e-4)
    # its test for subgroup differences weighs the subgroups by their HKSJ SEs
    assert hksj.spec.subgroup_se == "ci"
    test = api.pool_by(hksj, "subgroup").test
    assert test.Q == pytest.approx(a.subgroup_test.chi2, rel=1e-6)  # 9.586603
    wald_se = api.pool_by(api.pool_revman(a, subgroup_se="wald"), "subgroup").test
    assert wald_se.Q == pytest.approx(7.339813305834427, rel=1e-9)  # metafor's, R meta's


def test_study_ids_escapes_and_settings(reviews):
    a = reviews["Fleiss1993.rm5"].analysis("1.1")
    assert [r.study for r in a.rows] == ["MRC-1", "CDP", "MRC-2", "GASP", "PARIS", "AMIS", "ISIS-2"]
    assert a.rows[0].study_id == "STD-MRC_x002d_1"
    assert (a.method, a.random, a.measure, a.ci_total) == ("MH", False, "OR", 0.95)
    sore = reviews["antibiotics-for-sore-throat.rm5"]
    assert len(sore.analyses) == 21 and sum(len(x.rows) for x in sore.analyses) == 217
    assert sore.analysis("1.4").subgroups[0].name.startswith("Symptom of sore throat")
    with pytest.raises(DataError, match=r"no analysis '9.9' \(analyses: 1.1, 1.2"):
        sore.analysis("9.9")


def test_xml_entities_and_bad_files_are_refused(tmp_path):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<COCHRANE_REVIEW>&b;</COCHRANE_REVIEW>")
    with pytest.raises(DataError, match="DTD or entities") as err:
        read_rm5("bomb.rm5", bomb)
    assert str(err.value).startswith("bomb.rm5:1:")
    with pytest.raises(DataError, match=r"^x.rm5:2: not well-formed XML"):
        read_rm5("x.rm5", b"<COCHRANE_REVIEW>\n<A></B></COCHRANE_REVIEW>")
    text = (FIXTURES / "Fleiss1993.rm5").read_bytes().replace(b'EVENTS_1="49"', b'EVENTS_1="4x9"')
    bad = tmp_path / "bad.rm5"
    bad.write_bytes(text)
    with pytest.raises(DataError, match=r"bad.rm5:447: EVENTS_1 is not a number: '4x9'"):
        read_revman(bad)


def test_revman_files_go_through_the_bounded_reader(tmp_path):
    """A FIFO named like a RevMan file is refused at once (read_bounded), never opened."""
    import os

    for name in ("review.rm5", "package.zip"):
        os.mkfifo(tmp_path / name)
        with pytest.raises(DataError, match="named pipe"):
            read_revman(tmp_path / name)


def test_import_and_pool_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "imported"
    assert main(["import", str(FIXTURES / "Fleiss1993.rm5"), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["analyses.csv", "analysis-1.1.csv",
                                                     "analysis-1.2.csv"]
    first = (out / "analysis-1.1.csv").read_text().splitlines()
    assert first[0] == ("study,treatment_events,treatment_total,control_events,control_total,"
                        "subgroup,year,source")
    assert first[1].startswith("MRC-1,49,615,67,624,,1974,")
    assert "Fleiss1993.rm5, analysis 1.1" in first[1]
    capsys.readouterr()
    # the imported CSV pools to RevMan's numbers too
    assert main(["pool", str(out / "analysis-1.1.csv"), "--preset", "revman5", "--measure", "OR",
                 "--format", "json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["common"]["estimate"] == pytest.approx(0.8968655609130709, rel=1e-12)
    assert doc["heterogeneity"]["Q"] == pytest.approx(9.946055983220074, rel=1e-12)
    assert any("Fleiss1993.rm5, analysis 1.1" in n for n in doc["notes"])
    assert main(["pool", str(FIXTURES / "antibiotics-for-sore-throat.rm5"), "--analysis", "1.2",
                 "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["overall"]["random"]["estimate"] == pytest.approx(0.6837765472337998, rel=1e-9)
    assert doc["test_for_subgroup_differences"]["Q"] == pytest.approx(1.3050116683610775, rel=1e-9)
    figure = tmp_path / "forest.svg"
    assert main(["forest", str(FIXTURES / "Fleiss1993.rm5"), "--analysis", "1.1", "-o",
                 str(figure)]) == 0
    svg = figure.read_text()
    assert "ISIS-2" in svg and "Aspirin" in svg  # RevMan's study names and group labels


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["pool", str(FIXTURES / "antibiotics-for-sore-throat.rm5")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--analysis" in err and "1.1, 1.2" in err
    assert main(["pool", str(FIXTURES / "Fleiss1993.rm5"), "--analysis", "9.9"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Fleiss1993.rm5" in err and "no analysis '9.9'" in err
    bad = tmp_path / "bad.rm5"
    bad.write_text("<COCHRANE_REVIEW>\n<oops></COCHRANE_REVIEW>")
    assert main(["import", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"{bad}:2: not well-formed XML")
    with pytest.raises(SystemExit) as exit_:
        main(["import", str(FIXTURES / "Fleiss1993.rm5"), "--format", "nope"])
    assert exit_.value.code == 2


def test_export_revman_writes_each_data_type(tmp_path):
    """RevMan's data rows carry each data type's own inputs: means and SDs, or the log
    estimate and its SE; read back, they pool to the same numbers."""
    for source, analysis, measure in (("CD016297-analysis-data.zip", "1.1", "SMD"),
                                      ("synthetic-package/synthetic-data-rows.csv", "1.2", "HR")):
        path = tmp_path / f"export-{analysis}.csv"
        assert main(["export", str(FIXTURES / source), "--analysis", analysis, "--revman",
                     "-o", str(path)]) == 0
        back = read_revman(path).analyses[0]
        original = read_revman(FIXTURES / source).analysis(analysis)
        keys = ("mean_1", "sd_1", "total_1", "mean_2", "sd_2", "total_2") if measure == "SMD" \
            else ("giv_effect", "giv_se")
        for a, b in zip(back.rows, original.rows, strict=True):
            assert [a.data[k] for k in keys] == pytest.approx([b.data[k] for k in keys],
                                                              rel=1e-14)


def test_export_revman_round_trip(tmp_path, capsys):
    path = tmp_path / "export.csv"
    assert main(["export", str(FIXTURES / "Fleiss1993.rm5"), "--analysis", "1.1", "--revman",
                 "-o", str(path)]) == 0
    back = read_revman(path).analyses[0]
    assert [r.study for r in back.rows] == ["MRC-1", "CDP", "MRC-2", "GASP", "PARIS", "AMIS",
                                            "ISIS-2"]
    assert back.rows[-1].data == {"events_1": 1570.0, "total_1": 8587.0, "events_2": 1720.0,
                                  "total_2": 8600.0, "mean_1": None, "sd_1": None,
                                  "mean_2": None, "sd_2": None, "o_e": None, "var": None,
                                  "giv_effect": None, "giv_se": None}
    assert back.rows[-1].stored.effect == pytest.approx(0.8949693601254097, abs=1e-6)


R_CASES = [
    ("Fleiss1993.rm5", "1.1", []),  # MH OR, Q around MH (RevMan 5)
    ("antibiotics-for-sore-throat.rm5", "4.3", []),  # MH RR, zero cells, DL from the MH Q
    ("antibiotics-for-sore-throat.rm5", "1.1", ["--tau2", "REML", "--ci", "hksj",
                                                "--common-method", "IV"]),
    ("antibiotics-for-sore-throat.rm5", "4.3", ["--measure", "OR", "--common-method", "Peto",
                                                "--tau2", "PM", "--ci", "hksj-adhoc"]),
    ("antibiotics-for-sore-throat.rm5", "1.1", ["--measure", "RD", "--no-mh-correction",
                                                "--het-q", "iv", "--level", "0.9"]),
    ("../data/double_zero.csv", None, []),  # metasynth's defaults: REML, HKSJ, raw-count MH
    ("../data/bcg.csv", None, ["--measure", "OR", "--to", "all", "--tau2", "SJ"]),
    # the other data types: RevMan's SMD under REML and HKSJ, O - E and V by Peto, ROM
    ("CD016297-analysis-data.zip", "1.1", []),
    ("synthetic-package/synthetic-data-rows.csv", "1.1", []),
    ("../metafor-continuous/normand1999.csv", None, ["--measure", "ROM", "--tau2", "PM",
                                                     "--ci", "hksj-adhoc"]),
]
#: more, in the exhaustive run: generic inverse variance (MD; log HR with SEs), a
#: fixed-effect MD, metafor's SMD
R_CASES_MORE = [
    ("CD016297-analysis-data.zip", "1.6", []),
    ("Fleiss1993_CR.csv", "1.2", []),
    ("synthetic-package/synthetic-data-rows.csv", "1.2", ["--tau2", "REML"]),
    ("../metafor-continuous/normand1999.csv", None, ["--measure", "SMD"]),
]


def _args(fname, analysis, flags):
    return [str(FIXTURES / fname), *(["--analysis", analysis] if analysis else []), *flags]


@pytest.fixture(scope="module")
def r_runs(tmp_path_factory):
    """Each case's exported script, all run in one R session (metafor loads once):
    the lines each printed, by case."""
    return _run_r(tmp_path_factory, R_CASES)


@pytest.fixture(scope="module")
def r_runs_more(tmp_path_factory):
    return _run_r(tmp_path_factory, R_CASES_MORE)


def _run_r(tmp_path_factory, cases):
    folder = tmp_path_factory.mktemp("r")
    scripts = []
    for n, (fname, analysis, flags) in enumerate(cases):
        script = folder / f"case{n}.R"
        assert main(["export", *_args(fname, analysis, flags), "--r", "-o", str(script)]) == 0
        scripts.append(script)
    driver = folder / "all.R"
    driver.write_text("".join(f'cat("=== case{n}\\n"); source("{s}")\n'
                              for n, s in enumerate(scripts)))
    run = subprocess.run(["Rscript", str(driver)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out, case = {}, None
    for line in run.stdout.splitlines():
        if line.startswith("=== case"):
            case = int(line[8:])
            out[case] = {}
        elif line.split()[:1] in (["common"], ["random"], ["tau2"]):
            out[case][line.split()[0]] = [float(x) for x in line.split()[1:]]
    return out


NO_R = pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")


def _check_r(printed, fname, analysis, flags, capsys):
    """metafor, run on the exported script, prints metasynth's common and random-effects
    estimates and CIs and tau² (to 1e-6 relative)."""
    capsys.readouterr()
    assert main(["pool", *_args(fname, analysis, flags), "--format", "json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    doc = doc.get("overall", doc)  # an analysis with subgroups pools them too
    for model in ("common", "random"):
        m = doc[model]
        assert printed[model] == pytest.approx([m["estimate"], m["ci_lower"], m["ci_upper"]],
                                               rel=1e-6, abs=1e-12)
    assert printed["tau2"][0] == pytest.approx(doc["heterogeneity"]["tau2"], rel=1e-6, abs=1e-10)


@NO_R
@pytest.mark.parametrize("case", range(len(R_CASES)))
def test_export_r_script_reproduces_the_estimates(r_runs, capsys, case):
    _check_r(r_runs[case], *R_CASES[case], capsys)


@NO_R
@pytest.mark.exhaustive
@pytest.mark.parametrize("case", range(len(R_CASES_MORE)))
def test_export_r_script_of_more_data_types(r_runs_more, capsys, case):
    _check_r(r_runs_more[case], *R_CASES_MORE[case], capsys)


def _giv_rm5(effect_sizes: list[float]) -> bytes:
    """A minimal synthetic .rm5 with one generic inverse-variance HR analysis: the log HRs
    and SEs of giv_hr.csv (s1-s4), EFFECT_SIZE as given, the 95% CI on the ratio scale."""
    lhr, se = [-0.35, -0.12, 0.08, -0.51], [0.21, 0.15, 0.30, 0.26]
    z = 1.959963984540054
    rows = "".join(
        f'<IV_DATA STUDY_ID="STD-s{i + 1}" EFFECT_SIZE="{e!r}" SE="{s!r}" '
        f'CI_START="{math.exp(y - z * s)!r}" CI_END="{math.exp(y + z * s)!r}" TOTAL_1="50" '
        f'TOTAL_2="50"/>' for i, (e, y, s) in enumerate(zip(effect_sizes, lhr, se)))
    return (f'<?xml version="1.0" encoding="ISO-8859-1"?><COCHRANE_REVIEW><ANALYSES_AND_DATA>'
            f'<COMPARISON NO="1"><NAME>Synthetic</NAME><IV_OUTCOME NO="1" EFFECT_MEASURE="HR" '
            f'METHOD="IV" RANDOM="YES" CI_STUDY="95" CI_TOTAL="95"><NAME>Death</NAME>{rows}'
            f'</IV_OUTCOME></COMPARISON></ANALYSES_AND_DATA></COCHRANE_REVIEW>').encode()


def test_rm5_generic_ratio_scale_is_told_by_its_ci():
    """A ratio's EFFECT_SIZE in an .rm5 IV_DATA row is taken as the ratio (as R meta's
    read.rm5 logs it) or, where the stored CI says so, as its log: either way the same
    log HRs; a row that fits neither is refused. (No real .rm5 with ratio generic
    inverse-variance data was found: this pins the rule on synthetic rows.)"""
    lhr = [-0.35, -0.12, 0.08, -0.51]
    for given in ([math.exp(y) for y in lhr], lhr):
        a = read_rm5("giv.rm5", _giv_rm5(given)).analysis("1.1")
        assert [r.data["giv_effect"] for r in a.rows] == pytest.approx(lhr, abs=1e-14)
        res = api.pool_revman(a)
        assert [s.yi for s in res.studies] == pytest.approx(lhr, abs=1e-14)
    with pytest.raises(DataError, match="neither as a ratio nor as its log"):
        read_rm5("giv.rm5", _giv_rm5([0.9, 0.9, 0.9, 0.9]))
