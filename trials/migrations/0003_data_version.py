"""A data version for the live dashboard: a sequence bumped by every write to study data.

Statement-level triggers call nextval(), which takes no row lock, so concurrent writers never
wait on each other. A rolled-back write still bumps it: the dashboard then recomputes once for
nothing, which is harmless. Readers compare `last_value` to know whether anything changed.
"""

from django.db import migrations

TABLES = [
    "trials_site",
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

CREATE = """
CREATE SEQUENCE IF NOT EXISTS trials_data_version;
CREATE OR REPLACE FUNCTION trials_bump_data_version() RETURNS trigger AS $$
BEGIN
    PERFORM nextval('trials_data_version');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
""" + "".join(
    f"CREATE TRIGGER trials_data_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION trials_bump_data_version();\n"
    for table in TABLES
)

DROP = "".join(f"DROP TRIGGER IF EXISTS trials_data_version ON {table};\n" for table in TABLES) + (
    "DROP FUNCTION IF EXISTS trials_bump_data_version(); DROP SEQUENCE IF EXISTS trials_data_version;"
)


class Migration(migrations.Migration):
    dependencies = [("trials", "0002_audit_context_append_only")]

    operations = [migrations.RunSQL(CREATE, DROP)]
