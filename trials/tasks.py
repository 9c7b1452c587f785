"""The tasks of the PostgreSQL queue (procrastinate), run by `manage.py procrastinate worker`.

Why procrastinate: its queue is tables and functions in the study's own PostgreSQL (no broker, no
second database); a job is taken with SELECT ... FOR UPDATE SKIP LOCKED and deferred in the
caller's transaction; workers send heartbeats, so the job of a worker that died (SIGKILL, a lost
machine) is found and retried; and periodic tasks are deferred once per tick however many
workers run (a unique row per task and tick). django-tasks' database backend had neither
retry of a dead worker's job nor a scheduler.

Every scheduled job is here: the nightly backup, the purge of files past their retention time and of
finished tasks past TASK_HISTORY_DAYS, the retry of stalled jobs, and `daily_checks`, the hook later
reminders and data-quality checks register with (`register_daily_check`).
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections
from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

from config.request_log import REQUEST_ID
from trials import jobs

logger = logging.getLogger(__name__)

JOBS_QUEUE = "jobs"
SCHEDULE_QUEUE = "schedule"


def on_app_ready(app) -> None:
    """PROCRASTINATE_ON_APP_READY: nothing to configure yet; the tasks below register themselves."""


def _in_worker_thread(function: Callable, *args, **kwargs):
    """Django work inside a worker, on a thread of its own: no connection is left open after it
    (the next job may run on another thread; an idle connection per thread would pile up)."""
    close_old_connections()
    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()


# Retried when the worker raises (a lost database connection); a job whose worker died is put back
# by retry_stalled_jobs below. The job row says which attempt it is (jobs.run).
@app.task(name="trials.run_job", queue=JOBS_QUEUE, retry=RetryStrategy(max_attempts=3, wait=5))
def run_job(job_id: int) -> None:
    token = REQUEST_ID.set(f"job-{job_id}")  # on every log line of the job (config/request_log.py)
    try:
        _in_worker_thread(jobs.run, job_id)
    finally:
        REQUEST_ID.reset(token)


@app.periodic(cron="* * * * * */10", periodic_id="retry_stalled_jobs")
@app.task(name="trials.retry_stalled_jobs", queue=SCHEDULE_QUEUE, queueing_lock="retry_stalled_jobs")
async def retry_stalled_jobs(timestamp: int) -> int:
    """Jobs whose worker has sent no heartbeat for JOB_STALLED_AFTER_SECONDS go back to the queue."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=settings.JOB_STALLED_AFTER_SECONDS)
    for job in stalled:
        logger.warning("retrying job %s (%s): its worker stopped sending heartbeats", job.id, job.task_name)
        await app.job_manager.retry_job(job)
    return len(stalled)


@app.periodic(cron="17 3 * * *", periodic_id="purge_job_files")
@app.task(name="trials.purge_job_files", queue=SCHEDULE_QUEUE, queueing_lock="purge_job_files")
def purge_job_files(timestamp: int) -> int:
    return _in_worker_thread(jobs.purge_expired_files)


@app.periodic(cron="45 * * * *", periodic_id="purge_task_history")
@app.task(name="trials.purge_task_history", queue=SCHEDULE_QUEUE, queueing_lock="purge_task_history")
async def purge_task_history(timestamp: int) -> None:
    """Finished tasks (retry_stalled_jobs alone adds 8,640 a day) are kept TASK_HISTORY_DAYS, failed ones too:
    long enough to look into a failure and for the metrics' history (trials/metrics.py), no longer."""
    await app.job_manager.delete_old_jobs(
        nb_hours=settings.TASK_HISTORY_DAYS * 24, include_failed=True, include_cancelled=True, include_aborted=True
    )


@app.periodic(cron="0 2 * * *", periodic_id="nightly_backup")
@app.task(name="trials.nightly_backup", queue=SCHEDULE_QUEUE, queueing_lock="nightly_backup")
def nightly_backup(timestamp: int) -> str:
    from trials import backup

    return str(_in_worker_thread(backup.nightly))


DAILY_CHECKS: dict[str, Callable[[], object]] = {}


def register_daily_check(name: str):
    """For reminders and data-quality checks: `@register_daily_check("visit-reminders")` on a
    function without arguments makes it part of the daily run (one run per day, however many workers)."""

    def register(function):
        DAILY_CHECKS[name] = function
        return function

    return register


@app.periodic(cron="30 1 * * *", periodic_id="daily_checks")
@app.task(name="trials.daily_checks", queue=SCHEDULE_QUEUE, queueing_lock="daily_checks")
def daily_checks(timestamp: int) -> dict[str, str]:
    """Each registered check runs; one that fails is logged and the others still run."""
    outcome = {}
    for name, check in DAILY_CHECKS.items():
        try:
            outcome[name] = str(_in_worker_thread(check))
        except Exception:  # noqa: BLE001 - one failing check must not stop the others
            logger.exception("daily check %s failed", name)
            outcome[name] = "failed"
    return outcome
