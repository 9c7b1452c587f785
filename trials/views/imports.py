"""Bulk CSV import: check first (dry run), then import all rows or none."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from trials import imports, jobs
from trials.roles import CLINICIAN, COORDINATOR, DATA_MANAGER, has_role


def import_page(request):
    # Coordinators too: only they may bring in screenings signed on paper (trials.import_cases).
    if not has_role(request.user, CLINICIAN, COORDINATOR, DATA_MANAGER):
        raise PermissionDenied(_("Imports are for clinicians, coordinators and data managers."))
    context = {
        "forms": list(imports.IMPORTABLE),
        "columns": {f: imports.expected_columns(f) for f in [*imports.IMPORTABLE, imports.LEVELS]},
        "order_note": imports.ORDER_NOTE,
    }
    if request.method == "POST":
        form = request.POST.get("form", "")
        upload = request.FILES.get("file")
        levels = request.FILES.get("levels_file")  # the PVP levels, read with pvp_procedure only
        if upload is None:
            context["problems"] = [imports.Problem(0, "file", "", "choose a CSV file")]
        elif upload.size > imports.MAX_BYTES:
            # Refused before it is read into memory and handed to a job (the job checks it again).
            context["problems"] = [imports.too_big(upload.size)]
        else:
            job = jobs.start_import(request.user, form, upload.read(), upload.name,
                                    commit=request.POST.get("action") == "commit",
                                    background=settings.JOBS_IN_BACKGROUND,
                                    levels=levels.read() if levels and form == "pvp_procedure" else None)  # fmt: skip
            return redirect("job_page", pk=job.pk)
        context["form"] = form
    return TemplateResponse(request, "trials/imports.html", context)
