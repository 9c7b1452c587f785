"""The screening log and the CONSORT-style flow, computed from the data (one query each)."""

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from trials import protocol
from trials.models import Patient, TumourResponse


def with_flow_data(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    return patients.select_related("site", "screening", "pvp_procedure", "end_of_study").annotate(
        infusions_given=Count("infusions", filter=Q(infusions__status="given", infusions__deleted_at__isnull=True)),
        assessed=Exists(TumourResponse.objects.filter(patient=OuterRef("pk"))),
    )


def screening_result(patient: Patient) -> str:
    screening = getattr(patient, "screening", None)
    if screening is None:
        return "not_screened"
    return {True: "eligible", False: "ineligible", None: "incomplete"}[screening.eligible]


STEPS = ("enrolled", "with_pvp", "completed_infusions", "assessed")


def step_reached(patient) -> str:
    if patient.assessed:
        return "assessed"
    if patient.infusions_given >= protocol.PLANNED_CYCLES:
        return "completed_infusions"
    if getattr(patient, "pvp_procedure", None) is not None:
        return "with_pvp"
    return "enrolled"


@dataclass
class Flow:
    screened: int = 0
    incomplete: int = 0
    awaiting_signature: int = 0
    ineligible: int = 0
    ineligible_by_criterion: Counter = field(default_factory=Counter)
    enrolled: int = 0
    with_pvp: int = 0
    completed_infusions: int = 0
    assessed: int = 0
    # step last reached -> Counter of end-of-study reasons (withdrawals, deaths, ...)
    left_after: dict = field(default_factory=lambda: {step: Counter() for step in STEPS})

    def criteria(self):
        """(code, text, patients) for each criterion that excluded someone, in protocol order."""
        return [
            (criterion.code, criterion.text, self.ineligible_by_criterion[criterion.code])
            for criterion in protocol.CRITERIA
            if self.ineligible_by_criterion[criterion.code]
        ]


def screening_flow(patients) -> Flow:
    flow = Flow()
    for patient in patients:
        result = screening_result(patient)
        if result == "not_screened":
            continue
        flow.screened += 1
        screening = patient.screening
        if result == "incomplete":
            flow.incomplete += 1
        elif result == "ineligible":
            flow.ineligible += 1
            flow.ineligible_by_criterion.update(screening.failed_criteria)
        elif not patient.is_enrolled:
            flow.awaiting_signature += 1
        if not patient.is_enrolled:
            continue
        reached = step_reached(patient)
        for step in STEPS[: STEPS.index(reached) + 1]:
            setattr(flow, step, getattr(flow, step) + 1)
        end = getattr(patient, "end_of_study", None)
        if end is not None and end.end_reason != "completed":
            flow.left_after[reached][str(end.get_end_reason_display())] += 1
    # Plain (reason, count) lists: templates would read a Counter's missing "items" key as 0.
    flow.left_after = {step: sorted(reasons.items()) for step, reasons in flow.left_after.items()}
    return flow
