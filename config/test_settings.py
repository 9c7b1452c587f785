"""Test settings: a throwaway embedded PostgreSQL (deleted at exit) unless DATABASE_URL is set.

The demo data under var/pgdata is never touched by tests.
"""

import os
import tempfile

if not os.environ.get("DATABASE_URL"):
    os.environ["EMBEDDED_PGDATA"] = tempfile.mkdtemp(prefix="pvp-test-pgdata-")
    os.environ["EMBEDDED_PG_CLEANUP"] = "delete"

from config.settings import *  # noqa: E402, F403

PRODUCTION_PASSWORD_HASHERS = PASSWORD_HASHERS  # noqa: F405 - for the tests of the production hashers
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; real hashers in production

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - WhiteNoise warns when it is missing

# Jobs inline: a background thread would not see the test's uncommitted transaction.
# tests/test_jobs.py runs them in the background on purpose, with a transactional database.
JOBS_IN_BACKGROUND = False

# Parallel outcome statements read an exported snapshot, which cannot see the test's uncommitted
# data; tests/test_dashboard.py checks the parallel path on committed data (transactional test).
OUTCOMES_PARALLEL = False
