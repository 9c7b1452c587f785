"""The export API: the page's rules, a job with its checksum, the file, the audit record."""

import hashlib
import io
import json
import threading
import time
import zipfile
from datetime import timedelta

import pyreadstat
import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from tests import factories
from tests.factories import api_client_for
from trials import exports
from trials.audit import change_context
from trials.exports import frames
from trials.models import ExportLog, Job, LabResult, Patient
from trials.outcomes import data_version

pytestmark = pytest.mark.django_db


def start(client, **body):
    return client.post("/api/v1/exports/", body, format="json")


def test_an_export_is_queued_then_its_file_carries_the_checksum_shown(investigator, enrolled_patient):
    client = api_client_for(investigator)
    started = start(client, format="csv")
    assert started.status_code == 202, started.content
    job = started.json()
    assert set(job) >= {"id", "status", "progress", "size", "sha256", "download"}
    state = client.get(f"/api/v1/exports/{job['id']}/").json()
    assert (state["status"], state["progress"], state["format"], state["language"]) == ("done", 100, "csv", "en")
    download = client.get(f"/api/v1/exports/{job['id']}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"].endswith('-csv.zip"')
    body = download.getvalue()  # streamed from storage: read once
    assert hashlib.sha256(body).hexdigest() == state["sha256"] == download["X-Content-SHA256"]
    assert len(body) == state["size"]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        sums = archive.read("SHA256SUMS").decode()
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(archive.read(name)).hexdigest() == entry["sha256"]
            assert f"{entry['sha256']}  {name}\n" in sums
    assert manifest["tables"]["patient"] == 1 and manifest["exported_by"]["username"] == investigator.username
    assert state["manifest"]["data_version"] == manifest["data_version"] > 0


def test_the_checksum_is_in_the_audit_trail(data_manager, enrolled_patient):
    client = api_client_for(data_manager)
    job = start(client, format="sav", identifiable=True, reason="monitoring visit").json()
    log = ExportLog.objects.get()
    assert (log.sha256, log.size, log.file_format, log.identifiable) == (job["sha256"], job["size"], "sav", True)
    assert log.row_counts["patient"] == 1 and log.data_version == job["manifest"]["data_version"]
    event = log.events.get()
    assert event.sha256 == job["sha256"] and event.pgh_context.metadata["reason"] == "monitoring visit"


def test_an_unknown_format_is_refused_naming_the_allowed_ones(investigator):
    refused = start(api_client_for(investigator), format="pdf")
    assert refused.status_code == 400
    message = refused.json()["format"][0]
    assert "pdf" in message and "csv, xlsx, sav, dta, xpt, odm" in message
    assert not Job.objects.exists() and not ExportLog.objects.exists()


def test_an_unknown_language_is_refused(investigator):
    refused = start(api_client_for(investigator), format="csv", language="fr")
    assert refused.status_code == 400 and "en, zh" in refused.json()["language"][0]


@pytest.mark.parametrize("role", ["clinician", "coordinator"])
def test_a_role_that_may_not_export_gets_403_and_nothing_is_written(role, site_a, enrolled_patient):
    user = factories.UserFactory(role=role, site=site_a)
    refused = start(api_client_for(user), format="csv")
    assert refused.status_code == 403
    assert not Job.objects.exists() and not ExportLog.objects.exists()


def test_identifying_data_only_for_a_data_manager_with_a_reason(investigator, data_manager):
    refused = start(api_client_for(investigator), format="csv", identifiable=True, reason="curious")
    assert refused.status_code == 403 and "data manager" in refused.json()["detail"]
    no_reason = start(api_client_for(data_manager), format="csv", identifiable=True)
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    assert not Job.objects.exists() and not ExportLog.objects.exists()


def test_a_job_is_its_owners_only(investigator, data_manager, enrolled_patient):
    job = start(api_client_for(data_manager), format="csv").json()
    other = api_client_for(investigator)
    assert other.get(f"/api/v1/exports/{job['id']}/").status_code == 404
    assert other.get(f"/api/v1/exports/{job['id']}/download/").status_code == 404
    assert other.get("/api/v1/exports/").json()["results"] == []


def test_a_file_that_is_not_ready_is_not_served(investigator):
    job = Job.objects.create(kind="export", user=investigator, status=Job.Status.RUNNING, parameters={"format": "csv"})
    waiting = api_client_for(investigator).get(f"/api/v1/exports/{job.pk}/download/")
    assert waiting.status_code == 409 and "running" in waiting.json()["detail"]


def test_labels_in_chinese_when_asked(investigator, enrolled_patient, tmp_path):
    client = api_client_for(investigator)
    job = start(client, format="sav", language="zh").json()
    content = client.get(f"/api/v1/exports/{job['id']}/download/").getvalue()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        (tmp_path / "patient.sav").write_bytes(archive.read("patient.sav"))
    _data, meta = pyreadstat.read_sav(tmp_path / "patient.sav")
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["sex"] == "性别" and meta.variable_value_labels["sex"] == {"M": "男", "F": "女"}


def test_the_api_schema_documents_the_export_routes(client):
    paths = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    assert {"/api/v1/exports/", "/api/v1/exports/{id}/", "/api/v1/exports/{id}/download/"} <= set(paths)
    assert "202" in paths["/api/v1/exports/"]["post"]["responses"]


@pytest.mark.django_db(transaction=True)
@override_settings(JOBS_IN_BACKGROUND=True)
def test_an_edit_saved_while_an_export_runs_is_wholly_out_of_it(
    investigator, clinician, enrolled_patient, monkeypatch, queue_worker
):
    """The export reads in one snapshot: an edit committed between its reads of two forms shows in neither."""
    draw = factories.LabDrawFactory(patient=enrolled_patient, timepoint="baseline")
    result = factories.LabResultFactory(lab_draw=draw, analyte="alp", value=100)
    patient_read, edit_saved = threading.Event(), threading.Event()
    read_form = frames._read_form

    def read_then_wait(form, *args):
        frame = read_form(form, *args)
        if form == "patient":  # the patient table is read; the lab results are not yet
            patient_read.set()
            assert edit_saved.wait(30)
        return frame

    monkeypatch.setattr(frames, "_read_form", read_then_wait)
    client = api_client_for(investigator)
    job = start(client, format="csv").json()
    assert job["status"] in ("queued", "running")
    assert patient_read.wait(30)
    version_at_start = data_version()
    with change_context(user=clinician, reason="typo"):
        LabResult.objects.filter(pk=result.pk).update(value=120)
        Patient.objects.filter(pk=enrolled_patient.pk).update(weight_kg=99)
    edit_saved.set()
    deadline = time.monotonic() + 60
    while (state := client.get(f"/api/v1/exports/{job['id']}/").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert state["status"] == "done", state["message"]
    content = client.get(f"/api/v1/exports/{job['id']}/download/").getvalue()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        results = archive.read("lab_result.csv").decode("utf-8-sig")
        patients = archive.read("patient.csv").decode("utf-8-sig")
    assert ",100.0000," in results and ",120" not in results  # as it was when the export began
    assert ",99.0," not in patients
    assert state["manifest"]["data_version"] == version_at_start < data_version()
    assert exports.read_study(investigator).frames["lab_result"]["value"].iloc[0] == 120


@pytest.mark.parametrize("accept", ["application/octet-stream", "application/zip", "*/*"])
def test_a_client_asking_for_the_file_gets_it(investigator, enrolled_patient, accept):
    client = api_client_for(investigator)
    job = start(client, format="csv").json()
    download = client.get(f"/api/v1/exports/{job['id']}/download/", HTTP_ACCEPT=accept)
    assert download.status_code == 200 and download.getvalue().startswith(b"PK")


def test_a_user_who_lost_the_role_no_longer_downloads_the_file(data_manager, enrolled_patient):
    client = api_client_for(data_manager)
    job = start(client, format="csv", identifiable=True, reason="monitoring visit").json()
    data_manager.groups.clear()
    data_manager.groups.add(Group.objects.get(name="investigator"))
    refused = client.get(f"/api/v1/exports/{job['id']}/download/")
    assert refused.status_code == 403 and "data manager" in refused.json()["detail"]


def test_a_user_who_left_a_site_no_longer_downloads_its_patients(investigator, site_b, enrolled_patient):
    client = api_client_for(investigator)
    job = start(client, format="csv").json()
    investigator.sites.set([site_b])
    refused = client.get(f"/api/v1/exports/{job['id']}/download/")
    assert refused.status_code == 403 and "site" in refused.json()["detail"]


def test_the_role_is_checked_before_the_reason(investigator):
    refused = start(api_client_for(investigator), format="csv", identifiable=True)
    assert refused.status_code == 403


def test_a_user_runs_a_few_exports_at_a_time(investigator):
    for _ in range(2):
        Job.objects.create(kind="export", user=investigator, status=Job.Status.RUNNING)
    refused = start(api_client_for(investigator), format="csv")
    assert refused.status_code == 429 and "under way" in refused.json()["detail"]
    assert Job.objects.count() == 2


def test_finished_files_are_deleted_after_their_retention_time(client, investigator, enrolled_patient, settings):
    settings.JOB_FILE_RETENTION_DAYS = 7
    api = api_client_for(investigator)
    job = start(api, format="csv").json()
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        out = io.StringIO()
        call_command("purge_job_files", stdout=out)
        assert "1 export file(s)" in out.getvalue()
    gone = api.get(f"/api/v1/exports/{job['id']}/download/")
    assert gone.status_code == 410 and "retention" in gone.json()["detail"]
    client.force_login(investigator)
    assert client.get(f"/jobs/{job['id']}/download/").status_code == 410
    assert 'data-testid="job-purged"' in client.get(f"/jobs/{job['id']}/").content.decode()
    assert ExportLog.objects.get().sha256 == job["sha256"]  # the record of what left stays


def test_a_new_export_purges_old_files(investigator, enrolled_patient, settings):
    settings.JOB_FILE_RETENTION_DAYS = 7
    api = api_client_for(investigator)
    old = start(api, format="csv").json()
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        start(api, format="csv")
    assert not Job.objects.get(pk=old["id"]).file  # deleted from storage
