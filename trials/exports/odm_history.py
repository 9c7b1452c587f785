"""The history of every exported record, read from the database audit trail and replayed as ODM transactions.

django-pghistory's triggers keep the whole row at each insert, update and delete of an audited model
(`Model.pgh_event_model`), with the context of the change (the user and the reason for change). A
record's versions, in order, become the transactions of its item group (ODM 1.3.2 section 2.9):

- its first version is an Insert with its items;
- a later version is an Update with the items that changed (an item that became empty: IsNull);
- a soft delete (deleted_at set) or a hard delete (a treated level or a lab result taken off its
  draw) is a Remove;
- a version that moves the record (a draw's timepoint, an infusion's cycle, a result's analyte) is
  a Remove where it was and an Insert where it is now; a draw's results move and go with their draw.

Only exported items are compared and written: a version that changed nothing exported (a hospital
number in a de-identified file, only the version counter) writes nothing, so nothing the file leaves
out can be read back from its history. Derived patient items are computed at every version, as
`frames` computes them for the tables, so replaying the file gives exactly the exported tables.
"""

import heapq
from collections import defaultdict
from datetime import UTC, datetime
from typing import NamedTuple

from django.db.models import FloatField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Extract

from trials import protocol
from trials.exports.frames import StudyData, any_of
from trials.exports.odm_metadata import Place, item_formats, lab_units, odm_values, place_of
from trials.exports.variables import FORMS
from trials.models import Site

FORM_INDEX = {form: index for index, form in enumerate(FORMS)}
# What each event query adds to the row: who and why (as `trials.audit.change_context` records them), and
# the times as seconds since 1970, which load several times faster than datetimes and are only compared:
# the database's time of the event, and the row's own updated_at, stamped by the application at each save.
EXTRA_COLUMNS = {
    **{f"context_{key}": KeyTextTransform(key, "pgh_context__metadata") for key in ("user", "username", "reason")},
    "event_time": Extract("pgh_created_at", "epoch", output_field=FloatField()),
    "saved_time": Extract("updated_at", "epoch", output_field=FloatField()),
}
# Rows that reach their patient through another row: the form, the link's column and the form it links to.
PARENTS = {"pvp_level": ("procedure_id", "pvp_procedure"), "lab_result": ("lab_draw_id", "lab_draw")}


class Audit(NamedTuple):  # (tuples: a study's history has hundreds of thousands, built fast)
    user: int | None  # the user's pk, None when the change was made outside the application
    username: str
    at: datetime
    reason: str
    source: str  # the audit event, as pghistory names it across its tables: "trials.InfusionEvent:42"


class Version(NamedTuple):
    """One audit event of one exported record."""

    form: str
    record: int
    patient: int
    parent: int | None  # a lab result's draw
    label: str  # "insert", "update" or "delete"
    deleted: bool  # soft-deleted in this version
    audit: Audit
    values: dict  # the exported items' raw values at this version
    # Events of one transaction share the database's time (NOW()); the row's own updated_at orders them (a
    # draw moved before its results changed), then parents come first.
    order: tuple  # (database time, row saved at, form, event id)


class Entry(NamedTuple):
    """One ItemGroupData to write: values as ODM text (None: IsNull), lab values' units."""

    place: Place
    form: str
    values: dict[str, str | None]
    units: dict[str, str]
    transaction: str | None = None  # Insert, Update or Remove; None in a Snapshot file
    audit: Audit | None = None


# --- reading ---------------------------------------------------------------------------------------


def read_versions(study: StudyData) -> list[Version]:
    """Every audit event of the exported patients' records: one query per audited model."""
    versions: list[Version] = []
    patient_of: dict[str, dict[int, int]] = {}  # form -> record id -> patient id
    site_codes = dict(Site.objects.values_list("pk", "code"))
    for form, (model, _path) in FORMS.items():
        stored = [v.name for v in study.variables[form] if not v.key and not v.derived]
        columns = ["pgh_id", "pgh_label", "pgh_obj_id", *stored]
        if form == "patient":
            columns += ["site_id", "date_of_birth", "enrolled_on"]
            link, scope = "pgh_obj_id", study.patient_ids
        elif form in PARENTS:
            link, parent_form = PARENTS[form]
            columns.append(link)
            scope = list(patient_of[parent_form])
        else:
            link, scope = "patient_id", study.patient_ids
            columns.append(link)
        soft_deletable = any(f.name == "deleted_at" for f in model._meta.concrete_fields)
        if soft_deletable:
            columns.append("deleted_at")
        events = model.pgh_event_model.objects.filter(**{f"{link}__in": any_of(scope)}).order_by("pgh_id")
        rows = events.values(*dict.fromkeys(columns), **EXTRA_COLUMNS)
        patient_of[form] = records = {}
        label = model.pgh_event_model._meta.label
        for row in rows:
            if form == "patient":
                patient = row["pgh_obj_id"]
                _derive_patient_items(row, site_codes.get(row["site_id"], ""))
            elif form in PARENTS:
                patient = patient_of[PARENTS[form][1]][row[link]]
            else:
                patient = row[link]
            records[row["pgh_obj_id"]] = patient
            user = row["context_user"]
            audit = Audit(
                user=int(user) if user else None,
                username=row["context_username"] or "",
                at=datetime.fromtimestamp(row["event_time"], UTC),
                reason=row["context_reason"] or "",
                source=f"{label}:{row['pgh_id']}",
            )
            versions.append(Version(
                form=form, record=row["pgh_obj_id"], patient=patient,
                parent=row[link] if form in PARENTS else None, label=row["pgh_label"],
                deleted=soft_deletable and row["deleted_at"] is not None, audit=audit, values=row,
                order=(row["event_time"], row["saved_time"], FORM_INDEX[form], row["pgh_id"]),
            ))  # fmt: skip
    return versions


def _derive_patient_items(row: dict, site_code: str) -> None:
    """The derived patient items at this version, computed as `frames` computes them for the tables."""
    levels = row["fractured_levels"] or []
    enrolled = row["enrolled_on"]
    row["site"] = site_code
    row["age_at_enrolment"] = protocol.age_on(row["date_of_birth"], enrolled) if enrolled is not None else None
    row["fractured_count"] = len(levels)
    row["fracture_region"] = protocol.fracture_region(levels).value if levels else None
    row["fractured_levels"] = ",".join(levels)


# --- replaying ---------------------------------------------------------------------------------------


class _State(NamedTuple):
    """A record as the file has it so far."""

    place: Place
    values: dict[str, str | None]
    units: dict[str, str]
    parent: int | None


def replay(versions: list[Version], variables) -> dict[int, list[Entry]]:
    """patient pk -> the ItemGroupData transactions of the patient's records, in the order they happened."""
    tracks: dict[tuple, list[Version]] = defaultdict(list)
    for version in versions:
        tracks[(version.patient, version.form, version.record)].append(version)
    by_patient: dict[int, list[list[Version]]] = defaultdict(list)
    for (patient, _form, _record), track in tracks.items():
        by_patient[patient].append(track)
    formats = {form: item_formats(variables[form]) for form in FORMS}
    return {patient: _Replay(formats).run(patient_tracks) for patient, patient_tracks in by_patient.items()}


class _Replay:
    """One patient's records, version after version."""

    def __init__(self, formats):
        self.formats = formats
        self.live: dict[tuple[str, int], _State] = {}
        self.entries: list[Entry] = []

    def run(self, tracks: list[list[Version]]) -> list[Entry]:
        # Each record's versions stay in their own order (event id); records interleave by time.
        for version in heapq.merge(*tracks, key=lambda v: v.order):
            self.apply(version)
        return self.entries

    def apply(self, version: Version) -> None:
        key = (version.form, version.record)
        current = self.live.get(key)
        place = None if version.label == "delete" or version.deleted else self.place_of(version)
        if place is None:
            if current is not None:
                self.remove(key, version.audit)
            return
        values = odm_values(self.formats[version.form], version.values)
        units = {}
        if version.form == "lab_result":
            units = lab_units(version.values["analyte"], version.values["entered_unit"])
        state = _State(place, values, units, version.parent)
        if current is None:
            self.insert(key, state, version.audit)
        elif current.place != place:
            self.move(key, state, version.audit)
        else:
            changed = {name: value for name, value in values.items() if value != current.values[name]}
            if changed:
                self.entries.append(Entry(place, version.form, changed, units, "Update", version.audit))
            self.live[key] = state

    def place_of(self, version: Version) -> Place | None:
        if version.form != "lab_result":
            return place_of(version.form, version.values, version.record)
        draw = self.live.get(("lab_draw", version.parent))
        if draw is None:  # the draw was deleted: its results went with it
            return None
        return draw.place._replace(group="IG.lab_result", group_repeat=str(version.values["analyte"]))

    def insert(self, key, state: _State, audit: Audit) -> None:
        present = {name: value for name, value in state.values.items() if value is not None}
        self.entries.append(Entry(state.place, key[0], present, state.units, "Insert", audit))
        self.live[key] = state

    def remove(self, key, audit: Audit) -> None:
        state = self.live.pop(key)
        self.entries.append(Entry(state.place, key[0], {}, {}, "Remove", audit))
        if key[0] == "lab_draw":
            for result in self.results_of(key[1]):
                self.remove(result, audit)

    def move(self, key, state: _State, audit: Audit) -> None:
        """Remove where it was, insert where it is; a draw moved to another timepoint takes its results
        along (no event of theirs says so: their rows did not change)."""
        results = [(result, self.live[result]) for result in self.results_of(key[1])] if key[0] == "lab_draw" else []
        self.remove(key, audit)
        self.insert(key, state, audit)
        for result, moved in results:
            self.insert(result, moved._replace(place=state.place._replace(
                group="IG.lab_result", group_repeat=moved.place.group_repeat)), audit)  # fmt: skip

    def results_of(self, draw: int) -> list[tuple[str, int]]:
        return [key for key, state in self.live.items() if key[0] == "lab_result" and state.parent == draw]
