"""Exports: every format opens again with its data and labels; de-identified unless a data manager says why."""

import io
import zipfile

import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command

from trials import exports
from trials.exports import archive
from trials.exports.dictionary import COLUMNS
from trials.models import ExportLog, Patient, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    return User.objects.get(username="data_manager")


def download(client, user, **form):
    """Start the export job (inline in tests), then fetch its file as the job page's link does."""
    client.force_login(user)
    started = client.post("/exports/", form)
    assert started.status_code == 302 and started["Location"].startswith("/jobs/"), started.content[:300]
    page = client.get(started["Location"]).content.decode()
    assert 'data-testid="job-download"' in page
    response = client.get(f"{started['Location']}download/")
    assert response.status_code == 200
    return response


def members(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_csv_has_one_file_per_form_and_a_bilingual_dictionary(client, demo):
    files = members(download(client, demo, format="csv").content)
    scripts = set(archive.SCRIPTS.get("csv", ()))
    assert set(files) == {f"{form}.csv" for form in exports.FORMS} | scripts | {
        "data_dictionary.csv", "README.txt", "manifest.json", "SHA256SUMS"}  # fmt: skip
    assert "data not frozen (live)" in files["README.txt"].decode()
    patients = pd.read_csv(io.BytesIO(files["patient.csv"]), encoding="utf-8-sig")
    assert len(patients) == Patient.objects.count() == 18
    assert not {"date_of_birth", "hospital_number", "initials"} & set(patients.columns)  # de-identified
    assert patients["age_at_enrolment"].dropna().mean() == 62.5
    dictionary = pd.read_csv(io.BytesIO(files["data_dictionary.csv"]), encoding="utf-8-sig")
    assert list(dictionary.columns) == COLUMNS
    cement = dictionary[(dictionary["form"] == "pvp_level") & (dictionary["variable"] == "cement_ml")].iloc[0]
    assert (cement["unit"], cement["range"]) == ("ml", "0.5–12")
    results = pd.read_csv(io.BytesIO(files["lab_result.csv"]), encoding="utf-8-sig")
    assert len(results) == 192


def test_spss_and_stata_files_read_back_with_their_labels(client, demo):
    for fmt, reader in (("sav", pyreadstat.read_sav), ("dta", pyreadstat.read_dta)):
        files = members(download(client, demo, format=fmt).content)
        raw = files[f"infusion.{fmt}"]
        path = f"/tmp/pvp-test-infusion.{fmt}"  # noqa: S108 - a test's scratch file
        with open(path, "wb") as handle:
            handle.write(raw)
        frame, meta = reader(path)
        assert len(frame) == 48
        labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
        assert labels["dose_mg"] == "dose (mg)"
        assert frame["dose_mg"].max() == 4.0


def test_excel_workbook_has_every_form_and_the_dictionary(client, demo):
    workbook = pd.read_excel(io.BytesIO(download(client, demo, format="xlsx").content), sheet_name=None)
    assert set(workbook) == set(exports.FORMS) | {"data_dictionary", "about"}
    assert len(workbook["adverse_event"]) == 13


def test_identifiable_exports_need_a_data_manager_and_a_reason(client, demo, monkeypatch):
    investigator = User.objects.get(username="investigator")
    client.force_login(investigator)
    assert client.post("/exports/", {"format": "csv", "identifiable": "on", "reason": "x"}).status_code == 403
    client.force_login(demo)
    refused = client.post("/exports/", {"format": "csv", "identifiable": "on"})
    assert refused.status_code == 302 and not ExportLog.objects.filter(identifiable=True).exists()
    files = members(download(client, demo, format="csv", identifiable="on", reason="ethics audit request").content)
    patients = pd.read_csv(io.BytesIO(files["patient.csv"]), encoding="utf-8-sig")
    assert {"date_of_birth", "hospital_number", "initials"} <= set(patients.columns)
    log = ExportLog.objects.get(identifiable=True)
    assert log.reason == "ethics audit request"
    assert log.events.get().pgh_context.metadata["reason"] == "ethics audit request"


def test_clinicians_cannot_export(client, demo):
    client.force_login(User.objects.get(username="clinician"))
    assert client.get("/exports/").status_code == 403


def test_exports_are_scoped_to_the_users_sites(client, demo, outsider):
    outsider.groups.add(*User.objects.get(username="investigator").groups.all())
    client.force_login(outsider)
    job_url = client.post("/exports/", {"format": "csv"})["Location"]
    files = members(client.get(f"{job_url}download/").content)
    assert len(pd.read_csv(io.BytesIO(files["patient.csv"]), encoding="utf-8-sig")) == 0


def test_the_audit_trail_exports_as_csv_for_data_managers(client, demo):
    client.force_login(User.objects.get(username="investigator"))
    assert client.get("/exports/audit-trail.csv").status_code == 403
    client.force_login(demo)
    response = client.get("/exports/audit-trail.csv")
    rows = pd.read_csv(io.StringIO(response.content.decode("utf-8-sig")))
    assert list(rows.columns) == ["time_utc", "action", "record", "record_id", "user", "reason", "url", "changes"]
    assert (rows["record"] == "trials.Patient").sum() >= 18
    assert rows["reason"].str.contains("load_demo").any()


def test_an_export_of_a_frozen_study_says_since_when(client, demo):
    from trials import data_review

    data_review.freeze_study(user=demo)
    files = members(download(client, demo, format="csv").content)
    assert "data frozen since" in files["README.txt"].decode()


def test_the_export_page_lists_recent_exports_with_their_checksums(client, demo):
    download(client, demo, format="xpt")
    log = ExportLog.objects.get()
    assert log.file_format == "xpt" and len(log.sha256) == 64
    page = client.get("/exports/").content.decode()
    assert log.sha256 in page
