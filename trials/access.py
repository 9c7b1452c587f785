"""Site scoping: a user sees only the patients of their own sites; anything else is a 404.

Every view, the API and the admin fetch clinical objects through these helpers, so the rule lives
in one place. Superusers (operations staff) see everything.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from pghistory.models import Events

from trials import audit_view
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    PainAssessment,
    Patient,
    PvpProcedure,
    QolAssessment,
    Screening,
    Site,
    TumourResponse,
    User,
)


def sites_for_user(user) -> QuerySet[Site]:
    if user.is_superuser:
        return Site.objects.all()
    return Site.objects.filter(users=user)


def _scoped(queryset: QuerySet, user, site_path: str) -> QuerySet:
    if user.is_superuser:
        return queryset
    # A subquery on the membership table, not a join, so rows never duplicate.
    return queryset.filter(**{f"{site_path}__in": sites_for_user(user).values("pk")})


def patients_for_user(user) -> QuerySet[Patient]:
    return _scoped(Patient.objects.select_related("site"), user, "site")


def get_patient_for_user(user, pk) -> Patient:
    return get_object_or_404(patients_for_user(user), pk=pk)


def forms_for_user(queryset: QuerySet, user) -> QuerySet:
    """A form's rows the user may see: their sites' patients, none of a patient deleted as registered in error."""
    return _scoped(queryset.filter(patient__deleted_at__isnull=True), user, "patient__site")


def _patient_form_for_user(model, user, pk):
    return get_object_or_404(forms_for_user(model.objects.select_related("patient__site"), user), pk=pk)


def users_run_by(user) -> QuerySet[User]:
    """The accounts a data manager manages: those whose every site is one of theirs (or who have no
    site yet), never a superuser. A user who also works for another site is run by the operations
    staff, or jointly: no single site's data manager may reset their password or second factor."""
    users = User.objects.all()
    if user.is_superuser:
        return users
    other_sites = Site.objects.exclude(pk__in=sites_for_user(user).values("pk"))
    return users.filter(is_superuser=False).exclude(sites__in=other_sites)


def get_screening_for_user(user, pk) -> Screening:
    return _patient_form_for_user(Screening, user, pk)


def get_pvp_procedure_for_user(user, pk) -> PvpProcedure:
    return _patient_form_for_user(PvpProcedure, user, pk)


def get_infusion_for_user(user, pk) -> Infusion:
    return _patient_form_for_user(Infusion, user, pk)


def get_lab_draw_for_user(user, pk) -> LabDraw:
    return _patient_form_for_user(LabDraw, user, pk)


def get_pain_assessment_for_user(user, pk) -> PainAssessment:
    return _patient_form_for_user(PainAssessment, user, pk)


def get_qol_assessment_for_user(user, pk) -> QolAssessment:
    return _patient_form_for_user(QolAssessment, user, pk)


def get_tumour_response_for_user(user, pk) -> TumourResponse:
    return _patient_form_for_user(TumourResponse, user, pk)


def get_adverse_event_for_user(user, pk) -> AdverseEvent:
    return _patient_form_for_user(AdverseEvent, user, pk)


def get_end_of_study_for_user(user, pk) -> EndOfStudy:
    return _patient_form_for_user(EndOfStudy, user, pk)


def audit_events_for_user(user) -> QuerySet[Events]:
    """Every audit event of the user's sites and of the accounts they run, those of deleted records
    included, each annotated with `record_deletion` (trials/audit_view.py): the deletion of its record,
    its form or its patient, if any.

    Not `Patient.objects` or `LabDraw.objects`: their default manager hides deleted rows, which used to
    drop the events of a deleted patient's forms and of a deleted draw's results from the trail.
    """
    events = Events.objects.all()
    if user.is_superuser:
        events = audit_view.with_record_patient(events)
    else:
        events = audit_view.scoped(
            events, sites=sites_for_user(user).values("pk"), users=users_run_by(user).values("pk")
        )
    return audit_view.with_record_deletion(events)
