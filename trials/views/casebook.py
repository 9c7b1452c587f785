"""The casebook: every form of one patient with its flags, signature, queries and audit summary,
as a printable page (the human-readable copy inspectors ask for)."""

from collections import defaultdict

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from pghistory.models import Events

from trials import access, data_review, progress
from trials.roles import ROLES, has_role


def _display(record, field):
    getter = getattr(record, f"get_{field.name}_display", None)
    value = getter() if getter else getattr(record, field.name)
    return "—" if value in (None, "") else value


def _rows(record):
    return [
        (str(field.verbose_name), _display(record, field))
        for field in record._meta.concrete_fields
        if field.name not in {"id", "patient", "procedure", "lab_draw", "site"} and not field.is_relation
    ]


def casebook(request, pk):
    if not has_role(request.user, *ROLES):
        raise PermissionDenied
    patients = progress.with_progress_data(progress.with_status(access.patients_for_user(request.user)))
    patient = get_object_or_404(patients, pk=pk)
    forms = data_review.patient_forms(patient)
    children = []
    pvp = getattr(patient, "pvp_procedure", None)
    if pvp is not None:
        children += list(pvp.levels.all())
    for draw in patient.lab_draws.all():
        children += list(draw.results.all())
    keys = data_review.verified_keys(patient)
    history = defaultdict(list)
    by_model = defaultdict(list)
    for record in forms + children:
        by_model[record._meta.label].append(str(record.pk))
    for label, ids in by_model.items():
        events = Events.objects.filter(pgh_obj_model=label, pgh_obj_id__in=ids).order_by("pgh_created_at")
        for event in events:
            history[(label, event.pgh_obj_id)].append(event)
    sections = []
    for record in forms + children:
        events = history[(record._meta.label, str(record.pk))]
        last = events[-1] if events else None
        sections.append({
            "title": f"{record._meta.verbose_name}: {record}",
            "rows": _rows(record),
            "verified": data_review.is_verified(record, keys) if record in forms else None,
            "changes": len(events),
            "last": last,
            "last_context": (last.pgh_context or {}) if last else {},
        })  # fmt: skip
    return TemplateResponse(
        request,
        "trials/casebook.html",
        {"patient": patient, "sections": sections, "progress": progress.patient_progress(patient, timezone.localdate()),
         "queries": patient.data_queries.select_related("raised_by", "answered_by").order_by("raised_at"),
         "infusions": progress.infusion_rows(patient), "printed_at": timezone.now()},
    )  # fmt: skip
