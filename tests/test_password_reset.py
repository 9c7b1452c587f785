"""Password reset by e-mail: there only where a mail server is configured (EMAIL_HOST).

Without one no reset mail could ever arrive: the login page offers no link and every reset URL
answers 404. With one, the whole round trip works: the mail, the link, the new password, the login
(which still asks a user with a second factor for the code).
"""

import re

import pytest
from django.core import mail
from django.db import connection

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RESET_URLS = ("/accounts/password_reset/", "/accounts/password_reset/done/", "/accounts/reset/MQ/set-password/",
              "/accounts/reset/done/")  # fmt: skip
NEW_PASSWORD = "a-new-long-passphrase-7"


@pytest.fixture
def mail_server(settings):
    settings.EMAIL_HOST = "smtp.hospital.example"  # the test runner's outbox stands in for it


@pytest.fixture
def nurse(site_a):
    return UserFactory(username="nurse_a", role="clinician", site=site_a, email="nurse.a@hospital.example")


def test_without_a_mail_server_the_login_page_offers_no_reset(client):
    page = client.get("/accounts/login/").content.decode()
    assert "/accounts/password_reset/" not in page
    assert "Forgotten your password" not in page


@pytest.mark.parametrize("url", RESET_URLS)
def test_without_a_mail_server_every_reset_url_is_a_404(client, url):
    assert client.get(url).status_code == 404


def test_without_a_mail_server_a_posted_reset_sends_nothing(client, nurse):
    assert client.post("/accounts/password_reset/", {"email": nurse.email}).status_code == 404
    assert mail.outbox == []


def test_with_a_mail_server_the_login_page_links_to_the_reset(client, mail_server):
    page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in page


def test_with_a_mail_server_a_user_resets_the_password_from_the_mailed_link(client, nurse, mail_server):
    page = client.get("/accounts/password_reset/")
    assert page.status_code == 200 and 'name="email"' in page.content.decode()

    response = client.post("/accounts/password_reset/", {"email": nurse.email})
    assert response.status_code == 302 and response.url == "/accounts/password_reset/done/"
    assert client.get(response.url).status_code == 200
    assert [message.to for message in mail.outbox] == [[nurse.email]]
    link = re.search(r"http://testserver(/accounts/reset/\S+/\S+/)", mail.outbox[0].body).group(1)

    form = client.get(link, follow=True)  # Django moves the token from the URL into the session
    assert form.status_code == 200 and 'name="new_password1"' in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.url == "/accounts/reset/done/"
    assert client.get(done.url).status_code == 200

    nurse.refresh_from_db()
    assert nurse.check_password(NEW_PASSWORD)
    assert "_auth_user_id" not in client.session  # a reset does not log in: the login (and its code) does
    assert client.get(link, follow=True).context["validlink"] is False  # the link works once
    # The account's audit trail has the change (the hash itself is never copied into it).
    with connection.cursor() as cursor:
        cursor.execute("SELECT pgh_label FROM trials_userevent WHERE pgh_obj_id = %s ORDER BY pgh_id", [nurse.pk])
        assert cursor.fetchall()[-1] == ("password_changed",)


def test_with_a_mail_server_an_unknown_address_gets_the_same_answer_and_no_mail(client, nurse, mail_server):
    response = client.post("/accounts/password_reset/", {"email": "nobody@hospital.example"})
    assert response.status_code == 302 and response.url == "/accounts/password_reset/done/"
    assert mail.outbox == []
