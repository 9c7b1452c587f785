"""A background job's page: progress while it runs, then the file or the import report."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from trials import exports
from trials.models import Job
from trials.roles import export_download_refusal


def _own_job(request, pk) -> Job:
    # A job's result may hold identifying data: only its owner sees it.
    return get_object_or_404(Job, pk=pk, user=request.user)


def job_page(request, pk):
    job = _own_job(request, pk)
    # The row counts in the forms' order (the database keeps the manifest as jsonb, which sorts keys).
    tables = (job.result or {}).get("tables", {}) if job.kind == "export" else {}
    rows = [(form, tables[form]) for form in exports.FORMS if form in tables]
    file_kept = job.kind == "export" and bool(job.file)
    return TemplateResponse(request, "trials/job.html", {"job": job, "table_rows": rows, "file_kept": file_kept})


def job_status(request, pk):
    job = _own_job(request, pk)
    return JsonResponse({"status": job.status, "progress": job.progress, "message": job.message})


def job_download(request, pk):
    job = get_object_or_404(Job, pk=pk, user=request.user, kind="export", status=Job.Status.DONE)
    refusal = export_download_refusal(request.user, job)
    if refusal:
        raise PermissionDenied(refusal)
    if not job.file:  # purged after its retention time (jobs.purge_expired_files)
        return HttpResponse(job.message, status=410, content_type="text/plain; charset=utf-8")
    return FileResponse(job.file.open("rb"), as_attachment=True, filename=job.file_name, content_type=job.content_type)
