"""The form details users stumbled on (issue 20), each as it looks and behaves in the browser."""

from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests import factories
from trials.models import PvpProcedure, TumourResponse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def save(page):
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()


# --- PVP ---------------------------------------------------------------------------------------


def test_a_new_pvp_lists_the_fractured_levels_with_no_delete_box(
    page, log_in, live_server, clinician, enrolled_patient
):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/pvp/")
    rows = page.locator("#levels-table tbody tr")
    expect(rows).to_have_count(2)  # the patient's fractured levels, T12 and L1
    assert [row.locator("select").first.input_value() for row in rows.all()] == ["T12", "L1"]
    expect(page.locator("#levels-table").get_by_label("Delete")).to_have_count(0)  # nothing saved to delete

    page.locator('[name="performed_on"]').fill("2020-01-10")
    page.locator('select[name="approach"]').select_option("bipedicular")
    page.locator('[name="operator"]').fill("Dr Li")
    page.locator('[name="levels-0-cement_ml"]').fill("2,5")
    rows.nth(1).get_by_role("button", name="Remove row").click()  # L1 was not treated
    expect(rows.nth(1)).to_be_hidden()
    save(page)
    procedure = PvpProcedure.objects.get(patient=enrolled_patient)
    assert [(level.level, level.cement_ml) for level in procedure.levels.all()] == [("T12", Decimal("2.5"))]


def test_the_pvp_error_summary_names_the_cement_by_its_label(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/pvp/")
    page.locator('[name="performed_on"]').fill("2020-01-10")
    page.locator('select[name="approach"]').select_option("bipedicular")
    page.locator('[name="operator"]').fill("Dr Li")
    page.locator('[name="levels-0-cement_ml"]').fill("2.5")  # L1 left without its cement
    save(page)
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_contain_text("Level 2 (L1) — PMMA cement (ml): This field is required.")
    expect(summary).not_to_contain_text("cement_ml")
    assert not PvpProcedure.objects.exists()


# --- QoL and pain ------------------------------------------------------------------------------


def test_each_qol_answer_says_what_it_means(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/qol/new/?timepoint=baseline")
    expect(page.get_by_label("1 · almost unable to eat")).to_have_attribute("name", "q_appetite")
    expect(page.get_by_label("5 · no pain")).to_have_attribute("name", "q_pain")
    expect(page.get_by_label("1 · bedridden")).to_have_attribute("name", "q_daily_life")
    labels = page.locator('input[name^="q_"] + label').all_inner_texts()
    assert len(labels) == 60 and all(" · " in label for label in labels)


def test_the_who_grade_offers_no_dashes(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/pain/new/?timepoint=baseline")
    grades = page.locator('input[name="who_grade"]')
    expect(grades).to_have_count(4)
    assert [grade.get_attribute("value") for grade in grades.all()] == ["0", "1", "2", "3"]
    expect(page.locator("label", has_text="---------")).to_have_count(0)
    expect(page.get_by_label("II · moderate, needs ordinary analgesics to sleep")).to_have_attribute("value", "2")


# --- Labs --------------------------------------------------------------------------------------


def test_the_reference_range_follows_the_unit_chosen(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/labs/new/?timepoint=baseline")
    calcium = page.locator('tr[data-analyte="calcium"]')
    expect(calcium.get_by_test_id("reference-range")).to_have_text(
        "2.1–2.6 mmol/L; critical < 1.75 / > 3.4", use_inner_text=True
    )
    calcium.locator("select").select_option("mg/dL")
    expect(calcium.get_by_test_id("reference-range")).to_have_text(
        "8.42–10.42 mg/dL; critical < 7.01 / > 13.63", use_inner_text=True
    )
    expect(calcium.get_by_test_id("possible-range")).to_have_text("2–24.05 mg/dL", use_inner_text=True)


def test_an_analyte_without_a_reference_range_says_so(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/labs/new/?timepoint=baseline")
    reference = page.locator('tr[data-analyte="m_protein"]').get_by_test_id("reference-range")
    expect(reference).to_have_text("no reference range", use_inner_text=True)


def test_the_critical_tick_appears_only_for_a_critical_value(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/labs/new/?timepoint=baseline")
    tick = page.get_by_label("I confirm this critical value is correct")
    expect(tick).to_be_hidden()
    page.locator('[name="calcium_value"]').fill("3,6")
    expect(tick).to_be_visible()
    page.locator('[name="calcium_value"]').fill("2.4")
    expect(tick).to_be_hidden()
    page.locator('select[name="calcium_unit"]').select_option("mg/dL")
    page.locator('[name="calcium_value"]').fill("15")  # 3.74 mmol/L
    expect(tick).to_be_visible()


# --- Infusion and response ---------------------------------------------------------------------


def test_a_too_short_infusion_is_warned_while_typing(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/infusions/new/")
    page.locator('[name="duration_min"]').fill("10")
    expect(page.get_by_test_id("duration-deviation")).to_contain_text(
        "An infusion over 10 min is shorter than the protocol's minimum of 15 min"
    )
    page.locator('[name="duration_min"]').fill("20")
    expect(page.get_by_test_id("duration-deviation")).to_have_count(0)


def test_the_ebmt_disagreement_shows_while_choosing(page, log_in, live_server, clinician, enrolled_patient):
    for timepoint, drawn_on, grams in (("baseline", date(2020, 1, 7), "40"), ("follow_up", date(2020, 4, 20), "10")):
        draw = factories.LabDrawFactory(patient=enrolled_patient, timepoint=timepoint, drawn_on=drawn_on)
        factories.LabResultFactory(lab_draw=draw, analyte="m_protein", value=Decimal(grams))  # a 75% fall: PR
    factories.PvpProcedureFactory(patient=enrolled_patient)
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/response/")
    expect(page.get_by_test_id("ebmt-suggestion")).to_contain_text("PR")
    page.locator('select[name="category"]').select_option("PD")
    expect(page.get_by_test_id("ebmt-disagrees")).to_be_visible()  # before saving
    page.locator('select[name="category"]').select_option("PR")
    expect(page.get_by_test_id("ebmt-disagrees")).to_have_count(0)
    assert not TumourResponse.objects.exists()


# --- Screening ---------------------------------------------------------------------------------


def test_a_complete_unsigned_screening_is_not_called_partial(page, log_in, live_server, clinician, patient_a):
    factories.ScreeningFactory(patient=patient_a)
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{patient_a.pk}/")
    badge = page.locator("#screening [data-state]").first
    expect(badge).to_have_attribute("data-state", "awaiting_signature")
    expect(badge).to_have_text("complete, awaiting signature")
