"""Deletion is only a soft delete with a reason: gone from pages, counts, exports and outcomes; kept in the audit."""

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from tests import factories
from tests.factories import api_client_for
from tests.test_data_review import _verify_all
from trials import data_review, exports, services
from trials.models import Infusion, LabDraw, Patient, StudyFreeze

pytestmark = pytest.mark.django_db


def _delete_page(patient, slug, record):
    return f"/patients/{patient.pk}/{slug}/{record.pk}/delete/"


class TestDeletingAFormInTheBrowser:
    def test_the_edit_page_offers_deletion_and_the_form_leaves_the_record(self, client, clinician, enrolled_patient):
        infusion = factories.InfusionFactory(patient=enrolled_patient, cycle=2)
        client.force_login(clinician)
        edit = client.get(f"/patients/{enrolled_patient.pk}/infusions/{infusion.pk}/").content.decode()
        assert _delete_page(enrolled_patient, "infusions", infusion) in edit
        confirm = client.get(_delete_page(enrolled_patient, "infusions", infusion)).content.decode()
        assert "Reason for deletion" in confirm and "Cycle" in confirm  # shows what will go
        response = client.post(_delete_page(enrolled_patient, "infusions", infusion), {"reason": "wrong patient"})
        assert response.status_code == 302
        record = client.get(f"/patients/{enrolled_patient.pk}/").content.decode()
        assert f"/infusions/{infusion.pk}/" not in record
        assert client.get(f"/patients/{enrolled_patient.pk}/infusions/{infusion.pk}/").status_code == 404
        # The row and its audit stay: who, when, why.
        kept = Infusion.all_objects.get(pk=infusion.pk)
        assert kept.deleted_by == clinician and kept.deletion_reason == "wrong patient" and kept.deleted_at
        event = kept.events.order_by("pgh_id").select_related("pgh_context").last()
        assert event.pgh_context.metadata["reason"] == "deleted: wrong patient"
        assert event.pgh_context.metadata["user"] == clinician.pk

    def test_no_reason_no_deletion(self, client, clinician, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        client.force_login(clinician)
        response = client.post(_delete_page(enrolled_patient, "pain", pain), {"reason": "  "})
        assert response.status_code == 400
        assert "A reason is required to delete a form." in response.content.decode()
        assert not type(pain).all_objects.get(pk=pain.pk).is_deleted

    def test_a_deleted_form_can_be_entered_again(self, clinician, enrolled_patient):
        first = factories.InfusionFactory(patient=enrolled_patient, cycle=1)
        services.soft_delete(first, user=clinician, reason="duplicate")
        again = factories.InfusionFactory(patient=enrolled_patient, cycle=1)
        assert list(enrolled_patient.infusions.all()) == [again]

    def test_deleting_twice_is_refused(self, clinician, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        services.soft_delete(pain, user=clinician, reason="duplicate")
        with pytest.raises(ValidationError, match="already deleted"):
            services.soft_delete(pain, user=clinician, reason="again")

    def test_other_sites_and_other_roles_cannot_delete(self, client, outsider, investigator, enrolled_patient):
        ae = factories.AdverseEventFactory(patient=enrolled_patient)
        url = _delete_page(enrolled_patient, "adverse-events", ae)
        client.force_login(outsider)
        assert client.post(url, {"reason": "x"}).status_code == 404
        client.force_login(investigator)
        assert client.post(url, {"reason": "x"}).status_code == 403
        assert not type(ae).all_objects.get(pk=ae.pk).is_deleted

    def test_a_locked_record_refuses_deletion(self, client, clinician, coordinator, data_manager, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        data_review.lock_patient(user=data_manager, patient=_verify_all(coordinator, enrolled_patient))
        client.force_login(clinician)
        response = client.post(_delete_page(enrolled_patient, "pain", pain), {"reason": "x"}, follow=True)
        assert "locked" in response.content.decode()
        assert not type(pain).all_objects.get(pk=pain.pk).is_deleted


class TestDeletedDataLeaveTheResults:
    def test_outcomes_forget_a_deleted_adverse_event(self, investigator, clinician, enrolled_patient):
        ae = factories.AdverseEventFactory(patient=enrolled_patient, term="fever", ctcae_grade=1)
        before = api_client_for(investigator).get("/api/v1/outcomes/").json()["adverse_events"]
        assert before["patients_with_any"] == 1
        services.soft_delete(ae, user=clinician, reason="entered twice")
        after = api_client_for(investigator).get("/api/v1/outcomes/").json()["adverse_events"]
        assert after["patients_with_any"] == 0 and after["by_term"] == {}

    def test_exports_leave_out_a_deleted_lab_draw_and_its_results(self, data_manager, clinician, enrolled_patient):
        draw = factories.LabDrawFactory(patient=enrolled_patient, timepoint="baseline")
        factories.LabResultFactory(lab_draw=draw, analyte="alp", value=100)
        frames = exports.read_study(data_manager).frames
        assert len(frames["lab_draw"]) == 1 and len(frames["lab_result"]) == 1
        services.soft_delete(draw, user=clinician, reason="sample haemolysed, redrawn")
        frames = exports.read_study(data_manager).frames
        assert len(frames["lab_draw"]) == 0 and len(frames["lab_result"]) == 0
        assert "deletion_reason" not in frames["lab_draw"].columns


class TestDeletingAPatient:
    def test_a_patient_registered_in_error_can_be_deleted(self, client, clinician, patient_a):
        client.force_login(clinician)
        assert f"/patients/{patient_a.pk}/delete/" in client.get(f"/patients/{patient_a.pk}/edit/").content.decode()
        response = client.post(f"/patients/{patient_a.pk}/delete/", {"reason": "registered twice"})
        assert response.status_code == 302
        assert "deleted" in client.get("/patients/").content.decode()  # the confirmation, once
        assert patient_a.screening_number not in client.get("/patients/").content.decode()
        assert client.get(f"/patients/{patient_a.pk}/").status_code == 404
        assert Patient.all_objects.get(pk=patient_a.pk).deletion_reason == "registered twice"

    def test_an_enrolled_patient_cannot_be_deleted(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        assert "/delete/" not in client.get(f"/patients/{enrolled_patient.pk}/edit/").content.decode()
        response = client.post(f"/patients/{enrolled_patient.pk}/delete/", {"reason": "x"})
        assert response.status_code == 400 and "cannot be deleted" in response.content.decode()
        with pytest.raises(ValidationError, match="cannot be deleted"):
            services.soft_delete(enrolled_patient, user=clinician, reason="x")
        assert not Patient.all_objects.get(pk=enrolled_patient.pk).is_deleted


class TestApiDeletion:
    def test_delete_needs_a_reason_and_answers_204(self, clinician, enrolled_patient):
        draw = factories.LabDrawFactory(patient=enrolled_patient)
        api = api_client_for(clinician)
        missing = api.delete(f"/api/v1/lab-draws/{draw.pk}/")
        assert missing.status_code == 400 and "reason" in missing.json()
        done = api.delete(f"/api/v1/lab-draws/{draw.pk}/", {"reason": "duplicate"}, format="json")
        assert done.status_code == 204
        assert api.get(f"/api/v1/lab-draws/{draw.pk}/").status_code == 404
        assert LabDraw.all_objects.get(pk=draw.pk).deletion_reason == "duplicate"

    def test_rights_and_scoping_apply(self, investigator, outsider, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        url = f"/api/v1/pain-assessments/{pain.pk}/"
        assert APIClient().delete(url, {"reason": "x"}, format="json").status_code == 401
        assert api_client_for(investigator).delete(url, {"reason": "x"}, format="json").status_code == 403
        assert api_client_for(outsider).delete(url, {"reason": "x"}, format="json").status_code == 404

    def test_single_forms_are_not_deletable(self, clinician, enrolled_patient):
        response = factories.TumourResponseFactory(patient=enrolled_patient)
        answer = api_client_for(clinician).delete(f"/api/v1/responses/{response.pk}/", {"reason": "x"}, format="json")
        assert answer.status_code == 405

    def test_an_enrolled_patient_is_refused_with_the_rule(self, clinician, enrolled_patient):
        answer = api_client_for(clinician).delete(
            f"/api/v1/patients/{enrolled_patient.pk}/", {"reason": "x"}, format="json"
        )
        assert answer.status_code == 400 and "cannot be deleted" in answer.json()["detail"]


class TestApiLockAndFreeze:
    def test_a_data_manager_locks_and_unlocks_with_a_reason(
        self, data_manager, coordinator, clinician, enrolled_patient
    ):
        _verify_all(coordinator, enrolled_patient)
        url = f"/api/v1/patients/{enrolled_patient.pk}/"
        assert api_client_for(clinician).post(f"{url}lock/").status_code == 403
        manager = api_client_for(data_manager)
        assert manager.post(f"{url}lock/").json()["locked"] is True
        assert manager.post(f"{url}lock/").status_code == 409  # already locked, says so
        assert manager.post(f"{url}unlock/", {}, format="json").status_code == 400  # reason required
        assert manager.post(f"{url}unlock/", {"reason": "late result"}, format="json").json()["locked"] is False

    def test_a_record_with_unverified_forms_is_not_locked(self, data_manager, enrolled_patient):
        answer = api_client_for(data_manager).post(f"/api/v1/patients/{enrolled_patient.pk}/lock/")
        assert answer.status_code == 409 and "source-verified" in answer.json()["detail"]

    def test_freeze_and_unfreeze(self, data_manager, investigator):
        assert api_client_for(investigator).post("/api/v1/study/freeze/").status_code == 403
        manager = api_client_for(data_manager)
        assert manager.get("/api/v1/study/").json()["frozen"] is False
        assert manager.post("/api/v1/study/freeze/").json()["frozen"] is True
        assert StudyFreeze.objects.exists()
        assert manager.post("/api/v1/study/unfreeze/", {"reason": ""}, format="json").status_code == 400
        assert manager.post("/api/v1/study/unfreeze/", {"reason": "query resolved"}, format="json").json() == {
            "frozen": False,
            "frozen_since": None,
            "sites_frozen_since": {"AAA": None},
        }
