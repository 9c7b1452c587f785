"""The audit trail as data managers read it (admin "Events" and the audit-trail CSV): every event of
their sites' records, deleted records included and marked as deleted, never another site's."""

import csv
import io
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pghistory.models import Events

from tests import factories
from trials import access, audit_view, data_review, services
from trials.audit import change_context
from trials.models import ApiToken, StudyFreeze

pytestmark = pytest.mark.django_db


def _label(record) -> str:
    return f"trials.{type(record).__name__}"


def _csv_rows(client, user) -> list[dict]:
    client.force_login(user)
    response = client.get("/exports/audit-trail.csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _csv_rows_of(rows, record) -> list[dict]:
    return [row for row in rows if (row["record"], row["record_id"]) == (_label(record), str(record.pk))]


def _events_of(user, record) -> list[Events]:
    events = access.audit_events_for_user(user).filter(pgh_obj_model=_label(record), pgh_obj_id=str(record.pk))
    return list(events.order_by("pgh_id"))


@pytest.fixture
def data_manager_b(site_b):
    return factories.UserFactory(username="dm_b", role="data_manager", site=site_b)


def _registered_in_error(site, user):
    """A patient with baseline forms (allowed before enrolment), then deleted as registered in error."""
    patient = factories.PatientFactory(site=site)
    pain = factories.PainAssessmentFactory(patient=patient)
    draw = factories.LabDrawFactory(patient=patient)
    result = factories.LabResultFactory(lab_draw=draw)
    services.soft_delete(patient, user=user, reason="registered in error")
    return patient, [patient, pain, draw, result]


def _deleted_draw_and_infusion(patient, user):
    draw = factories.LabDrawFactory(patient=patient, timepoint="month_3", drawn_on=date(2020, 4, 10))
    result = factories.LabResultFactory(lab_draw=draw)
    infusion = factories.InfusionFactory(patient=patient, cycle=1)
    services.soft_delete(draw, user=user, reason="drawn from the wrong patient")
    services.soft_delete(infusion, user=user, reason="entered twice")
    return draw, result, infusion


class TestEventsOfDeletedRecords:
    def test_a_patient_registered_in_error_keeps_every_event_marked_deleted(self, client, clinician, data_manager):
        patient, records = _registered_in_error(clinician.sites.get(), clinician)

        rows = _csv_rows(client, data_manager)
        events = {record: _events_of(data_manager, record) for record in records}
        assert [record for record, found in events.items() if not found] == []  # the admin's queryset
        assert [record for record in records if not _csv_rows_of(rows, record)] == []
        deleted_at = type(patient).all_objects.get(pk=patient.pk).deleted_at
        for record in records:
            assert {audit_view.deletion_of(event)["record"] for event in events[record]} == {
                f"trials.Patient {patient.pk}"
            }
            exported = _csv_rows_of(rows, record)
            assert len(exported) == len(events[record])
            for row in exported:
                assert row["record_deleted"] == "yes"
                assert row["deleted_record"] == f"trials.Patient {patient.pk}"
                assert row["deleted_at_utc"] == deleted_at.isoformat()
                assert row["deleted_by"] == clinician.username
                assert row["deletion_reason"] == "registered in error"

    def test_a_deleted_lab_draw_its_results_and_a_deleted_infusion_are_shown_marked_deleted(
        self, client, clinician, data_manager, enrolled_patient
    ):
        draw, result, infusion = _deleted_draw_and_infusion(enrolled_patient, clinician)

        rows = _csv_rows(client, data_manager)
        events = {record: _events_of(data_manager, record) for record in (draw, result, infusion)}
        assert [record for record, found in events.items() if not found] == []  # the admin's queryset
        assert [record for record in events if not _csv_rows_of(rows, record)] == []
        for record, deleted, reason in [
            (draw, draw, "drawn from the wrong patient"),
            (result, draw, "drawn from the wrong patient"),  # a result goes with its draw
            (infusion, infusion, "entered twice"),
        ]:
            marks = {audit_view.deletion_of(event)["record"] for event in events[record]}
            assert marks == {f"{_label(deleted)} {deleted.pk}"}
            exported = _csv_rows_of(rows, record)
            assert len(exported) == len(events[record])
            assert {(row["record_deleted"], row["deleted_by"], row["deletion_reason"]) for row in exported} == {
                ("yes", clinician.username, reason)
            }

    def test_events_of_standing_records_are_not_marked(self, client, clinician, data_manager, enrolled_patient):
        _deleted_draw_and_infusion(enrolled_patient, clinician)
        live_infusion = factories.InfusionFactory(patient=enrolled_patient, cycle=2, infused_on=date(2020, 2, 10))

        rows = _csv_rows(client, data_manager)
        for record in (enrolled_patient, live_infusion, enrolled_patient.screening):
            exported = _csv_rows_of(rows, record)
            assert exported and {row["record_deleted"] for row in exported} == {"no"}
            assert {row["deleted_record"] + row["deleted_by"] + row["deletion_reason"] for row in exported} == {""}
            assert audit_view.deletion_note(_events_of(data_manager, record)[0]) == ""

    def test_a_removed_treated_level_is_marked_deleted_by_its_delete_event(self, data_manager, enrolled_patient):
        level = factories.TreatedLevelFactory(procedure=factories.PvpProcedureFactory(patient=enrolled_patient))
        level_pk = level.pk
        with change_context(user=data_manager, reason="level entered twice"):
            level.delete()
        level.pk = level_pk

        events = _events_of(data_manager, level)
        assert [event.pgh_label for event in events] == ["insert", "delete"]
        deletion = audit_view.deletion_of(events[0])
        assert (deletion["record"], deletion["by"], deletion["reason"]) == (
            f"trials.TreatedLevel {level_pk}",
            data_manager.username,
            "level entered twice",
        )
        assert audit_view.deletion_note(events[0]).startswith(f"trials.TreatedLevel {level_pk} deleted 20")

    def test_the_admin_lists_the_events_of_deleted_records(self, client, clinician, data_manager, enrolled_patient):
        _, records = _registered_in_error(clinician.sites.get(), clinician)
        draw, result, infusion = _deleted_draw_and_infusion(enrolled_patient, clinician)
        client.force_login(data_manager)

        response = client.get("/admin/pghistory/events/", {"all": ""})
        assert response.status_code == 200
        listed = {(event.pgh_obj_model, event.pgh_obj_id) for event in response.context["cl"].result_list}
        for record in [*records, draw, result, infusion]:
            assert (_label(record), str(record.pk)) in listed
        marked = [audit_view.deletion_note(event) for event in response.context["cl"].result_list]
        assert any(note.endswith("by clin_a: registered in error") for note in marked)

    def test_the_admin_list_has_a_record_deleted_column(self, client, clinician, data_manager):
        patient, _ = _registered_in_error(clinician.sites.get(), clinician)
        client.force_login(data_manager)
        page = client.get("/admin/pghistory/events/").content.decode()
        assert "Record deleted" in page  # the column's header
        assert f"trials.Patient {patient.pk} deleted " in page and "by clin_a: registered in error" in page

    def test_the_csv_reads_the_deletions_without_a_query_per_event(self, client, clinician, data_manager, patient_a):
        client.force_login(data_manager)

        def queries_for_the_csv():
            with CaptureQueriesContext(connection) as queries:
                assert client.get("/exports/audit-trail.csv").status_code == 200
            return len(queries)

        _registered_in_error(clinician.sites.get(), clinician)
        few = queries_for_the_csv()
        for _ in range(4):
            _registered_in_error(clinician.sites.get(), clinician)
        assert queries_for_the_csv() == few


class TestAnotherSitesEvents:
    def test_a_data_manager_never_sees_another_sites_events_deleted_or_not(
        self, client, clinician, outsider, data_manager, data_manager_b, site_b, coordinator
    ):
        _, own_records = _registered_in_error(clinician.sites.get(), clinician)
        _, other_records = _registered_in_error(site_b, outsider)
        other_patient = factories.PatientFactory(site=site_b)
        other_pain = factories.PainAssessmentFactory(patient=other_patient)
        services.soft_delete(other_pain, user=outsider, reason="duplicate")
        other_records += [site_b, other_patient, other_pain]

        visible = {(event.pgh_obj_model, event.pgh_obj_id) for event in access.audit_events_for_user(data_manager)}
        exported = {(row["record"], row["record_id"]) for row in _csv_rows(client, data_manager)}
        for record in other_records:
            assert (_label(record), str(record.pk)) not in visible
            assert (_label(record), str(record.pk)) not in exported
        for record in own_records:
            assert (_label(record), str(record.pk)) in visible

        # ... and the other site's data manager sees them, marked, and none of site A's.
        theirs = {(event.pgh_obj_model, event.pgh_obj_id) for event in access.audit_events_for_user(data_manager_b)}
        for record in other_records:
            assert (_label(record), str(record.pk)) in theirs
        for record in own_records:
            assert (_label(record), str(record.pk)) not in theirs

    def test_a_data_manager_sees_the_account_events_of_the_users_they_run_only(
        self, clinician, outsider, data_manager, site_b
    ):
        both_sites = factories.UserFactory(username="clin_ab", role="clinician", site=site_b)
        both_sites.sites.add(clinician.sites.get())
        tokens = {
            user: ApiToken.mint(user, name="script", scope=ApiToken.Scope.READ, second_factor=False)[0]
            for user in (clinician, outsider, both_sites)
        }

        visible = {(event.pgh_obj_model, event.pgh_obj_id) for event in access.audit_events_for_user(data_manager)}
        assert ("trials.User", str(clinician.pk)) in visible
        assert ("trials.ApiToken", str(tokens[clinician].pk)) in visible
        for user in (outsider, both_sites):  # not theirs to run: another site's business
            assert ("trials.User", str(user.pk)) not in visible
            assert ("trials.ApiToken", str(tokens[user].pk)) not in visible

    def test_site_freezes_show_to_their_site_and_the_study_freeze_to_every_site(
        self, site_a, site_b, data_manager, data_manager_b
    ):
        own = data_review.freeze_site(user=data_manager, site=site_a)
        other = data_review.freeze_site(user=data_manager_b, site=site_b)
        with change_context(user=data_manager, reason="study frozen for analysis"):
            study = StudyFreeze.objects.create(frozen_by=data_manager)

        visible = {(event.pgh_obj_model, event.pgh_obj_id) for event in access.audit_events_for_user(data_manager)}
        assert ("trials.SiteFreeze", str(own.pk)) in visible
        assert ("trials.SiteFreeze", str(other.pk)) not in visible
        assert ("trials.StudyFreeze", str(study.pk)) in visible

    def test_a_superuser_sees_every_site_marked(self, clinician, outsider, site_b):
        superuser = factories.UserFactory(username="ops", is_superuser=True, is_staff=True)
        own_patient, own_records = _registered_in_error(clinician.sites.get(), clinician)
        other_patient, other_records = _registered_in_error(site_b, outsider)

        for patient, records in [(own_patient, own_records), (other_patient, other_records)]:
            for record in records:
                events = _events_of(superuser, record)
                assert events
                assert {audit_view.deletion_of(event)["record"] for event in events} == {f"trials.Patient {patient.pk}"}
