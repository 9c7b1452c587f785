"""Coordinator workflow: review, e-signature, enrolment or screen failure, the log and the flow."""

import threading
from datetime import date

import pytest
from django.db import DatabaseError, connection, transaction

from tests import factories
from trials import enrolment
from trials.models import Patient, Screening, SignatureAttempt

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def answers(**overrides):
    values = {"i1": "yes", "i2": "yes", "i3": "yes", "i5": "yes"} | {f"e{n}": "no" for n in range(1, 6)}
    return values | overrides


class TestEligibilityRules:
    @pytest.mark.parametrize(
        ("field", "answer", "code"),
        [("i1", "no", "I1"), ("i2", "no", "I2"), ("i3", "no", "I3"), ("i5", "no", "I5"), ("e1", "yes", "E1"),
         ("e2", "yes", "E2"), ("e3", "yes", "E3"), ("e4", "yes", "E4"), ("e5", "yes", "E5")],
    )  # fmt: skip
    def test_each_criterion_failing_alone_makes_the_patient_ineligible_with_that_reason(self, field, answer, code):
        screening = Screening(kps=70, life_expectancy_over_90_days="yes", **answers(**{field: answer}))
        assert (screening.eligible, screening.failed_criteria) == (False, (code,))

    @pytest.mark.parametrize(("kps", "eligible", "failed"), [(30, False, ("I4",)), (40, True, ())])
    def test_i4_follows_kps_at_the_boundary(self, kps, eligible, failed):
        screening = Screening(kps=kps, life_expectancy_over_90_days="yes", **answers())
        assert (screening.eligible, screening.failed_criteria) == (eligible, failed)

    def test_i4_follows_life_expectancy(self):
        assert Screening(kps=90, life_expectancy_over_90_days="no", **answers()).failed_criteria == ("I4",)

    @pytest.mark.parametrize("field", ["i1", "e3", "life_expectancy_over_90_days"])
    def test_any_unknown_makes_the_screening_incomplete(self, field):
        values = answers() | {"life_expectancy_over_90_days": "yes"} | {field: "unknown"}
        assert Screening(kps=70, **values).eligible is None


class TestSignature:
    def test_signing_an_eligible_screening_enrols_with_the_manifest(self, coordinator, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        result = enrolment.sign_screening(screening, signer=coordinator, password=PASSWORD)
        assert result.signed and result.enrolled
        screening.refresh_from_db()
        assert screening.patient.study_id == "AAA-001"
        assert screening.signed_by == coordinator
        assert screening.signed_name == coordinator.get_full_name()
        assert screening.signature_meaning == enrolment.SIGNATURE_MEANING
        assert screening.signed_at.utcoffset().total_seconds() == 0  # stored in UTC
        assert screening.events.last().pgh_context.metadata["reason"].startswith("e-signature")

    def test_the_password_is_hashed_once_per_signature(self, coordinator, site_a, monkeypatch):
        # Real hashers cost about a second of CPU under load (bench/load_test.py): once is enough.
        calls = []
        check = type(coordinator).check_password
        counted = lambda user, raw: calls.append(raw) or check(user, raw)  # noqa: E731
        monkeypatch.setattr(type(coordinator), "check_password", counted)
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        assert enrolment.sign_screening(screening, signer=coordinator, password=PASSWORD).signed
        assert calls == [PASSWORD]

    def test_signing_an_ineligible_screening_records_a_screen_failure(self, coordinator, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), e4="yes")
        result = enrolment.sign_screening(screening, signer=coordinator, password=PASSWORD)
        assert result.signed and not result.enrolled
        assert Patient.objects.get(pk=screening.patient_id).study_id is None
        assert "screen failure" in result.message

    def test_a_wrong_password_is_refused_and_logged(self, coordinator, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        result = enrolment.sign_screening(screening, signer=coordinator, password="guess")
        assert not result.signed
        screening.refresh_from_db()
        assert not screening.is_signed
        attempt = SignatureAttempt.objects.get()
        assert (attempt.user, attempt.succeeded) == (coordinator, False)
        assert "password is not correct" in attempt.refusal

    def test_a_clinician_cannot_sign(self, clinician, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        result = enrolment.sign_screening(screening, signer=clinician, password=PASSWORD)
        assert not result.signed and "Only a coordinator" in result.message

    def test_an_incomplete_screening_cannot_be_signed(self, coordinator, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), e2="unknown")
        assert not enrolment.sign_screening(screening, signer=coordinator, password=PASSWORD).signed


class TestSignedScreeningIsReadOnly:
    @pytest.fixture
    def signed(self, coordinator, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        enrolment.sign_screening(screening, signer=coordinator, password=PASSWORD)
        return Screening.objects.get(pk=screening.pk)

    def test_the_database_refuses_any_change(self, signed):
        with pytest.raises(DatabaseError, match="signed and read-only"), transaction.atomic():
            Screening.objects.filter(pk=signed.pk).update(e1="yes")
        with pytest.raises(DatabaseError, match="signed and read-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("UPDATE trials_screening SET kps = 30 WHERE id = %s", [signed.pk])

    def test_the_page_refuses_it(self, client, clinician, signed):
        client.force_login(clinician)
        response = client.get(f"/patients/{signed.patient_id}/screening/", follow=True)
        assert "signed and read-only" in response.content.decode()

    def test_the_admin_refuses_it(self, client, data_manager, signed):
        client.force_login(data_manager)
        response = client.post(
            f"/admin/trials/screening/{signed.pk}/change/",
            {"patient": signed.patient_id, "screened_on": "2020-01-06", "kps": 30,
             "life_expectancy_over_90_days": "yes", **answers(), "consent_date": "2020-01-06"},
        )  # fmt: skip
        assert response.status_code == 403
        signed.refresh_from_db()
        assert signed.kps == 70

    def test_withdrawing_with_a_reason_allows_correction_then_a_new_signature(self, signed, coordinator):
        enrolment.withdraw_signature(signed, user=coordinator, reason="E1 answered from the wrong chart")
        Screening.objects.filter(pk=signed.pk).update(e1="no", kps=80)
        signed.refresh_from_db()
        assert not signed.is_signed and signed.kps == 80
        assert enrolment.sign_screening(signed, signer=coordinator, password=PASSWORD).signed
        events = signed.events.select_related("pgh_context")
        reasons = [e.pgh_context.metadata.get("reason", "") for e in events if e.pgh_context]
        assert "signature withdrawn: E1 answered from the wrong chart" in reasons
        assert Patient.objects.get(pk=signed.patient_id).study_id == "AAA-001"  # kept, never reused

    def test_withdrawal_and_a_change_of_answers_cannot_go_together(self, signed):
        with pytest.raises(DatabaseError, match="signed and read-only"), transaction.atomic():
            Screening.objects.filter(pk=signed.pk).update(signed_at=None, signed_by=None, e1="yes")

    def test_an_enrolled_patient_cannot_be_signed_ineligible(self, signed, coordinator):
        enrolment.withdraw_signature(signed, user=coordinator, reason="recheck")
        Screening.objects.filter(pk=signed.pk).update(e1="yes")
        result = enrolment.sign_screening(Screening.objects.get(pk=signed.pk), signer=coordinator, password=PASSWORD)
        assert not result.signed and "already enrolled" in result.message

    def test_the_enrolment_date_is_the_screening_date(self, signed):
        assert Patient.objects.get(pk=signed.patient_id).enrolled_on == signed.screened_on

    def test_withdrawal_needs_a_reason(self, signed, coordinator):
        with pytest.raises(ValueError, match="reason"):
            enrolment.withdraw_signature(signed, user=coordinator, reason="  ")


@pytest.mark.django_db(transaction=True)
def test_concurrent_signatures_number_without_gaps_or_duplicates(site_a):
    """Two coordinators sign at the same moment, each in their own transaction and connection."""
    from django.db import connections

    coordinators = [factories.UserFactory(role="coordinator", site=site_a) for _ in range(2)]
    screenings = [factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a)) for _ in range(6)]
    barrier = threading.Barrier(2)
    errors = []

    def sign_all(coordinator, mine):
        try:
            barrier.wait()
            for screening in mine:
                enrolment.sign_screening(screening, signer=coordinator, password=PASSWORD)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_all, args=(c, screenings[i::2])) for i, c in enumerate(coordinators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = sorted(Patient.objects.exclude(study_id=None).values_list("study_id", flat=True))
    assert ids == [f"AAA-{n:03d}" for n in range(1, 7)]


class TestPages:
    def test_the_review_queue_lists_complete_unsigned_screenings_oldest_first(self, client, coordinator, site_a):
        newer = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), screened_on=date(2020, 3, 1))
        older = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), screened_on=date(2020, 2, 1))
        factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), e1="unknown")
        client.force_login(coordinator)
        page = client.get("/screenings/review/").content.decode()
        queue = page.split('data-testid="review-queue"')[1].split("</table>")[0]
        assert queue.index(older.patient.screening_number) < queue.index(newer.patient.screening_number)
        assert "Incomplete (not yet reviewable)" in page

    def test_signing_through_the_review_page(self, client, coordinator, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        client.force_login(coordinator)
        url = f"/screenings/{screening.pk}/"
        refused = client.post(url, {"action": "sign", "password": "nope", "version": 1}, follow=True)
        assert "password is not correct" in refused.content.decode()
        stale = client.post(url, {"action": "sign", "password": PASSWORD, "version": 0}, follow=True)
        assert "changed after you opened it" in stale.content.decode()
        signed = client.post(url, {"action": "sign", "password": PASSWORD, "version": 1}, follow=True)
        page = signed.content.decode()
        assert "Signed. AAA-001 is enrolled." in page
        assert enrolment.SIGNATURE_MEANING in page and " UTC" in page

    @pytest.mark.parametrize("role", ["clinician", "investigator", "data_manager"])
    def test_other_roles_cannot_sign_through_the_page(self, client, site_a, role):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        client.force_login(factories.UserFactory(role=role, site=site_a))
        assert client.post(f"/screenings/{screening.pk}/", {"action": "sign", "password": PASSWORD}).status_code == 403

    def test_another_sites_screening_is_not_found(self, client, outsider, site_a):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        client.force_login(outsider)
        assert client.get(f"/screenings/{screening.pk}/").status_code == 404

    def test_the_live_result_names_the_failed_criteria(self, client, clinician, patient_a):
        client.force_login(clinician)
        fragment = client.get(
            f"/patients/{patient_a.pk}/screening/result/",
            {"kps": 30, "life_expectancy_over_90_days": "yes", **answers(e4="yes")},
        ).content.decode()
        assert "Ineligible" in fragment
        assert "<strong>I4</strong> Karnofsky score" in fragment and "<strong>E4</strong> Pregnant" in fragment

    def test_the_screening_log_shows_failures_with_reasons_and_filters(self, client, coordinator, site_a):
        failure = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), e1="yes")
        enrolment.sign_screening(failure, signer=coordinator, password=PASSWORD)
        eligible = factories.ScreeningFactory(
            patient=factories.PatientFactory(site=site_a), screened_on=date(2020, 4, 1)
        )
        client.force_login(coordinator)
        page = client.get("/screenings/log/").content.decode()
        assert "Bisphosphonate within the last month" in page and "screen failure" in page
        only_failures = client.get("/screenings/log/", {"result": "ineligible"}).content.decode()
        assert eligible.patient.screening_number not in only_failures
        by_date = client.get("/screenings/log/", {"from": "2020-03-01"}).content.decode()
        assert failure.patient.screening_number not in by_date and eligible.patient.screening_number in by_date

    def test_the_flow_diagram_counts_each_step(self, client, coordinator, site_a, enrolled_patient):
        failure = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), e1="yes", i2="no")
        enrolment.sign_screening(failure, signer=coordinator, password=PASSWORD)
        factories.PvpProcedureFactory(patient=enrolled_patient)
        factories.EndOfStudyFactory(patient=enrolled_patient, end_reason="withdrew_consent")
        client.force_login(coordinator)
        page = client.get("/screenings/flow/").content.decode()
        assert 'data-step="screened">Screened<br><strong data-count="screened">2</strong>' in page
        assert 'data-count="ineligible">1<' in page
        assert 'data-criterion="E1"' in page and 'data-criterion="I2"' in page
        assert 'data-step="with_pvp">Received PVP<br><strong data-count="with_pvp">1</strong>' in page
        assert "withdrew consent: 1" in page
