"""Long exports and imports run in the background: the request returns at once, progress is visible."""

import time

import pytest
from django.test import override_settings

from tests import factories
from trials.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status not in (Job.Status.QUEUED, Job.Status.RUNNING):
            return job
        time.sleep(0.2)
    raise AssertionError("the job did not finish")


@override_settings(JOBS_IN_BACKGROUND=True)
def test_an_export_runs_in_the_background_and_reports_progress(client, investigator, site_a, queue_worker):
    for _ in range(3):
        factories.PainAssessmentFactory(patient=factories.PatientFactory(site=site_a))
    client.force_login(investigator)
    started = client.post("/exports/", {"format": "xlsx"})
    job_url = started["Location"]
    assert client.get(f"{job_url}status/").json()["status"] in ("queued", "running", "done")
    job = wait_for(int(job_url.strip("/").split("/")[-1]))
    assert (job.status, job.progress) == ("done", 100), job.message
    download = client.get(f"{job_url}download/")
    assert download["Content-Type"].startswith("application/vnd.openxmlformats")


@override_settings(JOBS_IN_BACKGROUND=True)
def test_a_job_is_visible_to_its_owner_only(client, investigator, site_a, queue_worker):
    other = factories.UserFactory(role="investigator", site=site_a)
    client.force_login(investigator)
    job_url = client.post("/exports/", {"format": "csv"})["Location"]
    wait_for(int(job_url.strip("/").split("/")[-1]))
    client.force_login(other)
    assert client.get(job_url).status_code == 404
    assert client.get(f"{job_url}download/").status_code == 404
