"""The application's database role reads and writes rows, and that is all (issue 14, finding 7).

Every test connects as that role (tests/conftest.py); the owner role created and migrated the test
database, as `migrate --database owner` does in production. So what is refused here is refused to
the application, and to anyone holding its connection: raw SQL is audited, and no way of switching
a trigger off, emptying the audit trail or rewriting a signature attempt is open to it.
"""

import pgtrigger
import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from config import database_roles
from tests.factories import ScreeningFactory, SiteFactory
from trials import patient_summary
from trials.backup import connection_parameters
from trials.models import SignatureAttempt, Site

pytestmark = pytest.mark.django_db

OWNER = settings.DATABASES["owner"]["USER"]
APP = settings.DATABASE_APP_ROLE


def query(sql, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def refusal(sql, params=None) -> str:
    """The database's error for a statement that must fail (in a savepoint: the test goes on)."""
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(error.value)


def site_events(site) -> list[tuple]:
    return query("SELECT pgh_label, name FROM trials_siteevent WHERE pgh_obj_id = %s ORDER BY pgh_id", [site.pk])


# --- who is who ---------------------------------------------------------------------------------


def test_the_tests_run_as_the_application_role_which_is_not_the_owner():
    assert query("SELECT current_user")[0][0] == APP
    assert APP != OWNER


def test_neither_role_is_a_superuser_and_the_application_role_belongs_to_no_other():
    powers = query(
        "SELECT rolname FROM pg_roles WHERE rolname IN (%s, %s) "
        "AND (rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls)",
        [APP, OWNER],
    )
    assert powers == []
    assert query("SELECT rolcreatedb FROM pg_roles WHERE rolname = %s", [APP]) == [(False,)]
    assert query("SELECT count(*) FROM pg_auth_members WHERE member = %s::regrole", [APP]) == [(0,)]


def test_the_owner_owns_every_table_sequence_and_function_and_the_application_role_nothing():
    owners = query(
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
        "UNION SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc WHERE pronamespace = 'public'::regnamespace "
        "UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
    )
    assert owners == [(OWNER,)]
    # The schema: the owner's, or (PostgreSQL 15+ default) the database owner's.
    assert query("SELECT pg_has_role(%s, nspowner, 'USAGE') FROM pg_namespace WHERE nspname = 'public'", [OWNER]) == [
        (True,)
    ]
    owned_by_app = query("SELECT count(*) FROM pg_shdepend WHERE refobjid = %s::regrole AND deptype = 'o'", [APP])
    assert owned_by_app == [(0,)]


def test_the_application_role_has_rows_but_no_truncate_trigger_or_schema_rights():
    rights = query(
        "SELECT bool_and(has_table_privilege(oid, 'SELECT, INSERT, UPDATE, DELETE')), "
        "bool_or(has_table_privilege(oid, 'TRUNCATE')), bool_or(has_table_privilege(oid, 'TRIGGER')), "
        "bool_or(has_table_privilege(oid, 'REFERENCES')) "
        "FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"
    )
    assert rights == [(True, False, False, False)]
    assert query(
        "SELECT has_schema_privilege('public', 'CREATE'), has_database_privilege(current_database(), 'CREATE'), "
        "has_database_privilege(current_database(), 'TEMPORARY')"
    ) == [(False, False, False)]


# --- raw SQL is audited, and the triggers cannot be switched off --------------------------------


def test_raw_sql_through_the_application_role_is_audited():
    site = SiteFactory(code="RAW", name="Before")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trials_site SET name = 'Renamed by raw SQL' WHERE id = %s", [site.pk])
    assert site_events(site) == [("insert", "Before"), ("update", "Renamed by raw SQL")]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("ALTER TABLE trials_site DISABLE TRIGGER ALL", "must be owner of table trials_site"),
        ("ALTER TABLE trials_site DISABLE TRIGGER USER", "must be owner of table trials_site"),
        ("ALTER TABLE trials_siteevent DISABLE TRIGGER USER", "must be owner of table trials_siteevent"),
        ("DROP TRIGGER trials_protect_audit_context ON pghistory_context", "must be owner of"),
        ("SET session_replication_role = replica", 'permission denied to set parameter "session_replication_role"'),
        ("SET LOCAL session_replication_role = replica", "permission denied to set parameter"),
        (
            "CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME) RETURNS BOOLEAN "
            "LANGUAGE sql AS $$ SELECT true $$",
            "permission denied for schema public",
        ),
        ("ALTER TABLE trials_signatureattempt RENAME TO attempts", "must be owner of table"),
        # TRUNCATE fires no row trigger: it would empty the append-only audit trail.
        ("TRUNCATE trials_siteevent", "permission denied for table trials_siteevent"),
        ("TRUNCATE pghistory_context CASCADE", "permission denied for table pghistory_context"),
        # An object of its own would be found before the study's table or function of that name.
        ("CREATE TEMP TABLE trials_patientlock (patient_id bigint)", "permission denied to create temporary tables"),
        ("CREATE TABLE public.trials_shadow (id int)", "permission denied for schema public"),
        ("CREATE SCHEMA shadow", "permission denied for database"),
        (f"SET ROLE {OWNER}", f'permission denied to set role "{OWNER}"'),
        ("SELECT setval('trials_data_version', 1)", "permission denied for sequence trials_data_version"),
    ],
)
def test_the_application_role_cannot_switch_a_trigger_off_or_empty_the_audit_trail(statement, message):
    assert message in refusal(statement)


def test_pgtriggers_ignore_switch_has_no_effect(clinician):
    site = SiteFactory(code="IGN", name="Before")
    with pgtrigger.ignore():  # every django-pgtrigger trigger, the audit's included
        Site.objects.filter(pk=site.pk).update(name="Renamed under pgtrigger.ignore")
    names = [row[0] for row in query("SELECT tgname FROM pg_trigger WHERE tgrelid = 'trials_site'::regclass")]
    query("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(names) + "}"])
    with connection.cursor() as cursor:
        cursor.execute("UPDATE trials_site SET name = 'Renamed by raw SQL, triggers named' WHERE id = %s", [site.pk])
    assert query("SELECT public._pgtrigger_should_ignore(%s)", [names[0]]) == [(False,)]
    assert site_events(site) == [
        ("insert", "Before"),
        ("update", "Renamed under pgtrigger.ignore"),
        ("update", "Renamed by raw SQL, triggers named"),
    ]


def test_a_later_migration_that_reinstalls_pgtriggers_ignore_function_is_undone_after_migrate():
    """Each trigger django-pgtrigger installs re-creates its ignore function with the original body;
    every migrate ends by making it say no again (config/database_roles.py, post_migrate)."""
    with psycopg.connect(**connection_parameters()) as owner:  # one transaction, rolled back
        owner.execute(database_roles.PGTRIGGER_IGNORE)
        owner.execute("SELECT set_config('pgtrigger.ignore', '{some_trigger}', true)")
        ignored = "SELECT public._pgtrigger_should_ignore('some_trigger')"
        assert owner.execute(ignored).fetchone() == (True,)  # what a session could do without the fix
        database_roles.reassert_functions(owner.cursor(), APP)
        assert owner.execute(ignored).fetchone() == (False,)
        owner.rollback()


def test_the_application_role_still_rebuilds_the_patient_summary(enrolled_patient):
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {patient_summary.TABLE}")  # noqa: S608 - a constant
        patient_summary.rebuild_all(cursor)
    assert query(f"SELECT id FROM {patient_summary.TABLE}") == [(enrolled_patient.pk,)]  # noqa: S608


# --- signature attempts -------------------------------------------------------------------------


def test_signature_attempts_cannot_be_changed_or_deleted(coordinator, patient_a):
    screening = ScreeningFactory(patient=patient_a)
    attempt = SignatureAttempt.objects.create(
        screening=screening, user=coordinator, succeeded=False, refusal="wrong password", remote_addr="10.0.0.7"
    )
    with pytest.raises(DatabaseError, match="signature attempts are append-only"), transaction.atomic():
        SignatureAttempt.objects.filter(pk=attempt.pk).update(succeeded=True, refusal="")
    assert "append-only" in refusal("UPDATE trials_signatureattempt SET remote_addr = NULL WHERE id = %s", [attempt.pk])
    assert "append-only" in refusal("DELETE FROM trials_signatureattempt WHERE id = %s", [attempt.pk])
    attempt.refresh_from_db()
    assert (attempt.succeeded, attempt.refusal, attempt.remote_addr) == (False, "wrong password", "10.0.0.7")
