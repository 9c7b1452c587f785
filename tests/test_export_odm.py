"""CDISC ODM 1.3.2 export: valid against the official schema, and its audit history replays to the tables.

Every document these tests produce is validated against the CDISC schema in tests/standards/odm-1.3.2
(see SOURCE.md there). The replay oracle below reads a file as an ODM consumer would (section 2.9):
Insert, Update and Remove of each ItemGroupData in document order; what is left must be exactly
what `exports.read_study` reads from the database.
"""

import io
import re
from datetime import UTC, date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from lxml import etree

from tests import factories
from trials import exports, protocol, services
from trials.audit import change_context
from trials.enrolment import SIGNATURE_MEANING, sign_screening
from trials.exports import variables as kinds
from trials.models import Infusion, LabDraw, PainAssessment, Patient, TreatedLevel, User

pytestmark = pytest.mark.django_db

SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "standards" / "odm-1.3.2" / "ODM1-3-2.xsd")))
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
LANG = "{http://www.w3.org/XML/1998/namespace}lang"
EVENTS = ["SE.screening", "SE.baseline", "SE.pvp", "SE.cycle_1", "SE.cycle_2", "SE.cycle_3", "SE.extra_cycle",
          "SE.follow_up", "SE.end_of_study", "SE.common"]  # fmt: skip
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    return User.objects.get(username="data_manager")


def odm(user, **options) -> etree._Element:
    """The user's ODM export, parsed after checking it against the official schema."""
    content = exports.render(user, "odm", **options).content
    assert content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(content)
    assert SCHEMA.validate(root), SCHEMA.error_log.filter_from_errors()[:5]
    return root


def groups(root, oid: str) -> list[etree._Element]:
    return root.findall(f".//odm:ItemGroupData[@ItemGroupOID='{oid}']", NS)


def items(group) -> dict[str, str | None]:
    """{item name: value} of one ItemGroupData; None where the item is set to null."""
    return {item.get("ItemOID").rsplit(".", 1)[1]: item.get("Value") for item in group.findall("odm:ItemData", NS)}


def audit_of(group) -> dict[str, str]:
    record = group.find("odm:AuditRecord", NS)
    return {
        "user": record.find("odm:UserRef", NS).get("UserOID"),
        "location": record.find("odm:LocationRef", NS).get("LocationOID"),
        "at": record.findtext("odm:DateTimeStamp", namespaces=NS),
        "reason": record.findtext("odm:ReasonForChange", default="", namespaces=NS),
        "source": record.findtext("odm:SourceID", default="", namespaces=NS),
    }


# --- the replay oracle ------------------------------------------------------------------------------


def replayed(root) -> dict[str, list[tuple]]:
    """form -> sorted rows (screening number, sorted (item, value) pairs) left after every transaction."""
    state: dict[tuple, dict] = {}
    for subject in root.iterfind(".//odm:SubjectData", NS):
        for event in subject.iterfind("odm:StudyEventData", NS):
            for form in event.iterfind("odm:FormData", NS):
                for group in form.iterfind("odm:ItemGroupData", NS):
                    key = (subject.get("SubjectKey"), event.get("StudyEventOID"), event.get("StudyEventRepeatKey"),
                           form.get("FormOID"), form.get("FormRepeatKey"), group.get("ItemGroupOID"),
                           group.get("ItemGroupRepeatKey"))  # fmt: skip
                    transaction = group.get("TransactionType", "Insert")
                    if transaction == "Insert":
                        assert key not in state, f"Insert of an existing {key}"
                        state[key] = {}
                    else:
                        assert key in state, f"{transaction} of a missing {key}"
                    if transaction == "Remove":
                        del state[key]
                        continue
                    for name, value in items(group).items():
                        if value is None:
                            state[key].pop(name, None)
                        else:
                            state[key][name] = value
    tables: dict[str, list[tuple]] = {form: [] for form in exports.FORMS}
    for (number, event, event_repeat, _form, _form_repeat, group, _group_repeat), values in state.items():
        form = group.removeprefix("IG.")
        if form == "lab_result":  # a result's timepoint is its draw's: the event it sits in
            values = {**values, "timepoint": event.removeprefix("SE.")}
        if "timepoint" in values:
            assert event == f"SE.{values['timepoint']}", (number, form, values)
        if form == "infusion":
            cycle = int(values["cycle"])
            expected = ("SE.extra_cycle", str(cycle)) if cycle > 3 else (f"SE.cycle_{cycle}", None)
            assert (event, event_repeat) == expected, (number, values)
        tables[form].append((number, tuple(sorted(values.items()))))
    return {form: sorted(rows) for form, rows in tables.items()}


def as_odm_text(kind: str, value) -> str | None:
    """ODM's data formats, written out independently of the module under test."""
    if value is None or value == "":
        return None
    if kind == kinds.INTEGER:
        return str(int(value))
    if kind == kinds.DECIMAL:
        return format(Decimal(value), "f")
    if kind == kinds.DATETIME:
        return value.astimezone(UTC).isoformat()
    if kind == kinds.DATE:
        return value.isoformat()
    if kind == kinds.BOOLEAN:
        return "true" if value else "false"
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", str(value))  # what XML 1.0 cannot hold


def tables_now(user, *, identifiable=False) -> dict[str, list[tuple]]:
    """The same shape as `replayed`, from the database through the exports' own reader."""
    study = exports.read_study(user, identifiable=identifiable)
    out = {}
    for form, frame in study.frames.items():
        variables = [v for v in study.variables[form] if not v.key or (form, v.name) == ("lab_result", "timepoint")]
        rows = []
        for row in frame.to_dict("records"):
            values = {v.name: as_odm_text(v.kind, row[v.name]) for v in variables}
            rows.append((row["screening_number"], tuple(sorted((k, v) for k, v in values.items() if v is not None))))
        out[form] = sorted(rows)
    return out


# --- metadata ---------------------------------------------------------------------------------------


def test_the_demo_study_validates_with_its_schedule_codelists_and_units(demo):
    root = odm(demo)
    assert root.get("FileType") == "Transactional" and root.get("Granularity") == "All"
    assert root.get("ODMVersion") == "1.3.2"
    assert "data version" in root.get("Description") and "by data_manager" in root.get("Description")
    assert root.get("CreationDateTime") == root.get("AsOfDateTime")
    assert len(root.findall(".//odm:SubjectData", NS)) == 18
    events = root.findall(".//odm:StudyEventDef", NS)
    assert [event.get("OID") for event in events] == EVENTS
    repeating = {event.get("OID"): event.get("Repeating") for event in events}
    assert repeating["SE.extra_cycle"] == "Yes" and repeating["SE.cycle_3"] == "No"
    assert root.find(".//odm:StudyEventDef[@OID='SE.common']", NS).get("Type") == "Common"
    assert root.find(".//odm:FormDef[@OID='F.adverse_event']", NS).get("Repeating") == "Yes"
    assert root.find(".//odm:ItemGroupDef[@OID='IG.lab_result']", NS).get("Repeating") == "Yes"

    codelists = {codelist.get("OID"): codelist for codelist in root.iterfind(".//odm:CodeList", NS)}
    definitions = {item.get("OID"): item for item in root.iterfind(".//odm:ItemDef", NS)}
    coded = [(form, v.name) for form, columns in exports.study_variables().items() for v in columns
             if v.coded and not v.key]  # fmt: skip
    assert len(coded) > 30
    for form, name in coded:
        reference = definitions[f"IT.{form}.{name}"].find("odm:CodeListRef", NS)
        assert reference is not None, (form, name)
        for item in codelists[reference.get("CodeListOID")].iterfind("odm:CodeListItem", NS):
            decodes = {text.get(LANG): text.text for text in item.iterfind("odm:Decode/odm:TranslatedText", NS)}
            assert set(decodes) == {"en", "zh"} and all(decodes.values()), (form, name, decodes)
    for definition in definitions.values():
        for tag in ("Description", "Question"):
            texts = definition.findall(f"odm:{tag}/odm:TranslatedText", NS)
            assert not texts or {text.get(LANG) for text in texts} == {"en", "zh"}
    # A list several items share is written once, named after its codes.
    assert definitions["IT.screening.i1"].find("odm:CodeListRef", NS).get("CodeListOID") == "CL.yes_no_unknown"
    assert definitions["IT.adverse_event.ctcae_grade"].find("odm:CodeListRef", NS).get("CodeListOID") == "CL.1_2_3_4_5"
    assert definitions["IT.infusion.status"].find("odm:CodeListRef", NS).get("CodeListOID") == "CL.status"
    dose = definitions["IT.infusion.dose_mg"]
    assert (dose.get("DataType"), dose.get("Length"), dose.get("SignificantDigits")) == ("float", "2", "1")
    assert dose.find("odm:MeasurementUnitRef", NS).get("MeasurementUnitOID") == "MU.mg"
    assert [c.findtext("odm:CheckValue", namespaces=NS) for c in dose.iterfind("odm:RangeCheck", NS)] == ["0.5", "4"]
    assert definitions["IT.pvp_level.cement_ml"].find("odm:MeasurementUnitRef", NS).get("MeasurementUnitOID") == "MU.ml"
    assert definitions["IT.infusion.infused_on"].get("DataType") == "date"
    assert definitions["IT.screening.signed_at"].get("DataType") == "datetime"
    assert definitions["IT.lab_draw.fasting"].get("DataType") == "boolean"
    assert "IT.patient.date_of_birth" not in definitions  # de-identified by default


def test_every_lab_value_carries_its_analytes_unit(demo):
    root = odm(demo, audit=False)
    units = {unit.get("OID"): unit.get("Name") for unit in root.iterfind(".//odm:MeasurementUnit", NS)}
    results = groups(root, "IG.lab_result")
    assert len(results) == 192
    for result in results:
        analyte = protocol.ANALYTES_BY_CODE[result.get("ItemGroupRepeatKey")]
        value = result.find("odm:ItemData[@ItemOID='IT.lab_result.value']", NS)
        assert units[value.find("odm:MeasurementUnitRef", NS).get("MeasurementUnitOID")] == analyte.unit


def test_a_study_without_patients_validates(site_a, data_manager):
    for audit in (True, False):
        root = odm(data_manager, audit=audit)
        assert root.findall(".//odm:SubjectData", NS) == []
        assert len(root.findall(".//odm:StudyEventDef", NS)) == len(EVENTS)


# --- clinical data and the audit history ------------------------------------------------------------


def test_replaying_the_demos_history_gives_the_tables_exactly(demo):
    clinician = User.objects.get(username="clinician")
    pain = PainAssessment.objects.filter(timepoint="follow_up").first()
    pain.who_grade = 2 if pain.who_grade != 2 else 1
    services.save_record(pain, user=clinician, reason="transcription error: grade read from the nursing chart")
    draw = LabDraw.objects.filter(timepoint="baseline").first()
    draw.timepoint = "pvp"  # moves the draw with its results to another event
    services.save_record(draw, user=clinician, reason="drawn on the day of the PVP")
    with change_context(user=clinician, reason="level entered twice"):
        TreatedLevel.objects.filter(procedure__patient=pain.patient).first().delete()
    infusion = Infusion.objects.filter(cycle=2).first()
    services.soft_delete(infusion, user=clinician, reason="entered for the wrong patient")

    root = odm(demo)
    assert replayed(root) == tables_now(demo)
    update = next(g for g in groups(root, "IG.pain") if g.get("TransactionType") == "Update")
    assert items(update) == {"who_grade": str(pain.who_grade)}  # only what changed
    assert audit_of(update)["reason"] == "transcription error: grade read from the nursing chart"
    assert audit_of(update)["user"] == f"USR.{clinician.pk}"
    assert audit_of(update)["location"] == f"LOC.{pain.patient.site.code}"
    assert audit_of(update)["source"].startswith("trials.PainAssessmentEvent:")
    user = root.find(f".//odm:AdminData/odm:User[@OID='USR.{clinician.pk}']", NS)
    assert user.findtext("odm:FullName", namespaces=NS) == clinician.get_full_name()
    moved = [g for g in groups(root, "IG.lab_result") if audit_of(g)["reason"] == "drawn on the day of the PVP"]
    assert {g.get("TransactionType") for g in moved} == {"Remove", "Insert"}
    assert len(moved) == 2 * draw.results.count()


def test_a_soft_deleted_infusion_is_removed_with_its_reason_and_absent_from_the_snapshot(clinician, data_manager,
                                                                                         enrolled_patient):  # fmt: skip
    with change_context(user=clinician, reason="initial entry"):
        infusion = factories.InfusionFactory(patient=enrolled_patient, cycle=1)
    services.soft_delete(infusion, user=clinician, reason="entered for the wrong patient")

    history = groups(odm(data_manager), "IG.infusion")
    assert [g.get("TransactionType") for g in history] == ["Insert", "Remove"]
    assert audit_of(history[1])["reason"] == "deleted: entered for the wrong patient"
    assert audit_of(history[1])["user"] == f"USR.{clinician.pk}"
    snapshot = odm(data_manager, audit=False)
    assert snapshot.get("FileType") == "Snapshot"
    assert groups(snapshot, "IG.infusion") == []
    assert snapshot.findall(".//odm:AuditRecord", NS) == []
    assert snapshot.find(".//odm:*[@TransactionType]", NS) is None


def test_an_e_signed_screening_carries_the_signature(site_a, clinician, coordinator, data_manager):
    with change_context(user=clinician, reason="initial entry"):
        screening = factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
    assert sign_screening(screening, signer=coordinator, password=PASSWORD).signed
    screening.refresh_from_db()

    for audit in (True, False):
        root = odm(data_manager, audit=audit)
        [form] = root.xpath("//odm:FormData[@FormOID='F.screening'][odm:Signature]", namespaces=NS)
        signature = form.find("odm:Signature", NS)
        assert signature.find("odm:UserRef", NS).get("UserOID") == f"USR.{coordinator.pk}"
        assert signature.find("odm:LocationRef", NS).get("LocationOID") == "LOC.AAA"
        stamp = signature.findtext("odm:DateTimeStamp", namespaces=NS)
        assert stamp == screening.signed_at.astimezone(UTC).replace(microsecond=0).isoformat()
        reference = signature.find("odm:SignatureRef", NS).get("SignatureOID")
        definition = root.find(f".//odm:SignatureDef[@OID='{reference}']", NS)
        assert definition.findtext("odm:Meaning", namespaces=NS) == SIGNATURE_MEANING
        assert "21 CFR Part 11" in definition.findtext("odm:LegalReason", namespaces=NS)
        signer = root.find(f".//odm:User[@OID='USR.{coordinator.pk}']", NS)
        assert signer.findtext("odm:FullName", namespaces=NS) == coordinator.get_full_name()
        if audit:  # the signature follows the change that recorded it, in an Update of the form
            assert form.get("TransactionType") == "Update"
            assert audit_of(form)["user"] == f"USR.{coordinator.pk}"
            assert audit_of(form)["reason"] == f"e-signature: {SIGNATURE_MEANING}"
            assert replayed(root) == tables_now(data_manager)


def test_a_deidentified_export_has_no_date_of_birth_even_in_its_history(clinician, data_manager, enrolled_patient):
    first = enrolled_patient.date_of_birth
    patient = Patient.objects.get(pk=enrolled_patient.pk)
    patient.date_of_birth = date(1956, 4, 2)
    services.save_record(patient, user=clinician, reason="typo in the year of birth")

    content = exports.render(data_manager, "odm").content
    assert SCHEMA.validate(etree.fromstring(content))
    for secret in (first.isoformat(), "1956-04-02", "date_of_birth", patient.hospital_number, "HN0"):
        assert secret.encode() not in content, secret
    root = etree.fromstring(content)
    ages = [items(g).get("age_at_enrolment") for g in groups(root, "IG.patient")]
    assert ages[-1] == str(protocol.age_on(date(1956, 4, 2), patient.enrolled_on))  # the derived age follows
    assert replayed(root) == tables_now(data_manager)
    identifiable = odm(data_manager, identifiable=True)
    assert [items(g).get("date_of_birth") for g in groups(identifiable, "IG.patient")][-1] == "1956-04-02"
    assert replayed(identifiable) == tables_now(data_manager, identifiable=True)


def test_awkward_values_validate_and_replay(clinician, data_manager, enrolled_patient):
    """Control characters XML forbids become U+FFFD; emoji, Chinese, markup and long text stay intact;
    an item emptied by an edit is IsNull; extra cycles and adverse events sit in their own events."""
    text = "fever 🌡️ 发热 <b>&amp;</b> \"quoted\" 'single'\r\nline\t\x01\x0bend"
    with change_context(user=clinician, reason="entered 🦴 with\x02 a control character"):
        event = factories.AdverseEventFactory(patient=enrolled_patient, term="fever", max_temperature_c=Decimal("38.5"),
                                              description=text, resolved_on=date(2020, 1, 20))  # fmt: skip
        other = factories.AdverseEventFactory(patient=enrolled_patient, term="other", other_term="x" * 200,
                                              description="长" * 4000)  # fmt: skip
        factories.InfusionFactory(patient=enrolled_patient, cycle=4, infused_on=date(2020, 4, 6))
        factories.InfusionFactory(patient=enrolled_patient, cycle=5, infused_on=date(2020, 5, 4), status="held",
                                  held_reason="platelets 🩸 low", dose_mg=None, duration_min=None)  # fmt: skip
        draw = factories.LabDrawFactory(patient=enrolled_patient, fasting=None)
        factories.LabResultFactory(lab_draw=draw, analyte="m_protein", value=Decimal("0"))
        typed = {"entered_value": Decimal("14.4"), "entered_unit": "mg/dL"}  # a critical calcium, confirmed
        factories.LabResultFactory(lab_draw=draw, analyte="calcium", value=Decimal("3.5928"), critical_confirmed=True,
                                   **typed)  # fmt: skip
        factories.QolAssessmentFactory(patient=enrolled_patient, q_sleep=None)
    event.resolved_on = None
    event.outcome = "ongoing"
    services.save_record(event, user=clinician, reason="not resolved after all")

    content = exports.render(data_manager, "odm").content
    root = etree.fromstring(content)
    assert SCHEMA.validate(root), SCHEMA.error_log.filter_from_errors()[:5]
    assert "fever 🌡️ 发热 <b>&amp;</b>".encode() not in content  # escaped, never markup
    first = groups(root, "IG.adverse_event")[0]
    assert items(first)["description"] == text.replace("\x01", "\ufffd").replace("\x0b", "\ufffd")
    assert audit_of(first)["reason"] == "entered 🦴 with\ufffd a control character"
    emptied = next(g for g in groups(root, "IG.adverse_event") if g.get("TransactionType") == "Update")
    assert items(emptied) == {"resolved_on": None, "outcome": "ongoing"}
    assert emptied.find("odm:ItemData[@ItemOID='IT.adverse_event.resolved_on']", NS).get("IsNull") == "Yes"
    extra = root.findall(".//odm:StudyEventData[@StudyEventOID='SE.extra_cycle']", NS)
    assert [e.get("StudyEventRepeatKey") for e in extra] == ["4", "5"]
    common = root.findall(".//odm:StudyEventData[@StudyEventOID='SE.common']/odm:FormData", NS)
    assert {form.get("FormRepeatKey") for form in common} == {str(event.pk), str(other.pk)}
    calcium = next(g for g in groups(root, "IG.lab_result") if g.get("ItemGroupRepeatKey") == "calcium")
    entered = calcium.find("odm:ItemData[@ItemOID='IT.lab_result.entered_value']", NS)
    assert entered.find("odm:MeasurementUnitRef", NS).get("MeasurementUnitOID") == "MU.mg_dL"
    assert root.find(".//odm:User[@OID='USR.unrecorded']", NS) is not None  # the fixture's rows have no user
    assert replayed(root) == tables_now(data_manager)
    snapshot = odm(data_manager, audit=False, language="zh")
    assert replayed(snapshot) == tables_now(data_manager)
    first_text = snapshot.find(".//odm:ItemDef/odm:Description/odm:TranslatedText", NS)
    assert first_text.get(LANG) == "zh"  # the export's language first


def test_characters_xml_forbids_become_the_replacement_character():
    from trials.exports.odm_metadata import xml_text

    assert xml_text("a\x00b\x08\x0b\x0c\x1f\ud800\udfff\ufffe\uffff z") == "a\ufffdb" + "\ufffd" * 8 + " z"
    assert xml_text("tab\tline\r\n 🦴 骨髓瘤 \u00e9") == "tab\tline\r\n 🦴 骨髓瘤 \u00e9"
