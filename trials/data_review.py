"""Data review services: queries, source-data verification, record locks and the study freeze.

Every step writes through the audit trail with who, when and (for unlocking) why. The database
itself refuses changes to locked or frozen data (migration 0007); these functions add the rules
about who may do what and in which order.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from trials.audit import change_context
from trials.models import (
    AdverseEvent,
    DataQuery,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PatientLock,
    PvpProcedure,
    QolAssessment,
    Screening,
    Site,
    SiteFreeze,
    SourceVerification,
    StudyFreeze,
    TreatedLevel,
    TumourResponse,
)
from trials.models.base import FREE_TEXT_MAX_CHARS, REASON_MAX_CHARS
from trials.roles import COORDINATOR, DATA_MANAGER, has_role

RECORD_MODELS = {
    "patient": Patient,
    "screening": Screening,
    "pvpprocedure": PvpProcedure,
    "treatedlevel": TreatedLevel,
    "infusion": Infusion,
    "labdraw": LabDraw,
    "labresult": LabResult,
    "painassessment": PainAssessment,
    "qolassessment": QolAssessment,
    "tumourresponse": TumourResponse,
    "adverseevent": AdverseEvent,
    "endofstudy": EndOfStudy,
}
NOT_QUERYABLE = {"id", "created_at", "updated_at", "version", "patient", "procedure", "lab_draw", "site"}


class ReviewRefused(Exception):
    """The action is not allowed; the message says why."""


def record_type_of(record) -> str:
    return type(record)._meta.model_name


def patient_of(record) -> Patient:
    if isinstance(record, Patient):
        return record
    if isinstance(record, TreatedLevel):
        return record.procedure.patient
    if isinstance(record, LabResult):
        return record.lab_draw.patient
    return record.patient


def get_record(record_type: str, record_id: int):
    model = RECORD_MODELS.get(record_type)
    if model is None:
        raise ReviewRefused(_("Unknown form %(form)s.") % {"form": record_type})
    return model.objects.filter(pk=record_id).first()


def visible_record(user, value: str):
    """The record named `<form>:<id>` if the user may see it; Http404 otherwise (another site too)."""
    from django.http import Http404

    from trials import access

    record_type, _sep, record_id = value.partition(":")
    try:
        record = get_record(record_type, int(record_id))
    except (ValueError, ReviewRefused):
        record = None
    if record is None:
        raise Http404(f"{value}: no such record")
    access.get_patient_for_user(user, patient_of(record).pk)
    return record


def queryable_fields(record_type: str) -> list[tuple[str, str]]:
    model = RECORD_MODELS[record_type]
    return [
        (field.name, str(field.verbose_name))
        for field in model._meta.concrete_fields
        if field.name not in NOT_QUERYABLE and not field.name.startswith("signed")
    ]


def _typed_text(text: str, what: str, limit: int = FREE_TEXT_MAX_CHARS) -> str:
    """Text typed into a review page, as stored: stripped, within its limit, and storable at all
    (PostgreSQL refuses a NUL character in text and in the audit context's JSON)."""
    text = text.strip()
    if len(text) > limit:
        raise ReviewRefused(
            _("The %(what)s has %(length)s characters; the limit is %(limit)s.")
            % {"what": what, "length": len(text), "limit": limit}
        )
    if "\x00" in text:
        raise ReviewRefused(_("The %(what)s contains a NUL character, which cannot be stored.") % {"what": what})
    return text


def _require(user, role: str, action: str) -> None:
    if not has_role(user, role):
        raise ReviewRefused(_("Your role does not allow you to %(action)s.") % {"action": action})


# --- queries ----------------------------------------------------------------------------------


def raise_query(*, user, record, field: str, question: str) -> DataQuery:
    _require(user, COORDINATOR, _("raise a data query"))
    record_type = record_type_of(record)
    if field not in dict(queryable_fields(record_type)):
        raise ReviewRefused(_("%(field)s is not a field of this form.") % {"field": field})
    question = _typed_text(question, _("question"))
    if not question:
        raise ReviewRefused(_("Write the question."))
    with change_context(user=user, reason="data query raised"):
        return DataQuery.objects.create(
            patient=patient_of(record), record_type=record_type, record_id=record.pk, field=field,
            question=question, raised_by=user,
        )  # fmt: skip


def answer_query(*, user, query: DataQuery, answer: str) -> DataQuery:
    if not has_role(user, "clinician"):
        raise ReviewRefused(_("Only a clinician answers data queries."))
    if query.status == DataQuery.Status.CLOSED:
        raise ReviewRefused(_("This query is closed."))
    answer = _typed_text(answer, _("answer"))
    if not answer:
        raise ReviewRefused(_("Write the answer."))
    with change_context(user=user, reason="data query answered"):
        query.answer, query.answered_by, query.answered_at = answer, user, timezone.now()
        query.status = DataQuery.Status.ANSWERED
        query.save()
    return query


def close_query(*, user, query: DataQuery) -> DataQuery:
    _require(user, COORDINATOR, _("close a data query"))
    with change_context(user=user, reason="data query closed"):
        query.status, query.closed_by, query.closed_at = DataQuery.Status.CLOSED, user, timezone.now()
        query.save()
    return query


def reopen_query(*, user, query: DataQuery, reason: str) -> DataQuery:
    _require(user, COORDINATOR, _("re-open a data query"))
    reason = _typed_text(reason, _("reason"), REASON_MAX_CHARS)
    with change_context(user=user, reason=f"data query re-opened: {reason}"):
        query.status, query.closed_by, query.closed_at = DataQuery.Status.OPEN, None, None
        query.save()
    return query


# --- source-data verification -----------------------------------------------------------------


class VersionChanged(ReviewRefused):
    """The record changed after the reviewer opened it (the API answers 409)."""


def verify(*, user, record, reviewed_version: int | None = None) -> SourceVerification:
    """Mark a form source-verified at the version the coordinator checked (a later edit makes it
    unverified again); refused if the form changed after it was opened for checking. The page and the
    API always name the version checked; None (the current one) is for the application's own callers."""
    _require(user, COORDINATOR, _("mark a form source-verified"))
    if reviewed_version is not None and reviewed_version != record.version:
        raise VersionChanged(
            _("This form changed after you opened it (version %(seen)s, now %(now)s): check it again.")
            % {"seen": reviewed_version, "now": record.version}
        )
    with change_context(user=user, reason="source data verified"):
        verification, _created = SourceVerification.objects.update_or_create(
            record_type=record_type_of(record), record_id=record.pk,
            defaults={"patient": patient_of(record), "record_version": record.version, "verified_by": user},
        )  # fmt: skip
    return verification


def patient_forms(patient) -> list:
    """Every form of a patient (from prefetched rows): the unit of source-data verification."""
    forms = [patient]
    for name in ("screening", "pvp_procedure", "tumour_response", "end_of_study"):
        record = getattr(patient, name, None)
        if record is not None:
            forms.append(record)
    for related in ("infusions", "lab_draws", "pain_assessments", "qol_assessments", "adverse_events"):
        forms.extend(getattr(patient, related).all())
    return forms


def verified_keys(patient) -> set[tuple[str, int, int]]:
    return {(v.record_type, v.record_id, v.record_version) for v in patient.verifications.all()}


def is_verified(record, keys) -> bool:
    return (record_type_of(record), record.pk, record.version) in keys


def sdv_progress(patient) -> tuple[int, int]:
    keys = verified_keys(patient)
    forms = patient_forms(patient)
    return sum(is_verified(record, keys) for record in forms), len(forms)


# --- locks and freeze -------------------------------------------------------------------------


def lock_patient(*, user, patient) -> PatientLock:
    _require(user, DATA_MANAGER, _("lock a patient record"))
    verified, total = sdv_progress(patient)
    if verified < total:
        raise ReviewRefused(
            _("Only a fully verified record can be locked: %(verified)s of %(total)s forms are source-verified.")
            % {"verified": verified, "total": total}
        )
    if PatientLock.objects.filter(patient=patient).exists():
        raise ReviewRefused(_("This record is already locked."))
    if DataQuery.objects.filter(patient=patient).exclude(status=DataQuery.Status.CLOSED).exists():
        raise ReviewRefused(_("Close the open data queries of this patient before locking."))
    with change_context(user=user, reason="patient record locked"):
        return PatientLock.objects.create(patient=patient, locked_by=user)


def unlock_patient(*, user, patient, reason: str) -> None:
    _require(user, DATA_MANAGER, _("unlock a patient record"))
    reason = _typed_text(reason, _("reason"), REASON_MAX_CHARS)
    if not reason:
        raise ReviewRefused(_("A reason is required to unlock."))
    with change_context(user=user, reason=f"patient record unlocked: {reason}"):
        PatientLock.objects.filter(patient=patient).delete()


def frozen_since():
    freeze = StudyFreeze.objects.first()
    return freeze.frozen_at if freeze else None


def runs_every_site(user) -> bool:
    """A study-wide role: operations staff, or a data manager of every site of the study."""
    from trials import access

    return user.is_superuser or (
        has_role(user, DATA_MANAGER)
        and not Site.objects.exclude(pk__in=access.sites_for_user(user).values("pk")).exists()
    )


def _require_study_wide(user, action: str) -> None:
    _require(user, DATA_MANAGER, action)
    if not runs_every_site(user):
        raise ReviewRefused(
            _("Only a data manager of every site may %(action)s; freeze or unfreeze your own sites instead.")
            % {"action": action}
        )


def site_freezes(user) -> list:
    """The freeze state of each of the user's sites: [(site, SiteFreeze or None)]."""
    from trials import access

    sites = list(access.sites_for_user(user).order_by("code"))
    frozen = {freeze.site_id: freeze for freeze in SiteFreeze.objects.filter(site__in=sites)}
    return [(site, frozen.get(site.pk)) for site in sites]


def freeze_site(*, user, site) -> SiteFreeze:
    from trials import access

    _require(user, DATA_MANAGER, _("freeze a site"))
    site = access.sites_for_user(user).get(pk=site.pk)  # only one's own sites
    with transaction.atomic(), change_context(user=user, reason=f"site {site.code} frozen"):
        freeze, _created = SiteFreeze.objects.get_or_create(site=site, defaults={"frozen_by": user})
    return freeze


def unfreeze_site(*, user, site, reason: str) -> None:
    from trials import access

    _require(user, DATA_MANAGER, _("unfreeze a site"))
    site = access.sites_for_user(user).get(pk=site.pk)
    reason = _typed_text(reason, _("reason"), REASON_MAX_CHARS)
    if not reason:
        raise ReviewRefused(_("A reason is required to unfreeze."))
    with change_context(user=user, reason=f"site {site.code} unfrozen: {reason}"):
        SiteFreeze.objects.filter(site=site).delete()


def freeze_study(*, user) -> StudyFreeze:
    _require_study_wide(user, _("freeze the whole study"))
    with transaction.atomic(), change_context(user=user, reason="study frozen for analysis"):
        freeze, _created = StudyFreeze.objects.get_or_create(singleton=True, defaults={"frozen_by": user})
    return freeze


def unfreeze_study(*, user, reason: str) -> None:
    _require_study_wide(user, _("unfreeze the whole study"))
    reason = _typed_text(reason, _("reason"), REASON_MAX_CHARS)
    if not reason:
        raise ReviewRefused(_("A reason is required to unfreeze."))
    with change_context(user=user, reason=f"study unfrozen: {reason}"):
        StudyFreeze.objects.all().delete()
