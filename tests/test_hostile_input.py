"""Hostile text in every free-text field: escaped in pages, literal in the API, intact in the exports.

The free-text fields are found from the models, not listed by hand: a new text field makes
`test_every_free_text_field_is_written_here` fail until it is written (or said not to be typed).
"""

import csv
import io
import zipfile
from xml.etree import ElementTree as ET  # noqa: S405 - parsing our own output in a test

import openpyxl
import pytest
from django.apps import apps
from django.db import models
from django.utils.html import escape
from lxml import etree

from tests.factories import api_client_for
from tests.test_export_odm import SCHEMA as ODM_SCHEMA
from trials import exports
from trials.models import DataQuery, Patient
from trials.models.base import ClinicalRecord

pytestmark = pytest.mark.django_db

PAYLOADS = {
    "script": "<script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "sql": "'; DROP TABLE trials_patient; --",
    "chinese_and_emoji": "患者 🦴 骨髓瘤",
    "lines_and_quotes": 'first line\r\nsecond, "quoted"; third',
}
# Fields that hold text but are never typed: the app fills them from a list.
NOT_TYPED = {
    ("labresult", "entered_unit"): "set from the analyte's unit list",
    ("dataquery", "field"): "chosen from the queried form's fields",
}
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"


def free_text_fields() -> set[tuple[str, str]]:
    """(model, field) of every editable text field without choices on the clinical models."""
    clinical = [
        model
        for model in apps.get_app_config("trials").get_models()
        if issubclass(model, ClinicalRecord) or model is DataQuery
    ]
    return {
        (model._meta.model_name, field.name)
        for model in clinical
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField) and not field.choices and field.editable
    }


def fit(payload: str, model_name: str, field_name: str) -> str:
    """The payload cut to the field's length limit, so that only the content is under test (without
    the whitespace at the cut, which the API trims as the forms do)."""
    limit = apps.get_model("trials", model_name)._meta.get_field(field_name).max_length
    return payload[:limit].strip() if limit else payload


def created(response) -> dict:
    assert response.status_code in (200, 201), response.content[:500]
    return response.json()


def write_everywhere(payload, *, clinician, coordinator, patient) -> dict[tuple[str, str], str]:
    """Write `payload` into every typed free-text field through the API; returns (model, field) -> the
    record's API URL. The reason for change gets the payload too (it shows in the casebook)."""
    api, number = api_client_for(clinician), patient.screening_number
    urls = {}
    url = f"/api/v1/patients/{patient.pk}/"
    created(api.patch(url, {"hospital_number": fit(payload, "patient", "hospital_number"),
                            "initials": fit(payload, "patient", "initials"), "version": patient.version,
                            "reason": payload}, format="json"))  # fmt: skip
    urls |= {("patient", "hospital_number"): url, ("patient", "initials"): url}
    pvp = created(api.post("/api/v1/pvp-procedures/", {
        "patient": number, "performed_on": "2020-01-10", "approach": "bipedicular",
        "operator": fit(payload, "pvpprocedure", "operator"), "levels": [{"level": "T12", "cement_ml": "2.5"}],
    }, format="json"))  # fmt: skip
    urls[("pvpprocedure", "operator")] = f"/api/v1/pvp-procedures/{pvp['id']}/"
    infusion = created(api.post("/api/v1/infusions/", {
        "patient": number, "cycle": 1, "infused_on": "2020-01-13", "status": "held",
        "held_reason": fit(payload, "infusion", "held_reason"),
    }, format="json"))  # fmt: skip
    urls[("infusion", "held_reason")] = f"/api/v1/infusions/{infusion['id']}/"
    event = created(api.post("/api/v1/adverse-events/", {
        "patient": number, "term": "other", "other_term": fit(payload, "adverseevent", "other_term"),
        "onset_on": "2020-01-14", "resolved_on": "2020-01-15", "ctcae_grade": 1, "related_to": "unknown",
        "outcome": "resolved", "description": payload,
    }, format="json"))  # fmt: skip
    urls |= {("adverseevent", name): f"/api/v1/adverse-events/{event['id']}/" for name in ("other_term", "description")}
    end = created(api.post("/api/v1/end-of-study/", {
        "patient": number, "end_date": "2020-06-01", "end_reason": "other", "notes": payload,
    }, format="json"))  # fmt: skip
    urls[("endofstudy", "notes")] = f"/api/v1/end-of-study/{end['id']}/"
    query = created(api_client_for(coordinator).post("/api/v1/data-queries/", {
        "record": f"adverseevent:{event['id']}", "field": "description", "question": payload,
    }, format="json"))  # fmt: skip
    created(api.post(f"/api/v1/data-queries/{query['id']}/answer/", {"text": payload}, format="json"))
    urls |= {("dataquery", name): f"/api/v1/data-queries/{query['id']}/" for name in ("question", "answer")}
    return urls


@pytest.fixture
def written(request, clinician, coordinator, enrolled_patient):
    payload = PAYLOADS[request.param]
    urls = write_everywhere(payload, clinician=clinician, coordinator=coordinator, patient=enrolled_patient)
    return payload, urls


def test_every_free_text_field_is_written_here(clinician, coordinator, enrolled_patient):
    urls = write_everywhere("x", clinician=clinician, coordinator=coordinator, patient=enrolled_patient)
    assert free_text_fields() == set(urls) | set(NOT_TYPED)


def test_every_free_text_field_has_a_length_limit_the_model_enforces():
    """A TextField's max_length alone reaches only the form; the validator makes imports and the API obey it."""
    for model_name, field_name in free_text_fields():
        field = apps.get_model("trials", model_name)._meta.get_field(field_name)
        assert field.max_length, (model_name, field_name)
        assert any(getattr(v, "limit_value", None) == field.max_length for v in field.validators), field_name


@pytest.mark.parametrize("written", list(PAYLOADS), indirect=True)
def test_the_api_returns_the_text_literally(written, clinician):
    payload, urls = written
    api = api_client_for(clinician)
    for (model_name, field_name), url in urls.items():
        assert api.get(url).json()[field_name] == fit(payload, model_name, field_name), (model_name, field_name)
        model = apps.get_model("trials", model_name)
        stored = model.objects.values_list(field_name, flat=True).get(pk=url.rstrip("/").rsplit("/", 1)[1])
        assert stored == fit(payload, model_name, field_name)
    assert Patient.objects.count() == 1  # and the table the SQL payload names is still there


@pytest.mark.parametrize("written", list(PAYLOADS), indirect=True)
def test_the_pages_show_the_text_escaped(written, client, clinician, enrolled_patient):
    payload, urls = written
    client.force_login(clinician)
    patient = enrolled_patient.pk
    pages = [f"/patients/{patient}/", f"/patients/{patient}/casebook/", "/patients/", "/queries/?status=answered"]
    pages += [f"/patients/{patient}/{form}/" for form in ("edit", "pvp", "end-of-study")]
    pages += [url.replace("/api/v1/data-queries/", "/queries/") for key, url in urls.items() if key[0] == "dataquery"]
    pages += [
        f"/patients/{patient}/{kind}/{url.rstrip('/').rsplit('/', 1)[1]}/"
        for (model_name, _field), url in urls.items()
        for name, kind in (("infusion", "infusions"), ("adverseevent", "adverse-events"))
        if model_name == name
    ]
    html = ""
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html += response.content.decode()
    for model_name, field_name in urls:
        value = fit(payload, model_name, field_name)
        assert escape(value) in html, (model_name, field_name)
        if "<" in value:
            assert value not in html, (model_name, field_name)
    pdf = client.get(f"/patients/{patient}/casebook.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def _exported(user) -> dict[str, dict]:
    """Each format's tables as {form: [row dicts]} (identifiable, so the identifying fields are there)."""
    out = {}
    content = exports.render(user, "csv", identifiable=True).content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        out["csv"] = {
            form: list(csv.DictReader(io.StringIO(archive.read(f"{form}.csv").decode("utf-8-sig"))))
            for form in exports.FORMS
        }
    content = exports.render(user, "xlsx", identifiable=True).content
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    out["xlsx"] = {}
    for form in exports.FORMS:
        rows = list(workbook[form[:31]].iter_rows(values_only=True))
        out["xlsx"][form] = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    # The Snapshot (current values) has one ItemGroupData per row, its ItemOIDs "IT.<form>.<item>".
    content = exports.render(user, "odm", identifiable=True, audit=False).content
    root = ET.fromstring(content)  # noqa: S314 - our own output
    out["odm"] = {form: [] for form in exports.FORMS}
    for group in root.iter(f"{ODM}ItemGroupData"):
        form = group.get("ItemGroupOID").removeprefix("IG.")
        out["odm"][form].append({
            item.get("ItemOID").rsplit(".", 1)[1]: item.get("Value") for item in group.iter(f"{ODM}ItemData")
        })  # fmt: skip
    # The Transactional file holds the same text in its history, and the reasons for change too.
    history = exports.render(user, "odm", identifiable=True).content
    for document in (content, history):  # hostile text never breaks the file's validity
        assert ODM_SCHEMA.validate(etree.fromstring(document)), ODM_SCHEMA.error_log.filter_from_errors()[:3]
    out["odm_bytes"] = content + history
    return out


@pytest.mark.parametrize("written", list(PAYLOADS), indirect=True)
def test_the_exports_carry_the_text_intact(written, data_manager):
    payload, urls = written
    tables = _exported(data_manager)
    form_of = {model._meta.model_name: form for form, (model, _path) in exports.FORMS.items()}
    exported = [key for key in urls if key[0] in form_of]
    assert len(exported) >= 6  # every clinical text field; data queries are not part of the study export
    for fmt in ("csv", "xlsx", "odm"):
        for model_name, field_name in exported:
            values = [row[field_name] for row in tables[fmt][form_of[model_name]]]
            assert values == [fit(payload, model_name, field_name)], (fmt, model_name, field_name)
    if "<" in payload:
        assert payload.encode() not in tables["odm_bytes"]  # XML-escaped, so no element is injected


@pytest.mark.parametrize("written", list(PAYLOADS), indirect=True)
def test_the_audit_trail_export_keeps_the_reason_literally(written, client, data_manager):
    payload, _urls = written
    client.force_login(data_manager)
    rows = list(csv.DictReader(io.StringIO(client.get("/exports/audit-trail.csv").content.decode("utf-8-sig"))))
    assert payload in [row["reason"] for row in rows]


FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_spreadsheet_formulas_are_defused_in_csv_and_xlsx(formula, data_manager, enrolled_patient):
    """A cell starting with = + - @ (or a tab / carriage return before one) would run as a formula in
    Excel or LibreOffice; the exports prefix it with an apostrophe so it shows as text."""
    from tests.factories import AdverseEventFactory

    # Written directly: the API and forms trim the leading tab, an import or the admin may not.
    AdverseEventFactory(patient=enrolled_patient, description=formula)
    tables = _exported(data_manager)
    assert [row["description"] for row in tables["csv"]["adverse_event"]] == ["'" + formula]
    assert [row["description"] for row in tables["xlsx"]["adverse_event"]] == ["'" + formula]
    assert [row["description"] for row in tables["odm"]["adverse_event"]] == [formula]  # not a spreadsheet


def test_the_audit_trail_csv_defuses_a_formula_in_a_reason(client, clinician, data_manager, enrolled_patient):
    api_client_for(clinician).patch(f"/api/v1/patients/{enrolled_patient.pk}/", {
        "initials": "CD", "version": enrolled_patient.version, "reason": "=cmd|' /C calc'!A0",
    }, format="json")  # fmt: skip
    client.force_login(data_manager)
    rows = list(csv.DictReader(io.StringIO(client.get("/exports/audit-trail.csv").content.decode("utf-8-sig"))))
    assert "'=cmd|' /C calc'!A0" in [row["reason"] for row in rows]


def test_numbers_stay_numbers_in_the_exports(clinician, data_manager, enrolled_patient):
    """The formula guard touches text only: a number is never prefixed."""
    from tests.factories import LabDrawFactory, LabResultFactory

    LabResultFactory(lab_draw=LabDrawFactory(patient=enrolled_patient), analyte="alp", value="120")
    tables = _exported(data_manager)
    assert [row["value"] for row in tables["xlsx"]["lab_result"]] == [120]
