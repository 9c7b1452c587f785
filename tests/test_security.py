"""Login hardening: lockout, the two-factor login, the data managers' two-factor requirement,
the inactivity timeout and the security log (trials/security.py, trials/views/accounts.py)."""

import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import ScreeningFactory, UserFactory
from trials.enrolment import sign_screening
from trials.models import Screening, SecurityEvent, SignatureAttempt
from trials.security import LAST_ACTIVITY

PASSWORD = "correct-horse-battery"
Kind = SecurityEvent.Kind


def code_for(device) -> str:
    device.refresh_from_db()
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def log_in(client, username, password=PASSWORD, address="10.0.0.7"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def mark() -> int:
    """The last event so far: the personas' creation logs role and site changes of its own."""
    return SecurityEvent.objects.order_by("pk").values_list("pk", flat=True).last() or 0


def kinds(user, since=0):
    events = SecurityEvent.objects.filter(user=user, pk__gt=since).order_by("pk")
    return list(events.values_list("kind", flat=True))


# --- Lockout ------------------------------------------------------------------------------------


def test_five_wrong_passwords_lock_the_username_even_against_the_right_one(client, clinician, settings):
    settings.AXES_FAILURE_LIMIT = 5
    for _attempt in range(4):
        assert log_in(client, clinician.username, "wrong").status_code == 200
    response = log_in(client, clinician.username, "wrong")
    assert response.status_code == 429
    assert "Too many failed logins (5)" in response.content.decode()

    response = log_in(client, clinician.username)
    assert response.status_code == 429  # the right password does not help during the lockout
    assert "_auth_user_id" not in client.session
    assert kinds(clinician).count(Kind.LOGIN_FAILED) == 6
    assert Kind.LOCKED_OUT in kinds(clinician)
    event = SecurityEvent.objects.filter(kind=Kind.LOGIN_FAILED).first()
    assert event.ip_address == "10.0.0.7"


def test_a_data_manager_unlocks_a_user_by_deleting_the_access_attempt(client, clinician, data_manager, settings):
    settings.AXES_FAILURE_LIMIT = 2
    log_in(client, clinician.username, "wrong")
    assert log_in(client, clinician.username, "wrong").status_code == 429
    attempt = AccessAttempt.objects.get(username=clinician.username)

    admin = client.__class__()
    admin.force_login(data_manager)
    assert admin.get("/admin/axes/accessattempt/").status_code == 200
    assert admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code == 302

    assert log_in(client, clinician.username).status_code == 302
    assert kinds(clinician)[-1] == Kind.LOGIN


def test_the_lockout_counts_per_username_and_address(client, clinician, settings):
    settings.AXES_FAILURE_LIMIT = 2
    log_in(client, clinician.username, "wrong")
    assert log_in(client, clinician.username, "wrong").status_code == 429
    # The same username from another computer of the hospital is not locked.
    assert log_in(client, clinician.username, address="10.0.0.8").status_code == 302


def test_wrong_signature_passwords_count_toward_the_login_lockout(client, settings, coordinator, patient_a):
    """The e-signature's password check is throttled like the login: it shares the lockout."""
    settings.AXES_FAILURE_LIMIT = 3
    screening = ScreeningFactory(patient=patient_a)
    client.force_login(coordinator)
    url = f"/screenings/{screening.pk}/"
    for _attempt in range(3):
        page = client.post(
            url, {"password": "guess", "version": screening.version}, follow=True, REMOTE_ADDR="10.0.0.7"
        )
    assert "locked" in page.content.decode()
    assert AccessAttempt.objects.get().failures_since_start == 3
    # Locked: the right password signs nothing, and the login is refused too.
    page = client.post(url, {"password": PASSWORD, "version": screening.version}, follow=True, REMOTE_ADDR="10.0.0.7")
    assert "locked" in page.content.decode() and not Screening.objects.get(pk=screening.pk).is_signed
    assert log_in(Client(), coordinator.username).status_code == 429
    assert SignatureAttempt.objects.filter(succeeded=False).count() == 4


def test_passwords_are_checked_by_djangos_validators():
    for weak in ("short1", "password123", "12345678901"):
        with pytest.raises(ValidationError):
            validate_password(weak)
    validate_password("ward-7-myeloma-lamp")


def test_production_stores_new_passwords_with_argon2id(clinician, settings):
    settings.PASSWORD_HASHERS = settings.PRODUCTION_PASSWORD_HASHERS  # not the tests' MD5
    clinician.set_password("ward-7-myeloma-lamp")
    assert clinician.password.startswith("argon2$argon2id$")
    # Django's parameters: 100 MiB of memory and two passes per hash.
    assert "m=102400,t=2" in clinician.password


def test_an_older_pbkdf2_password_is_rehashed_with_argon2id_at_the_next_login(client, clinician, settings):
    settings.PASSWORD_HASHERS = settings.PRODUCTION_PASSWORD_HASHERS  # not the tests' MD5
    clinician.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    clinician.save(update_fields=["password"])
    assert log_in(client, clinician.username).status_code == 302
    clinician.refresh_from_db()
    assert clinician.password.startswith("argon2$argon2id$")
    assert check_password(PASSWORD, clinician.password)


def test_signing_on_the_page_with_an_older_hash_keeps_the_coordinator_logged_in(client, coordinator, patient_a,
                                                                                settings):  # fmt: skip
    # The session is bound to the password hash; re-hashing it while signing must not log out.
    settings.PASSWORD_HASHERS = settings.PRODUCTION_PASSWORD_HASHERS  # not the tests' MD5
    coordinator.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    coordinator.save(update_fields=["password"])
    client.force_login(coordinator)
    screening = ScreeningFactory(patient=patient_a)
    client.post(f"/screenings/{screening.pk}/", {"password": PASSWORD, "version": screening.version})
    screening.refresh_from_db()
    assert screening.is_signed
    assert client.get(f"/screenings/{screening.pk}/").status_code == 200  # not sent to the login page


def test_an_older_pbkdf2_password_still_signs_and_is_rehashed(coordinator, patient_a, settings):
    settings.PASSWORD_HASHERS = settings.PRODUCTION_PASSWORD_HASHERS  # not the tests' MD5
    coordinator.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    coordinator.save(update_fields=["password"])
    assert sign_screening(ScreeningFactory(patient=patient_a), signer=coordinator, password=PASSWORD).signed
    coordinator.refresh_from_db()
    assert coordinator.password.startswith("argon2$argon2id$")


# --- Two-factor login ---------------------------------------------------------------------------


@pytest.fixture
def clinician_device(clinician):
    return TOTPDevice.objects.create(user=clinician, name="phone", confirmed=True)


def test_a_user_with_a_device_is_asked_for_the_code_before_being_logged_in(client, clinician, clinician_device):
    response = log_in(client, clinician.username)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/code/")
    assert "_auth_user_id" not in client.session
    assert client.get("/patients/").status_code == 302  # still anonymous

    response = client.post("/accounts/login/code/", {"token": code_for(clinician_device)})
    assert response.status_code == 302 and response.url == "/patients/"
    assert client.get("/patients/").status_code == 200
    login = SecurityEvent.objects.get(kind=Kind.LOGIN)
    assert login.detail == "with a two-factor code"


def test_a_wrong_code_is_a_failed_login_and_counts_toward_the_lockout(client, clinician, clinician_device, settings):
    settings.AXES_FAILURE_LIMIT = 3
    log_in(client, clinician.username, address="127.0.0.1")  # the test client's default address
    response = client.post("/accounts/login/code/", {"token": "000000"})
    assert response.status_code == 200
    assert "The code is not correct" in response.content.decode()
    assert "_auth_user_id" not in client.session
    failed = SecurityEvent.objects.filter(kind=Kind.LOGIN_FAILED).get()
    assert failed.detail == "wrong two-factor code"
    chinese = client.post("/accounts/login/code/", {"token": "000001"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "验证码不正确或已过期" in chinese.content.decode()  # the user reads Chinese...
    last = SecurityEvent.objects.filter(kind=Kind.LOGIN_FAILED).order_by("pk").last()
    assert last.detail == "wrong two-factor code"  # ...the log stays in the study's language

    assert client.post("/accounts/login/code/", {"token": "000002"}).status_code == 429
    # The password step is now refused too, and the pending step is gone.
    assert log_in(client, clinician.username, address="127.0.0.1").status_code == 429
    assert client.get("/accounts/login/code/").status_code == 302


def test_the_code_page_needs_the_password_step_first(client, clinician, clinician_device):
    response = client.get("/accounts/login/code/")
    assert response.status_code == 302 and response.url == "/accounts/login/"


def test_the_admin_login_form_cannot_skip_the_code(client, db):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response.url == "/accounts/login/?next=/admin/"


def test_a_clinician_enrols_a_device_from_the_account_page(client, clinician):
    client.force_login(clinician)
    start = mark()
    page = client.get("/accounts/two-factor/").content.decode()
    assert "<svg" in page and "Secret key" in page
    device = TOTPDevice.objects.get(user=clinician, confirmed=False)

    response = client.post("/accounts/two-factor/", {"action": "confirm", "token": "123456"})
    assert response.status_code == 302
    device.refresh_from_db()
    assert not device.confirmed  # a wrong code enrols nothing

    time.sleep(1.1)  # django-otp refuses any code for 2^(failures - 1) seconds after a wrong one
    client.post("/accounts/two-factor/", {"action": "confirm", "token": code_for(device)})
    device.refresh_from_db()
    assert device.confirmed
    assert kinds(clinician, start) == [Kind.TWO_FACTOR_ENROLLED]
    assert "is on" in client.get("/accounts/two-factor/").content.decode()


def test_a_data_manager_without_a_device_can_only_enrol(client, site_a):
    manager = UserFactory(username="dm_new", role="data_manager", site=site_a)
    TOTPDevice.objects.filter(user=manager).delete()
    client.force_login(manager)
    for url in ("/patients/", "/admin/", "/exports/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url == "/accounts/two-factor/", url
    assert client.get("/api/v1/patients/").status_code == 403
    assert client.get("/accounts/two-factor/").status_code == 200

    device = TOTPDevice.objects.get(user=manager)
    client.post("/accounts/two-factor/", {"action": "confirm", "token": code_for(device)})
    assert client.get("/patients/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_a_data_manager_cannot_turn_two_factor_off(client, data_manager):
    client.force_login(data_manager)
    device = TOTPDevice.objects.get(user=data_manager)
    client.post("/accounts/two-factor/", {"action": "remove", "token": code_for(device)})
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_a_clinician_turns_two_factor_off_with_a_current_code(client, clinician, clinician_device):
    client.force_login(clinician)
    client.post("/accounts/two-factor/", {"action": "remove", "token": code_for(clinician_device)})
    assert not TOTPDevice.objects.filter(user=clinician).exists()
    assert kinds(clinician)[-1] == Kind.TWO_FACTOR_REMOVED


# --- Inactivity ---------------------------------------------------------------------------------


def test_an_idle_session_is_logged_out_and_the_login_page_says_why(client, clinician, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    client.force_login(clinician)
    assert client.get("/patients/").status_code == 200
    start = mark()
    session = client.session
    session[LAST_ACTIVITY] = time.time() - 61
    session.save()

    response = client.get("/patients/")
    assert response.status_code == 302
    assert response.url == "/accounts/login/?expired=1&next=%2Fpatients%2F"
    assert "signed out after 1 minute without activity" in client.get(response.url).content.decode()
    assert client.get("/patients/").url.startswith("/accounts/login/")
    assert kinds(clinician, start) == [Kind.SESSION_EXPIRED]


def test_the_status_probe_does_not_keep_a_session_alive_but_the_keep_alive_does(client, clinician, settings):
    settings.SESSION_IDLE_TIMEOUT = 600
    client.force_login(clinician)
    session = client.session
    session[LAST_ACTIVITY] = time.time() - 500
    session.save()

    status = client.get("/accounts/session/").json()
    assert status["authenticated"] and 95 <= status["remaining"] <= 100
    assert client.get("/accounts/session/").json()["remaining"] <= 100  # reading is not activity

    assert client.post("/accounts/session/").json()["remaining"] == 600
    assert client.get("/accounts/session/").json()["remaining"] >= 599


def test_a_background_poll_is_not_activity(client, clinician, settings):
    settings.SESSION_IDLE_TIMEOUT = 600
    client.force_login(clinician)
    session = client.session
    session[LAST_ACTIVITY] = time.time() - 500
    session.save()
    client.get("/dashboard/version/", HTTP_X_BACKGROUND_POLL="1")
    assert client.get("/accounts/session/").json()["remaining"] <= 100


# --- The security log ---------------------------------------------------------------------------


def test_logins_and_logouts_are_logged_with_the_address(client, clinician):
    start = mark()
    log_in(client, clinician.username)
    client.post("/accounts/logout/", REMOTE_ADDR="10.0.0.9")
    assert kinds(clinician, start) == [Kind.LOGIN, Kind.LOGOUT]
    logout = SecurityEvent.objects.get(kind=Kind.LOGOUT)
    assert logout.ip_address == "10.0.0.9" and logout.username == clinician.username


def test_a_failed_login_for_an_unknown_name_is_logged_with_that_name(client, db):
    log_in(client, "nobody", "guess")
    event = SecurityEvent.objects.get(kind=Kind.LOGIN_FAILED)
    assert (event.kind, event.username, event.user) == (Kind.LOGIN_FAILED, "nobody", None)


def test_the_log_is_written_in_the_studys_language_whatever_the_users(client, clinician):
    page = client.post(
        "/accounts/login/", {"username": clinician.username, "password": "guess"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert page.context["LANGUAGE_CODE"] == "zh-hans"  # the user saw the page in Chinese
    log_in(client, clinician.username, address="10.0.0.8")
    details = list(SecurityEvent.objects.filter(user=clinician).order_by("pk").values_list("detail", flat=True))
    assert details[-2:] == ["wrong username or password", "password only"]


def test_role_and_site_changes_in_the_admin_name_who_made_them(client, data_manager, clinician, site_a):
    client.force_login(data_manager)
    start = mark()
    coordinator_group = Group.objects.get(name="coordinator")
    response = client.post(
        f"/admin/trials/user/{clinician.pk}/change/",
        {
            "username": clinician.username,
            "first_name": "Test",
            "last_name": "Clinician",
            "email": "",
            "is_active": "on",
            "groups": [coordinator_group.pk],
            "sites": [site_a.pk],
            "reason_for_change": "moves to screening review",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    changes = SecurityEvent.objects.filter(pk__gt=start, kind=Kind.ROLES_CHANGED)
    event = changes.get(detail__contains="added")
    assert (event.user, event.actor) == (clinician, data_manager)
    assert event.detail == "roles added: coordinator; reason: moves to screening review"
    removed = changes.get(detail__contains="removed")
    assert removed.detail == "roles removed: clinician; reason: moves to screening review"


def test_site_changes_from_code_are_logged_without_an_actor(clinician, site_b):
    start = mark()
    clinician.sites.add(site_b)
    clinician.sites.clear()
    details = list(SecurityEvent.objects.filter(pk__gt=start).order_by("pk").values_list("kind", "detail", "actor"))
    assert details == [
        (Kind.SITES_CHANGED, "sites added: BBB", None),
        (Kind.SITES_CHANGED, "sites removed: AAA, BBB", None),
    ]


def test_the_security_log_is_append_only(clinician):
    event = SecurityEvent.objects.create(kind=Kind.LOGIN, user=clinician, username=clinician.username)
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).update(detail="edited")
    with pytest.raises(DatabaseError), transaction.atomic():
        SecurityEvent.objects.filter(pk=event.pk).delete()


def test_a_data_manager_reads_the_log_in_the_admin_but_cannot_change_it(client, data_manager, clinician):
    SecurityEvent.objects.create(kind=Kind.LOGIN, user=clinician, username=clinician.username)
    client.force_login(data_manager)
    page = client.get("/admin/trials/securityevent/")
    assert page.status_code == 200 and clinician.username in page.content.decode()
    event = SecurityEvent.objects.filter(user=clinician).first()
    assert client.post(f"/admin/trials/securityevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403


# --- The demo -----------------------------------------------------------------------------------


def test_the_demo_data_manager_logs_in_with_the_code_the_command_prints(client, db, settings, capsys):
    from django.core.management import call_command

    from trials.demo import ensure_demo_two_factor, ensure_demo_users
    from trials.models import Site

    site = Site.objects.create(code="H01", name="Demo")
    manager = ensure_demo_users("pvp-demo-2026", site)[3]
    device = ensure_demo_two_factor(manager)
    assert ensure_demo_two_factor(manager) == device  # idempotent: the secret stays the same

    settings.DEBUG = True
    call_command("totp_code", "data_manager")
    code = capsys.readouterr().out.split()[0]
    log_in(client, "data_manager", "pvp-demo-2026")
    assert client.post("/accounts/login/code/", {"token": code}).url == "/patients/"

    settings.DEBUG = False
    with pytest.raises(Exception, match="only runs with DEBUG on"):
        call_command("totp_code", "data_manager")
