"""The patient list and the patient record."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from trials import access, data_review, flow, forms, labels, progress, protocol, rules
from trials.models import Patient
from trials.roles import COORDINATOR, DATA_MANAGER, has_role
from trials.services import register_patient
from trials.views.common import (
    can_enter_data,
    can_enter_screening,
    edit_record,
    record_url,
    require,
    require_study_role,
)

PAGE_SIZE = 25


def patient_list(request):
    require_study_role(request.user)
    patients = progress.with_status(access.patients_for_user(request.user))
    filters = {
        "q": request.GET.get("q", "").strip(),
        "site": request.GET.get("site", ""),
        "status": request.GET.get("status", ""),
        "isotype": request.GET.get("isotype", ""),
    }
    if filters["q"]:
        patients = patients.filter(Q(screening_number__icontains=filters["q"]) | Q(study_id__icontains=filters["q"]))
    if filters["site"]:
        patients = patients.filter(site__code=filters["site"])
    if filters["status"]:
        patients = patients.filter(status=filters["status"])
    if filters["isotype"]:
        patients = patients.filter(isotype=filters["isotype"])
    counts = flow.cohort_counts(patients)
    patients = progress.with_progress_data(patients).order_by("site__code", "screening_number")
    page = Paginator(patients, PAGE_SIZE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    rows = [(patient, progress.patient_progress(patient, today)) for patient in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return TemplateResponse(
        request,
        "trials/patient_list.html",
        {
            "rows": rows,
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "sites": access.sites_for_user(request.user),
            "statuses": progress.STATUS_LABELS.items(),
            "isotypes": Patient.Isotype.choices,
            "can_enter_data": can_enter_data(request.user),
            "counts": counts,
        },
    )


def patient_record(request, pk):
    require_study_role(request.user)
    patients = progress.with_progress_data(progress.with_status(access.patients_for_user(request.user)))
    patient = get_object_or_404(patients, pk=pk)
    labs = progress.by_timepoint(patient.lab_draws.all())
    pains = progress.by_timepoint(patient.pain_assessments.all())
    qols = progress.by_timepoint(patient.qol_assessments.all())
    timepoints = [
        {
            "code": code,
            "label": protocol.Timepoint(code).label,
            "lab": labs.get(code),
            "lab_state": progress.lab_completeness(labs.get(code)),
            "pain": pains.get(code),
            "qol": qols.get(code),
        }
        for code in protocol.ASSESSMENT_TIMEPOINTS
    ]
    return TemplateResponse(
        request,
        "trials/patient_record.html",
        {
            "patient": patient,
            "progress": progress.patient_progress(patient, timezone.localdate()),
            "screening": getattr(patient, "screening", None),
            "screening_state": progress.screening_completeness(patient),
            "pvp": getattr(patient, "pvp_procedure", None),
            "infusions": progress.infusion_rows(patient),
            "planned_cycles": protocol.PLANNED_CYCLES,
            "timepoints": timepoints,
            "response": getattr(patient, "tumour_response", None),
            "ebmt_suggestion": progress.ebmt_suggestion(patient),
            "ebmt_disagrees": progress.ebmt_disagrees(patient),
            "adverse_events": patient.adverse_events.all(),
            "end_of_study": getattr(patient, "end_of_study", None),
            "treatment_allowed": rules.treatment_is_allowed(patient),
            "can_enter_data": can_enter_data(request.user),
            "can_enter_screening": can_enter_screening(request.user),
            "open_queries": patient.open_queries,
            "review_forms": _review_forms(patient),
            "lab_results": [result for draw in patient.lab_draws.all() for result in draw.results.all()],
            "is_coordinator": has_role(request.user, COORDINATOR),
            "is_data_manager": has_role(request.user, DATA_MANAGER),
        },
    )


def _review_forms(patient) -> list[dict]:
    keys = data_review.verified_keys(patient)
    return [
        {
            "key": f"{data_review.record_type_of(record)}:{record.pk}",
            "version": record.version,
            "label": labels.form_title(record),
            "verified": data_review.is_verified(record, keys),
        }
        for record in data_review.patient_forms(patient)
    ]


def patient_create(request):
    require(can_enter_data(request.user))
    since = data_review.frozen_since()
    if since is not None:
        messages.error(request, _("The study is frozen since %(since)s: no data can change.") % {"since": since})
        return redirect("patient_list")
    form = forms.PatientForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        fields = {name: value for name, value in form.cleaned_data.items() if name != "version"}
        patient = register_patient(**fields, user=request.user)
        return redirect(record_url(patient))
    return TemplateResponse(
        request, "trials/record_form.html", {"form": form, "title": _("New patient"), "cancel_url": "/"}
    )


def patient_edit(request, pk):
    require(can_enter_data(request.user))
    patient = access.get_patient_for_user(request.user, pk)

    def build(data, current):
        return forms.PatientForm(data, instance=current, user=request.user), None

    form, _formset = build(request.POST if request.method == "POST" else None, patient)
    return edit_record(request, patient=patient, form=form, title=_("Patient details"), anchor="", rebuild=build)
