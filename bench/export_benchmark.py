"""Benchmark of the study exports: every format, for the demo study and a synthetic study of N patients.

Usage:  .venv/bin/python bench/export_benchmark.py [--sizes 10000] [--repeat 3] [--no-write]

It runs on its own embedded PostgreSQL (deleted afterwards). It loads the demo study (16 patients
of the paper, 2 screened only), measures each format, then seeds complete schedules for the
synthetic patients with the seed of `bench/outcomes_benchmark.py`, this time WITH the database
triggers on, so that every row has its audit event as entered data would (the ODM carries them).
For each format: the median time of `exports.render` (read in one snapshot, write, zip, checksum:
what a background job does) and the size of the file. Written into docs/benchmarks.md between the
export-benchmark markers.
"""

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.outcomes_benchmark import SEED_SQL, setup_django, write_into_benchmarks  # noqa: E402

FORMATS = ("csv", "xlsx", "sav", "dta", "xpt", "odm", "odm-snapshot")


# The outcomes benchmark stores a patient's fractured levels as a slice of a 2-D array; the forms
# store a plain list, which the export reads.
LEVELS_2D = "(ARRAY[ARRAY['T11','T12','L1'], ARRAY['T7','T8','T9'], ARRAY['L2','L3','L4']])[1 + (g %% 3)][1:3]"
LEVELS_1D = "string_to_array((ARRAY['T11,T12,L1', 'T7,T8,T9', 'L2,L3,L4'])[1 + (g %% 3)], ',')"
AUDITED_TABLES = ("patient", "screening", "pvpprocedure", "treatedlevel", "infusion", "labdraw", "labresult",
                  "painassessment", "qolassessment", "tumourresponse", "adverseevent", "endofstudy")  # fmt: skip


def seed_with_audit(site, signer, count: int) -> float:
    """The outcomes benchmark's set-based seed, and an audit trail as entered data would have.

    Row by row through the triggers, 10,000 patients take ten minutes to seed (every trigger of the
    application fires half a million times). Instead the rows go in as in the outcomes benchmark
    (as the owner role, triggers off) and their audit events are written in one statement per table:
    an insert event for every row, by the signing coordinator; and for one lab result in ten a
    correction, the first value 10 % lower and an update event with the current value and a reason
    for change.
    """
    from django.apps import apps
    from django.db import connections, transaction

    started = time.perf_counter()
    with transaction.atomic(using="owner"), connections["owner"].cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        before = {}  # the rows already there (the demo study) have their audit trail
        for name in AUDITED_TABLES:
            cursor.execute(f"SELECT COALESCE(max(id), 0) FROM trials_{name}")  # noqa: S608 - a model's table
            before[name] = cursor.fetchone()[0]
        params = {"seed": 0.42, "site": site.pk, "signer": signer.pk, "start": 1, "stop": count,
                  "max_id": before["patient"]}  # fmt: skip
        cursor.execute(SEED_SQL.replace(LEVELS_2D, LEVELS_1D), params)
        cursor.execute(
            "INSERT INTO pghistory_context (id, created_at, updated_at, metadata) VALUES "
            "(gen_random_uuid(), now(), now(), jsonb_build_object('user', %(user)s, 'username', %(name)s)), "
            "(gen_random_uuid(), now(), now(), jsonb_build_object('user', %(user)s, 'username', %(name)s, "
            "'reason', 'transcription error corrected against the source')) RETURNING id",
            {"user": signer.pk, "name": signer.get_username()},
        )
        entered, corrected = (row[0] for row in cursor.fetchall())
        for name in AUDITED_TABLES:
            events = apps.get_model("trials", name).pgh_event_model
            columns = [f.column for f in events._meta.concrete_fields if not f.column.startswith("pgh_")]
            listed = ", ".join(columns)
            lowered = ", ".join("value * 0.9" if column == "value" else column for column in columns)
            new_rows = f"FROM trials_{name} WHERE id > {before[name]}"
            fixed = "AND id %% 10 = 0" if name == "labresult" else "AND false"
            statement = (  # noqa: S608 - table and column names from the models
                f"INSERT INTO {events._meta.db_table} (pgh_created_at, pgh_label, pgh_obj_id, pgh_context_id, "
                f"{listed}) SELECT now() - interval '1 day', 'insert', id, %(entered)s, {lowered} {new_rows} {fixed} "
                f"UNION ALL SELECT now() - interval '1 day', 'insert', id, %(entered)s, {listed} {new_rows} "
                f"AND NOT ({fixed.removeprefix('AND ')}) "
                f"UNION ALL SELECT now(), 'update', id, %(corrected)s, {listed} {new_rows} {fixed}"
            )
            cursor.execute(statement, {"entered": entered, "corrected": corrected})
    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT trials_rebuild_patient_summary()")
        cursor.execute("ANALYZE")
        cursor.execute("SELECT nextval('trials_data_version')")
    return time.perf_counter() - started


def measure(user, repeat: int) -> dict[str, dict]:
    from trials import exports

    results = {}
    for name in FORMATS:
        fmt, audit = ("odm", name == "odm") if name.startswith("odm") else (name, True)
        times, size = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            export = exports.render(user, fmt, audit=audit)
            times.append(time.perf_counter() - started)
            size = export.size
        results[name] = {"seconds": statistics.median(times), "bytes": size}
        print(f"  {name:<13} {results[name]['seconds']:7.2f} s  {size / 1e6:8.2f} MB", flush=True)
    return results


def write_report(columns: list[tuple[str, dict]], repeat: int) -> str:
    header = " | ".join(f"{label} (s) | {label} (MB)" for label, _r in columns)
    lines = [
        "<!-- export-benchmark:start -->",
        f"Measured {time.strftime('%Y-%m-%d')} with `bench/export_benchmark.py` on {platform.machine()}, "
        f"{os.cpu_count()} cores, PostgreSQL 18 embedded; median of {repeat} runs of `exports.render` (read in "
        "one snapshot, write every table, zip, checksum).",
        "",
        f"| format | {header} |",
        "|---|" + "---:|---:|" * len(columns),
    ]
    for name in FORMATS:
        cells = " | ".join(f"{r[name]['seconds']:.2f} | {r[name]['bytes'] / 1e6:.2f}" for _label, r in columns)
        label = "odm (snapshot, no audit)" if name == "odm-snapshot" else ("odm (with audit trail)" if name == "odm"
                                                                          else name)  # fmt: skip
        lines.append(f"| {label} | {cells} |")
    lines.append("<!-- export-benchmark:end -->")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    os.environ.setdefault("DEMO_PASSWORD", "benchmark-only")
    datadir = setup_django()
    try:
        from django.core.management import call_command

        from trials.models import Site, User
        from trials.roles import ensure_role_groups

        ensure_role_groups()
        call_command("load_demo", stdout=io.StringIO())
        manager = User.objects.get(username="data_manager")
        print("demo study (18 screened, 16 enrolled):", flush=True)
        columns = [("demo", measure(manager, args.repeat))]
        for size in args.sizes:
            site = Site.objects.create(code=f"B{size}"[:10], name="Benchmark site")
            user = User.objects.create_user(f"bench_dm_{size}")
            user.is_superuser = True  # every site's patients, as a data manager of all sites would see
            user.save()
            seconds = seed_with_audit(site, manager, size)
            print(f"{size:,} synthetic patients seeded with their audit trail in {seconds:.0f} s:", flush=True)
            columns.append((f"{size:,} patients", measure(user, args.repeat)))
        report = write_report(columns, args.repeat)
        print(report)
        if not args.no_write:
            write_into_benchmarks("export-benchmark", report, "Exports (issue 13)")
    finally:
        shutil.rmtree(datadir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
