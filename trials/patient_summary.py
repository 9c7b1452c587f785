"""One row per patient with the values the outcome dashboard reads from the patient's forms.

Why: the dashboard recomputes every figure from the data on each request. Joining the patient
with eight form tables for 100,000 patients takes PostgreSQL over a second; reading one summary
row per patient takes a tenth of that. The rows hold *inputs* (a patient's WHO grades, QoL totals,
response category, infusion count), never results: every rate, mean and test is still computed
at request time.

Why it cannot go stale: a row trigger on each source table recomputes the patient's row inside
the same transaction as the write, by any path (pages, API, import, admin, raw SQL), and the row
lock on the patient serialises two writers of one patient, so the second recomputes from the
first's committed data. `rebuild_all()` recomputes every row (after a bulk load that bypassed
triggers, e.g. the benchmark seed); a test compares the rows with the live join after every kind
of write.
"""

from trials import protocol

TABLE = "trials_patientsummary"

_CRITERIA_ANSWERS = ", ".join(f"COALESCE(sc.{c.code.lower()}, '')" for c in protocol.CRITERIA if not c.derived)


def _qol_total(alias: str) -> str:
    # A missing item makes the sum NULL: the protocol's "no partial sums", by SQL arithmetic.
    return " + ".join(f"{alias}.{code}" for code in protocol.QOL_ITEM_CODES)


# (SQL expression over the join below, column name, column type)
COLUMNS = (
    ("p.id", "id", "bigint PRIMARY KEY"),
    ("p.site_id", "site_id", "bigint NOT NULL"),
    ("p.deleted_at", "deleted_at", "timestamptz"),
    ("p.sex", "sex", "text"),
    # completed years at enrolment: the same rule as protocol.age_on
    ("date_part('year', age(p.enrolled_on, p.date_of_birth))::int", "age", "int"),
    ("p.isotype", "isotype", "text"),
    ("array_to_string(p.fractured_levels, ',')", "levels", "text"),
    ("p.study_id IS NOT NULL", "enrolled", "boolean"),
    ("sc.id IS NOT NULL", "screened", "boolean"),
    (
        f"concat_ws('|', COALESCE(sc.kps::text, ''), COALESCE(sc.life_expectancy_over_90_days, ''), "
        f"{_CRITERIA_ANSWERS})",
        "answers",
        "text",
    ),
    ("pvp.id IS NOT NULL", "with_pvp", "boolean"),
    ("COALESCE(inf.given, 0)", "infusions_given", "int"),
    ("resp.category", "response", "text"),
    ("pain_b.who_grade", "pain_baseline", "int"),
    ("pain_f.who_grade", "pain_follow_up", "int"),
    (_qol_total("qol_b"), "qol_total_baseline", "int"),
    (_qol_total("qol_f"), "qol_total_follow_up", "int"),
)
NAMES = [name for _expression, name, _type in COLUMNS]

# The live join (also what the test compares the stored rows with). Soft-deleted forms never count.
JOIN = """
FROM trials_patient p
LEFT JOIN trials_screening sc ON sc.patient_id = p.id
LEFT JOIN trials_pvpprocedure pvp ON pvp.patient_id = p.id
LEFT JOIN trials_tumourresponse resp ON resp.patient_id = p.id
LEFT JOIN (SELECT patient_id, count(*) AS given FROM trials_infusion
           WHERE status = 'given' AND deleted_at IS NULL {infusion_filter} GROUP BY patient_id) inf
       ON inf.patient_id = p.id
LEFT JOIN trials_painassessment pain_b ON pain_b.patient_id = p.id AND pain_b.timepoint = 'baseline'
      AND pain_b.deleted_at IS NULL
LEFT JOIN trials_painassessment pain_f ON pain_f.patient_id = p.id AND pain_f.timepoint = 'follow_up'
      AND pain_f.deleted_at IS NULL
LEFT JOIN trials_qolassessment qol_b ON qol_b.patient_id = p.id AND qol_b.timepoint = 'baseline'
      AND qol_b.deleted_at IS NULL
LEFT JOIN trials_qolassessment qol_f ON qol_f.patient_id = p.id AND qol_f.timepoint = 'follow_up'
      AND qol_f.deleted_at IS NULL
"""

SELECT_LIVE = "SELECT " + ", ".join(f"{expression} AS {name}" for expression, name, _t in COLUMNS)

# The source tables and the column that names the patient.
SOURCES = {
    "trials_patient": "id",
    "trials_screening": "patient_id",
    "trials_pvpprocedure": "patient_id",
    "trials_tumourresponse": "patient_id",
    "trials_infusion": "patient_id",
    "trials_painassessment": "patient_id",
    "trials_qolassessment": "patient_id",
}


def install_sql() -> str:
    """The table, the refresh functions and the triggers (idempotent: a later migration may re-run it)."""
    columns = ",\n    ".join(f"{name} {column_type}" for _expression, name, column_type in COLUMNS)
    insert = f"INSERT INTO {TABLE} ({', '.join(NAMES)}) {SELECT_LIVE}"
    one = JOIN.format(infusion_filter="AND patient_id = ANY(ids)")
    statements = [
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n    {columns}\n)",
        f"""CREATE OR REPLACE FUNCTION trials_refresh_patient_summary(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Serialise writers of one patient; the statements below then see the other's committed data.
    PERFORM 1 FROM trials_patient WHERE id = ANY(ids) FOR NO KEY UPDATE;
    DELETE FROM {TABLE} WHERE id = ANY(ids);
    {insert} {one} WHERE p.id = ANY(ids);
END
$fn$""",  # noqa: S608 - built from constants
        f"""CREATE OR REPLACE FUNCTION trials_rebuild_patient_summary() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE {TABLE};
    {insert} {JOIN.format(infusion_filter="")};
END
$fn$""",
        """CREATE OR REPLACE FUNCTION trials_patient_summary_trigger() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids bigint[] := '{}';
BEGIN
    IF TG_OP <> 'DELETE' THEN ids := ids || (to_jsonb(NEW) ->> TG_ARGV[0])::bigint; END IF;
    IF TG_OP <> 'INSERT' THEN ids := ids || (to_jsonb(OLD) ->> TG_ARGV[0])::bigint; END IF;
    PERFORM trials_refresh_patient_summary(ids);
    RETURN NULL;
END
$fn$""",
        # TRUNCATE fires no row trigger (a test database's flush uses it): rebuild after it.
        """CREATE OR REPLACE FUNCTION trials_patient_summary_truncated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM trials_rebuild_patient_summary();
    RETURN NULL;
END
$fn$""",
    ]
    for table, patient_column in SOURCES.items():
        statements += [
            f"DROP TRIGGER IF EXISTS patient_summary ON {table}",
            f"CREATE TRIGGER patient_summary AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION trials_patient_summary_trigger('{patient_column}')",
            f"DROP TRIGGER IF EXISTS patient_summary_truncate ON {table}",
            f"CREATE TRIGGER patient_summary_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION trials_patient_summary_truncated()",
        ]
    statements.append("SELECT trials_rebuild_patient_summary()")
    return ";\n".join(statements) + ";"


def uninstall_sql() -> str:
    statements = [f"DROP TRIGGER IF EXISTS patient_summary ON {table}" for table in SOURCES]
    statements += [f"DROP TRIGGER IF EXISTS patient_summary_truncate ON {table}" for table in SOURCES]
    statements += [
        "DROP FUNCTION IF EXISTS trials_patient_summary_truncated()",
        "DROP FUNCTION IF EXISTS trials_patient_summary_trigger()",
        "DROP FUNCTION IF EXISTS trials_rebuild_patient_summary()",
        "DROP FUNCTION IF EXISTS trials_refresh_patient_summary(bigint[])",
        f"DROP TABLE IF EXISTS {TABLE}",
    ]
    return ";\n".join(statements) + ";"


def rebuild_all(cursor) -> None:
    """Recompute every row: after a bulk load that bypassed the triggers."""
    cursor.execute("SELECT trials_rebuild_patient_summary()")
