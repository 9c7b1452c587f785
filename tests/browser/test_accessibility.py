"""axe-core (4.12, through axe-playwright-python) on every main page, as every role, at desktop
width: no violation of WCAG 2.1 levels A and AA (rules tagged wcag2a, wcag2aa, wcag21a, wcag21aa),
nor of the two best practices users ran into (a table column without a header, a page without a
level-one heading); see tests/browser/conftest.py.

Each failure lists the page, the rule, its impact and the elements that break it; the rules are
explained at https://dequeuniversity.com/rules/axe/4.12/<rule>.
"""

import pytest

from tests.browser.conftest import DESKTOP, PHONE, axe_violations, screenshot
from tests.browser.study_pages import build_study, pages_for
from trials.roles import ROLES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def check_pages(page, live_server, pages, who: str) -> list[str]:
    found = []
    for name, path in pages:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        screenshot(page, str(DESKTOP["width"]), who, name)
        found += [f"{name} {path}: {violation}" for violation in axe_violations(page)]
    return found


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_the_role_meets_wcag_21_aa(page, log_in, live_server, role):
    study = build_study()
    page.set_viewport_size(DESKTOP)
    log_in(study.users[role], password="correct-horse-battery")
    violations = check_pages(page, live_server, pages_for(role, study), role)
    assert violations == [], "\n".join(violations)


def test_the_login_page_meets_wcag_21_aa(page, live_server):
    page.set_viewport_size(DESKTOP)
    assert check_pages(page, live_server, [("login", "/accounts/login/")], "anonymous") == []


def test_the_phone_menu_meets_wcag_21_aa(page, log_in, live_server):
    study = build_study()
    page.set_viewport_size(PHONE)
    log_in(study.users["coordinator"], password="correct-horse-battery")
    page.get_by_role("button", name="Menu").click()
    page.locator("#main-menu.show").wait_for()
    assert axe_violations(page) == []
