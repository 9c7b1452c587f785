"""Importing whole cases: patients, screenings (signatures) and PVP procedures with their levels."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import PatientFactory, ScreeningFactory
from trials import import_cases, imports, rules
from trials.enrolment import sign_screening
from trials.models import Patient, PvpProcedure, Screening, Site, TreatedLevel

pytestmark = pytest.mark.django_db

PATIENT_HEADER = "screening_number,study_id,enrolled_on,site,sex,date_of_birth,hospital_number,initials,weight_kg,"
PATIENT_HEADER += "isotype,fractured_levels,age_at_enrolment,fracture_region\n"
SCREENING_HEADER = "screening_number,screened_on,kps,life_expectancy_over_90_days,i1,i2,i3,i5,e1,e2,e3,e4,e5,"
SCREENING_HEADER += "consent_date,signed_at,signed_name\n"
ELIGIBLE = "2020-01-06,70,yes,yes,yes,yes,yes,no,no,no,no,no,2020-01-06"


def found(problems):
    return {(p.row, p.field, p.value) for p in problems}


def rule_of(problems, row, field):
    return next(p.rule for p in problems if (p.row, p.field) == (row, field))


# ---------------------------------------------------------------------------------------------
# Patients


def test_a_patient_dry_run_names_row_field_value_and_rule(clinician, site_b):
    existing = PatientFactory(site=clinician.sites.get(), hospital_number="HN-1")
    text = PATIENT_HEADER + (
        'AAA-S010,,,AAA,M,1950-01-01,HN-2,AB,70,IgG,"T12,L1",,thoracolumbar\n'  # fine
        "AAA-S011,,,BBB,M,1950-01-01,HN-3,AB,70,IgG,T12,,\n"  # another site's code
        "BBB-S001,,,AAA,X,1950-01-01,HN-4,AB,500,IgG,T12,,\n"  # pattern, sex, weight
        f"AAA-S012,,,AAA,F,1950-01-01,{existing.hospital_number},AB,70,IgG,T12,,\n"  # registered already
        'AAA-S010,AAA-001,,AAA,F,1950-01-01,HN-5,AB,70,IgA,"T12,T12",,\n'  # twice; study ID without date
        "AAA-S013,AAA-002,2020-01-07,AAA,F,1950-01-01,HN-6,AB,70,IgA,L2,75,lumbar\n"  # age is 70, not 75
    )
    records, problems = imports.check(clinician, "patient", text.encode())
    assert found(problems) == {
        (2, "site", "BBB"),
        (3, "screening_number", "BBB-S001"), (3, "sex", "X"), (3, "weight_kg", "500"),
        (4, "hospital_number", "HN-1"),
        (5, "screening_number", "AAA-S010"), (5, "enrolled_on", ""), (5, "fractured_levels", "T12,T12"),
        (6, "age_at_enrolment", "75"),
    }  # fmt: skip
    assert rule_of(problems, 2, "site") == "not one of your sites (AAA)"
    assert existing.screening_number in rule_of(problems, 4, "hospital_number")
    assert "is impossible" in rule_of(problems, 3, "weight_kg")
    assert rule_of(problems, 6, "age_at_enrolment") == "derived from date of birth and enrolment date: 70"
    assert Patient.objects.count() == 1


def test_a_deidentified_patient_file_is_refused_by_its_columns(data_manager):
    text = "screening_number,site,sex,isotype,age_at_enrolment\nAAA-S001,AAA,M,IgG,60\n"
    _, problems = imports.check(data_manager, "patient", text.encode())
    assert problems[0].row == 0 and problems[0].value == "date_of_birth, hospital_number, initials"
    assert "identifiable export" in problems[0].rule


def test_patients_keep_the_files_numbers_and_the_counters_move_past_them(clinician):
    text = PATIENT_HEADER + (
        "AAA-S007,AAA-004,2020-01-07,AAA,M,1950-01-01,HN-2,AB,70,IgG,T12,70,thoracic\n"
        ",,,,F,1960-05-01,HN-3,CD,,IgA,,,\n"  # the user's only site; the next screening number
    )
    assert imports.commit(clinician, "patient", text.encode(), "cases.csv") == (2, [])
    first, second = Patient.objects.order_by("screening_number")
    assert (first.screening_number, first.study_id, first.enrolled_on) == ("AAA-S007", "AAA-004", date(2020, 1, 7))
    assert (second.screening_number, second.study_id, second.fractured_levels) == ("AAA-S008", None, [])
    assert PatientFactory(site=first.site).screening_number == "AAA-S009"
    assert Site.objects.get(code="AAA").last_study_number == 4
    assert first.events.get().pgh_context.metadata["reason"] == "import cases.csv"


# ---------------------------------------------------------------------------------------------
# Screenings and signatures


def test_a_screening_dry_run_names_row_field_value_and_rule(clinician, patient_a):
    other = PatientFactory(site=patient_a.site)
    text = SCREENING_HEADER + (
        f"NOPE-1,{ELIGIBLE},,\n"
        f"{patient_a.screening_number},2020-01-06,45,yes,yes,yes,yes,yes,no,no,no,no,no,,,\n"  # KPS 45, no consent
        f"{other.screening_number},{ELIGIBLE},2020-01-07 09:00,Dr Li\n"  # a clinician cannot bring a signature
    )
    _, problems = imports.check(clinician, "screening", text.encode())
    assert found(problems) == {
        (1, "screening_number", "NOPE-1"), (2, "kps", "45"), (2, "consent_date", ""),
        (3, "signed_at", "2020-01-07 09:00"),
    }  # fmt: skip
    assert "import the patient file first" in rule_of(problems, 1, "screening_number")
    assert "only a coordinator may import a signature" in rule_of(problems, 3, "signed_at")
    assert not Screening.objects.exists()


def test_a_coordinator_imports_a_paper_signature_as_transcribed_and_the_patient_is_enrolled(coordinator, patient_a):
    incomplete = PatientFactory(site=patient_a.site)
    text = SCREENING_HEADER + (
        f"{patient_a.screening_number},{ELIGIBLE},2020-01-07 09:00,Dr Li\n"
        f"{incomplete.screening_number},2020-01-06,70,yes,yes,yes,unknown,yes,no,no,no,no,no,2020-01-06,"
        "2020-01-07 09:00,Dr Li\n"
    )
    _, problems = imports.check(coordinator, "screening", text.encode())
    assert found(problems) == {(2, "signed_at", "2020-01-07 09:00")}
    assert "incomplete" in problems[0].rule

    text = SCREENING_HEADER + f"{patient_a.screening_number},{ELIGIBLE},2020-01-07 09:00,Dr Li\n"
    assert imports.commit(coordinator, "screening", text.encode(), "paper-screenings.csv") == (1, [])
    screening = Screening.objects.get()
    assert (screening.signed_by, screening.signed_name) == (coordinator, "Dr Li")
    assert screening.signature_meaning.startswith(import_cases.TRANSCRIBED)
    patient_a.refresh_from_db()
    assert (patient_a.study_id, patient_a.enrolled_on) == ("AAA-001", date(2020, 1, 6))
    assert rules.treatment_is_allowed(patient_a)
    assert screening.events.get().pgh_context.metadata["reason"] == "import paper-screenings.csv"


def test_an_unsigned_screening_waits_for_the_coordinators_e_signature_and_keeps_the_files_study_id(
    clinician, coordinator
):
    patients = PATIENT_HEADER + "AAA-S001,AAA-007,2020-01-06,AAA,M,1950-01-01,HN-1,AB,70,IgG,T12,,\n"
    assert imports.commit(clinician, "patient", patients.encode(), "p.csv") == (1, [])
    text = SCREENING_HEADER + f"AAA-S001,{ELIGIBLE},,\n"
    assert imports.commit(clinician, "screening", text.encode(), "s.csv") == (1, [])
    patient = Patient.objects.get()
    assert not rules.treatment_is_allowed(patient)
    coordinator.set_password("pw")
    coordinator.save()
    assert sign_screening(patient.screening, signer=coordinator, password="pw").signed
    patient.refresh_from_db()
    assert patient.study_id == "AAA-007" and rules.treatment_is_allowed(patient)


# ---------------------------------------------------------------------------------------------
# PVP procedures with their levels


def _upload(client, form, text, levels=None, action="check"):
    data = {"form": form, "action": action, "file": SimpleUploadedFile("pvp.csv", text.encode())}
    if levels is not None:
        data["levels_file"] = SimpleUploadedFile("pvp_level.csv", levels.encode())
    return client.post("/imports/", data, follow=True).content.decode()


def test_a_pvp_dry_run_checks_the_procedures_and_their_levels(client, clinician, enrolled_patient):
    other = PatientFactory(site=enrolled_patient.site)
    ScreeningFactory(patient=other)  # not signed: treatment forms stay closed
    number = enrolled_patient.screening_number
    procedures = (
        "screening_number,performed_on,approach,bed_rest_days,operator\n"
        f"{number},2020-01-10,bipedicular,3,Dr Wang\n{other.screening_number},2020-01-10,bipedicular,3,Dr Wang\n"
    )
    levels = f"screening_number,level,cement_ml,leakage\n{number},T12,20,none\n{number},L1,4.5,disc\n"
    levels += f"{number},L1,4.0,none\nAAA-S999,T11,2.0,none\n"
    client.force_login(clinician)
    page = _upload(client, "pvp_procedure", procedures, levels)
    assert "5 problems: nothing was imported." in page
    assert f"<td>2</td><td>row</td><td></td><td>A PVP procedure cannot be entered for {other}" in page
    assert "<td>1</td><td>pvp_level.cement_ml</td><td>20</td><td>20 is impossible" in page
    assert "<td>3</td><td>pvp_level.level</td><td>L1</td><td>the level is listed twice" in page
    assert "<td>4</td><td>pvp_level.screening_number</td><td>AAA-S999</td><td>no procedure for this patient" in page
    assert f"<td>2</td><td>screening_number</td><td>{other.screening_number}</td><td>no treated level" in page
    assert "add the PVP levels file" in _upload(client, "pvp_procedure", procedures)


def test_a_procedure_is_imported_with_its_levels_or_not_at_all(client, clinician, enrolled_patient):
    number = enrolled_patient.screening_number
    procedures = "screening_number,performed_on,approach,bed_rest_days,operator\n"
    procedures += f"{number},2020-01-10,bipedicular,3,Dr W\n"
    bad_levels = f"screening_number,level,cement_ml,leakage\n{number},T12,2.5,none\n{number},L1,,none\n"
    client.force_login(clinician)
    assert "nothing was imported" in _upload(client, "pvp_procedure", procedures, bad_levels, action="commit")
    assert not PvpProcedure.objects.exists() and not TreatedLevel.objects.exists()
    levels = bad_levels.replace("L1,,none", "L1,4.5,disc")
    assert "1 rows imported." in _upload(client, "pvp_procedure", procedures, levels, action="commit")
    procedure = PvpProcedure.objects.get()
    assert [(lv.level, str(lv.cement_ml), lv.leakage) for lv in procedure.levels_in_spine_order()] == [
        ("T12", "2.5", "none"), ("L1", "4.5", "disc"),
    ]  # fmt: skip


def test_the_page_names_the_import_order(client, coordinator):
    client.force_login(coordinator)
    page = client.get("/imports/").content.decode()
    assert "Import the files in this order: patient, screening" in page
    assert "pvp_level" in page


def test_a_bad_patient_file_changes_nothing_not_even_the_counters(clinician):
    text = PATIENT_HEADER + (
        "AAA-S005,,,AAA,M,1950-01-01,HN-2,AB,70,IgG,T12,,\n"
        ",,,AAA,M,2999-01-01,HN-3,AB,70,IgG,T12,,\n"  # born in the future
    )
    saved, problems = imports.commit(clinician, "patient", text.encode(), "cases.csv")
    assert (saved, found(problems)) == (0, {(2, "date_of_birth", "2999-01-01")})
    assert not Patient.objects.exists()
    assert Site.objects.get(code="AAA").last_screening_number == 0
