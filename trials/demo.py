"""The demo study: the paper's 16 patients, built so that its published marginals come out exactly.

Published per-patient data do not exist, so the values are constructed: categorical marginals are
laid out patient by patient below, and each before/after series is generated with the paper's mean
and SD (see `series_with_mean_and_sd`). One figure cannot be reproduced: the paper's baseline QoL
SD of 5.24. Sixteen integer totals averaging 21.06 must sum to 337, so their sum of squares is odd,
and the sample SDs such sums allow jump from 5.234 to 5.247; we use 5.234 (shown as 5.23).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import combinations
from statistics import mean, stdev
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from trials import protocol
from trials.audit import change_context
from trials.enrolment import SIGNATURE_MEANING
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PvpProcedure,
    QolAssessment,
    Screening,
    Site,
    TreatedLevel,
    TumourResponse,
    User,
)
from trials.roles import ROLES, ensure_role_groups
from trials.services import enrol_patient, register_patient

DEMO_SITE_CODE = "H01"
DEMO_SITE_NAME = "Demo Hospital (示范医院)"
TIMEZONE = ZoneInfo("Asia/Shanghai")

# The paper's before -> after means and SDs (Table 1).
ALP_BEFORE, ALP_AFTER = (235.16, 51.07), (88.01, 10.22)
CALCIUM_BEFORE, CALCIUM_AFTER = (4.56, 0.92), (3.51, 0.81)
QOL_BEFORE, QOL_AFTER = (21.06, 5.24), (42.06, 7.39)

# The paper's paired t values (Table 1). ALP's 16.255 cannot be reached: with SDs of 51.07 and 10.22
# the smallest possible SD of the differences is 40.85, so |t| <= 147.15 / (40.85 / 4) = 14.41.
PAPER_T = {"alp": 16.255, "calcium": 8.221, "qol_total": 11.255}

# Bimodal spread: keeps the extremes near +/-1.3 SD so baseline calcium stays under 6.0 mmol/L.
SPREAD = (-1.3, -1.2, -1.1, -1.0, -0.95, -0.9, -0.8, -0.7, 0.7, 0.8, 0.9, 0.95, 1.0, 1.1, 1.2, 1.3)


@dataclass(frozen=True)
class DemoCase:
    sex: str
    age: int
    isotype: str
    levels: tuple[str, ...]
    response: str
    pain: tuple[int, int]  # WHO grade at baseline, at follow-up
    weight_kg: int
    creatinine: int


# Ages 52-83, mean 62.5; 10 men; IgG 9, IgA 5, IgM 1, non-secretory 1; thoracic 3, lumbar 4,
# thoracolumbar 9; 2/3/4/5 vertebrae in 2/7/6/1; CR 1, PR 12, MR 1, NC 1, PD 1;
# pain marked 9 (a drop of >= 2 grades), effective 6, ineffective 1.
CASES = (
    DemoCase("M", 52, "IgG", ("T7", "T8"), "PR", (3, 1), 72, 68),
    DemoCase("F", 55, "IgA", ("T6", "T8", "T9"), "PR", (3, 1), 58, 60),
    DemoCase("M", 56, "IgG", ("T10", "T11", "T12"), "CR", (3, 0), 70, 75),
    DemoCase("M", 57, "IgG", ("L2", "L3"), "PR", (2, 0), 68, 80),
    DemoCase("F", 58, "IgM", ("L1", "L3", "L4"), "MR", (3, 2), 55, 62),
    DemoCase("M", 59, "IgA", ("L1", "L2", "L3", "L4"), "PR", (3, 1), 75, 70),
    DemoCase("F", 60, "IgG", ("L2", "L4", "L5"), "PR", (3, 2), 60, 58),
    DemoCase("M", 61, "IgG", ("T12", "L1", "L2"), "PR", (3, 1), 66, 72),
    DemoCase("M", 62, "non_secretory", ("T11", "T12", "L1"), "PR", (2, 1), 64, 66),
    DemoCase("F", 63, "IgA", ("T9", "T12", "L3"), "PR", (3, 1), 57, 55),
    DemoCase("M", 64, "IgG", ("T11", "T12", "L1", "L2"), "NC", (3, 2), 70, 74),
    DemoCase("M", 65, "IgA", ("T10", "T12", "L1", "L3"), "PR", (2, 1), 73, 69),
    DemoCase("F", 66, "IgG", ("T12", "L1", "L2", "L4"), "PR", (3, 1), 56, 54),
    DemoCase("M", 68, "IgG", ("T8", "T11", "L1", "L2"), "PD", (3, 3), 67, 71),
    DemoCase("F", 71, "IgA", ("T11", "L1", "L2", "L3"), "PR", (2, 1), 58, 52),
    DemoCase("M", 83, "IgG", ("T10", "T11", "T12", "L1", "L2"), "PR", (3, 1), 70, 60),
)

# The paper's adverse events: (case index, term, related to, grade, action, leak level, extra).
ADVERSE_EVENTS = (
    (2, "cement_leak_disc", "pvp", 1, "none", "T11", {}),
    (10, "cement_leak_disc", "pvp", 1, "none", "T12", {}),
    (5, "cement_leak_paravertebral", "pvp", 1, "none", "L2", {}),
    (8, "cement_leak_paravertebral", "pvp", 1, "none", "T12", {}),
    (13, "cement_leak_paravertebral", "pvp", 1, "none", "L1", {}),
    (1, "fever", "zoledronic_acid", 1, "symptomatic_treatment", None, {"max_temperature_c": Decimal("38.5")}),
    (11, "fever", "zoledronic_acid", 1, "symptomatic_treatment", None, {"max_temperature_c": Decimal("38.2")}),
    (4, "nausea", "zoledronic_acid", 1, "observation", None, {"description": "No vomiting."}),
    (14, "nausea", "zoledronic_acid", 1, "observation", None, {"description": "No vomiting."}),
    (9, "pancytopenia", "unknown", 2, "symptomatic_treatment", None, {}),
    (6, "hypocalcaemia", "zoledronic_acid", 1, "symptomatic_treatment", None, {"description": "Muscle cramps."}),
    (15, "hypocalcaemia", "zoledronic_acid", 1, "symptomatic_treatment", None, {"description": "Muscle cramps."}),
    (12, "renal_dysfunction", "zoledronic_acid", 1, "observation", None, {"description": "Mild."}),
)

# Serum M-protein at follow-up as a fraction of baseline, so that the suggested EBMT category agrees.
M_PROTEIN_RATIO = {"PR": Decimal("0.40"), "MR": Decimal("0.65"), "NC": Decimal("0.90"), "PD": Decimal("1.40")}


def series_with_mean_and_sd(target_mean: float, target_sd: float, decimals: int, spread=SPREAD) -> list[Decimal]:
    """Values on a `decimals` grid whose mean and sample SD (n - 1) match the targets to < 0.004.

    Start from mean + sd x spread, fix the sum, then move pairs of values by one grid step in
    opposite directions (the sum stays put) while that brings the SD closer. Deterministic.
    Where the grid cannot reach the target (integer QoL totals), it stops at the nearest SD.
    """
    step = 10**-decimals
    spread_mean, spread_sd = mean(spread), stdev(spread)
    values = [round(target_mean + target_sd * (z - spread_mean) / spread_sd, decimals) for z in spread]
    n = len(values)
    target_sum = round(target_mean * n, decimals)
    shortfall = round((target_sum - sum(values)) / step)
    for i in range(abs(shortfall)):
        values[(n // 2 + i) % n] += step if shortfall > 0 else -step
    values = [round(v, decimals) for v in values]

    def error(candidate):
        return abs(stdev(candidate) - target_sd)

    while error(values) >= 0.004:
        best, best_error = None, error(values)
        for i, j in combinations(range(n), 2):
            for direction in (step, -step):
                candidate = list(values)
                candidate[i] = round(candidate[i] + direction, decimals)
                candidate[j] = round(candidate[j] - direction, decimals)
                if error(candidate) < best_error - 1e-12:
                    best, best_error = candidate, error(candidate)
        if best is None:
            break
        values = best
    return [Decimal(str(round(v, decimals))).quantize(Decimal(1).scaleb(-decimals)) for v in values]


def pair_for_t(before: list[Decimal], after: list[Decimal], target_t: float) -> list[Decimal]:
    """Reorder `after` so the paired t-statistic comes as close to the paper's |t| as it can.

    Means and SDs do not depend on the pairing; t does, through the correlation of before and
    after. Starting from the rank-matched order (the largest |t| the values allow), swap pairs of
    after-values while that brings |t| nearer the target. Deterministic.
    """

    def distance(candidate):
        diffs = [float(a - b) for a, b in zip(candidate, before, strict=True)]
        return abs(abs(mean(diffs) / (stdev(diffs) / len(diffs) ** 0.5)) - target_t)

    order = sorted(range(len(before)), key=lambda i: before[i])
    paired = [None] * len(before)
    for rank, value in zip(order, sorted(after), strict=True):
        paired[rank] = value
    while True:
        best, best_distance = None, distance(paired)
        for i, j in combinations(range(len(paired)), 2):
            candidate = list(paired)
            candidate[i], candidate[j] = candidate[j], candidate[i]
            if distance(candidate) < best_distance - 1e-9:
                best, best_distance = candidate, distance(candidate)
        if best is None:
            return paired
        paired = best


def qol_items(total: int) -> dict[str, int]:
    """Spread a QoL total over the 12 items (each 1-5) in protocol order."""
    base, extra = divmod(total, len(protocol.QOL_ITEM_CODES))
    return {code: base + (1 if i < extra else 0) for i, code in enumerate(protocol.QOL_ITEM_CODES)}


def _paired_series(before_stats, after_stats, decimals, target_t):
    before = series_with_mean_and_sd(*before_stats, decimals)
    after = series_with_mean_and_sd(*after_stats, decimals)
    return before, pair_for_t(before, after, target_t)


class DemoRefused(Exception):
    """The database holds more than the demo study: `load_demo` writes nothing into it."""


def _names(queryset, field: str, limit: int = 10) -> str:
    names = list(queryset.order_by(field).values_list(field, flat=True)[: limit + 1])
    return ", ".join(names[:limit]) + (", …" if len(names) > limit else "")


def demo_refusal() -> str:
    """Why `load_demo` must not write into this database ('' when it may).

    It may write only into an empty database or one holding nothing but the demo study: the demo site
    (its code and name), patients of that site, and non-superuser accounts whose every site is the
    demo site. Anything else is a real study (or a copy of one): the demo would add a site, patients
    and accounts to it, and earlier versions reset the password of any account named like a demo role.
    """
    demo_site = Q(code=DEMO_SITE_CODE, name=DEMO_SITE_NAME)
    other_sites = Site.objects.exclude(demo_site)
    other_patients = Patient._base_manager.exclude(site__in=Site.objects.filter(demo_site))
    other_users = User.objects.filter(Q(is_superuser=True) | Q(sites__isnull=True) | Q(sites__in=other_sites))
    found = []
    if other_sites.exists():
        found.append(f"site(s) {_names(other_sites, 'code')}")
    if other_patients.exists():
        found.append(f"{other_patients.count()} patient(s) of other sites")
    if other_users.exists():
        found.append(f"account(s) {_names(other_users.distinct(), 'username')}")
    if not found:
        return ""
    return (
        f"load_demo refused: this database holds more than the demo study ({'; '.join(found)}). "
        f"The demo is loaded only into an empty database or one holding nothing but the demo (site "
        f'{DEMO_SITE_CODE} "{DEMO_SITE_NAME}", its patients and the accounts of that site only). '
        "Nothing was written. For the demo, point DATABASE_URL or EMBEDDED_PGDATA at an empty database."
    )


def ensure_demo_users(password: str, site: Site) -> list[User]:
    """The demo's account for each role, in ROLES order. A missing one is created with `password`, its
    role and the demo site; an existing one is left exactly as it is (password, role, sites, second
    factor): `make run` calls this on every start, and a password changed since must survive it."""
    ensure_role_groups()
    users = []
    for role in ROLES:
        user = User.objects.filter(username=role).first()
        if user is None:
            user = User(username=role, first_name=role.replace("_", " ").title(), last_name="Demo",
                        is_staff=role == "data_manager")  # fmt: skip
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=role))
            user.sites.add(site)
            if role == "data_manager":
                ensure_demo_two_factor(user)
        users.append(user)
    return users


def ensure_demo_two_factor(user: User) -> TOTPDevice:
    """Data managers must log in with a TOTP code, the demo's too: it gets a device with a random
    secret (kept in this database only), which `load_demo` prints for an authenticator app, and
    whose current code `manage.py totp_code data_manager` shows while DEBUG is on."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="demo authenticator", confirmed=True)


def load_demo(password: str) -> bool:
    """Create the demo site, its missing accounts and the cohort; returns False when the cohort was
    already there. Raises DemoRefused, having written nothing, on a database holding anything else."""
    with transaction.atomic():
        refusal = demo_refusal()
        if refusal:
            raise DemoRefused(refusal)
        with change_context(reason="load_demo: the demo site and accounts"):
            site, _created = Site.objects.get_or_create(code=DEMO_SITE_CODE, defaults={"name": DEMO_SITE_NAME})
            users = ensure_demo_users(password, site)
        if Patient._base_manager.filter(site=site).exists():
            return False
        clinician, coordinator = users[0], users[1]
        with change_context(user=clinician, reason="load_demo: the paper's cohort"):
            _create_cohort(site, clinician, coordinator)
    return True


def _create_cohort(site: Site, clinician: User, coordinator: User) -> None:
    alp = _paired_series(ALP_BEFORE, ALP_AFTER, 1, PAPER_T["alp"])
    calcium = _paired_series(CALCIUM_BEFORE, CALCIUM_AFTER, 2, PAPER_T["calcium"])
    qol = _paired_series(QOL_BEFORE, QOL_AFTER, 0, PAPER_T["qol_total"])
    leaks = {(index, level): term for index, term, _rel, _g, _a, level, _x in ADVERSE_EVENTS if level}

    for index, case in enumerate(CASES):
        screened_on = date(2010, 8, 16) + timedelta(days=140 * index)
        enrolled_on = screened_on + timedelta(days=1)
        pvp_on = enrolled_on + timedelta(days=2)
        cycle_dates = [pvp_on + timedelta(days=3 + 28 * cycle) for cycle in range(protocol.PLANNED_CYCLES)]
        follow_up_on = cycle_dates[-1] + timedelta(days=28)

        patient = register_patient(
            site=site,
            sex=case.sex,
            date_of_birth=date(enrolled_on.year - case.age, enrolled_on.month, 1) - timedelta(days=30),
            hospital_number=f"DEMO{1000 + index}",
            initials=f"D{chr(65 + index)}",
            weight_kg=Decimal(case.weight_kg),
            height_cm=Decimal(172 if case.sex == "M" else 160),
            diagnosis_date=screened_on - timedelta(days=200),
            isotype=case.isotype,
            light_chain="kappa" if index % 3 else "lambda",
            iss_stage=("I", "II", "III")[index % 3],
            fractured_levels=list(case.levels),
        )
        Screening.objects.create(
            patient=patient,
            screened_on=screened_on,
            kps=60 + 10 * (index % 3),
            life_expectancy_over_90_days="yes",
            **{code.lower(): "yes" for code in ("I1", "I2", "I3", "I5")},
            **{code.lower(): "no" for code in ("E1", "E2", "E3", "E4", "E5")},
            consent_date=screened_on,
            signed_by=coordinator,
            signed_at=datetime.combine(enrolled_on, time(10, 0), tzinfo=TIMEZONE),
            signed_name=coordinator.get_full_name(),
            signature_meaning=SIGNATURE_MEANING,
        )
        patient = enrol_patient(patient, enrolled_on=enrolled_on)

        procedure = PvpProcedure.objects.create(
            patient=patient,
            performed_on=pvp_on,
            approach="bipedicular",
            bed_rest_days=3 + index % 3,
            operator="Dr Demo",
        )
        for level in case.levels:
            # The paper's mean cement volumes: 2.5 ml thoracic, 4.5 ml lumbar.
            leak = leaks.get((index, level))
            TreatedLevel.objects.create(
                procedure=procedure,
                level=level,
                cement_ml=Decimal("2.5") if level.startswith("T") else Decimal("4.5"),
                leakage={"cement_leak_disc": "disc", "cement_leak_paravertebral": "paravertebral"}.get(leak, "none"),
            )

        for cycle, infused_on in enumerate(cycle_dates, start=1):
            infusion = Infusion(
                patient=patient,
                cycle=cycle,
                infused_on=infused_on,
                diluent_ml=protocol.STANDARD_DILUENT_ML,
                duration_min=20,
                creatinine_umol_l=Decimal(case.creatinine),
            )
            infusion.dose_mg = infusion.label_dose_mg
            infusion.save()

        m_protein_baseline = Decimal(0) if case.isotype == "non_secretory" else Decimal(30 + index)
        m_protein_follow_up = (
            Decimal(0) if case.response == "CR" else m_protein_baseline * M_PROTEIN_RATIO.get(case.response, 1)
        )
        for timepoint, on, position in (("baseline", enrolled_on, 0), ("follow_up", follow_up_on, 1)):
            draw = LabDraw.objects.create(patient=patient, timepoint=timepoint, drawn_on=on, fasting=True)
            wobble = (index * 7) % 11 - 5  # varied follow-up changes, so every pair has a spread
            results = {
                "alp": alp[position][index],
                "calcium": calcium[position][index],
                "creatinine": Decimal(case.creatinine + position * wobble),
                "hemoglobin": Decimal(95 + 2 * index + position * (15 + wobble)),
                "albumin": Decimal("33.0") + (index % 4) + position * Decimal(3 + wobble) / 2,
                "m_protein": m_protein_baseline if position == 0 else m_protein_follow_up,
            }
            for analyte, value in results.items():
                LabResult.from_reading(
                    protocol.read_lab_value(analyte, value),
                    critical_confirmed=protocol.ANALYTES_BY_CODE[analyte].is_critical(value),
                    lab_draw=draw,
                ).save()
            PainAssessment.objects.create(
                patient=patient, timepoint=timepoint, assessed_on=on, who_grade=case.pain[position]
            )
            QolAssessment.objects.create(
                patient=patient, timepoint=timepoint, assessed_on=on, **qol_items(int(qol[position][index]))
            )

        TumourResponse.objects.create(
            patient=patient,
            assessed_on=follow_up_on,
            category=case.response,
            immunofixation_negative="yes" if case.response == "CR" else "no",
            marrow_plasma_cells_pct=Decimal("2.0") if case.response == "CR" else Decimal("15.0"),
        )
        EndOfStudy.objects.create(patient=patient, end_date=follow_up_on, end_reason="completed")

    _create_screen_failures(site, coordinator)

    for index, term, related_to, grade, action, _level, extra in ADVERSE_EVENTS:
        patient = Patient.objects.get(site=site, hospital_number=f"DEMO{1000 + index}")
        onset_on = patient.pvp_procedure.performed_on + timedelta(days=1 if related_to == "pvp" else 4)
        AdverseEvent.objects.create(
            patient=patient,
            term=term,
            onset_on=onset_on,
            resolved_on=onset_on + timedelta(days=2),
            ctcae_grade=grade,
            related_to=related_to,
            action=action,
            outcome="resolved",
            **extra,
        )


def _create_screen_failures(site: Site, coordinator: User) -> None:
    """Two candidates who were not enrolled, so the screening log and the flow have something to show:
    one signed screen failure (bisphosphonate last month, E1) and one screening still incomplete."""
    for offset, (e1, kps, signed) in enumerate((("yes", 70, True), ("no", None, False))):
        screened_on = date(2012, 5, 2) + timedelta(days=400 * offset)
        patient = register_patient(
            site=site, sex="M", date_of_birth=date(1950 + offset, 6, 1), hospital_number=f"DEMO-SF{offset + 1}",
            initials=f"S{offset + 1}", weight_kg=Decimal(66), isotype="IgG", fractured_levels=["T12", "L1"],
            diagnosis_date=screened_on - timedelta(days=120),
        )  # fmt: skip
        Screening.objects.create(
            patient=patient, screened_on=screened_on, kps=kps, life_expectancy_over_90_days="yes",
            i1="yes", i2="yes", i3="yes", i5="yes", consent_date=screened_on, e1=e1, e2="no", e3="no", e4="no",
            e5="no" if signed else "unknown",
            signed_by=coordinator if signed else None,
            signed_at=datetime.combine(screened_on + timedelta(days=1), time(9), tzinfo=TIMEZONE) if signed else None,
            signed_name=coordinator.get_full_name() if signed else "",
            signature_meaning=SIGNATURE_MEANING if signed else "",
        )  # fmt: skip
