"""Outcomes kept per data version: asked again while nothing changed, the figures are not recomputed;
after any write, or for users who see other sites, they are; and they are never stale, not even when
a write was under way while they were computed."""

import threading

import pytest
from django.db import connection, transaction

from tests import factories
from trials import outcomes

pytestmark = pytest.mark.django_db


@pytest.fixture
def computed(monkeypatch):
    """How many times the figures were computed from the data."""
    calls = []
    original = outcomes.load_frames

    def counting(user, filters):
        calls.append(user.username)
        return original(user, filters)

    monkeypatch.setattr(outcomes, "load_frames", counting)
    return calls


def screened(client, user) -> int:
    client.force_login(user)
    response = client.get("/api/v1/outcomes/")
    assert response.status_code == 200
    return response.json()["enrolment"]["screened"]


def test_the_figures_are_kept_while_nothing_changes_and_computed_again_after_a_write(
    client, site_a, investigator, computed
):
    factories.ScreeningFactory(patient__site=site_a)
    assert screened(client, investigator) == 1
    assert screened(client, investigator) == 1
    client.force_login(investigator)
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/dashboard/download/adverse_events.csv").status_code == 200
    assert len(computed) == 2  # once for the API and downloads, once more for the page's charts

    factories.ScreeningFactory(patient__site=site_a)
    assert screened(client, investigator) == 2
    assert len(computed) == 3


def test_users_who_see_other_sites_never_get_each_others_figures(client, site_a, site_b, investigator, computed):
    factories.ScreeningFactory(patient__site=site_a)
    factories.ScreeningFactory(patient__site=site_b)
    factories.ScreeningFactory(patient__site=site_b)
    other = factories.UserFactory(username="inv_b", role="investigator", site=site_b)
    colleague = factories.UserFactory(username="inv_a2", role="investigator", site=site_a)
    assert screened(client, investigator) == 1
    assert screened(client, other) == 2
    assert screened(client, colleague) == 1  # the same sites: the figures investigator's view computed
    assert computed == ["inv_a", "inv_b"]

    other.sites.add(site_a)  # a membership change alone moves no data version
    assert screened(client, other) == 3


def test_filters_are_part_of_what_is_kept(client, site_a, investigator, computed):
    factories.ScreeningFactory(patient__site=site_a, patient__isotype="IgG")
    factories.ScreeningFactory(patient__site=site_a, patient__isotype="IgA")
    client.force_login(investigator)
    everyone = client.get("/api/v1/outcomes/").json()
    only_igg = client.get("/api/v1/outcomes/", {"isotype": "IgG"}).json()
    assert everyone["enrolment"]["screened"] == 2 and only_igg["enrolment"]["screened"] == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_figures_computed_while_a_write_is_under_way_are_not_kept(client, settings, parallel):
    """The data version moves when the writer writes, not when it commits: figures read in between
    lack the write, and kept under the new version they would be stale once it commits."""
    settings.OUTCOMES_PARALLEL = parallel
    site = factories.SiteFactory(code="AAA")
    investigator = factories.UserFactory(username="inv_a", role="investigator", site=site)
    factories.ScreeningFactory(patient__site=site)
    written, finish = threading.Event(), threading.Event()

    def clinician_saving_a_patient():
        try:
            with transaction.atomic():
                factories.ScreeningFactory(patient__site=site)
                written.set()
                finish.wait(30)
        finally:
            connection.close()

    writer = threading.Thread(target=clinician_saving_a_patient)
    writer.start()
    try:
        assert written.wait(30)
        assert screened(client, investigator) == 1  # the write is not committed yet
    finally:
        finish.set()
        writer.join(30)
    assert screened(client, investigator) == 2  # committed: no view may show 1 any more
