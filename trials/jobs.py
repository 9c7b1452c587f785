"""Long exports and imports run in a background thread, so the request returns at once and the
page shows progress; the result (a file, or an import report) is kept on the Job row.

A thread in the web process is enough for a study database (minutes, not hours, of work) and needs
no broker. The thread uses its own database connection, closed when it ends.
"""

import threading

from django.db import connection, transaction

from trials import exports, imports
from trials.audit import change_context
from trials.models import ExportLog, Job


def _update(job: Job, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))


def _run(job_id: int, work, *, own_connection: bool) -> None:
    job = Job.objects.get(pk=job_id)
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


def start_export(user, fmt: str, *, identifiable: bool, reason: str, background: bool = True) -> Job:
    job = Job.objects.create(kind="export", user=user, message=f"{fmt} export")

    def work(job):
        content, content_type, file_name = exports.render(
            user, fmt, identifiable=identifiable, progress=lambda percent: _update(job, progress=percent)
        )
        with change_context(user=user, reason=reason or "de-identified export"):
            ExportLog.objects.create(user=user, file_format=fmt, identifiable=identifiable, reason=reason)
        _update(job, status=Job.Status.DONE, progress=100, content=content, content_type=content_type,
                file_name=file_name, message=f"{file_name} is ready")  # fmt: skip

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
