"""Importing whole cases: patients, screenings (signatures) and PVP procedures with their levels."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import PatientFactory, ScreeningFactory
from trials import imports, rules, services
from trials.enrolment import sign_screening
from trials.models import Patient, PvpProcedure, Screening, Site, TreatedLevel

pytestmark = pytest.mark.django_db

# The export's layout: the enrolment and signature columns are there, empty (tests/test_import_roles.py
# shows that a filled one refuses the file).
PATIENT_HEADER = "screening_number,study_id,enrolled_on,site,sex,date_of_birth,hospital_number,initials,weight_kg,"
PATIENT_HEADER += "isotype,fractured_levels,fracture_region\n"
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
        'AAA-S010,,,AAA,M,1950-01-01,HN-2,AB,70,IgG,"T12,L1",thoracolumbar\n'  # fine
        "AAA-S011,,,BBB,M,1950-01-01,HN-3,AB,70,IgG,T12,\n"  # another site's code
        "BBB-S001,,,AAA,X,1950-01-01,HN-4,AB,500,IgG,T12,\n"  # pattern, sex, weight
        f"AAA-S012,,,AAA,F,1950-01-01,{existing.hospital_number},AB,70,IgG,T12,\n"  # registered already
        'AAA-S010,,,AAA,F,1950-01-01,HN-5,AB,70,IgA,"T12,T12",\n'  # number twice; level twice
        "AAA-S013,,,AAA,F,1950-01-01,HN-6,AB,70,IgA,L2,thoracic\n"  # L2 is lumbar
    )
    records, problems = imports.check(clinician, "patient", text.encode())
    assert found(problems) == {
        (2, "site", "BBB"),
        (3, "screening_number", "BBB-S001"), (3, "sex", "X"), (3, "weight_kg", "500"),
        (4, "hospital_number", "HN-1"),
        (5, "screening_number", "AAA-S010"), (5, "fractured_levels", "T12,T12"),
        (6, "fracture_region", "thoracic"),
    }  # fmt: skip
    assert rule_of(problems, 2, "site") == "not one of your sites (AAA)"
    assert existing.screening_number in rule_of(problems, 4, "hospital_number")
    assert "is impossible" in rule_of(problems, 3, "weight_kg")
    assert rule_of(problems, 6, "fracture_region") == "derived from the fractured levels: lumbar"
    assert Patient.objects.count() == 1


def test_a_deidentified_patient_file_is_refused_by_its_columns(clinician):
    text = "screening_number,site,sex,isotype,age_at_enrolment\nAAA-S001,AAA,M,IgG,\n"
    _, problems = imports.check(clinician, "patient", text.encode())
    assert problems[0].row == 0 and problems[0].value == "date_of_birth, hospital_number, initials"
    assert "identifiable export" in problems[0].rule


def test_patients_keep_the_files_screening_numbers_and_the_counter_moves_past_them(clinician):
    text = PATIENT_HEADER + (
        "AAA-S007,,,AAA,M,1950-01-01,HN-2,AB,70,IgG,T12,thoracic\n"
        ",,,,F,1960-05-01,HN-3,CD,,IgA,,\n"  # the user's only site; the next screening number
    )
    assert imports.commit(clinician, "patient", text.encode(), "cases.csv") == (2, [])
    first, second = Patient.objects.order_by("screening_number")
    assert (first.screening_number, first.study_id, first.enrolled_on) == ("AAA-S007", None, None)
    assert (second.screening_number, second.study_id, second.fractured_levels) == ("AAA-S008", None, [])
    assert PatientFactory(site=first.site).screening_number == "AAA-S009"
    assert Site.objects.get(code="AAA").last_study_number == 0
    assert first.events.get().pgh_context.metadata["reason"] == "import cases.csv"


def test_a_screening_number_of_a_patient_deleted_in_error_is_not_taken_again(clinician, patient_a):
    services.soft_delete(patient_a, user=clinician, reason="registered twice")
    text = PATIENT_HEADER + f"{patient_a.screening_number},,,AAA,M,1950-01-01,HN-9,AB,70,IgG,T12,\n"
    _, problems = imports.check(clinician, "patient", text.encode())
    assert found(problems) == {(1, "screening_number", patient_a.screening_number)}
    assert "already used" in problems[0].rule


# ---------------------------------------------------------------------------------------------
# Screenings: the checklist is imported, the signature is made in the application


def test_a_screening_dry_run_names_row_field_value_and_rule(clinician, patient_a):
    text = SCREENING_HEADER + (
        f"NOPE-1,{ELIGIBLE},,\n"
        f"{patient_a.screening_number},2020-01-06,45,yes,yes,yes,yes,yes,no,no,no,no,no,,,\n"  # KPS 45, no consent
    )
    _, problems = imports.check(clinician, "screening", text.encode())
    assert found(problems) == {(1, "screening_number", "NOPE-1"), (2, "kps", "45"), (2, "consent_date", "")}
    assert "import the patient file first" in rule_of(problems, 1, "screening_number")
    assert not Screening.objects.exists()


def test_an_imported_screening_waits_for_the_coordinators_e_signature_which_enrols(clinician, coordinator):
    patients = PATIENT_HEADER + "AAA-S001,,,AAA,M,1950-01-01,HN-1,AB,70,IgG,T12,\n"
    assert imports.commit(clinician, "patient", patients.encode(), "p.csv") == (1, [])
    text = SCREENING_HEADER + f"AAA-S001,{ELIGIBLE},,\n"
    assert imports.commit(coordinator, "screening", text.encode(), "s.csv") == (1, [])
    patient = Patient.objects.get()
    assert not patient.screening.is_signed and not rules.treatment_is_allowed(patient)
    coordinator.set_password("pw")
    coordinator.save()
    assert sign_screening(patient.screening, signer=coordinator, password="pw").signed
    patient.refresh_from_db()
    assert (patient.study_id, patient.enrolled_on) == ("AAA-001", date(2020, 1, 6))
    assert rules.treatment_is_allowed(patient)


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
    assert "Import the files in this order: <code>patient</code>, <code>screening</code>" in page
    assert "pvp_level" in page


def test_a_bad_patient_file_changes_nothing_not_even_the_counters(clinician):
    text = PATIENT_HEADER + (
        "AAA-S005,,,AAA,M,1950-01-01,HN-2,AB,70,IgG,T12,\n"
        ",,,AAA,M,2999-01-01,HN-3,AB,70,IgG,T12,\n"  # born in the future
    )
    saved, problems = imports.commit(clinician, "patient", text.encode(), "cases.csv")
    assert (saved, found(problems)) == (0, {(2, "date_of_birth", "2999-01-01")})
    assert not Patient.objects.exists()
    assert Site.objects.get(code="AAA").last_screening_number == 0
