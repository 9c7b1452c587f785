"""The SPSS export of a large study, end to end through the export API, on the stack of `make run`.

Usage:  .venv/bin/python bench/export_api_benchmark.py [--patients 10000] [--format sav] [--no-write]

What a statistician's script does: POST /api/v1/exports/, poll GET /api/v1/exports/{id}/ for the
status and progress while the task worker runs the job, then download the file and compare its
SHA-256 with the one the job reports. Everything runs on this machine:
1. an embedded PostgreSQL in a temporary folder (deleted afterwards), migrated, with --patients
   complete synthetic schedules and their audit trail (the seed of bench/export_benchmark.py);
2. `manage.py serve` (gunicorn and one task-queue worker, DEBUG off) on a free port of 127.0.0.1,
   as the application's database role;
3. an investigator with an API token exports, polling every 0.25 s.
The times (queued until a worker took the job, running, download) and the progress the API showed
are printed and written into docs/benchmarks.md between the export-api-benchmark markers.
"""

import argparse
import hashlib
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench.export_benchmark import seed_with_audit  # noqa: E402
from bench.load_test import AppServer, free_port  # noqa: E402
from bench.outcomes_benchmark import setup_django, write_into_benchmarks  # noqa: E402

POLL_SECONDS = 0.25


def prepare(patients: int) -> tuple[str, str, float]:
    """The study and an investigator's API token; the app role's database URL; the seed's seconds."""
    from django.conf import settings
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connections

    from trials.models import ApiToken, Site, User
    from trials.roles import ensure_role_groups

    # DEBUG off serves hashed static names from the manifest, as `make run` does.
    call_command("collectstatic", interactive=False, verbosity=0)
    ensure_role_groups()
    site = Site.objects.create(code="EXP", name="Export benchmark hospital")
    coordinator = User.objects.create_user("bench_coordinator")
    coordinator.groups.add(Group.objects.get(name="coordinator"))
    coordinator.sites.add(site)
    investigator = User.objects.create_user("bench_investigator")
    investigator.groups.add(Group.objects.get(name="investigator"))
    investigator.sites.add(site)
    token = ApiToken.mint(investigator, name="export benchmark", scope=ApiToken.Scope.WRITE, second_factor=True)[1]
    seconds = seed_with_audit(site, coordinator, patients)
    database = settings.DATABASES["default"]
    url = f"postgresql://{database['USER']}@/{database['NAME']}?host={database['HOST']}&port={database['PORT']}"
    for connection in connections.all():
        connection.close()  # the app server is another process: hold nothing open meanwhile
    return token, url, seconds


def export_through_the_api(base_url: str, token: str, file_format: str) -> dict:
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as http:
        started = time.perf_counter()
        answer = http.post("/api/v1/exports/", json={"format": file_format, "language": "en"})
        assert answer.status_code == 202, answer.text[:500]
        job = answer.json()
        seen = [(0.0, job["status"], job["progress"])]
        while job["status"] in ("queued", "running"):
            time.sleep(POLL_SECONDS)
            job = http.get(f"/api/v1/exports/{job['id']}/").json()
            if (job["status"], job["progress"]) != seen[-1][1:]:
                seen.append((time.perf_counter() - started, job["status"], job["progress"]))
        finished = time.perf_counter() - started
        assert job["status"] == "done", job
        download_started = time.perf_counter()
        response = http.get(f"/api/v1/exports/{job['id']}/download/")
        assert response.status_code == 200, response.text[:500]
        body = response.content
        download = time.perf_counter() - download_started
    assert hashlib.sha256(body).hexdigest() == job["sha256"], "the file is not the one the job describes"
    running_from = next((at for at, status, _progress in seen if status == "running"), 0.0)
    return {
        "queued_s": running_from,
        "finished_s": finished,
        "download_s": download,
        "bytes": len(body),
        "progress": seen,
        "rows": sum((job.get("manifest") or {}).get("tables", {}).values()) or None,
    }


def write_report(patients: int, file_format: str, seed_s: float, result: dict) -> str:
    steps = ", ".join(f"{at:.1f} s {status} {progress} %" for at, status, progress in result["progress"])
    return "\n".join([
        "<!-- export-api-benchmark:start -->",
        f"Measured {time.strftime('%Y-%m-%d')} with `bench/export_api_benchmark.py --patients {patients} "
        f"--format {file_format}` on {platform.machine()}, {os.cpu_count()} cores: `manage.py serve` (gunicorn "
        "2 × 4 threads and one task worker) and PostgreSQL 18 embedded on the same machine.",
        "",
        "| patients | rows | waiting for a worker (s) | until done (s) | download (s) | file (MB) "
        "| progress updates seen |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {patients:,} | {result['rows'] or 0:,} | {result['queued_s']:.2f} | {result['finished_s']:.1f} | "
        f"{result['download_s']:.2f} | {result['bytes'] / 1e6:.2f} | {len(result['progress'])} |",
        "",
        f"What the API showed while the job ran: {steps}. The download's SHA-256 equals the job's. "
        f"(Seeding the study with its audit trail took {seed_s:.0f} s, not part of the figures.)",
        "<!-- export-api-benchmark:end -->",
    ])  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--format", default="sav", help="an export format (default sav: SPSS)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    datadir = setup_django()
    app = None
    try:
        token, database_url, seed_s = prepare(args.patients)
        print(f"{args.patients:,} patients seeded with their audit trail in {seed_s:.0f} s", flush=True)
        port = free_port()
        app = AppServer(port=port, workers=2, threads=4, database_url=database_url,
                        log_path=ROOT / "var" / "export-api-server.log")  # fmt: skip
        app.env.pop("EMBEDDED_PGDATA", None)  # the database of this script, through DATABASE_URL
        app.start()
        app.wait_ready(timeout=120)
        result = export_through_the_api(f"http://127.0.0.1:{port}", token, args.format)
        report = write_report(args.patients, args.format, seed_s, result)
        print(report)
        if not args.no_write:
            heading = "Export through the API on the make run stack (issue 15)"
            write_into_benchmarks("export-api-benchmark", report, heading)
    finally:
        if app is not None:
            app.stop()
        shutil.rmtree(datadir.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
