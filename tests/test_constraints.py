"""Every impossible value and uniqueness rule is refused by the database itself.

Forms and the API validate first, but bulk updates, raw SQL and future code paths only meet
the database, so each rule is proven there: a CheckConstraint or UniqueConstraint by name.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tests import factories
from trials import protocol
from trials.models import Patient

pytestmark = pytest.mark.django_db


def assert_refused(constraint: str, create):
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        create()
    assert constraint in str(refused.value)


def _procedure_with_level(level="T12"):
    procedure = factories.PvpProcedureFactory()
    factories.TreatedLevelFactory(procedure=procedure, level=level)
    return procedure


IMPOSSIBLE_VALUES = [
    ("patient_weight_kg_range", factories.PatientFactory, {"weight_kg": Decimal("29.9")}),
    ("patient_weight_kg_range", factories.PatientFactory, {"weight_kg": Decimal("250.1")}),
    ("patient_height_cm_range", factories.PatientFactory, {"height_cm": Decimal("99")}),
    ("patient_fractured_levels_known", factories.PatientFactory, {"fractured_levels": ["T12", "T13"]}),
    ("patient_diagnosis_after_birth", factories.PatientFactory, {"diagnosis_date": date(1950, 1, 1)}),
    ("screening_kps_steps_of_10", factories.ScreeningFactory, {"kps": 45}),
    ("screening_kps_steps_of_10", factories.ScreeningFactory, {"kps": 110}),
    ("screening_consent_date_when_consented", factories.ScreeningFactory, {"i5": "yes", "consent_date": None}),
    ("pvp_bed_rest_days_range", factories.PvpProcedureFactory, {"bed_rest_days": 31}),
    ("treated_level_cement_ml_range", factories.TreatedLevelFactory, {"cement_ml": Decimal("0.4")}),
    ("treated_level_cement_ml_range", factories.TreatedLevelFactory, {"cement_ml": Decimal("12.1")}),
    ("infusion_cycle_range", factories.InfusionFactory, {"cycle": 0}),
    ("infusion_cycle_range", factories.InfusionFactory, {"cycle": 13}),
    ("infusion_dose_mg_range", factories.InfusionFactory, {"dose_mg": Decimal("4.5")}),
    ("infusion_dose_mg_range", factories.InfusionFactory, {"dose_mg": Decimal("0.4")}),
    ("infusion_diluent_ml_range", factories.InfusionFactory, {"diluent_ml": 20}),
    ("infusion_duration_min_range", factories.InfusionFactory, {"duration_min": 0}),
    ("infusion_creatinine_range", factories.InfusionFactory, {"creatinine_umol_l": Decimal("5")}),
    ("infusion_given_has_dose_and_duration", factories.InfusionFactory, {"dose_mg": None}),
    ("infusion_held_reason_only_when_held", factories.InfusionFactory, {"status": "held", "held_reason": ""}),
    ("infusion_held_reason_only_when_held", factories.InfusionFactory, {"held_reason": "renal function"}),
    (
        "lab_result_value_possible",
        factories.LabResultFactory,
        {"analyte": "calcium", "value": Decimal("45"), "critical_confirmed": True},
    ),
    ("lab_result_value_possible", factories.LabResultFactory, {"analyte": "alp", "value": Decimal("0.5")}),
    ("lab_result_value_possible", factories.LabResultFactory, {"analyte": "creatinine", "value": Decimal("2001")}),
    ("lab_result_value_possible", factories.LabResultFactory, {"analyte": "wbc", "value": Decimal("-1")}),
    ("lab_result_value_possible", factories.LabResultFactory, {"analyte": "vitamin_z", "value": Decimal("1")}),
    ("lab_result_critical_confirmed", factories.LabResultFactory, {"analyte": "calcium", "value": Decimal("3.5")}),
    ("lab_result_critical_confirmed", factories.LabResultFactory, {"analyte": "calcium", "value": Decimal("1.7")}),
    ("pain_who_grade_range", factories.PainAssessmentFactory, {"who_grade": 4}),
    ("pain_vas_range", factories.PainAssessmentFactory, {"vas": Decimal("10.5")}),
    ("response_marrow_pc_range", factories.TumourResponseFactory, {"marrow_plasma_cells_pct": Decimal("100.5")}),
    ("ae_ctcae_grade_range", factories.AdverseEventFactory, {"ctcae_grade": 0}),
    ("ae_ctcae_grade_range", factories.AdverseEventFactory, {"ctcae_grade": 6}),
    ("ae_resolved_not_before_onset", factories.AdverseEventFactory, {"resolved_on": date(2020, 1, 13)}),
    ("ae_other_term_only_for_other", factories.AdverseEventFactory, {"term": "other", "other_term": ""}),
    ("ae_other_term_only_for_other", factories.AdverseEventFactory, {"other_term": "headache"}),
    ("ae_temperature_only_for_fever", factories.AdverseEventFactory, {"max_temperature_c": Decimal("38.5")}),
    # The paper's "3.85 °C" fever: a typo for 38.5 that the range must catch.
    (
        "ae_max_temperature_range",
        factories.AdverseEventFactory,
        {"term": "fever", "max_temperature_c": Decimal("3.85")},
    ),
    ("ae_fatal_outcome_is_grade_5", factories.AdverseEventFactory, {"outcome": "fatal", "ctcae_grade": 3}),
    ("ae_fatal_outcome_is_grade_5", factories.AdverseEventFactory, {"outcome": "resolved", "ctcae_grade": 5}),
]


@pytest.mark.parametrize(("constraint", "factory", "values"), IMPOSSIBLE_VALUES)
def test_it_refuses_an_impossible_value_at_the_database(constraint, factory, values):
    assert_refused(constraint, lambda: factory(**values))


@pytest.mark.parametrize("item", protocol.QOL_ITEM_CODES)
def test_it_refuses_a_qol_item_outside_1_to_5(item):
    assert_refused(f"qol_{item}_range", lambda: factories.QolAssessmentFactory(**{item: 6}))
    assert_refused(f"qol_{item}_range", lambda: factories.QolAssessmentFactory(**{item: 0}))


def test_boundary_values_are_accepted():
    factories.TreatedLevelFactory(cement_ml=Decimal("0.5"))
    factories.TreatedLevelFactory(cement_ml=Decimal("12.0"))
    factories.InfusionFactory(dose_mg=Decimal("0.5"), cycle=12)
    factories.ScreeningFactory(kps=0)
    factories.ScreeningFactory(kps=100)
    factories.LabResultFactory(analyte="calcium", value=Decimal("3.40"))
    factories.LabResultFactory(analyte="calcium", value=Decimal("6.0"), critical_confirmed=True)
    factories.AdverseEventFactory(term="fever", max_temperature_c=Decimal("43.0"))
    factories.AdverseEventFactory(outcome="fatal", ctcae_grade=5)


def test_a_bulk_update_cannot_bypass_a_range():
    factories.TreatedLevelFactory()
    with pytest.raises(IntegrityError, match="treated_level_cement_ml_range"), transaction.atomic():
        factories.TreatedLevel.objects.update(cement_ml=Decimal("20"))


def test_a_study_id_needs_an_enrolment_date():
    patient = factories.PatientFactory()
    with pytest.raises(IntegrityError, match="patient_study_id_with_enrolment_date"), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(study_id="AAA-001")


def test_a_signature_needs_both_signer_and_time():
    screening = factories.ScreeningFactory()
    with pytest.raises(IntegrityError, match="screening_signature_complete"), transaction.atomic():
        type(screening).objects.filter(pk=screening.pk).update(signed_at=screening.created_at)


class TestUniqueness:
    def test_one_lab_draw_per_patient_per_timepoint(self):
        draw = factories.LabDrawFactory()
        assert_refused("lab_draw_once_per_timepoint", lambda: factories.LabDrawFactory(patient=draw.patient))

    def test_one_result_per_analyte_per_draw(self):
        result = factories.LabResultFactory()
        assert_refused("lab_result_once_per_draw", lambda: factories.LabResultFactory(lab_draw=result.lab_draw))

    def test_one_pain_assessment_per_patient_per_timepoint(self):
        pain = factories.PainAssessmentFactory()
        assert_refused("pain_once_per_timepoint", lambda: factories.PainAssessmentFactory(patient=pain.patient))

    def test_one_qol_assessment_per_patient_per_timepoint(self):
        qol = factories.QolAssessmentFactory()
        assert_refused("qol_once_per_timepoint", lambda: factories.QolAssessmentFactory(patient=qol.patient))

    def test_infusion_cycle_unique_per_patient(self):
        infusion = factories.InfusionFactory()
        assert_refused("infusion_cycle_once_per_patient", lambda: factories.InfusionFactory(patient=infusion.patient))

    def test_a_level_is_treated_once_per_procedure(self):
        procedure = _procedure_with_level("L1")
        assert_refused(
            "treated_level_once_per_procedure", lambda: factories.TreatedLevelFactory(procedure=procedure, level="L1")
        )

    @pytest.mark.parametrize(
        "factory",
        [
            factories.ScreeningFactory,
            factories.PvpProcedureFactory,
            factories.TumourResponseFactory,
            factories.EndOfStudyFactory,
        ],
    )
    def test_one_per_patient_forms(self, factory):
        first = factory()
        assert_refused("patient_id", lambda: factory(patient=first.patient))

    def test_screening_and_study_numbers_are_unique(self):
        patient = factories.PatientFactory()
        assert_refused(
            "screening_number",
            lambda: Patient.objects.create(
                **{**_patient_fields(patient), "screening_number": patient.screening_number}
            ),
        )


def _patient_fields(patient):
    return {
        "site": patient.site,
        "sex": patient.sex,
        "date_of_birth": patient.date_of_birth,
        "hospital_number": "X1",
        "initials": "XY",
        "isotype": "IgA",
    }
