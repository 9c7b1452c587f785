"""The load test still runs end to end and checks cleanly (2 clinicians for a few seconds).

It runs as a subprocess: the script starts its own PostgreSQL and gunicorn and configures Django itself.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_two_clinicians_at_two_sites_for_a_few_seconds_leave_a_clean_database(tmp_path):
    """On the stack of `make run` (manage.py serve: gunicorn and a task worker), each clinician at a site of
    their own, signed by that site's coordinator."""
    summary_path = tmp_path / "summary.json"
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "bench" / "load_test.py"), "--users", "2", "--sites", "2", "--duration", "4",
         "--ramp-up", "1", "--think", "0", "--workers", "2", "--grace", "5",
         "--pgdata", str(tmp_path / "pg"), "--json", str(summary_path)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["clean"] and summary["error_count"] == 0
    assert summary["server"] == "serve" and summary["sites"] == 2
    assert summary["acknowledged_writes"] >= 5  # at least registration, baseline forms and the screening
    assert summary["check"]["problems"]["lab draws without results (whole database)"] == 0
    assert not (tmp_path / "pg").exists()  # the run's database is removed afterwards


def test_the_export_api_benchmark_exports_through_the_make_run_stack():
    """bench/export_api_benchmark.py on a small study: the job is queued, run by the task worker with
    its progress visible, and the file downloaded matches the job's SHA-256 (the script asserts it)."""
    result = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "bench" / "export_api_benchmark.py"), "--patients", "20", "--no-write"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| 20 | 516 |" in result.stdout  # 20 complete schedules: the rows of the twelve tables
    assert "done 100 %" in result.stdout and "The download's SHA-256 equals the job's." in result.stdout
