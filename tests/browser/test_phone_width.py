"""Every main page, as every role, on a phone (375 px) and a tablet (768 px): nothing scrolls sideways.

Wide tables scroll inside their own box (static/js/tables.js); the menu folds behind a button.
Screenshots of every page go to var/screenshots/<width>/<role>/ for a person to look at.
"""

import pytest

from tests.browser.conftest import PHONE, TABLET, fits_the_screen, screenshot
from tests.browser.study_pages import build_study, pages_for
from trials.roles import ROLES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("role", ROLES)
def test_no_page_scrolls_sideways(page, log_in, live_server, role):
    """Each page is loaded once and looked at on both screens (the layout follows the viewport:
    CSS media queries and the table boxes need no reload), which halves the time of this test."""
    study = build_study()
    log_in(study.users[role], password="correct-horse-battery")
    too_wide = []
    for name, path in pages_for(role, study):
        page.set_viewport_size(PHONE)
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        for screen in (PHONE, TABLET):
            page.set_viewport_size(screen)
            screenshot(page, str(screen["width"]), role, name)
            if not fits_the_screen(page):
                width = page.evaluate("document.documentElement.scrollWidth")
                too_wide.append(f"{path} at {screen['width']} px ({width} px wide)")
    assert too_wide == [], f"pages wider than the screen as {role}"


def test_the_login_page_fits_a_phone(page, live_server):
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, "375", "anonymous", "login")
    assert fits_the_screen(page)


def test_the_menu_folds_behind_a_button_on_a_phone(page, log_in, live_server):
    study = build_study()
    page.set_viewport_size(PHONE)
    log_in(study.users["coordinator"], password="correct-horse-battery")
    menu = page.get_by_test_id("main-menu")
    toggler = page.get_by_role("button", name="Menu")
    assert not menu.is_visible()
    assert toggler.get_attribute("aria-expanded") == "false"
    box = toggler.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44  # a thumb's target
    toggler.click()
    page.locator("#main-menu.show").wait_for()  # opened, its animation over
    assert toggler.get_attribute("aria-expanded") == "true"
    assert page.get_by_test_id("review-count").inner_text().startswith("1")
    screenshot(page, "375", "coordinator", "menu-open")
    page.get_by_role("link", name="Screening log").click()
    page.wait_for_url(f"{live_server.url}/screenings/log/")
    assert fits_the_screen(page)


def test_the_lab_form_and_the_checklist_are_usable_with_a_thumb(page, log_in, live_server):
    study = build_study()
    page.set_viewport_size(PHONE)
    log_in(study.users["clinician"], password="correct-horse-battery")
    page.goto(f"{live_server.url}/patients/{study.enrolled.pk}/labs/new/?timepoint=follow_up")
    for select in page.locator(".lab-table select").all():
        # The unit's name fits its selector (not cut to two letters).
        assert select.evaluate("s => s.getBoundingClientRect().width") >= 100
    table_box = page.locator(".lab-table").locator("xpath=..")
    assert table_box.evaluate("box => box.classList.contains('table-responsive')")
    page.goto(f"{live_server.url}/patients/{study.candidate.pk}/screening/")
    for radio in page.locator('main input[type="radio"]').all()[:6]:
        row = radio.locator("xpath=ancestor::*[contains(@class,'form-check')][1]")
        assert row.bounding_box()["height"] >= 44
    assert fits_the_screen(page)
