"""Benchmark of GET /api/v1/outcomes/ on synthetic studies of 1,000, 10,000 and 100,000 patients.

Usage:  .venv/bin/python bench/outcomes_benchmark.py [--sizes 1000 10000 100000] [--repeat 5]

It runs on its own embedded PostgreSQL (var/bench-pgdata, deleted afterwards), seeds complete
schedules with set-based SQL, then for each size measures, median of --repeat runs:
  - the endpoint's server time (Django test client, in process: middleware, SQL, pandas, JSON),
  - its SQL query count,
  - the floor: the same two SELECTs run with a bare cursor and fetched, nothing else.
The table is printed and written into docs/benchmarks.md between the outcome-benchmark markers.

The seed runs as the owner role (the application's role may not switch triggers off) with the
triggers disabled (session_replication_role = replica), so that 2 million synthetic rows do not also
write 2 million audit events: they are benchmark data, not clinical data.
"""

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> Path:
    datadir = Path(tempfile.mkdtemp(prefix="pvp-bench-")) / "pgdata"
    os.environ.pop("DATABASE_URL", None)
    os.environ["EMBEDDED_PGDATA"] = str(datadir)
    os.environ["EMBEDDED_PG_CLEANUP"] = "delete"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DEBUG"] = "0"
    os.environ["HTTPS"] = "0"  # the in-process test client speaks plain HTTP
    os.environ.setdefault("SECRET_KEY", "benchmark-only")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)
    return datadir


# The patients this seed adds (a subquery, not a temporary table: the application's role, which the
# test of this script seeds as, may not create one).
NEW_PATIENTS = "(SELECT id, enrolled_on FROM trials_patient WHERE site_id = %(site)s AND id > %(max_id)s)"
SEED_SQL = f"""
SELECT setseed(%(seed)s);
INSERT INTO trials_patient (created_at, updated_at, version, site_id, screening_number, study_id, enrolled_on, sex,
    date_of_birth, hospital_number, initials, weight_kg, height_cm, diagnosis_date, isotype, light_chain, iss_stage,
    fractured_levels)
SELECT now(), now(), 1, %(site)s, 'BEN-S' || g, 'BEN-' || g, DATE '2015-01-01' + (g %% 2000),
       CASE WHEN random() < 0.6 THEN 'M' ELSE 'F' END,
       DATE '1950-01-01' + (random() * 10000)::int, 'HN' || g, 'XX', 50 + round((random() * 40)::numeric, 1), 165,
       DATE '2014-01-01', (ARRAY['IgG','IgG','IgA','IgM','light_chain','non_secretory'])[1 + (g %% 6)], 'kappa', 'II',
       string_to_array((ARRAY['T11,T12,L1', 'T7,T8,T9', 'L2,L3,L4'])[1 + (g %% 3)], ',')
FROM generate_series(%(start)s, %(stop)s) AS g;
INSERT INTO trials_screening (created_at, updated_at, version, patient_id, screened_on, kps,
    life_expectancy_over_90_days, i1, i2, i3, i5, e1, e2, e3, e4, e5, consent_date, signed_by_id, signed_at,
    signed_name, signature_meaning, signed_version, signed_content_hash)
SELECT now(), now(), 1, id, enrolled_on - 1, 70, 'yes', 'yes', 'yes', 'yes', 'yes', 'no', 'no', 'no', 'no', 'no',
       enrolled_on - 1, %(signer)s, now(), 'Bench Coordinator', 'Eligibility reviewed', 1, repeat('0', 64)
FROM {NEW_PATIENTS} AS new_patients;
INSERT INTO trials_pvpprocedure (created_at, updated_at, version, patient_id, performed_on, approach, bed_rest_days,
    operator) SELECT now(), now(), 1, id, enrolled_on + 2, 'bipedicular', 3, 'Dr Bench'
FROM {NEW_PATIENTS} AS new_patients;
INSERT INTO trials_treatedlevel (created_at, updated_at, version, procedure_id, level, cement_ml, leakage)
SELECT now(), now(), 1, pvp.id, level, 3.0, 'none'
FROM trials_pvpprocedure pvp JOIN {NEW_PATIENTS} p ON p.id = pvp.patient_id, unnest(ARRAY['T12','L1','L2']) AS level;
INSERT INTO trials_infusion (created_at, updated_at, version, patient_id, cycle, infused_on, status, held_reason,
    dose_mg, diluent_ml, duration_min, creatinine_umol_l)
SELECT now(), now(), 1, id, c, enrolled_on + 5 + 28 * (c - 1), 'given', '', 4.0, 100, 20, 70
FROM {NEW_PATIENTS} AS new_patients, generate_series(1, 3) AS c;
INSERT INTO trials_labdraw (created_at, updated_at, version, patient_id, timepoint, drawn_on, fasting)
SELECT now(), now(), 1, id, tp, CASE WHEN tp = 'baseline' THEN enrolled_on ELSE enrolled_on + 90 END, true
FROM {NEW_PATIENTS} AS new_patients, unnest(ARRAY['baseline','follow_up']) AS tp;
INSERT INTO trials_labresult (created_at, updated_at, version, lab_draw_id, analyte, value, entered_value,
    entered_unit, critical_confirmed)
SELECT now(), now(), 1, d.id, a.analyte, v.value, v.value, a.unit,
       a.analyte = 'calcium' AND (v.value > 3.40 OR v.value < 1.75)
FROM trials_labdraw d JOIN {NEW_PATIENTS} p ON p.id = d.patient_id
CROSS JOIN (VALUES ('alp', 'U/L'), ('calcium', 'mmol/L'), ('creatinine', 'umol/L'), ('m_protein', 'g/L'))
    AS a(analyte, unit)
CROSS JOIN LATERAL (SELECT round((CASE a.analyte
        WHEN 'alp' THEN CASE WHEN d.timepoint = 'baseline' THEN 180 + random() * 110 ELSE 75 + random() * 25 END
        WHEN 'calcium' THEN CASE WHEN d.timepoint = 'baseline' THEN 3.0 + random() * 2.5 ELSE 2.2 + random() * 1.8 END
        WHEN 'creatinine' THEN 55 + random() * 40
        ELSE CASE WHEN d.timepoint = 'baseline' THEN 20 + random() * 30 ELSE random() * 30 END
    END)::numeric, 2) AS value
) AS v;
INSERT INTO trials_painassessment (created_at, updated_at, version, patient_id, timepoint, assessed_on, who_grade)
SELECT now(), now(), 1, id, tp, enrolled_on + CASE WHEN tp = 'baseline' THEN 0 ELSE 90 END,
       CASE WHEN tp = 'baseline' THEN 2 + (random() > 0.3)::int ELSE (random() * 2.2)::int END
FROM {NEW_PATIENTS} AS new_patients, unnest(ARRAY['baseline','follow_up']) AS tp;
INSERT INTO trials_qolassessment (created_at, updated_at, version, patient_id, timepoint, assessed_on, q_appetite,
    q_mental_state, q_sleep, q_fatigue, q_pain, q_family, q_colleagues, q_understanding, q_attitude, q_daily_life,
    q_side_effects, q_facial_expression)
SELECT now(), now(), 1, id, tp, enrolled_on + CASE WHEN tp = 'baseline' THEN 0 ELSE 90 END,
       s, s, s, s, s, s, s, s, s, s, s, s
FROM {NEW_PATIENTS} AS new_patients, unnest(ARRAY['baseline','follow_up']) AS tp,
     LATERAL (SELECT CASE WHEN tp = 'baseline' THEN 1 + (random() * 2)::int ELSE 3 + (random() * 2)::int END AS s) q;
INSERT INTO trials_tumourresponse (created_at, updated_at, version, patient_id, assessed_on, category,
    immunofixation_negative)
SELECT now(), now(), 1, id, enrolled_on + 90, (ARRAY['CR','PR','PR','PR','MR','NC','PD'])[1 + (id %% 7)], 'no'
FROM {NEW_PATIENTS} AS new_patients;
INSERT INTO trials_adverseevent (created_at, updated_at, version, patient_id, term, other_term, onset_on, resolved_on,
    ctcae_grade, serious, related_to, action, outcome, description)
SELECT now(), now(), 1, id, (ARRAY['fever','nausea','hypocalcaemia','cement_leak_disc'])[1 + (id %% 4)], '',
       enrolled_on + 6, enrolled_on + 8, 1 + (id %% 3), id %% 50 = 0, 'zoledronic_acid', 'observation', 'resolved', ''
FROM {NEW_PATIENTS} AS new_patients WHERE id %% 5 <> 0;
INSERT INTO trials_endofstudy (created_at, updated_at, version, patient_id, end_date, end_reason, notes)
SELECT now(), now(), 1, id, enrolled_on + 90, 'completed', '' FROM {NEW_PATIENTS} AS new_patients;
"""  # noqa: S608 - built from constants; the values are parameters


def seed(site, signer, count: int, already: int, *, using: str = "default", bypass_triggers: bool = False) -> float:
    """Patients already+1..count at `site`, with complete schedules. The benchmark bypasses the triggers,
    on the owner's connection; without that (the test of this script) every trigger runs."""
    from django.db import connections, transaction

    started = time.perf_counter()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        if bypass_triggers:
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SELECT COALESCE(max(id), 0) FROM trials_patient")
        max_id = cursor.fetchone()[0]
        params = {"seed": 0.42, "site": site.pk, "signer": signer.pk, "start": already + 1, "stop": count,
                  "max_id": max_id}  # fmt: skip
        cursor.execute(SEED_SQL, params)
    if bypass_triggers:
        with connections[using].cursor() as cursor:
            # The seed bypassed the triggers that keep the per-patient summary current: rebuild it.
            cursor.execute("SELECT trials_rebuild_patient_summary()")
            cursor.execute("ANALYZE")
            cursor.execute("SELECT nextval('trials_data_version')")
    return time.perf_counter() - started


def measure(user, repeat: int, *, page: bool = True) -> dict:
    """Median server times of the endpoint (and the dashboard page): cold, the first view after a write
    (the data version moved on, so the figures are computed), and kept, viewed again with nothing changed."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from trials.outcomes import QUERIES, OutcomeFilters, _query_params, aggregated_statement, bound_select, fetch_one

    client = Client()
    client.force_login(user)

    def a_write_happened() -> None:
        # What every write to study data does (migration 0003's trigger): the data version moves on.
        with connection.cursor() as cursor:
            cursor.execute("SELECT nextval('trials_data_version')")

    def timed(url: str, *, cold: bool) -> float:
        if cold:
            a_write_happened()
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.content[:500]
        return elapsed

    urls = {"endpoint": "/api/v1/outcomes/"} | ({"page": "/dashboard/"} if page else {})
    figures = {}
    for name, url in urls.items():
        timed(url, cold=True)  # warm-up: imports, plans, caches of the OS
        figures[f"{name}_ms"] = statistics.median(timed(url, cold=True) for _ in range(repeat)) * 1000
        timed(url, cold=False)
        figures[f"{name}_kept_ms"] = statistics.median(timed(url, cold=False) for _ in range(repeat)) * 1000
    a_write_happened()
    with CaptureQueriesContext(connection) as queries:
        body = client.get("/api/v1/outcomes/").json()
    with CaptureQueriesContext(connection) as kept_queries:
        client.get("/api/v1/outcomes/")
    params = _query_params(user, OutcomeFilters())
    floor, fetchall = [], []
    for _ in range(repeat):
        # The floor: the endpoint's own statements run and their result fetched, nothing else done.
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for query in QUERIES:
                fetch_one(cursor, aggregated_statement(query, params))
        floor.append(time.perf_counter() - started)
        # For comparison: the same SELECTs fetched the usual way, row by row into Python objects.
        started = time.perf_counter()
        with connection.cursor() as cursor:
            for query in QUERIES:
                cursor.execute(bound_select(query, params))
                cursor.fetchall()
        fetchall.append(time.perf_counter() - started)
    return figures | {
        "floor_ms": statistics.median(floor) * 1000,
        "fetchall_ms": statistics.median(fetchall) * 1000,
        "queries": len(queries),
        "kept_queries": len(kept_queries),
        "enrolled": body["enrolment"]["enrolled"],
    }


def write_report(rows: list[dict], repeat: int) -> str:
    lines = [
        "<!-- outcome-benchmark:start -->",
        f"Measured {time.strftime('%Y-%m-%d')} with `bench/outcomes_benchmark.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, PostgreSQL 18 embedded; median of {repeat} runs after one warm-up. Cold: the "
        "first view after a write (computed); kept: viewed again, nothing changed (kept per data version).",
        "",
        "| patients | seed (s) | endpoint cold (ms) | endpoint kept (ms) | page cold (ms) | page kept (ms) "
        "| SQL queries cold / kept | floor: same SQL, result fetched (ms) | cold / floor "
        "| cost per patient, cold (µs) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        page = f"{row['page_ms']:.0f} | {row['page_kept_ms']:.0f}" if "page_ms" in row else "— | —"
        lines.append(
            f"| {row['size']:,} | {row['seed_s']:.1f} | {row['endpoint_ms']:.0f} | {row['endpoint_kept_ms']:.1f} | "
            f"{page} | {row['queries']} / {row['kept_queries']} | {row['floor_ms']:.0f} | "
            f"{row['endpoint_ms'] / row['floor_ms']:.2f} | {row['endpoint_ms'] * 1000 / row['size']:.1f} |"
        )
    lines += [
        "",
        "Goals: 100,000 patients < 500 ms cold and < 20 ms kept; 1,000,000 measured, with the cost per patient.",
        "<!-- outcome-benchmark:end -->",
    ]
    return "\n".join(lines)


def write_into_benchmarks(marker: str, report: str, heading: str) -> None:
    """Replace the report between `<!-- marker:start -->` and `<!-- marker:end -->` in
    docs/benchmarks.md, or add it under `heading` at the end the first time."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    pattern = re.compile(rf"<!-- {marker}:start -->.*<!-- {marker}:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _match: report, text)
    else:
        text += f"\n## {heading}\n\n{report}\n"
    path.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--page-up-to",
        type=int,
        default=100000,
        help="time the dashboard page too up to this many patients (it draws every patient's pair)",
    )
    args = parser.parse_args()
    datadir = setup_django()
    try:
        from django.contrib.auth.models import Group

        from trials.models import Site, User
        from trials.roles import ensure_role_groups

        ensure_role_groups()
        site = Site.objects.create(code="BEN", name="Benchmark site")
        user = User.objects.create_user("bench_investigator")  # no password: the client logs in directly
        user.groups.add(Group.objects.get(name="investigator"))
        user.sites.add(site)
        rows, seeded = [], 0
        for size in sorted(args.sizes):
            seed_s = seed(site, user, size, seeded, using="owner", bypass_triggers=True)
            seeded = size
            page = size <= args.page_up_to
            result = measure(user, args.repeat, page=page) | {"size": size, "seed_s": seed_s}
            assert result["enrolled"] == size
            rows.append(result)
            print(f"{size:>7} patients: seed {seed_s:6.1f} s, endpoint cold {result['endpoint_ms']:7.1f} ms, "
                  f"kept {result['endpoint_kept_ms']:5.1f} ms, {result['queries']} / {result['kept_queries']} queries, "
                  f"floor {result['floor_ms']:7.1f} ms", flush=True)  # fmt: skip
        report = write_report(rows, args.repeat)
        print(report)
        if not args.no_write:
            write_into_benchmarks("outcome-benchmark", report, "Outcomes endpoint (issue 4)")
    finally:
        shutil.rmtree(datadir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
