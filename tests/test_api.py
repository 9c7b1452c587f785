"""The REST API: same scoping, rights, rules, audit and conflict handling as the pages."""

import hashlib
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from tests import factories
from tests.factories import api_client_for
from trials import enrolment
from trials.models import LabDraw, PainAssessment, Screening, SourceVerification, TreatedLevel

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


class TestAuthenticationAndAccess:
    @pytest.mark.parametrize("url", ["/api/v1/patients/", "/api/v1/lab-draws/", "/api/v1/outcomes/"])
    def test_anonymous_requests_get_401(self, url):
        assert APIClient().get(url).status_code == 401

    def test_a_token_authenticates(self, clinician, patient_a):
        response = api_client_for(clinician).get("/api/v1/patients/")
        assert response.status_code == 200
        assert [row["screening_number"] for row in response.json()["results"]] == [patient_a.screening_number]

    def test_another_sites_record_is_404(self, outsider, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        assert api_client_for(outsider).get(f"/api/v1/pain-assessments/{pain.pk}/").status_code == 404
        assert api_client_for(outsider).get("/api/v1/pain-assessments/").json()["results"] == []

    def test_an_investigator_cannot_write(self, investigator, enrolled_patient):
        response = api_client_for(investigator).post(
            "/api/v1/pain-assessments/",
            {"patient": enrolled_patient.screening_number, "timepoint": "baseline", "assessed_on": "2020-01-07",
             "who_grade": 2}, format="json",
        )  # fmt: skip
        assert response.status_code == 403

    def test_another_sites_patient_cannot_be_referenced(self, outsider, enrolled_patient):
        response = api_client_for(outsider).post(
            "/api/v1/pain-assessments/",
            {"patient": enrolled_patient.screening_number, "timepoint": "baseline", "assessed_on": "2020-01-07",
             "who_grade": 2}, format="json",
        )  # fmt: skip
        assert response.status_code == 400 and "patient" in response.json()

    def test_filters(self, clinician, enrolled_patient, patient_a):
        factories.PainAssessmentFactory(patient=enrolled_patient, timepoint="baseline")
        factories.PainAssessmentFactory(patient=patient_a, timepoint="baseline")
        api = api_client_for(clinician)
        rows = api.get("/api/v1/pain-assessments/", {"patient": enrolled_patient.screening_number}).json()["results"]
        assert [row["patient"] for row in rows] == [enrolled_patient.screening_number]
        assert api.get("/api/v1/pain-assessments/", {"timepoint": "follow_up"}).json()["results"] == []


class TestSameRulesAsTheForms:
    def test_an_impossible_lab_value_is_400_naming_field_value_and_rule(self, clinician, patient_a):
        response = api_client_for(clinician).post(
            "/api/v1/lab-draws/",
            {"patient": patient_a.screening_number, "timepoint": "baseline", "drawn_on": "2020-01-07",
             "results": {"alp": 120, "calcium": 45}, "critical_confirmed": ["calcium"]}, format="json",
        )  # fmt: skip
        assert response.status_code == 400
        assert response.json() == {
            "results": {"calcium": ["Serum calcium 45 mmol/L is impossible: it must lie in 0.5–6.0 mmol/L."]}
        }
        assert not LabDraw.objects.exists()

    def test_a_critical_value_needs_its_confirmation(self, clinician, patient_a):
        api = api_client_for(clinician)
        body = {"patient": patient_a.screening_number, "timepoint": "baseline", "drawn_on": "2020-01-07",
                "results": {"calcium": "3.6"}}  # fmt: skip
        refused = api.post("/api/v1/lab-draws/", body, format="json")
        assert "critical value" in refused.json()["results"]["calcium"][0]
        saved = api.post("/api/v1/lab-draws/", body | {"critical_confirmed": ["calcium"]}, format="json")
        assert saved.status_code == 201 and saved.json()["results"] == {"calcium": 3.6}

    def test_the_treatment_gate_applies(self, clinician, patient_a):
        response = api_client_for(clinician).post(
            "/api/v1/infusions/",
            {"patient": patient_a.screening_number, "cycle": 1, "infused_on": "2020-01-13", "dose_mg": "4.0",
             "duration_min": 20}, format="json",
        )  # fmt: skip
        assert response.status_code == 400
        assert "signed by a coordinator" in str(response.json())

    def test_a_pvp_with_one_bad_level_saves_nothing(self, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/pvp-procedures/",
            {"patient": enrolled_patient.screening_number, "performed_on": "2020-01-10", "approach": "bipedicular",
             "operator": "Dr Li", "levels": [{"level": "T12", "cement_ml": "2.5"}, {"level": "L1", "cement_ml": "20"}]},
            format="json",
        )  # fmt: skip
        assert response.status_code == 400
        assert "20.0 is impossible: the value must lie in 0.5–12 ml." in str(response.json()["levels"])
        assert not TreatedLevel.objects.exists()

    def test_a_pvp_with_its_levels(self, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/pvp-procedures/",
            {"patient": enrolled_patient.screening_number, "performed_on": "2020-01-10", "approach": "bipedicular",
             "operator": "Dr Li",
             "levels": [{"level": "T12", "cement_ml": "2.5"}, {"level": "L1", "cement_ml": "4.5"}]},
            format="json",
        )  # fmt: skip
        assert response.status_code == 201, response.json()
        assert [level["level"] for level in response.json()["levels"]] == ["L1", "T12"]


class TestEditing:
    def test_an_update_needs_a_reason_and_is_audited_with_it(self, clinician, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient, who_grade=3)
        api = api_client_for(clinician)
        url = f"/api/v1/pain-assessments/{pain.pk}/"
        assert "reason" in api.patch(url, {"who_grade": 2, "version": 1}, format="json").json()
        response = api.patch(url, {"who_grade": 2, "version": 1, "reason": "source: grade II"}, format="json")
        assert response.status_code == 200 and response.json()["version"] == 2
        event = pain.events.order_by("pgh_id").last()
        assert event.pgh_context.metadata["reason"] == "source: grade II"
        assert event.pgh_context.metadata["user"] == clinician.pk

    def test_a_stale_version_is_409_with_the_other_change(self, clinician, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient, who_grade=3)
        api = api_client_for(clinician)
        url = f"/api/v1/pain-assessments/{pain.pk}/"
        api.patch(url, {"who_grade": 2, "version": 1, "reason": "first"}, format="json")
        conflict = api.patch(url, {"vas": "5", "version": 1, "reason": "second"}, format="json")
        assert conflict.status_code == 409
        assert conflict.json()["their_changes"] == {"who_grade": ["3", "2"]}
        assert PainAssessment.objects.get(pk=pain.pk).vas is None

    def test_editing_a_lab_draw_changes_only_the_results_that_changed(self, clinician, enrolled_patient):
        api = api_client_for(clinician)
        created = api.post(
            "/api/v1/lab-draws/",
            {"patient": enrolled_patient.screening_number, "timepoint": "baseline", "drawn_on": "2020-01-07",
             "results": {"alp": "120", "calcium": "2.30", "albumin": "35"}}, format="json",
        ).json()  # fmt: skip
        draw = LabDraw.objects.get(pk=created["id"])
        before = {result.analyte: result for result in draw.results.all()}
        assert all(result.events.count() == 1 for result in before.values())  # each insert audited
        response = api.patch(
            f"/api/v1/lab-draws/{draw.pk}/",
            {"results": {"alp": "120", "calcium": "2.45"}, "version": 1, "reason": "lab re-run"}, format="json",
        )  # fmt: skip
        assert response.status_code == 200 and response.json()["results"] == {"alp": 120.0, "calcium": 2.45}
        after = {result.analyte: result for result in draw.results.all()}
        assert after["calcium"].version == 2 and after["calcium"].events.last().pgh_context.metadata["reason"] == (
            "lab re-run"
        )
        assert after["alp"].version == 1 and after["alp"].events.count() == 1  # unchanged: untouched
        assert "albumin" not in after  # no longer sent: deleted (and the deletion audited)

        # A PATCH without `results` (here: the fasting flag) leaves the results as they are.
        fasting = api.patch(f"/api/v1/lab-draws/{draw.pk}/", {"fasting": True, "version": 2, "reason": "fasted"},
                            format="json")  # fmt: skip
        assert fasting.status_code == 200 and fasting.json()["results"] == {"alp": 120.0, "calcium": 2.45}

    def test_there_is_no_hard_delete(self, clinician, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        assert api_client_for(clinician).delete(f"/api/v1/pain-assessments/{pain.pk}/").status_code == 400  # no reason
        api_client_for(clinician).delete(f"/api/v1/pain-assessments/{pain.pk}/", {"reason": "duplicate"}, format="json")
        assert PainAssessment.all_objects.get(pk=pain.pk).is_deleted  # the row stays


class TestScreeningWorkflow:
    def test_criteria_map_sign_and_read_only(self, clinician, coordinator, patient_a):
        created = api_client_for(clinician).post(
            "/api/v1/screenings/",
            {"patient": patient_a.screening_number, "screened_on": "2020-01-06", "kps": 70,
             "life_expectancy_over_90_days": "yes", "consent_date": "2020-01-06",
             "criteria": {"I1": "yes", "I2": "yes", "I3": "yes", "I5": "yes", "E1": "no", "E2": "no", "E3": "no",
                          "E4": "no", "E5": "no"}}, format="json",
        )  # fmt: skip
        assert created.status_code == 201, created.json()
        assert created.json()["eligible"] is True and created.json()["criteria"]["I4"] == "yes"
        screening_id = created.json()["id"]
        assert (
            api_client_for(clinician)
            .post(f"/api/v1/screenings/{screening_id}/sign/", {"password": PASSWORD})
            .status_code
            == 403
        )
        coordinator_api = api_client_for(coordinator)
        wrong = coordinator_api.post(f"/api/v1/screenings/{screening_id}/sign/", {"password": "nope", "version": 1})
        assert wrong.status_code == 400 and "password is not correct" in wrong.json()["detail"]
        unnamed = coordinator_api.post(f"/api/v1/screenings/{screening_id}/sign/", {"password": PASSWORD})
        assert unnamed.status_code == 400 and "version" in unnamed.json()
        signed = coordinator_api.post(f"/api/v1/screenings/{screening_id}/sign/", {"password": PASSWORD, "version": 1})
        screening = Screening.objects.get(pk=screening_id)
        assert signed.json() == {"signed": True, "detail": "Signed. AAA-001 is enrolled.", "study_id": "AAA-001",
                                 "version": 2, "signed_content_sha256": screening.signed_content_hash}  # fmt: skip
        assert screening.signed_version == 1
        assert screening.signed_content_hash == hashlib.sha256(enrolment.signed_content(
            Screening(**{**{f.attname: getattr(screening, f.attname) for f in Screening._meta.concrete_fields},
                         "version": 1})).encode()).hexdigest()  # fmt: skip
        edit = api_client_for(clinician).patch(
            f"/api/v1/screenings/{screening_id}/", {"kps": 30, "version": 2, "reason": "x"}, format="json"
        )
        assert edit.status_code == 400 and "signed and read-only" in str(edit.json())

    def test_i4_cannot_be_typed(self, clinician, patient_a):
        response = api_client_for(clinician).post(
            "/api/v1/screenings/",
            {"patient": patient_a.screening_number, "screened_on": "2020-01-06", "criteria": {"I4": "yes"}},
            format="json",
        )
        assert response.status_code == 400 and "I4 is derived" in str(response.json())


class TestLockedData:
    def test_a_locked_record_answers_409(self, clinician, data_manager, coordinator, enrolled_patient):
        from trials import data_review

        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        patient = (
            type(enrolled_patient)
            .objects.prefetch_related("pain_assessments", "verifications")
            .get(pk=enrolled_patient.pk)
        )
        for record in data_review.patient_forms(patient):
            data_review.verify(user=coordinator, record=record)
        data_review.lock_patient(user=data_manager, patient=type(patient).objects.prefetch_related(
            "pain_assessments", "verifications").get(pk=patient.pk))  # fmt: skip
        response = api_client_for(clinician).patch(
            f"/api/v1/pain-assessments/{pain.pk}/", {"who_grade": 1, "version": 1, "reason": "x"}, format="json"
        )
        assert response.status_code == 409 and "locked" in response.json()["detail"]


def test_the_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"openapi: 3" in schema.content
    for path in ("/api/v1/lab-draws/", "/api/v1/screenings/{id}/sign/", "/api/v1/outcomes/"):
        assert path.encode() in schema.content
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()
    assert Decimal  # noqa: B018 - imported for readability of the values above


class TestWorkflowTwins:
    def test_the_query_life_cycle_through_the_api(self, clinician, coordinator, outsider, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient, who_grade=3)
        coordinator_api, clinician_api = api_client_for(coordinator), api_client_for(clinician)
        raised = coordinator_api.post(
            "/api/v1/data-queries/", {"record": f"painassessment:{pain.pk}", "field": "who_grade",
                                      "question": "Source says II?"}, format="json",
        )  # fmt: skip
        assert raised.status_code == 201 and raised.json()["status"] == "open"
        query_id = raised.json()["id"]
        assert clinician_api.post(f"/api/v1/data-queries/{query_id}/close/").status_code == 403
        answered = clinician_api.post(f"/api/v1/data-queries/{query_id}/answer/", {"text": "Corrected."}, format="json")
        assert answered.json()["status"] == "answered"
        assert coordinator_api.post(f"/api/v1/data-queries/{query_id}/close/").json()["status"] == "closed"
        reopened = coordinator_api.post(
            f"/api/v1/data-queries/{query_id}/reopen/", {"text": "still III"}, format="json"
        )
        assert reopened.json()["status"] == "open"
        assert api_client_for(outsider).get(f"/api/v1/data-queries/{query_id}/").status_code == 404
        other_site = api_client_for(outsider).post(
            "/api/v1/data-queries/",
            {"record": f"painassessment:{pain.pk}", "field": "who_grade", "question": "?"},
            format="json",
        )
        assert other_site.status_code in (403, 404)

    def test_source_verification_through_the_api(self, coordinator, clinician, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        record = {"record": f"painassessment:{pain.pk}", "version": 1}
        assert api_client_for(clinician).post("/api/v1/verifications/", record).status_code == 403
        done = api_client_for(coordinator).post("/api/v1/verifications/", record)
        assert done.status_code == 201 and done.json()["version"] == 1

    def test_a_verification_names_the_version_checked(self, coordinator, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        PainAssessment.objects.filter(pk=pain.pk).update(version=2)  # edited after the coordinator opened it
        stale = api_client_for(coordinator).post("/api/v1/verifications/", {"record": f"painassessment:{pain.pk}",
                                                                           "version": 1})  # fmt: skip
        assert stale.status_code == 409 and stale.json()["version"] == 2
        assert not SourceVerification.objects.exists()
        unnamed = api_client_for(coordinator).post("/api/v1/verifications/", {"record": f"painassessment:{pain.pk}"})
        assert unnamed.status_code == 400 and "version" in unnamed.json()

    def test_a_signature_names_the_version_reviewed(self, clinician, coordinator, patient_a):
        screening = factories.ScreeningFactory(patient=patient_a)
        Screening.objects.filter(pk=screening.pk).update(version=3, kps=60)  # changed after the review
        stale = api_client_for(coordinator).post(f"/api/v1/screenings/{screening.pk}/sign/",
                                                 {"password": PASSWORD, "version": 2})  # fmt: skip
        assert stale.status_code == 409 and "changed after you opened it" in stale.json()["detail"]
        assert not Screening.objects.get(pk=screening.pk).is_signed
