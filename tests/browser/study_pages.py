"""The demo study with one of everything a page can show, and the main pages each role opens.

Shared by the phone-width and accessibility tests: both visit the same pages as the same people.
"""

from dataclasses import dataclass
from datetime import date

from tests import factories
from trials import data_review, jobs
from trials.demo import load_demo
from trials.models import LabDraw, Patient, User
from trials.roles import CLINICIAN, COORDINATOR, DATA_MANAGER, INVESTIGATOR, ROLES

PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Study:
    users: dict[str, User]
    enrolled: Patient  # a treated patient of the demo cohort, every form filled in
    candidate: Patient  # screened, complete, waiting for the coordinator's signature
    records: dict[str, int]  # the ids the form pages need
    jobs: dict[str, int]  # role -> one export or import job of theirs


def build_study() -> Study:
    load_demo(PASSWORD)
    users = {role: User.objects.get(username=role) for role in ROLES}
    site = users[CLINICIAN].sites.get()
    enrolled = Patient.objects.filter(site=site, adverse_events__isnull=False).order_by("study_id").first()
    candidate = factories.PatientFactory(site=site)
    factories.ScreeningFactory(patient=candidate, screened_on=date(2026, 1, 5))
    draw = LabDraw.objects.filter(patient=enrolled).order_by("pk").first()
    query = data_review.raise_query(
        user=users[COORDINATOR], record=draw.results.order_by("pk").first(), field="value",
        question="The source document says otherwise: please check.",
    )  # fmt: skip
    records = {
        "infusion": enrolled.infusions.order_by("pk").first().pk,
        "lab": draw.pk,
        "pain": enrolled.pain_assessments.order_by("pk").first().pk,
        "qol": enrolled.qol_assessments.order_by("pk").first().pk,
        "adverse_event": enrolled.adverse_events.order_by("pk").first().pk,
        "query": query.pk,
        "screening": enrolled.screening.pk,
        "candidate_screening": candidate.screening.pk,
    }
    csv = b"screening_number\n"
    study_jobs = {
        role: jobs.start_export(users[role], "csv", identifiable=False, reason="", background=False).pk
        for role in (INVESTIGATOR, DATA_MANAGER)
    } | {
        role: jobs.start_import(users[role], "screening", csv, "screening.csv", commit=False, background=False).pk
        for role in (CLINICIAN, COORDINATOR)
    }
    return Study(users=users, enrolled=enrolled, candidate=candidate, records=records, jobs=study_jobs)


def pages_for(role: str, study: Study) -> list[tuple[str, str]]:
    """(name, path) of every main page `role` opens, the refusal page included."""
    p, c, r = study.enrolled.pk, study.candidate.pk, study.records
    pages = [
        ("patients", "/patients/"),
        ("record", f"/patients/{p}/"),
        ("casebook", f"/patients/{p}/casebook/"),
        ("screening-review", f"/screenings/{r['screening']}/"),
        ("review-queue", "/screenings/review/"),
        ("screening-log", "/screenings/log/"),
        ("flow", "/screenings/flow/"),
        ("dashboard", "/dashboard/"),
        ("queries", "/queries/?status="),
        ("query", f"/queries/{r['query']}/"),
        ("job", f"/jobs/{study.jobs[role]}/"),
        ("api-tokens", "/api-tokens/"),
        ("two-factor", "/accounts/two-factor/"),
    ]
    if role == CLINICIAN:
        pages += [
            ("patient-new", "/patients/new/"),
            ("patient-edit", f"/patients/{p}/edit/"),
            ("screening-form", f"/patients/{c}/screening/"),
            ("pvp-form", f"/patients/{p}/pvp/"),
            ("infusion-new", f"/patients/{p}/infusions/new/"),
            ("infusion-edit", f"/patients/{p}/infusions/{r['infusion']}/"),
            ("lab-new", f"/patients/{p}/labs/new/?timepoint=follow_up"),
            ("lab-edit", f"/patients/{p}/labs/{r['lab']}/"),
            ("pain-edit", f"/patients/{p}/pain/{r['pain']}/"),
            ("qol-edit", f"/patients/{p}/qol/{r['qol']}/"),
            ("response", f"/patients/{p}/response/"),
            ("adverse-event-new", f"/patients/{p}/adverse-events/new/"),
            ("adverse-event-edit", f"/patients/{p}/adverse-events/{r['adverse_event']}/"),
            ("end-of-study", f"/patients/{p}/end-of-study/"),
            ("delete-form", f"/patients/{p}/pain/{r['pain']}/delete/"),
            ("imports", "/imports/"),
            ("refused", "/exports/"),
        ]
    if role == COORDINATOR:
        pages += [
            ("screening-form", f"/patients/{c}/screening/"),
            ("screening-sign", f"/screenings/{r['candidate_screening']}/"),
            ("query-new", f"/queries/new/?record=labdraw:{r['lab']}"),
            ("imports", "/imports/"),
            ("refused", "/exports/"),
        ]
    if role == INVESTIGATOR:
        pages += [("exports", "/exports/"), ("refused", "/imports/")]
    if role == DATA_MANAGER:
        pages += [("exports", "/exports/"), ("freeze", "/study/freeze/"), ("refused", "/imports/")]
    return pages
