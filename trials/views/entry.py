"""Create and edit views for every study form. Each reads: fetch with access check, form, save."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from trials import access, forms, progress, protocol
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    PainAssessment,
    PvpProcedure,
    QolAssessment,
    Screening,
    TumourResponse,
)
from trials.views.common import (
    can_enter_data,
    can_enter_screening,
    edit_record,
    refuse_untreatable,
    require,
    require_study_role,
)


def _simple(request, patient, instance, form_class, *, title, anchor, context=None, **form_kwargs):
    """A one-model form: build it, hand it to `edit_record`."""

    def build(data, current):
        return form_class(data, instance=current, patient=patient, **form_kwargs), None

    form, _formset = build(request.POST if request.method == "POST" else None, instance)
    return edit_record(request, patient=patient, form=form, title=title, anchor=anchor, context=context, rebuild=build)


def _patient_for_entry(request, patient_pk, allowed=can_enter_data):
    require(allowed(request.user))
    return access.get_patient_for_user(request.user, patient_pk)


# --- screening -------------------------------------------------------------------------------


def screening_form(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk, can_enter_screening)
    screening = Screening.objects.filter(patient=patient).first() or Screening(patient=patient)
    if screening.is_signed:
        messages.error(
            request, _("This screening is signed and read-only: a coordinator must withdraw the signature first.")
        )
        return redirect("screening_review", pk=screening.pk)
    return _simple(
        request,
        patient,
        screening,
        forms.ScreeningForm,
        title=_("Eligibility screening"),
        anchor="screening",
        context={"criteria": protocol.CRITERIA, "screening_result_url": reverse("screening_result", args=[patient.pk]),
                 "screening": screening},
    )  # fmt: skip


# --- PVP with its treated levels -------------------------------------------------------------


def pvp_form(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    procedure = PvpProcedure.objects.filter(patient=patient).first()
    if procedure is None:
        refused = refuse_untreatable(request, patient, _("A PVP procedure"))
        if refused:
            return refused
        procedure = PvpProcedure(patient=patient)

    def build(data, current):
        form = forms.PvpProcedureForm(data, instance=current, patient=patient)
        levels = forms.TreatedLevelFormSet(
            data, instance=current, prefix="levels", fractured_levels=patient.fractured_levels or ()
        )
        return form, levels

    form, formset = build(request.POST if request.method == "POST" else None, procedure)
    return edit_record(
        request,
        patient=patient,
        form=form,
        formset=formset,
        title=_("PVP procedure"),
        anchor="pvp",
        template="trials/pvp_form.html",
        rebuild=build,
    )


# --- infusions -------------------------------------------------------------------------------


def infusion_create(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    refused = refuse_untreatable(request, patient, _("An infusion"))
    if refused:
        return refused
    return _infusion(request, patient, Infusion(patient=patient))


def infusion_edit(request, patient_pk, pk):
    patient = _patient_for_entry(request, patient_pk)
    return _infusion(request, patient, _child(access.get_infusion_for_user(request.user, pk), patient))


def _infusion(request, patient, infusion):
    return _simple(
        request,
        patient,
        infusion,
        forms.InfusionForm,
        title=_("Zoledronic acid infusion"),
        anchor="infusions",
        context={"crcl": crcl_panel_context(patient, infusion)},
        crcl_url=reverse("crcl_panel", args=[patient.pk]),
    )


def crcl_panel(request, patient_pk):
    """htmx fragment: Cockcroft-Gault clearance and label dose for the values being typed."""
    require_study_role(request.user)  # it shows the patient's age, sex and weight
    patient = access.get_patient_for_user(request.user, patient_pk)
    form = forms.InfusionForm(request.GET, instance=Infusion(patient=patient), patient=patient)
    form.is_valid()  # only to parse the typed values; errors are shown when the form is saved
    infusion = Infusion(patient=patient)
    for name in ("infused_on", "status", "creatinine_umol_l", "dose_mg", "duration_min"):
        setattr(infusion, name, form.cleaned_data.get(name))
    return render(request, "trials/_crcl_panel.html", {"crcl": crcl_panel_context(patient, infusion)})


def crcl_panel_context(patient, infusion) -> dict:
    # A copy: the form's own instance must keep the date empty until the user types one.
    infused_on = infusion.infused_on or timezone.localdate()
    status, duration_min = infusion.status or Infusion.Status.GIVEN, infusion.duration_min
    infusion = Infusion(
        patient=patient,
        status="given",
        infused_on=infused_on,
        creatinine_umol_l=infusion.creatinine_umol_l,
        dose_mg=infusion.dose_mg,
    )
    return {
        "age": protocol.age_on(patient.date_of_birth, infused_on),
        "sex": patient.get_sex_display(),
        "weight_kg": patient.weight_kg,
        "creatinine": infusion.creatinine_umol_l,
        "crcl": infusion.crcl_ml_min,
        "label_dose": infusion.label_dose_mg,
        "dose": infusion.dose_mg,
        "dose_differs": infusion.crcl_ml_min is not None
        and infusion.dose_mg is not None
        and infusion.dose_mg != infusion.label_dose_mg,
        # Warned while typing, not only in the record's deviations after saving.
        "too_short": status == Infusion.Status.GIVEN
        and duration_min is not None
        and duration_min < protocol.MINIMUM_INFUSION_MINUTES,
        "duration_min": duration_min,
        "minimum_minutes": protocol.MINIMUM_INFUSION_MINUTES,
    }


# --- labs, pain, QoL: one per timepoint ------------------------------------------------------


def _timepoint_initial(request) -> dict:
    timepoint = request.GET.get("timepoint")
    return {"timepoint": timepoint} if timepoint in protocol.Timepoint.values else {}


def lab_draw_create(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    return _lab_draw(request, patient, LabDraw(patient=patient))


def lab_draw_edit(request, patient_pk, pk):
    patient = _patient_for_entry(request, patient_pk)
    return _lab_draw(request, patient, _child(access.get_lab_draw_for_user(request.user, pk), patient))


def _lab_draw(request, patient, draw):
    def build(data, current):
        form = forms.LabDrawForm(data, instance=current, patient=patient, initial=_timepoint_initial(request))
        return form, None

    form, _formset = build(request.POST if request.method == "POST" else None, draw)
    return edit_record(
        request,
        patient=patient,
        form=form,
        title=_("Laboratory results"),
        anchor="labs",
        template="trials/lab_form.html",
        rebuild=build,
    )


def pain_create(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    return _pain(request, patient, PainAssessment(patient=patient))


def pain_edit(request, patient_pk, pk):
    patient = _patient_for_entry(request, patient_pk)
    return _pain(request, patient, _child(access.get_pain_assessment_for_user(request.user, pk), patient))


def _pain(request, patient, pain):
    return _simple(
        request,
        patient,
        pain,
        forms.PainAssessmentForm,
        title=_("Pain (WHO grade)"),
        anchor="pain",
        initial=_timepoint_initial(request),
    )


def qol_create(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    return _qol(request, patient, QolAssessment(patient=patient))


def qol_edit(request, patient_pk, pk):
    patient = _patient_for_entry(request, patient_pk)
    return _qol(request, patient, _child(access.get_qol_assessment_for_user(request.user, pk), patient))


def _qol(request, patient, qol):
    return _simple(
        request,
        patient,
        qol,
        forms.QolAssessmentForm,
        title=_("Quality of life"),
        anchor="qol",
        context={"qol_total": qol.total},
        initial=_timepoint_initial(request),
    )


# --- response, adverse events, end of study --------------------------------------------------


def response_form(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    response = TumourResponse.objects.filter(patient=patient).first()
    if response is None:
        refused = refuse_untreatable(request, patient, _("A tumour response"))
        if refused:
            return refused
        response = TumourResponse(patient=patient)
    loaded = progress.with_progress_data(access.patients_for_user(request.user)).get(pk=patient.pk)
    baseline, follow_up = progress.m_protein(loaded, "baseline"), progress.m_protein(loaded, "follow_up")
    if request.method == "GET" and request.GET.get("preview") == "ebmt":
        # htmx, as the category or the marrow and immunofixation results are chosen: the suggestion
        # and any disagreement with the clinician's category before saving.
        typed = forms.TumourResponseForm(request.GET, instance=response, patient=patient)
        typed.is_valid()  # only to read the values; errors are shown when the form is saved
        return render(request, "trials/_ebmt_suggestion.html", _ebmt_context(typed.instance, baseline, follow_up))
    return _simple(
        request,
        patient,
        response,
        forms.TumourResponseForm,
        title=_("EBMT tumour response"),
        anchor="response",
        context={"show_ebmt": True, **_ebmt_context(response, baseline, follow_up)},
    )


def _ebmt_context(response, baseline, follow_up) -> dict:
    suggestion = response.suggested_category(baseline, follow_up)
    return {
        "m_protein_baseline": baseline,
        "m_protein_follow_up": follow_up,
        "suggestion": suggestion,
        "disagrees": bool(suggestion and response.category and suggestion != response.category),
    }


def adverse_event_create(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    return _adverse_event(request, patient, AdverseEvent(patient=patient))


def adverse_event_edit(request, patient_pk, pk):
    patient = _patient_for_entry(request, patient_pk)
    return _adverse_event(request, patient, _child(access.get_adverse_event_for_user(request.user, pk), patient))


def _adverse_event(request, patient, event):
    return _simple(request, patient, event, forms.AdverseEventForm, title=_("Adverse event"), anchor="adverse-events")


def end_of_study_form(request, patient_pk):
    patient = _patient_for_entry(request, patient_pk)
    end = EndOfStudy.objects.filter(patient=patient).first() or EndOfStudy(patient=patient)
    return _simple(request, patient, end, forms.EndOfStudyForm, title=_("End of study"), anchor="end-of-study")


def _child(record, patient):
    """A record reached through another patient's URL is not found (no mixing of patients)."""
    if record.patient_id != patient.pk:
        raise Http404
    return record
