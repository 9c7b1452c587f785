"""Importing whole cases: patients, eligibility screenings, and PVP procedures with their levels.

The decisions (docs/import.md explains them to users):
- A patient row is linked to the other files by `screening_number`, the key every export uses. The
  same person must not be registered twice at a site, so `hospital_number` is the duplicate guard
  within a site. Numbers in the file are kept (so the other files still match) when they follow the
  site's pattern, and the site's counters move past them; a blank screening number gets the next one.
- A user imports only into their own sites. Patient rows carry date of birth, hospital number and
  initials, which only an identifiable export holds: a de-identified file is refused by its columns.
- An electronic signature is a personal act with a password and cannot be imported. A screening is
  either imported unsigned (a coordinator then reviews and e-signs it in the application), or, when
  it was signed on paper, a coordinator may import it as a *transcribed* signature: the printed name
  and time of the paper signature, a meaning that says it was transcribed, the importing coordinator
  as the accountable person (`signed_by`) and the audit reason "import <file name>".
- A PVP procedure comes with its levels (a second file, pvp_level.csv, as the exports write them);
  procedures and levels are saved in one transaction, or nothing is.
"""

import re
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from trials import access, rules
from trials.enrolment import SIGNATURE_MEANING
from trials.exports.variables import export_fields
from trials.import_rows import Problem, clean_problems, read_rows, set_values
from trials.models import Patient, Site, TreatedLevel
from trials.roles import COORDINATOR, has_role
from trials.services import enrol_patient

PATIENT_REQUIRED = ["sex", "date_of_birth", "hospital_number", "initials", "isotype"]
# Written by the exports, recomputed by the application: checked against the data when filled in.
PATIENT_DERIVED = ["age_at_enrolment", "fractured_count", "fracture_region"]
TRANSCRIBED = "Paper signature transcribed at import (not an electronic signature): "
LEVEL_PREFIX = "pvp_level."


def patient_columns() -> list[str]:
    return [field.name for field in export_fields(Patient, identifiable=True)] + ["site", *PATIENT_DERIVED]


def level_columns() -> list[str]:
    return ["screening_number"] + [field.name for field in export_fields(TreatedLevel, identifiable=False)]


# ---------------------------------------------------------------------------------------------
# Patients


def check_patients(user, rows: list[dict], progress=None) -> tuple[list[Patient], list[Problem]]:
    sites = {site.code: site for site in access.sites_for_user(user)}
    fields = {field.name: field for field in export_fields(Patient, identifiable=True)}
    # What the database already holds, read once: numbers are unique study-wide, hospital numbers per site.
    numbers = {row.get(name, "").strip() for row in rows for name in ("screening_number", "study_id")} - {""}
    taken = set(Patient.objects.filter(screening_number__in=numbers).values_list("screening_number", flat=True))
    taken |= set(Patient.objects.filter(study_id__in=numbers).values_list("study_id", flat=True))
    at_sites = Patient.objects.filter(site__in=sites.values())
    registered = {
        (site_id, hospital_number): screening_number
        for site_id, hospital_number, screening_number in at_sites.values_list(
            "site_id", "hospital_number", "screening_number"
        )
    }
    records, problems, numbers_in_file, hospital_numbers_in_file = [], [], set(), set()
    for number, row in enumerate(rows, start=1):
        if progress and number % 200 == 0:
            progress(int(90 * number / len(rows)))
        code = row.get("site", "").strip()
        site = sites.get(code) or (next(iter(sites.values())) if not code and len(sites) == 1 else None)
        if site is None:
            rule = f"not one of your sites ({', '.join(sites) or 'none'})"
            problems.append(Problem(number, "site", code, rule))
            continue
        record = Patient(site=site)
        parse_problems = set_values(record, fields, row, number)
        checks = _patient_key_problems(record, row, number, taken, numbers_in_file)
        hospital_key = (site.pk, record.hospital_number)
        if record.hospital_number and hospital_key in registered:
            rule = f"a patient with this hospital number is already registered at {site.code}"
            checks.append(Problem(number, "hospital_number", record.hospital_number,
                                  f"{rule} ({registered[hospital_key]})"))  # fmt: skip
        elif record.hospital_number and hospital_key in hospital_numbers_in_file:
            rule = "the same hospital number appears twice in the file (one patient, one registration)"
            checks.append(Problem(number, "hospital_number", record.hospital_number, rule))
        hospital_numbers_in_file.add(hospital_key)
        if not parse_problems:
            exclude = ["version", "screening_number", "study_id"]  # checked above, with the site's pattern
            checks += clean_problems(record, row, number, exclude=exclude)
        if not parse_problems and not checks:
            checks = _derived_problems(record, row, number)
        # A cell that could not be read is reported once, not again by the rules that use it.
        unreadable = {problem.field for problem in parse_problems}
        row_problems = parse_problems + [problem for problem in checks if problem.field not in unreadable]
        problems.extend(row_problems)
        records.append(record)
    return records, problems


def _patient_key_problems(record: Patient, row: dict, number: int, taken: set, in_file: set) -> list[Problem]:
    """Screening number and study ID: the site's pattern, unused, and a study ID only with its date."""
    problems = []
    code = re.escape(record.site.code)
    for name, pattern, shape in (("screening_number", rf"^{code}-S\d{{3,}}$", f"{record.site.code}-S001"),
                                 ("study_id", rf"^{code}-\d{{3,}}$", f"{record.site.code}-001")):  # fmt: skip
        value = getattr(record, name) or ""
        if not value:
            continue
        if not re.match(pattern, value):
            problems.append(Problem(number, name, value, f"must follow the site's pattern, e.g. {shape}"))
        elif value in taken or value in in_file:
            problems.append(Problem(number, name, value, "already used: imports add patients, they never overwrite"))
        in_file.add(value)
    if bool(record.study_id) != (record.enrolled_on is not None):
        rule = "a study ID and its enrolment date come together (both filled in, or both empty)"
        problems.append(Problem(number, "enrolled_on", row.get("enrolled_on", ""), rule))
    elif record.enrolled_on is not None:
        errors = rules.date_errors(record, None, ["enrolled_on"]) | rules.not_before(
            record, "enrolled_on", "date_of_birth"
        )
        problems += [Problem(number, "enrolled_on", row.get("enrolled_on", ""), str(errors[name])) for name in errors]
    levels = record.fractured_levels or []
    if len(set(levels)) != len(levels):
        rule = "a level is listed twice (each fractured vertebra once)"
        problems.append(Problem(number, "fractured_levels", row.get("fractured_levels", ""), rule))
    return problems


def _derived_problems(record: Patient, row: dict, number: int) -> list[Problem]:
    """Derived columns are not imported; a filled-in value that disagrees with the data is reported."""
    problems = []
    age = row.get("age_at_enrolment", "").strip()
    if age:
        try:
            agrees = record.age_at_enrolment is not None and Decimal(age) == record.age_at_enrolment
        except InvalidOperation:
            agrees = False
        if not agrees:
            rule = f"derived from date of birth and enrolment date: {record.age_at_enrolment}"
            problems.append(Problem(number, "age_at_enrolment", age, rule))
    count = row.get("fractured_count", "").strip()
    if count and count != str(record.fractured_count):
        rule = f"derived from the fractured levels: {record.fractured_count}"
        problems.append(Problem(number, "fractured_count", count, rule))
    region = row.get("fracture_region", "").strip()
    if region and region != (record.fracture_region or ""):
        rule = f"derived from the fractured levels: {record.fracture_region or '(none)'}"
        problems.append(Problem(number, "fracture_region", region, rule))
    return problems


def save_patient(record: Patient) -> None:
    # The site row is locked (as in services.register_patient) so that numbers given in the file and
    # numbers assigned meanwhile can never collide: the counters move past every number in use.
    site = Site.objects.select_for_update().get(pk=record.site_id)
    if record.screening_number:
        site.last_screening_number = max(site.last_screening_number, _serial(record.screening_number))
    else:
        site.last_screening_number += 1
        record.screening_number = f"{site.code}-S{site.last_screening_number:03d}"
    if record.study_id:
        site.last_study_number = max(site.last_study_number, _serial(record.study_id))
    site.save(update_fields=["last_screening_number", "last_study_number"])
    record.save()


def _serial(number: str) -> int:
    return int(re.findall(r"\d+$", number)[0])


# ---------------------------------------------------------------------------------------------
# Screenings: the eligibility checklist, and a signature only as a transcribed paper signature


def screening_problems(user, record, row: dict, number: int) -> list[Problem]:
    """Rules beyond the model's: enrolment after screening, and what a transcribed signature needs.

    Completes a valid transcribed signature on the unsaved record (signer and meaning).
    """
    problems = []
    patient = record.patient
    if patient.enrolled_on and record.screened_on and patient.enrolled_on < record.screened_on:
        rule = f"the patient was enrolled on {patient.enrolled_on}: the screening cannot come after the enrolment"
        problems.append(Problem(number, "screened_on", row.get("screened_on", ""), rule))
    raw = row.get("signed_at", "")
    if record.signed_at is None and not record.signed_name:
        if record.signature_meaning:
            problems.append(Problem(number, "signature_meaning", record.signature_meaning, "no signature to explain"))
        return problems
    if not has_role(user, COORDINATOR):
        rule = ("only a coordinator may import a signature (transcribed from the paper form); "
                "leave signed_at and signed_name empty and a coordinator e-signs in the application")  # fmt: skip
        return problems + [Problem(number, "signed_at", raw, rule)]
    if record.signed_at is None or not record.signed_name:
        rule = "a paper signature needs both the time (signed_at) and the signer's printed name (signed_name)"
        return problems + [Problem(number, "signed_at" if record.signed_at is None else "signed_name", raw, rule)]
    signed_on = timezone.localdate(record.signed_at)
    if record.signed_at > timezone.now():
        problems.append(Problem(number, "signed_at", raw, "is in the future"))
    elif record.screened_on and signed_on < record.screened_on:
        rule = f"the signature cannot precede the screening ({record.screened_on})"
        problems.append(Problem(number, "signed_at", raw, rule))
    if record.eligible is None:
        rule = "the screening is incomplete (an answer is 'unknown' or missing): it cannot carry a signature"
        problems.append(Problem(number, "signed_at", raw, rule))
    elif record.eligible is False and patient.is_enrolled:
        rule = f"{patient.study_id} is enrolled: an ineligible screening cannot be signed for them"
        problems.append(Problem(number, "signed_at", raw, rule))
    # The importing coordinator answers for the transcription; the meaning says what it is, so no
    # page, casebook or export can pass it off as an electronic signature made in this system.
    record.signed_by = user
    meaning = record.signature_meaning or SIGNATURE_MEANING
    record.signature_meaning = meaning if meaning.startswith(TRANSCRIBED) else (TRANSCRIBED + meaning)[:300]
    return problems


def save_screening(record) -> None:
    record.save()
    if record.is_signed and record.eligible is True and not record.patient.is_enrolled:
        # As in enrolment.sign_screening: the screening visit dates the enrolment. A study ID given
        # in the patient file was kept there, so enrol_patient leaves such patients as they are.
        enrol_patient(record.patient, enrolled_on=record.screened_on)


# ---------------------------------------------------------------------------------------------
# PVP procedures with their levels (a second file)


def check_levels(procedures: dict, content: bytes | None) -> list[Problem]:
    """Attach each level row to its procedure in `procedures` ({screening_number: (procedure, row)}).

    The levels are kept on the unsaved procedure as `imported_levels` for `save_procedure`.
    """
    if content is None:
        rule = "add the PVP levels file (pvp_level.csv): a procedure is imported with its levels or not at all"
        return [Problem(0, LEVEL_PREFIX + "file", "", rule)]
    rows, problems = read_rows(content, level_columns(), ["screening_number", "level", "cement_ml"],
                               prefix=LEVEL_PREFIX)  # fmt: skip
    fields = {field.name: field for field in export_fields(TreatedLevel, identifiable=False)}
    for procedure, _row in procedures.values():
        procedure.imported_levels = []
    seen = set()
    for number, row in enumerate(rows, start=1):
        key = row.get("screening_number", "").strip()
        if key not in procedures:
            rule = "no procedure for this patient in the procedure file"
            problems.append(Problem(number, LEVEL_PREFIX + "screening_number", key, rule))
            continue
        level = TreatedLevel()
        row_problems = set_values(level, fields, row, number, prefix=LEVEL_PREFIX)
        if not row_problems:
            row_problems = clean_problems(level, row, number, exclude=["procedure", "version"], prefix=LEVEL_PREFIX)
        if (key, level.level) in seen:
            rule = "the level is listed twice: each vertebra is treated once per procedure"
            row_problems.append(Problem(number, LEVEL_PREFIX + "level", level.level, rule))
        seen.add((key, level.level))
        problems.extend(row_problems)
        procedures[key][0].imported_levels.append(level)
    for key, (procedure, number) in procedures.items():
        if not procedure.imported_levels and not any(p.row == 0 for p in problems):
            rule = "no treated level in the levels file: a procedure needs at least one level with its cement volume"
            problems.append(Problem(number, "screening_number", key, rule))
    return problems


def save_procedure(record) -> None:
    record.save()
    for level in record.imported_levels:
        level.procedure = record
        level.save()
