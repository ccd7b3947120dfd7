"""Load and validate a folder of trial records (``studies/*.yaml``).

``validate_studies`` collects every finding (schema, consistency, cross-record) without
raising; ``load_studies`` raises ``ValidationFailed`` when any is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from metasynth.errors import DataError, MetasynthError
from metasynth.records.checks import Finding, check_study
from metasynth.records.outcomes import REGISTRY_FILE, Registry, load_registry
from metasynth.records.schema import Study
from metasynth.records.yaml_source import YamlDocument, load_yaml

#: Files in a studies folder that are not trial records.
NOT_RECORDS = {REGISTRY_FILE, "analysis.yaml", "grade.yaml", "screening.yaml", "review.yaml"}


@dataclass(frozen=True)
class LoadedStudy:
    study: Study
    path: str
    doc: YamlDocument


@dataclass(frozen=True)
class StudySet:
    """Valid records (sorted by id), the outcome registry and all findings."""

    studies: tuple[LoadedStudy, ...]
    registry: Registry | None
    findings: tuple[Finding, ...]
    folder: str

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "warning")

    def __len__(self) -> int:
        return len(self.studies)

    def get(self, study_id: str) -> Study | None:
        return next((s.study for s in self.studies if s.study.id == study_id), None)


class ValidationFailed(MetasynthError):
    """Records have errors; ``findings`` holds every one."""

    def __init__(self, findings: tuple[Finding, ...]):
        self.findings = findings
        errors = [f for f in findings if f.level == "error"]
        super().__init__(str(errors[0]) if errors else "validation failed")


def record_files(folder: Path) -> list[Path]:
    """The record files of ``folder``: ``*.yaml`` and ``*.yml`` in any case (a record
    saved as ``x.YAML`` is reported, not silently left out)."""
    from metasynth.inputs import is_yaml_name

    files = sorted(f for f in folder.iterdir() if is_yaml_name(f.name))
    return [f for f in files if f.name.lower() not in NOT_RECORDS
            and not f.name.startswith(("_", "."))]


def validate_studies(path: str | Path) -> StudySet:
    """Read every record in ``path`` and return them with every finding."""
    from pydantic import ValidationError

    from metasynth.records.messages import schema_errors

    folder = Path(path)
    if not folder.is_dir():
        raise DataError("not a folder of study records", str(folder))
    findings: list[Finding] = []

    def add(err: DataError) -> None:
        findings.append(Finding("error", err.path or str(folder), err.line, err.message))

    registry = None
    try:
        registry = load_registry(folder / REGISTRY_FILE)
    except DataError as err:
        add(err)
    loaded: list[LoadedStudy] = []
    files = record_files(folder)
    if not files:
        add(DataError("no study records (*.yaml) found", str(folder)))
    for file in files:
        if file.suffix not in (".yaml", ".yml"):
            add(DataError(f"record file names end in lower-case .yaml: rename it to "
                          f"{file.stem}.yaml", str(file)))
            continue
        try:
            doc = load_yaml(file)
        except DataError as err:
            add(err)
            continue
        if not isinstance(doc.data, dict):
            add(DataError("a record must be a mapping of fields (start from `metasynth new ID`)",
                          doc.path, 1))
            continue
        try:
            study = Study.model_validate(doc.data)
        except ValidationError as err:
            for e in schema_errors(err, doc):
                add(e)
            continue
        problems = check_study(study, doc, registry, file.stem) if registry else []
        findings.extend(problems)
        if not any(p.level == "error" for p in problems):
            loaded.append(LoadedStudy(study, doc.path, doc))
    findings.extend(_cross_record(loaded))
    return StudySet(tuple(sorted(loaded, key=lambda s: s.study.id)), registry,
                    tuple(findings), str(folder))


def _cross_record(loaded: list[LoadedStudy]) -> list[Finding]:
    out: list[Finding] = []
    seen_id: dict[str, str] = {}
    seen_reg: dict[str, str] = {}
    seen_doi: dict[str, str] = {}
    for item in loaded:
        s, doc = item.study, item.doc
        if s.id in seen_id:
            out.append(Finding("error", item.path, doc.line_of(("id",)),
                               f"duplicate study id '{s.id}' (also {seen_id[s.id]})"))
        seen_id.setdefault(s.id, item.path)
        for i, reg in enumerate(s.registration):
            key = reg.strip().upper()
            if key in seen_reg:
                out.append(Finding("error", item.path, doc.line_of(("registration", i)),
                                   f"registration {reg} is already used by {seen_reg[key]} "
                                   "(one trial, one record: add this paper as a source there)"))
            seen_reg.setdefault(key, item.path)
        doi = s.citation.doi.lower()
        if doi in seen_doi:
            out.append(Finding("error", item.path, doc.line_of(("citation", "doi")),
                               f"DOI {s.citation.doi} is already cited by {seen_doi[doi]}"))
        seen_doi.setdefault(doi, item.path)
    return out


def load_studies(path: str | Path) -> StudySet:
    """Load the records in ``path``; raise ``ValidationFailed`` if any has an error."""
    studies = validate_studies(path)
    if studies.errors:
        raise ValidationFailed(studies.findings)
    return studies
