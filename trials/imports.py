"""Bulk CSV import per form, with the exports' variable names and the models' own rules.

A dry run reports every problem as (row, field, value, rule); the commit runs the same checks
and saves everything in one transaction or nothing, audited with the reason "import <file name>".
Rows refer to their patient by `screening_number`, as the exports do, so the forms are imported
in the order of IMPORTABLE: patients, then screenings, then the treatment and follow-up forms.
Patients, screenings and PVP procedures have their own rules in `trials.import_cases`.
"""

from django.db import IntegrityError, transaction

from trials import access, import_cases
from trials.audit import change_context
from trials.exports.variables import export_fields
from trials.import_rows import MAX_BYTES, Problem, clean_problems, read_rows, set_values, too_big
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PvpProcedure,
    QolAssessment,
    Screening,
    TumourResponse,
)

__all__ = ["IMPORTABLE", "MAX_BYTES", "ORDER_NOTE", "Problem", "check", "commit", "expected_columns", "too_big"]

# In the order the files must be imported: each form refers to records of the forms above it.
IMPORTABLE = {
    "patient": Patient,
    "screening": Screening,
    "pvp_procedure": PvpProcedure,
    "infusion": Infusion,
    "lab_draw": LabDraw,
    "lab_result": LabResult,
    "pain": PainAssessment,
    "qol": QolAssessment,
    "response": TumourResponse,
    "adverse_event": AdverseEvent,
    "end_of_study": EndOfStudy,
}
ORDER_NOTE = (
    "Import the files in this order: patient, screening (a coordinator signs the screenings, or imports "
    "paper signatures), then pvp_procedure with its pvp_level file, infusion, lab_draw before lab_result, "
    "pain, qol, response, adverse_event, end_of_study."
)
LEVELS = "pvp_level"  # the second file of the pvp_procedure form


def expected_columns(form: str) -> list[str]:
    if form == "patient":
        return import_cases.patient_columns()
    if form == LEVELS:
        return import_cases.level_columns()
    columns = ["screening_number"] + (["timepoint"] if form == "lab_result" else [])
    return columns + [field.name for field in export_fields(IMPORTABLE[form], identifiable=False)]


def check(user, form: str, content: bytes, progress=None, levels: bytes | None = None) -> tuple[list, list[Problem]]:
    """Parse and validate every row; returns the unsaved records and the problems found.

    `levels` is the PVP levels file, read with the pvp_procedure form only.
    """
    if form not in IMPORTABLE:
        return [], [Problem(0, "form", form, f"not an importable form ({', '.join(IMPORTABLE)})")]
    required = import_cases.PATIENT_REQUIRED if form == "patient" else ["screening_number"]
    rows, problems = read_rows(content, expected_columns(form), required)
    if problems and form == "patient" and problems[0].rule == "required columns are missing":
        # The usual cause: a de-identified export, which leaves the identifying columns out.
        rule = ("required columns are missing: patients need the identifiable export "
                "(date of birth, hospital number and initials)")  # fmt: skip
        problems = [Problem(0, "columns", problems[0].value, rule)]
    if problems:
        return [], problems
    if form == "patient":
        return import_cases.check_patients(user, rows, progress)
    model = IMPORTABLE[form]
    fields = {field.name: field for field in export_fields(model, identifiable=False)}
    patients = {p.screening_number: p for p in access.patients_for_user(user).select_related("screening")}
    records, problems, seen, procedures = [], [], set(), {}
    for number, row in enumerate(rows, start=1):
        if progress and number % 200 == 0:
            progress(int(90 * number / len(rows)))
        key = row.get("screening_number", "").strip()
        patient = patients.get(key)
        if patient is None:
            rule = "no such patient at your sites (import the patient file first)"
            problems.append(Problem(number, "screening_number", key, rule))
            continue
        record = model()
        row_problems = set_values(record, fields, row, number)
        if form == "lab_result":
            record.lab_draw = LabDraw.objects.filter(patient=patient, timepoint=row.get("timepoint")).first()
            if record.lab_draw is None:
                rule = "no lab draw of this patient at this timepoint (import lab_draw first)"
                row_problems.append(Problem(number, "timepoint", row.get("timepoint", ""), rule))
        else:
            record.patient = patient
        if not row_problems and form == "screening":
            row_problems = import_cases.screening_problems(user, record, row, number)
        if not row_problems:
            row_problems = clean_problems(record, row, number, exclude=["version"])
        natural_key = _natural_key(form, record, patient)
        if natural_key in seen:
            row_problems.append(Problem(number, "row", "", "the same record appears twice in the file"))
        seen.add(natural_key)
        problems.extend(row_problems)
        records.append(record)
        if form == "pvp_procedure":
            procedures[key] = (record, number)
    if form == "pvp_procedure":
        problems += import_cases.check_levels(procedures, levels)
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


SAVE = {
    "patient": import_cases.save_patient,
    "screening": import_cases.save_screening,
    "pvp_procedure": import_cases.save_procedure,
}


def commit(
    user, form: str, content: bytes, file_name: str, progress=None, levels: bytes | None = None
) -> tuple[int, list[Problem]]:
    """All rows or none. Returns (rows saved, problems); a procedure counts as one row with its levels."""
    records, problems = check(user, form, content, progress=progress, levels=levels)
    if problems:
        return 0, problems
    save = SAVE.get(form, lambda record: record.save())
    try:
        with transaction.atomic(), change_context(user=user, reason=f"import {file_name}"):
            for record in records:
                save(record)
    except IntegrityError as error:  # a lock, a freeze, or a record created meanwhile
        return 0, [Problem(0, "database", "", str(error).splitlines()[0])]
    return len(records), []
