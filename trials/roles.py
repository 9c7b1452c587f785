"""The four study roles are Django groups; this module is the one place their rights are set."""

from django.contrib.auth.models import Group, Permission
from django.utils.translation import gettext_lazy

CLINICIAN = "clinician"
COORDINATOR = "coordinator"
INVESTIGATOR = "investigator"
DATA_MANAGER = "data_manager"
ROLES = (CLINICIAN, COORDINATOR, INVESTIGATOR, DATA_MANAGER)

CLINICAL_MODELS = (
    "patient",
    "screening",
    "pvpprocedure",
    "treatedlevel",
    "infusion",
    "labdraw",
    "labresult",
    "painassessment",
    "qolassessment",
    "tumourresponse",
    "adverseevent",
    "endofstudy",
)


def _codenames(actions, models):
    return [f"{action}_{model}" for action in actions for model in models]


# A patient's date of birth, hospital number and initials: for those who care for the patient and
# run the site (each read through the API is logged); investigators analyse de-identified data.
IDENTIFYING_FIELDS = ("date_of_birth", "hospital_number", "initials")
IDENTIFYING = ["view_identifying_data"]


ROLE_PERMISSIONS = {
    # Clinicians enter and correct cases; deleting clinical data is a data manager's decision.
    CLINICIAN: _codenames(("view", "add", "change"), CLINICAL_MODELS) + IDENTIFYING,
    # Coordinators review screenings (and, later, raise queries) but do not enter treatment data.
    COORDINATOR: _codenames(("view",), CLINICAL_MODELS) + ["change_screening"] + IDENTIFYING,
    INVESTIGATOR: _codenames(("view",), CLINICAL_MODELS),
    # Data managers also see and revoke the API tokens of the users they run (owners make them), read the security log,
    # unlock locked-out users (deleting the access attempt) and remove a lost two-factor device.
    DATA_MANAGER: _codenames(("view", "add", "change", "delete"), CLINICAL_MODELS + ("site", "user"))
    + ["view_events", "view_apitoken", "change_apitoken"]
    + ["view_securityevent", "view_accessattempt", "delete_accessattempt", "view_accesslog"]
    + ["view_totpdevice", "delete_totpdevice"]
    + IDENTIFYING,
}


# What each role does in the study, in a sentence: the refusal page (templates/403.html) names the
# user's role and its work, so someone refused knows what they may do instead.
ROLE_LABELS = {
    CLINICIAN: gettext_lazy("Clinician"),
    COORDINATOR: gettext_lazy("Coordinator"),
    INVESTIGATOR: gettext_lazy("Investigator"),
    DATA_MANAGER: gettext_lazy("Data manager"),
}
ROLE_DUTIES = {
    CLINICIAN: gettext_lazy(
        "Clinicians register patients, enter and correct their case forms, answer data queries and import case forms."
    ),
    COORDINATOR: gettext_lazy(
        "Coordinators fill in and e-sign eligibility screenings, verify forms against the source, raise and close "
        "data queries and import screenings."
    ),
    INVESTIGATOR: gettext_lazy(
        "Investigators read the records, the screening log, the flow and the dashboard, and export the study "
        "without identifying data."
    ),
    DATA_MANAGER: gettext_lazy(
        "Data managers read every record, lock records, freeze sites or the study, export the study (identifying "
        "data too, with a reason) and run the accounts of their sites in the administration."
    ),
}


def ensure_role_groups() -> None:
    """Create the role groups with exactly their permissions (idempotent)."""
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = set(Permission.objects.filter(codename__in=codenames).values_list("pk", flat=True))
        current = set(group.permissions.values_list("pk", flat=True))
        if wanted != current:
            group.permissions.set(wanted)


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_role_names", None)
    if cached is None:
        cached = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._role_names = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return user.is_superuser or bool(user_roles(user) & set(roles))


def may_see_identifying(user) -> bool:
    return user.has_perm("trials.view_identifying_data")


def export_refusal(user, *, identifiable: bool):
    """Why `user` may not export the study (a message), or None: the one rule of the page and the API.

    Investigators and data managers export; identifying data leaves only with a data manager.
    """
    from django.utils.translation import gettext as _

    if not has_role(user, INVESTIGATOR, DATA_MANAGER):
        return _("Exports are for investigators and data managers.")
    if identifiable and not has_role(user, DATA_MANAGER):
        return _("Only a data manager may export identifying data.")
    return None


def export_download_refusal(user, job):
    """Why `user` may not download the finished export `job` (theirs) now, or None.

    The rule is checked again at download, not only when the export was asked for: a user who has
    since lost the role, or a site whose patients are in the file, no longer gets the file.
    """
    from django.utils.translation import gettext as _

    from trials.access import sites_for_user

    refusal = export_refusal(user, identifiable=bool(job.parameters.get("identifiable")))
    if refusal:
        return refusal
    exported_sites = set(job.parameters.get("sites", []))
    if not exported_sites <= set(sites_for_user(user).values_list("pk", flat=True)):
        return _("This export holds patients of a site you no longer belong to.")
    return None
