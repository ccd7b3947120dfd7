import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDIES = ROOT / "studies"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m metasynth ...` as a user would (separate process)."""
    return subprocess.run([sys.executable, "-m", "metasynth", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=120)


@pytest.fixture
def studies_dir(tmp_path: Path) -> Path:
    """An empty studies folder with the shipped outcome registry."""
    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(STUDIES / "outcomes.yaml", folder / "outcomes.yaml")
    return folder
