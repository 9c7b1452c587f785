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
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.outcomes_benchmark import SEED_SQL, setup_django  # noqa: E402

FORMATS = ("csv", "xlsx", "sav", "dta", "xpt", "odm", "odm-snapshot")


def seed_with_audit(site, signer, count: int) -> float:
    """The outcomes benchmark's seed with the triggers left on: audit events, summary rows, guards."""
    from django.db import connection, transaction

    sql = SEED_SQL.replace("SET session_replication_role = replica;", "").replace(
        "SET session_replication_role = origin;", ""
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) FROM trials_patient")
        max_id = cursor.fetchone()[0]
        cursor.execute(sql, {"seed": 0.42, "site": site.pk, "signer": signer.pk, "start": 1, "stop": count,
                             "max_id": max_id})  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
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
            path = ROOT / "docs" / "benchmarks.md"
            text = path.read_text()
            pattern = re.compile(r"<!-- export-benchmark:start -->.*<!-- export-benchmark:end -->", re.S)
            if pattern.search(text):
                text = pattern.sub(report, text)
            else:
                text += "\n## Exports (issue 13)\n\n" + report + "\n"
            path.write_text(text)
    finally:
        shutil.rmtree(datadir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
