"""Bulk import: a dry run reports (row, field, value, rule); the commit is all or nothing, audited."""

import csv
import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from trials import imports
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
# A link to another row is compared by the key the files use; bookkeeping is not data.
LINKS = {
    "patient": "patient__screening_number",
    "site": "site__code",
    "procedure": "procedure__patient__screening_number",
    "lab_draw": "lab_draw__patient__screening_number",
}
BOOKKEEPING = {"id", "created_at", "updated_at", "version"}
# Never taken from a file: made again in the application (a coordinator's e-signature enrols).
SIGNATURE = ["signed_at", "signed_name", "signature_meaning", "signed_version", "signed_content_hash"]
ENROLMENT_AND_SIGNATURE = {"study_id", "enrolled_on", "signed_by", *SIGNATURE}
# Their columns in the export's files, emptied (here: deleted) before the files are imported.
NEVER_IMPORTED_COLUMNS = {"patient.csv": ["study_id", "enrolled_on", "age_at_enrolment"], "screening.csv": SIGNATURE}


def study_snapshot() -> dict[str, list]:
    """Every field of every record of every form but enrolment and signatures, rows in a stable order."""
    snapshot = {}
    for model in STUDY_FORMS:
        names = [LINKS.get(field.name, field.name) for field in model._meta.concrete_fields
                 if field.name not in BOOKKEEPING | ENROLMENT_AND_SIGNATURE]  # fmt: skip
        names += ["lab_draw__timepoint"] if model is LabResult else []
        snapshot[model.__name__] = sorted(model.objects.values_list(*names), key=repr)
    return snapshot


def enrolment_state() -> dict[str, str]:
    """Each patient's place in the screening flow: enrolled, screen failure, or not signed."""
    state = {}
    for patient in Patient.objects.select_related("screening"):
        screening = getattr(patient, "screening", None)
        signed = screening is not None and screening.is_signed
        state[patient.screening_number] = "enrolled" if patient.is_enrolled else "failure" if signed else "unsigned"
    return state


def export_csv_files(client, user) -> dict[str, str]:
    client.force_login(user)
    job_url = client.post("/exports/", {"format": "csv", "identifiable": "on", "reason": "round trip"})["Location"]
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"{job_url}download/").getvalue()))
    return {name: archive.read(name).decode("utf-8-sig") for name in archive.namelist() if name.endswith(".csv")}


def without_columns(text: str, names: list[str]) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    kept = [name for name in next(csv.reader(io.StringIO(text))) if name not in names]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=kept, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_export_then_import_into_an_empty_study_reproduces_every_record_but_enrolment_and_signatures(
    client, monkeypatch
):
    """The demo study goes out as the identifiable CSV zip, is wiped, and comes back field for field, except
    study IDs, enrolment dates and signatures: those are never imported, and a coordinator signs again in the
    application, which enrols the eligible patients. docs/import.md, "Moving a whole study"."""
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    manager, clinician, coordinator = (User.objects.get(username=name)
                                       for name in ("data_manager", "clinician", "coordinator"))  # fmt: skip
    files = export_csv_files(client, manager)
    before, flow_before = study_snapshot(), enrolment_state()
    signing_order = list(Screening.objects.exclude(signed_at=None).order_by("signed_at")
                         .values_list("patient__screening_number", flat=True))  # fmt: skip
    # An empty study stands in for a fresh database: a signed screening can only go once unsigned.
    Screening.objects.update(signed_by=None, signed_at=None, signed_name="", signature_meaning="")
    for model in (TreatedLevel, PvpProcedure, LabResult, LabDraw, Infusion, PainAssessment, QolAssessment,
                  TumourResponse, AdverseEvent, EndOfStudy, DataQuery, SourceVerification, PatientLock,
                  SignatureAttempt, Screening, Patient):  # fmt: skip
        model.objects.all().delete()

    def import_file(form, user):
        client.force_login(user)
        text = files[f"{form}.csv"]
        if f"{form}.csv" in NEVER_IMPORTED_COLUMNS:
            text = without_columns(text, NEVER_IMPORTED_COLUMNS[f"{form}.csv"])
        data = {"form": form, "action": "commit", "file": SimpleUploadedFile(f"{form}.csv", text.encode("utf-8"))}
        if form == "pvp_procedure":
            data["levels_file"] = SimpleUploadedFile("pvp_level.csv", files["pvp_level.csv"].encode("utf-8"))
        page = client.post("/imports/", data, follow=True).content.decode()
        assert "rows imported." in page, (form, page[page.find("data-testid") :][:600])

    import_file("patient", clinician)
    import_file("screening", coordinator)  # the checklist only: coordinators fill it in on its page too
    assert set(enrolment_state().values()) == {"unsigned"}  # nobody is enrolled by an import

    client.force_login(coordinator)
    for number in signing_order:  # the e-signatures made again, on the review page, with the password
        screening = Screening.objects.get(patient__screening_number=number)
        client.post(reverse("screening_review", args=[screening.pk]),
                    {"password": "x-demo-password", "version": screening.version})  # fmt: skip
    assert enrolment_state() == flow_before
    for patient in Patient.objects.exclude(study_id=None).select_related("site", "screening"):
        assert patient.study_id.startswith(f"{patient.site.code}-")
        assert patient.enrolled_on == patient.screening.screened_on  # the screening visit dates the enrolment
        assert patient.screening.signed_by == coordinator

    for form in list(imports.IMPORTABLE)[2:]:  # the treatment and follow-up forms, now that the gate is open
        import_file(form, clinician)
    assert study_snapshot() == before
    again = export_csv_files(client, manager)
    for name, columns in NEVER_IMPORTED_COLUMNS.items():
        again[name], files[name] = without_columns(again[name], columns), without_columns(files[name], columns)
    assert again == files
