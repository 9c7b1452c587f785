"""Which client address counts behind a reverse proxy (TRUSTED_PROXIES; trials/security.client_ip).

The lockout (django-axes) and the security log use the same rule: the socket's address, unless the
request comes from a trusted proxy; then the address that proxy appended to X-Forwarded-For.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory

from trials.models import SecurityEvent
from trials.security import client_ip

ROOT = Path(__file__).resolve().parent.parent
PROXY = "10.1.0.5"
WARD_A, WARD_B = "172.16.4.21", "172.16.9.40"
PASSWORD = "correct-horse-battery"


def request_from(address, forwarded=None):
    headers = {"REMOTE_ADDR": address}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **headers)


@pytest.fixture
def behind_the_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.1.0.0/24"]


def log_in(client, username, password, computer):
    """A login from a ward computer, through the hospital's reverse proxy (nginx's $proxy_add_x_forwarded_for)."""
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=computer,
    )


# --- the rule -------------------------------------------------------------------------------------


def test_without_a_trusted_proxy_the_socket_address_counts_and_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request_from(PROXY, WARD_A)) == PROXY
    assert client_ip(request_from(WARD_A)) == WARD_A


def test_behind_a_trusted_proxy_the_address_it_appended_counts(behind_the_proxy):
    assert client_ip(request_from(PROXY, WARD_A)) == WARD_A
    # A client's own header comes first; the proxy appends the address it saw, which is the one read.
    assert client_ip(request_from(PROXY, f"203.0.113.9, {WARD_A}")) == WARD_A
    # Two trusted proxies in a row: the address the first one saw.
    assert client_ip(request_from(PROXY, f"203.0.113.9, {WARD_B}, 10.1.0.7")) == WARD_B


def test_a_client_that_bypasses_the_proxy_cannot_choose_its_address(behind_the_proxy):
    assert client_ip(request_from(WARD_A, "10.9.9.9")) == WARD_A


@pytest.mark.parametrize("forwarded", [None, "", "unknown", "not-an-address, "])
def test_a_trusted_proxy_without_a_usable_address_counts_as_itself(behind_the_proxy, forwarded):
    assert client_ip(request_from(PROXY, forwarded)) == PROXY


def test_a_bad_trusted_proxy_setting_is_refused_by_name():
    env = {"DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50, "PATH": "/usr/bin:/bin"}
    env |= {"DATABASE_URL": "postgres://pvp_app@db.invalid/pvp_edc", "TRUSTED_PROXIES": "10.1.0.5, proxy.local"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXIES: 'proxy.local' is not an IP address or network" in result.stderr


# --- the lockout and the security log -------------------------------------------------------------


def test_behind_the_proxy_a_lockout_locks_one_computer_not_the_whole_hospital(
    client, clinician, settings, behind_the_proxy
):
    clinician.set_password(PASSWORD)
    clinician.save()
    settings.AXES_FAILURE_LIMIT = 2
    log_in(client, clinician.username, "wrong", WARD_A)
    assert log_in(client, clinician.username, "wrong", WARD_A).status_code == 429
    assert log_in(client, clinician.username, PASSWORD, WARD_A).status_code == 429
    # The same user at another computer is not locked, though both reach the server through the proxy.
    assert log_in(client, clinician.username, PASSWORD, WARD_B).status_code == 302


def test_without_a_trusted_proxy_a_forged_header_does_not_escape_the_lockout(client, clinician, settings):
    clinician.set_password(PASSWORD)
    clinician.save()
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRUSTED_PROXIES = []
    log_in(client, clinician.username, "wrong", WARD_A)
    assert log_in(client, clinician.username, "wrong", WARD_A).status_code == 429
    assert log_in(client, clinician.username, PASSWORD, WARD_B).status_code == 429


def test_the_security_log_records_the_address_the_lockout_counts(client, clinician, behind_the_proxy):
    log_in(client, clinician.username, "wrong", f"203.0.113.9, {WARD_A}")
    event = SecurityEvent.objects.filter(kind=SecurityEvent.Kind.LOGIN_FAILED).latest("pk")
    assert event.ip_address == WARD_A
