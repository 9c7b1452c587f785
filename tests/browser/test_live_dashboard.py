"""An investigator's open dashboard updates by itself when a clinician enters a follow-up value."""

import re

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def logged_in_page(browser, live_server, user):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/patients/")
    return page


def test_the_open_dashboard_refreshes_after_a_clinicians_entry(browser, live_server, investigator, clinician,
                                                              enrolled_patient):  # fmt: skip
    factories.PainAssessmentFactory(patient=enrolled_patient, timepoint="baseline", who_grade=3)
    watcher = logged_in_page(browser, live_server, investigator)
    watcher.goto(f"{live_server.url}/dashboard/")
    pain = watcher.locator('[data-cell="pain_relief"]')
    assert pain.inner_text() == "marked 0, effective 0, ineffective 0"
    assert watcher.locator("#chart-pain").is_visible()  # the plots are drawn by the local Chart.js

    entering = logged_in_page(browser, live_server, clinician)
    entering.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/pain/new/?timepoint=follow_up")
    entering.locator('[name="assessed_on"]').fill("2020-05-01")
    entering.locator('input[name="who_grade"][value="1"]').check()
    with entering.expect_navigation():
        entering.get_by_role("button", name="Save").click()

    # No reload: the page polls the data version (304 while unchanged) and redraws within seconds.
    # A locator wait: wait_for_function would evaluate a string, which the CSP (no unsafe-eval) refuses.
    expect(watcher.locator('[data-cell="pain_relief"]')).to_have_text(re.compile(r"^marked 1"), timeout=10_000)
    assert "1/1 = 100.00%" in watcher.locator('[data-cell="pain_rate"]').inner_text()
    assert watcher.url.endswith("/dashboard/")
