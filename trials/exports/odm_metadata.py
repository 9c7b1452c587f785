"""CDISC ODM 1.3.2: where the study's data sit (events, forms, item groups) and the Study element.

The layout follows the protocol's schedule: one StudyEventDef per timepoint of `protocol.Timepoint`,
with screening before them and the end of study after; infusions of a cycle beyond the planned
three go into one repeating event (StudyEventRepeatKey = the cycle); adverse events belong to no
visit, so they sit in a "Common" event as a repeating form (FormRepeatKey = the event's database id,
stable across exports). A lab draw's results and a PVP's treated levels are repeating item groups of
their form, keyed by analyte and by vertebra.

Item names are the data dictionary's (`Variable.name`); every ItemDef, CodeList and unit carries its
text in English and Chinese, the export's language first.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from functools import cache, lru_cache
from typing import NamedTuple

from lxml import etree

from trials import protocol
from trials.exports.variables import BOOLEAN, DATE, DATETIME, DECIMAL, FORMS, INTEGER, TEXT, Variable, bilingual
from trials.exports.variables import form_names as export_names
from trials.models.base import FREE_TEXT_MAX_CHARS
from trials.protocol import STUDY_OID, STUDY_TITLE, Text, Timepoint

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MDV_OID = "MDV.1"
STUDY_DESCRIPTION = (
    "Spinal multiple myeloma treated with percutaneous vertebroplasty (PVP) plus zoledronic acid 4 mg IV "
    "monthly for 3 months: tumour response (EBMT), pain relief (WHO grade), ALP, serum calcium, quality of "
    "life and adverse events."
)


def tag(name: str) -> str:
    return f"{{{NS}}}{name}"


# XML 1.0 forbids most control characters, unpaired surrogates and U+FFFE / U+FFFF anywhere in a
# document (lxml refuses them, and any XML parser would refuse the file). Typed text can hold them
# (a paste from another program), so each one is replaced by U+FFFD, the replacement character,
# which says "a character was here"; tab, line feed, carriage return, emoji and Chinese stay intact.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@lru_cache(maxsize=65536)  # most text is a code ("yes", "baseline", "alp"): checked once each
def xml_text(text: str) -> str:
    return NOT_XML.sub("\ufffd", text)


# --- layout: events, forms, item groups --------------------------------------------------------


@dataclass(frozen=True)
class FormLayout:
    oid: str
    label: Text
    groups: tuple[str, ...]  # the export forms (tables) whose rows are this form's item groups
    repeating: bool = False


@dataclass(frozen=True)
class EventLayout:
    oid: str
    label: object  # a Text or a timepoint's translatable label
    forms: tuple[str, ...]  # FormDef OIDs
    repeating: bool = False
    kind: str = "Scheduled"


FORM_LAYOUTS = (
    FormLayout("F.patient", Text("Patient", "患者"), ("patient",)),
    FormLayout("F.screening", Text("Eligibility screening", "入选资格筛选"), ("screening",)),
    FormLayout("F.pvp", Text("PVP procedure", "PVP 手术"), ("pvp_procedure", "pvp_level")),
    FormLayout("F.infusion", Text("Zoledronic acid infusion", "唑来膦酸输注"), ("infusion",)),
    FormLayout("F.lab_draw", Text("Lab draw", "实验室采血"), ("lab_draw", "lab_result")),
    FormLayout("F.pain", Text("Pain assessment", "疼痛评估"), ("pain",)),
    FormLayout("F.qol", Text("QoL assessment", "生活质量（QoL）评估"), ("qol",)),
    FormLayout("F.response", Text("Tumour response (EBMT)", "肿瘤疗效评估（EBMT）"), ("response",)),
    FormLayout("F.end_of_study", Text("End of study", "研究结束"), ("end_of_study",)),
    FormLayout("F.adverse_event", Text("Adverse event", "不良事件"), ("adverse_event",), repeating=True),
)
FORM_OF = {group: layout for layout in FORM_LAYOUTS for group in layout.groups}
FORM_POSITION = {layout.oid: position for position, layout in enumerate(FORM_LAYOUTS)}
GROUP_LABELS = {
    "patient": Text("Demographics and disease", "人口学与疾病资料"),
    "screening": Text("Eligibility criteria", "入选与排除标准"),
    "pvp_procedure": Text("Procedure", "手术"),
    "pvp_level": Text("Treated level", "治疗椎体"),
    "infusion": Text("Infusion", "输注"),
    "lab_draw": Text("Draw", "采血"),
    "lab_result": Text("Result (one per analyte)", "检查结果（每项一行）"),
    "pain": Text("Pain", "疼痛"),
    "qol": Text("Quality of life (12 items)", "生活质量（12 项）"),
    "response": Text("EBMT response", "EBMT 疗效"),
    "adverse_event": Text("Adverse event", "不良事件"),
    "end_of_study": Text("End of study", "研究结束"),
}
# Item groups that repeat within their form, and the item whose value is the ItemGroupRepeatKey.
REPEAT_KEYS = {"pvp_level": "level", "lab_result": "analyte"}

SCREENING, EXTRA_CYCLES, END_OF_STUDY, COMMON = "SE.screening", "SE.extra_cycle", "SE.end_of_study", "SE.common"
CYCLE_TIMEPOINTS = {f"cycle_{cycle}" for cycle in range(1, protocol.PLANNED_CYCLES + 1)}


def _timepoint_event(timepoint: Timepoint) -> EventLayout:
    forms = ["F.pvp"] if timepoint == Timepoint.PVP else []
    forms += ["F.infusion"] if timepoint.value in CYCLE_TIMEPOINTS else []
    forms += ["F.lab_draw", "F.pain", "F.qol"]  # any timepoint may have them (the model allows it)
    forms += ["F.response"] if timepoint == Timepoint.FOLLOW_UP else []
    return EventLayout(f"SE.{timepoint.value}", timepoint.label, tuple(forms))


def _event_layouts() -> tuple[EventLayout, ...]:
    planned = protocol.PLANNED_CYCLES
    extra = EventLayout(
        EXTRA_CYCLES,
        Text(f"Infusion cycles beyond the {planned} planned", f"计划 {planned} 个周期以外的输注"),
        ("F.infusion",),
        repeating=True,
        kind="Unscheduled",
    )
    events = [EventLayout(SCREENING, Text("Screening", "筛选"), ("F.patient", "F.screening"))]
    for timepoint in Timepoint:
        if timepoint == Timepoint.FOLLOW_UP:
            events.append(extra)
        events.append(_timepoint_event(timepoint))
    events.append(EventLayout(END_OF_STUDY, Text("End of study", "研究结束"), ("F.end_of_study",)))
    events.append(EventLayout(COMMON, Text("Adverse events (any time)", "不良事件（任何时间）"),
                              ("F.adverse_event",), kind="Common"))  # fmt: skip
    return tuple(events)


EVENT_LAYOUTS = _event_layouts()
EVENT_POSITION = {event.oid: position for position, event in enumerate(EVENT_LAYOUTS)}


def event_of(form: str, values: dict) -> tuple[str, str | None]:
    """The StudyEventDef OID (and repeat key) of a row; `values` holds the row's raw values."""
    if form in ("patient", "screening"):
        return SCREENING, None
    if form in ("pvp_procedure", "pvp_level"):
        return f"SE.{Timepoint.PVP.value}", None
    if form == "infusion":
        cycle = int(values["cycle"])
        return (f"SE.cycle_{cycle}", None) if cycle <= protocol.PLANNED_CYCLES else (EXTRA_CYCLES, str(cycle))
    if form == "response":
        return f"SE.{Timepoint.FOLLOW_UP.value}", None
    if form == "end_of_study":
        return END_OF_STUDY, None
    if form == "adverse_event":
        return COMMON, None
    return f"SE.{values['timepoint']}", None  # lab draws (and their results), pain, QoL


class Place(NamedTuple):
    """Where one item group's data sit in ClinicalData: its event, form and group, each with its repeat key."""

    event: str
    event_repeat: str | None
    form: str
    form_repeat: str | None
    group: str
    group_repeat: str | None

    @property
    def order(self) -> tuple[int, int, int, int]:
        """Events in the schedule's order, then forms in FORM_LAYOUTS' order (repeats by number)."""
        return (EVENT_POSITION[self.event], int(self.event_repeat or 0), FORM_POSITION[self.form],
                int(self.form_repeat or 0))  # fmt: skip


def place_of(form: str, values: dict, record: int | None = None) -> Place:
    """The place of a row of `form`; `record` (the row's id) keys a repeating form (adverse events)."""
    event, event_repeat = event_of(form, values)
    layout = FORM_OF[form]
    group_repeat = str(values[REPEAT_KEYS[form]]) if form in REPEAT_KEYS else None
    return Place(event, event_repeat, layout.oid, str(record) if layout.repeating else None, f"IG.{form}", group_repeat)


def item_oid(form: str, name: str) -> str:
    return f"IT.{form}.{name}"


def exported_items(variables: list[Variable]) -> list[Variable]:
    """A form's items: its columns without the keys, which ODM says with SubjectKey and the event."""
    return [variable for variable in variables if not variable.key]


# --- values ------------------------------------------------------------------------------------------


def _decimal(value) -> str:
    return format(value if isinstance(value, Decimal) else Decimal(str(value)), "f")  # never an exponent


# ODM's data formats (section 2.13): integer, float as a plain decimal, date YYYY-MM-DD, datetime in
# ISO 8601 (UTC here), boolean true / false. An empty text is a value nobody entered: like None, it
# writes no ItemData ("transmit only collected data", section 3.1.4.1.1.1.1.1).
VALUE_FORMATS: dict[str, Callable[[object], str | None]] = {
    INTEGER: lambda value: str(int(value)),
    DECIMAL: _decimal,
    DATE: lambda value: value.isoformat(),
    DATETIME: lambda value: value.astimezone(UTC).isoformat(),
    BOOLEAN: lambda value: "true" if value else "false",
    TEXT: lambda value: xml_text(str(value)) if value != "" else None,
}


def item_formats(variables: list[Variable]) -> list[tuple[str, Callable[[object], str | None]]]:
    """(item name, its formatter) of a form's exported items, in the dictionary's order."""
    return [(variable.name, VALUE_FORMATS[variable.kind]) for variable in exported_items(variables)]


def odm_values(formats, row: dict) -> dict[str, str | None]:
    """Every item of the row as ODM text, None where it has no value."""
    return {name: None if row[name] is None else write(row[name]) for name, write in formats}


def present_values(formats, row: dict) -> dict[str, str]:
    """Only the items of the row that have a value (an Insert, a Snapshot)."""
    present = {}
    for name, write in formats:
        value = row[name]
        if value is not None and (text := write(value)) is not None:
            present[name] = text
    return present


# --- units -----------------------------------------------------------------------------------------

UNIT_OID_NAMES = {"%": "percent", "°C": "Cel", "10^9/L": "10E9_L"}
UNIT_SYMBOLS_ZH = {"days": "天", "years": "岁", "min": "分钟"}


def unit_oid(unit: str) -> str:
    return "MU." + UNIT_OID_NAMES.get(unit, re.sub(r"[^A-Za-z0-9]+", "_", unit))


def analyte_units(analyte: protocol.Analyte) -> tuple[str, ...]:
    return (analyte.unit, *analyte.alternative_units)


@cache  # a handful of (analyte, unit) pairs, asked for every result
def lab_units(analyte_code: str, entered_unit: str) -> dict[str, str]:
    """MeasurementUnitOIDs of a result's values: its analyte's unit, and the unit it was typed in."""
    analyte = protocol.ANALYTES_BY_CODE.get(analyte_code)
    if analyte is None:
        return {}
    entered = entered_unit or analyte.unit
    units = {"value": unit_oid(analyte.unit)}
    if entered in analyte_units(analyte):  # anything else was never offered: no unit is claimed
        units["entered_value"] = unit_oid(entered)
    return units


def _item_units(form: str, variable: Variable) -> list[str]:
    if form == "lab_result" and variable.name == "value":
        return list(dict.fromkeys(analyte.unit for analyte in protocol.ANALYTES))
    if form == "lab_result" and variable.name == "entered_value":
        return list(dict.fromkeys(unit for analyte in protocol.ANALYTES for unit in analyte_units(analyte)))
    # Only numbers have a unit (a yes/no answer about "> 90 days" has none, whatever its name says).
    return [variable.unit] if variable.unit and variable.kind in (INTEGER, DECIMAL) else []


# --- the Study element -----------------------------------------------------------------------------


class _Builder:
    """Writes the Study element; `language` decides which TranslatedText comes first."""

    def __init__(self, variables: dict[str, list[Variable]], language: str):
        self.variables = variables
        self.languages = ("zh", "en") if language == "zh" else ("en", "zh")

    def translated(self, parent, name: str, text: Text):
        element = etree.SubElement(parent, tag(name))
        for language in self.languages:
            etree.SubElement(element, tag("TranslatedText"), {XML_LANG: language}).text = xml_text(
                text.for_language(language)
            )
        return element

    def study(self) -> etree._Element:
        study = etree.Element(tag("Study"), OID=STUDY_OID, nsmap={None: NS})
        global_variables = etree.SubElement(study, tag("GlobalVariables"))
        etree.SubElement(global_variables, tag("StudyName")).text = STUDY_TITLE
        etree.SubElement(global_variables, tag("StudyDescription")).text = STUDY_DESCRIPTION
        etree.SubElement(global_variables, tag("ProtocolName")).text = STUDY_OID
        self.basic_definitions(study)
        mdv = etree.SubElement(study, tag("MetaDataVersion"), OID=MDV_OID, Name="PVP study data dictionary")
        protocol_element = etree.SubElement(mdv, tag("Protocol"))
        for number, event in enumerate(EVENT_LAYOUTS, start=1):
            etree.SubElement(protocol_element, tag("StudyEventRef"), StudyEventOID=event.oid,
                             OrderNumber=str(number), Mandatory="Yes" if event.oid == SCREENING else "No")  # fmt: skip
        for event in EVENT_LAYOUTS:
            self.event_def(mdv, event)
        for layout in FORM_LAYOUTS:
            self.form_def(mdv, layout)
        for form in FORMS:
            self.item_group_def(mdv, form)
        codelists = self.codelists()
        for form in FORMS:
            for variable in exported_items(self.variables[form]):
                self.item_def(mdv, form, variable, codelists.get((form, variable.name)))
        written = set()
        for (_form, _name), (oid, variable) in codelists.items():
            if oid not in written:
                written.add(oid)
                self.codelist(mdv, oid, variable)
        return study

    def basic_definitions(self, study) -> None:
        units = [unit for analyte in protocol.ANALYTES for unit in analyte_units(analyte)]
        units += [unit for form in FORMS for variable in self.variables[form] for unit in _item_units(form, variable)]
        definitions = etree.SubElement(study, tag("BasicDefinitions"))
        for unit in dict.fromkeys(units):
            element = etree.SubElement(definitions, tag("MeasurementUnit"), OID=unit_oid(unit), Name=unit)
            self.translated(element, "Symbol", Text(unit, UNIT_SYMBOLS_ZH.get(unit, unit)))

    def event_def(self, mdv, event: EventLayout) -> None:
        label = bilingual(event.label)
        element = etree.SubElement(mdv, tag("StudyEventDef"), OID=event.oid, Name=label.en,
                                   Repeating="Yes" if event.repeating else "No", Type=event.kind)  # fmt: skip
        self.translated(element, "Description", label)
        for number, form in enumerate(event.forms, start=1):
            etree.SubElement(element, tag("FormRef"), FormOID=form, OrderNumber=str(number), Mandatory="No")

    def form_def(self, mdv, layout: FormLayout) -> None:
        element = etree.SubElement(mdv, tag("FormDef"), OID=layout.oid, Name=layout.label.en,
                                   Repeating="Yes" if layout.repeating else "No")  # fmt: skip
        self.translated(element, "Description", layout.label)
        for number, group in enumerate(layout.groups, start=1):
            etree.SubElement(element, tag("ItemGroupRef"), ItemGroupOID=f"IG.{group}", OrderNumber=str(number),
                             Mandatory="Yes" if number == 1 else "No")  # fmt: skip

    def item_group_def(self, mdv, form: str) -> None:
        element = etree.SubElement(mdv, tag("ItemGroupDef"), OID=f"IG.{form}", Name=form,
                                   Repeating="Yes" if form in REPEAT_KEYS else "No",
                                   SASDatasetName=export_names(form, self.variables[form]).xpt_table)  # fmt: skip
        self.translated(element, "Description", GROUP_LABELS[form])
        model = FORMS[form][0]
        for number, variable in enumerate(exported_items(self.variables[form]), start=1):
            attributes = {"ItemOID": item_oid(form, variable.name), "OrderNumber": str(number),
                          "Mandatory": "Yes" if _required(model, variable) else "No"}  # fmt: skip
            if REPEAT_KEYS.get(form) == variable.name:
                attributes["KeySequence"] = "1"
            etree.SubElement(element, tag("ItemRef"), attributes)

    def item_def(self, mdv, form: str, variable: Variable, codelist) -> None:
        attributes = {"OID": item_oid(form, variable.name), "Name": variable.name, **_data_type(form, variable)}
        sas_name = export_names(form, self.variables[form]).xpt[variable.name]
        element = etree.SubElement(mdv, tag("ItemDef"), attributes, SASFieldName=sas_name)
        label = Text(variable.label_en, variable.label_zh)
        self.translated(element, "Description", label)
        if not variable.derived:  # a derived item is computed, never asked
            self.translated(element, "Question", label)
        for unit in _item_units(form, variable):
            etree.SubElement(element, tag("MeasurementUnitRef"), MeasurementUnitOID=unit_oid(unit))
        if variable.low is not None:  # the database refuses values outside: a hard check
            for comparator, bound in (("GE", variable.low), ("LE", variable.high)):
                check = etree.SubElement(element, tag("RangeCheck"), Comparator=comparator, SoftHard="Hard")
                etree.SubElement(check, tag("CheckValue")).text = protocol.plain_number(bound)
        if codelist is not None:
            etree.SubElement(element, tag("CodeListRef"), CodeListOID=codelist[0])

    def codelists(self) -> dict[tuple[str, str], tuple[str, Variable]]:
        """(form, item) -> (CodeList OID, a variable with its choices). Identical lists are written once,
        named after their item, or after their codes when items of other names share them (CL.yes_no_unknown)."""
        sharing: dict[tuple, list[tuple[str, Variable]]] = {}
        for form in FORMS:
            for variable in exported_items(self.variables[form]):
                if variable.coded:
                    choices = tuple((choice.code, choice.label_en, choice.label_zh) for choice in variable.choices)
                    sharing.setdefault(choices, []).append((form, variable))
        out, taken = {}, set()
        for choices, items in sharing.items():
            first_form, first = items[0]
            codes = "_".join(str(code) for code, _english, _chinese in choices)
            shared = len({variable.name for _form, variable in items}) > 1
            oid = f"CL.{codes}" if shared and len(codes) <= 24 else f"CL.{first.name}"
            if oid in taken:
                oid = f"CL.{first_form}.{first.name}"
            taken.add(oid)
            out |= {(form, variable.name): (oid, first) for form, variable in items}
        return out

    def codelist(self, mdv, oid: str, variable: Variable) -> None:
        data_type = "integer" if not variable.coded_text else "text"
        element = etree.SubElement(mdv, tag("CodeList"), OID=oid, Name=oid.removeprefix("CL."), DataType=data_type)
        for number, choice in enumerate(variable.choices, start=1):
            item = etree.SubElement(element, tag("CodeListItem"), CodedValue=str(choice.code), OrderNumber=str(number))
            self.translated(item, "Decode", Text(choice.label_en, choice.label_zh))


def _required(model, variable: Variable) -> bool:
    if variable.derived:
        return False
    return not model._meta.get_field(variable.name).blank


def _data_type(form: str, variable: Variable) -> dict[str, str]:
    """DataType with Length and SignificantDigits as ODM defines them (section 3.1.3.5 ItemDef)."""
    if variable.kind == DECIMAL:
        # Length N with S significant digits: values below 10^(N-S) in steps of 10^-S, the column's own limits.
        digits = FORMS[form][0]._meta.get_field(variable.name).max_digits
        return {"DataType": "float", "Length": str(digits), "SignificantDigits": str(variable.decimals)}
    if variable.kind == INTEGER:
        if variable.high is None:
            return {"DataType": "integer"}
        return {"DataType": "integer", "Length": str(len(protocol.plain_number(variable.high)))}
    if variable.kind == TEXT:
        codes = [len(str(choice.code)) for choice in variable.choices]
        return {"DataType": "text", "Length": str(variable.max_length or max(codes, default=FREE_TEXT_MAX_CHARS))}
    return {"DataType": {DATE: "date", DATETIME: "datetime", BOOLEAN: "boolean"}[variable.kind]}


def study_element(variables: dict[str, list[Variable]], language: str) -> etree._Element:
    return _Builder(variables, language).study()
