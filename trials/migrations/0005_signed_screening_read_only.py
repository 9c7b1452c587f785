"""A signed screening is read-only by any path: its answers change only after the signature is withdrawn.

Withdrawing (signed_at set to NULL) and signing are allowed; changing any answer, KPS, date or the
manifest while a signature stands is refused by the database, whatever the caller.
"""

from django.db import migrations

GUARD = """
CREATE OR REPLACE FUNCTION trials_signed_screening_read_only() RETURNS trigger AS $$
BEGIN
    IF OLD.signed_at IS NOT NULL AND NEW.signed_at IS NOT NULL AND (
        (NEW.screened_on, NEW.kps, NEW.life_expectancy_over_90_days, NEW.i1, NEW.i2, NEW.i3, NEW.i5,
         NEW.e1, NEW.e2, NEW.e3, NEW.e4, NEW.e5, NEW.consent_date, NEW.signed_by_id, NEW.signed_at,
         NEW.signed_name, NEW.signature_meaning, NEW.patient_id)
        IS DISTINCT FROM
        (OLD.screened_on, OLD.kps, OLD.life_expectancy_over_90_days, OLD.i1, OLD.i2, OLD.i3, OLD.i5,
         OLD.e1, OLD.e2, OLD.e3, OLD.e4, OLD.e5, OLD.consent_date, OLD.signed_by_id, OLD.signed_at,
         OLD.signed_name, OLD.signature_meaning, OLD.patient_id)
    ) THEN
        RAISE EXCEPTION 'screening % is signed and read-only: withdraw the signature (with a reason) first', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' AND OLD.signed_at IS NOT NULL THEN
        RAISE EXCEPTION 'screening % is signed and cannot be deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN COALESCE(NEW, OLD);
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER trials_signed_screening_read_only BEFORE UPDATE OR DELETE ON trials_screening
FOR EACH ROW EXECUTE FUNCTION trials_signed_screening_read_only();
"""

UNGUARD = """
DROP TRIGGER IF EXISTS trials_signed_screening_read_only ON trials_screening;
DROP FUNCTION IF EXISTS trials_signed_screening_read_only();
"""


class Migration(migrations.Migration):
    dependencies = [("trials", "0004_signature_manifest")]

    operations = [migrations.RunSQL(GUARD, UNGUARD)]
