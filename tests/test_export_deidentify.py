"""De-identified exports that shift dates and leave free text out (issue 14, low findings)."""

import io
import json
import zipfile
from datetime import date, timedelta

import pandas as pd
import pytest

from tests import factories
from tests.factories import api_client_for
from trials import exports
from trials.exports import deidentify

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_patients(enrolled_patient, site_a):
    factories.LabDrawFactory(patient=enrolled_patient, timepoint="baseline", drawn_on=date(2020, 1, 7))
    factories.AdverseEventFactory(patient=enrolled_patient, description="patient Zhang from ward 3, bed 12")
    other = factories.PatientFactory(site=site_a, diagnosis_date=date(2019, 6, 1))
    factories.ScreeningFactory(patient=other, screened_on=date(2020, 2, 3))
    return enrolled_patient, other


def tables(content: bytes) -> dict[str, pd.DataFrame]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name.removesuffix(".csv"): pd.read_csv(io.BytesIO(archive.read(name)), encoding="utf-8-sig",
                                                       keep_default_na=False, dtype=str)
                for name in archive.namelist() if name.endswith(".csv")} | {
            "manifest": json.loads(archive.read("manifest.json"))}  # fmt: skip


def test_each_patients_dates_move_by_one_secret_offset_in_every_table(data_manager, two_patients):
    first, other = two_patients
    true = tables(exports.render(data_manager, "csv").content)
    shifted = tables(exports.render(data_manager, "csv", shift_dates=True).content)
    for patient in (first, other):
        days = deidentify.shift_days(patient.screening_number)
        assert days != 0 and abs(days) <= 180
        for form, column in (
            ("patient", "diagnosis_date"),
            ("screening", "screened_on"),
            ("screening", "consent_date"),
        ):
            was = true[form].set_index("screening_number").loc[patient.screening_number, column]
            now = shifted[form].set_index("screening_number").loc[patient.screening_number, column]
            assert date.fromisoformat(now) - date.fromisoformat(was) == timedelta(days=days), (form, column)
    drawn = shifted["lab_draw"].set_index("screening_number").loc[first.screening_number, "drawn_on"]
    assert date.fromisoformat(drawn) == date(2020, 1, 7) + timedelta(days=deidentify.shift_days(first.screening_number))
    assert deidentify.shift_days(first.screening_number) != deidentify.shift_days(other.screening_number)
    # What stays true: the age at enrolment, and intervals within a patient.
    ages = shifted["patient"].set_index("screening_number")["age_at_enrolment"]
    assert (
        ages[first.screening_number]
        == true["patient"].set_index("screening_number")["age_at_enrolment"][first.screening_number]
    )
    assert shifted["manifest"]["deidentification"]["dates_shifted"] is True
    dictionary = shifted["data_dictionary"].set_index(["form", "variable"])
    assert "secret offset" in dictionary.loc[("screening", "screened_on"), "deidentification"]
    assert dictionary.loc[("screening", "kps"), "deidentification"] == ""


def test_free_text_is_left_out_and_the_dictionary_says_so(data_manager, two_patients):
    files = tables(exports.render(data_manager, "csv", drop_free_text=True).content)
    assert "description" not in files["adverse_event"].columns and "notes" not in files["end_of_study"].columns
    assert "patient Zhang" not in "".join(frame.to_csv() for name, frame in files.items() if name != "manifest")
    dictionary = files["data_dictionary"].set_index(["form", "variable"])
    assert dictionary.loc[("adverse_event", "description"), "deidentification"] == deidentify.NOTE_DROPPED
    assert "adverse_event.description" in files["manifest"]["deidentification"]["free_text_dropped"]


def test_the_options_are_for_de_identified_table_formats(data_manager):
    api = api_client_for(data_manager)
    refused = api.post("/api/v1/exports/", {"format": "odm", "shift_dates": True}, format="json")
    assert refused.status_code == 400 and "ODM" in refused.json()["shift_dates"][0]
    identifiable = {"format": "csv", "identifiable": True, "reason": "x", "drop_free_text": True}
    refused = api.post("/api/v1/exports/", identifiable, format="json")
    assert refused.status_code == 400 and "de-identified" in refused.json()["shift_dates"][0]
    done = api.post("/api/v1/exports/", {"format": "sav", "shift_dates": True, "drop_free_text": True}, format="json")
    assert done.status_code == 202 and done.json()["status"] == "done"


def test_the_page_offers_them(client, investigator, two_patients):
    client.force_login(investigator)
    assert 'name="shift_dates"' in client.get("/exports/").content.decode()
    started = client.post("/exports/", {"format": "csv", "shift_dates": "on", "drop_free_text": "on"})
    content = client.get(f"{started['Location']}download/").getvalue()
    assert tables(content)["manifest"]["deidentification"]["dates_shifted"] is True
