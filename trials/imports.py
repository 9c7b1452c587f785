"""Bulk CSV import per form, with the exports' variable names and the models' own rules.

A dry run reports every problem as (row, field, value, rule); the commit runs the same checks
and saves everything in one transaction or nothing, audited with the reason "import <file name>".
Rows refer to their patient by `screening_number`, as the exports do.
"""

import csv
import io
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from trials import access
from trials.audit import change_context
from trials.exports import _fields
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    QolAssessment,
    TumourResponse,
)
from trials.models.base import IMPORT_MAX_BYTES

IMPORTABLE = {
    "pain": PainAssessment,
    "qol": QolAssessment,
    "infusion": Infusion,
    "lab_draw": LabDraw,
    "lab_result": LabResult,
    "response": TumourResponse,
    "adverse_event": AdverseEvent,
    "end_of_study": EndOfStudy,
}
MAX_BYTES = IMPORT_MAX_BYTES


@dataclass(frozen=True)
class Problem:
    row: int  # 1 = the first data row; 0 = the file itself
    field: str
    value: str
    rule: str


def too_big(size: int) -> Problem:
    return Problem(0, "file", f"{size} bytes", f"larger than {MAX_BYTES // 1024 // 1024} MB")


def expected_columns(form: str) -> list[str]:
    columns = ["screening_number"] + (["timepoint"] if form == "lab_result" else [])
    return columns + [field.name for field in _fields(IMPORTABLE[form], identifiable=False)]


def check(user, form: str, content: bytes, progress=None) -> tuple[list, list[Problem]]:
    """Parse and validate every row; returns the unsaved records and the problems found."""
    if form not in IMPORTABLE:
        return [], [Problem(0, "form", form, f"not an importable form ({', '.join(IMPORTABLE)})")]
    if len(content) > MAX_BYTES:
        return [], [too_big(len(content))]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(0, "file", "", "not UTF-8 text (save the sheet as CSV UTF-8)")]
    reader = csv.DictReader(io.StringIO(text))
    allowed = set(expected_columns(form))
    unknown = [name for name in reader.fieldnames or [] if name not in allowed]
    if unknown or "screening_number" not in (reader.fieldnames or []):
        return [], [Problem(0, "columns", ", ".join(unknown) or "(none)",
                            f"the columns must be among: {', '.join(expected_columns(form))}")]  # fmt: skip
    model = IMPORTABLE[form]
    fields = {field.name: field for field in _fields(model, identifiable=False)}
    patients = {p.screening_number: p for p in access.patients_for_user(user)}
    records, problems, seen = [], [], set()
    rows = list(reader)
    for number, row in enumerate(rows, start=1):
        if progress and number % 200 == 0:
            progress(int(90 * number / len(rows)))
        patient = patients.get(row.get("screening_number", ""))
        if patient is None:
            problems.append(Problem(number, "screening_number", row.get("screening_number", ""),
                                    "no such patient at your sites"))  # fmt: skip
            continue
        record = model()
        row_problems = []
        for name, raw in row.items():
            if name not in fields:
                continue
            field = fields[name]
            if raw and "\x00" in raw:  # PostgreSQL cannot store it: the whole commit would fail
                row_problems.append(Problem(number, name, raw.replace("\x00", "\\x00"), "contains a NUL character"))
                continue
            try:
                value = field.to_python(raw) if raw not in ("", None) else (None if field.null else "")
                if value is None and not field.null and field.has_default():
                    value = field.get_default()
                setattr(record, name, value)
            except ValidationError as error:
                row_problems.append(Problem(number, name, raw, " ".join(error.messages)))
        if form == "lab_result":
            record.lab_draw = LabDraw.objects.filter(patient=patient, timepoint=row.get("timepoint")).first()
            if record.lab_draw is None:
                rule = "no lab draw of this patient at this timepoint (import lab_draw first)"
                row_problems.append(Problem(number, "timepoint", row.get("timepoint", ""), rule))
        else:
            record.patient = patient
        if not row_problems:
            try:
                record.full_clean(exclude=["version"])
            except ValidationError as error:
                for name, messages in error.message_dict.items():
                    raw = row.get(name, "")
                    row_problems.extend(Problem(number, name, raw, message) for message in messages)
        key = _natural_key(form, record, patient)
        if key in seen:
            row_problems.append(Problem(number, "row", "", "the same record appears twice in the file"))
        seen.add(key)
        problems.extend(row_problems)
        records.append(record)
    return records, problems


def _natural_key(form, record, patient):
    if form == "lab_result":
        return (patient.pk, getattr(record.lab_draw, "timepoint", None), record.analyte)
    for name in ("timepoint", "cycle"):
        if hasattr(record, name):
            return (patient.pk, getattr(record, name))
    if form == "adverse_event":
        return (patient.pk, record.term, record.onset_on, record.other_term)
    return (patient.pk,)


def commit(user, form: str, content: bytes, file_name: str, progress=None) -> tuple[int, list[Problem]]:
    """All rows or none. Returns (rows saved, problems)."""
    records, problems = check(user, form, content, progress=progress)
    if problems:
        return 0, problems
    try:
        with transaction.atomic(), change_context(user=user, reason=f"import {file_name}"):
            for record in records:
                record.save()
    except IntegrityError as error:  # a lock, a freeze, or a record created meanwhile
        return 0, [Problem(0, "database", "", str(error).splitlines()[0])]
    return len(records), []
