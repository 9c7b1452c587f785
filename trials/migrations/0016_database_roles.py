"""The application's database role reads and writes rows, and nothing more (issue 14, finding 7).

Run by the owner role, which owns every table (`manage.py migrate --database owner`; the roles come
from deploy/postgres/roles.sql, docs/security.md "Database roles"). It grants the application's role
(settings.DATABASE_APP_ROLE) its rows, now and for tables made later, and no temporary tables; makes
django-pgtrigger's per-session "ignore this trigger" switch ineffective; lets that role rebuild the
patient summary; and makes signature attempts append-only like the audit trail: a refused
signature, once logged, stays as it was. The SQL shared with restores and with later migrations is
in config/database_roles.py.
"""

from django.conf import settings
from django.db import migrations

from config import database_roles

APP_ROLE = settings.DATABASE_APP_ROLE

PROTECT_SIGNATURE_ATTEMPTS = """
CREATE OR REPLACE FUNCTION trials_signature_attempt_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'signature attempts are append-only: attempt % cannot be %', OLD.id,
        CASE TG_OP WHEN 'DELETE' THEN 'deleted' ELSE 'changed' END;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER trials_signature_attempt_append_only
BEFORE UPDATE OR DELETE ON trials_signatureattempt
FOR EACH ROW EXECUTE FUNCTION trials_signature_attempt_append_only();
"""

UNPROTECT_SIGNATURE_ATTEMPTS = """
DROP TRIGGER IF EXISTS trials_signature_attempt_append_only ON trials_signatureattempt;
DROP FUNCTION IF EXISTS trials_signature_attempt_append_only();
"""


def revoke_statements(app_role: str) -> list[str]:
    role = database_roles.quote(app_role)
    return [
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}",
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("trials", "0015_export_checksums"),
    ]

    operations = [
        migrations.RunSQL(PROTECT_SIGNATURE_ATTEMPTS, UNPROTECT_SIGNATURE_ATTEMPTS),
        migrations.RunSQL(database_roles.NEVER_IGNORE, database_roles.PGTRIGGER_IGNORE),
        migrations.RunSQL(database_roles.rebuild_as_owner(APP_ROLE), database_roles.REBUILD_AS_CALLER),
        migrations.RunSQL(database_roles.database_statements(APP_ROLE), migrations.RunSQL.noop),
        migrations.RunSQL(database_roles.grant_statements(APP_ROLE), revoke_statements(APP_ROLE)),
    ]
