"""Test settings: a throwaway embedded PostgreSQL (deleted at exit) unless DATABASE_URL is set.

The demo data under var/pgdata is never touched by tests. The tests connect as the application's
role and the test database is created, migrated and flushed by the owner role, as in production
(tests/conftest.py).
"""

import os
import secrets
import tempfile
from unittest import mock

if not os.environ.get("DATABASE_URL"):
    os.environ["EMBEDDED_PGDATA"] = tempfile.mkdtemp(prefix="pvp-test-pgdata-")
    os.environ["EMBEDDED_PG_CLEANUP"] = "delete"

# Production settings are the default; like `make run`, the tests set what they need: plain HTTP for
# the test client and the browser tests, and a random key of their own. Only while the settings are
# read: subprocesses of the tests (`check --deploy`, `make run`) start from the real environment.
with mock.patch.dict(
    os.environ, {"HTTPS": "0", "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)}
):
    from config.settings import *  # noqa: F403

ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

PRODUCTION_PASSWORD_HASHERS = PASSWORD_HASHERS  # noqa: F405 - for the tests of the production hashers
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; real hashers in production

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - WhiteNoise warns when it is missing

# Jobs inline: a background thread would not see the test's uncommitted transaction.
# tests/test_jobs.py runs them in the background on purpose, with a transactional database.
JOBS_IN_BACKGROUND = False

# Parallel outcome statements read an exported snapshot, which cannot see the test's uncommitted
# data; tests/test_dashboard.py checks the parallel path on committed data (transactional test).
OUTCOMES_PARALLEL = False

# No mail server: password reset is hidden (tests/test_password_reset.py switches it on).
EMAIL_HOST = ""

# Export files and uploads of the tests go to a folder of their own, never var/media.
MEDIA_ROOT = tempfile.mkdtemp(prefix="pvp-test-media-")

# Static files straight from static/ (no collectstatic before the tests); `make run`, which the
# smoke test starts, serves the collected files with hashed names.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
WHITENOISE_USE_FINDERS = True
