"""Identifying data (issue 14, findings 5 and 8): only roles with the permission see date of birth,
hospital number and initials, each such read is logged; pages are bounded; a record's patient and
site are fixed after creation."""

import pytest

from tests import factories
from tests.factories import api_client_for
from trials.models import Patient, SecurityEvent

pytestmark = pytest.mark.django_db

IDENTIFYING = {"date_of_birth", "hospital_number", "initials"}


def test_investigators_get_de_identified_patients(investigator, patient_a):
    body = api_client_for(investigator).get("/api/v1/patients/").json()
    assert body["results"] and not IDENTIFYING & set(body["results"][0])
    detail = api_client_for(investigator).get(f"/api/v1/patients/{patient_a.pk}/").json()
    assert not IDENTIFYING & set(detail) and detail["screening_number"] == patient_a.screening_number
    assert not SecurityEvent.objects.filter(kind=SecurityEvent.Kind.IDENTIFYING_READ).exists()


def test_a_clinician_sees_them_and_the_read_is_logged(clinician, patient_a):
    detail = api_client_for(clinician).get(f"/api/v1/patients/{patient_a.pk}/").json()
    assert detail["hospital_number"] == patient_a.hospital_number
    logged = SecurityEvent.objects.get(kind=SecurityEvent.Kind.IDENTIFYING_READ)
    assert logged.user == clinician and patient_a.screening_number in logged.detail
    api_client_for(clinician).get("/api/v1/patients/")
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.IDENTIFYING_READ).count() == 2


def test_the_record_page_shows_no_birth_date_to_an_investigator(client, investigator, clinician, patient_a):
    shown = patient_a.date_of_birth.isoformat()  # dates are ISO 8601 on every page (config/formats)
    client.force_login(clinician)
    assert shown in client.get(f"/patients/{patient_a.pk}/").content.decode()
    client.force_login(investigator)
    assert shown not in client.get(f"/patients/{patient_a.pk}/").content.decode()


def test_a_page_of_the_api_holds_at_most_500_rows(investigator, site_a):
    template = factories.PatientFactory.build(site=site_a)
    Patient.objects.bulk_create(
        Patient(**{f.name: getattr(template, f.name) for f in Patient._meta.concrete_fields if f.name != "id"}
                | {"screening_number": f"AAA-S{n:04d}", "hospital_number": f"HN{n}"})
        for n in range(501)
    )  # fmt: skip
    body = api_client_for(investigator).get("/api/v1/patients/?limit=100000").json()
    assert body["count"] == 501 and len(body["results"]) == 500 and "offset=500" in body["next"]


def test_a_patient_does_not_move_to_another_site_through_the_api(clinician, patient_a, site_b):
    clinician.sites.add(site_b)
    moved = api_client_for(clinician).patch(
        f"/api/v1/patients/{patient_a.pk}/", {"site": site_b.code, "version": 1, "reason": "moved"}, format="json"
    )
    assert moved.status_code == 400 and "data manager" in moved.json()["site"][0]
    patient_a.refresh_from_db()
    assert patient_a.site.code == "AAA"


def test_a_form_does_not_move_to_another_patient(clinician, enrolled_patient, site_a):
    other = factories.PatientFactory(site=site_a)
    pain = factories.PainAssessmentFactory(patient=enrolled_patient)
    moved = api_client_for(clinician).patch(
        f"/api/v1/pain-assessments/{pain.pk}/",
        {"patient": other.screening_number, "version": 1, "reason": "wrong patient"},
        format="json",
    )
    assert moved.status_code == 400 and "cannot change" in moved.json()["patient"][0]
    pain.refresh_from_db()
    assert pain.patient == enrolled_patient


def test_the_admin_keeps_a_form_with_its_patient(client, data_manager, enrolled_patient):
    pain = factories.PainAssessmentFactory(patient=enrolled_patient)
    client.force_login(data_manager)
    page = client.get(f"/admin/trials/painassessment/{pain.pk}/change/").content.decode()
    assert 'name="patient"' not in page


def test_the_casebook_shows_identifying_data_only_to_those_who_may_see_it(client, investigator, clinician, patient_a):
    client.force_login(investigator)
    for url in (f"/patients/{patient_a.pk}/casebook/",):
        assert patient_a.hospital_number not in client.get(url).content.decode()
    client.force_login(clinician)
    assert patient_a.hospital_number in client.get(f"/patients/{patient_a.pk}/casebook/").content.decode()
    logged = SecurityEvent.objects.get(kind=SecurityEvent.Kind.IDENTIFYING_READ)
    assert logged.user == clinician and "casebook" in logged.detail


def test_a_data_manager_moves_a_patient_between_their_sites_with_a_reason_audited(client, data_manager, site_b):
    """The one way a patient changes site (finding 8): the administration, by a data manager of both sites."""
    from django.forms.models import model_to_dict

    data_manager.sites.add(site_b)
    patient = factories.PatientFactory(site=data_manager.sites.get(code="AAA"))
    client.force_login(data_manager)
    url = f"/admin/trials/patient/{patient.pk}/change/"
    form = {
        name: value
        for name, value in model_to_dict(patient).items()
        if value is not None and name not in ("screening_number", "study_id", "enrolled_on")
    }
    form["fractured_levels"] = ",".join(patient.fractured_levels or [])
    form["site"] = site_b.pk
    refused = client.post(url, form)
    assert "A reason for change is required" in refused.content.decode()
    patient.refresh_from_db()
    assert patient.site.code == "AAA"

    moved = client.post(url, form | {"reason_for_change": "transferred to hospital B for treatment"})
    assert moved.status_code == 302, moved.content.decode()[:3000]
    patient.refresh_from_db()
    assert patient.site == site_b
    event = patient.events.order_by("pgh_id").last()
    assert event.site_id == site_b.pk
    assert event.pgh_context.metadata["reason"] == "transferred to hospital B for treatment"
    assert event.pgh_context.metadata["user"] == data_manager.pk
