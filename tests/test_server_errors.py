"""While the database is unreachable the user gets a clear 503 with Retry-After, not a broken page."""

from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing_database():
    with mock.patch("trials.access.sites_for_user", side_effect=OperationalError("connection refused")):
        yield


def test_a_page_says_the_database_is_unreachable(clinician, failing_database):
    client = Client(raise_request_exception=False)
    client.force_login(clinician)
    response = client.get("/patients/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "Nothing of this request was saved" in response.content.decode()


def test_the_api_answers_json(clinician, failing_database):
    client = Client(raise_request_exception=False)
    client.force_login(clinician)
    response = client.get("/api/v1/patients/")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "not reachable" in response.json()["detail"]


def test_other_failures_stay_500_with_a_plain_message(clinician):
    client = Client(raise_request_exception=False)
    client.force_login(clinician)
    with mock.patch("trials.access.sites_for_user", side_effect=ZeroDivisionError):
        response = client.get("/api/v1/patients/")
    assert response.status_code == 500 and "failed" in response.json()["detail"]
