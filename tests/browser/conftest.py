"""Headless Chromium (Debian's package) driven by Playwright, against pytest-django's live server.

`make test` installs Chromium when it is missing; if it is still missing these tests fail with
the command to run, rather than being skipped.
"""

from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `sudo apt-get install -y chromium` (make test does this as root).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def current_totp(user) -> str:
    """The code a user's authenticator app shows now. Forgets the last code used, which a device
    refuses to accept twice, so that a test may log the same user in again within 30 seconds."""
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user=user, confirmed=True)
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def log_in(page, live_server):
    """Logs in through the login page; users with a two-factor device also enter the current code."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def log_in_as(user, password="correct-horse-battery"):
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            page.wait_for_url(f"{live_server.url}/accounts/login/code/**")
            page.get_by_label("Code").fill(current_totp(user))
            page.get_by_role("button", name="Verify").click()
        page.wait_for_url(f"{live_server.url}/patients/")
        return page

    return log_in_as
