"""Make the audit context table (who / why of each change) append-only.

pghistory's event tables are protected by their own `append_only` triggers. The context row is
upserted as a request or command goes on (new keys are merged in), so it cannot refuse every
UPDATE; instead a recorded non-null value may never change and a context row may never be deleted.
"""

from django.db import migrations

PROTECT_CONTEXT = """
CREATE OR REPLACE FUNCTION trials_protect_audit_context() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit trail is append-only: context % cannot be deleted', OLD.id;
    END IF;
    IF NEW.id <> OLD.id OR NEW.created_at <> OLD.created_at OR EXISTS (
        SELECT 1 FROM jsonb_each(OLD.metadata) AS recorded(key, value)
        WHERE recorded.value <> 'null'::jsonb
          AND (NEW.metadata -> recorded.key) IS DISTINCT FROM recorded.value
    ) THEN
        RAISE EXCEPTION 'audit trail is append-only: context % cannot be changed', OLD.id;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER trials_protect_audit_context
BEFORE UPDATE OR DELETE ON pghistory_context
FOR EACH ROW EXECUTE FUNCTION trials_protect_audit_context();
"""

UNPROTECT_CONTEXT = """
DROP TRIGGER IF EXISTS trials_protect_audit_context ON pghistory_context;
DROP FUNCTION IF EXISTS trials_protect_audit_context();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("trials", "0001_initial"),
        ("pghistory", "0007_auto_20250421_0444"),
    ]

    operations = [migrations.RunSQL(PROTECT_CONTEXT, UNPROTECT_CONTEXT)]
