"""Shared by the data-entry views: who may write, and the one way a form is saved."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from trials import access, data_review, rules, services
from trials.models import AdverseEvent, Infusion, LabDraw, PainAssessment, Patient, PatientLock, QolAssessment
from trials.roles import CLINICIAN, COORDINATOR, ROLES, has_role


def require_study_role(user) -> None:
    """Pages any of the four study roles may read (and nobody else)."""
    if not has_role(user, *ROLES):
        raise PermissionDenied(_("These pages are for study staff."))


def can_enter_data(user) -> bool:
    return has_role(user, CLINICIAN)


def can_enter_screening(user) -> bool:
    return has_role(user, CLINICIAN, COORDINATOR)


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(_("Your role does not allow changing study data."))


def field_value(record, field):
    """A field's value as a person reads it: the choice's label, not the stored code."""
    getter = getattr(record, f"get_{field.name}_display", None)
    return getter() if getter else getattr(record, field.name)


def record_url(patient, anchor: str = "") -> str:
    url = reverse("patient_record", args=[patient.pk])
    return f"{url}#{anchor}" if anchor else url


def locked_or_frozen(patient) -> str:
    """Why the patient's data cannot change now, or "" (the database enforces it in any case)."""
    since = data_review.frozen_since()
    if since is not None:
        return _("The study is frozen since %(since)s: no data can change.") % {
            "since": since.strftime("%Y-%m-%d %H:%M")
        }
    if PatientLock.objects.filter(patient_id=patient.pk).exists():
        return _("This patient record is locked: a data manager must unlock it before any change.")
    return ""


def refuse_untreatable(request, patient, what: str):
    """The treatment gate, before the form is even shown (the model refuses it again on save)."""
    if rules.treatment_is_allowed(patient):
        return None
    messages.error(
        request,
        _("%(what)s cannot be entered for %(patient)s yet: it needs an eligibility screening signed by a coordinator.")
        % {"what": what, "patient": patient},
    )
    return redirect(record_url(patient))


def edit_record(
    request,
    *,
    patient,
    form,
    title: str,
    anchor: str,
    template: str = "trials/record_form.html",
    formset=None,
    context=None,
    rebuild=None,
):
    """Validate, save with reason and version check, redirect to the record; or show the form again.

    `formset` holds the record's parts (treated levels). `rebuild(data)` makes a fresh bound form
    and formset from data, used after an edit conflict to offer the user's values again on top
    of the current version.
    """
    blocked = locked_or_frozen(patient)
    if blocked:
        messages.error(request, blocked)
        return redirect(record_url(patient, anchor))
    conflict = None
    if request.method == "POST" and form.is_valid() and (formset is None or formset.is_valid()):
        record = form.save(commit=False)
        save_parts = getattr(form, "save_parts", None)
        if formset is not None:

            def save_parts(saved):
                formset.instance = saved
                formset.save()

        try:
            services.save_record(
                record,
                user=request.user,
                reason=form.reason,
                expected_version=form.expected_version,
                save_parts=save_parts,
            )
        except services.EditConflict as error:
            conflict = error
            data = request.POST.copy()
            data["version"] = error.current.version
            form, formset = rebuild(data, error.current)
            form.is_valid()
        except IntegrityError as error:
            form.add_error(None, _("Not saved: %(error)s") % {"error": str(error).splitlines()[0]})
        else:
            messages.success(request, _("%(title)s saved.") % {"title": title})
            return redirect(record_url(patient, anchor))
    context = {
        "patient": patient,
        "form": form,
        "formset": formset,
        "title": title,
        "conflict": conflict,
        "cancel_url": record_url(patient, anchor),
        "delete_url": delete_url_for(form.instance if form.instance.pk else None),
        **(context or {}),
    }
    return render(request, template, context, status=409 if conflict else 200)


# --- deletion (the pages are in views/deletion.py) -----------------------------------------------

# URL slug -> (model, site-scoped getter, the record page's anchor). The slugs are the edit pages'.
DELETABLE_FORMS = {
    "infusions": (Infusion, access.get_infusion_for_user, "infusions"),
    "labs": (LabDraw, access.get_lab_draw_for_user, "labs"),
    "pain": (PainAssessment, access.get_pain_assessment_for_user, "pain"),
    "qol": (QolAssessment, access.get_qol_assessment_for_user, "qol"),
    "adverse-events": (AdverseEvent, access.get_adverse_event_for_user, "adverse-events"),
}
SLUG_OF_MODEL = {model: slug for slug, (model, _getter, _anchor) in DELETABLE_FORMS.items()}


def delete_url_for(record) -> str:
    """The delete page of a saved record, or "" when it cannot be deleted."""
    if record is None or record.pk is None:
        return ""
    if isinstance(record, Patient):
        return reverse("patient_delete", args=[record.pk]) if rules.patient_may_be_deleted(record) else ""
    slug = SLUG_OF_MODEL.get(type(record))
    return reverse("form_delete", args=[record.patient_id, slug, record.pk]) if slug else ""
