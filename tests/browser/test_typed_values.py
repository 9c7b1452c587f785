"""What the user types is what the server gets, or it is refused on the spot (issue 20).

A number input dropped the decimal comma ("1,2" mg/dL saved as 12); a date input sent an impossible
date (30 February) as empty, so the user read "This field is required", or, on an optional date,
nothing at all while the date was lost. Each test types with the keyboard, as a person does.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from trials.models import LabResult, PainAssessment, Patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def type_into(page, name, text):
    field = page.locator(f'[name="{name}"]')
    field.click()
    page.keyboard.type(text)


def save(page):
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()


def test_a_creatinine_typed_with_a_decimal_comma_is_saved_as_typed(
    page, log_in, live_server, clinician, enrolled_patient
):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/labs/new/?timepoint=baseline")
    page.locator('[name="drawn_on"]').fill("2020-01-07")
    page.locator('select[name="creatinine_unit"]').select_option("mg/dL")
    type_into(page, "creatinine_value", "1,2")
    save(page)
    result = LabResult.objects.get(lab_draw__patient=enrolled_patient, analyte="creatinine")
    assert (result.entered_value, result.entered_unit) == (Decimal("1.2"), "mg/dL")  # was 12 mg/dL


def test_an_impossible_weight_is_named_as_typed(page, log_in, live_server, clinician, patient_a):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{patient_a.pk}/edit/")
    page.locator('[name="weight_kg"]').fill("")
    type_into(page, "weight_kg", "1,5")
    page.locator('[name="reason_for_change"]').fill("weighed again")
    save(page)
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_contain_text("1,5 is impossible: the value must lie in 30–250 kg.")  # was "15 is impossible"
    assert Patient.objects.get(pk=patient_a.pk).weight_kg == Decimal("70.0")


def test_a_thousands_separator_is_refused_quoting_it(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/labs/new/?timepoint=baseline")
    page.locator('[name="drawn_on"]').fill("2020-01-07")
    type_into(page, "alp_value", "1,500")
    save(page)
    expect(page.get_by_test_id("error-summary")).to_contain_text("“1,500” can be read two ways")
    assert not LabResult.objects.exists()


def test_an_impossible_date_is_reported_next_to_the_field_and_not_sent(
    page, log_in, live_server, clinician, enrolled_patient
):
    log_in(clinician)
    form_url = f"{live_server.url}/patients/{enrolled_patient.pk}/pain/new/?timepoint=baseline"
    page.goto(form_url)
    type_into(page, "assessed_on", "02302020")  # month, day, year (the browser's own order): 30 February
    page.locator('input[name="who_grade"][value="2"]').check()
    page.get_by_role("button", name="Save").click()
    message = page.get_by_test_id("unreadable-date")
    expect(message).to_have_text("This date does not exist (for example 30 February): correct the day, month or year.")
    expect(page.locator('[name="assessed_on"]')).to_have_attribute("aria-invalid", "true")
    assert page.url == form_url  # not sent: no "This field is required" for a date the user did type
    assert not PainAssessment.objects.exists()

    page.locator('[name="assessed_on"]').fill("2020-01-07")
    expect(message).to_have_count(0)
    save(page)
    assert PainAssessment.objects.get(patient=enrolled_patient).assessed_on.isoformat() == "2020-01-07"


def test_an_impossible_optional_date_is_not_lost_without_a_word(page, log_in, live_server, clinician, patient_a):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{patient_a.pk}/edit/")
    page.locator('[name="diagnosis_date"]').fill("")
    type_into(page, "diagnosis_date", "04312019")  # 31 April
    page.locator('[name="reason_for_change"]').fill("date corrected")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("unreadable-date")).to_be_visible()
    assert Patient.objects.get(pk=patient_a.pk).diagnosis_date.isoformat() == "2019-06-01"  # kept, not emptied
