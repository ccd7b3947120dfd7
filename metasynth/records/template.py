"""`metasynth new ID`: a blank, commented record from the template."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from metasynth.errors import DataError, UsageError
from metasynth.records.schema import ID_RE


def template_text(study_id: str) -> str:
    text = resources.files("metasynth.records").joinpath("record-template.yaml").read_text("utf-8")
    return text.replace("__ID__", study_id)


def new_record(study_id: str, folder: str | Path = "studies", text: str | None = None) -> Path:
    """Write ``folder/<study_id>.yaml`` (the blank template, or ``text``); never overwrite."""
    if not ID_RE.match(study_id):
        raise UsageError(f"id {study_id!r} must be firstauthorYEAR in lower case ASCII "
                         "(e.g. monsel2022)")
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a folder (create it, or pass --dir)", str(folder))
    path = folder / f"{study_id}.yaml"
    if path.exists():
        raise DataError("a record with this id already exists; edit it instead", str(path))
    from metasynth.outputs import write_text

    return write_text(path, text if text is not None else template_text(study_id))
