"""Exports: every format opens again with its data and labels; de-identified unless a data manager says why."""

import io
import zipfile

import pandas as pd
import pyreadstat
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from trials import exports
from trials.exports import archive, statistical
from trials.exports.dictionary import COLUMNS
from trials.exports.variables import form_names
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
    files = members(download(client, demo, format="csv").getvalue())
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
        files = members(download(client, demo, format=fmt).getvalue())
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
    workbook = pd.read_excel(io.BytesIO(download(client, demo, format="xlsx").getvalue()), sheet_name=None)
    assert set(workbook) == set(exports.FORMS) | {"data_dictionary", "about"}
    assert len(workbook["adverse_event"]) == 13


def test_identifiable_exports_need_a_data_manager_and_a_reason(client, demo, monkeypatch):
    investigator = User.objects.get(username="investigator")
    client.force_login(investigator)
    assert client.post("/exports/", {"format": "csv", "identifiable": "on", "reason": "x"}).status_code == 403
    client.force_login(demo)
    refused = client.post("/exports/", {"format": "csv", "identifiable": "on"})
    assert refused.status_code == 302 and not ExportLog.objects.filter(identifiable=True).exists()
    files = members(download(client, demo, format="csv", identifiable="on", reason="ethics audit request").getvalue())
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
    files = members(client.get(f"{job_url}download/").getvalue())
    assert len(pd.read_csv(io.BytesIO(files["patient.csv"]), encoding="utf-8-sig")) == 0


def test_the_audit_trail_exports_as_csv_for_data_managers(client, demo):
    client.force_login(User.objects.get(username="investigator"))
    assert client.get("/exports/audit-trail.csv").status_code == 403
    client.force_login(demo)
    response = client.get("/exports/audit-trail.csv")
    rows = pd.read_csv(io.StringIO(response.content.decode("utf-8-sig")))
    assert list(rows.columns) == [
        "time_utc",
        "action",
        "record",
        "record_id",
        "user",
        "reason",
        "url",
        "changes",
        "record_deleted",
        "deleted_record",
        "deleted_at_utc",
        "deleted_by",
        "deletion_reason",
    ]
    assert (rows["record"] == "trials.Patient").sum() >= 18
    assert rows["reason"].str.contains("load_demo").any()


def test_an_export_of_a_frozen_study_says_since_when(client, demo):
    from trials import data_review

    data_review.freeze_study(user=demo)
    files = members(download(client, demo, format="csv").getvalue())
    assert "data frozen since" in files["README.txt"].decode()


def test_the_export_page_lists_recent_exports_with_their_checksums(client, demo):
    download(client, demo, format="xpt")
    log = ExportLog.objects.get()
    assert log.file_format == "xpt" and len(log.sha256) == 64
    page = client.get("/exports/").content.decode()
    assert log.sha256 in page


def test_sas_continuation_names_never_take_another_variables_name():
    taken = {"DSCRPTN", "DSCRPT01"}
    assert statistical.continuation_name("DSCRPTN", 1, taken) == "DSCRP001"
    assert statistical.continuation_name("DSCRPTN", 2, taken) == "DSCRPT02"
    assert {"DSCRP001", "DSCRPT02"} <= taken and all(len(name) <= 8 for name in taken)


def test_sas_labels_are_ascii_and_keep_their_continuation_mark():
    assert statistical.ascii_label("pre-dose creatinine (µmol/L)") == "pre-dose creatinine (umol/L)"
    label = statistical.ascii_label("a very long description of an adverse event", " (cont. 12)")
    assert label.endswith(" (cont. 12)") and len(label) == 40 and label.isascii()


def test_a_code_the_field_does_not_offer_stops_the_stata_file_with_its_name():
    variable = exports.study_variables()["patient"][3]
    assert variable.name == "sex"
    frame = pd.DataFrame({"sex": ["M", "X"]}, dtype=object)
    with pytest.raises(ValueError, match=r"patient.sex holds \['X'\]"):
        statistical.dta_bytes(frame, [variable], "en", form_names("patient", [variable]))


def test_a_reason_longer_than_the_audit_keeps_is_refused_on_the_page(client, data_manager, enrolled_patient):
    client.force_login(data_manager)
    refused = client.post("/exports/", {"format": "csv", "identifiable": "on", "reason": "x" * 501}, follow=True)
    assert "The reason has 501 characters: at most 500 are kept." in refused.content.decode()
    assert not ExportLog.objects.exists()


def test_the_page_refuses_the_file_to_a_user_who_lost_the_role(client, data_manager, enrolled_patient):
    client.force_login(data_manager)
    job_url = client.post("/exports/", {"format": "csv", "identifiable": "on", "reason": "audit"})["Location"]
    data_manager.groups.set([Group.objects.get(name="investigator")])
    assert client.get(f"{job_url}download/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_an_export_started_outside_a_request_reads_in_its_own_snapshot(data_manager, enrolled_patient):
    """As from a shell or a command: the export opens its read-only snapshot and reports progress on
    a connection of its own (a write inside that snapshot would fail)."""
    from django.db import connection

    from trials import jobs

    assert not connection.in_atomic_block
    job = jobs.start_export(data_manager, "sav", identifiable=False, reason="", background=False)
    job.refresh_from_db()
    assert (job.status, job.progress, len(job.sha256)) == ("done", 100, 64), job.message
