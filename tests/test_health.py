"""The health endpoints a load balancer and an orchestrator poll, open without a login."""

import pytest
from django.db import DatabaseError

pytestmark = pytest.mark.django_db


def test_live_answers_without_a_login_or_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live/")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert "no-cache" in response["Cache-Control"]


def test_ready_checks_the_database_the_migrations_and_the_queue(client):
    response = client.get("/health/ready/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "migrations": "ok", "queued_jobs": 0}


def test_ready_is_503_while_the_database_is_unreachable(client, monkeypatch):
    from django.db.backends.utils import CursorWrapper

    def unreachable(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(CursorWrapper, "execute", unreachable)
    response = client.get("/health/ready/")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and "unreachable" in response.json()["database"]


def test_ready_is_503_while_a_migration_is_not_applied(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("a migration", False)])
    response = client.get("/health/ready/")
    assert response.status_code == 503 and response.json()["migrations"] == "1 not applied"


def test_machines_inside_reach_health_and_metrics_by_any_name_over_plain_http(client, settings):
    """The container's health check asks 127.0.0.1:8000, Prometheus asks web:8000, both over plain HTTP,
    while the public name is the only allowed host and HTTPS is on."""
    settings.ALLOWED_HOSTS = ["edc.hospital.example"]
    settings.SECURE_SSL_REDIRECT = True
    for host in ("127.0.0.1:8000", "web:8000"):
        assert client.get("/health/live/", HTTP_HOST=host).status_code == 200
        assert client.get("/health/ready/", HTTP_HOST=host).status_code == 200
        assert client.get("/metrics", HTTP_HOST=host).status_code == 200
        assert client.get("/accounts/login/", HTTP_HOST=host).status_code == 400  # everything else: the host check
    assert client.get("/accounts/login/", HTTP_HOST="edc.hospital.example").status_code == 301  # then HTTPS
