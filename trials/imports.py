"""Bulk CSV import per form, with the exports' variable names and the rules, roles and services of the pages.

A dry run (`check`) reports every problem as (row, field, value, rule); `commit` runs the same checks
and saves everything in one transaction or nothing, audited with the reason "import <file name>".
Rows refer to their patient by `screening_number`, as the exports do, so the forms are imported in
the order of FORMS. The calls go one way: here (who may import what, the file) -> `import_cases`
(each form's rows: model validation, services) -> `import_rows` (reading the file and its cells).
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from trials import import_cases
from trials.import_cases import LEVEL_PREFIX
from trials.import_rows import MAX_BYTES, Problem, read_rows, read_upload
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
    TreatedLevel,
    TumourResponse,
)
from trials.roles import CLINICIAN, COORDINATOR, has_role

__all__ = ["FORMS", "IMPORTABLE", "LEVELS", "LEVEL_PREFIX", "MAX_BYTES", "Problem", "check", "commit",
           "expected_columns", "forms_for", "read_upload", "refusal"]  # fmt: skip


@dataclass(frozen=True)
class ImportableForm:
    """A form that can be imported, and who may import it: exactly the roles that may enter it on its
    page (`views.common.can_enter_data`, `can_enter_screening`) and write it in the API (`write_roles`);
    tests/test_import_roles.py holds the three together."""

    name: str
    model: type[models.Model]
    roles: tuple[str, ...] = (CLINICIAN,)


# In the order the files must be imported: each form refers to records of the forms above it.
FORMS = (
    ImportableForm("patient", Patient),
    # Coordinators fill in the checklist on its page too; its signature is never imported.
    ImportableForm("screening", Screening, (CLINICIAN, COORDINATOR)),
    ImportableForm("pvp_procedure", PvpProcedure),
    ImportableForm("infusion", Infusion),
    ImportableForm("lab_draw", LabDraw),
    ImportableForm("lab_result", LabResult),
    ImportableForm("pain", PainAssessment),
    ImportableForm("qol", QolAssessment),
    ImportableForm("response", TumourResponse),
    ImportableForm("adverse_event", AdverseEvent),
    ImportableForm("end_of_study", EndOfStudy),
)
IMPORTABLE = {form.name: form for form in FORMS}
LEVELS = "pvp_level"  # the second file of the pvp_procedure form
ROLE_NAMES = {CLINICIAN: "clinicians", COORDINATOR: "coordinators"}


def refusal(user, form: str) -> Problem | None:
    """Why `user` may not import `form` (a problem naming the form and the rule), or None."""
    if form not in IMPORTABLE:
        return Problem(0, "form", form, f"not an importable form ({', '.join(IMPORTABLE)})")
    roles = IMPORTABLE[form].roles
    if not has_role(user, *roles):
        who = " and ".join(ROLE_NAMES[role] for role in roles)
        rule = (
            f"your role may not import this form: only {who} enter {form} on its page, and an import follows the page"
        )
        return Problem(0, "form", form, rule)
    return None


def forms_for(user) -> list[str]:
    """The forms `user` may import, in import order."""
    return [form.name for form in FORMS if has_role(user, *form.roles)]


def expected_columns(form: str) -> list[str]:
    return import_cases.columns(TreatedLevel if form == LEVELS else IMPORTABLE[form].model)


def check(user, form: str, content: bytes, progress=None, levels: bytes | None = None) -> tuple[list, list[Problem]]:
    """Parse and validate every row; returns the unsaved records and the problems found.

    `levels` is the PVP levels file, read with the pvp_procedure form only.
    """
    refused = refusal(user, form)
    if refused:
        return [], [refused]
    required = import_cases.PATIENT_REQUIRED if form == "patient" else ["screening_number"]
    rows, problems = read_rows(content, expected_columns(form), required)
    if problems and form == "patient" and problems[0].rule == "required columns are missing":
        # The usual cause: a de-identified export, which leaves the identifying columns out.
        rule = ("required columns are missing: patients need the identifiable export "
                "(date of birth, hospital number and initials)")  # fmt: skip
        problems = [Problem(0, "columns", problems[0].value, rule)]
    if problems:
        return [], problems
    problems = import_cases.never_imported_problems(IMPORTABLE[form].model, rows)
    if form == "patient":
        records, row_problems = import_cases.check_patients(user, rows, progress)
        return records, problems + row_problems
    records, row_problems = import_cases.check_forms(user, IMPORTABLE[form].model, rows, progress)
    if form == "pvp_procedure":
        records, level_problems = import_cases.check_levels(records, rows, levels)
        row_problems += level_problems
    return records, problems + row_problems


SAVE = {
    "patient": import_cases.save_patients,
    "pvp_procedure": import_cases.save_procedures,
    "lab_result": import_cases.save_lab_results,
}


def commit(
    user, form: str, content: bytes, file_name: str, progress=None, levels: bytes | None = None
) -> tuple[int, list[Problem]]:
    """All rows or none. Returns (rows saved, problems); a procedure counts as one row with its levels."""
    records, problems = check(user, form, content, progress=progress, levels=levels)
    if problems:
        return 0, problems
    save = SAVE.get(form, import_cases.save_forms)
    try:
        with transaction.atomic():
            save(records, user=user, reason=f"import {file_name}")
    except IntegrityError as error:  # a lock, a freeze, or a record created meanwhile
        return 0, [Problem(0, "database", "", str(error).splitlines()[0])]
    except ValidationError as error:  # a service's own check, e.g. a number taken meanwhile
        return 0, [Problem(0, "database", "", " ".join(error.messages))]
    return len(records), []
