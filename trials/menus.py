"""The top menu: the pages a user may open, decided by the very checks those pages make.

`ENTRIES` is plain data, in menu order; each entry names the rule its view applies (see the view
named in the comment), so no role is offered a link that answers 403. tests/test_menus.py opens every
entry as every role, which holds the menu and the views together.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext_lazy

from trials import access, enrolment, imports
from trials.models import Screening
from trials.roles import DATA_MANAGER, ROLES, export_refusal, has_role
from trials.security import two_factor_required


def _study_staff(user) -> bool:
    # trials.views.common.require_study_role: the pages any study role may read.
    return has_role(user, *ROLES)


def _may_export(user) -> bool:
    # trials.views.exports.export_page
    return export_refusal(user, identifiable=False) is None


def _may_import(user) -> bool:
    # trials.views.imports.import_page: a role imports the forms it enters on their pages.
    return bool(imports.forms_for(user))


def _may_freeze(user) -> bool:
    # trials.views.review.freeze
    return has_role(user, DATA_MANAGER)


def _may_administer(user) -> bool:
    # django.contrib.admin.AdminSite.has_permission
    return user.is_active and user.is_staff


@dataclass(frozen=True)
class MenuEntry:
    url_name: str
    label: str
    allowed: Callable[[object], bool]


ENTRIES = (
    MenuEntry("patient_list", gettext_lazy("Patients"), _study_staff),
    MenuEntry("review_queue", gettext_lazy("Review"), _study_staff),
    MenuEntry("screening_log", gettext_lazy("Screening log"), _study_staff),
    MenuEntry("flow_diagram", gettext_lazy("Flow"), _study_staff),
    MenuEntry("query_list", gettext_lazy("Queries"), _study_staff),
    MenuEntry("dashboard", gettext_lazy("Dashboard"), _study_staff),
    MenuEntry("exports", gettext_lazy("Exports"), _may_export),
    MenuEntry("imports", gettext_lazy("Import"), _may_import),
    MenuEntry("study_freeze", gettext_lazy("Freeze"), _may_freeze),
    MenuEntry("admin:index", gettext_lazy("Administration"), _may_administer),
)


@dataclass(frozen=True)
class MenuItem:
    """One link as the page shows it."""

    url_name: str
    label: str
    url: str
    current: bool
    badge: int | None = None  # a count of things waiting for this user on that page


def entries_for(user) -> list[MenuEntry]:
    if not user.is_authenticated or awaiting_second_factor(user):
        return []
    return [entry for entry in ENTRIES if entry.allowed(user)]


def awaiting_second_factor(user) -> bool:
    """trials.security.TwoFactorRequiredMiddleware sends such a user to the two-factor page from every
    other page until a code is entered, so no menu is offered before. `is_verified` is set on the
    request's user by django_otp's middleware."""
    is_verified = getattr(user, "is_verified", None)
    return is_verified is not None and two_factor_required(user) and not is_verified()


def screenings_awaiting_review(user) -> int:
    """The screenings of the user's sites with every answer given and no signature yet: the "waiting"
    list of the review queue (trials.views.screening.review_queue). Eligibility is the protocol's
    verdict on the answers, computed in Python, so the unsigned screenings are read (one query)."""
    unsigned = Screening.objects.filter(patient__in=access.patients_for_user(user), signed_at__isnull=True)
    return sum(1 for screening in unsigned if screening.eligible is not None)


def menu_for(user, path: str) -> list[MenuItem]:
    """The user's menu for the page at `path`; the current page's entry is the longest URL that starts it.

    Coordinators, who sign screenings, see how many wait for them on "Review"."""
    entries = entries_for(user)
    urls = {entry.url_name: reverse(entry.url_name) for entry in entries}
    matches = [name for name, url in urls.items() if path.startswith(url)]
    current = max(matches, key=lambda name: len(urls[name]), default=None)
    items = []
    for entry in entries:
        badge = None
        if entry.url_name == "review_queue" and enrolment.may_sign(user):
            badge = screenings_awaiting_review(user)
        items.append(MenuItem(entry.url_name, entry.label, urls[entry.url_name], entry.url_name == current, badge))
    return items
