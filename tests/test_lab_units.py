"""A lab value means the same by every path: the lab page, the API and the import read it with one
function (protocol.read_lab_value), so 10 mg/dL of calcium is stored as 2.495 mmol/L with what was
typed beside it, whichever way it came in (issue 16)."""

from datetime import date
from decimal import Decimal

import pytest

from tests import factories
from trials import imports, protocol
from trials.models import LabDraw, LabResult

pytestmark = pytest.mark.django_db


def enrolled(site, coordinator):
    from datetime import UTC, datetime

    from trials.services import enrol_patient

    patient = factories.PatientFactory(site=site)
    factories.ScreeningFactory(patient=patient, signed_by=coordinator, signed_at=datetime(2020, 1, 7, 9, tzinfo=UTC))
    return enrol_patient(patient, enrolled_on=date(2020, 1, 7))


def post_lab_draw(user, patient, results: dict, **extra):
    """POST /api/v1/lab-draws/ of a baseline draw with these results."""
    body = {"patient": patient.screening_number, "timepoint": "baseline", "drawn_on": "2020-01-07", "results": results}
    return factories.api_client_for(user).post("/api/v1/lab-draws/", body | extra, format="json")


def import_lab_result(user, patient, analyte: str, value: str, entered_value: str, entered_unit: str):
    """Import one baseline lab result into a draw made for it: (saved, problems)."""
    factories.LabDrawFactory(patient=patient, timepoint="baseline")
    text = (
        "screening_number,timepoint,analyte,value,entered_value,entered_unit\n"
        f"{patient.screening_number},baseline,{analyte},{value},{entered_value},{entered_unit}\n"
    )
    return imports.commit(user, "lab_result", text.encode(), "labs.csv")


def stored(patient) -> tuple:
    result = LabResult.objects.get(lab_draw__patient=patient, analyte="calcium")
    event = result.events.get()  # the audit trail's insert event
    return (
        (result.value, result.entered_value, result.entered_unit),
        (event.value, event.entered_value, event.entered_unit),
    )


def test_the_same_value_in_mg_dl_is_stored_alike_through_the_page_the_api_and_the_import(
    client, clinician, coordinator, site_a
):
    by_page, by_api, by_import = (enrolled(site_a, coordinator) for _ in range(3))
    client.force_login(clinician)
    page = client.post(
        f"/patients/{by_page.pk}/labs/new/",
        {"timepoint": "baseline", "drawn_on": "2020-01-07", "fasting": "unknown",
         "calcium_value": "10.0", "calcium_unit": "mg/dL"},
    )  # fmt: skip
    assert page.status_code == 302, page.content.decode()[-2000:]

    answer = post_lab_draw(clinician, by_api, {"calcium": {"value": "10.0", "unit": "mg/dL"}})
    assert answer.status_code == 201, answer.json()
    assert answer.json()["results"] == {"calcium": 2.495}

    assert import_lab_result(clinician, by_import, "calcium", "", "10.0", "mg/dL") == (1, [])

    expected = (Decimal("2.4950"), Decimal("10.0000"), "mg/dL")
    assert stored(by_page) == stored(by_api) == stored(by_import) == (expected, expected)


def test_a_bare_number_in_the_api_is_in_the_canonical_unit(clinician, patient_a):
    answer = post_lab_draw(clinician, patient_a, {"calcium": 2.4, "creatinine": {"value": 1.2, "unit": "mg/dL"}})
    assert answer.status_code == 201, answer.json()
    results = {r.analyte: (r.value, r.entered_value, r.entered_unit) for r in LabResult.objects.all()}
    assert results == {
        "calcium": (Decimal("2.4000"), Decimal("2.4000"), "mmol/L"),
        "creatinine": (Decimal("106.1040"), Decimal("1.2000"), "mg/dL"),
    }


def test_a_unit_the_analyte_does_not_accept_is_refused_naming_it_by_api_and_import(clinician, enrolled_patient):
    answer = post_lab_draw(clinician, enrolled_patient, {"alp": {"value": 120, "unit": "mg/dL"}})
    assert answer.status_code == 400
    assert answer.json() == {"results": {"alp": ["“mg/dL” is not a unit of alp: use U/L."]}}
    assert not LabDraw.objects.exists()

    saved, problems = import_lab_result(clinician, enrolled_patient, "alp", "", "120", "mg/dL")
    assert saved == 0
    assert [(p.row, p.field, p.value, p.rule) for p in problems] == [
        (1, "entered_unit", "mg/dL", "“mg/dL” is not a unit of alp: use U/L.")
    ]


@pytest.mark.parametrize("sent", [{"unit": "mg/dL"}, {"value": 2, "units": "mg/dL"}, {"value": 2, "unit": 5}])
def test_a_lab_value_of_another_shape_is_refused_saying_what_to_send(clinician, patient_a, sent):
    answer = post_lab_draw(clinician, patient_a, {"calcium": sent})
    assert answer.status_code == 400
    message = answer.json()["results"]["calcium"][0]
    assert message in (
        'Send a number, or {"value": <number>, "unit": "<unit>"}.',
        "The unit must be text, e.g. “mg/dL”.",
    )


def test_an_impossible_value_in_another_unit_names_what_was_sent(clinician, patient_a):
    answer = post_lab_draw(
        clinician, patient_a, {"calcium": {"value": 30, "unit": "mg/dL"}}, critical_confirmed=["calcium"]
    )
    assert answer.status_code == 400
    message = answer.json()["results"]["calcium"][0]
    assert message.startswith("Serum calcium 7.485 mmol/L is impossible") and message.endswith("(30 mg/dL entered)")


def test_an_import_whose_value_disagrees_with_the_entered_one_is_refused(clinician, enrolled_patient):
    saved, problems = import_lab_result(clinician, enrolled_patient, "calcium", "2.6", "10.0", "mg/dL")
    assert saved == 0
    assert [(p.field, p.value) for p in problems] == [("value", "2.6")]
    assert "is not 10 mg/dL in mmol/L (2.495)" in problems[0].rule


def test_the_reading_function_itself():
    reading = protocol.read_lab_value("hemoglobin", "9.5", "g/dL")
    assert (reading.value, reading.entered_value, reading.entered_unit) == (Decimal("95.0000"), Decimal("9.5"), "g/dL")
    assert protocol.read_lab_value("alp", 120).entered_unit == "U/L"
    with pytest.raises(protocol.UnitNotAccepted, match="use mmol/L or mg/dL"):
        protocol.read_lab_value("calcium", 2, "mmol")
