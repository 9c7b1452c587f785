"""One row per patient with the values the outcome dashboard reads from the patient's forms.

Why: the dashboard recomputes every figure from the data on each request. Joining the patient
with eight form tables for 100,000 patients takes PostgreSQL over a second; reading one summary
row per patient takes a tenth of that. The baseline and follow-up lab values are here too, one
column per analyte and timepoint: pivoting 800,000 lab results on each request took 0.7 s.
The rows hold *inputs* (a patient's WHO grades, QoL totals, lab values, response category,
infusion count), never results: every rate, mean and test is still computed at request time.

Why it cannot go stale: a row trigger on each source table (a statement trigger on lab results,
which come eight to a draw) recomputes the patient's row inside
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


# The lab values the paired comparisons read: one column per analyte and timepoint.
LAB_TIMEPOINTS = ("baseline", "follow_up")
LAB_COLUMNS = tuple(f"{analyte.code}_{timepoint}" for analyte in protocol.ANALYTES for timepoint in LAB_TIMEPOINTS)
# A draw holds each analyte once (a unique constraint), so max() picks the one value.
_LAB_PIVOT = ", ".join(
    f"max(r.value) FILTER (WHERE r.analyte = '{analyte.code}' AND d.timepoint = '{timepoint}') "
    f"AS {analyte.code}_{timepoint}"
    for analyte in protocol.ANALYTES
    for timepoint in LAB_TIMEPOINTS
)

# (SQL expression over the join below, column name, column type)
VALUE_COLUMNS = (
    ("p.id", "id", "bigint PRIMARY KEY"),
    ("p.site_id", "site_id", "bigint NOT NULL"),
    ("p.deleted_at", "deleted_at", "timestamptz"),
    ("p.sex", "sex", "text"),
    # completed years at enrolment: the same rule as protocol.age_on
    ("date_part('year', age(p.enrolled_on, p.date_of_birth))::int", "age", "int"),
    ("p.isotype", "isotype", "text"),
    ("array_to_string(p.fractured_levels, ',')", "levels", "text"),
    ("cardinality(p.fractured_levels)", "fractured_count", "int"),
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
    # float8, the type the statistics use: its text is the shortest that reads back exactly ("2.6",
    # not numeric's "2.6000"), which halves what the dashboard reads for 100,000 patients.
    *((f"labs.{name}::float8", name, "float8") for name in LAB_COLUMNS),
)

# The values the dashboard reads, also kept as one tab-separated line (NULL as an empty field), in
# this order: turned into text once, when the patient's data change, rather than 4 million values at
# every view of 100,000 patients (0.2 s of PostgreSQL's time, half of what was left to read). No value
# holds a tab or a newline (codes, numbers, '|' and ',' lists).
LINE_NAMES = [name for _expression, name, _type in VALUE_COLUMNS if name not in ("site_id", "deleted_at")]
_LINE = (
    "concat_ws(E'\\t', "
    + ", ".join(
        f"COALESCE(({expression})::text, '')" for expression, name, _type in VALUE_COLUMNS if name in LINE_NAMES
    )
    + ")"
)
COLUMNS = (*VALUE_COLUMNS, (_LINE, "line", "text NOT NULL"))
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
LEFT JOIN (SELECT d.patient_id, {lab_pivot}
           FROM trials_labresult r JOIN trials_labdraw d ON d.id = r.lab_draw_id
           WHERE d.timepoint IN ('baseline', 'follow_up') AND d.deleted_at IS NULL {lab_filter}
           GROUP BY d.patient_id) labs
       ON labs.patient_id = p.id
"""


def join(*, only_ids: bool = False) -> str:
    """The live join, for every patient or (`only_ids`) for those in the plpgsql variable `ids`."""
    return JOIN.format(
        lab_pivot=_LAB_PIVOT,
        infusion_filter="AND patient_id = ANY(ids)" if only_ids else "",
        lab_filter="AND d.patient_id = ANY(ids)" if only_ids else "",
    )


SELECT_LIVE = "SELECT " + ", ".join(f"{expression} AS {name}" for expression, name, _t in COLUMNS)

# The source tables and the column that names the patient (lab results name it through their draw).
SOURCES = {
    "trials_patient": "id",
    "trials_screening": "patient_id",
    "trials_pvpprocedure": "patient_id",
    "trials_tumourresponse": "patient_id",
    "trials_infusion": "patient_id",
    "trials_painassessment": "patient_id",
    "trials_qolassessment": "patient_id",
    "trials_labdraw": "patient_id",
}
LAB_RESULTS = "trials_labresult"


LAB_RESULT_EVENTS = {
    "INSERT": "NEW TABLE AS changed_rows",
    "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS changed_rows",
    "DELETE": "OLD TABLE AS changed_rows",
}


def install_sql() -> str:
    """The table, the refresh functions and the triggers (idempotent: a later migration may re-run it)."""
    columns = ",\n    ".join(f"{name} {column_type}" for _expression, name, column_type in COLUMNS)
    insert = f"INSERT INTO {TABLE} ({', '.join(NAMES)}) {SELECT_LIVE}"
    statements = [
        f"CREATE TABLE IF NOT EXISTS {TABLE} (\n    {columns}\n)",
        f"""CREATE OR REPLACE FUNCTION trials_refresh_patient_summary(ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    -- Serialise writers of one patient; the statements below then see the other's committed data.
    PERFORM 1 FROM trials_patient WHERE id = ANY(ids) FOR NO KEY UPDATE;
    DELETE FROM {TABLE} WHERE id = ANY(ids);
    {insert} {join(only_ids=True)} WHERE p.id = ANY(ids);
END
$fn$""",  # noqa: S608 - built from constants
        f"""CREATE OR REPLACE FUNCTION trials_rebuild_patient_summary() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    TRUNCATE {TABLE};
    {insert} {join()};
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
        # Lab results come eight to a draw in one INSERT: one refresh per statement, not per row.
        # (A trigger with transition tables has one event; the three share this function.)
        """CREATE OR REPLACE FUNCTION trials_patient_summary_lab_results() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM trials_refresh_patient_summary(ARRAY(
            SELECT DISTINCT d.patient_id FROM trials_labdraw d
            WHERE d.id IN (SELECT lab_draw_id FROM changed_rows UNION SELECT lab_draw_id FROM old_rows)));
    ELSE
        PERFORM trials_refresh_patient_summary(ARRAY(
            SELECT DISTINCT d.patient_id FROM trials_labdraw d WHERE d.id IN (SELECT lab_draw_id FROM changed_rows)));
    END IF;
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
        ]
    for event, tables in LAB_RESULT_EVENTS.items():
        statements += [
            f"DROP TRIGGER IF EXISTS patient_summary_{event.lower()} ON {LAB_RESULTS}",
            f"CREATE TRIGGER patient_summary_{event.lower()} AFTER {event} ON {LAB_RESULTS} "
            f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION trials_patient_summary_lab_results()",
        ]
    for table in [*SOURCES, LAB_RESULTS]:
        statements += [
            f"DROP TRIGGER IF EXISTS patient_summary_truncate ON {table}",
            f"CREATE TRIGGER patient_summary_truncate AFTER TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION trials_patient_summary_truncated()",
        ]
    statements.append("SELECT trials_rebuild_patient_summary()")
    return ";\n".join(statements) + ";"


def uninstall_sql() -> str:
    statements = [f"DROP TRIGGER IF EXISTS patient_summary ON {table}" for table in SOURCES]
    statements += [
        f"DROP TRIGGER IF EXISTS patient_summary_{event.lower()} ON {LAB_RESULTS}" for event in LAB_RESULT_EVENTS
    ]
    statements += [f"DROP TRIGGER IF EXISTS patient_summary_truncate ON {table}" for table in [*SOURCES, LAB_RESULTS]]
    statements += [
        "DROP FUNCTION IF EXISTS trials_patient_summary_lab_results()",
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
