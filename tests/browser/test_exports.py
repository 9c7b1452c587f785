"""An investigator exports the study for SPSS with Chinese labels, in the browser, and checks the checksum."""

import hashlib
import io
import zipfile
from pathlib import Path

import pyreadstat
import pytest

from trials.models import ExportLog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"  # git-ignored


def test_an_spss_export_in_chinese_with_the_checksum_the_page_shows(
    log_in, page, live_server, investigator, enrolled_patient, tmp_path
):
    log_in(investigator)
    page.goto(f"{live_server.url}/exports/")
    page.get_by_label("Format").select_option("sav")
    page.get_by_label("Language of variable and value labels").select_option("zh")
    with page.expect_navigation():
        page.get_by_role("button", name="Download").click()
    shown = page.get_by_test_id("job-sha256").inner_text()
    assert len(shown) == 64
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "export-job.png"), full_page=True)
    with page.expect_download() as download_info:
        page.get_by_test_id("job-download").click()
    content = open(download_info.value.path(), "rb").read()  # noqa: SIM115 - Playwright's temporary file
    assert hashlib.sha256(content).hexdigest() == shown == ExportLog.objects.get().sha256
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        (tmp_path / "patient.sav").write_bytes(archive.read("patient.sav"))
        assert "analysis.sps" in archive.namelist()
    data, meta = pyreadstat.read_sav(tmp_path / "patient.sav")
    assert dict(zip(meta.column_names, meta.column_labels, strict=True))["sex"] == "性别"
    assert data["study_id"].tolist() == [enrolled_patient.study_id]
