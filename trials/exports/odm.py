"""CDISC ODM 1.3.2: the study's metadata, its users, sites and signatures, and every record.

With the audit trail (the default) the file is Transactional: each record's history from the
database audit trail as Insert, Update and Remove transactions of its item group, each with an
AuditRecord (who, where, when, why, and the audit event it comes from; `odm_history`). Without it,
a Snapshot of the current values. Both carry the e-signatures of the eligibility screenings.

How the audit history maps onto ODM:
- SubjectData, StudyEventData and FormData are Inserts (a file of the whole history starts from an
  empty study), each with the AuditRecord of the first change inside it;
- every version of a record is an ItemGroupData with its own TransactionType and AuditRecord, in
  the order the versions happened (section 2.10), so replaying them gives the exported tables;
- a signed screening's FormData is written in two parts: the changes before the signature, then an
  Update that carries the Signature and whatever changed after it (a Signature covers the data as
  they were when signed, so everything before it must come first: section 2.10).

The file is checked against the official schema (tests/standards/odm-1.3.2) by the tests.
"""

import io
from collections import defaultdict
from copy import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import groupby

from lxml import etree

from trials.enrolment import SIGNATURE_MEANING
from trials.exports.archive import export_info
from trials.exports.frames import StudyData, any_of
from trials.exports.odm_history import Audit, Entry, Version, read_versions, replay
from trials.exports.odm_metadata import (
    FORM_OF,
    MDV_OID,
    NS,
    VALUE_FORMATS,
    item_formats,
    item_oid,
    lab_units,
    place_of,
    present_values,
    study_element,
    tag,
    xml_text,
)
from trials.exports.variables import DATETIME
from trials.models import AdverseEvent, Patient, Screening, Site, User
from trials.protocol import STUDY_OID

NO_USER = "USR.unrecorded"  # a change made outside the application (a load script, SQL): nobody to name
LEGAL_REASON = (
    "21 CFR Part 11 electronic signature: the signer re-entered their password (11.200); the printed name, "
    "date and time (UTC) and meaning are kept with the signature (11.50)."
)
ITEM_DATA, ITEM_GROUP_DATA, UNIT_REF = tag("ItemData"), tag("ItemGroupData"), tag("MeasurementUnitRef")
AUDIT_RECORD, USER_REF, LOCATION_REF = tag("AuditRecord"), tag("UserRef"), tag("LocationRef")
DATE_TIME_STAMP, REASON_FOR_CHANGE, SOURCE_ID = tag("DateTimeStamp"), tag("ReasonForChange"), tag("SourceID")
NSMAP = {None: NS}


@dataclass(frozen=True)
class Signature:
    user: int
    at: datetime
    meaning: str


@dataclass(frozen=True)
class Trail:
    """What ODM needs beyond the tables, read in the export's snapshot."""

    subjects: dict[int, tuple[str, str]]  # patient pk -> (screening number, site code)
    sites: dict[str, tuple[str, date]]  # site code -> (name, the date its data start)
    users: dict[int, tuple[str, str]]  # user pk -> (login, full name)
    signatures: dict[str, Signature]  # screening number -> the screening's e-signature
    adverse_event_keys: list[int]  # adverse event ids, in the order of the adverse_event table
    versions: list[Version] | None  # the audit history, for a Transactional file


def read_trail(study: StudyData, *, audit: bool) -> Trail:
    """Call inside the export's snapshot, after `read_study`: one query per model, never per row."""
    exported = Patient.objects.filter(pk__in=any_of(study.patient_ids))
    patients = list(exported.values_list("pk", "screening_number", "site_id"))
    sites = Site.objects.filter(pk__in={site for _pk, _number, site in patients})
    site_rows = list(sites.values_list("pk", "code", "name"))
    codes = {pk: code for pk, code, _name in site_rows}
    inserted = Site.pgh_event_model.objects.filter(pgh_obj_id__in=codes, pgh_label="insert")
    started = dict(inserted.values_list("pgh_obj_id", "pgh_created_at"))
    signed = Screening.objects.filter(patient__pk__in=any_of(study.patient_ids), signed_at__isnull=False)
    signatures = {number: Signature(user, at, meaning) for number, user, at, meaning in signed.values_list(
        "patient__screening_number", "signed_by_id", "signed_at", "signature_meaning")}  # fmt: skip
    # The same rows, in the same order, as the adverse_event table of `read_study`.
    adverse_events = AdverseEvent.objects.filter(patient__pk__in=any_of(study.patient_ids))
    keys = list(adverse_events.order_by("patient__screening_number", "pk").values_list("pk", flat=True))
    versions = read_versions(study) if audit else None
    # Users by the login their changes recorded, then as the user table has them (an account may be gone).
    users = {v.audit.user: (v.audit.username, v.audit.username) for v in versions or () if v.audit.user is not None}
    user_ids = {signature.user for signature in signatures.values()} | set(users)
    accounts = User.objects.filter(pk__in=user_ids).values_list("pk", "username", "first_name", "last_name")
    users |= {pk: (login, f"{first} {last}".strip() or login) for pk, login, first, last in accounts}
    return Trail(
        subjects={pk: (number, codes[site]) for pk, number, site in patients},
        sites={code: (name, (started.get(pk) or study.exported_at).date()) for pk, code, name in site_rows},
        users=users,
        signatures=signatures,
        adverse_event_keys=keys,
        versions=versions,
    )


def odm_bytes(study: StudyData, trail: Trail, *, language: str, audit: bool, manifest: dict) -> bytes:
    """The ODM document (UTF-8 with its XML declaration); `language` orders each TranslatedText."""
    stamp = study.exported_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kind = "identifiable" if study.identifiable else "deidentified"
    file_type = "Transactional" if audit else "Snapshot"
    what = "every version from the audit trail" if audit else "current values only"
    attributes = {
        "Description": xml_text(f"{export_info(manifest)} {file_type}: {what}."),
        "FileType": file_type,
        "Granularity": "All",
        "FileOID": f"{STUDY_OID}.{kind}.{file_type.lower()}.{stamp}",
        # The time the database was read; the audit times are written to the second, so none is later.
        "CreationDateTime": manifest["exported_at"],
        "AsOfDateTime": manifest["exported_at"],
        "ODMVersion": "1.3.2",
        "Originator": xml_text(manifest["exported_by"]["name"]),
        "SourceSystem": manifest["software"]["application"],
    }
    if audit:
        history = replay(trail.versions or [], study.variables)
        subjects = [(*trail.subjects[pk], history.get(pk, [])) for pk in trail.subjects]
    else:
        subjects = _current(study, trail)
    subjects.sort(key=lambda subject: subject[0])
    named = {signature.user for signature in trail.signatures.values()}
    named |= {entry.audit.user for _number, _site, entries in subjects for entry in entries if entry.audit}
    writer = _ClinicalWriter(study, trail, audit)
    buffer = io.BytesIO()
    # Written one subject at a time: a study of 10,000 patients never sits in memory as one tree.
    with etree.xmlfile(buffer, encoding="UTF-8") as xml:
        xml.write_declaration()
        with xml.element(tag("ODM"), attributes, nsmap=NSMAP):
            xml.write(study_element(study.variables, language))
            xml.write(_admin_data(trail, named))
            with xml.element(tag("ClinicalData"), StudyOID=STUDY_OID, MetaDataVersionOID=MDV_OID):
                for number, site, entries in subjects:
                    xml.write(writer.subject(number, site, entries))
    return buffer.getvalue()


def _current(study: StudyData, trail: Trail) -> list[tuple[str, str, list[Entry]]]:
    """(screening number, site code, entries) of every patient: the tables' rows, as they are now."""
    entries: dict[str, list[Entry]] = defaultdict(list)
    for form, frame in study.frames.items():
        formats = item_formats(study.variables[form])
        keys = iter(trail.adverse_event_keys if form == "adverse_event" else ())
        columns = list(frame.columns)
        for values in frame.itertuples(index=False, name=None):  # (the frames hold Python objects already)
            row = dict(zip(columns, values, strict=True))
            place = place_of(form, row, next(keys, None))
            units = lab_units(row["analyte"], row["entered_unit"]) if form == "lab_result" else {}
            entries[row["screening_number"]].append(Entry(place, form, present_values(formats, row), units))
    patients = study.frames["patient"]
    return [(number, site, entries[number]) for number, site in zip(patients["screening_number"], patients["site"],
                                                                    strict=True)]  # fmt: skip


class _ClinicalWriter:
    """Writes one SubjectData element per patient."""

    def __init__(self, study: StudyData, trail: Trail, audit: bool):
        self.trail = trail
        self.audit = audit
        self.signature_oids = signature_definitions(trail)
        self.audit_templates: dict[tuple, etree._Element] = {}
        self.oids = {form: {v.name: item_oid(form, v.name) for v in variables} for form, variables in
                     study.variables.items()}  # fmt: skip

    def subject(self, number: str, site: str, entries: list[Entry]) -> etree._Element:
        location = f"LOC.{site}"
        element = etree.Element(tag("SubjectData"), SubjectKey=number, nsmap=NSMAP)
        if self.audit and entries:  # (a patient always has entries: the audit triggers date from migration 0001)
            element.set("TransactionType", "Insert")
            self.audit_record(element, _first(entries), location)
        etree.SubElement(element, tag("SiteRef"), LocationOID=location)
        # A stable sort: within one form the entries keep the order in which they happened.
        entries = sorted(entries, key=lambda entry: entry.place.order)
        for (event, event_repeat), in_event in groupby(entries, key=lambda entry: entry.place[:2]):
            in_event = list(in_event)
            event_element = etree.SubElement(element, tag("StudyEventData"), StudyEventOID=event)
            if event_repeat is not None:
                event_element.set("StudyEventRepeatKey", event_repeat)
            if self.audit:
                event_element.set("TransactionType", "Insert")
                self.audit_record(event_element, _first(in_event), location)
            for (form, form_repeat), in_form in groupby(in_event, key=lambda entry: entry.place[2:4]):
                self.form(event_element, form, form_repeat, list(in_form), number, location)
        return element

    def form(self, event_element, form: str, form_repeat: str | None, entries: list[Entry], number: str,
             location: str) -> None:  # fmt: skip
        signature = self.trail.signatures.get(number) if form == FORM_OF["screening"].oid else None
        element = self.form_element(event_element, form, form_repeat)
        if not self.audit:
            if signature is not None:
                self.signature(element, signature, location)
            self.groups(element, entries, location)
            return
        split = len(entries) if signature is None else _signed_at(entries, signature)
        element.set("TransactionType", "Insert")
        self.audit_record(element, _first(entries[:split] or entries), location)
        self.groups(element, entries[:split], location)
        if signature is None:
            return
        # The signature covers the form as it was when signed: the changes after it come after it, in
        # an Update of the form whose AuditRecord is the change that recorded the signature.
        signed = self.form_element(event_element, form, form_repeat)
        signed.set("TransactionType", "Update")
        self.audit_record(signed, entries[split - 1].audit if split else _first(entries), location)
        self.signature(signed, signature, location)
        self.groups(signed, entries[split:], location)

    def form_element(self, event_element, form: str, form_repeat: str | None):
        element = etree.SubElement(event_element, tag("FormData"), FormOID=form)
        if form_repeat is not None:
            element.set("FormRepeatKey", form_repeat)
        return element

    def groups(self, form_element, entries: list[Entry], location: str) -> None:
        sub_element = etree.SubElement  # (the loop below runs once per item: over a million times)
        for entry in entries:
            place = entry.place
            group = sub_element(form_element, ITEM_GROUP_DATA, ItemGroupOID=place.group)
            if place.group_repeat is not None:
                group.set("ItemGroupRepeatKey", place.group_repeat)
            if entry.transaction is not None:
                group.set("TransactionType", entry.transaction)
                self.audit_record(group, entry.audit, location)
            oids, units = self.oids[entry.form], entry.units
            for name, value in entry.values.items():
                if value is None:
                    sub_element(group, ITEM_DATA, {"ItemOID": oids[name], "IsNull": "Yes"})
                elif units and name in units:
                    item = sub_element(group, ITEM_DATA, {"ItemOID": oids[name], "Value": value})
                    sub_element(item, UNIT_REF, {"MeasurementUnitOID": units[name]})
                else:
                    sub_element(group, ITEM_DATA, {"ItemOID": oids[name], "Value": value})

    def audit_record(self, parent, audit: Audit, location: str) -> None:
        # A history holds hundreds of thousands of AuditRecords, most of them alike but for the time
        # and the event: each (user, site, reason) is built once and copied, which is twice as fast.
        key = (audit.user, location, audit.reason)
        if key not in self.audit_templates:
            record = etree.Element(AUDIT_RECORD, nsmap=NSMAP)
            etree.SubElement(record, USER_REF, UserOID=user_oid(audit.user))
            etree.SubElement(record, LOCATION_REF, LocationOID=location)
            etree.SubElement(record, DATE_TIME_STAMP)
            if audit.reason:
                etree.SubElement(record, REASON_FOR_CHANGE).text = xml_text(audit.reason)
            self.audit_templates[key] = record
        record = copy(self.audit_templates[key])  # lxml copies the element with its children
        record[2].text = _stamp(audit.at)
        if audit.source:
            etree.SubElement(record, SOURCE_ID).text = audit.source
        parent.append(record)

    def signature(self, parent, signature: Signature, location: str) -> None:
        element = etree.SubElement(parent, tag("Signature"))
        etree.SubElement(element, tag("UserRef"), UserOID=user_oid(signature.user))
        etree.SubElement(element, tag("LocationRef"), LocationOID=location)
        etree.SubElement(element, tag("SignatureRef"), SignatureOID=self.signature_oids[signature.meaning])
        etree.SubElement(element, tag("DateTimeStamp")).text = _stamp(signature.at)


def _signed_at(entries: list[Entry], signature: Signature) -> int:
    """How many of a screening's entries precede its signature: up to the version that recorded it.

    The version, not the signature's time: a signature can be dated before its record was keyed in
    (the demo study's are), and the database's clock and the application's may differ by a moment.
    """
    signed_at = VALUE_FORMATS[DATETIME](signature.at)
    for index in range(len(entries) - 1, -1, -1):
        if entries[index].values.get("signed_at") == signed_at:
            return index + 1
    return sum(entry.audit.at <= signature.at for entry in entries)


def _first(entries: list[Entry]) -> Audit:
    return min(entries, key=lambda entry: entry.audit.at).audit


@lru_cache(maxsize=4096)  # the events of one transaction share their time
def _stamp(moment: datetime) -> str:
    # To the second: the file's CreationDateTime (the manifest's export time) is to the second, and
    # no audit time may be later than it (section 2.10); the SourceID leads to the exact event.
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def signature_definitions(trail: Trail) -> dict[str, str]:
    """Signature meaning -> SignatureDef OID: the eligibility sign-off, and any older wording still on file."""
    older = sorted({signature.meaning for signature in trail.signatures.values()} - {SIGNATURE_MEANING})
    return {SIGNATURE_MEANING: "SD.eligibility"} | {meaning: f"SD.eligibility.{n}" for n, meaning in
                                                    enumerate(older, start=2)}  # fmt: skip


def user_oid(user: int | None) -> str:
    return NO_USER if user is None else f"USR.{user}"


def _admin_data(trail: Trail, named: set[int | None]) -> etree._Element:
    """The users the AuditRecords and Signatures name, the sites, and the signatures' meanings."""
    admin = etree.Element(tag("AdminData"), StudyOID=STUDY_OID, nsmap=NSMAP)
    for user in sorted(named, key=lambda pk: (pk is None, pk or 0)):
        element = etree.SubElement(admin, tag("User"), OID=user_oid(user))
        login, name = trail.users.get(user, ("", ""))
        if login:
            etree.SubElement(element, tag("LoginName")).text = xml_text(login)
        # No user: a change outside the application (a load script, SQL), which has nobody to name.
        fallback = "not recorded (changed outside the application)" if user is None else f"user #{user}"
        etree.SubElement(element, tag("FullName")).text = xml_text(name or fallback)
    for code, (name, since) in sorted(trail.sites.items()):
        location = etree.SubElement(admin, tag("Location"), OID=f"LOC.{code}", Name=xml_text(name), LocationType="Site")
        etree.SubElement(location, tag("MetaDataVersionRef"), StudyOID=STUDY_OID, MetaDataVersionOID=MDV_OID,
                         EffectiveDate=since.isoformat())  # fmt: skip
    for meaning, oid in signature_definitions(trail).items():
        definition = etree.SubElement(admin, tag("SignatureDef"), OID=oid, Methodology="Electronic")
        etree.SubElement(definition, tag("Meaning")).text = xml_text(meaning)
        etree.SubElement(definition, tag("LegalReason")).text = LEGAL_REASON
    return admin
