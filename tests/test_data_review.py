"""Data queries, source-data verification, record locks and the study freeze."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from tests import factories
from trials import data_review
from trials.models import DataQuery, LabResult, PainAssessment

pytestmark = pytest.mark.django_db


@pytest.fixture
def calcium(enrolled_patient):
    draw = factories.LabDrawFactory(patient=enrolled_patient)
    return factories.LabResultFactory(lab_draw=draw, analyte="calcium", value=Decimal("2.30"))


class TestQueryLifeCycle:
    def test_open_answered_closed_reopened_each_step_audited(self, coordinator, clinician, calcium):
        query = data_review.raise_query(user=coordinator, record=calcium, field="value", question="Source says 2.03?")
        assert (query.status, query.patient_id) == ("open", calcium.lab_draw.patient_id)
        data_review.answer_query(user=clinician, query=query, answer="Typo: corrected to 2.03.")
        assert query.status == "answered" and query.answered_by == clinician
        data_review.close_query(user=coordinator, query=query)
        assert query.status == "closed" and query.closed_at is not None
        data_review.reopen_query(user=coordinator, query=query, reason="value still 2.30 on the record")
        assert query.status == "open"
        reasons = [
            e.pgh_context.metadata["reason"] for e in query.events.order_by("pgh_id").select_related("pgh_context")
        ]
        assert reasons == ["data query raised", "data query answered", "data query closed",
                           "data query re-opened: value still 2.30 on the record"]  # fmt: skip
        users = {e.pgh_context.metadata["username"] for e in query.events.select_related("pgh_context")}
        assert users == {coordinator.username, clinician.username}

    def test_role_rules(self, coordinator, clinician, investigator, calcium):
        with pytest.raises(data_review.ReviewRefused):
            data_review.raise_query(user=clinician, record=calcium, field="value", question="?")
        query = data_review.raise_query(user=coordinator, record=calcium, field="value", question="?")
        with pytest.raises(data_review.ReviewRefused):
            data_review.answer_query(user=investigator, query=query, answer="x")
        with pytest.raises(data_review.ReviewRefused):
            data_review.close_query(user=clinician, query=query)

    def test_a_query_names_a_real_field(self, coordinator, calcium):
        with pytest.raises(data_review.ReviewRefused, match="not a field"):
            data_review.raise_query(user=coordinator, record=calcium, field="password", question="?")

    def test_pages_answer_correct_and_close(self, client, coordinator, clinician, calcium):
        patient = calcium.lab_draw.patient
        client.force_login(coordinator)
        client.post(f"/queries/new/?record=labresult:{calcium.pk}", {"field": "value", "question": "2.03 in source?"})
        query = DataQuery.objects.get()
        client.force_login(clinician)
        mine = client.get("/queries/").content.decode()
        assert "My open queries" in mine and "2.03 in source?" in mine
        record = client.get(f"/patients/{patient.pk}/").content.decode()
        assert 'data-testid="open-queries"' in record
        detail = client.get(f"/queries/{query.pk}/").content.decode()
        assert f"/patients/{patient.pk}/labs/{calcium.lab_draw_id}/" in detail  # correct the value from the query
        client.post(f"/queries/{query.pk}/", {"action": "answer", "answer": "Corrected."})
        query.refresh_from_db()
        assert query.status == "answered"
        client.force_login(coordinator)
        client.post(f"/queries/{query.pk}/", {"action": "close"})
        query.refresh_from_db()
        assert query.status == "closed"

    def test_open_query_counts_on_list_and_record(self, client, coordinator, calcium):
        data_review.raise_query(user=coordinator, record=calcium, field="value", question="?")
        client.force_login(coordinator)
        listing = client.get("/patients/").content.decode()
        assert '<td data-cell="queries">1</td>' in listing

    def test_another_sites_user_cannot_see_or_raise(self, client, outsider, coordinator, calcium):
        query = data_review.raise_query(user=coordinator, record=calcium, field="value", question="?")
        client.force_login(outsider)
        assert client.get(f"/queries/{query.pk}/").status_code == 404
        assert client.get(f"/queries/new/?record=labresult:{calcium.pk}").status_code == 404


class TestSourceVerification:
    def test_progress_counts_verified_forms_and_an_edit_unverifies(self, coordinator, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        data_review.verify(user=coordinator, record=pain)
        data_review.verify(user=coordinator, record=enrolled_patient)
        patient = (
            type(enrolled_patient)
            .objects.prefetch_related("verifications", "pain_assessments")
            .get(pk=enrolled_patient.pk)
        )
        assert data_review.sdv_progress(patient) == (2, 3)  # patient, screening, pain
        PainAssessment.objects.filter(pk=pain.pk).update(who_grade=1, version=2)
        patient = (
            type(enrolled_patient)
            .objects.prefetch_related("verifications", "pain_assessments")
            .get(pk=enrolled_patient.pk)
        )
        assert data_review.sdv_progress(patient) == (1, 3)

    def test_only_coordinators_verify(self, clinician, enrolled_patient):
        with pytest.raises(data_review.ReviewRefused):
            data_review.verify(user=clinician, record=enrolled_patient)


def _verify_all(coordinator, patient):
    for record in data_review.patient_forms(_loaded(patient)):
        data_review.verify(user=coordinator, record=record)
    return _loaded(patient)


def _loaded(patient):
    return (
        type(patient)
        .objects.prefetch_related(
            "infusions", "lab_draws", "pain_assessments", "qol_assessments", "adverse_events", "verifications"
        )
        .get(pk=patient.pk)
    )


class TestLock:
    def test_an_unverified_record_cannot_be_locked(self, data_manager, enrolled_patient):
        with pytest.raises(data_review.ReviewRefused, match="0 of 2 forms"):
            data_review.lock_patient(user=data_manager, patient=_loaded(enrolled_patient))

    def test_a_locked_record_refuses_changes_by_every_path(self, client, data_manager, coordinator, clinician,
                                                           calcium):  # fmt: skip
        patient = calcium.lab_draw.patient
        data_review.lock_patient(user=data_manager, patient=_verify_all(coordinator, patient))
        # the ORM (bulk update) and raw SQL, on the patient and through a lab draw
        with pytest.raises(IntegrityError, match="is locked"), transaction.atomic():
            LabResult.objects.filter(pk=calcium.pk).update(value=Decimal("2.03"))
        with pytest.raises(IntegrityError, match="is locked"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE trials_patient SET weight_kg = 80 WHERE id = %s", [patient.pk])
        with pytest.raises(IntegrityError, match="is locked"), transaction.atomic():
            factories.AdverseEventFactory(patient=patient)
        # the pages
        client.force_login(clinician)
        response = client.get(f"/patients/{patient.pk}/adverse-events/new/", follow=True)
        assert "This patient record is locked" in response.content.decode()
        # the admin shows it read-only
        client.force_login(data_manager)
        assert client.post(f"/admin/trials/labdraw/{calcium.lab_draw_id}/delete/", {"post": "yes"}).status_code == 403
        calcium.refresh_from_db()
        assert calcium.value == Decimal("2.30")

    def test_data_cannot_be_moved_out_of_a_locked_record(self, data_manager, coordinator, enrolled_patient, site_a):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        data_review.lock_patient(user=data_manager, patient=_verify_all(coordinator, enrolled_patient))
        other = factories.PatientFactory(site=site_a)
        with pytest.raises(IntegrityError, match="is locked"), transaction.atomic():
            PainAssessment.objects.filter(pk=pain.pk).update(patient=other)

    def test_locking_twice_is_refused_politely(self, data_manager, coordinator, enrolled_patient):
        patient = _verify_all(coordinator, enrolled_patient)
        data_review.lock_patient(user=data_manager, patient=patient)
        with pytest.raises(data_review.ReviewRefused, match="already locked"):
            data_review.lock_patient(user=data_manager, patient=patient)

    def test_unlocking_needs_a_reason_and_is_audited(self, data_manager, coordinator, enrolled_patient):
        lock = data_review.lock_patient(user=data_manager, patient=_verify_all(coordinator, enrolled_patient))
        with pytest.raises(data_review.ReviewRefused, match="reason"):
            data_review.unlock_patient(user=data_manager, patient=enrolled_patient, reason="")
        data_review.unlock_patient(user=data_manager, patient=enrolled_patient, reason="late lab result arrived")
        factories.PainAssessmentFactory(patient=enrolled_patient)  # writable again
        deletion = lock.events.order_by("pgh_id").select_related("pgh_context").last()
        assert deletion.pgh_label == "delete"
        assert deletion.pgh_context.metadata["reason"] == "patient record unlocked: late lab result arrived"

    def test_only_data_managers_lock(self, coordinator, enrolled_patient):
        with pytest.raises(data_review.ReviewRefused):
            data_review.lock_patient(user=coordinator, patient=_loaded(enrolled_patient))


class TestFreeze:
    def test_a_frozen_study_refuses_every_change_and_says_since_when(self, client, data_manager, investigator,
                                                                      enrolled_patient):  # fmt: skip
        freeze = data_review.freeze_study(user=data_manager)
        with pytest.raises(IntegrityError, match="frozen since"), transaction.atomic():
            factories.PainAssessmentFactory(patient=enrolled_patient)
        with pytest.raises(IntegrityError, match="frozen since"), transaction.atomic():
            factories.PatientFactory(site=enrolled_patient.site)
        client.force_login(investigator)
        assert "data FROZEN since" in client.get("/dashboard/").content.decode()
        csv_text = client.get("/dashboard/download/enrolment.xlsx")
        assert csv_text.status_code == 200
        data_review.unfreeze_study(user=data_manager, reason="analysis amendment approved")
        factories.PainAssessmentFactory(patient=enrolled_patient)
        assert freeze.events.order_by("pgh_id").last().pgh_context.metadata["reason"].startswith("study unfrozen")

    def test_the_freeze_page_is_for_data_managers(self, client, coordinator, data_manager):
        client.force_login(coordinator)
        assert client.get("/study/freeze/").status_code == 403
        client.force_login(data_manager)
        client.post("/study/freeze/", {"action": "freeze"})
        assert 'data-testid="frozen"' in client.get("/study/freeze/").content.decode()
