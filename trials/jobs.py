"""Long exports and imports run in a background thread, so the request returns at once and the
page shows progress; the result (a file, or an import report) is kept on the Job row.

A thread in the web process is enough for a study database (minutes, not hours, of work) and needs
no broker. The thread uses its own database connection, closed when it ends.
"""

import threading
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from trials import access, exports, imports
from trials.audit import change_context
from trials.models import ExportLog, Job


def _update(job: Job, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))


def _run(job_id: int, work, *, own_connection: bool) -> None:
    job = Job.objects.get(pk=job_id)
    _update(job, status=Job.Status.RUNNING)
    try:
        work(job)
    except Exception as error:  # noqa: BLE001 - the page must learn that the job failed, and why
        _update(job, status=Job.Status.FAILED, message=str(error)[:500])
    finally:
        if own_connection:  # the thread's connection; inline, the request's stays open
            connection.close()


def start(job: Job, work, *, background: bool = True) -> Job:
    if background:
        # The job row must be committed before the thread looks for it.
        transaction.on_commit(
            lambda: threading.Thread(
                target=_run, args=(job.pk, work), kwargs={"own_connection": True}, daemon=True
            ).start()  # fmt: skip
        )
    else:
        _run(job.pk, work, own_connection=False)
    return job


# Each job holds its file in memory while it works: a user's exports, and imports, run a few at a time.
MAX_JOBS_AT_ONCE = MAX_EXPORTS_AT_ONCE = 2


def jobs_under_way(user, kind: str) -> int:
    return Job.objects.filter(user=user, kind=kind, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).count()


def exports_under_way(user) -> int:
    return jobs_under_way(user, "export")


def purge_expired_files(now=None) -> int:
    """Drop the files of exports finished more than JOB_FILE_RETENTION_DAYS ago (identifiable ones
    among them): the job and the export log keep what was exported, when, by whom and its checksum."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.JOB_FILE_RETENTION_DAYS)
    expired = Job.objects.filter(kind="export", created_at__lt=cutoff, content__isnull=False)
    return expired.update(content=None, message="The file was deleted after its retention time; export again.")


@contextmanager
def _progress_reporter(job: Job):
    """`report(percent)` for the job's page. Outside a transaction the export reads inside its own
    read-only snapshot transaction (exports.snapshot), where nothing may be written and whose
    writes nobody would see before it ends: the progress then goes through a connection of its own.
    Inside one (an inline job within a request) the export reads in that transaction."""
    if connection.in_atomic_block:
        yield lambda percent: _update(job, progress=percent)
        return
    side = connections.create_connection("default")
    try:

        def report(percent: int) -> None:
            with side.cursor() as cursor:
                cursor.execute("UPDATE trials_job SET progress = %s WHERE id = %s", [int(percent), job.pk])

        yield report
    finally:
        side.close()


def start_export(
    user, fmt: str, *, identifiable: bool, reason: str, language: str = "en", audit: bool = True,
    shift_dates: bool = False, drop_free_text: bool = False, background: bool = True,
) -> Job:  # fmt: skip
    """Queue an export; the caller has checked that the user may make it (`roles.export_refusal`)."""
    # The sites whose patients the file will hold: a download later needs them still (roles.py).
    sites = sorted(access.sites_for_user(user).values_list("pk", flat=True))
    parameters = {"format": fmt, "identifiable": identifiable, "language": language, "sites": sites}
    purge_expired_files()
    if fmt == "odm":
        parameters["audit"] = audit
    if shift_dates or drop_free_text:
        parameters |= {"shift_dates": shift_dates, "drop_free_text": drop_free_text}
    job = Job.objects.create(kind="export", user=user, message=f"{fmt} export", parameters=parameters)

    def work(job):
        with _progress_reporter(job) as report:
            export = exports.render(
                user, fmt, identifiable=identifiable, language=language, audit=audit, shift_dates=shift_dates,
                drop_free_text=drop_free_text, progress=report,
            )  # fmt: skip
        manifest = export.manifest
        with change_context(user=user, reason=reason or "de-identified export"):
            ExportLog.objects.create(
                user=user, file_format=fmt, identifiable=identifiable, reason=reason, language=language,
                file_name=export.file_name, sha256=export.sha256, size=export.size,
                data_version=manifest["data_version"], row_counts=manifest["tables"],
            )  # fmt: skip
        _update(job, status=Job.Status.DONE, progress=100, content=export.content, content_type=export.content_type,
                file_name=export.file_name, sha256=export.sha256, size=export.size, result=manifest,
                message=f"{export.file_name} is ready")  # fmt: skip

    return start(job, work, background=background)


def start_import(
    user, form: str, content: bytes, file_name: str, *, commit: bool, background: bool = True, levels=None
) -> Job:
    """`levels` is the PVP levels file that comes with the pvp_procedure form."""
    job = Job.objects.create(kind="import", user=user, message=f"{'import' if commit else 'check'} {file_name}")

    def work(job):
        progress = lambda percent: _update(job, progress=percent)  # noqa: E731
        if commit:
            saved, problems = imports.commit(user, form, content, file_name, progress=progress, levels=levels)
        else:
            records, problems = imports.check(user, form, content, progress=progress, levels=levels)
            saved = None
        _update(job, status=Job.Status.DONE, progress=100, result={
            "form": form, "file": file_name, "committed": commit, "saved": saved,
            "checked": None if commit else len(records) if not problems else None,
            "problems": [vars(problem) for problem in problems],
        })  # fmt: skip

    return start(job, work, background=background)
