"""Hostile sizes, shapes and numbers: refused with the field named, never a server error, never half-saved."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from tests.factories import api_client_for
from trials import imports
from trials.models import AdverseEvent, DataQuery, Job
from trials.models.base import FREE_TEXT_MAX_CHARS, REASON_MAX_CHARS

pytestmark = pytest.mark.django_db


def adverse_event(patient, **overrides) -> dict:
    return {"patient": patient.screening_number, "term": "nausea", "onset_on": "2020-01-14", "ctcae_grade": 1,
            "related_to": "unknown", "outcome": "ongoing"} | overrides  # fmt: skip


def pvp(patient, *levels) -> dict:
    levels = [{"level": level, "cement_ml": cement} for level, cement in levels]
    return {"patient": patient.screening_number, "performed_on": "2020-01-10", "approach": "bipedicular",
            "operator": "Dr Li", "levels": levels}  # fmt: skip


def too_long_message(limit: int, length: int) -> str:
    """Django's words, in the pages and the API alike: the limit and the length."""
    return f"Ensure this value has at most {limit} characters (it has {length})."


# --- oversized text and uploads ---------------------------------------------------------------


class TestOversizedText:
    def test_a_long_description_is_refused_by_the_api_with_length_and_limit(self, clinician, enrolled_patient):
        text = "x" * (FREE_TEXT_MAX_CHARS + 1)
        response = api_client_for(clinician).post(
            "/api/v1/adverse-events/", adverse_event(enrolled_patient, description=text), format="json"
        )
        assert response.status_code == 400
        assert response.json() == {"description": [too_long_message(FREE_TEXT_MAX_CHARS, FREE_TEXT_MAX_CHARS + 1)]}
        assert not AdverseEvent.objects.exists()

    def test_text_at_the_limit_is_accepted(self, clinician, enrolled_patient):
        text = "患" * FREE_TEXT_MAX_CHARS  # characters, not bytes: Chinese text gets the same room
        response = api_client_for(clinician).post(
            "/api/v1/adverse-events/", adverse_event(enrolled_patient, description=text), format="json"
        )
        assert response.status_code == 201, response.json()
        assert AdverseEvent.objects.get().description == text

    def test_a_short_field_names_the_length_too(self, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/pvp-procedures/", pvp(enrolled_patient, ("T12", "2.5")) | {"operator": "x" * 101}, format="json"
        )
        assert response.status_code == 400
        assert response.json() == {"operator": [too_long_message(100, 101)]}

    def test_a_long_reason_for_change_is_refused(self, clinician, enrolled_patient):
        response = api_client_for(clinician).patch(
            f"/api/v1/patients/{enrolled_patient.pk}/",
            {"initials": "CD", "version": enrolled_patient.version, "reason": "r" * (REASON_MAX_CHARS + 1)},
            format="json",
        )
        assert response.status_code == 400
        assert response.json() == {"reason": [too_long_message(REASON_MAX_CHARS, REASON_MAX_CHARS + 1)]}

    def test_the_page_names_the_field_the_length_and_the_limit(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        response = client.post(
            f"/patients/{enrolled_patient.pk}/end-of-study/",
            {"end_date": "2020-06-01", "end_reason": "other", "notes": "n" * (FREE_TEXT_MAX_CHARS + 1)},
        )
        assert response.status_code == 200
        summary = [(label, str(message)) for label, message in response.context["form"].error_summary()]
        assert summary == [("Notes", too_long_message(FREE_TEXT_MAX_CHARS, FREE_TEXT_MAX_CHARS + 1))]
        assert too_long_message(FREE_TEXT_MAX_CHARS, FREE_TEXT_MAX_CHARS + 1) in response.content.decode()

    def test_a_long_query_question_or_answer_is_refused_on_the_page_and_in_the_api(
        self, client, clinician, coordinator, enrolled_patient
    ):
        event = factories.AdverseEventFactory(patient=enrolled_patient)
        long_text = "q" * (FREE_TEXT_MAX_CHARS + 1)
        client.force_login(coordinator)
        page = client.post(f"/queries/new/?record=adverseevent:{event.pk}", {"field": "description",
                                                                           "question": long_text})  # fmt: skip
        assert f"has {FREE_TEXT_MAX_CHARS + 1} characters; the limit is {FREE_TEXT_MAX_CHARS}" in page.content.decode()
        refused = api_client_for(coordinator).post(
            "/api/v1/data-queries/", {"record": f"adverseevent:{event.pk}", "field": "description",
                                      "question": long_text}, format="json",
        )  # fmt: skip
        assert refused.status_code == 400 and "question" in refused.json()
        assert not DataQuery.objects.exists()
        query = api_client_for(coordinator).post(
            "/api/v1/data-queries/", {"record": f"adverseevent:{event.pk}", "field": "description",
                                      "question": "Which?"}, format="json",
        ).json()  # fmt: skip
        answer = api_client_for(clinician).post(f"/api/v1/data-queries/{query['id']}/answer/", {"text": long_text},
                                         format="json")  # fmt: skip
        assert answer.status_code == 400 and answer.json() == {
            "text": [too_long_message(FREE_TEXT_MAX_CHARS, FREE_TEXT_MAX_CHARS + 1)]
        }
        client.force_login(clinician)
        page = client.post(f"/queries/{query['id']}/", {"action": "answer", "answer": long_text}, follow=True)
        assert f"has {FREE_TEXT_MAX_CHARS + 1} characters; the limit is {FREE_TEXT_MAX_CHARS}" in page.content.decode()
        assert DataQuery.objects.get().answer == ""

    def test_an_import_row_with_too_long_text_is_a_problem_naming_the_field(self, clinician, enrolled_patient):
        long_text = "d" * (FREE_TEXT_MAX_CHARS + 1)
        text = (
            "screening_number,term,onset_on,ctcae_grade,related_to,outcome,description\n"
            f"{enrolled_patient.screening_number},nausea,2020-01-14,1,unknown,ongoing,{long_text}\n"
        )
        _records, problems = imports.check(clinician, "adverse_event", text.encode())
        assert [(p.row, p.field, p.rule) for p in problems] == [
            (1, "description", too_long_message(FREE_TEXT_MAX_CHARS, FREE_TEXT_MAX_CHARS + 1))
        ]

    def test_a_huge_json_body_is_refused_without_a_server_error(self, clinician, enrolled_patient):
        body = json.dumps(adverse_event(enrolled_patient, description="x" * (3 * 1024 * 1024)))
        response = api_client_for(clinician).post("/api/v1/adverse-events/", body, content_type="application/json")
        assert response.status_code == 413
        assert response.json() == {"detail": "The request body is larger than the limit of 2621440 bytes."}
        assert not AdverseEvent.objects.exists()


class TestOversizedUploads:
    def test_an_upload_over_the_limit_is_refused_before_it_is_read(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        size = imports.MAX_BYTES + 1
        big = SimpleUploadedFile("big.csv", b"x" * size, content_type="text/csv")
        response = client.post("/imports/", {"form": "pain", "action": "check", "file": big})
        assert response.status_code == 200
        page = response.content.decode()
        assert f"{size} bytes" in page and "larger than 5 MB" in page
        assert not Job.objects.exists()  # refused on the spot: no job was started with it


# --- malformed JSON and wrong shapes ----------------------------------------------------------

CREATE_URLS = ["/api/v1/patients/", "/api/v1/screenings/", "/api/v1/pvp-procedures/", "/api/v1/infusions/",
               "/api/v1/lab-draws/", "/api/v1/pain-assessments/", "/api/v1/qol-assessments/", "/api/v1/responses/",
               "/api/v1/adverse-events/", "/api/v1/end-of-study/", "/api/v1/data-queries/",
               "/api/v1/verifications/"]  # fmt: skip


class TestMalformedJson:
    @pytest.mark.parametrize("url", CREATE_URLS)
    @pytest.mark.parametrize(
        "body", ['{"patient": "AAA-S001", "timepoint": ', "[1, 2]", '"text"', "null", '{"a": NaN}', "\x00"]
    )
    def test_a_broken_body_is_400_with_a_json_answer(self, url, body, clinician, coordinator):
        user = coordinator if url == "/api/v1/verifications/" else clinician
        response = api_client_for(user).post(url, body, content_type="application/json")
        assert response.status_code == 400, (url, body, response.content[:300])
        assert response.json()

    def test_the_wrong_content_type_is_415_with_a_json_answer(self, clinician):
        response = api_client_for(clinician).post("/api/v1/pain-assessments/", "who_grade=2", content_type="text/plain")
        assert response.status_code == 415 and "Unsupported media type" in response.json()["detail"]

    @pytest.mark.parametrize("action", ["answer", "close", "reopen"])
    def test_a_list_instead_of_an_object_in_a_workflow_action(self, action, coordinator, enrolled_patient):
        event = factories.AdverseEventFactory(patient=enrolled_patient)
        query = DataQuery.objects.create(patient=enrolled_patient, record_type="adverseevent", record_id=event.pk,
                                         field="description", question="?", raised_by=coordinator)  # fmt: skip
        response = api_client_for(coordinator).post(f"/api/v1/data-queries/{query.pk}/{action}/", [1], format="json")
        assert response.status_code in (400, 403), response.content[:300]

    def test_a_list_to_the_signature(self, coordinator, patient_a):
        screening = factories.ScreeningFactory(patient=patient_a)
        response = api_client_for(coordinator).post(f"/api/v1/screenings/{screening.pk}/sign/", [1], format="json")
        assert response.status_code == 400 and response.json()

    @pytest.mark.parametrize(
        ("url", "field", "value"),
        [
            ("/api/v1/pvp-procedures/", "levels", {"level": "T12", "cement_ml": "2.5"}),
            ("/api/v1/pvp-procedures/", "levels", ["T12"]),
            ("/api/v1/lab-draws/", "results", [120]),
            ("/api/v1/lab-draws/", "results", {"alp": {"amount": 120}}),  # {"value", "unit"} is a lab value (issue 16)
            ("/api/v1/lab-draws/", "critical_confirmed", "calcium"),
            ("/api/v1/screenings/", "criteria", "I1=yes"),
            ("/api/v1/screenings/", "criteria", {"I1": ["yes"]}),
        ],
    )
    def test_a_nested_value_of_the_wrong_shape_is_400_naming_it(self, url, field, value, clinician, enrolled_patient):
        body = {"patient": enrolled_patient.screening_number, "timepoint": "follow_up", "drawn_on": "2020-05-01",
                "performed_on": "2020-01-10", "approach": "bipedicular", "operator": "Dr Li",
                "screened_on": "2020-01-06", field: value}  # fmt: skip
        response = api_client_for(clinician).post(url, body, format="json")
        assert response.status_code == 400, response.content[:300]
        assert field in response.json()

    @pytest.mark.parametrize("text", ["nul \x00 byte", "lone surrogate \ud800"])
    def test_text_postgresql_cannot_store_is_400(self, text, clinician, enrolled_patient):
        body = json.dumps(adverse_event(enrolled_patient, description=text))  # \u0000 and \ud800 escapes
        response = api_client_for(clinician).post("/api/v1/adverse-events/", body, content_type="application/json")
        assert response.status_code == 400 and "description" in response.json()

    def test_a_nul_byte_in_an_import_is_a_problem_not_a_crash(self, clinician, enrolled_patient):
        text = (
            "screening_number,term,onset_on,ctcae_grade,related_to,outcome,description\n"
            f"{enrolled_patient.screening_number},nausea,2020-01-14,1,unknown,ongoing,a\x00b\n"
        )
        saved, problems = imports.commit(clinician, "adverse_event", text.encode(), "nul.csv")
        assert saved == 0 and [(p.row, p.field) for p in problems] == [(1, "description")]
        assert not AdverseEvent.objects.exists()
