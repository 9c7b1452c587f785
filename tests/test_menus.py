"""The top menu offers each role exactly the pages it may open; a refusal is a page of the study.

The menu is decided by trials/menus.py with the checks the views make; these tests open every entry
as the role that was offered it, so a menu entry that would answer 403 fails here.
"""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import factories
from trials import menus

pytestmark = pytest.mark.django_db

EVERY_ROLE = ("Patients", "Review", "Screening log", "Flow", "Queries", "Dashboard")
MENUS = {
    "clinician": [*EVERY_ROLE, "Import"],
    "coordinator": [*EVERY_ROLE, "Import"],
    "investigator": [*EVERY_ROLE, "Exports"],
    "data_manager": [*EVERY_ROLE, "Exports", "Freeze", "Administration"],
}


def menu_of(response) -> list[str]:
    """The labels of the top menu's links, badges left out."""
    html = response.content.decode()
    menu = re.search(r'<ul class="navbar-nav[^"]*" data-testid="main-menu">(.*?)</ul>', html, re.S)
    if menu is None:
        return []
    links = re.findall(r'<a class="nav-link[^"]*" href="[^"]*" data-menu="[^"]*"[^>]*>(.*?)</a>', menu.group(1), re.S)
    return [re.sub(r"<span.*", "", link, flags=re.S).strip() for link in links]


def menu_links(response) -> list[str]:
    html = response.content.decode()
    menu = re.search(r'data-testid="main-menu">(.*?)</ul>', html, re.S).group(1)
    return re.findall(r'href="([^"]*)"', menu)


@pytest.fixture
def personas(clinician, coordinator, investigator, data_manager):
    return {"clinician": clinician, "coordinator": coordinator, "investigator": investigator,
            "data_manager": data_manager}  # fmt: skip


@pytest.mark.parametrize("role", MENUS)
def test_each_role_is_offered_exactly_the_pages_it_may_open(client, personas, role):
    client.force_login(personas[role])
    response = client.get("/patients/")
    assert menu_of(response) == MENUS[role]
    for url in menu_links(response):
        answer = client.get(url)
        assert answer.status_code == 200 or (answer.status_code == 302 and url == "/admin/"), (role, url)


def test_a_clinician_is_not_offered_exports_nor_an_investigator_imports(client, clinician, investigator):
    client.force_login(clinician)
    assert 'href="/exports/"' not in client.get("/patients/").content.decode()
    client.force_login(investigator)
    assert 'href="/imports/"' not in client.get("/patients/").content.decode()


def test_a_user_without_a_study_role_is_offered_no_page(client, site_a):
    client.force_login(factories.UserFactory(site=site_a))
    assert menu_of(client.get("/accounts/two-factor/")) == []


def test_a_data_manager_before_the_second_factor_is_offered_no_page(client, data_manager):
    # Every page but the two-factor one redirects there until the data manager has a device and a code.
    TOTPDevice.objects.filter(user=data_manager).delete()
    client.force_login(data_manager)
    assert client.get("/patients/")["Location"] == "/accounts/two-factor/"
    assert menu_of(client.get("/accounts/two-factor/")) == []


def test_the_current_page_is_marked_for_screen_readers(client, clinician, enrolled_patient):
    client.force_login(clinician)
    html = client.get(f"/patients/{enrolled_patient.pk}/").content.decode()
    assert re.search(r'href="/patients/" data-menu="patient_list" aria-current="page"', html)
    assert html.count('aria-current="page"') == 1


class TestReviewCount:
    def test_the_coordinator_sees_how_many_screenings_wait_for_review(self, client, coordinator, site_a, site_b):
        for _ in range(2):
            factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a), e2="unknown")  # incomplete
        factories.ScreeningFactory(patient=factories.PatientFactory(site=site_b))  # another site's
        client.force_login(coordinator)
        html = client.get("/patients/").content.decode()
        count = re.search(r'data-testid="review-count">(\d+)<span class="visually-hidden"> ([^<]*)</span>', html)
        assert count.groups() == ("2", "screenings waiting for review")
        # The count is the review queue's own list of screenings waiting.
        assert len(client.get("/screenings/review/").context["waiting"]) == 2

    def test_no_count_when_nothing_waits_or_for_roles_that_do_not_sign(self, client, coordinator, clinician, site_a):
        client.force_login(coordinator)
        assert "review-count" not in client.get("/patients/").content.decode()
        factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        client.force_login(clinician)
        assert "review-count" not in client.get("/patients/").content.decode()

    def test_the_count_costs_one_query(self, coordinator, site_a, django_assert_num_queries):
        for _ in range(3):
            factories.ScreeningFactory(patient=factories.PatientFactory(site=site_a))
        coordinator._role_names = {"coordinator"}  # the role, as the request has already read it
        with django_assert_num_queries(1):  # the unsigned screenings of the user's sites
            assert menus.screenings_awaiting_review(coordinator) == 3


class TestRefusalPage:
    REFUSED = {"clinician": "/exports/", "coordinator": "/exports/", "investigator": "/imports/",
               "data_manager": "/imports/"}  # fmt: skip
    ROLE_NAMES = {"clinician": "Clinician", "coordinator": "Coordinator", "investigator": "Investigator",
                  "data_manager": "Data manager"}  # fmt: skip

    @pytest.mark.parametrize("role", MENUS)
    def test_it_names_the_role_shows_the_menu_and_links_back(self, client, personas, role):
        client.force_login(personas[role])
        response = client.get(self.REFUSED[role])
        html = response.content.decode()
        assert response.status_code == 403
        assert response.templates[0].name == "403.html"
        assert menu_of(response) == MENUS[role]
        assert f"You are signed in as <strong>{self.ROLE_NAMES[role]}</strong>." in html
        assert 'data-testid="refusal">' in html  # the view's reason
        assert 'href="/" data-testid="back"' in html
        assert '<link rel="icon"' in html

    def test_it_gives_the_views_reason(self, client, clinician):
        client.force_login(clinician)
        assert "Exports are for investigators and data managers." in client.get("/exports/").content.decode()

    def test_a_bare_refusal_still_explains_the_role(self, client, clinician):
        client.force_login(clinician)
        response = client.get("/study/freeze/")  # `raise PermissionDenied` without a message
        assert response.status_code == 403
        assert "Clinicians register patients" in response.content.decode()
        assert 'data-testid="refusal"' not in response.content.decode()

    def test_a_user_without_a_role_is_told_to_ask_for_one(self, client, site_a):
        client.force_login(factories.UserFactory(site=site_a))
        response = client.get("/patients/")
        assert response.status_code == 403
        assert "has no study role yet" in response.content.decode()

    def test_the_api_still_answers_json(self, clinician):
        response = factories.api_client_for(clinician).post("/api/v1/exports/", {"format": "csv"}, format="json")
        assert response.status_code == 403
        assert response["Content-Type"] == "application/json"

    def test_the_page_is_translated(self, client, clinician):
        client.force_login(clinician)
        client.cookies["django_language"] = "zh-hans"
        html = client.get("/exports/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        assert '<html lang="zh-hans">' in html


def test_the_favicon_is_served(client):
    for name in ("favicon.svg", "favicon.png", "apple-touch-icon.png"):
        assert client.get(f"/static/{name}").status_code == 200, name


def test_the_administration_shows_the_icon_too(client, data_manager):
    client.force_login(data_manager)
    html = client.get("/admin/").content.decode()
    assert 'href="/static/favicon.svg"' in html
    assert "Site administration" in html  # still Django's own page, extended


def test_an_expired_form_is_explained_on_a_page_of_the_study(clinician):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(clinician)
    response = client.post("/patients/new/", {"sex": "M"})  # no CSRF token: as a form kept open past a new login
    html = response.content.decode()
    assert response.status_code == 403
    assert "The form has expired" in html and "Nothing was saved." in html
    assert 'data-testid="main-menu"' in html
