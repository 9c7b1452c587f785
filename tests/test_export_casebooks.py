"""Every patient's casebook PDF in one zip, as an export run by the task queue: one PDF per patient of the
user's sites, checksummed, identifiers only in an identifiable export, the same casebook the page prints."""

import hashlib
import io
import json

import pytest
from django.contrib.auth.models import Group
from pypdf import PdfReader

from tests.test_exports import demo, download, members  # noqa: F401 - the fixture, used by name
from trials.models import ExportLog, Patient, User

pytestmark = pytest.mark.django_db


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_one_casebook_per_patient_with_checksums_and_no_identifiers(client, demo):  # noqa: F811
    investigator = User.objects.get(username="investigator")
    files = members(download(client, investigator, format="casebooks", language="en").getvalue())
    patients = Patient.objects.filter(site__in=investigator.sites.all())
    pdfs = {name: content for name, content in files.items() if name.endswith(".pdf")}
    assert len(pdfs) == patients.count() > 0
    enrolled = patients.exclude(study_id=None).order_by("study_id").first()
    pdf_text = text_of(pdfs[f"casebooks/casebook-{enrolled.study_id}.pdf"])
    assert enrolled.screening_number in pdf_text and "Data queries" in pdf_text
    assert enrolled.hospital_number not in pdf_text  # de-identified: no hospital number, birth date, initials
    assert enrolled.date_of_birth.isoformat() not in pdf_text

    manifest = json.loads(files["manifest.json"])
    assert manifest["format"] == "casebooks" and manifest["identifiable"] is False
    for name, content in pdfs.items():
        assert manifest["files"][name]["sha256"] == hashlib.sha256(content).hexdigest()
    assert f"{manifest['files'][name]['sha256']}  {name}" in files["SHA256SUMS"].decode()
    assert "One casebook per patient" in files["README.txt"].decode()
    log = ExportLog.objects.get(file_format="casebooks")
    assert log.user == investigator and not log.identifiable


def test_an_identifiable_casebook_export_shows_identifiers_to_a_data_manager_who_gave_a_reason(client, demo):  # noqa: F811
    assert Group.objects.get(name="data_manager") in demo.groups.all()
    files = members(download(client, demo, format="casebooks", identifiable="on", reason="GCP inspection",
                             language="zh").getvalue())  # fmt: skip
    patient = Patient.objects.exclude(study_id=None).order_by("study_id").first()
    pdf_text = text_of(files[f"casebooks/casebook-{patient.study_id}.pdf"])
    assert patient.hospital_number in pdf_text
    assert "数据质疑" in pdf_text  # "Data queries": the words in the language asked for
    assert ExportLog.objects.get(file_format="casebooks").reason == "GCP inspection"


def test_date_shifting_is_refused_for_casebooks(client, demo):  # noqa: F811
    client.force_login(User.objects.get(username="investigator"))
    response = client.post("/exports/", {"format": "casebooks", "shift_dates": "on"}, follow=True)
    assert "a casebook shows the record as it is" in response.content.decode()
    assert not ExportLog.objects.exists()
