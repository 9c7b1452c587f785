"""Bulk import: a dry run reports (row, field, value, rule); the commit is all or nothing, audited."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from trials import imports
from trials.import_cases import TRANSCRIBED
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
    SignatureAttempt,
    SourceVerification,
    TreatedLevel,
    TumourResponse,
    User,
)

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


STUDY_FORMS = (Patient, Screening, PvpProcedure, TreatedLevel, Infusion, LabDraw, LabResult, PainAssessment,
               QolAssessment, TumourResponse, AdverseEvent, EndOfStudy)  # fmt: skip
# A link to another row is compared by the key the files use; bookkeeping and the signer are not data.
LINKS = {
    "patient": "patient__screening_number",
    "site": "site__code",
    "procedure": "procedure__patient__screening_number",
    "lab_draw": "lab_draw__patient__screening_number",
}
NOT_COMPARED = {"id", "created_at", "updated_at", "version", "signed_by", "signature_meaning"}


def study_snapshot() -> dict[str, list]:
    """Every field of every record of every form, rows in a stable order."""
    snapshot = {}
    for model in STUDY_FORMS:
        names = [LINKS.get(field.name, field.name) for field in model._meta.concrete_fields
                 if field.name not in NOT_COMPARED]  # fmt: skip
        names += ["lab_draw__timepoint"] if model is LabResult else []
        snapshot[model.__name__] = sorted(model.objects.values_list(*names), key=repr)
    return snapshot


def export_csv_files(client, user) -> dict[str, str]:
    client.force_login(user)
    job_url = client.post("/exports/", {"format": "csv", "identifiable": "on", "reason": "round trip"})["Location"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{job_url}download/").content))
    return {name: archive.read(name).decode("utf-8-sig") for name in archive.namelist() if name.endswith(".csv")}


def test_export_then_import_into_an_empty_study_reproduces_every_record(client, monkeypatch):
    """The demo study goes out as the identifiable CSV zip, is wiped, and comes back field for field."""
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    manager, clinician, coordinator = (User.objects.get(username=name)
                                       for name in ("data_manager", "clinician", "coordinator"))  # fmt: skip
    files = export_csv_files(client, manager)
    before = study_snapshot()
    meanings = dict(Screening.objects.values_list("patient__screening_number", "signature_meaning"))
    # An empty study stands in for a fresh database: a signed screening can only go once unsigned.
    Screening.objects.update(signed_by=None, signed_at=None, signed_name="", signature_meaning="")
    for model in (TreatedLevel, PvpProcedure, LabResult, LabDraw, Infusion, PainAssessment, QolAssessment,
                  TumourResponse, AdverseEvent, EndOfStudy, DataQuery, SourceVerification, PatientLock,
                  SignatureAttempt, Screening, Patient):  # fmt: skip
        model.objects.all().delete()

    for form in imports.IMPORTABLE:
        # Signatures made on paper (here: exported ones) come in only through a coordinator.
        client.force_login(coordinator if form == "screening" else clinician)
        data = {"form": form, "action": "commit",
                "file": SimpleUploadedFile(f"{form}.csv", files[f"{form}.csv"].encode("utf-8"))}  # fmt: skip
        if form == "pvp_procedure":
            data["levels_file"] = SimpleUploadedFile("pvp_level.csv", files["pvp_level.csv"].encode("utf-8"))
        page = client.post("/imports/", data, follow=True).content.decode()
        assert "rows imported." in page, (form, page[page.find("data-testid") :][:600])

    assert study_snapshot() == before
    for screening in Screening.objects.select_related("patient").exclude(signed_at=None):
        # The one deliberate difference: an imported signature says it was transcribed, and by whom.
        assert screening.signature_meaning == TRANSCRIBED + meanings[screening.patient.screening_number]
        assert screening.signed_by == coordinator
    again = export_csv_files(client, manager)
    again["screening.csv"] = again["screening.csv"].replace(TRANSCRIBED, "")
    assert again == files
