"""Every file of the import page is checked for size before it is read (issue 14, finding 9).

The limit is `IMPORT_MAX_BYTES`; a file over it is refused naming the file, its size and the limit,
and no job starts. A file whose size is not declared is read in pieces, never beyond the limit.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from trials import imports
from trials.import_rows import READ_PIECE_BYTES, read_upload
from trials.models import Job
from trials.models.base import IMPORT_MAX_BYTES
from trials.views.imports import import_page

pytestmark = pytest.mark.django_db

LIMIT = f"larger than 5 MB ({IMPORT_MAX_BYTES} bytes), the limit of an import file"
PROCEDURES = "screening_number,performed_on,approach,bed_rest_days,operator\n"


class GuardedUpload:
    """An uploaded file that fails the test when more than `readable` bytes are read from it in all."""

    def __init__(self, name: str, *, size: int | None, readable: int):
        self.name, self.size, self.readable, self.served = name, size, readable, 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or self.served + size > self.readable:
            raise AssertionError(f"{self.name} read beyond {self.readable} bytes (asked {size} after {self.served})")
        self.served += size
        return b"x" * size

    def chunks(self, chunk_size=None):
        raise AssertionError(f"{self.name} read whole")


def test_an_oversized_levels_file_is_refused_naming_the_file_its_size_and_the_limit(client, clinician):
    client.force_login(clinician)
    size = IMPORT_MAX_BYTES + 1
    data = {
        "form": "pvp_procedure", "action": "check", "file": SimpleUploadedFile("pvp.csv", PROCEDURES.encode()),
        "levels_file": SimpleUploadedFile("pvp_level.csv", b"x" * size, content_type="text/csv"),
    }  # fmt: skip
    page = client.post("/imports/", data).content.decode()
    assert f"<td>0</td><td>pvp_level.file</td><td>pvp_level.csv: {size} bytes</td><td>{LIMIT}</td>" in page
    assert not Job.objects.exists()  # refused on the spot: no job was started with it


def _post(user, files: dict, form="pvp_procedure"):
    request = RequestFactory().post("/imports/", {"form": form, "action": "check"})
    request.user = user
    for name, upload in files.items():
        request.FILES[name] = upload
    return import_page(request)


def test_the_page_does_not_read_a_levels_file_whose_declared_size_is_over_the_limit(clinician):
    levels = GuardedUpload("pvp_level.csv", size=IMPORT_MAX_BYTES + 1, readable=0)
    response = _post(clinician, {"file": SimpleUploadedFile("pvp.csv", PROCEDURES.encode()), "levels_file": levels})
    assert response.context_data["problems"] == [
        imports.Problem(0, "pvp_level.file", f"pvp_level.csv: {IMPORT_MAX_BYTES + 1} bytes", LIMIT)
    ]
    assert levels.served == 0 and not Job.objects.exists()


def test_the_page_reads_the_main_file_no_further_than_the_limit_when_its_declared_size_is_wrong(clinician):
    upload = GuardedUpload("pain.csv", size=10, readable=IMPORT_MAX_BYTES + 1)
    response = _post(clinician, {"file": upload}, form="pain")
    assert response.context_data["problems"] == [
        imports.Problem(0, "file", f"pain.csv: more than {IMPORT_MAX_BYTES} bytes", LIMIT)
    ]
    assert upload.served == IMPORT_MAX_BYTES + 1 and not Job.objects.exists()


def test_a_levels_file_sent_with_another_form_is_not_read(clinician):
    levels = GuardedUpload("pvp_level.csv", size=1, readable=0)
    text = "screening_number,timepoint,assessed_on,who_grade\n"
    response = _post(clinician, {"file": SimpleUploadedFile("pain.csv", text.encode()), "levels_file": levels},
                     form="pain")  # fmt: skip
    assert response.status_code == 302 and levels.served == 0  # the job was started with the pain file alone


@pytest.mark.parametrize("size", [0, 1, READ_PIECE_BYTES, READ_PIECE_BYTES + 1, IMPORT_MAX_BYTES])
def test_a_file_up_to_the_limit_is_read_whole(size):
    content, problems = read_upload(SimpleUploadedFile("ok.csv", b"y" * size))
    assert problems == [] and content == b"y" * size


def test_a_file_without_a_declared_size_is_read_no_further_than_one_byte_past_the_limit():
    upload = GuardedUpload("stream.csv", size=None, readable=IMPORT_MAX_BYTES + 1)
    content, problems = read_upload(upload, prefix="pvp_level.")
    assert content is None
    assert problems == [imports.Problem(0, "pvp_level.file", f"stream.csv: more than {IMPORT_MAX_BYTES} bytes", LIMIT)]


def test_a_user_runs_a_few_imports_at_a_time(client, clinician):
    from trials import jobs

    for _ in range(jobs.MAX_JOBS_AT_ONCE):
        Job.objects.create(kind="import", user=clinician, status=Job.Status.RUNNING)
    client.force_login(clinician)
    data = {"form": "patient", "action": "check", "file": SimpleUploadedFile("patient.csv", b"screening_number\n")}
    page = client.post("/imports/", data).content.decode()
    assert "imports under way" in page and Job.objects.count() == jobs.MAX_JOBS_AT_ONCE
