"""Locked patient records and a frozen study refuse every change, whatever the path.

A row trigger on every clinical table looks up the row's patient (through the PVP for treated
levels, through the draw for lab results) and refuses the write while the study is frozen or the
patient is locked. Pages, the API, the admin, imports and raw SQL all meet it.
"""

from django.db import migrations

GUARDED = [
    "trials_patient",
    "trials_screening",
    "trials_pvpprocedure",
    "trials_treatedlevel",
    "trials_infusion",
    "trials_labdraw",
    "trials_labresult",
    "trials_painassessment",
    "trials_qolassessment",
    "trials_tumourresponse",
    "trials_adverseevent",
    "trials_endofstudy",
]
VERSIONED = ["trials_dataquery", "trials_sourceverification", "trials_patientlock", "trials_studyfreeze"]

GUARD = """
CREATE OR REPLACE FUNCTION trials_guard_locked_data() RETURNS trigger AS $$
DECLARE
    changed record;
    patient bigint;
    frozen timestamptz;
BEGIN
    SELECT frozen_at INTO frozen FROM trials_studyfreeze LIMIT 1;
    IF frozen IS NOT NULL THEN
        RAISE EXCEPTION 'the study is frozen since % UTC: no data can change until a data manager unfreezes it',
            to_char(frozen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
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
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
""" + "".join(
    f"CREATE TRIGGER trials_guard_locked_data BEFORE INSERT OR UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION trials_guard_locked_data();\n"
    for table in GUARDED
) + "".join(
    f"CREATE TRIGGER trials_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION trials_bump_data_version();\n"
    for table in VERSIONED
)

UNGUARD = (
    "".join(f"DROP TRIGGER IF EXISTS trials_guard_locked_data ON {table};\n" for table in GUARDED)
    + "".join(f"DROP TRIGGER IF EXISTS trials_data_version ON {table};\n" for table in VERSIONED)
    + "DROP FUNCTION IF EXISTS trials_guard_locked_data();"
)


class Migration(migrations.Migration):
    dependencies = [("trials", "0006_data_review")]

    operations = [migrations.RunSQL(GUARD, UNGUARD)]
