"""Import follows the pages' role rules, and never enrols or signs (issue 14, finding 3).

A role imports a form only if it may enter that form on its page (and write it in the API); study IDs,
enrolment dates and signatures never come from a file: a coordinator's e-signature in the application
enrols the patient.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import LabDrawFactory, PatientFactory, UserFactory
from trials import imports
from trials.api import views as api
from trials.import_cases import never_imported
from trials.models import Job, LabDraw, LabResult, PainAssessment, Patient, Screening
from trials.roles import ROLES, has_role
from trials.views.common import can_enter_data, can_enter_screening

pytestmark = pytest.mark.django_db

PATIENTS = (
    "screening_number,study_id,enrolled_on,site,sex,date_of_birth,hospital_number,initials,isotype,age_at_enrolment\n"
    "AAA-S001,AAA-001,2020-01-07,AAA,M,1950-01-01,HN-1,AB,IgG,70\n"
    "AAA-S002,AAA-002,2020-01-08,AAA,F,1960-01-01,HN-2,CD,IgA,60\n"
)
SCREENING_HEADER = "screening_number,screened_on,kps,life_expectancy_over_90_days,i1,i2,i3,i5,e1,e2,e3,e4,e5,"
SCREENING_HEADER += "consent_date,signed_at,signed_name,signature_meaning\n"
ELIGIBLE = "2020-01-06,70,yes,yes,yes,yes,yes,no,no,no,no,no,2020-01-06"


def problems_by_field(problems):
    return {problem.field: problem for problem in problems}


# --- enrolment and signatures are never taken from a file ------------------------------------


def test_a_clinician_cannot_enrol_patients_by_importing_study_ids_and_enrolment_dates(clinician):
    saved, problems = imports.commit(clinician, "patient", PATIENTS.encode(), "enrol.csv")
    assert saved == 0
    found = problems_by_field(problems)
    assert set(found) == {"study_id", "enrolled_on", "age_at_enrolment"}
    assert (found["study_id"].row, found["study_id"].value) == (1, "AAA-001")
    assert found["study_id"].rule == (
        "not imported: study IDs are assigned when a coordinator signs the screening in the application. "
        "Empty this column or delete it (2 rows filled)"
    )
    assert "the enrolment date is set when a coordinator signs the screening" in found["enrolled_on"].rule
    assert not Patient.objects.exists()


def test_a_coordinator_cannot_import_a_signature(coordinator, patient_a):
    text = SCREENING_HEADER + f"{patient_a.screening_number},{ELIGIBLE},2020-01-07 09:00,Dr Li,Paper signature\n"
    saved, problems = imports.commit(coordinator, "screening", text.encode(), "paper.csv")
    assert saved == 0
    found = problems_by_field(problems)
    assert set(found) == {"signed_at", "signed_name", "signature_meaning"}
    assert (found["signed_at"].row, found["signed_at"].value) == (1, "2020-01-07 09:00")
    assert "part of the electronic signature, which a coordinator makes in the application with their password" in (
        found["signed_name"].rule
    )
    assert not Screening.objects.exists()
    patient_a.refresh_from_db()
    assert patient_a.study_id is None


def test_the_exports_empty_enrolment_and_signature_columns_are_accepted_and_nobody_is_enrolled(clinician, coordinator):
    patients = PATIENTS.replace("AAA-001,2020-01-07", ",").replace("AAA-002,2020-01-08", ",")
    patients = patients.replace("IgG,70", "IgG,").replace("IgA,60", "IgA,")
    assert imports.commit(clinician, "patient", patients.encode(), "p.csv") == (2, [])
    text = SCREENING_HEADER + f"AAA-S001,{ELIGIBLE},,,\n"
    assert imports.commit(coordinator, "screening", text.encode(), "s.csv") == (1, [])
    screening = Screening.objects.get()
    assert (screening.signed_at, screening.signed_by, screening.signed_name, screening.signature_meaning) == (
        None, None, "", ""
    )  # fmt: skip
    assert not Patient.objects.exclude(study_id=None).exists()
    assert not Patient.objects.exclude(enrolled_on=None).exists()


def test_every_enrolment_and_signature_column_is_never_imported():
    assert set(never_imported(Patient)) == {"study_id", "enrolled_on", "age_at_enrolment"}
    assert set(never_imported(Screening)) == {
        "signed_at", "signed_name", "signature_meaning", "signed_version", "signed_content_hash"
    }  # fmt: skip
    # signed_by is a link, not a column: a file naming it is refused by its columns.
    assert "signed_by" not in imports.expected_columns("screening")
    assert all(not never_imported(form.model) for form in imports.FORMS if form.model not in (Patient, Screening))


# --- who may import what: the pages' rules -------------------------------------------------------


@pytest.fixture
def personas(site_a, clinician, coordinator, investigator, data_manager):
    return {
        "clinician": clinician,
        "coordinator": coordinator,
        "investigator": investigator,
        "data_manager": data_manager,
        "no_role": UserFactory(username="nobody_a", site=site_a),
    }


# Each form's page rule and API viewset: a lab result is part of its draw on both.
PAGE_RULE = {"screening": can_enter_screening}
API_VIEWSET = {
    "patient": api.PatientViewSet, "screening": api.ScreeningViewSet, "pvp_procedure": api.PvpProcedureViewSet,
    "infusion": api.InfusionViewSet, "lab_draw": api.LabDrawViewSet, "lab_result": api.LabDrawViewSet,
    "pain": api.PainAssessmentViewSet, "qol": api.QolAssessmentViewSet, "response": api.TumourResponseViewSet,
    "adverse_event": api.AdverseEventViewSet, "end_of_study": api.EndOfStudyViewSet,
}  # fmt: skip


def test_a_role_imports_exactly_the_forms_it_may_write_on_the_pages_and_in_the_api(personas):
    for persona, user in personas.items():
        for form in imports.IMPORTABLE:
            on_page = PAGE_RULE.get(form, can_enter_data)(user)
            in_api = has_role(user, *ROLES) and has_role(user, *API_VIEWSET[form].write_roles)
            assert (imports.refusal(user, form) is None) == on_page == in_api, (persona, form)
    assert imports.forms_for(personas["clinician"]) == list(imports.IMPORTABLE)
    assert imports.forms_for(personas["coordinator"]) == ["screening"]
    assert imports.forms_for(personas["investigator"]) == imports.forms_for(personas["data_manager"]) == []


@pytest.mark.parametrize(
    ("persona", "form"),
    [("coordinator", "patient"), ("coordinator", "pain"), ("data_manager", "patient"), ("data_manager", "pain"),
     ("investigator", "pain"), ("no_role", "screening")],
)  # fmt: skip
def test_a_role_that_may_not_enter_a_form_cannot_import_it(personas, enrolled_patient, patient_a, persona, form):
    texts = {
        "patient": "screening_number,site,sex,date_of_birth,hospital_number,initials,isotype\n"
        ",AAA,M,1950-01-01,HN-7,AB,IgG\n",
        "pain": f"screening_number,timepoint,assessed_on,who_grade\n{enrolled_patient.screening_number},baseline,"
        "2020-01-07,3\n",
        "screening": f"{SCREENING_HEADER}{patient_a.screening_number},{ELIGIBLE},,,\n",
    }
    patients = Patient.objects.count()
    saved, problems = imports.commit(personas[persona], form, texts[form].encode(), "x.csv")
    assert saved == 0 and [(p.row, p.field, p.value) for p in problems] == [(0, "form", form)]
    assert problems[0].rule.startswith("your role may not import this form: only clinicians")
    assert Patient.objects.count() == patients and not PainAssessment.objects.exists()
    assert not Screening.objects.filter(patient=patient_a).exists()
    # The same file passes for a clinician: the refusal is the role's, not the file's.
    assert imports.check(personas["clinician"], form, texts[form].encode())[1] == []


def test_investigators_and_data_managers_have_no_import_page(client, investigator, data_manager):
    for user in (investigator, data_manager):
        client.force_login(user)
        assert client.get("/imports/").status_code == 403


def test_a_coordinator_is_offered_the_screening_only_and_refused_another_form_on_the_spot(
    client, coordinator, enrolled_patient
):
    client.force_login(coordinator)
    page = client.get("/imports/").content.decode()
    assert '<option value="screening"' in page and '<option value="pain"' not in page
    text = (
        f"screening_number,timepoint,assessed_on,who_grade\n{enrolled_patient.screening_number},baseline,2020-01-07,3\n"
    )
    data = {"form": "pain", "action": "commit", "file": SimpleUploadedFile("pain.csv", text.encode())}
    page = client.post("/imports/", data).content.decode()
    assert "<td>0</td><td>form</td><td>pain</td><td>your role may not import this form: only clinicians" in page
    assert not Job.objects.exists() and not PainAssessment.objects.exists()


# --- saved through the pages' services ----------------------------------------------------------


def test_lab_results_are_saved_as_a_change_of_their_draw_as_on_the_lab_page(clinician, enrolled_patient):
    draw = LabDrawFactory(patient=enrolled_patient, timepoint="baseline")
    version = draw.version
    text = f"screening_number,timepoint,analyte,value\n{enrolled_patient.screening_number},baseline,alp,120\n"
    assert imports.commit(clinician, "lab_result", text.encode(), "labs.csv") == (1, [])
    draw = LabDraw.objects.get(pk=draw.pk)
    # A new version of the draw (a source-verified draw needs verifying again), audited with the import.
    assert draw.version == version + 1
    assert draw.events.order_by("pgh_id").last().pgh_context.metadata["reason"] == "import labs.csv"
    assert LabResult.objects.get(lab_draw=draw).events.get().pgh_context.metadata["reason"] == "import labs.csv"


def test_a_patient_is_registered_through_the_registration_service(clinician, monkeypatch):
    from trials import services

    calls = []
    original = services.register_numbered_patient
    monkeypatch.setattr(services, "register_numbered_patient", lambda **kw: calls.append(kw) or original(**kw))
    text = "screening_number,site,sex,date_of_birth,hospital_number,initials,isotype\n"
    text += "AAA-S004,AAA,M,1950-01-01,HN-7,AB,IgG\n"
    assert imports.commit(clinician, "patient", text.encode(), "p.csv") == (1, [])
    assert [(call["screening_number"], call["reason"], call["user"]) for call in calls] == [
        ("AAA-S004", "import p.csv", clinician)
    ]
    assert PatientFactory(site=clinician.sites.get()).screening_number == "AAA-S005"
