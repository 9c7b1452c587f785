"""In a real browser: no page breaks the Content-Security-Policy, and the inactivity logout warns
first, keeps a user who is typing, and signs out an idle one with a message."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def collect_csp_violations(page) -> list[str]:
    violations = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return violations


def test_no_page_violates_the_content_security_policy(page, log_in, live_server, data_manager, enrolled_patient,
                                                      patient_a):  # fmt: skip
    factories.PainAssessmentFactory(patient=enrolled_patient, timepoint="baseline", who_grade=3)
    # Every role at once, so that every page opens (data entry, review, administration).
    data_manager.groups.add(*Group.objects.filter(name__in=["clinician", "coordinator", "investigator"]))
    violations = collect_csp_violations(page)
    log_in(data_manager)  # the two-factor code page included
    pk = enrolled_patient.pk
    screening = enrolled_patient.screening.pk
    paths = [
        "/patients/", f"/patients/{pk}/", "/patients/new/", f"/patients/{pk}/edit/",
        f"/patients/{patient_a.pk}/screening/",
        f"/patients/{pk}/pvp/", f"/patients/{pk}/infusions/new/", f"/patients/{pk}/labs/new/",
        f"/patients/{pk}/pain/new/", f"/patients/{pk}/qol/new/", f"/patients/{pk}/response/",
        f"/patients/{pk}/adverse-events/new/", f"/patients/{pk}/end-of-study/", f"/patients/{pk}/casebook/",
        "/screenings/review/", f"/screenings/{screening}/", "/screenings/log/", "/screenings/flow/",
        "/queries/", "/exports/", "/imports/", "/dashboard/", "/accounts/two-factor/", "/admin/",
        "/admin/trials/securityevent/", "/api/v1/docs/",
    ]  # fmt: skip
    for path in paths:
        response = page.goto(live_server.url + path)
        assert response.status < 500, path
        page.wait_for_load_state("networkidle")
        assert violations == [], f"{path}: {violations}"

    # Under the policy the scripts still work: the dashboard draws its charts with Chart.js ...
    page.goto(f"{live_server.url}/dashboard/")
    # (Locator waits: wait_for_function would evaluate a string, which the policy refuses.)
    expect(page.locator("#chart-pain")).to_have_attribute("width", re.compile(r"^[1-9]"))
    # ... htmx loads the live eligibility panel of a new screening form ...
    page.goto(f"{live_server.url}/patients/{patient_a.pk}/screening/")
    expect(page.locator("#screening-result")).to_contain_text(re.compile(r"\S"))
    # ... and Swagger UI renders the API from its separate start-up script.
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.locator(".swagger-ui .info").wait_for()
    assert violations == []


@pytest.fixture
def short_sessions(settings):
    settings.SESSION_IDLE_TIMEOUT = 8
    settings.SESSION_IDLE_WARNING = 5


def test_a_user_typing_in_a_long_form_keeps_the_session(page, log_in, live_server, clinician, enrolled_patient,
                                                         short_sessions):  # fmt: skip
    log_in(clinician)
    page.goto(f"{live_server.url}/patients/{enrolled_patient.pk}/pain/new/?timepoint=baseline")
    vas = page.locator('[name="vas"]')
    for step in range(16):  # twice the timeout, typing all along
        vas.fill(str(step % 10))
        page.wait_for_timeout(1000)
    assert "/pain/new/" in page.url
    assert page.locator("#session-warning").is_hidden()
    page.locator('[name="assessed_on"]').fill("2020-01-07")
    page.locator('input[name="who_grade"][value="2"]').check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    assert re.search(rf"/patients/{enrolled_patient.pk}/(#pain)?$", page.url), page.url  # saved, not sent to login


def test_an_idle_user_is_warned_can_stay_and_is_then_signed_out(page, log_in, live_server, clinician, short_sessions):
    log_in(clinician)
    warning = page.locator("#session-warning")
    warning.wait_for(state="visible", timeout=8_000)
    assert "signed out for inactivity" in warning.inner_text()
    page.get_by_role("button", name="Stay signed in").click()
    warning.wait_for(state="hidden", timeout=3_000)

    warning.wait_for(state="visible", timeout=8_000)
    page.wait_for_url("**/accounts/login/?expired=1*", timeout=10_000)
    assert "without activity" in page.get_by_role("alert").inner_text()
    page.goto(f"{live_server.url}/patients/")
    assert "/accounts/login/" in page.url  # the server session is gone too
