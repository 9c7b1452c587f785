"""The casebook of one patient, as a printable page and as a PDF (trials/casebook.py builds both)."""

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from trials import casebook as casebooks
from trials.security import log_identifying_read
from trials.views.common import require_study_role


def casebook(request, pk):
    context = casebook_context(request, pk)
    return TemplateResponse(request, "trials/casebook.html", context)


def casebook_pdf(request, pk):
    """The same casebook as a PDF (reportlab; CJK text in the built-in STSong-Light font)."""
    context = casebook_context(request, pk)
    response = HttpResponse(casebooks.render_pdf(context), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="casebook-{context["patient"]}.pdf"'
    return response


def casebook_context(request, pk) -> dict:
    require_study_role(request.user)
    patient = get_object_or_404(casebooks.patients_of(request.user), pk=pk)
    log_identifying_read(request, [patient.screening_number])  # logged only for those who see identifiers
    return casebooks.patient_casebook(request.user, patient)
