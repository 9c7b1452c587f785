"""Deleting a form or a patient registered in error: a soft delete with a reason, never a hard one.

The page shows what will be deleted and asks why; the row stays in the database and the audit
trail (who, when, why), and leaves every list, count, export and the dashboard.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trials import access, services
from trials.models.base import DELETION_FIELDS
from trials.views.common import DELETABLE_FORMS, can_enter_data, field_value, locked_or_frozen, record_url, require


def form_delete(request, patient_pk, form, pk):
    require(can_enter_data(request.user))
    if form not in DELETABLE_FORMS:
        raise Http404(f"{form}: not a deletable form")
    _model, getter, anchor = DELETABLE_FORMS[form]
    patient = access.get_patient_for_user(request.user, patient_pk)
    record = getter(request.user, pk)
    if record.patient_id != patient.pk:
        raise Http404("This form belongs to another patient.")
    return _confirm_and_delete(request, patient, record, done_url=record_url(patient, anchor))


def patient_delete(request, pk):
    require(can_enter_data(request.user))
    patient = access.get_patient_for_user(request.user, pk)
    return _confirm_and_delete(request, patient, patient, done_url=reverse("patient_list"))


WHAT = gettext_lazy("%(form)s of %(patient)s")


def _confirm_and_delete(request, patient, record, *, done_url: str):
    blocked = locked_or_frozen(patient)
    if blocked:
        messages.error(request, blocked)
        return redirect(record_url(patient))
    what = str(patient) if record is patient else WHAT % {"form": record._meta.verbose_name, "patient": patient}
    error = ""
    reason = request.POST.get("reason", "")
    if request.method == "POST":
        try:
            services.soft_delete(record, user=request.user, reason=reason)
        except ValidationError as refused:
            error = " ".join(refused.messages)
        except IntegrityError as refused:  # locked or frozen between the page and the click
            error = str(refused).splitlines()[0]
        else:
            messages.success(
                request, _("%(what)s deleted. The audit trail keeps it with your reason.") % {"what": what}
            )
            return redirect(done_url)
    context = {
        "patient": patient,
        "record": record,
        "what": what,
        "fields": _summary(record),
        "reason": reason,
        "error": error,
        "cancel_url": record_url(patient),
    }
    return render(request, "trials/delete_form.html", context, status=400 if error else 200)


def _summary(record) -> list[tuple[str, object]]:
    """The record's own values, so the user sees exactly what is being deleted."""
    skip = {"id", "created_at", "updated_at", "version", "patient", "site", *DELETION_FIELDS}
    values = ((str(field.verbose_name), field_value(record, field)) for field in record._meta.concrete_fields
              if field.name not in skip)  # fmt: skip
    return [(label, value) for label, value in values if value not in (None, "", [])]
