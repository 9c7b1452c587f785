"""Personas built once per test: users of each role at site A, and an outsider at site B."""

import os

import psycopg
import pytest

from tests.factories import PatientFactory, SiteFactory, UserFactory

# Playwright's sync API runs an event loop in the test thread; Django would otherwise refuse
# database access from it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# --- Database roles: the tests run as the application's role, the owner makes the test database ---


def _connect_default_as(alias: str, credentials: dict) -> None:
    """Point the "default" connection, in every thread (one settings dict), at a role's credentials."""
    from django.db import connections

    connections["default"].close()
    connections["default"].settings_dict.update(credentials[alias])


@pytest.fixture(scope="session")
def database_credentials() -> dict:
    from django.conf import settings

    return {
        alias: {key: settings.DATABASES[alias].get(key) for key in ("USER", "PASSWORD")} for alias in settings.DATABASES
    }


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, database_credentials):
    """The owner creates and migrates the test database, as it migrates a real one."""
    _connect_default_as("owner", database_credentials)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, database_credentials):
    """Then every test runs as the application's role; the owner empties the tables after a
    transactional test (TRUNCATE is the owner's alone) and drops the test database at the end."""
    from django.conf import settings
    from django.db.backends.postgresql.operations import DatabaseOperations

    from trials.backup import connection_parameters

    settings.DATABASES["owner"]["NAME"] = settings.DATABASES["default"]["NAME"]

    def flush_as_owner(operations, statements):
        with psycopg.connect(**connection_parameters(), autocommit=True) as owner:
            for statement in statements:
                owner.execute(statement)
            # The task queue's tables belong to unmanaged models, which Django's flush leaves alone.
            owner.execute(
                "TRUNCATE procrastinate_jobs, procrastinate_periodic_defers, procrastinate_workers, "
                "procrastinate_events RESTART IDENTITY CASCADE"
            )
            owner.execute("TRUNCATE trials_cache")  # DatabaseCache's table has no model either

    original_flush = DatabaseOperations.execute_sql_flush
    DatabaseOperations.execute_sql_flush = flush_as_owner
    _connect_default_as("default", database_credentials)
    yield
    DatabaseOperations.execute_sql_flush = original_flush
    _connect_default_as("owner", database_credentials)


@pytest.fixture(autouse=True)
def _each_test_starts_in_the_default_language():
    """A request through the test client activates its language in this thread and nothing resets it
    (LocaleMiddleware does not): a page asked for in Chinese would make the next test's messages Chinese."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _force_login_includes_the_two_factor_code(monkeypatch):
    """`force_login` stands for a completed login, which for a user with a two-factor device includes
    the code: mark the session verified, as django_otp.login does. tests/test_security.py tests the
    real login steps."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            session = self.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()

    monkeypatch.setattr(Client, "force_login", force_login)


@pytest.fixture
def site_a(db):
    return SiteFactory(code="AAA", name="Hospital A")


@pytest.fixture
def site_b(db):
    return SiteFactory(code="BBB", name="Hospital B")


@pytest.fixture
def clinician(site_a):
    return UserFactory(username="clin_a", role="clinician", site=site_a)


@pytest.fixture
def coordinator(site_a):
    return UserFactory(username="coord_a", role="coordinator", site=site_a)


@pytest.fixture
def investigator(site_a):
    return UserFactory(username="inv_a", role="investigator", site=site_a)


@pytest.fixture
def data_manager(site_a):
    return UserFactory(username="dm_a", role="data_manager", site=site_a)


@pytest.fixture
def outsider(site_b):
    """A clinician of another site: must never see site A's patients."""
    return UserFactory(username="clin_b", role="clinician", site=site_b)


@pytest.fixture
def patient_a(site_a):
    return PatientFactory(site=site_a)


@pytest.fixture
def patient_b(site_b):
    return PatientFactory(site=site_b)


@pytest.fixture
def enrolled_patient(site_a, coordinator):
    """A patient whose eligible screening a coordinator signed: treatment forms are open."""
    from datetime import date, datetime, time
    from zoneinfo import ZoneInfo

    from tests.factories import ScreeningFactory
    from trials.services import enrol_patient

    patient = PatientFactory(site=site_a, sex="M", date_of_birth=date(1955, 3, 1), weight_kg=72)
    ScreeningFactory(
        patient=patient,
        signed_by=coordinator,
        signed_at=datetime.combine(date(2020, 1, 7), time(9), tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    return enrol_patient(patient, enrolled_on=date(2020, 1, 7))


@pytest.fixture
def queue_worker():
    """A worker of the task queue (procrastinate) on a thread of the test process, for transactional
    tests that defer jobs (JOBS_IN_BACKGROUND on). In a thread, unlike `manage.py procrastinate
    worker`, it sees the test's monkeypatches; tests/test_task_queue.py runs real worker processes."""
    import asyncio
    import contextlib
    import threading
    import warnings

    from procrastinate import periodic
    from procrastinate.contrib.django import app

    with warnings.catch_warnings():
        # A second app on the worker's own connection; the test's defers keep Django's connection.
        warnings.simplefilter("ignore", DeprecationWarning)
        worker_app = app.with_connector(app.connector.get_worker_connector())
    # No periodic tasks here: their deferrer would defer through the test's app and connection.
    worker_app.periodic_registry = periodic.PeriodicRegistry()
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def work():
        async with worker_app.open_async():
            started.set()
            await worker_app.run_worker_async(queues=["jobs"], install_signal_handlers=False, listen_notify=True)

    task = loop.create_task(work())

    def run_until_stopped():
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run_until_stopped, daemon=True)
    thread.start()
    assert started.wait(10), "the queue worker did not start"
    yield worker_app
    loop.call_soon_threadsafe(task.cancel)
    thread.join(10)
