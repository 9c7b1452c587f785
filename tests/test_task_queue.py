"""The task queue with real worker processes (`manage.py procrastinate worker`), on the test database.

A worker killed with SIGKILL in the middle of an export leaves its job running with nobody on it;
another worker sees that the dead one sent no heartbeat, puts the job back in the queue and
finishes it, and the job's page says what happened. Periodic tasks are deferred once per tick
however many workers run.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from trials import jobs
from trials.models import Job

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import outcomes_benchmark  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
HEARTBEAT, STALLED_AFTER = 0.5, 2


def database_url(alias: str) -> str:
    database = settings.DATABASES[alias]
    return f"postgresql://{database['USER']}@/{connection.settings_dict['NAME']}?host={database['HOST']}&port={database['PORT']}"


def start_worker(log: Path, *queues: str) -> subprocess.Popen:
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "a-key-for-the-worker-processes-of-this-test",
        "DATABASE_URL": database_url("default"),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "JOB_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "JOB_STALLED_AFTER_SECONDS": str(STALLED_AFTER),
        "LOG_LEVEL": "WARNING",
    }
    environment.pop("DATABASE_OWNER_URL", None)  # a worker holds the application's role only
    return subprocess.Popen(
        [sys.executable, "manage.py", "procrastinate", "worker", "--queues", ",".join(queues)],
        cwd=ROOT, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_until(condition, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    jobs_now = list(Job.objects.values("pk", "status", "progress", "attempts", "message"))
    raise AssertionError(
        f"{what} within {timeout} s: {jobs_now}" + (f"; worker log:\n{log.read_text()[-3000:]}" if log else "")
    )


def test_a_worker_killed_mid_export_leaves_a_job_another_worker_retries_and_finishes(
    client, investigator, site_a, coordinator, tmp_path
):
    outcomes_benchmark.seed(site_a, coordinator, 300, 0)  # an Excel export of about a second
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_worker(first_log, "jobs")
    try:
        with transaction.atomic():
            job = jobs.start_export(investigator, "xlsx", identifiable=False, reason="", background=True)
        running = wait_until(
            lambda: Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).first(),
            60, "the first worker did not start the export", first_log,
        )  # fmt: skip
        assert running.attempts == 1
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    time.sleep(1)
    job.refresh_from_db()
    assert (job.status, job.file.name) == (Job.Status.RUNNING, "")  # nobody works on it now

    second = start_worker(second_log, "jobs", "schedule")
    try:
        done = wait_until(
            lambda: Job.objects.filter(pk=job.pk).exclude(status=Job.Status.RUNNING).first(),
            90, "the export was not retried and finished", second_log,
        )  # fmt: skip
    finally:
        stop(second)
    assert done.status == Job.Status.DONE, done.message
    assert done.attempts == 2 and done.file.name.endswith(".xlsx") and done.file.size == done.size
    client.force_login(investigator)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "A worker stopped while running this job" in page
    assert "attempt 2" in page
    assert "retrying job" in second_log.read_text()


def test_periodic_tasks_are_deferred_once_per_tick_with_several_workers(tmp_path):
    """Three workers each run the periodic deferrer; each tick of `retry_stalled_jobs` (every 10 s)
    becomes one job, not three (a unique row per task and tick in procrastinate_periodic_defers)."""
    workers = [start_worker(tmp_path / f"worker-{n}.log", "schedule") for n in range(3)]
    try:
        with connection.cursor() as cursor:

            def workers_registered():
                cursor.execute("SELECT count(*) FROM procrastinate_workers")
                return cursor.fetchone()[0] == 3

            wait_until(workers_registered, 30, "the three workers did not start", tmp_path / "worker-0.log")

            def jobs_per_tick():
                cursor.execute(
                    "SELECT args->>'timestamp', count(*) FROM procrastinate_jobs "
                    "WHERE task_name = 'trials.retry_stalled_jobs' GROUP BY 1"
                )
                return dict(cursor.fetchall())

            wait_until(lambda: len(jobs_per_tick()) >= 2, 45, "no two ticks were deferred", tmp_path / "worker-0.log")
            assert set(jobs_per_tick().values()) == {1}
    finally:
        for worker in workers:
            stop(worker)
