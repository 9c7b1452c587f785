"""What the audit trail shows beside each event: whose record it is, and whether that record was deleted.

pghistory's `Events` reads every event table as one; each event keeps the whole row (`pgh_data`).
The patient of a record is read from that snapshot, and for the parts of a form (lab results, treated
levels) from the row of the form they belong to, or from the form's last snapshot when its row is gone.

Rows are always read through `_base_manager`, never `objects`: the default manager of a soft-deletable
model (`LiveRecords`) hides deleted rows, and the audit trail must show deleted records with the rest.
A record counts as deleted when it, the form it is part of, or its patient is soft-deleted, or when
its row is gone (a hard delete, e.g. a treated level removed from the PVP form).
"""

from datetime import UTC, datetime

from django.db.models import (
    BigIntegerField,
    Case,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, JSONObject
from pghistory.models import Events

from trials.models import (
    AdverseEvent,
    ApiToken,
    DataQuery,
    EndOfStudy,
    ExportLog,
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
    User,
)
from trials.models.base import SoftDeletable

# Audited records whose row names their patient (`patient_id`).
PATIENT_RECORDS = (
    Screening,
    PvpProcedure,
    Infusion,
    LabDraw,
    PainAssessment,
    QolAssessment,
    TumourResponse,
    AdverseEvent,
    EndOfStudy,
    DataQuery,
    SourceVerification,
    PatientLock,
)
# The parts of a form: their row names the form (key in the snapshot, form model), not the patient.
FORM_PARTS = (
    (LabResult, "lab_draw_id", LabDraw),
    (TreatedLevel, "procedure_id", PvpProcedure),
)

# Records whose row names a site (`site_id`), besides patients: shown to that site.
SITE_RECORDS = (SiteFreeze,)
# Records of the whole study: every site's business, shown to every data manager.
STUDY_RECORDS = (StudyFreeze,)
# Records whose row names an account (`user_id`): shown, like the account's own row, to whoever runs it.
ACCOUNT_RECORDS = (ApiToken, ExportLog)


def _labels(models) -> list[str]:
    return [model._meta.label for model in models]


def _snapshot_key(name: str) -> Cast:
    return Cast(KeyTextTransform(name, "pgh_data"), BigIntegerField())


def _event_model(model):
    return model.events.rel.related_model


def _row_value(model, pk, field: str) -> Coalesce:
    """`field` of the row `pk` of `model`, deleted or not; from its last snapshot when the row is gone."""
    row = model._base_manager.filter(pk=pk).values(field)[:1]
    last_snapshot = _event_model(model).objects.filter(pgh_obj_id=pk).order_by("-pgh_id").values(field)[:1]
    return Coalesce(Subquery(row), Subquery(last_snapshot))


def _deletion(model, pk) -> Coalesce | Subquery:
    """The deletion of the record `pk` of `model` as JSON (record, id, at, by, reason); NULL while it stands."""
    label = Value(model._meta.label)
    hard = (
        _event_model(model)
        .objects.filter(pgh_obj_id=pk, pgh_label="delete")
        .order_by("-pgh_id")
        .values(
            json=JSONObject(
                record=label,
                id=F("pgh_obj_id"),
                at=F("pgh_created_at"),
                by=KeyTextTransform("username", "pgh_context__metadata"),
                reason=KeyTextTransform("reason", "pgh_context__metadata"),
            )
        )[:1]
    )
    if not issubclass(model, SoftDeletable):
        return Subquery(hard, output_field=JSONField())
    soft = model._base_manager.filter(pk=pk, deleted_at__isnull=False).values(
        json=JSONObject(
            record=label, id=F("pk"), at=F("deleted_at"), by=F("deleted_by__username"), reason=F("deletion_reason")
        )
    )[:1]
    return Coalesce(Subquery(soft), Subquery(hard), output_field=JSONField())


def with_record_patient(events: QuerySet[Events]) -> QuerySet[Events]:
    """Alias on each event `record_patient`, the patient its record belongs to (NULL for none), and the
    snapshot keys it is read from.

    Aliases, not annotations: each reading of a snapshot key rebuilds the event's JSON (pghistory's
    `pgh_data`), so only what a filter or `with_record_deletion` uses is computed, in the one branch of
    each `Case` that matches the event's model.
    """
    events = events.alias(
        snapshot_id=Cast("pgh_obj_id", BigIntegerField()),
        snapshot_site=_snapshot_key("site_id"),
        snapshot_patient=_snapshot_key("patient_id"),
        **{f"snapshot_{key}": _snapshot_key(key) for _part, key, _form in FORM_PARTS},
    )
    return events.alias(
        record_patient=Case(
            When(pgh_obj_model=Patient._meta.label, then=F("snapshot_id")),
            *[
                When(pgh_obj_model=part._meta.label, then=_row_value(form, OuterRef(f"snapshot_{key}"), "patient_id"))
                for part, key, form in FORM_PARTS
            ],
            When(pgh_obj_model__in=_labels(PATIENT_RECORDS), then=F("snapshot_patient")),
            output_field=BigIntegerField(),
        )
    )


def scoped(events: QuerySet[Events], *, sites: QuerySet, users: QuerySet) -> QuerySet[Events]:
    """The events of the records of `sites` and of the accounts `users` (querysets of pks): every one,
    those of deleted records too.

    A patient's forms follow the patient's current site; the patient's own row is also shown to the
    site it stood at when the event was recorded. A patient whose row is gone counts for the site its
    last snapshot names.
    """
    patients = Patient._base_manager.filter(site__in=sites).values("pk")
    gone_patients = _event_model(Patient).objects.filter(pgh_label="delete", site_id__in=sites).values("pgh_obj_id")
    return (
        with_record_patient(events)
        .alias(snapshot_user=_snapshot_key("user_id"))
        .filter(
            Q(pgh_obj_model=Site._meta.label, snapshot_id__in=sites)
            | Q(pgh_obj_model=Patient._meta.label, snapshot_site__in=sites)
            | Q(pgh_obj_model__in=_labels(SITE_RECORDS), snapshot_site__in=sites)
            | Q(pgh_obj_model__in=_labels(STUDY_RECORDS))
            | Q(record_patient__in=patients)
            | Q(record_patient__in=gone_patients)
            | Q(pgh_obj_model=User._meta.label, snapshot_id__in=users)
            | Q(pgh_obj_model__in=_labels(ACCOUNT_RECORDS), snapshot_user__in=users)
        )
    )


def with_record_deletion(events: QuerySet[Events]) -> QuerySet[Events]:
    """Annotate each event (already `with_record_patient`) with `record_deletion`: NULL while its record
    stands, else a dict naming the deleted record (itself, the form it is part of, or its patient) and
    when, by whom and why it was deleted. Read it with `deletion_of`.

    Soft deletion is read from the row; a row that is gone (a removed treated level, a replaced lab
    result, a lifted lock or freeze) from its delete event. Accounts are deactivated, never deleted."""
    own = [Site, Patient, *PATIENT_RECORDS, *(part for part, _key, _form in FORM_PARTS), *SITE_RECORDS,
           *STUDY_RECORDS, *ACCOUNT_RECORDS]  # fmt: skip
    return events.annotate(
        record_deletion=Coalesce(
            Case(
                *[
                    When(pgh_obj_model=model._meta.label, then=_deletion(model, OuterRef("snapshot_id")))
                    for model in own
                ],
                output_field=JSONField(),
            ),
            Case(
                *[
                    When(pgh_obj_model=part._meta.label, then=_deletion(form, OuterRef(f"snapshot_{key}")))
                    for part, key, form in FORM_PARTS
                ],
                output_field=JSONField(),
            ),
            _deletion(Patient, OuterRef("record_patient")),
            output_field=JSONField(),
        )
    )


def deletion_of(event) -> dict | None:
    """The deletion marking an event (see `with_record_deletion`), with `at` as a datetime; None if none."""
    deletion = getattr(event, "record_deletion", None)
    if not deletion:
        return None
    at = deletion.get("at")
    return {
        "record": f"{deletion['record']} {deletion['id']}",
        "at": datetime.fromisoformat(at).astimezone(UTC) if at else None,
        "by": deletion.get("by") or "",
        "reason": deletion.get("reason") or "",
    }


DELETION_COLUMNS = ("record_deleted", "deleted_record", "deleted_at_utc", "deleted_by", "deletion_reason")


def deletion_columns(event) -> list[str]:
    """The audit-trail CSV's `DELETION_COLUMNS` for one event."""
    deletion = deletion_of(event)
    if deletion is None:
        return ["no", "", "", "", ""]
    at = deletion["at"].isoformat() if deletion["at"] else ""
    return ["yes", deletion["record"], at, deletion["by"], deletion["reason"]]


def deletion_note(event) -> str:
    """One line for the admin's audit list: '' for a standing record."""
    deletion = deletion_of(event)
    if deletion is None:
        return ""
    when = f"{deletion['at']:%Y-%m-%d %H:%M} UTC" if deletion["at"] else "?"
    note = f"{deletion['record']} deleted {when}"
    if deletion["by"]:
        note += f" by {deletion['by']}"
    if deletion["reason"]:
        note += f": {deletion['reason']}"
    return note
