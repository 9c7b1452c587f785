"""The per-patient summary the dashboard reads always equals the live join of the patient's forms."""

import threading
import time
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from django.db import connection

from tests import factories
from trials import patient_summary, services
from trials.models import LabDraw, LabResult, PainAssessment


def stored_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(patient_summary.NAMES)} FROM {patient_summary.TABLE} ORDER BY id")  # noqa: S608
        return cursor.fetchall()


def live_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"{patient_summary.SELECT_LIVE} {patient_summary.join()} ORDER BY p.id")
        return cursor.fetchall()


@pytest.mark.django_db
def test_every_kind_of_write_keeps_the_summary_equal_to_the_live_join(clinician, enrolled_patient, patient_a):
    other = factories.PatientFactory(site=enrolled_patient.site)
    factories.PvpProcedureFactory(patient=enrolled_patient)
    given = [factories.InfusionFactory(patient=enrolled_patient, cycle=cycle) for cycle in (1, 2, 3)]
    factories.InfusionFactory(patient=enrolled_patient, cycle=4, status="held", held_reason="fever",
                              dose_mg=None, duration_min=None)  # fmt: skip
    pain = factories.PainAssessmentFactory(patient=enrolled_patient, timepoint="baseline", who_grade=3)
    factories.PainAssessmentFactory(patient=enrolled_patient, timepoint="follow_up", who_grade=1)
    factories.QolAssessmentFactory(patient=enrolled_patient, timepoint="baseline")
    factories.TumourResponseFactory(patient=enrolled_patient, category="PR")
    assert stored_rows() == live_rows()
    summary = dict(zip(patient_summary.NAMES, stored_rows()[0], strict=True))
    assert summary["infusions_given"] == 3 and summary["pain_baseline"] == 3 and summary["response"] == "PR"

    PainAssessment.objects.filter(pk=pain.pk).update(who_grade=2)  # a bulk update, no save()
    services.soft_delete(given[0], user=clinician, reason="entered twice")
    services.soft_delete(other, user=clinician, reason="registered twice")
    patient_a.isotype = "IgA"
    patient_a.save()
    PainAssessment.objects.filter(pk=pain.pk).update(patient=patient_a)  # moved to another patient
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM trials_tumourresponse WHERE patient_id = %s", [enrolled_patient.pk])
    assert stored_rows() == live_rows()
    by_id = {row[0]: dict(zip(patient_summary.NAMES, row, strict=True)) for row in stored_rows()}
    assert by_id[enrolled_patient.pk]["infusions_given"] == 2
    assert by_id[enrolled_patient.pk]["pain_baseline"] is None and by_id[patient_a.pk]["pain_baseline"] == 2
    assert by_id[other.pk]["deleted_at"] is not None and by_id[patient_a.pk]["isotype"] == "IgA"

    with connection.cursor() as cursor:  # after a bulk load that bypassed the triggers
        cursor.execute(f"DELETE FROM {patient_summary.TABLE}")  # noqa: S608
        patient_summary.rebuild_all(cursor)
    assert stored_rows() == live_rows()


@pytest.mark.django_db
def test_lab_values_reach_the_summary_by_every_kind_of_write(clinician, enrolled_patient, patient_a):
    """Lab results are written eight to a draw in one statement; the summary follows every change."""
    baseline = factories.LabDrawFactory(patient=enrolled_patient, timepoint="baseline")
    follow_up = factories.LabDrawFactory(patient=enrolled_patient, timepoint="follow_up", drawn_on=date(2020, 4, 7))
    cycle = factories.LabDrawFactory(patient=enrolled_patient, timepoint="cycle_1", drawn_on=date(2020, 2, 4))
    LabResult.objects.bulk_create(  # one INSERT of several rows, as services.save_lab_results does
        [
            LabResult(lab_draw=baseline, analyte="alp", value=Decimal("150")),
            LabResult(lab_draw=baseline, analyte="calcium", value=Decimal("2.6")),
            LabResult(lab_draw=follow_up, analyte="alp", value=Decimal("95.5")),
            LabResult(lab_draw=cycle, analyte="alp", value=Decimal("300")),  # not a paired timepoint
        ]
    )
    assert stored_rows() == live_rows()
    row = summary_of(enrolled_patient)
    assert (row["alp_baseline"], row["alp_follow_up"], row["calcium_baseline"]) == (150, 95.5, 2.6)
    assert row["calcium_follow_up"] is None

    LabResult.objects.filter(lab_draw=follow_up, analyte="alp").update(value=Decimal("90"))  # one UPDATE
    LabResult.objects.filter(lab_draw=baseline, analyte="calcium").delete()
    assert summary_of(enrolled_patient)["alp_follow_up"] == 90
    assert summary_of(enrolled_patient)["calcium_baseline"] is None

    LabDraw.objects.filter(pk=baseline.pk).update(patient=patient_a)  # the draw moved to another patient
    assert summary_of(enrolled_patient)["alp_baseline"] is None and summary_of(patient_a)["alp_baseline"] == 150
    services.soft_delete(follow_up, user=clinician, reason="drawn from the wrong patient")
    assert summary_of(enrolled_patient)["alp_follow_up"] is None
    assert stored_rows() == live_rows()


def summary_of(patient) -> dict:
    return next(dict(zip(patient_summary.NAMES, r, strict=True)) for r in stored_rows() if r[0] == patient.pk)


@pytest.mark.django_db(transaction=True)
def test_two_writers_of_one_patient_at_once_both_reach_the_summary(enrolled_patient):
    """The second writer waits for the first and then recomputes from its committed data."""
    # Earlier transactional tests emptied the tables with TRUNCATE, which fires no row trigger.
    assert stored_rows() == live_rows()
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    insert = (
        "INSERT INTO trials_painassessment (created_at, updated_at, version, patient_id, timepoint, assessed_on, "
        "who_grade) VALUES (now(), now(), 1, %s, %s, %s, %s)"
    )
    errors = []
    first = psycopg.connect(**params)
    second = psycopg.connect(**params)
    try:
        first.execute(insert, [enrolled_patient.pk, "baseline", date(2020, 1, 7), 3])  # holds the patient row

        def write_second():
            try:
                second.execute(insert, [enrolled_patient.pk, "follow_up", date(2020, 4, 7), 1])
                second.commit()
            except Exception as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        worker = threading.Thread(target=write_second)
        worker.start()
        time.sleep(0.5)  # the second writer is now waiting for the first
        first.commit()
        worker.join(timeout=10)
    finally:
        first.close()
        second.close()
    assert not errors, errors
    row = next(dict(zip(patient_summary.NAMES, r, strict=True)) for r in stored_rows() if r[0] == enrolled_patient.pk)
    assert (row["pain_baseline"], row["pain_follow_up"]) == (3, 1)
    assert stored_rows() == live_rows()
