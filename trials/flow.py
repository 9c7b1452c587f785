"""The screening log and the CONSORT-style flow, computed from the data (one query each).

`step_counts` is the one definition of the study's counts (screened, eligible, enrolled, received PVP,
completed the infusions, assessed): the dashboard and the outcomes API (from their data frame), the
flow diagram, the screening log and the patient list (from `cohort_counts`) all count with it, so no
two pages can disagree.
"""

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from trials import protocol
from trials.models import Patient, TumourResponse

STEPS = ("enrolled", "with_pvp", "completed_infusions", "assessed")
COUNTS = ("screened", "eligible", "ineligible", *STEPS)
_COLUMNS = ["screened", "eligible", "enrolled", "with_pvp", "infusions_given", "assessed"]


def steps_of(enrolled, with_pvp, infusions_given, assessed) -> dict:
    """Which steps of the flow a patient reached: one patient (booleans, an int) or a cohort (Series).

    Each step is its own fact, never implied by a later one: a patient assessed at follow-up after a
    single infusion (withdrawn from treatment, doses held) counts as assessed and not as having
    completed the infusions. Only *given* infusions count; held ones do not.
    """
    return {
        "enrolled": enrolled,
        "with_pvp": enrolled & with_pvp,
        "completed_infusions": enrolled & (infusions_given >= protocol.PLANNED_CYCLES),
        "assessed": enrolled & assessed,
    }


def step_counts(patients: pd.DataFrame) -> dict[str, int]:
    """The study's counts from one row per candidate.

    Columns: `screened` (bool), `eligible` (True / False / None = incomplete or not screened),
    `enrolled`, `with_pvp`, `assessed` (bool), `infusions_given` (int).
    """
    if patients.empty:
        return dict.fromkeys(COUNTS, 0)
    eligible = patients["eligible"]
    steps = steps_of(
        patients["enrolled"].astype(bool),
        patients["with_pvp"].astype(bool),
        patients["infusions_given"].fillna(0).astype(int),
        patients["assessed"].astype(bool),
    )
    return {
        "screened": int(patients["screened"].astype(bool).sum()),
        "eligible": int((eligible == True).sum()),  # noqa: E712 - object column of True/False/None
        "ineligible": int((eligible == False).sum()),  # noqa: E712
        **{step: int(reached.sum()) for step, reached in steps.items()},
    }


def with_flow_data(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    return patients.select_related("site", "screening", "pvp_procedure", "end_of_study").annotate(
        infusions_given=Count("infusions", filter=Q(infusions__status="given", infusions__deleted_at__isnull=True)),
        assessed=Exists(TumourResponse.objects.filter(patient=OuterRef("pk"))),
    )


def _facts(patient) -> dict:
    """One row of `step_counts` from a patient of `with_flow_data`."""
    screening = getattr(patient, "screening", None)
    return {
        "screened": screening is not None,
        "eligible": screening.eligible if screening is not None else None,
        "enrolled": patient.is_enrolled,
        "with_pvp": getattr(patient, "pvp_procedure", None) is not None,
        "infusions_given": patient.infusions_given,
        "assessed": patient.assessed,
    }


def counts_of(patients) -> dict[str, int]:
    """`step_counts` of patients fetched with `with_flow_data` (no further query)."""
    return step_counts(pd.DataFrame([_facts(patient) for patient in patients], columns=_COLUMNS))


def cohort_counts(patients: QuerySet[Patient]) -> dict[str, int]:
    """`step_counts` of a queryset of patients (one query)."""
    return counts_of(with_flow_data(patients))


def screening_result(patient: Patient) -> str:
    screening = getattr(patient, "screening", None)
    if screening is None:
        return "not_screened"
    return {True: "eligible", False: "ineligible", None: "incomplete"}[screening.eligible]


def last_step(reached: dict) -> str:
    """The furthest step a patient reached: where a patient who left the study is shown leaving."""
    return [step for step in STEPS if reached[step]][-1]


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
    # assessed at follow-up without having completed the infusions (shown under "assessed")
    assessed_without_all_infusions: int = 0
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
    """The flow of `with_flow_data` patients; its step counts are `step_counts`'."""
    flow = Flow()
    facts = []
    for patient in patients:
        row = _facts(patient)
        facts.append(row)
        result = screening_result(patient)
        if result == "not_screened":
            continue
        if result == "incomplete":
            flow.incomplete += 1
        elif result == "ineligible":
            flow.ineligible_by_criterion.update(patient.screening.failed_criteria)
        elif not patient.is_enrolled:
            flow.awaiting_signature += 1
        if not patient.is_enrolled:
            continue
        reached = steps_of(row["enrolled"], row["with_pvp"], row["infusions_given"], row["assessed"])
        if reached["assessed"] and not reached["completed_infusions"]:
            flow.assessed_without_all_infusions += 1
        end = getattr(patient, "end_of_study", None)
        if end is not None and end.end_reason != "completed":
            flow.left_after[last_step(reached)][str(end.get_end_reason_display())] += 1
    counts = step_counts(pd.DataFrame(facts, columns=_COLUMNS))
    for name in ("screened", "ineligible", *STEPS):
        setattr(flow, name, counts[name])
    # Plain (reason, count) lists: templates would read a Counter's missing "items" key as 0.
    flow.left_after = {step: sorted(reasons.items()) for step, reasons in flow.left_after.items()}
    return flow
