"""What the owner role grants the application's role, and the two functions the split relies on.

The application connects as a role that owns nothing (DATABASES["default"]); the owner role owns
the schema and every table and runs the migrations (`manage.py migrate --database owner`); see
deploy/postgres/roles.sql and docs/security.md "Database roles". Migration trials/0016_database_roles
applies what is here; a restore applies the grants again (trials/backup.py: pg_restore brings no
privileges back), and every `migrate` re-applies the two function settings (`after_migrate`),
because a later migration can undo them: each django-pgtrigger trigger it installs re-creates
pgtrigger's ignore function with its original body, and re-running the patient summary's
installation re-creates the rebuild function without SECURITY DEFINER.
"""

from django.apps import AppConfig
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.db.models.signals import post_migrate

MIGRATION = ("trials", "0016_database_roles")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def grant_statements(app_role: str) -> list[str]:
    """Rows only: no TRUNCATE (it fires no row trigger and would empty the append-only audit trail),
    no TRIGGER or REFERENCES; the sequences for nextval (USAGE) and reading the data version (SELECT),
    never setval. Tables that later migrations create get the same by default."""
    role = quote(app_role)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
    ]


def database_statements(app_role: str) -> list[str]:
    """Where the owner owns the database (always, when deploy/postgres/roles.sql set it up; also for
    the test databases it creates): no temporary tables for anybody else. A session's temporary table
    is found before the schema's table of the same name, and the guard and audit triggers name their
    tables without a schema: an empty trials_patientlock of one's own would unlock every record."""
    return [
        f"""DO $$
BEGIN
    IF pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE') THEN
        EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), {literal(app_role)});
    ELSE
        RAISE WARNING 'the owner role does not own database %: run deploy/postgres/roles.sql', current_database();
    END IF;
    IF pg_has_role((SELECT nspowner FROM pg_namespace WHERE nspname = 'public'), 'USAGE') THEN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;
END
$$""",  # noqa: S608 - the role's name goes in as a quoted literal
    ]


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# django-pgtrigger lets a session skip its triggers with `SET pgtrigger.ignore = '{...}'` (what
# `pgtrigger.ignore()` does): every trigger it installs asks this function first. Any role may set
# that variable, so the function must never say yes; the audit triggers of django-pghistory are
# pgtrigger triggers. Nothing in the application ignores a trigger.
PGTRIGGER_IGNORE_FUNCTION = "public._pgtrigger_should_ignore(name)"
NEVER_IGNORE = """
CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$ SELECT false $$;
COMMENT ON FUNCTION public._pgtrigger_should_ignore(NAME) IS
    'Always false: no session may switch a trigger off (config/database_roles.py)';
"""
# django-pgtrigger's own definition (pgtrigger/compiler.py), for unapplying the migration.
PGTRIGGER_IGNORE = """
CREATE OR REPLACE FUNCTION public._pgtrigger_should_ignore(trigger_name NAME) RETURNS BOOLEAN AS $$
    DECLARE
        _pgtrigger_ignore TEXT[];
        _result BOOLEAN;
    BEGIN
        BEGIN
            SELECT INTO _pgtrigger_ignore CURRENT_SETTING('pgtrigger.ignore');
            EXCEPTION WHEN OTHERS THEN
        END;
        IF _pgtrigger_ignore IS NOT NULL THEN
            SELECT trigger_name = ANY(_pgtrigger_ignore) INTO _result;
            RETURN _result;
        ELSE
            RETURN FALSE;
        END IF;
    END;
$$ LANGUAGE plpgsql;
COMMENT ON FUNCTION public._pgtrigger_should_ignore(NAME) IS NULL;
"""

# The patient summary's full rebuild empties its table with TRUNCATE, which only the owner may do:
# the function runs as its owner (on a fixed search path), for the application's role alone.
REBUILD_FUNCTION = "trials_rebuild_patient_summary()"


def rebuild_as_owner(app_role: str) -> str:
    return f"""
ALTER FUNCTION {REBUILD_FUNCTION} SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE EXECUTE ON FUNCTION {REBUILD_FUNCTION} FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {REBUILD_FUNCTION} TO {quote(app_role)};
"""


REBUILD_AS_CALLER = f"""
ALTER FUNCTION {REBUILD_FUNCTION} SECURITY INVOKER RESET search_path;
GRANT EXECUTE ON FUNCTION {REBUILD_FUNCTION} TO PUBLIC;
"""


def reassert_functions(cursor, app_role: str) -> None:
    """Set the two functions as the roles migration left them, where a later migration changed them
    (and the cursor's role owns them)."""
    cursor.execute(
        "SELECT prosrc, pg_has_role(proowner, 'USAGE') FROM pg_proc WHERE oid = to_regprocedure(%s)",
        [PGTRIGGER_IGNORE_FUNCTION],
    )
    row = cursor.fetchone()
    if row and row[1] and row[0].strip() != "SELECT false":
        cursor.execute(NEVER_IGNORE)
    cursor.execute(
        "SELECT prosecdef, pg_has_role(proowner, 'USAGE') FROM pg_proc WHERE oid = to_regprocedure(%s)",
        [REBUILD_FUNCTION],
    )
    row = cursor.fetchone()
    if row and row[1] and not row[0]:
        cursor.execute(rebuild_as_owner(app_role))


def after_migrate(using: str, **kwargs) -> None:
    """After every `migrate` that includes the roles migration (post_migrate).

    Also sent after a test database's flush, on the application's connection: then nothing has
    changed, and a function the connection's role does not own is left alone anyway."""
    from django.conf import settings

    connection = connections[using]
    if MIGRATION in MigrationRecorder(connection).applied_migrations():
        with connection.cursor() as cursor:
            reassert_functions(cursor, settings.DATABASE_APP_ROLE)


class DatabaseRolesConfig(AppConfig):
    """Keeps the guarantees of the two roles true after every `migrate` (see `after_migrate`)."""

    name = "config"
    label = "database_roles"
    verbose_name = "Database roles"

    def ready(self):
        # Sent once per migrate for the study's app, after every app's migrations.
        post_migrate.connect(after_migrate, sender=self.apps.get_app_config("trials"), dispatch_uid=__name__)
