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


# --- Screen sizes, screenshots and the accessibility check (tests/browser/test_phone_width.py,
# tests/browser/test_accessibility.py) ---------------------------------------------------------

PHONE = {"width": 375, "height": 740}  # an iPhone SE/mini-class phone in portrait
TABLET = {"width": 768, "height": 1024}  # an iPad in portrait
DESKTOP = {"width": 1280, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"  # git-ignored
# WCAG 2.1 levels A and AA; of axe's "best-practice" rules (advice beyond the standard) only those a
# user of ours ran into: headerless table columns and a page without a level-one heading.
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BEST_PRACTICES = {"empty-table-header", "page-has-heading-one"}


def fits_the_screen(page) -> bool:
    """Nothing sticks out sideways: the page does not scroll horizontally."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def screenshot(page, *parts: str) -> Path:
    path = SCREENSHOTS.joinpath(*parts).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page) -> list[str]:
    """Run axe-core (bundled by axe-playwright-python) on the page as shown; one line per violation:
    the rule, its impact, how many elements break it and the first of them."""
    from axe_playwright_python.sync_playwright import Axe

    tags = [*WCAG_21_AA, "best-practice"]
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": tags}, "resultTypes": ["violations"]})
    return [
        f"{violation['id']} ({violation['impact']}, {len(violation['nodes'])}): "
        + " | ".join(" ".join(node["target"]) for node in violation["nodes"][:4])
        for violation in results.response["violations"]
        if set(violation["tags"]) & set(WCAG_21_AA) or violation["id"] in BEST_PRACTICES
    ]
