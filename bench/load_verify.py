"""The check after a load run: every saved write is in the database and in the audit trail, whole.

Runs plain SQL on Django's connection (the app's tables and django-pghistory's event tables):
- each acknowledged (or recovered) record exists;
- its insert is in the audit trail, with the clinician who sent it in the event's context;
- a PVP has exactly the levels that were sent, a lab draw exactly the results, each audited too;
- a signature left the screening signed (audited as the coordinator) and the patient enrolled;
- in the whole database: no PVP without levels, no lab draw without results, no clinical row
  without its insert event, no patient registered twice (a retried registration).
"""

from collections import defaultdict

from django.db import connection

# form (as bench/load_clients.py names it) -> table; the event table is <table>event.
TABLES = {
    "patient": "trials_patient",
    "screening": "trials_screening",
    "pvp": "trials_pvpprocedure",
    "infusion": "trials_infusion",
    "lab_draw": "trials_labdraw",
    "pain": "trials_painassessment",
    "qol": "trials_qolassessment",
    "response": "trials_tumourresponse",
    "adverse_event": "trials_adverseevent",
    "end_of_study": "trials_endofstudy",
}
PARTS = {"pvp": ("trials_treatedlevel", "procedure_id"), "lab_draw": ("trials_labresult", "lab_draw_id")}
ALL_AUDITED = [*TABLES.values(), "trials_treatedlevel", "trials_labresult"]


def _form(name: str) -> str:
    return name.removesuffix("_baseline").removesuffix("_follow_up")


def _scalar(sql: str, params=()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _missing(table: str, ids: list[int]) -> int:
    return _scalar(f"SELECT count(*) FROM unnest(%s::bigint[]) a(id) WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = a.id)",  # noqa: S608, E501 - names from TABLES
                   [ids])  # fmt: skip


def _unaudited(table: str, ids: list[int], usernames: list[str], label: str = "insert", extra: str = "") -> int:
    """Records without an event of `label` whose context names the user who made the change."""
    return _scalar(
        f"""SELECT count(*) FROM unnest(%s::bigint[], %s::text[]) a(id, username)
            WHERE NOT EXISTS (SELECT 1 FROM {table}event e JOIN pghistory_context c ON c.id = e.pgh_context_id
                              WHERE e.pgh_obj_id = a.id AND e.pgh_label = %s AND c.metadata->>'username' = a.username
                              {extra})""",  # noqa: S608 - table names from TABLES
        [ids, usernames, label],
    )


def verify(acks) -> dict:
    by_form = defaultdict(list)
    for ack in acks:
        by_form[_form(ack.form)].append(ack)
    problems = {}
    lines = []
    checked = 0
    for form, table in TABLES.items():
        rows = by_form.get(form, [])
        if not rows:
            continue
        ids, users = [a.id for a in rows], [a.user for a in rows]
        checked += len(rows)
        problems[f"{form}: missing"] = _missing(table, ids)
        problems[f"{form}: insert not audited under its user"] = _unaudited(table, ids, users)
        if form in PARTS:
            problems[f"{form}: parts differ from what was sent"] = _parts_differ(form, rows)
    signs = by_form.get("sign", [])
    if signs:
        ids = [a.id for a in signs]
        checked += len(signs)
        problems["sign: screening not signed or patient not enrolled"] = _scalar(
            """SELECT count(*) FROM unnest(%s::bigint[]) a(id) WHERE NOT EXISTS (
                   SELECT 1 FROM trials_screening s JOIN trials_patient p ON p.id = s.patient_id
                   WHERE s.id = a.id AND s.signed_at IS NOT NULL AND p.study_id IS NOT NULL)""",
            [ids],
        )
        problems["sign: signature not audited under the coordinator"] = _unaudited(
            "trials_screening", ids, [a.user for a in signs], "update", "AND e.signed_at IS NOT NULL"
        )
    lines.append(f"acknowledged or recovered writes checked: {checked}")
    problems["PVP procedures without levels (whole database)"] = _scalar(
        "SELECT count(*) FROM trials_pvpprocedure p WHERE NOT EXISTS "
        "(SELECT 1 FROM trials_treatedlevel l WHERE l.procedure_id = p.id)"
    )
    problems["lab draws without results (whole database)"] = _scalar(
        "SELECT count(*) FROM trials_labdraw d WHERE NOT EXISTS "
        "(SELECT 1 FROM trials_labresult r WHERE r.lab_draw_id = d.id)"
    )
    problems["clinical rows without their insert event (whole database)"] = sum(
        _scalar(
            f"SELECT count(*) FROM {table} t WHERE NOT EXISTS "  # noqa: S608 - names from ALL_AUDITED
            f"(SELECT 1 FROM {table}event e WHERE e.pgh_obj_id = t.id AND e.pgh_label = 'insert')"
        )  # fmt: skip
        for table in ALL_AUDITED
    )
    problems["patients registered twice (same hospital number)"] = _scalar(
        "SELECT count(*) FROM (SELECT hospital_number FROM trials_patient GROUP BY 1 HAVING count(*) > 1) twice"
    )
    for what, count in problems.items():
        lines.append(f"{what}: {count}")
    saved = {form: _scalar(f"SELECT count(*) FROM {table}") for form, table in TABLES.items()}  # noqa: S608
    known = {form: len(by_form.get(form, [])) for form in TABLES}
    extra = {form: saved[form] - known[form] for form in TABLES if saved[form] != known[form]}
    lines.append(
        "records saved whose answer the client never had (not an error; a lost answer, or the run's end): "
        + (", ".join(f"{form} {n}" for form, n in extra.items()) or "none")
    )
    return {"clean": not any(problems.values()), "problems": problems, "saved": saved, "extra": extra,
            "lines": lines}  # fmt: skip


def _parts_differ(form: str, rows) -> int:
    """Records whose levels / results are not exactly those sent, or whose parts lack their insert event."""
    table, key = PARTS[form]
    name = "level" if form == "pvp" else "analyte"
    sent = {a.id: sorted(p["level"] for p in a.sent["levels"]) if form == "pvp" else sorted(a.sent["results"])
            for a in rows if a.sent}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT t.{key}, array_agg(t.{name} ORDER BY t.{name}), bool_and(EXISTS (
                           SELECT 1 FROM {table}event e WHERE e.pgh_obj_id = t.id AND e.pgh_label = 'insert'))
                FROM {table} t WHERE t.{key} = ANY(%s) GROUP BY t.{key}""",  # noqa: S608 - names from PARTS
            [list(sent)],
        )
        found = {row[0]: (sorted(row[1]), row[2]) for row in cursor.fetchall()}
    return sum(1 for record, names in sent.items() if found.get(record) != (names, True))
