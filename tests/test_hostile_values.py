"""Hostile numbers, dates and query strings, and multi-part saves that must save all or nothing."""

import json

import pytest
from pghistory.models import Events

from tests import factories
from tests.factories import api_client_for
from trials import imports
from trials.models import Infusion, LabDraw, LabResult, PvpProcedure, TreatedLevel

pytestmark = pytest.mark.django_db

BAD_NUMBERS = ["1,5", "NaN", "nan", "Infinity", "-Infinity", "inf", "1e309", "0x10", "4 mg", ""]
# The pages read a decimal comma ("1,5" is 1.5: tests/test_decimal_comma.py) but not one that may group thousands.
PAGE_BAD_NUMBERS = ["1,500", "1,5,0", "1.5,0", "NaN", "nan", "Infinity", "-Infinity", "inf", "1e309", "0x10", "4 mg"]
BAD_DATES = ["2026-02-30", "2026-13-01", "2026-00-10", "2025-02-29", "0000-01-01", "30/01/2026", "yesterday"]


def infusion(patient, **overrides) -> dict:
    return {
        "patient": patient.screening_number,
        "cycle": 1,
        "infused_on": "2020-01-13",
        "dose_mg": "4.0",
        "duration_min": 20,
        "creatinine_umol_l": "70",
    } | overrides


def levels_form(*levels) -> dict:
    data = {
        "performed_on": "2020-01-10",
        "approach": "bipedicular",
        "bed_rest_days": 3,
        "operator": "Dr Li",
        "levels-TOTAL_FORMS": len(levels),
        "levels-INITIAL_FORMS": 0,
    }
    for index, (level, cement) in enumerate(levels):
        data |= {f"levels-{index}-level": level, f"levels-{index}-cement_ml": cement, f"levels-{index}-leakage": "none"}
    return data


def level_error(body: dict, index: int) -> dict:
    """DRF reports a nested list's errors as a list, or as a dict by index when a field fails to parse."""
    errors = body["levels"]
    return errors[index] if isinstance(errors, list) else errors[str(index)]


# --- numbers ----------------------------------------------------------------------------------


class TestNumbers:
    @pytest.mark.parametrize("value", [v for v in BAD_NUMBERS if v])
    @pytest.mark.parametrize("field", ["dose_mg", "duration_min", "creatinine_umol_l", "cycle"])
    def test_the_api_refuses_a_bad_number_naming_the_field(self, field, value, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/infusions/", infusion(enrolled_patient, **{field: value}), format="json"
        )
        assert response.status_code == 400
        assert field in response.json()
        assert not Infusion.objects.exists()

    @pytest.mark.parametrize(
        ("field", "value", "said"),
        [
            ("dose_mg", "1,5", "“1,5” is not a number: use digits, with a point for decimals (1.5, not 1,5)."),
            ("dose_mg", "NaN", "“NaN” is not a number: use digits, with a point for decimals (1.5, not 1,5)."),
            ("cycle", "two", "“two” is not a whole number."),
        ],
    )
    def test_the_api_message_names_the_value_and_the_rule(self, field, value, said, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/infusions/", infusion(enrolled_patient, **{field: value}), format="json"
        )
        assert response.json()[field] == [said]

    def test_a_long_unreadable_value_is_shown_cut_short(self, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/infusions/", infusion(enrolled_patient, infused_on="9" * 5000), format="json"
        )
        assert response.json()["infused_on"] == [
            f"“{'9' * 40}…” is not a date: use YYYY-MM-DD, with a day that exists in that month."
        ]

    def test_a_readable_but_impossible_number_keeps_its_range_message(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        data = infusion(enrolled_patient, dose_mg="9.9") | {"status": "given", "diluent_ml": 100}
        page = client.post(f"/patients/{enrolled_patient.pk}/infusions/new/", data)
        # Readable but impossible: the range rule's message, not the "not a number" one.
        assert [label for label, _m in page.context["form"].error_summary()] == ["Dose (mg)"]
        assert "is not a number" not in str(page.context["form"].errors["dose_mg"])

    def test_a_cement_volume_and_a_lab_value_name_the_value_too(self, clinician, enrolled_patient):
        api = api_client_for(clinician)
        number = enrolled_patient.screening_number
        lab = api.post("/api/v1/lab-draws/", {"patient": number, "timepoint": "baseline", "drawn_on": "2020-01-07",
                                              "results": {"alp": "1,5"}}, format="json")  # fmt: skip
        assert lab.json()["results"]["alp"][0].startswith("“1,5” is not a number")
        pvp = api.post("/api/v1/pvp-procedures/", {"patient": number, "performed_on": "2020-01-10",
                       "approach": "bipedicular", "operator": "Dr Li",
                       "levels": [{"level": "T12", "cement_ml": "2,5"}]}, format="json")  # fmt: skip
        assert level_error(pvp.json(), 0)["cement_ml"][0].startswith("“2,5” is not a number")

    @pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e309"])
    def test_bare_json_tokens_are_refused(self, token, clinician, enrolled_patient):
        """Python's json reads NaN and Infinity (and 1e309 as infinity); none may reach the database."""
        body = json.dumps(infusion(enrolled_patient)).replace('"4.0"', token)
        response = api_client_for(clinician).post("/api/v1/infusions/", body, content_type="application/json")
        assert response.status_code == 400 and response.json()
        assert not Infusion.objects.exists()

    @pytest.mark.parametrize("value", [v for v in BAD_NUMBERS if v])
    def test_a_bad_lab_value_or_cement_volume_is_refused_naming_it(self, value, clinician, enrolled_patient):
        api = api_client_for(clinician)
        lab = api.post(
            "/api/v1/lab-draws/",
            {
                "patient": enrolled_patient.screening_number,
                "timepoint": "baseline",
                "drawn_on": "2020-01-07",
                "results": {"alp": value},
            },
            format="json",
        )
        assert lab.status_code == 400 and "alp" in lab.json()["results"]
        pvp = api.post(
            "/api/v1/pvp-procedures/",
            {
                "patient": enrolled_patient.screening_number,
                "performed_on": "2020-01-10",
                "approach": "bipedicular",
                "operator": "Dr Li",
                "levels": [{"level": "T12", "cement_ml": "2.5"}, {"level": "L1", "cement_ml": value}],
            },
            format="json",
        )
        assert pvp.status_code == 400 and "cement_ml" in level_error(pvp.json(), 1)
        assert not LabDraw.objects.exists() and not PvpProcedure.objects.exists()

    @pytest.mark.parametrize("value", PAGE_BAD_NUMBERS)
    def test_the_pages_refuse_a_bad_number_naming_the_field(self, value, client, clinician, enrolled_patient):
        client.force_login(clinician)
        page = client.post(
            f"/patients/{enrolled_patient.pk}/infusions/new/",
            infusion(enrolled_patient, dose_mg=value) | {"status": "given", "diluent_ml": 100},
        )
        assert page.status_code == 200
        assert {label for label, _message in page.context["form"].error_summary()} == {"Dose (mg)"}
        labs = client.post(
            f"/patients/{enrolled_patient.pk}/labs/new/",
            {"timepoint": "baseline", "drawn_on": "2020-01-07", "alp_value": value},
        )
        assert "alp_value" in labs.context["form"].errors
        assert not Infusion.objects.exists() and not LabDraw.objects.exists()

    def test_an_unreadable_number_is_not_also_called_missing(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        data = infusion(enrolled_patient, dose_mg="NaN") | {"status": "given", "diluent_ml": 100}
        page = client.post(f"/patients/{enrolled_patient.pk}/infusions/new/", data)
        assert page.context["form"].error_summary() == [
            ("Dose (mg)", "“NaN” is not a number: use digits, with a point or a comma for decimals (1.5 or 1,5).")
        ]

    @pytest.mark.parametrize("value", ["1,5", "NaN", "Infinity", "1e309"])
    def test_an_import_names_the_row_and_field_of_a_bad_number(self, value, clinician, enrolled_patient):
        text = (
            "screening_number,cycle,infused_on,status,dose_mg,diluent_ml,duration_min,creatinine_umol_l\n"
            f'{enrolled_patient.screening_number},1,2020-01-13,given,"{value}",100,20,70\n'
        )
        _records, problems = imports.check(clinician, "infusion", text.encode())
        assert {(p.row, p.field, p.value) for p in problems} == {(1, "dose_mg", value)}


# --- dates ------------------------------------------------------------------------------------


class TestDates:
    @pytest.mark.parametrize("value", BAD_DATES)
    def test_the_api_refuses_an_impossible_date_naming_the_field(self, value, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/infusions/", infusion(enrolled_patient, infused_on=value), format="json"
        )
        assert response.status_code == 400 and "infused_on" in response.json()

    @pytest.mark.parametrize("value", BAD_DATES)
    def test_the_page_refuses_an_impossible_date_naming_the_field(self, value, client, clinician, enrolled_patient):
        client.force_login(clinician)
        page = client.post(
            f"/patients/{enrolled_patient.pk}/pain/new/",
            {"timepoint": "baseline", "assessed_on": value, "who_grade": 2},
        )
        assert {label for label, _message in page.context["form"].error_summary()} == {"Assessed on"}

    def test_the_api_and_the_page_name_the_impossible_date(self, client, clinician, enrolled_patient):
        said = "“2026-02-30” is not a date: use YYYY-MM-DD, with a day that exists in that month."
        response = api_client_for(clinician).post(
            "/api/v1/infusions/", infusion(enrolled_patient, infused_on="2026-02-30"), format="json"
        )
        assert response.json()["infused_on"] == [said]
        client.force_login(clinician)
        page = client.post(
            f"/patients/{enrolled_patient.pk}/pain/new/",
            {"timepoint": "baseline", "assessed_on": "2026-02-30", "who_grade": 2},
        )
        assert page.context["form"].error_summary() == [("Assessed on", said)]
        assert said in page.content.decode()  # shown to the user, not only in the form's errors

    @pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01"])
    def test_an_import_names_the_row_and_field_of_an_impossible_date(self, value, clinician, enrolled_patient):
        number = enrolled_patient.screening_number
        text = f"screening_number,timepoint,assessed_on,who_grade\n{number},baseline,{value},2\n"
        _records, problems = imports.check(clinician, "pain", text.encode())
        assert [(p.row, p.field, p.value) for p in problems] == [(1, "assessed_on", value)]


# --- query strings ----------------------------------------------------------------------------

HOSTILE_PARAMETERS = ["\x00", "'; DROP TABLE trials_patient; --", "<script>alert(1)</script>", "患者 🦴", "2026-02-30"]
LIST_URLS = [
    "/patients/?q={v}&site={v}&status={v}&isotype={v}&page={v}",
    "/screenings/log/?site={v}&result={v}&from={v}&to={v}",
    "/screenings/flow/?site={v}",
    "/dashboard/?site={v}&isotype={v}&fracture_region={v}",
    "/queries/?status={v}",
    "/api/v1/patients/?patient={v}&site={v}",
    "/api/v1/pain-assessments/?patient={v}&site={v}&timepoint={v}",
    "/api/v1/data-queries/?status={v}",
    "/api/v1/outcomes/?site={v}&isotype={v}&fracture_region={v}",
]


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize("value", HOSTILE_PARAMETERS)
def test_hostile_filters_never_cause_a_server_error(url, value, client, data_manager, patient_a):
    from urllib.parse import quote

    client.force_login(data_manager)
    response = client.get(url.format(v=quote(value)))
    assert response.status_code in (200, 400), (url, value, response.status_code)
    if "<script>" in value:
        assert value.encode() not in response.content


# --- multi-part saves: all or nothing ---------------------------------------------------------


def nothing_saved(*models):
    assert not any(model.objects.exists() for model in models)
    assert not Events.objects.filter(
        pgh_model__in=[
            "trials.PvpProcedureEvent",
            "trials.TreatedLevelEvent",
            "trials.LabDrawEvent",
            "trials.LabResultEvent",
        ]
    ).exists()


class TestAllOrNothing:
    @pytest.mark.parametrize("bad", ["20", "NaN", "-1", ""])
    def test_a_pvp_page_with_one_bad_level_of_three_saves_nothing(self, bad, client, clinician, enrolled_patient):
        client.force_login(clinician)
        page = client.post(
            f"/patients/{enrolled_patient.pk}/pvp/", levels_form(("T11", "2.5"), ("T12", bad), ("L1", "4"))
        )
        assert page.status_code == 200 and page.context["formset"].errors[1]
        nothing_saved(PvpProcedure, TreatedLevel)

    @pytest.mark.parametrize(
        "bad",
        [
            {"level": "T12", "cement_ml": "20"},
            {"level": "S1", "cement_ml": "2"},
            {"level": "T12", "cement_ml": "2", "leakage": "everywhere"},
            {"cement_ml": "2"},
        ],
    )
    def test_an_api_pvp_with_one_bad_level_of_three_saves_nothing(self, bad, clinician, enrolled_patient):
        response = api_client_for(clinician).post(
            "/api/v1/pvp-procedures/",
            {
                "patient": enrolled_patient.screening_number,
                "performed_on": "2020-01-10",
                "approach": "bipedicular",
                "operator": "Dr Li",
                "levels": [{"level": "T11", "cement_ml": "2.5"}, bad, {"level": "L1", "cement_ml": "4"}],
            },
            format="json",
        )
        assert response.status_code == 400 and level_error(response.json(), 1)
        nothing_saved(PvpProcedure, TreatedLevel)

    def test_a_failed_api_edit_keeps_the_saved_levels(self, clinician, enrolled_patient):
        procedure = factories.PvpProcedureFactory(patient=enrolled_patient)
        factories.TreatedLevelFactory(procedure=procedure, level="T12", cement_ml="2.5")
        response = api_client_for(clinician).put(
            f"/api/v1/pvp-procedures/{procedure.pk}/",
            {
                "patient": enrolled_patient.screening_number,
                "performed_on": "2020-01-10",
                "approach": "bipedicular",
                "operator": "Dr Li",
                "version": procedure.version,
                "reason": "levels corrected",
                "levels": [{"level": "T11", "cement_ml": "2.5"}, {"level": "T12", "cement_ml": "NaN"}],
            },
            format="json",
        )
        assert response.status_code == 400
        assert list(TreatedLevel.objects.values_list("level", flat=True)) == ["T12"]
        procedure.refresh_from_db()
        assert procedure.version == 1

    def test_a_lab_draw_with_one_bad_result_saves_nothing(self, client, clinician, enrolled_patient):
        api = api_client_for(clinician)
        response = api.post(
            "/api/v1/lab-draws/",
            {
                "patient": enrolled_patient.screening_number,
                "timepoint": "baseline",
                "drawn_on": "2020-01-07",
                "results": {"alp": 120, "calcium": "2.3", "creatinine": "Infinity"},
            },
            format="json",
        )
        assert response.status_code == 400 and list(response.json()["results"]) == ["creatinine"]
        client.force_login(clinician)
        page = client.post(
            f"/patients/{enrolled_patient.pk}/labs/new/",
            {
                "timepoint": "baseline",
                "drawn_on": "2020-01-07",
                "alp_value": "120",
                "calcium_value": "2.3",
                "creatinine_value": "1,500",
            },
        )
        assert list(page.context["form"].errors) == ["creatinine_value"]
        nothing_saved(LabDraw, LabResult)
