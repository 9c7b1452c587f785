"""Long exports and imports are jobs: a row the page polls (Job), run as a task of the PostgreSQL
queue (trials/tasks.py) by a worker process, so the request returns at once.

A job carries everything its work needs (the parameters, the uploaded file in storage), so any
worker on any machine can run it, and run it again when the worker that had it died: the work is
all or nothing (an export's file and log are written at its end, an import saves every row or none).
The finished export's file goes to storage, never into a database row.
"""

import logging
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, connections, transaction
from django.utils import timezone

from trials import access, exports, imports
from trials.audit import change_context
from trials.models import ExportLog, Job

logger = logging.getLogger(__name__)

# Each job holds its file in memory while it works: a user's exports, and imports, run a few at a time.
MAX_JOBS_AT_ONCE = MAX_EXPORTS_AT_ONCE = 2
EXPIRED = "The file was deleted after its retention time; export again."


def _update(job: Job, **fields) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))


def start(job: Job, *, background: bool | None = None) -> Job:
    """Queue the job (in the caller's transaction: the job and its task are committed together), or,
    with JOBS_IN_BACKGROUND off, run it now."""
    if background is None:
        background = settings.JOBS_IN_BACKGROUND
    if background:
        from trials import tasks  # the task module imports this one

        tasks.run_job.defer(job_id=job.pk)
    else:
        run(job.pk)
    return job


def run(job_id: int) -> None:
    """What a worker does with a job (again, when a worker died in the middle of it)."""
    job = Job.objects.get(pk=job_id)
    if job.status in (Job.Status.DONE, Job.Status.FAILED):
        return  # finished by an earlier attempt whose worker died before the queue heard of it
    # More than one attempt: the job's page says that a worker stopped in the middle (trials/job.html).
    _update(job, status=Job.Status.RUNNING, attempts=job.attempts + 1, progress=0)
    try:
        WORK[job.kind](job)
    except Exception as error:  # noqa: BLE001 - the page must learn that the job failed, and why
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        _update(job, status=Job.Status.FAILED, message=str(error)[:500])
    finally:
        if job.kind == "import":
            _delete_uploads(job)  # identifiable data: kept only while the import runs


def jobs_under_way(user, kind: str) -> int:
    return Job.objects.filter(user=user, kind=kind, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).count()


def exports_under_way(user) -> int:
    return jobs_under_way(user, "export")


def purge_expired_files(now=None) -> int:
    """Delete the files of exports finished more than JOB_FILE_RETENTION_DAYS ago (identifiable ones
    among them): the job and the export log keep what was exported, when, by whom and its checksum."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.JOB_FILE_RETENTION_DAYS)
    purged = 0
    for job in Job.objects.filter(kind="export", created_at__lt=cutoff).exclude(file=""):
        job.file.delete(save=False)
        _update(job, file="", message=EXPIRED)
        purged += 1
    return purged


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
    shift_dates: bool = False, drop_free_text: bool = False, background: bool | None = None,
) -> Job:  # fmt: skip
    """Queue an export; the caller has checked that the user may make it (`roles.export_refusal`)."""
    # The sites whose patients the file will hold: a download later needs them still (roles.py).
    sites = sorted(access.sites_for_user(user).values_list("pk", flat=True))
    parameters = {"format": fmt, "identifiable": identifiable, "language": language, "sites": sites, "reason": reason}
    purge_expired_files()  # the nightly task does it too; a file past its time never waits for the night
    if fmt == "odm":
        parameters["audit"] = audit
    if shift_dates or drop_free_text:
        parameters |= {"shift_dates": shift_dates, "drop_free_text": drop_free_text}
    job = Job.objects.create(kind="export", user=user, message=f"{fmt} export", parameters=parameters)
    return start(job, background=background)


def _export(job: Job) -> None:
    options = job.parameters
    user, fmt = job.user, options["format"]
    with _progress_reporter(job) as report:
        export = exports.render(
            user, fmt, identifiable=options["identifiable"], language=options["language"],
            audit=options.get("audit", True), shift_dates=options.get("shift_dates", False),
            drop_free_text=options.get("drop_free_text", False), progress=report,
        )  # fmt: skip
    manifest = export.manifest
    stored = default_storage.save(Job.file.field.generate_filename(job, export.file_name), ContentFile(export.content))
    reason = options.get("reason", "")
    with transaction.atomic(), change_context(user=user, reason=reason or "de-identified export"):
        ExportLog.objects.create(
            user=user, file_format=fmt, identifiable=options["identifiable"], reason=reason,
            language=options["language"], file_name=export.file_name, sha256=export.sha256, size=export.size,
            data_version=manifest["data_version"], row_counts=manifest["tables"],
        )  # fmt: skip
        _update(job, status=Job.Status.DONE, progress=100, file=stored, content_type=export.content_type,
                file_name=export.file_name, sha256=export.sha256, size=export.size, result=manifest,
                message=f"{export.file_name} is ready")  # fmt: skip


def start_import(
    user, form: str, content: bytes, file_name: str, *, commit: bool, background: bool | None = None, levels=None
) -> Job:
    """`levels` is the PVP levels file that comes with the pvp_procedure form. The files wait in
    storage for the worker, and are deleted when the import has run."""
    job = Job(kind="import", user=user, message=f"{'import' if commit else 'check'} {file_name}",
              parameters={"form": form, "file": file_name, "commit": commit})  # fmt: skip
    job.file.save(file_name, ContentFile(content), save=False)
    if levels is not None:
        job.parameters["levels_file"] = default_storage.save(
            Job.file.field.generate_filename(job, "levels.csv"), ContentFile(levels)
        )
    job.save()
    return start(job, background=background)


def _import(job: Job) -> None:
    options = job.parameters
    user, form, file_name = job.user, options["form"], options["file"]
    with job.file.open("rb") as upload:
        content = upload.read()
    levels = None
    if options.get("levels_file"):
        with default_storage.open(options["levels_file"], "rb") as upload:
            levels = upload.read()
    progress = lambda percent: _update(job, progress=percent)  # noqa: E731
    if options["commit"]:
        saved, problems = imports.commit(user, form, content, file_name, progress=progress, levels=levels)
    else:
        records, problems = imports.check(user, form, content, progress=progress, levels=levels)
        saved = None
    _update(job, status=Job.Status.DONE, progress=100, result={
        "form": form, "file": file_name, "committed": options["commit"], "saved": saved,
        "checked": None if options["commit"] else len(records) if not problems else None,
        "problems": [vars(problem) for problem in problems],
    })  # fmt: skip


def _delete_uploads(job: Job) -> None:
    if job.status not in (Job.Status.DONE, Job.Status.FAILED):
        return
    if job.file:
        job.file.delete(save=False)
        Job.objects.filter(pk=job.pk).update(file="")
    if job.parameters.get("levels_file"):
        default_storage.delete(job.parameters["levels_file"])


WORK = {"export": _export, "import": _import}
