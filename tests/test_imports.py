"""Bulk import: a dry run reports (row, field, value, rule); the commit is all or nothing, audited."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from trials import imports
from trials.models import AdverseEvent, Infusion, LabDraw, LabResult, PainAssessment, QolAssessment, User

pytestmark = pytest.mark.django_db


def upload(client, form, text, action="check", name="sheet.csv"):
    """Post the file; the job runs inline in tests and its page shows the report."""
    return client.post(
        "/imports/",
        {"form": form, "action": action, "file": SimpleUploadedFile(name, text.encode("utf-8"))},
        follow=True,
    )


def test_a_dry_run_lists_every_problem_and_saves_nothing(client, clinician, enrolled_patient):
    text = (
        "screening_number,timepoint,assessed_on,who_grade,vas\n"
        f"{enrolled_patient.screening_number},baseline,2020-01-07,5,3\n"
        f"NOPE-1,baseline,2020-01-07,2,\n"
        f"{enrolled_patient.screening_number},follow_up,2020-02-30,1,\n"
    )
    client.force_login(clinician)
    page = upload(client, "pain", text).content.decode()
    assert "3 problems: nothing was imported." in page
    assert "<td>1</td><td>who_grade</td><td>5</td>" in page
    rule = "no such patient at your sites (import the patient file first)"
    assert f"<td>2</td><td>screening_number</td><td>NOPE-1</td><td>{rule}</td>" in page
    assert "<td>3</td><td>assessed_on</td><td>2020-02-30</td>" in page
    assert not PainAssessment.objects.exists()


def test_a_bad_row_stops_the_whole_commit(client, clinician, enrolled_patient):
    text = (
        "screening_number,timepoint,assessed_on,who_grade\n"
        f"{enrolled_patient.screening_number},baseline,2020-01-07,3\n"
        f"{enrolled_patient.screening_number},follow_up,2999-01-01,1\n"
    )
    client.force_login(clinician)
    assert "is in the future" in upload(client, "pain", text, action="commit").content.decode()
    assert not PainAssessment.objects.exists()


def test_a_good_file_imports_with_the_file_name_as_reason(client, clinician, enrolled_patient):
    text = (
        "screening_number,timepoint,assessed_on,who_grade\n"
        f"{enrolled_patient.screening_number},baseline,2020-01-07,3\n"
        f"{enrolled_patient.screening_number},follow_up,2020-05-01,1\n"
    )
    client.force_login(clinician)
    assert "2 rows imported." in upload(client, "pain", text, action="commit", name="pain-2020.csv").content.decode()
    assert PainAssessment.objects.count() == 2
    event = PainAssessment.objects.first().events.get()
    assert event.pgh_context.metadata["reason"] == "import pain-2020.csv"


def test_unknown_columns_and_other_sites_are_refused(client, outsider, enrolled_patient):
    client.force_login(outsider)
    page = upload(client, "pain", f"screening_number,secret\n{enrolled_patient.screening_number},x\n").content.decode()
    assert "the columns must be among" in page
    text = (
        f"screening_number,timepoint,assessed_on,who_grade\n{enrolled_patient.screening_number},baseline,2020-01-07,3\n"
    )
    assert "no such patient at your sites" in upload(client, "pain", text).content.decode()


def test_investigators_cannot_import(client, investigator):
    client.force_login(investigator)
    assert client.get("/imports/").status_code == 403


def test_export_then_import_into_an_empty_study_reproduces_the_forms(client, monkeypatch):
    """The clinical forms of the demo study go out as CSV, are deleted, and come back identical."""
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    manager = User.objects.get(username="data_manager")
    client.force_login(manager)
    job_url = client.post("/exports/", {"format": "csv"})["Location"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{job_url}download/").content))
    files = {name: archive.read(name).decode("utf-8-sig") for name in archive.namelist()}

    def rows(model, *fields):
        return sorted(model.objects.values_list(*fields))

    def snapshot():
        return {
            "infusion": rows(Infusion, "patient__screening_number", "cycle", "infused_on", "dose_mg", "duration_min",
                             "creatinine_umol_l"),
            "lab": rows(LabResult, "lab_draw__patient__screening_number", "lab_draw__timepoint", "analyte", "value",
                        "critical_confirmed"),
            "qol": rows(QolAssessment, "patient__screening_number", "timepoint", "q_pain"),
            "ae": rows(AdverseEvent, "patient__screening_number", "term", "onset_on", "ctcae_grade",
                       "max_temperature_c"),
        }  # fmt: skip

    before = snapshot()
    for model in (LabResult, LabDraw, Infusion, QolAssessment, AdverseEvent):
        model.objects.all().delete()
    clinician = User.objects.get(username="clinician")
    client.force_login(clinician)
    for form in ("infusion", "lab_draw", "lab_result", "qol", "adverse_event"):
        page = upload(client, form, files[f"{form}.csv"], action="commit", name=f"{form}.csv").content.decode()
        assert "rows imported." in page, (form, page[page.find("data-testid") :][:600])
    assert snapshot() == before
    assert imports.expected_columns("lab_result")[:2] == ["screening_number", "timepoint"]
