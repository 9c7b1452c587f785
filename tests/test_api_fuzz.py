"""schemathesis explores every operation of the OpenAPI schema: no input may cause a server error."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests import factories
from trials.models import ApiToken


@pytest.fixture
def api_schema(db):
    from django.core import signals
    from django.db import close_old_connections

    from config.wsgi import application

    # Requests go straight to the WSGI app (as Django's test client does, the connection must stay
    # open across requests so that everything happens inside the test's transaction).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(db, site_a, coordinator):
    user = factories.UserFactory(username="fuzzer", role="clinician", site=site_a)
    patient = factories.PatientFactory(site=site_a)
    factories.ScreeningFactory(patient=patient)
    factories.PainAssessmentFactory(patient=patient)
    return ApiToken.mint(user, name="fuzzer", scope=ApiToken.Scope.WRITE, second_factor=True)[1]


def test_no_input_causes_a_server_error(api_schema, token):
    """Every operation, 8 generated requests each (a fixed seed: the same requests every run)."""
    labels = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        _explore(operation, token)
    assert len(labels) >= 30  # every form, workflow action and the outcomes endpoint were explored


def _explore(operation, token):
    @given(case=operation.as_strategy())
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def no_server_error(case):
        response = case.call(headers={"Authorization": f"Token {token}"})
        assert response.status_code < 500, (operation.label, case.body, response.text[:500])

    no_server_error()
