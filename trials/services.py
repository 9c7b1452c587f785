"""Writes that touch several rows or need numbering: called by views, the API and commands alike."""

import re
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trials import rules
from trials.audit import change_context
from trials.models import LabDraw, LabResult, Patient, Site


def _next_number(site_id: int, counter: str) -> tuple[Site, int]:
    # The site row is locked until the transaction ends, so two coordinators (or two imports)
    # numbering patients at the same moment queue here: no duplicate and no gap.
    site = Site.objects.select_for_update().get(pk=site_id)
    number = getattr(site, counter) + 1
    setattr(site, counter, number)
    site.save(update_fields=[counter])
    return site, number


@transaction.atomic
def register_patient(*, site: Site, user=None, reason: str = "initial entry", **fields) -> Patient:
    """Create a patient at first entry with the next screening number, `<SITE>-S<NNN>`."""
    site, number = _next_number(site.pk, "last_screening_number")
    # Without a user the caller (an import, load_demo) has opened its own audit context.
    with change_context(user=user, reason=reason) if user else nullcontext():
        return Patient.objects.create(site=site, screening_number=f"{site.code}-S{number:03d}", **fields)


def screening_number_serial(site: Site, screening_number: str) -> int | None:
    """The serial of a screening number that follows the site's pattern `<SITE>-S<NNN>`, else None."""
    match = re.fullmatch(rf"{re.escape(site.code)}-S(\d{{3,}})", screening_number or "")
    return int(match[1]) if match else None


@transaction.atomic
def register_numbered_patient(
    *, site: Site, screening_number: str, user=None, reason: str = "initial entry", **fields
) -> Patient:
    """Create a patient under the screening number the case already has (brought in by an import,
    whose other files refer to the patient by it), or the next number when it is blank.

    The number must follow the site's pattern; the database refuses one already used. The site's
    counter moves past it, so numbers assigned later never collide with it. Enrolment is never set
    here: a study ID comes only from a coordinator's signature (enrolment.sign_screening).
    """
    if not screening_number:
        return register_patient(site=site, user=user, reason=reason, **fields)
    site = Site.objects.select_for_update().get(pk=site.pk)  # as in _next_number: no race with it
    serial = screening_number_serial(site, screening_number)
    if serial is None:
        raise ValidationError({"screening_number": _("%(number)s does not follow the site's pattern %(code)s-S001.")
                               % {"number": screening_number, "code": site.code}})  # fmt: skip
    if serial > site.last_screening_number:
        site.last_screening_number = serial
        site.save(update_fields=["last_screening_number"])
    with change_context(user=user, reason=reason) if user else nullcontext():
        return Patient.objects.create(site=site, screening_number=screening_number, **fields)


@transaction.atomic
def enrol_patient(patient: Patient, *, enrolled_on: date) -> Patient:
    """Assign the study ID `<SITE>-<NNN>`; the caller has checked the signed eligible screening."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.study_id:
        return patient
    site, number = _next_number(patient.site_id, "last_study_number")
    patient.study_id = f"{site.code}-{number:03d}"
    patient.enrolled_on = enrolled_on
    patient.version += 1
    patient.save(update_fields=["study_id", "enrolled_on", "version", "updated_at"])
    return patient


# ---------------------------------------------------------------------------------------------
# Saving a form: audit context, reason for change and the optimistic version check.


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    before: object
    after: object


class EditConflict(Exception):
    """Someone saved the record after this user opened it; nothing of this user's edit was saved."""

    def __init__(self, current, changes: list[FieldChange], changed_by: str, changed_at):
        super().__init__(f"{current} was changed by {changed_by} at {changed_at}")
        self.current = current
        self.changes = changes
        self.changed_by = changed_by
        self.changed_at = changed_at


def changes_since(current, version: int) -> EditConflict:
    """What changed in `current` since `version`, read from the audit trail's snapshots."""
    events = current.events.order_by("pgh_id")
    then = events.filter(version=version).last()
    latest = events.select_related("pgh_context").last()
    context = (latest.pgh_context.metadata if latest and latest.pgh_context else {}) or {}
    changes = []
    if then is not None:
        for field in current._meta.concrete_fields:
            if field.name in ("version", "updated_at", "created_at", "id"):
                continue
            before, after = getattr(then, field.attname), getattr(current, field.attname)
            if before != after:
                changes.append(FieldChange(field.name, str(field.verbose_name), before, after))
    return EditConflict(
        current,
        changes,
        changed_by=context.get("username", "another user"),
        changed_at=latest.pgh_created_at if latest else None,
    )


@transaction.atomic
def save_record(instance, *, user, reason: str, expected_version: int | None = None, save_parts=None):
    """Save a form's record (and its parts) as one audited change.

    For an existing record the row is locked and its version compared with the one the user
    started from: a mismatch raises `EditConflict` and saves nothing. `save_parts(instance)`
    writes dependent rows (treated levels, lab results) inside the same transaction.
    """
    model = type(instance)
    if instance.pk is not None:
        current = model.objects.select_for_update().get(pk=instance.pk)
        if expected_version is not None and current.version != expected_version:
            raise changes_since(current, expected_version)
        instance.version = current.version + 1
    with change_context(user=user, reason=reason):
        instance.save()
        if save_parts is not None:
            save_parts(instance)
    return instance


def save_lab_results(draw: LabDraw, results: list[LabResult]) -> None:
    """Make the draw's results exactly `results` (one per analyte), inside the caller's audited save.

    Pages and API alike: a result no longer sent is deleted, a changed one is updated with a new
    version, an unchanged one is left alone (no empty audit event), new ones are inserted in one
    statement (the audit triggers still record each row).
    """
    draw.results.exclude(analyte__in=[result.analyte for result in results]).delete()
    existing = {result.analyte: result for result in draw.results.all()}
    fields = ("value", "entered_value", "entered_unit", "critical_confirmed")
    new = []
    for result in results:
        current = existing.get(result.analyte)
        if current is None:
            result.lab_draw = draw
            new.append(result)
        elif any(getattr(current, name) != getattr(result, name) for name in fields):
            for name in fields:
                setattr(current, name, getattr(result, name))
            current.version += 1
            current.save()
    LabResult.objects.bulk_create(new)


# ---------------------------------------------------------------------------------------------
# Deleting a form: only ever a soft delete, with the reason in the row and in the audit trail.


@transaction.atomic
def soft_delete(record, *, user, reason: str):
    """Mark a form deleted (who, when, why); it leaves every page, count and export but not the audit.

    Raises ValidationError naming the rule when the reason is missing, the record is already deleted,
    or it is a patient who must not disappear (enrolled, or with a signed screening: those are part of
    the screening log and the CONSORT flow). A locked patient or a frozen study is refused by the
    database trigger (IntegrityError), as for any other change.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("A reason is required to delete a form.")})
    model = type(record)
    current = model.all_objects.select_for_update().get(pk=record.pk)
    if current.is_deleted:
        raise ValidationError(
            _("This form was already deleted on %(when)s.") % {"when": f"{current.deleted_at:%Y-%m-%d}"}
        )
    if isinstance(current, Patient) and not rules.patient_may_be_deleted(current):
        raise ValidationError(
            _("%(patient)s has a signed screening and cannot be deleted; record the end of study instead.")
            % {"patient": current}
        )
    current.deleted_at = timezone.now()
    current.deleted_by = user
    current.deletion_reason = reason
    current.version += 1
    with change_context(user=user, reason=f"deleted: {reason}"):
        current.save(update_fields=["deleted_at", "deleted_by", "deletion_reason", "version", "updated_at"])
    return current
