"""One count, one definition: the dashboard, the outcomes API, the flow diagram, the screening log and
the patient list count screened, eligible, enrolled, treated and assessed patients with
`trials.flow.step_counts`, and show the same numbers."""

import io
import re
from datetime import date, timedelta

import pytest
from django.core.management import call_command

from tests import factories
from trials import flow
from trials.models import User

COUNTED = ("screened", "eligible", "ineligible", "enrolled", "with_pvp", "completed_infusions", "assessed")


def counts_on(client, url: str) -> dict[str, int]:
    """The numbers a page shows in its elements marked data-count="<name>"."""
    page = client.get(url).content.decode()
    found = re.findall(r'data-count="(\w+)">(\d+)<', page)
    return {name: int(value) for name, value in found if name in COUNTED}


def assert_pages_agree(client, user) -> dict[str, int]:
    client.force_login(user)
    api = client.get("/api/v1/outcomes/").json()["enrolment"]
    dashboard = counts_on(client, "/dashboard/")
    assert dashboard == api
    # The flow diagram shows the steps it draws; the lists show every count.
    assert counts_on(client, "/screenings/flow/") == {key: api[key] for key in ("screened", "ineligible", *flow.STEPS)}
    assert counts_on(client, "/screenings/log/") == api
    assert counts_on(client, "/patients/") == api
    return api


@pytest.mark.django_db
def test_every_page_counts_the_demo_study_alike(client, monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    counts = assert_pages_agree(client, User.objects.get(username="data_manager"))
    assert counts["enrolled"] > 0


@pytest.mark.django_db
def test_withdrawals_and_missed_infusions_are_counted_once_by_one_rule(client, site_a, coordinator):
    """Five enrolled patients, each a different path through the study."""
    patients = [enrol(site_a, coordinator, n) for n in range(5)]
    full, one_infusion_assessed, held, withdrawn, no_pvp = patients
    for patient in (full, one_infusion_assessed, held, withdrawn):
        factories.PvpProcedureFactory(patient=patient)
    for cycle in (1, 2, 3):
        infuse(full, cycle)
    # Assessed at follow-up after a single infusion: assessed, but did NOT complete the infusions.
    infuse(one_infusion_assessed, 1)
    factories.TumourResponseFactory(patient=one_infusion_assessed)
    factories.TumourResponseFactory(patient=full)
    # Three cycles recorded, the third held: only given infusions count.
    infuse(held, 1)
    infuse(held, 2)
    factories.InfusionFactory(
        patient=held, cycle=3, infused_on=date(2020, 3, 9), status="held", held_reason="creatinine rising",
        dose_mg=None, diluent_ml=None, duration_min=None,
    )  # fmt: skip
    infuse(withdrawn, 1)
    factories.EndOfStudyFactory(patient=withdrawn, end_reason="withdrew_consent")
    # One screen failure: screened and ineligible, never enrolled.
    factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), e1="yes")

    counts = assert_pages_agree(client, coordinator)
    assert counts == {"screened": 6, "eligible": 5, "ineligible": 1, "enrolled": 5, "with_pvp": 4,
                      "completed_infusions": 1, "assessed": 2}  # fmt: skip
    flow_page = client.get("/screenings/flow/").content.decode()
    assert 'data-count="assessed_without_all_infusions">' in flow_page
    assert "withdrew consent: 1" in flow_page


def enrol(site, coordinator, n: int):
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from trials.services import enrol_patient

    patient = factories.PatientFactory(site=site)
    factories.ScreeningFactory(
        patient=patient,
        signed_by=coordinator,
        signed_at=datetime.combine(date(2020, 1, 7), time(9), tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    return enrol_patient(patient, enrolled_on=date(2020, 1, 7))


def infuse(patient, cycle: int):
    """Cycle n given on day 28 (n - 1) after 13 January 2020: on schedule."""
    factories.InfusionFactory(
        patient=patient, cycle=cycle, infused_on=date(2020, 1, 13) + timedelta(days=28 * (cycle - 1))
    )
