"""A clinician enters a whole case in a real browser, then meets a critical and an impossible value.

Screenshots of the record and of a form, in English and Chinese, go to var/screenshots/ (git-ignored).
"""

import json
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from trials.models import LabDraw, Patient
from trials.services import enrol_patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


class Clinician:
    """Drives the page and counts what a person would do: each click, choice or typed field."""

    def __init__(self, page, base_url):
        self.page, self.base_url, self.actions = page, base_url, 0

    def go(self, path):
        self.page.goto(self.base_url + path)

    def click(self, name, role="link"):
        self.actions += 1
        self.page.get_by_role(role, name=name).first.click()

    def fill(self, field, value):
        self.actions += 1
        self.page.locator(f'[name="{field}"]').fill(str(value))

    def choose(self, field, value):
        self.actions += 1
        self.page.locator(f'select[name="{field}"]').select_option(str(value))

    def check(self, field, value=None):
        self.actions += 1
        selector = f'input[name="{field}"]' + (f'[value="{value}"]' if value is not None else "")
        self.page.locator(selector).check()

    def save(self):
        self.actions += 1
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Save").click()

    def open_from_record(self, section, link):
        self.page.locator(f"#{section}").get_by_role("link", name=link).first.click()
        self.actions += 1


def enter_case(me: Clinician, coordinator) -> Patient:
    me.click("New patient")
    me.fill("date_of_birth", "1958-04-02")
    me.choose("sex", "F")
    me.fill("initials", "WL")
    me.fill("hospital_number", "ZY-20231")
    me.fill("weight_kg", "58")
    me.fill("diagnosis_date", "2023-01-05")
    me.choose("isotype", "IgA")
    for level in ("T12", "L1", "L2"):
        me.check("fractured_levels", level)
    me.save()
    patient = Patient.objects.get(hospital_number="ZY-20231")

    me.page.locator("#screening").get_by_role("link", name="Enter").click()
    me.actions += 1
    me.fill("screened_on", "2023-02-01")
    me.choose("kps", "70")
    for name in ("life_expectancy_over_90_days", "i1", "i2", "i3", "i5"):
        me.check(name, "yes")
    for name in ("e1", "e2", "e3", "e4", "e5"):
        me.check(name, "no")
    me.fill("consent_date", "2023-02-01")
    me.save()
    # The coordinator's review and e-signature is a later issue; here the signature is a fixture.
    screening = patient.screening
    screening.signed_by, screening.signed_at = coordinator, datetime(2023, 2, 2, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
    screening.save()
    enrol_patient(patient, enrolled_on=screening.signed_at.date())
    me.page.reload()

    enter_assessments(me, "labs-baseline", 236, 10, "mg/dL", 3, 2, "2023-02-01")

    me.open_from_record("pvp", "Enter")
    me.fill("performed_on", "2023-02-03")
    me.choose("approach", "bipedicular")
    me.fill("bed_rest_days", 3)
    me.fill("operator", "Dr Zhang")
    # The patient's fractured levels are already listed, in order: only the cement is typed.
    for index, (level, cement) in enumerate((("T12", "2.5"), ("L1", "4.5"), ("L2", "4.0"))):
        assert me.page.locator(f'[name="levels-{index}-level"]').input_value() == level
        me.fill(f"levels-{index}-cement_ml", cement)
    me.save()

    for cycle, day in ((1, "2023-02-06"), (2, "2023-03-06"), (3, "2023-04-03")):
        me.open_from_record("infusions", "Add infusion")
        assert me.page.locator('[name="cycle"]').input_value() == str(cycle)  # proposed by the form
        me.fill("infused_on", day)
        me.fill("creatinine_umol_l", "68")
        me.fill("dose_mg", "4.0")
        me.fill("duration_min", "20")
        me.page.get_by_test_id("crcl").filter(has_text="ml/min").wait_for()
        me.save()

    enter_assessments(me, "labs-follow_up", 88, "2.45", "mmol/L", 1, 4, "2023-05-02")

    me.open_from_record("response", "Enter")
    me.fill("assessed_on", "2023-05-02")
    me.choose("category", "PR")
    me.check("immunofixation_negative", "no")
    me.save()

    me.open_from_record("adverse-events", "Add adverse event")
    me.choose("term", "nausea")
    me.fill("onset_on", "2023-02-07")
    me.fill("resolved_on", "2023-02-08")
    me.choose("ctcae_grade", "1")
    me.choose("related_to", "zoledronic_acid")
    me.choose("outcome", "resolved")
    me.save()
    return patient


def enter_assessments(me, section, alp, calcium, unit, who_grade, qol_score, day):
    me.open_from_record(section, "Enter")  # laboratory
    me.fill("drawn_on", day)
    me.fill("alp_value", alp)
    me.fill("calcium_value", calcium)
    if unit != "mmol/L":
        me.choose("calcium_unit", unit)
    me.fill("creatinine_value", 68)
    me.save()
    me.page.locator(f"#{section}").get_by_role("link", name="Enter").nth(0).click()  # pain
    me.actions += 1
    me.fill("assessed_on", day)
    me.check("who_grade", who_grade)
    me.save()
    me.page.locator(f"#{section}").get_by_role("link", name="Enter").nth(0).click()  # QoL
    me.actions += 1
    me.fill("assessed_on", day)
    for item in me.page.locator('input[type="radio"][name^="q_"][value="1"]').all():
        me.check(item.get_attribute("name"), qol_score)
    assert me.page.locator("#qol-total").inner_text() == str(12 * qol_score)
    me.save()


def test_a_clinician_enters_a_complete_case(page, live_server, log_in, clinician, coordinator):
    log_in(clinician)
    me = Clinician(page, live_server.url)
    started = time.monotonic()
    patient = enter_case(me, coordinator)
    seconds = time.monotonic() - started

    record = page.locator(".timeline")
    for section in ("screening", "pvp", "infusions", "labs-baseline", "labs-follow_up", "response"):
        badges = page.locator(f"#{section} [data-state]")
        assert set(badges.evaluate_all("els => els.map(e => e.dataset.state)")) == {"complete"}, section
    assert "3/3" in record.locator("#infusions").inner_text()
    baseline_calcium = page.locator('#labs-baseline tr[data-analyte="calcium"]').inner_text()
    assert "2.50 mmol/L" in baseline_calcium and "(10 mg/dL)" in baseline_calcium  # canonical and as typed
    assert page.locator("#pvp tbody tr").count() == 3
    assert patient.infusions.count() == 3

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "complete-case.json").write_text(json.dumps({"actions": me.actions, "seconds": round(seconds, 1)}))
    print(f"\ncomplete case: {me.actions} actions in {seconds:.1f} s")

    # A critical calcium asks for confirmation; confirmed, it saves.
    me.go(f"/patients/{patient.pk}/labs/new/?timepoint=cycle_1")
    me.fill("drawn_on", "2023-02-06")
    me.fill("calcium_value", "3.6")
    me.save()
    assert "is a critical value" in page.get_by_test_id("error-summary").inner_text()
    me.check("calcium_confirm")
    me.save()
    assert page.url.endswith(f"/patients/{patient.pk}/#labs")
    assert LabDraw.objects.filter(patient=patient, timepoint="cycle_1").exists()

    # An impossible calcium is refused and nothing is saved.
    me.go(f"/patients/{patient.pk}/labs/new/?timepoint=cycle_2")
    me.fill("drawn_on", "2023-03-06")
    me.fill("calcium_value", "45")
    me.check("calcium_confirm")
    me.save()
    summary = page.get_by_test_id("error-summary").inner_text()
    assert "Serum calcium 45 mmol/L is impossible: it must lie in 0.5–6.0 mmol/L." in summary
    assert not LabDraw.objects.filter(patient=patient, timepoint="cycle_2").exists()

    for language, button in (("en", "English"), ("zh-hans", "简体中文")):
        page.get_by_role("button", name=button).click()
        page.wait_for_load_state()
        me.go(f"/patients/{patient.pk}/")
        page.screenshot(path=SCREENSHOTS / f"record-{language}.png", full_page=True)
        me.go(f"/patients/{patient.pk}/labs/new/?timepoint=cycle_3")
        page.screenshot(path=SCREENSHOTS / f"lab-form-{language}.png", full_page=True)
    assert page.locator("html").get_attribute("lang") == "zh-hans"  # the choice is remembered across pages
