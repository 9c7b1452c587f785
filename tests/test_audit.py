"""The audit trail: every write to clinical data, by any path, is recorded and cannot be altered."""

from datetime import UTC
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from pghistory.models import Context, Events

from tests import factories
from trials.audit import change_context
from trials.models import PainAssessment, TreatedLevel

pytestmark = pytest.mark.django_db

PROTECTED = DatabaseError


def events_for(obj):
    return list(Events.objects.tracks(obj).order_by("pgh_created_at", "pgh_id"))


def test_insert_update_and_delete_are_recorded_with_user_time_and_reason(clinician):
    with change_context(user=clinician, reason="first entry"):
        pain = factories.PainAssessmentFactory(who_grade=3)
    with change_context(user=clinician, reason="transcription error: grade was II"):
        pain.who_grade = 2
        pain.save()
    pain_pk = pain.pk
    with change_context(user=clinician, reason="entered for the wrong patient"):
        pain.delete()

    events = list(
        Events.objects.filter(pgh_model="trials.PainAssessmentEvent", pgh_obj_id=str(pain_pk)).order_by("pgh_id")
    )
    assert [event.pgh_label for event in events] == ["insert", "update", "delete"]
    assert [event.pgh_context["reason"] for event in events] == [
        "first entry",
        "transcription error: grade was II",
        "entered for the wrong patient",
    ]
    assert {event.pgh_context["user"] for event in events} == {clinician.pk}
    assert all(event.pgh_created_at.utcoffset() == UTC.utcoffset(None) for event in events)
    update = events[1]
    assert update.pgh_diff["who_grade"] == [3, 2]  # old and new value
    assert events[2].pgh_data["who_grade"] == 2  # the deleted row is kept whole


def test_a_bulk_update_is_recorded_row_by_row():
    levels = [factories.TreatedLevelFactory(level=level) for level in ("T11", "T12", "L1")]
    with change_context(reason="cement volumes re-read from the operation note"):
        TreatedLevel.objects.update(cement_ml=Decimal("3.0"))
    for level in levels:
        update = events_for(level)[-1]
        assert update.pgh_label == "update"
        assert update.pgh_diff["cement_ml"] == [2.5, 3.0]
        assert update.pgh_context["reason"] == "cement volumes re-read from the operation note"


def test_a_raw_sql_update_is_audited_with_old_and_new_values():
    pain = factories.PainAssessmentFactory(who_grade=3)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trials_painassessment SET who_grade = 1 WHERE id = %s", [pain.pk])
    update = events_for(pain)[-1]
    assert update.pgh_label == "update"
    assert update.pgh_diff["who_grade"] == [3, 1]


def test_a_raw_sql_delete_is_audited():
    level = factories.TreatedLevelFactory()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM trials_treatedlevel WHERE id = %s", [level.pk])
    assert events_for(level)[-1].pgh_label == "delete"


def test_an_unchanged_save_records_nothing_new():
    pain = factories.PainAssessmentFactory()
    before = len(events_for(pain))
    PainAssessment.objects.filter(pk=pain.pk).update(who_grade=pain.who_grade)
    assert len(events_for(pain)) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE trials_painassessmentevent SET who_grade = 0",
        "DELETE FROM trials_painassessmentevent",
    ],
)
def test_audit_rows_cannot_be_updated_or_deleted(statement):
    pain = factories.PainAssessmentFactory(who_grade=3)
    with pytest.raises(PROTECTED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert events_for(pain)[0].pgh_data["who_grade"] == 3


def test_audit_rows_cannot_be_deleted_through_the_orm():
    pain = factories.PainAssessmentFactory()
    event_model = pain.events.model
    with pytest.raises(PROTECTED), transaction.atomic():
        event_model.objects.all().delete()
    assert event_model.objects.count() == 1


def test_the_reason_for_a_change_cannot_be_rewritten_or_deleted(clinician):
    with change_context(user=clinician, reason="original reason"):
        factories.PainAssessmentFactory()
    context = Context.objects.get(metadata__reason="original reason")
    with pytest.raises(PROTECTED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pghistory_context SET metadata = jsonb_set(metadata, '{reason}', '\"forged\"') WHERE id = %s",
            [context.pk],
        )
    with pytest.raises(PROTECTED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM pghistory_context WHERE id = %s", [context.pk])
    context.refresh_from_db()
    assert context.metadata["reason"] == "original reason"


def test_a_change_through_the_admin_records_the_user_and_url(client, data_manager, site_a):
    client.force_login(data_manager)
    response = client.post(f"/admin/trials/site/{site_a.pk}/change/", {"code": "AAA", "name": "Renamed hospital"})
    assert response.status_code == 302
    update = events_for(site_a)[-1]
    assert update.pgh_diff["name"] == ["Hospital A", "Renamed hospital"]
    assert update.pgh_context["user"] == data_manager.pk
    assert update.pgh_context["url"] == f"/admin/trials/site/{site_a.pk}/change/"


def test_two_changes_in_one_request_keep_their_own_reasons(clinician):
    import pghistory

    with pghistory.context(url="/some/page/"):
        with change_context(user=clinician, reason="first reason"):
            first = factories.PainAssessmentFactory()
        with change_context(user=clinician, reason="second reason"):
            second = factories.QolAssessmentFactory(patient=first.patient)
    assert events_for(first)[0].pgh_context["reason"] == "first reason"
    assert events_for(second)[0].pgh_context["reason"] == "second reason"
    assert events_for(second)[0].pgh_context["url"] == "/some/page/"
