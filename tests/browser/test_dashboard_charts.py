"""The dashboard's charts: words in the user's language, their numbers as a table, a PNG per chart,
and the missing pairs explained; and the language switch of the login page, before logging in."""

import io
from pathlib import Path

import pytest
from PIL import Image

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_patients_one_pair(site_a, coordinator):
    """Two enrolled patients with a baseline ALP; only the first has a follow-up value."""
    from datetime import UTC, date, datetime

    from trials.services import enrol_patient

    patients = []
    for alp_before, alp_after in ((240, 90), (230, None)):
        patient = factories.PatientFactory(site=site_a)
        signed_at = datetime(2020, 1, 7, 9, tzinfo=UTC)
        factories.ScreeningFactory(patient=patient, signed_by=coordinator, signed_at=signed_at)
        patient = enrol_patient(patient, enrolled_on=date(2020, 1, 7))
        draw = factories.LabDrawFactory(patient=patient, timepoint="baseline")
        factories.LabResultFactory(lab_draw=draw, analyte="alp", value=alp_before)
        if alp_after is not None:
            draw = factories.LabDrawFactory(patient=patient, timepoint="follow_up", drawn_on=date(2020, 5, 1))
            factories.LabResultFactory(lab_draw=draw, analyte="alp", value=alp_after)
        factories.PainAssessmentFactory(patient=patient, timepoint="baseline", who_grade=3)
        patients.append(patient)
    return patients


def test_each_chart_has_its_numbers_and_a_png_download(page, live_server, log_in, investigator, two_patients_one_pair):
    log_in(investigator)
    page.goto(f"{live_server.url}/dashboard/")

    # The text alternative: ALP's one pair, as numbers.
    table = page.locator('[data-chart-table="chart-alp"]')
    table.locator("summary").click()
    rows = table.locator("tbody tr")
    assert rows.count() == 1
    assert rows.first.inner_text().split() == ["1", "240", "90"]
    # The missing pair is explained, beside the chart and under Table 1.
    note = page.locator('figure[data-chart="chart-alp"] [data-pairs]').inner_text()
    assert note == "1 of 2 enrolled have both baseline and follow-up values. 1 lacks the follow-up value."
    assert "1 lacks the follow-up value" in page.get_by_test_id("missing-pairs").inner_text()

    # Each chart downloads as a PNG of the chart drawn (white background, the chart's size).
    page.locator('html[data-charts-drawn="5"]').wait_for(state="attached")
    for chart in ("chart-alp", "chart-calcium", "chart-qol_total", "chart-response", "chart-pain"):
        with page.expect_download() as info:
            page.locator(f'[data-chart-download="{chart}"]').click()
        download = info.value
        assert download.suggested_filename == f"pvp-{chart}.png"
        image = Image.open(io.BytesIO(Path(download.path()).read_bytes()))
        assert image.format == "PNG" and image.width > 100 and image.height > 100
        assert image.convert("RGB").getpixel((1, 1)) == (255, 255, 255)


def test_many_patients_are_drawn_as_percentile_lines(
    page, live_server, log_in, investigator, two_patients_one_pair, monkeypatch
):
    """Above PAIR_LINES_MAX pairs a line per patient is a smudge (and 100,000 of them a page of seconds):
    the plot joins the percentiles before and after, named in its legend and in its table."""
    from trials import outcomes

    monkeypatch.setattr(outcomes, "PAIR_LINES_MAX", 0)  # the one ALP pair counts as "many"
    log_in(investigator)
    page.goto(f"{live_server.url}/dashboard/")
    page.locator('html[data-charts-drawn="5"]').wait_for(state="attached")
    table = page.locator('[data-chart-table="chart-alp"]')
    table.locator("summary").click()
    assert table.locator("thead").inner_text().split() == ["Percentile", "Before", "After"]
    rows = [row.split("\t") for row in table.locator("tbody").inner_text().splitlines()]
    assert [row[0] for row in rows] == [
        "10th percentile", "25th percentile", "Median", "75th percentile", "90th percentile",
    ]  # fmt: skip
    assert all(row[1:] == ["240", "90"] for row in rows)  # one pair: every percentile is that pair
    assert page.locator('[data-percentile-lines="alp"]').inner_text().startswith("Too many patients (1)")
    legend = page.evaluate(
        "Chart.getChart(document.getElementById('chart-alp')).data.datasets.map(d => [d.label, d.borderWidth])"
    )
    assert legend == [["10th percentile", 1.5], ["25th percentile", 1.5], ["Median", 3.5],
                      ["75th percentile", 1.5], ["90th percentile", 1.5]]  # fmt: skip


def test_the_charts_speak_chinese(page, live_server, log_in, investigator, two_patients_one_pair):
    log_in(investigator)
    page.goto(f"{live_server.url}/dashboard/")
    with page.expect_navigation():
        page.locator('button[name="language"][value="zh-hans"]').click()
    assert page.url.endswith("/dashboard/")
    # Chart.js draws on a canvas: the words it was given are read back from the chart objects' source,
    # the json_script block the page hands to static/js/dashboard.js.
    words = page.evaluate("JSON.parse(document.getElementById('chart-words').textContent)")
    assert words["before"] == "治疗前" and words["follow_up"] == "随访"
    assert words["charts"]["chart-pain"]["x"] == "WHO疼痛分级"
    assert "1 例缺少随访值。" in page.locator('figure[data-chart="chart-alp"] [data-pairs]').inner_text()


def test_the_login_page_switches_to_chinese_before_login(page, live_server, db):
    page.goto(f"{live_server.url}/accounts/login/?next=/dashboard/")
    with page.expect_navigation():
        page.locator('button[name="language"][value="zh-hans"]').click()
    assert page.url.endswith("/accounts/login/?next=/dashboard/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.get_by_role("button", name="登录").is_visible()
