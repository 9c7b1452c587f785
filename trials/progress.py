"""Where a patient stands: status, what is due or overdue, completeness of each form, open flags.

Everything here reads a patient whose related rows were loaded with `with_progress_data()`, so a
page of 5 or 500 patients costs the same number of queries (only `.all()` on prefetched rows).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Case, Prefetch, QuerySet, Value, When
from django.utils.translation import gettext_lazy as _

from trials import protocol
from trials.models import DataQuery, Infusion, LabDraw, Patient

PAIRED_ANALYTES = ("alp", "calcium", "creatinine")  # a lab draw is complete with the study's outcomes


def with_progress_data(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    return (
        patients.select_related("site", "screening", "pvp_procedure", "tumour_response", "end_of_study")
        .prefetch_related(
            Prefetch("infusions", queryset=Infusion.objects.order_by("cycle")),
            Prefetch("lab_draws", queryset=LabDraw.objects.prefetch_related("results")),
            "pain_assessments",
            "qol_assessments",
            "pvp_procedure__levels",
            "adverse_events",
            "verifications",
            Prefetch("data_queries", queryset=DataQuery.objects.exclude(status="closed"), to_attr="open_queries"),
        )
        .select_related("lock")
    )


def by_timepoint(rows) -> dict[str, object]:
    return {row.timepoint: row for row in rows}


@dataclass(frozen=True)
class InfusionRow:
    infusion: Infusion
    crcl_ml_min: object
    label_dose_mg: object
    deviations: list[str]


def infusion_rows(patient: Patient) -> list[InfusionRow]:
    rows, previous = [], None
    for infusion in patient.infusions.all():
        rows.append(InfusionRow(infusion, infusion.crcl_ml_min, infusion.label_dose_mg, infusion.deviations(previous)))
        if infusion.status == Infusion.Status.GIVEN:
            previous = infusion.infused_on
    return rows


def m_protein(patient: Patient, timepoint: str):
    draw = by_timepoint(patient.lab_draws.all()).get(timepoint)
    if draw is None:
        return None
    result = next((r for r in draw.results.all() if r.analyte == "m_protein"), None)
    return None if result is None else result.value


def ebmt_suggestion(patient: Patient) -> str | None:
    response = getattr(patient, "tumour_response", None)
    if response is None:
        return None
    return response.suggested_category(m_protein(patient, "baseline"), m_protein(patient, "follow_up"))


def ebmt_disagrees(patient: Patient) -> bool:
    suggestion = ebmt_suggestion(patient)
    return suggestion is not None and suggestion != patient.tumour_response.category


@dataclass
class Progress:
    status: str
    status_label: str
    next_infusion_due: date | None = None
    infusion_overdue: bool = False
    follow_up_due: date | None = None
    missing_follow_up: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    open_queries: int = 0
    sdv_verified: int = 0
    sdv_total: int = 0

    @property
    def open_issues(self) -> int:
        return len(self.flags) + len(self.missing_follow_up) + int(self.infusion_overdue) + self.open_queries


STATUS_LABELS = {
    "screening": _("screening"),
    "screen_failure": _("screen failure"),
    "on_study": _("on study"),
    "completed": _("completed"),
    "left_study": _("left the study"),
}


def with_status(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """Annotate `status`. A signed screening that did not enrol the patient is a screen failure:
    signing an eligible screening enrols at once."""
    return patients.annotate(
        status=Case(
            When(end_of_study__end_reason="completed", then=Value("completed")),
            When(end_of_study__isnull=False, then=Value("left_study")),
            When(study_id__isnull=False, then=Value("on_study")),
            When(screening__signed_at__isnull=False, then=Value("screen_failure")),
            default=Value("screening"),
        )
    )


def patient_progress(patient: Patient, today: date) -> Progress:
    """`patient` comes from `with_progress_data(with_status(...))`."""
    from trials.data_review import sdv_progress  # here: data_review imports the models this module uses

    status = patient.status
    progress = Progress(status, str(STATUS_LABELS[status]))
    progress.open_queries = len(patient.open_queries)
    progress.sdv_verified, progress.sdv_total = sdv_progress(patient)
    rows = infusion_rows(patient)
    for row in rows:
        progress.flags.extend(f"{_('Cycle')} {row.infusion.cycle}: {deviation}" for deviation in row.deviations)
    if ebmt_disagrees(patient):
        progress.flags.append(
            str(_("EBMT: clinician says %(category)s, the data suggest %(suggestion)s"))
            % {"category": patient.tumour_response.category, "suggestion": ebmt_suggestion(patient)}
        )
    if status != "on_study":
        return progress

    pvp = getattr(patient, "pvp_procedure", None)
    if len(rows) < protocol.PLANNED_CYCLES:
        last = rows[-1].infusion.infused_on if rows else None
        start = last + timedelta(days=protocol.CYCLE_INTERVAL_DAYS) if last else (pvp.performed_on if pvp else None)
        if start is not None:
            progress.next_infusion_due = start
            progress.infusion_overdue = today > start + timedelta(days=protocol.CYCLE_WINDOW_DAYS)
    elif rows and (missing := missing_follow_up_forms(patient)):
        progress.follow_up_due = rows[-1].infusion.infused_on + timedelta(days=protocol.CYCLE_INTERVAL_DAYS)
        if today >= progress.follow_up_due:
            progress.missing_follow_up = missing
    return progress


def missing_follow_up_forms(patient: Patient) -> list[str]:
    missing = []
    if protocol.Timepoint.FOLLOW_UP not in by_timepoint(patient.lab_draws.all()):
        missing.append(str(_("follow-up labs")))
    if protocol.Timepoint.FOLLOW_UP not in by_timepoint(patient.pain_assessments.all()):
        missing.append(str(_("follow-up pain")))
    if protocol.Timepoint.FOLLOW_UP not in by_timepoint(patient.qol_assessments.all()):
        missing.append(str(_("follow-up QoL")))
    if getattr(patient, "tumour_response", None) is None:
        missing.append(str(_("tumour response")))
    return missing


# --- completeness badges on the record -------------------------------------------------------

COMPLETE, PARTIAL, MISSING = "complete", "partial", "missing"
AWAITING_SIGNATURE = "awaiting_signature"  # every answer given; the coordinator's e-signature is next


def lab_completeness(draw: LabDraw | None) -> str:
    if draw is None:
        return MISSING
    entered = {result.analyte for result in draw.results.all()}
    return COMPLETE if set(PAIRED_ANALYTES) <= entered else PARTIAL


def screening_completeness(patient: Patient) -> str:
    screening = getattr(patient, "screening", None)
    if screening is None:
        return MISSING
    if screening.eligible is None:
        return PARTIAL  # an "unknown" answer or a missing one
    return COMPLETE if screening.is_signed else AWAITING_SIGNATURE
