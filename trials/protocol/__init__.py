"""The study protocol: every clinical rule of the PVP + zoledronic acid myeloma study, in one place.

Models, forms, the API and the statistics all read from here, so a rule changes in one line. The lab
analytes with their units and ranges are in `trials.protocol.labs`, the small value types in
`trials.protocol.basics`; both are read through this module.
Texts are kept in English and Simplified Chinese side by side because the protocol itself is
bilingual; `Text.for_language()` picks one.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from trials.protocol.basics import Range as Range
from trials.protocol.basics import Text as Text
from trials.protocol.basics import plain_number as plain_number
from trials.protocol.basics import value_range as _range
from trials.protocol.labs import ANALYTE_CHOICES as ANALYTE_CHOICES
from trials.protocol.labs import ANALYTES as ANALYTES
from trials.protocol.labs import ANALYTES_BY_CODE as ANALYTES_BY_CODE
from trials.protocol.labs import Analyte as Analyte
from trials.protocol.labs import LabReading as LabReading
from trials.protocol.labs import UnitNotAccepted as UnitNotAccepted
from trials.protocol.labs import read_lab_value as read_lab_value

# The study's identity in exported files (ODM Study OID, file labels).
STUDY_OID = "PVP-ZOL-MM"
STUDY_TITLE = "PVP + zoledronic acid in spinal multiple myeloma"


# ---------------------------------------------------------------------------
# Eligibility (docs/design.md §1): inclusion I1-I5 must all be "yes", exclusion E1-E5 all "no".


class Answer(models.TextChoices):
    YES = "yes", _("yes")
    NO = "no", _("no")
    UNKNOWN = "unknown", _("unknown")


@dataclass(frozen=True)
class Criterion:
    code: str
    kind: str  # "inclusion" or "exclusion"
    text: Text
    derived: bool = False

    @property
    def required_answer(self) -> str:
        return Answer.YES if self.kind == "inclusion" else Answer.NO


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "I1",
        "inclusion",
        Text(
            "MM diagnosed per the Chinese MM guideline (2017), confirmed by immunofixation, "
            "serum protein electrophoresis and bone-marrow cytology",
            "符合《中国多发性骨髓瘤诊治指南(2017年修订)》诊断标准，经免疫固定电泳、血清蛋白电泳及骨髓细胞学检查确诊",
        ),
    ),
    Criterion(
        "I2",
        "inclusion",
        Text(
            "Imaging (X-ray, CT, MRI) shows vertebral fractures in 2 or more vertebrae, posterior wall intact",
            "影像学(X线、CT、MRI)显示2个及以上椎体骨折，椎体后壁完整",
        ),
    ),
    Criterion(
        "I3",
        "inclusion",
        Text(
            "Poor response to standard radiotherapy / interferon / M2 chemotherapy; PVP planned",
            "经常规放疗、干扰素或M2方案化疗效果不佳，拟行经皮椎体成形术",
        ),
    ),
    Criterion(
        "I4",
        "inclusion",
        Text(
            "Karnofsky score (KPS) >= 40 and expected survival > 90 days",
            "Karnofsky评分(KPS)≥40分且预计生存期>90天",
        ),
        derived=True,
    ),
    Criterion(
        "I5",
        "inclusion",
        Text("Informed consent signed", "已签署知情同意书"),
    ),
    Criterion(
        "E1",
        "exclusion",
        Text(
            "Bisphosphonate within the last month, or allergy to bisphosphonates",
            "近1个月内使用过双膦酸盐类药物，或对双膦酸盐类药物过敏",
        ),
    ),
    Criterion(
        "E2",
        "exclusion",
        Text(
            "Lumbar disc herniation, spinal canal stenosis, spondylolisthesis or other marked spinal abnormality",
            "腰椎间盘突出、椎管狭窄、椎体滑脱等明显脊柱异常",
        ),
    ),
    Criterion(
        "E3",
        "exclusion",
        Text(
            "Other haematological disease, endocrine disease, or frequent electrolyte disturbance",
            "合并其他血液系统疾病、内分泌疾病或经常出现电解质紊乱",
        ),
    ),
    Criterion("E4", "exclusion", Text("Pregnant or breast-feeding", "妊娠期或哺乳期")),
    Criterion(
        "E5",
        "exclusion",
        Text(
            "Another serious life-threatening disease besides MM",
            "合并除多发性骨髓瘤外的其他严重危及生命的疾病",
        ),
    ),
)
CRITERIA_BY_CODE = {criterion.code: criterion for criterion in CRITERIA}
TYPED_CRITERIA = tuple(c.code for c in CRITERIA if not c.derived)

KPS_RANGE = _range(0, 100)
KPS_STEP = 10
KPS_VALUES = tuple(range(0, 101, KPS_STEP))
KPS_MINIMUM_FOR_I4 = 40


def derive_i4(kps: int | None, life_expectancy_over_90_days: str | None) -> str:
    """I4 is never typed: KPS >= 40 and expected survival > 90 days."""
    # Either part failing decides, even while the other is still unknown.
    if (kps is not None and kps < KPS_MINIMUM_FOR_I4) or life_expectancy_over_90_days == Answer.NO:
        return Answer.NO
    if kps is None or life_expectancy_over_90_days in (None, "", Answer.UNKNOWN):
        return Answer.UNKNOWN
    return Answer.YES


@dataclass(frozen=True)
class EligibilityResult:
    """`eligible` is True, False, or None when any answer is still unknown (incomplete)."""

    eligible: bool | None
    failed_criteria: tuple[str, ...]
    unknown_criteria: tuple[str, ...]


def evaluate_eligibility(answers: dict[str, str]) -> EligibilityResult:
    """Apply the protocol to answers {"I1": "yes", ..., "E5": "no"} (I4 already derived).

    A failed criterion makes the patient ineligible even while others are unknown, because no
    later answer can rescue them; otherwise any unknown answer means the screening is incomplete.
    """
    failed, unknown = [], []
    for criterion in CRITERIA:
        answer = answers.get(criterion.code) or Answer.UNKNOWN
        if answer == Answer.UNKNOWN:
            unknown.append(criterion.code)
        elif answer != criterion.required_answer:
            failed.append(criterion.code)
    if failed:
        eligible = False
    elif unknown:
        eligible = None
    else:
        eligible = True
    return EligibilityResult(eligible, tuple(failed), tuple(unknown))


# ---------------------------------------------------------------------------
# Schedule (docs/design.md §1)


class Timepoint(models.TextChoices):
    BASELINE = "baseline", _("Baseline")
    PVP = "pvp", _("PVP (day 0)")
    CYCLE_1 = "cycle_1", _("Cycle 1")
    CYCLE_2 = "cycle_2", _("Cycle 2")
    CYCLE_3 = "cycle_3", _("Cycle 3")
    FOLLOW_UP = "follow_up", _("Follow-up")


ASSESSMENT_TIMEPOINTS = (Timepoint.BASELINE, Timepoint.FOLLOW_UP)
PLANNED_CYCLES = 3
CYCLE_RANGE = _range(1, 12)
CYCLE_INTERVAL_DAYS = 28
CYCLE_WINDOW_DAYS = 7
MINIMUM_CYCLE_INTERVAL_DAYS = 21
MINIMUM_INFUSION_MINUTES = 15
STANDARD_DOSE_MG = Decimal("4.0")
STANDARD_DILUENT_ML = 100
BED_REST_DAYS = _range(0, 30, "days")  # protocol asks for 3-5; longer is recorded, not refused

# ---------------------------------------------------------------------------
# Spine

THORACIC_LEVELS = tuple(f"T{n}" for n in range(1, 13))
LUMBAR_LEVELS = tuple(f"L{n}" for n in range(1, 6))
SPINAL_LEVELS = THORACIC_LEVELS + LUMBAR_LEVELS


class FractureRegion(models.TextChoices):
    THORACIC = "thoracic", _("thoracic")
    LUMBAR = "lumbar", _("lumbar")
    THORACOLUMBAR = "thoracolumbar", _("thoracolumbar")


def fracture_region(levels) -> str | None:
    """Thoracic when every fractured level is T, lumbar when every one is L, else thoracolumbar.

    The design gives only the three categories; a fracture set spanning both segments is what the
    paper counts as thoracolumbar (9 of its 16 patients).
    """
    levels = list(levels or [])
    if not levels:
        return None
    if all(level in THORACIC_LEVELS for level in levels):
        return FractureRegion.THORACIC
    if all(level in LUMBAR_LEVELS for level in levels):
        return FractureRegion.LUMBAR
    return FractureRegion.THORACOLUMBAR


CEMENT_ML = _range("0.5", 12, "ml")
WEIGHT_KG = _range(30, 250, "kg")
HEIGHT_CM = _range(100, 230, "cm")

# ---------------------------------------------------------------------------
# Pain: WHO grade 0 none, I mild, II moderate (ordinary analgesics), III severe (opioids).

WHO_PAIN_GRADES = ((0, "0"), (1, "I"), (2, "II"), (3, "III"))
WHO_GRADE_RANGE = _range(0, 3)
VAS_RANGE = _range(0, 10)


class PainRelief(models.TextChoices):
    MARKED = "marked", _("marked")
    EFFECTIVE = "effective", _("effective")
    INEFFECTIVE = "ineffective", _("ineffective")


def classify_pain_relief(baseline_grade: int, follow_up_grade: int) -> str:
    """A drop of >= 2 WHO grades is marked, 1 grade effective, none or worse ineffective."""
    drop = baseline_grade - follow_up_grade
    if drop >= 2:
        return PainRelief.MARKED
    if drop == 1:
        return PainRelief.EFFECTIVE
    return PainRelief.INEFFECTIVE


# ---------------------------------------------------------------------------
# Quality of life: the 12-item Chinese QoL scale for cancer patients, items 1-5, total 12-60.

QOL_ITEMS: tuple[tuple[str, Text], ...] = (
    ("q_appetite", Text("Appetite", "食欲")),
    ("q_mental_state", Text("Mental state", "精神")),
    ("q_sleep", Text("Sleep", "睡眠")),
    ("q_fatigue", Text("Fatigue", "疲乏")),
    ("q_pain", Text("Pain", "疼痛")),
    ("q_family", Text("Family understanding and cooperation", "家庭理解与配合")),
    ("q_colleagues", Text("Colleagues' understanding and cooperation", "同事的理解与配合")),
    ("q_understanding", Text("Understanding of the illness", "自身对癌症的认识")),
    ("q_attitude", Text("Attitude to treatment", "对治疗的态度")),
    ("q_daily_life", Text("Daily life", "日常生活")),
    ("q_side_effects", Text("Treatment side effects", "治疗的副作用")),
    ("q_facial_expression", Text("Facial expression", "面部表情")),
)
QOL_ITEM_CODES = tuple(code for code, _text in QOL_ITEMS)
QOL_ITEM_RANGE = _range(1, 5)


def qol_total(item_scores) -> int | None:
    """Sum of the 12 items; a missing item leaves the total missing (no partial sums)."""
    scores = list(item_scores)
    if len(scores) != len(QOL_ITEMS) or any(score is None for score in scores):
        return None
    return sum(scores)


# ---------------------------------------------------------------------------
# EBMT response


class EbmtCategory(models.TextChoices):
    CR = "CR", _("Complete response")
    PR = "PR", _("Partial response")
    MR = "MR", _("Minimal response")
    NC = "NC", _("No change")
    PD = "PD", _("Progressive disease")


EBMT_RESPONDERS = (EbmtCategory.CR, EbmtCategory.PR, EbmtCategory.MR)
MARROW_PLASMA_CELLS_PCT = _range(0, 100, "%")


def suggest_ebmt_category(
    m_protein_baseline: Decimal | None,
    m_protein_follow_up: Decimal | None,
    immunofixation_negative: str | None,
    marrow_plasma_cells_pct: Decimal | None,
) -> str | None:
    """Suggest an EBMT category from the data; None when the data cannot decide.

    Negative immunofixation with < 5% marrow plasma cells is CR; otherwise the change in serum
    M-protein from baseline decides: fall >= 50% PR, 25-49% MR, rise > 25% PD, else NC.
    """
    if immunofixation_negative == Answer.YES and marrow_plasma_cells_pct is not None and marrow_plasma_cells_pct < 5:
        return EbmtCategory.CR
    if m_protein_baseline is None or m_protein_follow_up is None or m_protein_baseline <= 0:
        return None  # non-secretory disease or missing values: no percentage to judge
    change = (Decimal(m_protein_follow_up) - Decimal(m_protein_baseline)) / Decimal(m_protein_baseline)
    if change <= Decimal("-0.50"):
        return EbmtCategory.PR
    if change <= Decimal("-0.25"):
        return EbmtCategory.MR
    if change > Decimal("0.25"):
        return EbmtCategory.PD
    return EbmtCategory.NC


# ---------------------------------------------------------------------------
# Zoledronic acid: Cockcroft-Gault creatinine clearance and the renal-adjusted label dose.

DOSE_MG = _range("0.5", "4.0", "mg")
INFUSION_MINUTES = _range(1, 600, "min")
DILUENT_ML = _range(50, 500, "ml")
CREATININE_UMOL_L = ANALYTES_BY_CODE["creatinine"].possible
UMOL_L_PER_MG_DL_CREATININE = Decimal("88.42")


def cockcroft_gault(age_years: int, sex: str, weight_kg: Decimal, creatinine_umol_l: Decimal) -> Decimal:
    """CrCl (ml/min) = (140 - age) x weight / (72 x serum creatinine in mg/dL), x 0.85 for women.

    Cockcroft DW, Gault MH. Nephron 1976;16:31-41.
    """
    creatinine_mg_dl = Decimal(creatinine_umol_l) / UMOL_L_PER_MG_DL_CREATININE
    clearance = (140 - age_years) * Decimal(weight_kg) / (72 * creatinine_mg_dl)
    if sex == "F":
        clearance *= Decimal("0.85")
    return clearance.quantize(Decimal("0.1"))


def label_dose_mg(crcl_ml_min: Decimal) -> Decimal | None:
    """Zometa label dose for multiple myeloma; None below 30 ml/min (not recommended)."""
    if crcl_ml_min > 60:
        return Decimal("4.0")
    if crcl_ml_min >= 50:
        return Decimal("3.5")
    if crcl_ml_min >= 40:
        return Decimal("3.3")
    if crcl_ml_min >= 30:
        return Decimal("3.0")
    return None


def infusion_deviations(
    *,
    status: str,
    duration_min: int | None,
    days_since_previous: int | None,
    dose_mg: Decimal | None,
    label_dose: Decimal | None,
    crcl_known: bool,
) -> list[str]:
    """Protocol deviations of one infusion; they are flagged, never refused (the event happened)."""
    if status != "given":
        return []
    deviations = []
    if duration_min is not None and duration_min < MINIMUM_INFUSION_MINUTES:
        deviations.append(
            gettext("infused over %(minutes)s min (protocol: at least %(minimum)s min)")
            % {"minutes": duration_min, "minimum": MINIMUM_INFUSION_MINUTES}
        )
    if days_since_previous is not None and days_since_previous < MINIMUM_CYCLE_INTERVAL_DAYS:
        deviations.append(
            gettext("%(days)s days after the previous cycle (protocol: at least %(minimum)s)")
            % {"days": days_since_previous, "minimum": MINIMUM_CYCLE_INTERVAL_DAYS}
        )
    if crcl_known and dose_mg is not None:
        if label_dose is None:
            deviations.append(gettext("given although creatinine clearance < 30 ml/min (not recommended)"))
        elif Decimal(dose_mg) != label_dose:
            deviations.append(
                gettext("dose %(dose)s mg differs from the renal-adjusted label dose %(label)s mg")
                % {"dose": dose_mg, "label": label_dose}
            )
    return deviations


def age_on(date_of_birth: date, on: date) -> int:
    return on.year - date_of_birth.year - ((on.month, on.day) < (date_of_birth.month, date_of_birth.day))


# ---------------------------------------------------------------------------
# Adverse events

CTCAE_GRADE_RANGE = _range(1, 5)
FEVER_TEMPERATURE_C = _range("35.0", "43.0", "°C")


class AdverseEventTerm(models.TextChoices):
    CEMENT_LEAK_DISC = "cement_leak_disc", _("Cement leak into the disc space")
    CEMENT_LEAK_PARAVERTEBRAL = "cement_leak_paravertebral", _("Paravertebral cement leak")
    CEMENT_LEAK_OTHER = "cement_leak_other", _("Other cement leak")
    FEVER = "fever", _("Fever")
    NAUSEA = "nausea", _("Nausea")
    VOMITING = "vomiting", _("Vomiting")
    PANCYTOPENIA = "pancytopenia", _("Pancytopenia")
    HYPOCALCAEMIA = "hypocalcaemia", _("Hypocalcaemia")
    MUSCLE_CRAMP = "muscle_cramp", _("Muscle cramp")
    RENAL_DYSFUNCTION = "renal_dysfunction", _("Renal dysfunction")
    OSTEONECROSIS_JAW = "osteonecrosis_jaw", _("Osteonecrosis of the jaw")
    ATRIAL_FIBRILLATION = "atrial_fibrillation", _("Atrial fibrillation")
    ACUTE_PHASE_REACTION = "acute_phase_reaction", _("Acute-phase reaction")
    OTHER = "other", _("Other")
