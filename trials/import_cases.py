"""The rows of each importable form: checked with the model's own rules, saved with the pages' services.

The decisions (docs/import.md explains them to users):
- A patient row is linked to the other files by `screening_number`, the key every export uses, so a
  number in the file is kept when it follows the site's pattern and is unused (the site's counter
  moves past it); a blank one gets the next number. `hospital_number` guards against registering one
  person twice at a site. A user imports only into their own sites.
- Enrolment and signatures are never taken from a file. A study ID and its enrolment date are given
  only by a coordinator's e-signature of an eligible screening in the application
  (`enrolment.sign_screening`), and a signature only with the signer's password. Their columns, as the
  exports write them, are accepted empty; a filled one refuses the file (never_imported), so nothing
  in an accepted file is silently dropped.
- Rows are checked by the model's `full_clean` (ranges, dates, the treatment gate, duplicates) and
  saved by `services.register_numbered_patient` / `services.save_record`, as the pages and the API
  save, with the audit reason "import <file name>".
- A PVP procedure comes with its levels (a second file, pvp_level.csv, as the exports write them);
  a lab result is saved as a change of its draw, as on the lab page.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from trials import access, protocol, services
from trials.exports.variables import export_fields
from trials.import_rows import Problem, clean_problems, read_rows, set_values
from trials.models import LabDraw, LabResult, Patient, PvpProcedure, Screening, TreatedLevel

PATIENT_REQUIRED = ["sex", "date_of_birth", "hospital_number", "initials", "isotype"]
# Written by the exports, recomputed by the application: checked against the data when filled in.
PATIENT_DERIVED = ["fractured_count", "fracture_region"]
LEVEL_PREFIX = "pvp_level."
# Signatures transcribed from paper by earlier versions of the import carry this meaning prefix (the
# casebook labels them); no import makes new ones.
TRANSCRIBED = "Paper signature transcribed at import (not an electronic signature): "

# A file gives only what a user may type on the pages. What no page lets anyone type (editable=False)
# is set by the application alone: the study ID and the enrolment date, and the whole signature
# manifest, all by a coordinator's e-signature (enrolment.sign_screening). The one exception is the
# screening number, kept as the key by which the other files refer to their patient.
KEPT_KEYS = {"screening_number"}
_BY_SIGNATURE = "set when a coordinator signs the screening in the application"
WHY_NEVER_IMPORTED = {
    "study_id": "study IDs are assigned when a coordinator signs the screening in the application",
    "enrolled_on": f"the enrolment date is {_BY_SIGNATURE}",
    "age_at_enrolment": f"derived from the enrolment date, which is {_BY_SIGNATURE}",
}
SIGNATURE_NEVER_IMPORTED = ("part of the electronic signature, which a coordinator makes in the application "
                            "with their password (review queue), never imported")  # fmt: skip


def never_imported(model) -> dict[str, str]:
    """{column: why} for the columns of this form's file whose values never come from a file."""
    names = [f.name for f in export_fields(model, identifiable=True) if not f.editable and f.name not in KEPT_KEYS]
    names += ["age_at_enrolment"] if model is Patient else []
    other = SIGNATURE_NEVER_IMPORTED if model is Screening else "set by the application, never typed on a page"
    return {name: WHY_NEVER_IMPORTED.get(name, other) for name in names}


def columns(model) -> list[str]:
    """Every column a file of this form may have: the export's columns (docs/design.md §2)."""
    if model is Patient:
        own = [f.name for f in export_fields(Patient, identifiable=True)]
        return [*own, "site", "age_at_enrolment", *PATIENT_DERIVED]
    if model is TreatedLevel:
        return ["screening_number"] + [f.name for f in export_fields(TreatedLevel, identifiable=False)]
    keys = ["screening_number"] + (["timepoint"] if model is LabResult else [])
    return keys + [f.name for f in export_fields(model, identifiable=False)]


def _importable_fields(model) -> dict:
    """The model fields whose values are taken from the file."""
    skipped = never_imported(model)
    return {f.name: f for f in export_fields(model, identifiable=True) if f.name not in skipped}


def never_imported_problems(model, rows: list[dict]) -> list[Problem]:
    """One problem per enrolment or signature column that has a value in any row."""
    problems = []
    for name, why in never_imported(model).items():
        filled = [(number, row[name]) for number, row in enumerate(rows, start=1) if (row.get(name) or "").strip()]
        if filled:
            first_row, first_value = filled[0]
            rule = (f"not imported: {why}. Empty this column or delete it "
                    f"({len(filled)} row{'s' if len(filled) > 1 else ''} filled)")  # fmt: skip
            problems.append(Problem(first_row, name, first_value, rule))
    return problems


# ---------------------------------------------------------------------------------------------
# Patients


def check_patients(user, rows: list[dict], progress=None) -> tuple[list[Patient], list[Problem]]:
    sites = {site.code: site for site in access.sites_for_user(user)}
    fields = _importable_fields(Patient)
    # What the database holds, read once: screening numbers are unique study-wide (those of patients
    # deleted as registered in error too), hospital numbers per site among live patients.
    numbers = {row.get("screening_number", "").strip() for row in rows} - {""}
    taken = set(Patient.all_objects.filter(screening_number__in=numbers).values_list("screening_number", flat=True))
    registered = {
        (site_id, hospital_number): screening_number
        for site_id, hospital_number, screening_number in Patient.objects.filter(site__in=sites.values()).values_list(
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
        checks = _screening_number_problems(record, number, taken, numbers_in_file)
        hospital_key = (site.pk, record.hospital_number)
        if record.hospital_number and hospital_key in registered:
            rule = f"a patient with this hospital number is already registered at {site.code}"
            checks.append(Problem(number, "hospital_number", record.hospital_number,
                                  f"{rule} ({registered[hospital_key]})"))  # fmt: skip
        elif record.hospital_number and hospital_key in hospital_numbers_in_file:
            rule = "the same hospital number appears twice in the file (one patient, one registration)"
            checks.append(Problem(number, "hospital_number", record.hospital_number, rule))
        hospital_numbers_in_file.add(hospital_key)
        levels = record.fractured_levels or []
        if len(set(levels)) != len(levels):
            rule = "a level is listed twice (each fractured vertebra once)"
            checks.append(Problem(number, "fractured_levels", row.get("fractured_levels", ""), rule))
        if not parse_problems:
            checks += clean_problems(record, row, number, exclude=["version", "screening_number"])
        if not parse_problems and not checks:
            checks = _derived_problems(record, row, number)
        # A cell that could not be read is reported once, not again by the rules that use it.
        unreadable = {problem.field for problem in parse_problems}
        problems += parse_problems + [problem for problem in checks if problem.field not in unreadable]
        records.append(record)
    return records, problems


def _screening_number_problems(record: Patient, number: int, taken: set, in_file: set) -> list[Problem]:
    value = record.screening_number or ""
    if not value:
        return []
    if services.screening_number_serial(record.site, value) is None:
        rule = f"must follow the site's pattern, e.g. {record.site.code}-S001"
        return [Problem(number, "screening_number", value, rule)]
    if value in taken or value in in_file:
        return [Problem(number, "screening_number", value, "already used: imports add patients, they never overwrite")]
    in_file.add(value)
    return []


def _derived_problems(record: Patient, row: dict, number: int) -> list[Problem]:
    """Derived columns are not imported; a filled-in value that disagrees with the data is reported."""
    problems = []
    count = row.get("fractured_count", "").strip()
    if count and count != str(record.fractured_count):
        rule = f"derived from the fractured levels: {record.fractured_count}"
        problems.append(Problem(number, "fractured_count", count, rule))
    region = row.get("fracture_region", "").strip()
    if region and region != (record.fracture_region or ""):
        rule = f"derived from the fractured levels: {record.fracture_region or '(none)'}"
        problems.append(Problem(number, "fracture_region", region, rule))
    return problems


def save_patients(patients: list[Patient], *, user, reason: str) -> None:
    names = [name for name in _importable_fields(Patient) if name != "screening_number"]
    for patient in patients:
        services.register_numbered_patient(
            site=patient.site, screening_number=patient.screening_number, user=user, reason=reason,
            **{name: getattr(patient, name) for name in names},
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The forms of a patient: screening, treatment and follow-up


def check_forms(user, model, rows: list[dict], progress=None) -> tuple[list, list[Problem]]:
    """Unsaved records of a form linked to a patient (a lab result: to the patient's draw)."""
    fields = _importable_fields(model)
    patients = {p.screening_number: p for p in access.patients_for_user(user).select_related("screening")}
    draws = {}
    if model is LabResult:
        draws = {(d.patient_id, d.timepoint): d for d in LabDraw.objects.filter(patient__in=patients.values())}
    records, problems, seen = [], [], set()
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
        if model is LabResult:
            record.lab_draw = draws.get((patient.pk, row.get("timepoint", "").strip()))
            if record.lab_draw is None:
                rule = "no lab draw of this patient at this timepoint (import lab_draw first)"
                row_problems.append(Problem(number, "timepoint", row.get("timepoint", ""), rule))
            if not row_problems:
                row_problems = read_in_its_unit(record, row, number)
        else:
            record.patient = patient
        if not row_problems:
            row_problems = clean_problems(record, row, number, exclude=["version"])
        natural_key = _natural_key(record, patient)
        if natural_key in seen:
            row_problems.append(Problem(number, "row", "", "the same record appears twice in the file"))
        seen.add(natural_key)
        problems += row_problems
        records.append(record)
    return records, problems


def read_in_its_unit(result: LabResult, row: dict, number: int) -> list[Problem]:
    """A lab result is read as the lab page reads it (protocol.read_lab_value): the value as entered,
    in its unit, when the file gives them (the export writes both), else the canonical value. A
    canonical value that is not the entered one converted is refused: one of them is wrong."""
    if result.analyte not in protocol.ANALYTES_BY_CODE:
        return []  # the model's check names the analyte
    canonical_given = result.value not in (None, "")  # an empty cell of a required number reads ""
    entered = result.entered_value if result.entered_value is not None else (result.value if canonical_given else None)
    if entered is None:
        return []  # the model's check names the missing value
    try:
        reading = protocol.read_lab_value(result.analyte, entered, result.entered_unit)
    except protocol.UnitNotAccepted as error:
        return [Problem(number, "entered_unit", result.entered_unit, str(error))]
    if canonical_given and result.value != reading.value:
        canonical = protocol.ANALYTES_BY_CODE[result.analyte].unit
        rule = (f"is not {protocol.plain_number(entered)} {reading.entered_unit} in {canonical} "
                f"({protocol.plain_number(reading.value)}): correct value, entered_value or entered_unit")  # fmt: skip
        return [Problem(number, "value", row.get("value", ""), rule)]
    result.value, result.entered_value, result.entered_unit = reading.value, reading.entered_value, reading.entered_unit
    return []


def _natural_key(record, patient):
    if isinstance(record, LabResult):
        return (patient.pk, getattr(record.lab_draw, "timepoint", None), record.analyte)
    for name in ("timepoint", "cycle"):
        if hasattr(record, name):
            return (patient.pk, getattr(record, name))
    if hasattr(record, "term"):
        return (patient.pk, record.term, record.onset_on, record.other_term)
    return (patient.pk,)


def save_forms(records: list, *, user, reason: str) -> None:
    for record in records:
        services.save_record(record, user=user, reason=reason)


def save_lab_results(results: list[LabResult], *, user, reason: str) -> None:
    """As on the lab page: each draw is saved as one audited change (a new version) with its results."""
    by_draw = defaultdict(list)
    for result in results:
        by_draw[result.lab_draw_id].append(result)
    for draw_id, new in by_draw.items():

        def add_results(draw, new=new):
            services.save_lab_results(draw, [*draw.results.all(), *new])

        services.save_record(LabDraw.objects.get(pk=draw_id), user=user, reason=reason, save_parts=add_results)


# ---------------------------------------------------------------------------------------------
# PVP procedures with their levels (a second file)


@dataclass
class ProcedureWithLevels:
    """A procedure of the procedure file and its rows of the levels file: saved together or not at all."""

    procedure: PvpProcedure
    row: int
    levels: list[TreatedLevel] = field(default_factory=list)


def check_levels(procedures: list[PvpProcedure], procedure_rows: list[dict], content: bytes | None):
    """Attach each row of the levels file to its procedure (same patient); returns the procedures with
    their levels and the problems."""
    row_of = {row.get("screening_number", "").strip(): number for number, row in enumerate(procedure_rows, start=1)}
    found = {p.patient.screening_number: ProcedureWithLevels(p, row_of[p.patient.screening_number])
             for p in procedures}  # fmt: skip
    if content is None:
        rule = "add the PVP levels file (pvp_level.csv): a procedure is imported with its levels or not at all"
        return list(found.values()), [Problem(0, LEVEL_PREFIX + "file", "", rule)]
    rows, problems = read_rows(content, columns(TreatedLevel), ["screening_number", "level", "cement_ml"],
                               prefix=LEVEL_PREFIX)  # fmt: skip
    fields = _importable_fields(TreatedLevel)
    seen = set()
    for number, row in enumerate(rows, start=1):
        key = row.get("screening_number", "").strip()
        if key not in found:
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
        problems += row_problems
        found[key].levels.append(level)
    if not any(problem.row == 0 for problem in problems):
        for key, entry in found.items():
            if not entry.levels:
                rule = (
                    "no treated level in the levels file: a procedure needs at least one level with its cement volume"
                )
                problems.append(Problem(entry.row, "screening_number", key, rule))
    return list(found.values()), problems


def save_procedures(entries: list[ProcedureWithLevels], *, user, reason: str) -> None:
    for entry in entries:

        def save_levels(procedure, levels=entry.levels):
            for level in levels:
                level.procedure = procedure
                level.save()

        services.save_record(entry.procedure, user=user, reason=reason, save_parts=save_levels)
