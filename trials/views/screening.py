"""Coordinator workflow: the review queue, review and e-signature, the screening log and flow."""

from datetime import date

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from trials import access, enrolment, flow, forms, protocol
from trials.models import Screening
from trials.views.common import locked_or_frozen, require_study_role


def review_queue(request):
    """Screenings with every answer given and no signature yet, oldest first."""
    require_study_role(request.user)
    screenings = (
        Screening.objects.filter(patient__in=access.patients_for_user(request.user), signed_at__isnull=True)
        .select_related("patient__site")
        .order_by("screened_on", "created_at")
    )
    waiting = [screening for screening in screenings if screening.eligible is not None]
    incomplete = [screening for screening in screenings if screening.eligible is None]
    return TemplateResponse(request, "trials/review_queue.html", {"waiting": waiting, "incomplete": incomplete})


def review(request, pk):
    require_study_role(request.user)
    screening = access.get_screening_for_user(request.user, pk)
    patient = screening.patient
    if request.method == "POST":
        if not enrolment.may_sign(request.user):
            raise PermissionDenied(_("Only a coordinator may sign or withdraw a signature."))
        blocked = locked_or_frozen(patient)
        if blocked:
            messages.error(request, blocked)
            return redirect("screening_review", pk=screening.pk)
        if request.POST.get("action") == "withdraw":
            reason = request.POST.get("reason", "").strip()
            if not reason:
                messages.error(request, _("Give a reason to withdraw the signature."))
            else:
                enrolment.withdraw_signature(screening, user=request.user, reason=reason)
                messages.success(request, _("Signature withdrawn. The screening can be corrected and signed again."))
            return redirect("screening_review", pk=screening.pk)
        try:
            reviewed_version = int(request.POST.get("version", ""))
        except ValueError:
            reviewed_version = -1  # the form always sends it; without it nothing can be signed
        stored_hash = request.user.password
        result = enrolment.sign_screening(
            screening, signer=request.user, password=request.POST.get("password", ""),
            remote_addr=request.META.get("REMOTE_ADDR"), reviewed_version=reviewed_version, request=request,
        )  # fmt: skip
        if request.user.password != stored_hash:
            # The check re-hashed an older (PBKDF2) password with Argon2id; the session is bound to the
            # hash, so without this the coordinator would be logged out on the next page.
            update_session_auth_hash(request, request.user)
        (messages.success if result.signed else messages.error)(request, result.message)
        return redirect("screening_review", pk=screening.pk)
    screening.refresh_from_db()
    return TemplateResponse(
        request,
        "trials/screening_review.html",
        {
            "screening": screening,
            "patient": patient,
            "rows": _checklist(screening),
            "may_sign": enrolment.may_sign(request.user),
            "attempts": screening.signature_attempts.select_related("user")[:10],
        },
    )


def _checklist(screening):
    rows = []
    for criterion in protocol.CRITERIA:
        answer = screening.criteria[criterion.code]
        failed = answer not in (protocol.Answer.UNKNOWN, criterion.required_answer)
        rows.append({"criterion": criterion, "answer": answer, "failed": failed})
    return rows


def screening_result(request, patient_pk):
    """htmx fragment: the protocol's verdict on the answers being typed (nothing is saved)."""
    require_study_role(request.user)
    patient = access.get_patient_for_user(request.user, patient_pk)
    screening = Screening.objects.filter(patient=patient).first() or Screening(patient=patient)
    form = forms.ScreeningForm(request.GET, instance=screening, patient=patient)
    form.is_valid()
    screening.kps = form.cleaned_data.get("kps")  # 0 is a score, not a missing value
    for name in ("life_expectancy_over_90_days", "i1", "i2", "i3", "i5", "e1", "e2", "e3", "e4", "e5"):
        setattr(screening, name, form.cleaned_data.get(name) or "unknown")
    return TemplateResponse(request, "trials/_screening_result.html", {"screening": screening})


def screening_log(request):
    require_study_role(request.user)
    patients = flow.with_flow_data(access.patients_for_user(request.user).filter(screening__isnull=False))
    filters = {key: request.GET.get(key, "") for key in ("site", "result", "from", "to")}
    if filters["site"]:
        patients = patients.filter(site__code=filters["site"])
    for key, lookup in (("from", "screening__screened_on__gte"), ("to", "screening__screened_on__lte")):
        try:
            if filters[key]:
                patients = patients.filter(**{lookup: date.fromisoformat(filters[key])})
        except ValueError:
            messages.error(request, _("%(value)s is not a date (use YYYY-MM-DD).") % {"value": filters[key]})
    rows = []
    for patient in patients.order_by("screening__screened_on", "screening_number"):
        result = flow.screening_result(patient)
        if filters["result"] and result != filters["result"]:
            continue
        status = _("enrolled") if patient.is_enrolled else (
            _("screen failure") if patient.screening.is_signed else _("awaiting review")
        )  # fmt: skip
        failed = [protocol.CRITERIA_BY_CODE[code] for code in patient.screening.failed_criteria]
        rows.append({"patient": patient, "result": result, "status": status, "failed": failed})
    return TemplateResponse(
        request,
        "trials/screening_log.html",
        {"rows": rows, "filters": filters, "sites": access.sites_for_user(request.user),
         "results": [("eligible", _("eligible")), ("ineligible", _("ineligible")), ("incomplete", _("incomplete"))]},
    )  # fmt: skip


def flow_diagram(request):
    require_study_role(request.user)
    site = request.GET.get("site", "")
    patients = access.patients_for_user(request.user)
    if site:
        patients = patients.filter(site__code=site)
    diagram = flow.screening_flow(flow.with_flow_data(patients))
    return TemplateResponse(
        request, "trials/flow.html", {"flow": diagram, "site": site, "sites": access.sites_for_user(request.user)}
    )
