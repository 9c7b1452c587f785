"""Every validation rule of data entry: refused with field, value and rule, or saved and flagged."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests import factories
from trials import forms, services
from trials.models import Infusion, LabDraw, LabResult, PvpProcedure, TreatedLevel

pytestmark = pytest.mark.django_db


def lab_data(**values):
    data = {"timepoint": "baseline", "drawn_on": "2020-01-07", "fasting": "unknown"}
    data |= {key: str(value) for key, value in values.items()}
    return data


def errors_of(form) -> str:
    form.is_valid()
    return " ".join(f"{field}: {' '.join(messages)}" for field, messages in form.errors.items())


class TestImpossibleValues:
    def test_calcium_45_mmol_l_is_refused_naming_the_value_and_range(self, patient_a):
        form = forms.LabDrawForm(lab_data(calcium_value=45, calcium_confirm="on"), patient=patient_a)
        assert not form.is_valid()
        assert form.errors["calcium_value"] == ["Serum calcium 45 mmol/L is impossible: it must lie in 0.5–6.0 mmol/L."]
        assert ("Serum calcium", form.errors["calcium_value"][0]) in form.error_summary()

    def test_an_impossible_value_in_the_alternative_unit_names_what_was_typed(self, patient_a):
        form = forms.LabDrawForm(
            lab_data(calcium_value=30, calcium_unit="mg/dL", calcium_confirm="on"), patient=patient_a
        )
        assert "7.485 mmol/L is impossible" in errors_of(form)
        assert "(30 mg/dL entered)" in errors_of(form)

    def test_the_papers_fever_of_3_85_degrees_is_refused(self, enrolled_patient):
        form = forms.AdverseEventForm(
            {"term": "fever", "onset_on": "2020-01-14", "ctcae_grade": 1, "related_to": "zoledronic_acid",
             "action": "none", "outcome": "resolved", "max_temperature_c": "3.85"},
            patient=enrolled_patient,
        )  # fmt: skip
        assert "3.85 is impossible: the value must lie in 35.0–43.0 °C." in errors_of(form)

    @pytest.mark.parametrize(
        ("field", "value", "rule"),
        [
            ("cement_ml", "12.5", "12.5 is impossible: the value must lie in 0.5–12 ml."),
            ("cement_ml", "0.2", "0.2 is impossible: the value must lie in 0.5–12 ml."),
        ],
    )
    def test_cement_volume_outside_0_5_to_12_ml(self, field, value, rule):
        form = forms.treatment.TreatedLevelForm({"level": "T12", "cement_ml": value, "leakage": "none"})
        assert rule in errors_of(form)

    def test_a_dose_above_4_mg_is_impossible(self, enrolled_patient):
        form = forms.InfusionForm(infusion_data(dose_mg="5.0"), patient=enrolled_patient)
        assert "dose_mg:" in errors_of(form)


def infusion_data(**overrides):
    data = {"cycle": 1, "infused_on": "2020-01-13", "status": "given", "creatinine_umol_l": "70", "dose_mg": "4.0",
            "diluent_ml": 100, "duration_min": 20}  # fmt: skip
    return data | overrides


class TestDates:
    def test_a_date_in_the_future_is_refused(self, enrolled_patient):
        tomorrow = timezone.localdate() + timedelta(days=1)
        form = forms.PainAssessmentForm(
            {"timepoint": "follow_up", "assessed_on": tomorrow.isoformat(), "who_grade": 1}, patient=enrolled_patient
        )
        assert f"Assessed on {tomorrow} is in the future" in errors_of(form)

    def test_an_infusion_before_the_screening_is_refused(self, enrolled_patient):
        form = forms.InfusionForm(infusion_data(infused_on="2020-01-05"), patient=enrolled_patient)
        assert (
            "Date 2020-01-05 is before the screening (2020-01-06): no treatment may be dated before it."
            in errors_of(form)
        )

    def test_a_resolution_before_onset_is_refused(self, enrolled_patient):
        form = forms.AdverseEventForm(
            {"term": "nausea", "onset_on": "2020-01-14", "resolved_on": "2020-01-12", "ctcae_grade": 1,
             "related_to": "zoledronic_acid", "action": "none", "outcome": "resolved"},
            patient=enrolled_patient,
        )  # fmt: skip
        assert "Resolved on 2020-01-12 is before onset 2020-01-14." in errors_of(form)

    def test_nothing_is_dated_before_birth_or_diagnosis(self, patient_a):
        form = forms.PainAssessmentForm(
            {"timepoint": "baseline", "assessed_on": "1950-01-01", "who_grade": 2}, patient=patient_a
        )
        assert "before the patient's date of birth (1955-03-01)" in errors_of(form)
        form = forms.PainAssessmentForm(
            {"timepoint": "baseline", "assessed_on": "2019-01-01", "who_grade": 2}, patient=patient_a
        )
        assert "before the diagnosis of myeloma (2019-06-01)" in errors_of(form)

    def test_a_diagnosis_before_birth_is_refused(self, clinician, site_a):
        form = forms.PatientForm(
            {"site": site_a.pk, "sex": "F", "date_of_birth": "1960-01-01", "initials": "AB", "hospital_number": "1",
             "diagnosis_date": "1959-01-01", "isotype": "IgG", "light_chain": "kappa", "iss_stage": "I"},
            user=clinician,
        )  # fmt: skip
        assert "Diagnosis date 1959-01-01 is before date of birth 1960-01-01." in errors_of(form)

    def test_cycles_must_keep_their_order(self, enrolled_patient):
        factories.InfusionFactory(patient=enrolled_patient, cycle=1, infused_on=date(2020, 2, 1))
        form = forms.InfusionForm(infusion_data(cycle=2, infused_on="2020-01-20"), patient=enrolled_patient)
        assert "does not fit the order of cycles: cycle 1 was given on 2020-02-01" in errors_of(form)


class TestCriticalValues:
    def test_a_critical_calcium_needs_the_confirmation(self, patient_a):
        form = forms.LabDrawForm(lab_data(calcium_value="3.6"), patient=patient_a)
        assert form.errors["calcium_confirm"] == [
            "Serum calcium 3.6 mmol/L is a critical value (below 1.75 or above 3.40): tick the confirmation to save it."
        ]

    def test_a_confirmed_critical_value_is_saved_and_the_confirmation_audited(self, patient_a, clinician):
        form = forms.LabDrawForm(lab_data(calcium_value="3.6", calcium_confirm="on"), patient=patient_a)
        assert form.is_valid(), form.errors
        draw = services.save_record(
            form.save(commit=False), user=clinician, reason=form.reason, save_parts=form.save_parts
        )
        result = draw.results.get(analyte="calcium")
        assert result.critical_confirmed
        event = result.events.get()
        assert event.critical_confirmed is True
        assert event.pgh_context.metadata["username"] == clinician.username

    def test_a_value_in_mg_dl_is_stored_in_mmol_l_with_what_was_typed(self, patient_a, clinician):
        form = forms.LabDrawForm(lab_data(calcium_value="9.6", calcium_unit="mg/dL"), patient=patient_a)
        assert form.is_valid(), form.errors
        services.save_record(form.save(commit=False), user=clinician, reason=form.reason, save_parts=form.save_parts)
        result = LabResult.objects.get(analyte="calcium")
        assert (result.value, result.entered_value, result.entered_unit) == (
            Decimal("2.3952"),
            Decimal("9.6"),
            "mg/dL",
        )


class TestDeviationsAreSavedAndFlagged:
    def test_a_short_infusion_too_soon_with_the_wrong_dose_is_saved_with_three_deviations(self, enrolled_patient):
        factories.InfusionFactory(patient=enrolled_patient, cycle=1, infused_on=date(2020, 1, 13))
        # 64-year-old man, 72 kg, creatinine 150 umol/L: (140 - 64) x 72 / (72 x 150 / 88.42) = 44.8 ml/min,
        # label dose 3.3 mg
        form = forms.InfusionForm(
            infusion_data(cycle=2, infused_on="2020-01-31", creatinine_umol_l="150", duration_min=10),
            patient=enrolled_patient,
        )
        assert form.is_valid(), form.errors
        infusion = form.save()
        assert infusion.crcl_ml_min == Decimal("44.8")
        assert infusion.deviations(date(2020, 1, 13)) == [
            "infused over 10 min (protocol: at least 15 min)",
            "18 days after the previous cycle (protocol: at least 21)",
            "dose 4.0 mg differs from the renal-adjusted label dose 3.3 mg",
        ]


class TestOtherRules:
    def test_a_held_infusion_needs_a_reason_and_no_dose(self, enrolled_patient):
        form = forms.InfusionForm(infusion_data(status="held", dose_mg="", duration_min=""), patient=enrolled_patient)
        assert "held_reason: A held infusion needs the reason it was held." in errors_of(form)
        form = forms.InfusionForm(
            infusion_data(status="held", held_reason="creatinine rising"), patient=enrolled_patient
        )
        assert form.is_valid(), form.errors

    def test_a_given_infusion_needs_dose_and_duration(self, enrolled_patient):
        form = forms.InfusionForm(infusion_data(dose_mg="", duration_min=""), patient=enrolled_patient)
        assert "dose_mg: Dose (mg) is required" in errors_of(form)
        assert "duration_min: Duration (min) is required" in errors_of(form)

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"term": "other"}, "Name the event: the term is 'other'."),
            ({"other_term": "headache"}, "Leave 'other term' empty unless the term is 'other'."),
            ({"max_temperature_c": "38.5"}, "A maximum temperature belongs to a fever only."),
            ({"outcome": "fatal"}, "CTCAE grade 5 means death related to the event: grade 1 and outcome 'fatal'"),
        ],
    )
    def test_adverse_event_consistency(self, enrolled_patient, values, message):
        data = {"term": "nausea", "onset_on": "2020-01-14", "ctcae_grade": 1, "related_to": "zoledronic_acid",
                "action": "none", "outcome": "resolved"} | values  # fmt: skip
        assert message in errors_of(forms.AdverseEventForm(data, patient=enrolled_patient))

    def test_consent_date_is_required_when_consent_is_yes(self, patient_a):
        data = {"screened_on": "2020-01-06", "kps": 70, "life_expectancy_over_90_days": "yes"}
        data |= {code: "yes" for code in ("i1", "i2", "i3", "i5")} | {f"e{n}": "no" for n in range(1, 6)}
        assert "The consent date is required" in errors_of(forms.ScreeningForm(data, patient=patient_a))

    def test_one_lab_draw_per_timepoint_is_checked_by_the_form(self, patient_a):
        factories.LabDrawFactory(patient=patient_a, timepoint="baseline")
        form = forms.LabDrawForm(lab_data(alp_value=100), patient=patient_a)
        assert "already exists" in errors_of(form)


class TestTreatmentGate:
    @pytest.mark.parametrize(
        ("form_class", "data"),
        [
            (forms.PvpProcedureForm, {"performed_on": "2020-01-10", "approach": "bipedicular", "operator": "Dr"}),
            (forms.InfusionForm, infusion_data()),
            (
                forms.TumourResponseForm,
                {"assessed_on": "2020-05-01", "category": "PR", "immunofixation_negative": "no"},
            ),
            (forms.PainAssessmentForm, {"timepoint": "follow_up", "assessed_on": "2020-05-01", "who_grade": 1}),
            (forms.LabDrawForm, lab_data(timepoint="follow_up", alp_value=90)),
        ],
    )
    def test_treatment_and_follow_up_need_a_signed_eligible_screening(self, patient_a, form_class, data):
        factories.ScreeningFactory(patient=patient_a)  # eligible but not signed
        assert "need an eligibility screening signed by a coordinator" in errors_of(form_class(data, patient=patient_a))

    def test_a_signed_ineligible_screening_does_not_open_treatment(self, patient_a, coordinator):
        factories.ScreeningFactory(patient=patient_a, e1="yes", signed_by=coordinator, signed_at=timezone.now())
        form = forms.InfusionForm(infusion_data(), patient=patient_a)
        assert "need an eligibility screening signed by a coordinator" in errors_of(form)

    def test_baseline_data_may_precede_enrolment(self, patient_a):
        form = forms.PainAssessmentForm(
            {"timepoint": "baseline", "assessed_on": "2020-01-06", "who_grade": 3}, patient=patient_a
        )
        assert form.is_valid(), form.errors

    def test_the_model_refuses_it_whatever_the_path(self, patient_a):
        with pytest.raises(ValidationError, match="signed by a coordinator"):
            Infusion(patient=patient_a, cycle=1, infused_on=date(2020, 1, 13), dose_mg=4, duration_min=20).full_clean()


class TestEditing:
    def test_editing_saved_data_requires_a_reason(self, enrolled_patient):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        form = forms.PainAssessmentForm(
            {"timepoint": "baseline", "assessed_on": "2020-01-07", "who_grade": 2, "version": 1},
            instance=pain,
            patient=enrolled_patient,
        )
        assert errors_of(form) == "reason_for_change: This field is required."

    def test_the_reason_is_stored_with_the_audit_record(self, enrolled_patient, clinician):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient)
        form = forms.PainAssessmentForm(
            {"timepoint": "baseline", "assessed_on": "2020-01-07", "who_grade": 2, "version": 1,
             "reason_for_change": "misread the grade"},
            instance=pain, patient=enrolled_patient,
        )  # fmt: skip
        assert form.is_valid()
        services.save_record(form.save(commit=False), user=clinician, reason=form.reason, expected_version=1)
        update = pain.events.order_by("pgh_id").last()
        assert update.pgh_label == "update"
        assert update.pgh_context.metadata["reason"] == "misread the grade"
        assert update.version == 2

    def test_a_stale_version_is_refused_and_names_the_other_change(self, enrolled_patient, clinician, coordinator):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient, who_grade=3)
        theirs = type(pain).objects.get(pk=pain.pk)
        theirs.who_grade = 2
        services.save_record(theirs, user=coordinator, reason="source says II", expected_version=1)

        mine = type(pain).objects.get(pk=pain.pk)
        mine.vas = Decimal("6")
        with pytest.raises(services.EditConflict) as conflict:
            services.save_record(mine, user=clinician, reason="add VAS", expected_version=1)
        assert conflict.value.changed_by == coordinator.username
        assert [(c.field, c.before, c.after) for c in conflict.value.changes] == [("who_grade", 3, 2)]
        pain.refresh_from_db()
        assert (pain.who_grade, pain.vas, pain.version) == (2, None, 2)  # nothing of mine, nothing of theirs lost


class TestMultiPartSaves:
    def level_data(self, *levels):
        data = {"performed_on": "2020-01-10", "approach": "bipedicular", "bed_rest_days": 3, "operator": "Dr Li",
                "levels-TOTAL_FORMS": len(levels), "levels-INITIAL_FORMS": 0}  # fmt: skip
        for index, (level, cement) in enumerate(levels):
            data |= {
                f"levels-{index}-level": level,
                f"levels-{index}-cement_ml": cement,
                f"levels-{index}-leakage": "none",
            }
        return data

    def test_a_pvp_with_one_bad_level_saves_nothing(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        response = client.post(
            f"/patients/{enrolled_patient.pk}/pvp/", self.level_data(("T11", "2.5"), ("T12", "20"), ("L1", "4"))
        )
        assert response.status_code == 200
        assert "20 is impossible" in response.content.decode()
        assert not TreatedLevel.objects.exists()
        assert not PvpProcedure.objects.exists()

    def test_a_level_listed_twice_is_refused(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        response = client.post(f"/patients/{enrolled_patient.pk}/pvp/", self.level_data(("T12", "2.5"), ("T12", "3")))
        assert "Level T12 is listed twice" in response.content.decode()

    def test_a_lab_draw_with_one_impossible_value_saves_nothing(self, client, clinician, patient_a):
        client.force_login(clinician)
        client.post(f"/patients/{patient_a.pk}/labs/new/", lab_data(alp_value=120, calcium_value=45))
        assert not LabDraw.objects.exists()
