"""Pages for data review: queries, source-data verification, locks and the study freeze."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from trials import access, data_review, labels
from trials.models import DataQuery
from trials.roles import COORDINATOR, DATA_MANAGER, has_role
from trials.views.common import record_url, require_study_role


def query_fields(record_type: str) -> list[tuple[str, str]]:
    """(name, label) of the fields a query may ask about, labelled in the user's language."""
    model = data_review.RECORD_MODELS[record_type]
    return [
        (name, labels.field_label(model._meta.get_field(name)))
        for name, _label in data_review.queryable_fields(record_type)
    ]


def _queries_for(user):
    return DataQuery.objects.filter(patient__in=access.patients_for_user(user)).select_related(
        "patient", "raised_by", "answered_by"
    )


def query_list(request):
    require_study_role(request.user)
    status = request.GET.get("status", "open")
    queries = _queries_for(request.user)
    if status in DataQuery.Status.values:
        queries = queries.filter(status=status)
    title = _("My open queries") if has_role(request.user, "clinician") and status == "open" else _("Data queries")
    return TemplateResponse(
        request, "trials/query_list.html",
        {"queries": queries.order_by("raised_at"), "status": status, "statuses": DataQuery.Status.choices,
         "title": title},
    )  # fmt: skip


def query_create(request):
    record = data_review.visible_record(request.user, request.GET.get("record", ""))
    record_type = data_review.record_type_of(record)
    error = ""
    if request.method == "POST":
        try:
            query = data_review.raise_query(
                user=request.user, record=record, field=request.POST.get("field", ""),
                question=request.POST.get("question", ""),
            )  # fmt: skip
        except data_review.ReviewRefused as refused:
            error = str(refused)
        else:
            messages.success(request, _("Query raised."))
            return redirect(record_url(query.patient, "review"))
    if not has_role(request.user, COORDINATOR):
        raise PermissionDenied
    return TemplateResponse(
        request, "trials/query_form.html",
        {"record": record, "record_type": record_type, "fields": query_fields(record_type),
         "patient": data_review.patient_of(record), "error": error, "selected": request.GET.get("field", "")},
    )  # fmt: skip


def query_detail(request, pk):
    require_study_role(request.user)
    query = get_object_or_404(_queries_for(request.user), pk=pk)
    record = data_review.get_record(query.record_type, query.record_id)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "answer":
                data_review.answer_query(user=request.user, query=query, answer=request.POST.get("answer", ""))
            elif action == "close":
                data_review.close_query(user=request.user, query=query)
            elif action == "reopen":
                data_review.reopen_query(user=request.user, query=query, reason=request.POST.get("reason", ""))
            else:
                raise Http404
        except data_review.ReviewRefused as refused:
            messages.error(request, str(refused))
        return redirect("query_detail", pk=query.pk)
    return TemplateResponse(
        request, "trials/query_detail.html",
        {"query": query, "record": record, "patient": query.patient,
         "current_value": getattr(record, query.field, None) if record else None,
         "edit_url": _edit_url(query, record), "is_coordinator": has_role(request.user, COORDINATOR),
         "is_clinician": has_role(request.user, "clinician")},
    )  # fmt: skip


def _edit_url(query, record):
    """Where the clinician corrects the queried value (with a reason for change)."""
    from django.urls import reverse

    patient = query.patient.pk
    routes = {
        "patient": ("patient_edit", [patient]), "screening": ("screening_form", [patient]),
        "pvpprocedure": ("pvp_form", [patient]), "infusion": ("infusion_edit", [patient, query.record_id]),
        "labdraw": ("lab_draw_edit", [patient, query.record_id]),
        "painassessment": ("pain_edit", [patient, query.record_id]),
        "qolassessment": ("qol_edit", [patient, query.record_id]), "tumourresponse": ("response_form", [patient]),
        "adverseevent": ("adverse_event_edit", [patient, query.record_id]),
        "endofstudy": ("end_of_study_form", [patient]),
    }  # fmt: skip
    if query.record_type == "treatedlevel":
        return reverse("pvp_form", args=[patient])
    if query.record_type == "labresult" and record is not None:
        return reverse("lab_draw_edit", args=[patient, record.lab_draw_id])
    name, args = routes.get(query.record_type, ("patient_record", [patient]))
    return reverse(name, args=args)


@require_POST
def verify(request):
    record = data_review.visible_record(request.user, request.POST.get("record", ""))
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        messages.error(request, _("Send the version of the form you checked."))
        return redirect(record_url(data_review.patient_of(record), "review"))
    try:
        data_review.verify(user=request.user, record=record, reviewed_version=version)
    except data_review.VersionChanged as changed:
        messages.error(request, str(changed))
    except data_review.ReviewRefused as refused:
        raise PermissionDenied(str(refused)) from None
    return redirect(record_url(data_review.patient_of(record), "review"))


@require_POST
def lock(request, patient_pk):
    if not has_role(request.user, DATA_MANAGER):
        raise PermissionDenied
    patient = access.get_patient_for_user(request.user, patient_pk)
    try:
        if request.POST.get("action") == "unlock":
            data_review.unlock_patient(user=request.user, patient=patient, reason=request.POST.get("reason", ""))
            messages.success(request, _("Record unlocked."))
        else:
            loaded = (
                access.patients_for_user(request.user)
                .prefetch_related(
                    "infusions", "lab_draws", "pain_assessments", "qol_assessments", "adverse_events", "verifications"
                )
                .select_related("screening", "pvp_procedure", "tumour_response", "end_of_study")
                .get(pk=patient.pk)
            )
            data_review.lock_patient(user=request.user, patient=loaded)
            messages.success(request, _("Record locked."))
    except data_review.ReviewRefused as refused:
        messages.error(request, str(refused))
    return redirect(record_url(patient, "review"))


def freeze(request):
    """The whole study (a data manager of every site) or one of one's own sites, frozen or unfrozen."""
    if not has_role(request.user, DATA_MANAGER):
        raise PermissionDenied
    if request.method == "POST":
        action, code = request.POST.get("action"), request.POST.get("site", "")
        reason = request.POST.get("reason", "")
        try:
            if code:
                site = get_object_or_404(access.sites_for_user(request.user), code=code)
                if action == "unfreeze":
                    data_review.unfreeze_site(user=request.user, site=site, reason=reason)
                    messages.success(
                        request, _("Site %(site)s is unfrozen: its data can change again.") % {"site": code}
                    )
                else:
                    data_review.freeze_site(user=request.user, site=site)
                    messages.success(
                        request, _("Site %(site)s is frozen: none of its data can change.") % {"site": code}
                    )
            elif action == "unfreeze":
                data_review.unfreeze_study(user=request.user, reason=reason)
                messages.success(request, _("The study is unfrozen: data can change again."))
            else:
                data_review.freeze_study(user=request.user)
                messages.success(request, _("The study is frozen: no data can change."))
        except data_review.ReviewRefused as refused:
            messages.error(request, str(refused))
        return redirect("study_freeze")
    return TemplateResponse(request, "trials/freeze.html", {
        "frozen_since": data_review.frozen_since(), "study_wide": data_review.runs_every_site(request.user),
        "sites": data_review.site_freezes(request.user),
    })  # fmt: skip
