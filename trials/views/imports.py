"""Bulk CSV import: check first (dry run), then import all rows or none."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from trials import imports, jobs


def import_page(request):
    # A role imports the forms it may enter on their pages (trials.imports.FORMS): investigators and
    # data managers enter none.
    forms = imports.forms_for(request.user)
    if not forms:
        raise PermissionDenied(_("Imports are for clinicians, and for coordinators the eligibility screenings."))
    shown = [*forms, imports.LEVELS] if "pvp_procedure" in forms else forms
    context = {
        "forms": forms,
        "columns": {name: imports.expected_columns(name) for name in shown},
    }
    if request.method == "POST":
        form = request.POST.get("form", "")
        upload = request.FILES.get("file")
        # The PVP levels come with pvp_procedure only; with another form the file is not even read.
        levels_upload = request.FILES.get("levels_file") if form == "pvp_procedure" else None
        refused = imports.refusal(request.user, form)
        if refused:
            problems = [refused]
        elif upload is None:
            problems = [imports.Problem(0, "file", "", "choose a CSV file")]
        else:
            # Each file's size is checked before it is read, and the reading stops at the limit.
            content, problems = imports.read_upload(upload)
            levels, level_problems = (imports.read_upload(levels_upload, prefix=imports.LEVEL_PREFIX)
                                      if levels_upload is not None else (None, []))  # fmt: skip
            problems += level_problems
        if not problems and jobs.jobs_under_way(request.user, "import") >= jobs.MAX_JOBS_AT_ONCE:
            busy = _("you have %(count)s imports under way: wait for one to finish") % {"count": jobs.MAX_JOBS_AT_ONCE}
            problems = [imports.Problem(0, "file", upload.name, busy)]
        if not problems:
            job = jobs.start_import(request.user, form, content, upload.name,
                                    commit=request.POST.get("action") == "commit",
                                    background=settings.JOBS_IN_BACKGROUND, levels=levels)  # fmt: skip
            return redirect("job_page", pk=job.pk)
        context.update(form=form, problems=problems)
    return TemplateResponse(request, "trials/imports.html", context)
