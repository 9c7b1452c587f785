"""The study's results from the data as it stands: the one code path of the dashboard and the API.

Two SQL queries fetch everything (one row per patient, with labs, pain and QoL pivoted by the
database; one row per adverse event), scoped to the user's sites and filtered; pandas and
`trials.statistics` do the rest. Nothing is stored or cached: every call recomputes.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from django.db import connection

from trials import protocol, statistics
from trials.models import Patient

PAIRED_ALWAYS = ("alp", "calcium", "qol_total")
TIMEPOINTS = ("baseline", "follow_up")


@dataclass(frozen=True)
class OutcomeFilters:
    site: str = ""
    isotype: str = ""
    fracture_region: str = ""

    @classmethod
    def from_query(cls, query) -> "OutcomeFilters":
        isotype = query.get("isotype", "")
        region = query.get("fracture_region", "")
        return cls(
            site=query.get("site", "").strip().upper()[:10],
            isotype=isotype if isotype in dict(Patient.Isotype.choices) else "",
            fracture_region=region if region in dict(protocol.FractureRegion.choices) else "",
        )

    def as_dict(self) -> dict:
        return {key: value for key, value in vars(self).items() if value}


def data_version() -> int:
    """Bumped by a trigger on every write to study data (migration 0003)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM trials_data_version")
        return int(cursor.fetchone()[0])


# --- fetching ---------------------------------------------------------------------------------

_LAB_COLUMNS = ",\n".join(
    f"max(r.value::float8) FILTER (WHERE r.analyte = '{a.code}' AND d.timepoint = '{tp}') AS {a.code}_{tp}"
    for a in protocol.ANALYTES
    for tp in TIMEPOINTS
)
# A missing QoL item makes the sum NULL: the protocol's "no partial sums", done by SQL arithmetic.
_QOL_TOTAL = " + ".join(protocol.QOL_ITEM_CODES)
_CRITERIA = ", ".join(f"sc.{c.code.lower()}" for c in protocol.CRITERIA if not c.derived)

# Built from the protocol's own constants (never from input); values go in as parameters.
PATIENT_SQL = f"""
WITH scoped AS (
    SELECT p.id FROM trials_patient p JOIN trials_site s ON s.id = p.site_id
    WHERE (%(all_sites)s OR p.site_id IN (SELECT site_id FROM trials_user_sites WHERE user_id = %(user)s))
      AND (%(site)s = '' OR s.code = %(site)s)
      AND (%(isotype)s = '' OR p.isotype = %(isotype)s)
)
SELECT p.id, s.code AS site, p.sex, p.date_of_birth, p.enrolled_on, p.isotype, p.fractured_levels,
       p.study_id IS NOT NULL AS enrolled, sc.id IS NOT NULL AS screened, sc.kps,
       sc.life_expectancy_over_90_days, {_CRITERIA},
       pvp.id IS NOT NULL AS with_pvp, COALESCE(inf.given, 0) AS infusions_given,
       resp.category AS response, lab.*, pain.pain_baseline, pain.pain_follow_up,
       qol.qol_total_baseline, qol.qol_total_follow_up
FROM trials_patient p
JOIN trials_site s ON s.id = p.site_id
LEFT JOIN trials_screening sc ON sc.patient_id = p.id
LEFT JOIN trials_pvpprocedure pvp ON pvp.patient_id = p.id
LEFT JOIN trials_tumourresponse resp ON resp.patient_id = p.id
LEFT JOIN (
    SELECT patient_id, count(*) FILTER (WHERE status = 'given') AS given FROM trials_infusion
    WHERE patient_id IN (SELECT id FROM scoped) GROUP BY patient_id
) inf ON inf.patient_id = p.id
LEFT JOIN (
    SELECT d.patient_id AS lab_patient, {_LAB_COLUMNS}
    FROM trials_labresult r JOIN trials_labdraw d ON d.id = r.lab_draw_id
    WHERE d.timepoint IN ('baseline', 'follow_up') AND d.patient_id IN (SELECT id FROM scoped)
    GROUP BY d.patient_id
) lab ON lab.lab_patient = p.id
LEFT JOIN (
    SELECT patient_id, max(who_grade) FILTER (WHERE timepoint = 'baseline') AS pain_baseline,
           max(who_grade) FILTER (WHERE timepoint = 'follow_up') AS pain_follow_up
    FROM trials_painassessment WHERE patient_id IN (SELECT id FROM scoped) GROUP BY patient_id
) pain ON pain.patient_id = p.id
LEFT JOIN (
    SELECT patient_id, max({_QOL_TOTAL}) FILTER (WHERE timepoint = 'baseline') AS qol_total_baseline,
           max({_QOL_TOTAL}) FILTER (WHERE timepoint = 'follow_up') AS qol_total_follow_up
    FROM trials_qolassessment WHERE patient_id IN (SELECT id FROM scoped) GROUP BY patient_id
) qol ON qol.patient_id = p.id
WHERE p.id IN (SELECT id FROM scoped)
"""  # noqa: S608

ADVERSE_EVENT_SQL = """
SELECT ae.patient_id AS patient, ae.term, ae.ctcae_grade, ae.serious, ae.related_to
FROM trials_adverseevent ae JOIN trials_patient p ON p.id = ae.patient_id JOIN trials_site s ON s.id = p.site_id
WHERE p.study_id IS NOT NULL
  AND (%(all_sites)s OR p.site_id IN (SELECT site_id FROM trials_user_sites WHERE user_id = %(user)s))
  AND (%(site)s = '' OR s.code = %(site)s)
  AND (%(isotype)s = '' OR p.isotype = %(isotype)s)
"""


def _query_params(user, filters: OutcomeFilters) -> dict:
    return {"all_sites": user.is_superuser, "user": user.pk, "site": filters.site, "isotype": filters.isotype}


def _frame(sql: str, params: dict) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return pd.DataFrame(cursor.fetchall(), columns=columns)


@dataclass(frozen=True)
class StudyFrames:
    patients: pd.DataFrame  # one row per patient (all screened candidates)
    adverse_events: pd.DataFrame  # one row per event of an enrolled patient


def load_frames(user, filters: OutcomeFilters) -> StudyFrames:
    params = _query_params(user, filters)
    patients = _derive(_frame(PATIENT_SQL, params))
    events = _frame(ADVERSE_EVENT_SQL, params)
    if filters.fracture_region:
        patients = patients[patients["fracture_region"] == filters.fracture_region]
        events = events[events["patient"].isin(patients["id"])] if not events.empty else events
    return StudyFrames(patients.reset_index(drop=True), events.reset_index(drop=True))


def _derive(patients: pd.DataFrame) -> pd.DataFrame:
    """Add what the protocol derives: age at enrolment, fracture region and count, eligibility."""
    if patients.empty:
        for column in ("age", "fracture_region", "fractured_count", "eligible"):
            patients[column] = pd.Series(dtype="object")
        return patients
    born = pd.to_datetime(patients["date_of_birth"])
    enrolled = pd.to_datetime(patients["enrolled_on"])
    before_birthday = (enrolled.dt.month * 100 + enrolled.dt.day) < (born.dt.month * 100 + born.dt.day)
    patients["age"] = (enrolled.dt.year - born.dt.year - before_birthday.astype(int)).where(enrolled.notna())
    patients["fracture_region"] = patients["fractured_levels"].map(protocol.fracture_region)
    patients["fractured_count"] = patients["fractured_levels"].map(len)
    patients["eligible"] = _eligibility(patients)
    return patients


def _eligibility(patients: pd.DataFrame) -> pd.Series:
    """protocol.evaluate_eligibility, vectorised: True, False, or None (incomplete / not screened)."""
    kps = pd.to_numeric(patients["kps"])
    survival = patients["life_expectancy_over_90_days"]
    answers = {c.code: patients[c.code.lower()] for c in protocol.CRITERIA if not c.derived}
    answers["I4"] = pd.Series(
        np.select(
            [kps.isna() | survival.isin([None, protocol.Answer.UNKNOWN]),
             (kps >= protocol.KPS_MINIMUM_FOR_I4) & (survival == protocol.Answer.YES)],
            [protocol.Answer.UNKNOWN, protocol.Answer.YES],
            default=protocol.Answer.NO,
        ),
        index=patients.index,
    )  # fmt: skip
    failed = pd.Series(False, index=patients.index)
    unknown = pd.Series(False, index=patients.index)
    for criterion in protocol.CRITERIA:
        answer = answers[criterion.code].fillna(protocol.Answer.UNKNOWN)
        unknown |= answer == protocol.Answer.UNKNOWN
        failed |= (answer != protocol.Answer.UNKNOWN) & (answer != criterion.required_answer)
    eligible = pd.Series(None, index=patients.index, dtype="object")
    eligible[~failed & ~unknown] = True
    eligible[failed] = False
    eligible[~patients["screened"]] = None
    return eligible


# --- computing --------------------------------------------------------------------------------


def paired_variables(patients: pd.DataFrame) -> list[tuple[str, str]]:
    """(variable, unit): ALP, calcium and QoL always, then every other analyte with a pair."""
    variables = [("alp", "U/L"), ("calcium", "mmol/L"), ("qol_total", "points")]
    for analyte in protocol.ANALYTES:
        if analyte.code in PAIRED_ALWAYS:
            continue
        both = patients[[f"{analyte.code}_baseline", f"{analyte.code}_follow_up"]].notna().all(axis=1)
        if both.any():
            variables.append((analyte.code, analyte.unit))
    return variables


def compute_outcomes(frames: StudyFrames, version: int) -> dict:
    """The JSON contract of DESIGN.md §4, from the frames alone (pure)."""
    patients = frames.patients
    enrolled = patients[patients["enrolled"]] if not patients.empty else patients
    ae_table = statistics.adverse_event_table(frames.adverse_events, len(enrolled))
    return {
        "data_version": version,
        "generated_at": datetime.now(UTC).isoformat(),
        "enrolment": enrolment_flow(patients),
        "demographics": statistics.demographics(enrolled),
        "tumour_response": statistics.tumour_response(enrolled["response"]).as_dict(),
        "pain_relief": statistics.pain_relief(
            pd.DataFrame({"baseline": enrolled["pain_baseline"], "follow_up": enrolled["pain_follow_up"]})
        ).as_dict(),
        "paired": {
            variable: statistics.paired_comparison(
                enrolled[f"{variable}_baseline"], enrolled[f"{variable}_follow_up"], unit
            ).as_dict()
            for variable, unit in paired_variables(enrolled)
        },
        "adverse_events": {
            "patients_with_any": ae_table["patients_with_any"],
            "serious": ae_table["serious"],
            "by_term": {
                term: {key: row[key] for key in ("events", "patients", "max_grade")}
                for term, row in ae_table["by_term"].items()
            },
        },
    }


def enrolment_flow(patients: pd.DataFrame) -> dict:
    if patients.empty:
        return dict.fromkeys(
            ("screened", "eligible", "ineligible", "enrolled", "with_pvp", "completed_infusions", "assessed"), 0
        )
    enrolled = patients["enrolled"]
    return {
        "screened": int(patients["screened"].sum()),
        "eligible": int((patients["eligible"] == True).sum()),  # noqa: E712 - object column of True/False/None
        "ineligible": int((patients["eligible"] == False).sum()),  # noqa: E712
        "enrolled": int(enrolled.sum()),
        "with_pvp": int((enrolled & patients["with_pvp"]).sum()),
        "completed_infusions": int((enrolled & (patients["infusions_given"] >= protocol.PLANNED_CYCLES)).sum()),
        "assessed": int((enrolled & patients["response"].notna()).sum()),
    }


def outcomes_for_user(user, filters: OutcomeFilters) -> tuple[dict, StudyFrames]:
    version = data_version()
    frames = load_frames(user, filters)
    return compute_outcomes(frames, version), frames


# --- extras for the page (not part of the JSON contract) ---------------------------------------


def adverse_event_detail(frames: StudyFrames) -> dict:
    enrolled = int(frames.patients["enrolled"].sum()) if not frames.patients.empty else 0
    return statistics.adverse_event_table(frames.adverse_events, enrolled)


def chart_series(frames: StudyFrames) -> dict:
    """Per-patient before/after values and category counts for the plots."""
    patients = frames.patients
    enrolled = patients[patients["enrolled"]] if not patients.empty else patients
    lines = {}
    for variable in PAIRED_ALWAYS:
        pairs = enrolled[[f"{variable}_baseline", f"{variable}_follow_up"]].dropna()
        lines[variable] = [[float(before), float(after)] for before, after in pairs.itertuples(index=False)]
    shift = {}
    for timepoint in TIMEPOINTS:
        grades = enrolled[f"pain_{timepoint}"].dropna()
        shift[timepoint] = [int((grades == grade).sum()) for grade in range(4)]
    return {"lines": lines, "pain_shift": shift}
