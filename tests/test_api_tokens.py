"""API tokens (issue 14, findings 1 and 2): shown once, stored as a hash, expiring, read-only or
read-write, revocable by their owner and a data manager, and only after the second factor where the
role needs one."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests import factories
from trials.models import ApiToken

pytestmark = pytest.mark.django_db


def mint_on_the_page(client, user, *, scope="read", name="nightly script") -> str:
    client.force_login(user)
    response = client.post("/api-tokens/", {"name": name, "scope": scope}, follow=True)
    found = re.search(r'data-testid="new-token-key">([^<]+)<', response.content.decode())
    assert found, response.content.decode()[:2000]
    return found.group(1)


def api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_is_shown_once_and_only_its_hash_is_kept(client, clinician):
    key = mint_on_the_page(client, clinician)
    assert api(key).get("/api/v1/patients/").status_code == 200
    assert key not in client.get("/api-tokens/").content.decode()  # never again
    token = ApiToken.objects.get()
    assert token.key_hash != key and key.startswith(token.prefix) and len(token.prefix) < len(key) / 3
    with connection.cursor() as cursor:  # the key appears in no column of any table
        cursor.execute("SELECT count(*) FROM trials_apitoken t WHERE t::text LIKE %s", [f"%{key}%"])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM trials_apitokenevent e WHERE e::text LIKE %s", [f"%{key}%"])
        assert cursor.fetchone()[0] == 0
    event = token.events.get(pgh_label="insert")
    assert event.pgh_context.metadata["username"] == clinician.username
    assert "nightly script" in event.pgh_context.metadata["reason"]


def test_a_read_only_token_reads_and_cannot_write(client, clinician, site_a):
    key = mint_on_the_page(client, clinician, scope="read")
    refused = api(key).post("/api/v1/patients/", {"site": site_a.code}, format="json")
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    writer = mint_on_the_page(client, clinician, scope="write", name="entry script")
    assert api(writer).post("/api/v1/patients/", {"site": site_a.code}, format="json").status_code == 400  # checked


def test_a_token_expires(client, clinician, settings):
    settings.API_TOKEN_DAYS = 90
    key = mint_on_the_page(client, clinician)
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        refused = api(key).get("/api/v1/patients/")
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


def test_its_owner_revokes_a_token_with_a_reason(client, clinician):
    key = mint_on_the_page(client, clinician)
    token = ApiToken.objects.get()
    assert client.post(f"/api-tokens/{token.pk}/revoke/", {"reason": ""}).status_code == 302
    assert api(key).get("/api/v1/patients/").status_code == 200  # no reason, not revoked
    client.post(f"/api-tokens/{token.pk}/revoke/", {"reason": "laptop replaced"})
    refused = api(key).get("/api/v1/patients/")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    event = token.events.get(pgh_label="update")
    assert event.revoked_by_id == clinician.pk and event.pgh_context.metadata["reason"] == "laptop replaced"


def test_nobody_revokes_someone_elses_token_on_the_account_page(client, clinician, site_a):
    key = mint_on_the_page(client, clinician)
    other = factories.UserFactory(role="clinician", site=site_a)
    client.force_login(other)
    token = ApiToken.objects.get()
    assert client.post(f"/api-tokens/{token.pk}/revoke/", {"reason": "mischief"}).status_code == 404
    assert api(key).get("/api/v1/patients/").status_code == 200


def test_a_role_that_needs_a_second_factor_gets_a_token_only_after_a_code(client, site_a):
    manager = factories.UserFactory(role="data_manager", site=site_a)
    client.force_login(manager)
    session = client.session
    session.pop("otp_device_id", None)  # logged in with the password, no code yet
    session.save()
    assert client.get("/api-tokens/").status_code == 302  # sent to enter a code first
    assert not ApiToken.objects.exists()
    # A token made before the role required a second factor (or before the code) is refused.
    _token, key = ApiToken.mint(manager, name="old script", scope="write", second_factor=False)
    refused = api(key).get("/api/v1/patients/")
    assert refused.status_code == 401 and "two-factor" in refused.json()["detail"]
    # After the code the page makes one, and it works.
    key = mint_on_the_page(client, manager, scope="write")
    assert api(key).get("/api/v1/patients/").status_code == 200


def test_a_superuser_needs_a_second_factor_too(client):
    boss = factories.UserFactory(is_superuser=True, is_staff=True)
    client.force_login(boss)
    assert client.get("/patients/")["Location"].startswith("/accounts/two-factor/")
    assert client.get("/api/v1/patients/").status_code == 403
    TOTPDevice.objects.create(user=boss, name="app", confirmed=True)
    client.force_login(boss)  # with the code (tests/conftest.py)
    assert client.get("/patients/").status_code == 200


def test_a_data_manager_revokes_a_token_in_the_admin_with_a_reason(client, clinician, data_manager):
    key = mint_on_the_page(client, clinician)
    token = ApiToken.objects.get()
    client.force_login(data_manager)
    page = client.get(f"/admin/trials/apitoken/{token.pk}/change/").content.decode()
    assert token.prefix in page and key not in page
    refused = client.post(f"/admin/trials/apitoken/{token.pk}/change/", {"revoke": "on", "reason_for_change": ""})
    assert refused.status_code == 200 and "Give the reason" in refused.content.decode()
    client.post(f"/admin/trials/apitoken/{token.pk}/change/", {"revoke": "on", "reason_for_change": "left the team"})
    assert api(key).get("/api/v1/patients/").status_code == 401
    assert token.events.get(pgh_label="update").pgh_context.metadata["reason"] == "left the team"
    assert client.get("/admin/trials/apitoken/add/").status_code == 403  # tokens are made by their owner
