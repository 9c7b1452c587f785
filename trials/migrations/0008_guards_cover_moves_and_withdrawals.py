"""Tighten two guards (found in review).

- A signed screening: one UPDATE may not withdraw the signature and change the answers together
  (withdrawal first, then correction, each audited).
- A locked record: an UPDATE is checked against the old patient too, so data cannot be moved out
  of a locked record by re-pointing patient_id, procedure_id or lab_draw_id.
"""

from django.db import migrations

SCREENING = """
CREATE OR REPLACE FUNCTION trials_signed_screening_read_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.signed_at IS NOT NULL THEN
            RAISE EXCEPTION 'screening % is signed and cannot be deleted', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.signed_at IS NOT NULL AND (
        (NEW.screened_on, NEW.kps, NEW.life_expectancy_over_90_days, NEW.i1, NEW.i2, NEW.i3, NEW.i5,
         NEW.e1, NEW.e2, NEW.e3, NEW.e4, NEW.e5, NEW.consent_date, NEW.patient_id)
        IS DISTINCT FROM
        (OLD.screened_on, OLD.kps, OLD.life_expectancy_over_90_days, OLD.i1, OLD.i2, OLD.i3, OLD.i5,
         OLD.e1, OLD.e2, OLD.e3, OLD.e4, OLD.e5, OLD.consent_date, OLD.patient_id)
        OR (NEW.signed_at IS NOT NULL AND (NEW.signed_by_id, NEW.signed_at, NEW.signed_name, NEW.signature_meaning)
            IS DISTINCT FROM (OLD.signed_by_id, OLD.signed_at, OLD.signed_name, OLD.signature_meaning))
    ) THEN
        RAISE EXCEPTION 'screening % is signed and read-only: withdraw the signature (with a reason) first', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""

LOCK = """
CREATE OR REPLACE FUNCTION trials_guard_locked_data() RETURNS trigger AS $$
DECLARE
    frozen timestamptz;
    changed record;
    patient bigint;
BEGIN
    SELECT frozen_at INTO frozen FROM trials_studyfreeze LIMIT 1;
    IF frozen IS NOT NULL THEN
        RAISE EXCEPTION 'the study is frozen since % UTC: no data can change until a data manager unfreezes it',
            to_char(frozen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    -- The new row's patient, and on UPDATE / DELETE the old row's patient too.
    FOR side IN 1..2 LOOP
        IF side = 1 THEN
            CONTINUE WHEN TG_OP = 'DELETE';
            changed := NEW;
        ELSE
            CONTINUE WHEN TG_OP = 'INSERT';
            changed := OLD;
        END IF;
        IF TG_TABLE_NAME = 'trials_patient' THEN
            patient := changed.id;
        ELSIF TG_TABLE_NAME = 'trials_treatedlevel' THEN
            SELECT patient_id INTO patient FROM trials_pvpprocedure WHERE id = changed.procedure_id;
        ELSIF TG_TABLE_NAME = 'trials_labresult' THEN
            SELECT patient_id INTO patient FROM trials_labdraw WHERE id = changed.lab_draw_id;
        ELSE
            patient := changed.patient_id;
        END IF;
        IF EXISTS (SELECT 1 FROM trials_patientlock WHERE patient_id = patient) THEN
            RAISE EXCEPTION 'patient record % is locked: it cannot change until a data manager unlocks it', patient
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
    END LOOP;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("trials", "0007_locks_and_freeze_guard")]

    operations = [migrations.RunSQL(SCREENING + LOCK, migrations.RunSQL.noop)]
