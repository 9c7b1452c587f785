"""Numbers exactly as typed or refused: the decimal comma, thousands separators, decimals (issue 20).

The pages used `<input type=number>`, which dropped a decimal comma ("1,2" mg/dL saved as 12). They now
send the text typed and the server reads it with one rule (trials.unreadable.read_number).
"""

from decimal import Decimal

import pytest

from tests import factories
from tests.factories import api_client_for
from trials import progress, unreadable
from trials.models import AdverseEvent, Infusion, PainAssessment, Patient

pytestmark = pytest.mark.django_db


def infusion(**overrides) -> dict:
    return {"cycle": 1, "infused_on": "2020-01-13", "status": "given", "creatinine_umol_l": "70", "dose_mg": "4.0",
            "diluent_ml": 100, "duration_min": 20} | overrides  # fmt: skip


class TestTheRule:
    @pytest.mark.parametrize(
        ("typed", "number"),
        [("1,5", "1.5"), ("1.5", "1.5"), ("38,5", "38.5"), ("1,50", "1.50"), ("-0,5", "-0.5"), (",5", "0.5"),
         ("12", "12"), (" 7,5 ", "7.5"), ("１，５", "1.5"), ("１．５", "1.5")],
    )  # fmt: skip
    def test_a_point_or_a_single_decimal_comma_reads_as_typed(self, typed, number):
        assert unreadable.read_number(typed) == Decimal(number)

    @pytest.mark.parametrize("typed", ["1,500", "12,345", "-1,000"])
    def test_a_comma_that_may_group_thousands_is_refused_quoting_it(self, typed):
        with pytest.raises(ValueError) as refused:
            unreadable.read_number(typed)
        assert str(refused.value) == (
            f"“{typed}” can be read two ways: write numbers without thousands separators, "
            "with a point or a comma for decimals (1500, or 1.5)."
        )

    @pytest.mark.parametrize("typed", ["1,5,0", "1.500,5", "1e3", "NaN", "Infinity", "0x10", "4 mg", ",", "."])
    def test_anything_else_is_not_a_number(self, typed):
        with pytest.raises(ValueError, match=f"^“{typed}” is not a number: use digits, with a point or a comma"):
            unreadable.read_number(typed)

    def test_without_the_setting_a_comma_is_refused(self, settings):
        settings.DECIMAL_COMMA = False
        with pytest.raises(ValueError, match=r"^“1,5” is not a number: use digits, with a point for decimals"):
            unreadable.read_number("1,5")


class TestThePages:
    def test_creatinine_typed_with_a_comma_is_saved_as_typed(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        client.post(f"/patients/{enrolled_patient.pk}/infusions/new/", infusion(creatinine_umol_l="70,5"))
        assert Infusion.objects.get(patient=enrolled_patient).creatinine_umol_l == Decimal("70.5")

    def test_vas_with_a_comma_is_saved_as_typed(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        client.post(
            f"/patients/{enrolled_patient.pk}/pain/new/",
            {"timepoint": "baseline", "assessed_on": "2020-01-07", "who_grade": 2, "vas": "7,5"},
        )
        assert PainAssessment.objects.get(patient=enrolled_patient).vas == Decimal("7.5")

    def test_a_fever_of_38_comma_5_is_38_5(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        client.post(
            f"/patients/{enrolled_patient.pk}/adverse-events/new/",
            {"term": "fever", "onset_on": "2020-01-14", "ctcae_grade": 1, "related_to": "zoledronic_acid",
             "action": "none", "outcome": "resolved", "resolved_on": "2020-01-15", "max_temperature_c": "38,5"},
        )  # fmt: skip
        assert AdverseEvent.objects.get(patient=enrolled_patient).max_temperature_c == Decimal("38.5")

    def test_an_impossible_weight_is_quoted_as_typed(self, client, clinician, patient_a):
        """Before: "1,5" kg arrived as 15 and the page said "15 is impossible", a value never typed."""
        client.force_login(clinician)
        page = client.post(
            f"/patients/{patient_a.pk}/edit/",
            {"sex": "M", "date_of_birth": "1955-03-01", "initials": "AB", "hospital_number": patient_a.hospital_number,
             "weight_kg": "1,5", "isotype": "IgG", "light_chain": "unknown", "iss_stage": "unknown",
             "version": patient_a.version, "reason_for_change": "typo"},
        )  # fmt: skip
        assert page.context["form"].errors["weight_kg"] == ["1,5 is impossible: the value must lie in 30–250 kg."]
        assert Patient.objects.get(pk=patient_a.pk).weight_kg == Decimal("70.0")

    def test_too_many_decimals_are_refused_naming_the_value(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        page = client.post(
            f"/patients/{enrolled_patient.pk}/pain/new/",
            {"timepoint": "baseline", "assessed_on": "2020-01-07", "who_grade": 2, "vas": "7,55"},
        )
        assert page.context["form"].errors["vas"] == ["“7,55” has too many decimals: at most 1 after the point."]
        assert not PainAssessment.objects.exists()

    def test_a_lab_value_with_a_comma_keeps_its_unit(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        client.post(
            f"/patients/{enrolled_patient.pk}/labs/new/",
            {"timepoint": "baseline", "drawn_on": "2020-01-07", "creatinine_value": "1,2", "creatinine_unit": "mg/dL"},
        )
        result = enrolled_patient.lab_draws.get().results.get(analyte="creatinine")
        assert (result.entered_value, result.entered_unit) == (Decimal("1.2"), "mg/dL")  # not 12 mg/dL
        assert result.value == Decimal("106.1040")  # 1.2 × 88.42 µmol/L

    def test_an_impossible_lab_value_is_also_quoted_as_typed(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        page = client.post(
            f"/patients/{enrolled_patient.pk}/labs/new/",
            {"timepoint": "baseline", "drawn_on": "2020-01-07", "calcium_value": "0,3"},
        )
        [message] = page.context["form"].errors["calcium_value"]
        assert message.endswith("(0,3 mmol/L entered)")

    def test_number_fields_are_text_with_a_number_keypad(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        html = client.get(f"/patients/{enrolled_patient.pk}/infusions/new/").content.decode()
        assert 'type="number"' not in html
        assert 'name="dose_mg" inputmode="decimal"' in html.replace('type="text" ', "")
        assert 'name="duration_min" inputmode="numeric"' in html.replace('type="text" ', "")
        labs = client.get(f"/patients/{enrolled_patient.pk}/labs/new/").content.decode()
        assert 'type="number"' not in labs and 'inputmode="decimal"' in labs
        pvp = client.get(f"/patients/{enrolled_patient.pk}/pvp/").content.decode()
        assert 'type="number"' not in pvp


class TestTheApi:
    def test_the_api_keeps_refusing_a_comma_in_a_json_string(self, clinician, enrolled_patient):
        """JSON carries numbers; a comma in a string is a client's formatting bug, refused rather than read."""
        response = api_client_for(clinician).post(
            "/api/v1/infusions/", infusion(patient=enrolled_patient.screening_number, dose_mg="1,5"), format="json"
        )
        assert response.json()["dose_mg"] == [
            "“1,5” is not a number: use digits, with a point for decimals (1.5, not 1,5)."
        ]


class TestScreeningBadge:
    def test_a_complete_unsigned_screening_awaits_signature(self, patient_a):
        factories.ScreeningFactory(patient=patient_a)
        patient = progress.with_progress_data(Patient.objects.filter(pk=patient_a.pk)).get()
        assert progress.screening_completeness(patient) == progress.AWAITING_SIGNATURE

    def test_an_unknown_answer_leaves_it_partial(self, patient_a):
        factories.ScreeningFactory(patient=patient_a, i2="unknown")
        patient = progress.with_progress_data(Patient.objects.filter(pk=patient_a.pk)).get()
        assert progress.screening_completeness(patient) == progress.PARTIAL

    def test_a_signed_screening_is_complete(self, enrolled_patient):
        patient = progress.with_progress_data(Patient.objects.filter(pk=enrolled_patient.pk)).get()
        assert progress.screening_completeness(patient) == progress.COMPLETE
