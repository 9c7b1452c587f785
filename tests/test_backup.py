"""`backup_database` and `restore_database`: a restore reproduces every table, the audit trail and the guards.

pg_dump only sees committed data, so these tests commit (transactional database) and drop the
scratch databases they create on the test server.
"""

import uuid
from types import SimpleNamespace

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from pghistory.models import Events

from tests import factories
from trials.audit import change_context
from trials.backup import BackupError, client_environment, connection_parameters, find_client_programs
from trials.demo import DEMO_SITE_CODE
from trials.models import PainAssessment, Patient, PatientLock, Site, StudyFreeze, User

pytestmark = pytest.mark.django_db(transaction=True)

AUDIT_TABLES_QUERY = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
    "AND (tablename LIKE '%event' OR tablename = 'pghistory_context') ORDER BY 1"
)


def database_snapshot(dbname: str) -> dict:
    """Everything a restore must reproduce: each table's rows (as text, sorted), triggers, functions, sequences."""
    with psycopg.connect(**connection_parameters(dbname)) as database:
        tables = [row[0] for row in database.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {
            "rows": {
                table: [row[0] for row in database.execute(f"SELECT t::text FROM public.{table} t ORDER BY 1")]
                for table in tables
            },
            "triggers": set(
                database.execute(
                    "SELECT tgrelid::regclass::text, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal"
                )
            ),
            "functions": set(
                database.execute("SELECT proname, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
            ),
            "sequences": set(
                database.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
            ),
        }


@pytest.fixture
def demo_study(monkeypatch):
    """The demo study plus the audit events a real study accumulates: a correction, a deletion, a lock.

    Loaded first: load_demo refuses a database that holds anything but the demo."""
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password-for-backup-tests")
    call_command("load_demo")
    data_manager = User.objects.get(username="data_manager")
    pain = PainAssessment.objects.order_by("pk").first()
    with change_context(user=data_manager, reason="grade re-read from the source document"):
        pain.who_grade = 2 if pain.who_grade != 2 else 1
        pain.save()
    with change_context(user=data_manager, reason="entered twice"):
        PainAssessment.objects.order_by("pk").last().delete()
    with change_context(user=data_manager, reason="record verified and locked"):
        PatientLock.objects.create(patient=Patient.objects.order_by("pk").first(), locked_by=data_manager)


@pytest.fixture
def scratch_database():
    """Made by the owner role (the backup commands' role); the application's role may not create databases."""
    name = f"restore_check_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**connection_parameters("postgres"), autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    yield name
    with psycopg.connect(**connection_parameters("postgres"), autocommit=True) as server:
        # Not WITH (FORCE): the owner may not terminate the server's autovacuum workers, which a fresh
        # restore wakes; a plain DROP cancels them itself (and the tests' own connections are closed).
        server.execute(f'DROP DATABASE "{name}"')


def back_up(tmp_path, capsys):
    dump = tmp_path / "study.dump"
    call_command("backup_database", output=str(dump))
    return dump, capsys.readouterr().out


def test_a_backup_reports_its_file_size_and_tables_and_only_its_owner_can_read_it(tmp_path, capsys, patient_a):
    dump, report = back_up(tmp_path, capsys)
    assert f"Backup written: {dump} (" in report
    assert " MB, " in report and " tables)" in report
    assert dump.stat().st_mode & 0o777 == 0o600  # identifiable data
    assert not list(tmp_path.glob("*.partial"))


def test_a_backup_never_overwrites_an_existing_file(tmp_path, capsys, patient_a):
    dump, _report = back_up(tmp_path, capsys)
    size = dump.stat().st_size
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup_database", output=str(dump))
    assert dump.stat().st_size == size


def test_a_restore_into_a_fresh_database_reproduces_every_table_and_the_audit_trail(
    demo_study, scratch_database, tmp_path, capsys
):
    with change_context(reason="study frozen for analysis"):
        # Frozen at backup time: a guard trigger created before the data would refuse every row.
        StudyFreeze.objects.create(frozen_by=User.objects.get(username="data_manager"))
    original = database_snapshot(connection.settings_dict["NAME"])
    dump, _report = back_up(tmp_path, capsys)

    call_command("restore_database", str(dump), dbname=scratch_database)
    restored = database_snapshot(scratch_database)

    assert {table: len(rows) for table, rows in restored["rows"].items()} == {
        table: len(rows) for table, rows in original["rows"].items()
    }
    assert restored == original  # row contents, triggers, functions and sequence positions
    with psycopg.connect(**connection_parameters(scratch_database)) as database:
        audit_tables = [row[0] for row in database.execute(AUDIT_TABLES_QUERY)]
        events = sum(len(restored["rows"][table]) for table in audit_tables if table != "pghistory_context")
        reasons = {
            row[0]
            for row in database.execute("SELECT metadata ->> 'reason' FROM pghistory_context WHERE metadata ? 'reason'")
        }
    assert len(audit_tables) > 15 and events > 500  # the comparison above covered a real audit trail
    assert {"grade re-read from the source document", "entered twice", "study frozen for analysis"} <= reasons


def test_the_restored_database_keeps_its_guards(demo_study, scratch_database, tmp_path, capsys):
    dump, _report = back_up(tmp_path, capsys)
    call_command("restore_database", str(dump), dbname=scratch_database)
    locked = Patient.objects.get(lock__isnull=False)
    with psycopg.connect(**connection_parameters(scratch_database), autocommit=True) as database:
        with pytest.raises(psycopg.errors.RaiseException, match="Cannot update or delete rows"):
            database.execute("UPDATE trials_painassessmentevent SET who_grade = 0")
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            database.execute("DELETE FROM pghistory_context")
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="is locked"):
            database.execute("UPDATE trials_patient SET initials = 'XX' WHERE id = %s", [locked.pk])
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="signed and read-only"):
            database.execute(
                "UPDATE trials_screening SET kps = 10 WHERE signed_at IS NOT NULL AND patient_id <> %s", [locked.pk]
            )
        version = database.execute("SELECT last_value FROM trials_data_version").fetchone()[0]
        database.execute("UPDATE trials_site SET name = name || ' (restored)'")
        assert database.execute("SELECT last_value FROM trials_data_version").fetchone()[0] > version


def test_a_restored_database_is_the_owners_and_the_application_role_gets_its_rows_back(
    patient_a, scratch_database, tmp_path, capsys
):
    """A dump carries no privileges (role names differ between servers): the restore grants them again."""
    dump, _report = back_up(tmp_path, capsys)
    call_command("restore_database", str(dump), dbname=scratch_database)
    as_application = {**connection.get_connection_params(), "dbname": scratch_database}
    as_application.pop("cursor_factory", None)
    with psycopg.connect(**as_application, autocommit=True) as database:
        assert database.execute("SELECT current_user").fetchone() == (settings.DATABASE_APP_ROLE,)
        assert database.execute("SELECT count(*) FROM trials_patient").fetchone() == (1,)
        database.execute("UPDATE trials_site SET name = name || ' (restored)'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            database.execute("TRUNCATE trials_patientevent")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="must be owner"):
            database.execute("ALTER TABLE trials_patient DISABLE TRIGGER ALL")
        owners = database.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchall()
    assert owners == [(settings.DATABASES["owner"]["USER"],)]


def test_a_restore_refuses_a_database_that_has_tables_without_replace(tmp_path, capsys, patient_a):
    dump, _report = back_up(tmp_path, capsys)
    patient_a.delete()
    with pytest.raises(CommandError, match=r"already has \d+ tables.*--replace"):
        call_command("restore_database", str(dump))
    assert not Patient.objects.exists()  # nothing was restored over the live data


def test_a_replacing_restore_returns_to_the_backup_and_the_app_writes_on(demo_study, data_manager, tmp_path, capsys):
    original = database_snapshot(connection.settings_dict["NAME"])
    dump, _report = back_up(tmp_path, capsys)
    site = Site.objects.get(code=DEMO_SITE_CODE)
    after_backup = factories.PatientFactory(site=site, user=data_manager)
    connection.close()

    call_command("restore_database", str(dump), replace=True)

    assert "replacing its" in capsys.readouterr().out
    assert database_snapshot(connection.settings_dict["NAME"]) == original
    assert not Patient.objects.filter(pk=after_backup.pk).exists()
    # Sequences and the site's own counters continue where the backup left off: no collisions.
    newest = Patient.objects.order_by("pk").last()
    new_patient = factories.PatientFactory(site=site, user=data_manager, reason="first entry after restore")
    assert new_patient.pk > newest.pk
    assert not Patient.objects.filter(screening_number=new_patient.screening_number).exclude(pk=new_patient.pk).exists()
    insert = Events.objects.tracks(new_patient).get()
    assert (insert.pgh_label, insert.pgh_context["reason"]) == ("insert", "first entry after restore")


def cut_off(dump):
    dump.write_bytes(dump.read_bytes()[: dump.stat().st_size * 2 // 3])


def scramble_the_data(dump):
    """Break the first table's compressed data but keep the table of contents readable.

    Data blocks are zlib streams (header 78 9c; the text of the table of contents cannot contain that
    pair); an invalid block type right after the header fails when pg_restore reaches that data.
    """
    content = dump.read_bytes()
    data = content.index(b"\x78\x9c") + 2
    dump.write_bytes(content[:data] + b"\xff" * 4 + content[data + 4 :])


@pytest.mark.parametrize(
    ("damage", "refusal"),
    [
        (cut_off, "is not a readable backup, nothing was changed"),  # refused before touching the database
        (scramble_the_data, "could not read the whole dump, nothing was changed"),  # rolled back half-way
    ],
)
def test_a_damaged_backup_changes_nothing(damage, refusal, tmp_path, capsys, patient_a):
    for _ in range(20):
        factories.PainAssessmentFactory(patient=factories.PatientFactory(site=patient_a.site))
    dump, _report = back_up(tmp_path, capsys)
    damage(dump)
    later = factories.PatientFactory(site=patient_a.site)
    connection.close()

    with pytest.raises(CommandError, match=refusal):
        call_command("restore_database", str(dump), replace=True)

    assert Patient.objects.filter(pk=later.pk).exists()
    assert PainAssessment.objects.count() == 20


def test_a_restore_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("restore_database", str(tmp_path / "missing.dump"))


def test_client_programs_older_than_the_server_are_refused_by_name():
    with pytest.raises(BackupError, match=r"no pg_dump, pg_restore and psql of PostgreSQL 99 or newer.*PostgreSQL 18"):
        find_client_programs(99)


def test_the_password_and_ssl_options_reach_the_client_programs_through_the_environment(monkeypatch):
    # Only the backup module sees this external database; the test's own connection is left alone.
    external = {
        "default": {
            "NAME": "edc",
            "USER": "edc_app",
            "PASSWORD": "s3cret",
            "HOST": "db.hospital.example",
            "PORT": 5433,
            "OPTIONS": {"sslmode": "verify-full"},
        }
    }
    monkeypatch.setattr("trials.backup.settings", SimpleNamespace(DATABASES=external))
    environment = client_environment(connection_parameters())
    assert {
        key: environment[key] for key in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSSLMODE")
    } == {
        "PGHOST": "db.hospital.example",
        "PGPORT": "5433",
        "PGUSER": "edc_app",
        "PGPASSWORD": "s3cret",
        "PGDATABASE": "edc",
        "PGSSLMODE": "verify-full",
    }
