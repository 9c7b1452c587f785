"""The language switch works before login: on the login page, the first page a new user sees."""

import re

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def switch(client: Client, language: str, next_url: str):
    """Submit the login page's language form as a browser does (with the page's CSRF token)."""
    page = client.get("/accounts/login/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    return client.post("/i18n/setlang/", {"csrfmiddlewaretoken": token, "language": language, "next": next_url})


def test_an_anonymous_user_switches_the_login_page_to_chinese():
    client = Client(enforce_csrf_checks=True)
    response = switch(client, "zh-hans", "/accounts/login/?next=/dashboard/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboard/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    page = client.get("/accounts/login/").content.decode()
    assert '<html lang="zh-hans"' in page or 'lang="zh-hans"' in page
    assert "登录" in page


def test_the_switch_never_redirects_to_another_site():
    client = Client(enforce_csrf_checks=True)
    response = switch(client, "zh-hans", "https://evil.example/phish")
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_the_switch_still_needs_the_csrf_token():
    response = Client(enforce_csrf_checks=True).post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert response.status_code == 403
