"""Study exports for investigators and data managers; identifiable ones for data managers, with a reason."""

import json
from datetime import UTC

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from trials import access, audit_view, data_review, exports, jobs, tables
from trials.audit import change_context
from trials.models import ExportLog
from trials.models.base import REASON_MAX_CHARS
from trials.roles import DATA_MANAGER, export_refusal, has_role


def export_page(request):
    refusal = export_refusal(request.user, identifiable=False)
    if refusal:
        raise PermissionDenied(refusal)
    if request.method == "POST":
        fmt = request.POST.get("format", "")
        identifiable = request.POST.get("identifiable") == "on"
        reason = request.POST.get("reason", "").strip()
        language = request.POST.get("language", "en")
        if fmt not in exports.FORMATS:
            messages.error(request, _("Choose a format."))
            return redirect("exports")
        if language not in exports.LANGUAGES:
            messages.error(request, _("Choose the language of the labels: en or zh."))
            return redirect("exports")
        refusal = export_refusal(request.user, identifiable=identifiable)
        if refusal:
            raise PermissionDenied(refusal)
        if identifiable and not reason:
            messages.error(request, _("Give the reason for an identifiable export."))
            return redirect("exports")
        if len(reason) > REASON_MAX_CHARS:
            messages.error(request, _("The reason has %(length)s characters: at most %(limit)s are kept.")
                           % {"length": len(reason), "limit": REASON_MAX_CHARS})  # fmt: skip
            return redirect("exports")
        shift_dates, drop_free_text = (
            request.POST.get("shift_dates") == "on",
            request.POST.get("drop_free_text") == "on",
        )
        problem = exports.archive.option_problem(fmt, identifiable=identifiable, shift_dates=shift_dates,
                                                 drop_free_text=drop_free_text)  # fmt: skip
        if problem:
            messages.error(request, problem)
            return redirect("exports")
        if jobs.exports_under_way(request.user) >= jobs.MAX_EXPORTS_AT_ONCE:
            messages.error(request, _("You have %(count)s exports under way: wait for one to finish.")
                           % {"count": jobs.MAX_EXPORTS_AT_ONCE})  # fmt: skip
            return redirect("exports")
        job = jobs.start_export(
            request.user, fmt, identifiable=identifiable, reason=reason, language=language,
            audit=request.POST.get("without_audit") != "on", shift_dates=shift_dates, drop_free_text=drop_free_text,
            background=settings.JOBS_IN_BACKGROUND,
        )  # fmt: skip
        return redirect("job_page", pk=job.pk)
    return TemplateResponse(
        request,
        "trials/exports.html",
        {"is_data_manager": has_role(request.user, DATA_MANAGER),
         "frozen_since": data_review.frozen_since(), "recent": _recent_exports(request.user),
         "language": "zh" if (request.LANGUAGE_CODE or "").startswith("zh") else "en"},
    )  # fmt: skip


def _recent_exports(user):
    """Exports by users of the viewer's sites: another site's exports and their reasons are that site's business."""
    own_sites = access.sites_for_user(user).values("pk")
    return ExportLog.objects.filter(user__sites__in=own_sites).distinct().select_related("user")[:10]


def audit_trail_csv(request):
    """The audit trail of the user's sites as CSV (data managers): time, action, record, who, why, changes.

    Every event, those of deleted records too; the last columns say whether the record was deleted
    (itself, the form it is part of, or its patient), which one, when, by whom and why."""
    if not has_role(request.user, DATA_MANAGER):
        raise PermissionDenied(_("The audit trail export is for data managers."))
    events = access.audit_events_for_user(request.user).order_by("pgh_created_at", "pgh_id")
    header = ["time_utc", "action", "record", "record_id", "user", "reason", "url", "changes",
              *audit_view.DELETION_COLUMNS]  # fmt: skip
    rows = []
    for event in events.iterator():
        context = event.pgh_context or {}
        rows.append([
            event.pgh_created_at.astimezone(UTC).isoformat(), event.pgh_label, event.pgh_obj_model, event.pgh_obj_id,
            context.get("username", context.get("user", "")), context.get("reason", ""), context.get("url", ""),
            json.dumps(event.pgh_diff or event.pgh_data, ensure_ascii=False, default=str),
            *audit_view.deletion_columns(event),
        ])  # fmt: skip
    with change_context(user=request.user, reason="audit trail exported"):
        ExportLog.objects.create(user=request.user, file_format="audit-csv", identifiable=False)
    response = HttpResponse(tables.as_csv(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="pvp-audit-trail.csv"'
    return response
