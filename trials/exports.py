"""Analysis-ready exports of the whole study: CSV (zip), Excel, SPSS, Stata and CDISC ODM 1.3.2.

Variable names are DESIGN.md's. De-identified by default: no date of birth, hospital number or
initials, age at enrolment instead. Each form is one table keyed by `screening_number`.
"""

import io
import zipfile
from datetime import UTC, datetime
from xml.etree import ElementTree as ET  # noqa: S405 - we only write XML here, never parse input

import pandas as pd
from django.utils.translation import gettext_lazy as _

from trials import access, protocol
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PvpProcedure,
    QolAssessment,
    Screening,
    TreatedLevel,
    TumourResponse,
)
from trials.models.base import DELETION_FIELDS
from trials.tables import spreadsheet_text

IDENTIFYING = ("date_of_birth", "hospital_number", "initials")
# Deleted forms are not exported, so their deletion fields would always be empty.
SKIP = {"id", "created_at", "updated_at", "version", "patient", "procedure", "lab_draw", "site", *DELETION_FIELDS}

# form name -> (model, how to reach the patient)
FORMS = {
    "patient": (Patient, ""),
    "screening": (Screening, "patient__"),
    "pvp_procedure": (PvpProcedure, "patient__"),
    "pvp_level": (TreatedLevel, "procedure__patient__"),
    "infusion": (Infusion, "patient__"),
    "lab_draw": (LabDraw, "patient__"),
    "lab_result": (LabResult, "lab_draw__patient__"),
    "pain": (PainAssessment, "patient__"),
    "qol": (QolAssessment, "patient__"),
    "response": (TumourResponse, "patient__"),
    "adverse_event": (AdverseEvent, "patient__"),
    "end_of_study": (EndOfStudy, "patient__"),
}
FORMATS = ("csv", "xlsx", "sav", "dta", "odm")


def _fields(model, identifiable: bool) -> list:
    """The exported fields: the form's own values (links to other rows are replaced by the key)."""
    return [
        field
        for field in model._meta.concrete_fields
        if field.name not in SKIP and not field.is_relation and (identifiable or field.name not in IDENTIFYING)
    ]


def _columns(model, identifiable: bool) -> list[str]:
    return [field.name for field in _fields(model, identifiable)]


def study_frames(user, *, identifiable: bool = False, progress=None) -> dict[str, pd.DataFrame]:
    """One DataFrame per form, scoped to the user's sites; one query per form."""
    frames = {}
    patients = access.patients_for_user(user)
    for done, (form, (model, path)) in enumerate(FORMS.items()):
        if progress:
            progress(int(80 * done / len(FORMS)))
        columns = _columns(model, identifiable)
        key = "screening_number" if form == "patient" else f"{path}screening_number"
        queryset = model.objects.filter(**{f"{path}pk__in" if path else "pk__in": patients.values("pk")})
        if model is LabResult:  # the results of a deleted draw go with it
            queryset = queryset.filter(lab_draw__deleted_at__isnull=True)
        extra = {"lab_result": ["lab_draw__timepoint"], "pvp_level": []}.get(form, [])
        rows = list(queryset.order_by(key, "pk").values_list(key, *extra, *columns))
        names = ["screening_number", *[e.split("__")[-1] for e in extra], *columns]
        frame = pd.DataFrame(rows, columns=names)
        if form == "patient":
            frame = frame.loc[:, ~frame.columns.duplicated()]
            frame["site"] = [p.site.code for p in patients.order_by("screening_number")]
            frame["age_at_enrolment"] = [p.age_at_enrolment for p in patients.order_by("screening_number")]
            frame["fractured_levels"] = frame["fractured_levels"].map(lambda levels: ",".join(levels or []))
            frame["fracture_region"] = frame["fractured_levels"].map(
                lambda text: protocol.fracture_region(text.split(",")) if text else None
            )
        frames[form] = frame
    return frames


def data_dictionary(identifiable: bool = False) -> pd.DataFrame:
    rows = []
    for form, (model, _path) in FORMS.items():
        for field in _fields(model, identifiable):
            name = field.name
            choices = "; ".join(f"{value}={label}" for value, label in (field.choices or []))
            validator = next((v for v in field.validators if hasattr(v, "low")), None)
            rows.append({
                "variable": name, "form": form, "label_en": str(field.verbose_name),
                "label_zh": _zh(field.verbose_name), "type": field.get_internal_type(),
                "unit": _unit(name), "range": f"{validator.low}–{validator.high}" if validator else "",
                "choices": choices,
            })  # fmt: skip
    for variable, label_en, label_zh, kind in (
        ("site", "site code", "研究中心代码", "CharField"),
        ("age_at_enrolment", "age at enrolment (years)", "入组时年龄（岁）", "IntegerField"),
        ("fracture_region", "fracture region", "骨折部位", "CharField"),
    ):
        rows.append({"variable": variable, "form": "patient", "label_en": label_en, "label_zh": label_zh,
                     "type": kind, "unit": "", "range": "", "choices": ""})  # fmt: skip
    return pd.DataFrame(rows)


def _zh(label) -> str:
    from django.utils import translation

    with translation.override("zh-hans"):
        return str(label)


def _unit(name: str) -> str:
    for suffix, unit in (("_kg", "kg"), ("_cm", "cm"), ("_ml", "ml"), ("_mg", "mg"), ("_min", "min"),
                         ("_umol_l", "umol/L"), ("_pct", "%"), ("_c", "°C")):  # fmt: skip
        if name.endswith(suffix):
            return unit
    return ""


def _label_dict(frame: pd.DataFrame, dictionary: pd.DataFrame, form: str) -> dict[str, str]:
    labels = dictionary[dictionary["form"] == form].set_index("variable")["label_en"].to_dict()
    return {column: labels.get(column, column)[:80] for column in frame.columns}


def _for_stats_package(frame: pd.DataFrame) -> pd.DataFrame:
    """SPSS and Stata want plain types: dates as datetimes, decimals as floats, NULL as missing."""
    out = frame.copy()
    for column in out.columns:
        sample = out[column].dropna()
        if sample.empty:
            out[column] = out[column].astype("float64")
        elif isinstance(sample.iloc[0], datetime):
            out[column] = pd.to_datetime(out[column], utc=True).dt.tz_localize(None)
        elif hasattr(sample.iloc[0], "isoformat"):
            out[column] = pd.to_datetime(out[column])
        elif sample.map(lambda v: hasattr(v, "as_tuple")).all() or sample.map(lambda v: isinstance(v, bool)).all():
            out[column] = pd.to_numeric(out[column].map(lambda v: None if v is None else float(v)))
        elif sample.map(lambda v: isinstance(v, int)).all():
            out[column] = out[column].astype("float64")
        else:
            out[column] = out[column].map(lambda v: "" if v is None else str(v))
    return out


def export_info(identifiable: bool) -> str:
    """What the export is: when, which data state (frozen since when, or live), de-identified or not."""
    from trials.data_review import frozen_since

    since = frozen_since()
    state = f"data frozen since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if since else "data not frozen (live)"
    kind = "identifiable" if identifiable else "de-identified (no date of birth, hospital number or initials)"
    return f"PVP + zoledronic acid myeloma study export, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {state}; {kind}.\n"


def render(user, fmt: str, *, identifiable: bool = False, progress=None) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the export in one format; `progress(percent)` is told
    how far it got (reading the forms is 80 %, writing the file the rest)."""
    frames = study_frames(user, identifiable=identifiable, progress=progress)
    dictionary = data_dictionary(identifiable)
    info = export_info(identifiable)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    kind = "identifiable" if identifiable else "deidentified"
    if fmt == "xlsx":
        buffer = io.BytesIO()
        with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
            for form, frame in frames.items():
                _excel_safe(frame).to_excel(writer, sheet_name=form[:31], index=False)
            dictionary.to_excel(writer, sheet_name="data_dictionary", index=False)
            pd.DataFrame({"about": [info.strip()]}).to_excel(writer, sheet_name="about", index=False)
        return buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", \
            f"pvp-study-{kind}-{stamp}.xlsx"  # fmt: skip
    if fmt == "odm":
        return odm_xml(frames, dictionary, info), "application/xml", f"pvp-study-{kind}-{stamp}.odm.xml"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for form, frame in frames.items():
            archive.writestr(f"{form}.{fmt}", _table_bytes(frame, fmt, _label_dict(frame, dictionary, form)))
        archive.writestr("data_dictionary.csv", dictionary.to_csv(index=False).encode("utf-8-sig"))
        archive.writestr("README.txt", info)
    return buffer.getvalue(), "application/zip", f"pvp-study-{kind}-{stamp}-{fmt}.zip"


def _excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel cannot store time zones, and must not run typed text as a formula."""
    out = frame.map(spreadsheet_text)
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, datetime) and v.tzinfo is not None).any():
            out[column] = out[column].map(lambda v: v.astimezone(UTC).replace(tzinfo=None) if pd.notna(v) else None)
    return out


def _table_bytes(frame: pd.DataFrame, fmt: str, labels: dict) -> bytes:
    if fmt == "csv":
        # CRLF rows (RFC 4180): a carriage return inside a value is then quoted too, where pandas' "\n"
        # would leave it bare and a spreadsheet would break the row there.
        return frame.map(spreadsheet_text).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")
    import tempfile

    import pyreadstat

    data = _for_stats_package(frame)
    with tempfile.NamedTemporaryFile(suffix=f".{fmt}") as handle:
        if fmt == "sav":
            pyreadstat.write_sav(data, handle.name, column_labels=labels)
        else:
            names = {column: column[:32] for column in data.columns}
            pyreadstat.write_dta(data.rename(columns=names), handle.name,
                                 column_labels={names[k]: v for k, v in labels.items()})  # fmt: skip
        return open(handle.name, "rb").read()  # noqa: SIM115 - the temp file closes with the block


def odm_xml(frames: dict[str, pd.DataFrame], dictionary: pd.DataFrame, info: str = "") -> bytes:
    """CDISC ODM 1.3.2: study metadata (one ItemGroup per form) and every record as ClinicalData."""
    ns = "http://www.cdisc.org/ns/odm/v1.3"
    ET.register_namespace("", ns)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    odm = ET.Element(f"{{{ns}}}ODM", {"FileType": "Snapshot", "FileOID": f"PVP.{now}", "CreationDateTime": now,
                                      "ODMVersion": "1.3.2"})  # fmt: skip
    study = ET.SubElement(odm, f"{{{ns}}}Study", {"OID": "PVP-ZOL-MM"})
    globals_ = ET.SubElement(study, f"{{{ns}}}GlobalVariables")
    for tag, text in (("StudyName", "PVP + zoledronic acid in spinal myeloma"),
                      ("StudyDescription", info.strip() or str(_("PVP myeloma study"))),
                      ("ProtocolName", "PVP-ZOL-MM")):  # fmt: skip
        ET.SubElement(globals_, f"{{{ns}}}{tag}").text = text
    mdv = ET.SubElement(study, f"{{{ns}}}MetaDataVersion", {"OID": "MDV.1", "Name": "Version 1"})
    protocol_el = ET.SubElement(mdv, f"{{{ns}}}Protocol")
    ET.SubElement(protocol_el, f"{{{ns}}}StudyEventRef", {"StudyEventOID": "SE.STUDY", "Mandatory": "Yes"})
    event = ET.SubElement(mdv, f"{{{ns}}}StudyEventDef", {"OID": "SE.STUDY", "Name": "Study", "Repeating": "No",
                                                          "Type": "Common"})  # fmt: skip
    for form in frames:
        ET.SubElement(event, f"{{{ns}}}FormRef", {"FormOID": f"F.{form}", "Mandatory": "No"})
    for form in frames:
        form_def = ET.SubElement(mdv, f"{{{ns}}}FormDef", {"OID": f"F.{form}", "Name": form, "Repeating": "Yes"})
        ET.SubElement(form_def, f"{{{ns}}}ItemGroupRef", {"ItemGroupOID": f"IG.{form}", "Mandatory": "Yes"})
    for form, frame in frames.items():
        group = ET.SubElement(mdv, f"{{{ns}}}ItemGroupDef", {"OID": f"IG.{form}", "Name": form, "Repeating": "Yes"})
        for column in frame.columns:
            ET.SubElement(group, f"{{{ns}}}ItemRef", {"ItemOID": f"I.{form}.{column}", "Mandatory": "No"})
    for form, frame in frames.items():
        labels = dictionary[dictionary["form"] == form].set_index("variable")["label_en"].to_dict()
        for column in frame.columns:
            item = ET.SubElement(mdv, f"{{{ns}}}ItemDef", {"OID": f"I.{form}.{column}", "Name": column,
                                                           "DataType": "text"})  # fmt: skip
            description = ET.SubElement(item, f"{{{ns}}}Description")
            ET.SubElement(description, f"{{{ns}}}TranslatedText", {"xml:lang": "en"}).text = labels.get(column, column)
    clinical = ET.SubElement(odm, f"{{{ns}}}ClinicalData", {"StudyOID": "PVP-ZOL-MM", "MetaDataVersionOID": "MDV.1"})
    subjects: dict[str, ET.Element] = {}
    for form, frame in frames.items():
        for row in frame.itertuples(index=False):
            values = row._asdict()
            key = str(values["screening_number"])
            if key not in subjects:
                subject = ET.SubElement(clinical, f"{{{ns}}}SubjectData", {"SubjectKey": key})
                subjects[key] = ET.SubElement(subject, f"{{{ns}}}StudyEventData", {"StudyEventOID": "SE.STUDY"})
            form_data = ET.SubElement(subjects[key], f"{{{ns}}}FormData", {"FormOID": f"F.{form}"})
            group = ET.SubElement(form_data, f"{{{ns}}}ItemGroupData", {"ItemGroupOID": f"IG.{form}"})
            for column, value in values.items():
                if value is not None and not (isinstance(value, float) and pd.isna(value)):
                    ET.SubElement(group, f"{{{ns}}}ItemData", {"ItemOID": f"I.{form}.{column}", "Value": str(value)})
    return ET.tostring(odm, encoding="utf-8", xml_declaration=True)
