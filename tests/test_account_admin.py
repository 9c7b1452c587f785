"""Accounts in the admin (issue 14, finding 1): a data manager runs only the users whose every site is
theirs; creating, changing, deactivating, a role or site change, a password or second-factor reset
each need a reason and are written to the audit trail (and the security log) with who and when."""

import pytest
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import factories
from trials.models import ApiToken, SecurityEvent, User

pytestmark = pytest.mark.django_db


def change_form(user, **changes) -> dict:
    data = {
        "username": user.username, "first_name": user.first_name, "last_name": user.last_name, "email": user.email,
        "is_active": "on" if user.is_active else "", "groups": [g.pk for g in user.groups.all()],
        "sites": [s.pk for s in user.sites.all()], "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
    }  # fmt: skip
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


@pytest.fixture
def shared_clinician(site_a, site_b):
    """A clinician of site A who also works for site B."""
    user = factories.UserFactory(username="shared", role="clinician", site=site_a)
    user.sites.add(site_b)
    return user


def test_a_data_manager_does_not_run_a_user_who_also_belongs_to_another_site(
    client, data_manager, shared_clinician, clinician
):
    client.force_login(data_manager)
    listing = client.get("/admin/trials/user/").content.decode()
    assert clinician.username in listing and shared_clinician.username not in listing
    for url in (
        f"/admin/trials/user/{shared_clinician.pk}/change/",
        f"/admin/trials/user/{shared_clinician.pk}/password/",
    ):
        assert client.get(url).status_code in (302, 404)  # "does not exist" for this data manager
    device = TOTPDevice.objects.create(user=shared_clinician, name="phone", confirmed=True)
    assert client.get(f"/admin/otp_totp/totpdevice/{device.pk}/delete/").status_code == 302
    assert client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes", "reason_for_change": "x"})
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_a_change_to_an_account_needs_a_reason_and_is_audited(client, data_manager, clinician):
    client.force_login(data_manager)
    url = f"/admin/trials/user/{clinician.pk}/change/"
    refused = client.post(url, change_form(clinician, is_active=""))
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert User.objects.get(pk=clinician.pk).is_active
    saved = client.post(url, change_form(clinician, is_active="", reason_for_change="left the hospital"))
    assert saved.status_code == 302
    event = clinician.events.filter(pgh_label="update").latest("pgh_id")
    assert event.is_active is False
    assert event.pgh_context.metadata["username"] == data_manager.username
    assert event.pgh_context.metadata["reason"] == "left the hospital"


def test_a_role_change_names_its_reason_in_the_security_log(client, data_manager, clinician):
    client.force_login(data_manager)
    coordinator_role = Group.objects.get(name="coordinator")
    form = change_form(clinician, groups=[coordinator_role.pk], reason_for_change="now reviews screenings")
    client.post(f"/admin/trials/user/{clinician.pk}/change/", form)
    added = SecurityEvent.objects.get(kind=SecurityEvent.Kind.ROLES_CHANGED, detail__startswith="roles added",
                                      actor=data_manager)  # fmt: skip
    assert "coordinator" in added.detail and "now reviews screenings" in added.detail
    assert added.actor == data_manager


def test_a_password_reset_needs_a_reason_and_is_audited_without_the_hash(client, data_manager, clinician):
    client.force_login(data_manager)
    url = f"/admin/trials/user/{clinician.pk}/password/"
    form = {"password1": "a-new-long-passphrase-1", "password2": "a-new-long-passphrase-1", "set-password": "1"}
    refused = client.post(url, form)
    assert refused.status_code == 200 and not clinician.events.filter(pgh_label="password_changed").exists()
    assert 'name="reason_for_change"' in refused.content.decode()
    assert client.post(url, form | {"reason_for_change": "forgot it, identity checked"}).status_code == 302
    event = clinician.events.get(pgh_label="password_changed")
    assert event.pgh_context.metadata["reason"] == "forgot it, identity checked"
    assert not hasattr(event, "password")  # the hash is never copied into the trail


def test_a_second_factor_reset_needs_a_reason_and_revokes_the_tokens(client, data_manager, clinician):
    device = TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)
    _token, key = ApiToken.mint(clinician, name="script", scope="read", second_factor=True)
    client.force_login(data_manager)
    url = f"/admin/otp_totp/totpdevice/{device.pk}/delete/"
    assert 'name="reason_for_change"' in client.get(url).content.decode()
    again = client.post(url, {"post": "yes", "reason_for_change": ""})
    assert again.status_code == 200 and TOTPDevice.objects.filter(pk=device.pk).exists()
    client.post(url, {"post": "yes", "reason_for_change": "phone lost"})
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    assert ApiToken.objects.get().revoked_by == data_manager
    logged = SecurityEvent.objects.get(kind=SecurityEvent.Kind.TWO_FACTOR_REMOVED, user=clinician)
    assert logged.actor == data_manager and "phone lost" in logged.detail


def test_a_new_account_needs_a_reason(client, data_manager):
    client.force_login(data_manager)
    form = {"username": "newclin", "usable_password": "true", "password1": "a-long-passphrase-22",
            "password2": "a-long-passphrase-22"}  # fmt: skip
    assert client.post("/admin/trials/user/add/", form).status_code == 200
    assert not User.objects.filter(username="newclin").exists()
    assert client.post("/admin/trials/user/add/", form | {"reason_for_change": "new research nurse"}).status_code == 302
    created = User.objects.get(username="newclin")
    assert created.events.get(pgh_label="insert").pgh_context.metadata["reason"] == "new research nurse"


def test_users_are_deactivated_never_deleted(client, data_manager, clinician):
    client.force_login(data_manager)
    assert client.get(f"/admin/trials/user/{clinician.pk}/delete/").status_code == 403
