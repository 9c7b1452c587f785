"""A patient's casebook: every form with its flags, signature, queries and audit summary, as the page
shows it and as a PDF (the human-readable copy inspectors ask for). The page and the PDF of one patient
are trials/views/casebook.py; every patient's PDF in one zip is an export (trials/exports/casebooks.py),
run as a task of the queue.
"""

import io
from collections import defaultdict
from datetime import UTC, date, datetime
from xml.sax.saxutils import escape

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from pghistory.models import Events

from trials import access, data_review, labels, progress
from trials.import_cases import TRANSCRIBED
from trials.roles import IDENTIFYING_FIELDS, may_see_identifying
from trials.views.common import DELETABLE_FORMS, field_value


def patients_of(user):
    """The patients whose casebooks `user` may read, with what the casebook needs of their progress."""
    return progress.with_progress_data(progress.with_status(access.patients_for_user(user)))


def _display(record, field):
    """A value as a reader of the casebook reads it: labels for codes, yes / no, dates in the format of
    every page (ISO 8601, config/formats)."""
    value = field_value(record, field)
    if value in (None, ""):
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        return date_format(timezone.localtime(value), "DATETIME_FORMAT")
    if isinstance(value, date):
        return date_format(value, "DATE_FORMAT")
    if field.name == "analyte":
        return labels.analyte_label(record.analyte)
    return value


def _rows(record, *, identifying: bool):
    """The record's values; a patient's date of birth, hospital number and initials only for those
    who may see them (roles.may_see_identifying)."""
    hidden = {"id", "patient", "procedure", "lab_draw", "site"} | (set() if identifying else set(IDENTIFYING_FIELDS))
    return [
        (labels.field_label(field), _display(record, field))
        for field in record._meta.concrete_fields
        if field.name not in hidden and not field.is_relation
    ]


def deleted_forms(patient) -> list:
    """Forms deleted with a reason: inspectors must see that they existed, when and why they went."""
    deleted = []
    for model, _getter, _anchor in DELETABLE_FORMS.values():
        rows = model.all_objects.filter(patient=patient, deleted_at__isnull=False).select_related("deleted_by")
        deleted += list(rows)
    return sorted(deleted, key=lambda record: record.deleted_at)


def patient_casebook(user, patient, *, identifying: bool | None = None) -> dict:
    """Everything the casebook shows of `patient` (one of `user`'s, with progress data: see
    `patients_of`). Identifying rows only for those who may see them; `identifying=False` leaves them
    out for anyone (a de-identified export)."""
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
    identifying = may_see_identifying(user) and identifying is not False
    for record in forms + children:
        events = history[(record._meta.label, str(record.pk))]
        last = events[-1] if events else None
        sections.append({
            "title": labels.form_title(record),
            "rows": _rows(record, identifying=identifying),
            "verified": data_review.is_verified(record, keys) if record in forms else None,
            "changes": len(events),
            "last": last,
            "last_context": (last.pgh_context or {}) if last else {},
        })  # fmt: skip
    screening = getattr(patient, "screening", None)
    transcribed = screening is not None and screening.signature_meaning.startswith(TRANSCRIBED)
    return {"patient": patient, "sections": sections, "deleted": deleted_forms(patient),
            "signature_label": _("Signature (paper, transcribed)") if transcribed else _("Electronic signature"),
            "progress": progress.patient_progress(patient, timezone.localdate()),
            "queries": list(patient.data_queries.select_related("raised_by", "answered_by").order_by("raised_at")),
            "infusions": progress.infusion_rows(patient), "printed_at": timezone.now()}  # fmt: skip


def render_pdf(context: dict) -> bytes:
    """The casebook as PDF. A free text holds up to a page or more of text (FREE_TEXT_MAX_CHARS): the
    table rows split across pages (`splitInRow`) and a word longer than a line is broken
    (`splitLongWords`, also what wraps Chinese, which has no spaces), so every text is printed whole."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))  # Latin and Chinese in one font
    styles = getSampleStyleSheet()
    for style in styles.byName.values():
        style.fontName = "STSong-Light"
        style.splitLongWords = True

    def text(value) -> str:
        return escape(str(value))

    buffer = io.BytesIO()
    patient, progress_ = context["patient"], context["progress"]
    margin = 18 * mm
    document = SimpleDocTemplate(buffer, pagesize=A4, title=f"{_('Casebook')} {patient}", leftMargin=margin,
                                 rightMargin=margin, topMargin=margin, bottomMargin=margin)  # fmt: skip
    # The table fills the frame (less the frame's own padding), never wider: text past it is cut off.
    label_width = 55 * mm
    value_width = document.width - label_width - 12

    def when(moment) -> str:
        return date_format(timezone.localtime(moment), "DATETIME_FORMAT")

    story = [
        Paragraph(text(_("Casebook %(patient)s (%(screening)s)") % {
            "patient": patient.study_id or patient.screening_number, "screening": patient.screening_number}),
            styles["Title"]),
        Paragraph(text(_("Printed %(when)s; status: %(status)s; %(verified)s of %(total)s forms source-verified") % {
            "when": when(context["printed_at"]), "status": progress_.status_label,
            "verified": progress_.sdv_verified, "total": progress_.sdv_total}), styles["Normal"]),
    ]  # fmt: skip
    screening = getattr(patient, "screening", None)
    if screening is not None and screening.is_signed:
        # The signature's own time to the second, in UTC as in the signature manifest.
        story.append(Paragraph(text(f"{context['signature_label']}: {screening.signed_name}, "
                                    f"{screening.signed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, "
                                    f"{screening.signature_meaning}"), styles["Normal"]))  # fmt: skip
    for flag in progress_.flags:
        story.append(Paragraph(text(_("Flag for review: %(flag)s") % {"flag": flag}), styles["Normal"]))
    story.append(Spacer(1, 4 * mm))
    for section in context["sections"]:
        rows = [[Paragraph(text(label), styles["BodyText"]), Paragraph(text(value), styles["BodyText"])]
                for label, value in section["rows"]]  # fmt: skip
        # splitInRow: a row taller than a page (a long description) continues on the next page;
        # without it reportlab refuses the whole PDF (LayoutError).
        table = Table(rows, colWidths=[label_width, value_width], splitInRow=1)
        table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        audit = ngettext("%(count)s audited change", "%(count)s audited changes", section["changes"]) % {
            "count": section["changes"]
        }
        if section["last"]:
            reason = section["last_context"].get("reason", "")
            audit += f"; {_('last')}: {when(section['last'].pgh_created_at)} {reason}"
        # Kept together on a page when it fits, split where it does not.
        story.append(KeepTogether([Paragraph(text(section["title"]), styles["Heading4"]), table,
                                   Paragraph(text(audit), styles["Italic"])]))  # fmt: skip
    if context["deleted"]:
        story.append(Paragraph(text(_("Deleted forms")), styles["Heading3"]))
    for record in context["deleted"]:
        deleted = _("deleted %(when)s by %(who)s: %(reason)s") % {
            "when": when(record.deleted_at), "who": record.deleted_by, "reason": record.deletion_reason}  # fmt: skip
        story.append(Paragraph(text(f"{labels.form_title(record)} — {deleted}"), styles["Normal"]))
    story.append(Paragraph(text(_("Data queries")), styles["Heading3"]))
    for query in context["queries"] or []:
        story.append(Paragraph(text(f"{query.get_record_type_display()} · {query.field}: {query.question} "
                                    f"[{query.get_status_display()}] {query.answer}"), styles["Normal"]))  # fmt: skip
    document.build(story)
    return buffer.getvalue()
