"""The pull-request path, end to end on a temporary repository: `metasynth new` writes a
blank record, `validate` lists what is missing, a planted mistake is caught with its
line, the fix validates, and `metasynth diff` reports the changed pooled estimate."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import STUDIES

# What a contributor types into the blank template, field by field, in file order.
FILL = {
    "title": ['"A randomized trial of umbilical cord MSCs in COVID-19 ARDS"'],
    "first_author": ["Newman"],
    "year": ["2024"],
    "journal": ['"Test J"'],
    "doi": ['"10.1000/newman.2024"', '"10.1000/newman.2024"'],
    "citation": ['"Newman A, et al. Test J 2024"'],
    "randomization": ["randomized"],
    "blinding": ["double"],
    "control": ["placebo"],
    "condition": ['"COVID-19 ARDS"'],
    "ards_severity": ["moderate-to-severe"],
    "ventilation_at_baseline": ["invasive"],
    "product": ['"UC-MSC"'],
    "product_type": ["cells"],
    "tissue_source": ["umbilical-cord"],
    "dose": ['"1 x 10^6 cells/kg"'],
    "infusions": ["2"],
    "comparator": ['"saline placebo"'],
    "label": ['"UC-MSC"', '"Placebo"'],
    "randomized": ["60", "60"],
    "location": ['"Figure 1"', '"Figure 1"', '"Table 2"'],
    "quote": ['"60 patients were randomized to each group"'] * 2
    + ['"Death by day 28: 12/60 (20%) vs 24/60 (40%)"'],
    "timepoint_days": ["28"],
    "extracted_by": ['"test contributor"'],
    "extracted_on": ['"2026-11-26"'],
}
OPTIONAL_LEFT_BLANK = {"volume", "issue", "pages", "pmid", "url", "allocation_concealment",
                       "phase", "centres", "planned_sample_size", "stopped_early",
                       "stopped_reason", "notes", "age", "dose_per_kg", "schedule",
                       "analysed", "derived"}


def fill(template: str, events=(12, 24), totals=(60, 60)) -> str:
    queues = {k: list(v) for k, v in FILL.items()}
    out = []
    lines = template.splitlines()
    indent = [len(ln) - len(ln.lstrip(" -")) for ln in lines]
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*-?\s*)([a-z_]+):(\s*)(#.*)?$", line)
        nxt = next((j for j in range(i + 1, len(lines))
                    if lines[j].strip() and not lines[j].strip().startswith("#")), None)
        if m and nxt is not None and indent[nxt] > indent[i]:
            m = None  # a parent mapping such as `citation:`, not a blank value
        if m and m.group(2) in queues and queues[m.group(2)]:
            line = f"{m.group(1)}{m.group(2)}: {queues[m.group(2)].pop(0)}"
        elif m and m.group(2) in OPTIONAL_LEFT_BLANK:
            continue  # the contributor deletes optional fields they cannot fill
        out.append(line)
    text = "\n".join(out) + "\n"
    text = text.replace("countries: []", 'countries: ["Nowhere"]')
    text = text.replace("msc: {events: , total: }", f"msc: {{events: {events[0]}, total: {totals[0]}}}")
    text = text.replace("control: {events: , total: }",
                        f"control: {{events: {events[1]}, total: {totals[1]}}}")
    for d in ("D1", "D2", "D3", "D4", "D5", "overall"):
        text = text.replace(f"{d}: {{judgement: , support: }}",
                            f'{d}: {{judgement: low, support: "fine"}}')
    assert not [q for q in queues.values() if q], queues
    return text


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    repo = tmp_path / "repo"
    shutil.copytree(STUDIES, repo / "studies")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "corpus")
    git(repo, "checkout", "-q", "-b", "add-newman2024")
    return repo


def test_contribution_path_end_to_end(repo: Path, cli):
    # 1. a blank record from the template; validation lists what is missing, with lines
    proc = cli("new", "newman2024", "--dir", "studies", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    record = repo / "studies" / "newman2024.yaml"
    blank = record.read_text()
    assert "id: newman2024" in blank
    proc = cli("validate", "studies", cwd=repo)
    assert proc.returncode == 1
    assert re.search(r"studies/newman2024\.yaml:\d+: ", proc.stderr)
    assert cli("new", "newman2024", "--dir", "studies", cwd=repo).returncode == 1  # no overwrite

    # 2. filled in, with a planted mistake: 62 deaths among 60 patients
    record.write_text(fill(blank, events=(62, 24)))
    proc = cli("validate", "studies", cwd=repo)
    assert proc.returncode == 1
    line = next(i for i, ln in enumerate(record.read_text().splitlines(), 1) if "events: 62" in ln)
    assert f"studies/newman2024.yaml:{line}: events (62) exceed total (60) in arm 'msc'" in proc.stderr

    # 3. the fix validates
    record.write_text(fill(blank, events=(12, 24)))
    proc = cli("validate", "studies", cwd=repo)
    assert proc.returncode == 0, proc.stderr

    # 4. the diff a reviewer reads: the record is added and the pooled mortality moved
    proc = cli("diff", "--dir", "studies", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "Records added: newman2024" in proc.stdout
    row = next(ln for ln in proc.stdout.splitlines() if ln.startswith("| mortality |"))
    before, after, changed = [c.strip() for c in row.split("|")[2:5]]
    assert changed == "**yes**" and before != after
    k_before, k_after = (int(re.match(r"k=(\d+)", c).group(1)) for c in (before, after))
    assert k_after == k_before + 1
    # and as JSON, against an explicit revision
    proc = cli("diff", "main", "--dir", "studies", "--format", "json", cwd=repo)
    assert proc.returncode == 0 and '"added": [\n    "newman2024"' in proc.stdout


def test_diff_outside_git_is_a_usage_error(tmp_path: Path, cli):
    shutil.copytree(STUDIES, tmp_path / "studies")
    proc = cli("diff", "--dir", "studies", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "git" in proc.stderr


def test_new_rejects_a_bad_id(tmp_path: Path, cli):
    (tmp_path / "studies").mkdir()
    proc = cli("new", "Smith-2021", "--dir", "studies", cwd=tmp_path)
    assert proc.returncode == 2 and "firstauthorYEAR" in proc.stderr
