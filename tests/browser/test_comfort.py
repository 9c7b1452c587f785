"""Tablet width, focus on the first field, Enter to submit, and the remembered language."""

import pytest

from tests import factories
from trials.models import PainAssessment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TABLET = {"width": 768, "height": 1024}


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_pages_fit_a_tablet_in_portrait(page, log_in, live_server, clinician, enrolled_patient):
    factories.LabResultFactory(lab_draw=factories.LabDrawFactory(patient=enrolled_patient))
    page.set_viewport_size(TABLET)
    log_in(clinician)
    for path in ("/patients/", f"/patients/{enrolled_patient.pk}/", f"/patients/{enrolled_patient.pk}/labs/new/",
                 f"/patients/{enrolled_patient.pk}/qol/new/", f"/patients/{enrolled_patient.pk}/pvp/"):  # fmt: skip
        page.goto(live_server.url + path)
        assert fits_the_screen(page), path


def test_the_first_field_has_focus_and_enter_submits(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/pain/new/?timepoint=baseline")
    assert page.evaluate("document.activeElement.name") == "timepoint"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "assessed_on"
    page.locator('[name="assessed_on"]').fill("2020-01-07")
    page.locator('input[name="who_grade"][value="2"]').check()
    with page.expect_navigation():
        page.locator('[name="vas"]').press("Enter")
    assert PainAssessment.objects.get(patient=enrolled_patient).who_grade == 2


def test_the_language_choice_is_remembered(page, log_in, live_server, clinician, enrolled_patient):
    log_in(clinician)
    page.get_by_role("button", name="简体中文").click()
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/")
    assert page.get_by_role("heading", name="入选资格筛选").is_visible()
    assert "2020-01-06" in page.locator("#screening").inner_text()  # ISO dates in every language (config/formats)
    page.goto(f"{live_server.url}/patients/")
    assert page.get_by_role("heading", name="患者").is_visible()
