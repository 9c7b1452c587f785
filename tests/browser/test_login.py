"""Logging in through a real browser lands on the patient list of the user's own site."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_clinician_logs_in_and_sees_own_sites_patients(log_in, clinician, patient_a, patient_b):
    page = log_in(clinician)
    assert page.get_by_role("heading", name="Patients").is_visible()
    assert page.get_by_role("cell", name=patient_a.screening_number).is_visible()
    assert page.get_by_role("cell", name=patient_b.screening_number).count() == 0


def test_a_wrong_password_is_refused_with_a_message(page, live_server, clinician):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url  # every page requires login
    page.get_by_label("Username").fill(clinician.username)
    page.get_by_label("Password").fill("wrong password")
    page.keyboard.press("Enter")
    assert page.get_by_role("alert").inner_text().startswith("Your username and password didn't match")


def test_the_username_field_has_focus_on_arrival(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.evaluate("document.activeElement.id") == "id_username"
