"""The outcome dashboard and GET /api/v1/outcomes/: the paper's figures, live, from the data."""

import csv
import io
from datetime import date

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories

pytestmark = pytest.mark.django_db

CONTRACT = {
    "data_version": int,
    "generated_at": str,
    "enrolment": {key: int for key in
                  ("screened", "eligible", "ineligible", "enrolled", "with_pvp", "completed_infusions", "assessed")},
    "demographics": {"n": int, "sex": {"M": int, "F": int}, "age": {"mean": float, "sd": float, "min": float,
                     "max": float}, "isotype": dict, "fracture_region": dict, "fractured_count": dict},
    "tumour_response": {"n": int, "counts": {key: int for key in ("CR", "PR", "MR", "NC", "PD")},
                        "responders": int, "rate": float, "ci95": list},
    "pain_relief": {"n": int, "counts": {"marked": int, "effective": int, "ineffective": int}, "responders": int,
                    "rate": float, "ci95": list},
    "paired": dict,
    "adverse_events": {"patients_with_any": int, "serious": int, "by_term": dict},
}  # fmt: skip
PAIRED_KEYS = {"n", "unit", "before_mean", "before_sd", "after_mean", "after_sd", "mean_diff", "diff_ci95", "t", "df",
               "p", "cohens_dz", "shapiro_p", "wilcoxon_p", "reason"}  # fmt: skip


def assert_matches(value, shape, path="$"):
    if isinstance(shape, dict):
        assert isinstance(value, dict), path
        assert set(value) == set(shape), f"{path}: {sorted(value)} != {sorted(shape)}"
        for key, sub in shape.items():
            assert_matches(value[key], sub, f"{path}.{key}")
    elif shape is float:
        assert isinstance(value, int | float) and not isinstance(value, bool), path
    else:
        assert isinstance(value, shape), f"{path}: {type(value)}"


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    from trials.models import User

    return User.objects.get(username="investigator")


def api(client, user, **params):
    client.force_login(user)
    response = client.get("/api/v1/outcomes/", params)
    assert response.status_code == 200
    return response.json()


class TestWithTheDemoStudy:
    def test_the_json_follows_the_contract(self, client, demo):
        result = api(client, demo)
        assert_matches(result, CONTRACT)
        assert {"alp", "calcium", "qol_total"} <= set(result["paired"])
        for variable, row in result["paired"].items():
            assert set(row) == PAIRED_KEYS, variable
        for row in result["adverse_events"]["by_term"].values():
            assert set(row) == {"events", "patients", "max_grade"}

    def test_the_json_has_the_papers_figures(self, client, demo):
        result = api(client, demo)
        assert result["tumour_response"]["counts"] == {"CR": 1, "PR": 12, "MR": 1, "NC": 1, "PD": 1}
        assert result["tumour_response"]["rate"] == 0.875
        assert result["pain_relief"]["counts"] == {"marked": 9, "effective": 6, "ineffective": 1}
        assert result["pain_relief"]["rate"] == 0.9375
        assert result["demographics"]["sex"] == {"M": 10, "F": 6}
        assert result["demographics"]["age"]["mean"] == 62.5
        assert (result["demographics"]["age"]["min"], result["demographics"]["age"]["max"]) == (52, 83)
        assert result["demographics"]["isotype"] == {"IgA": 5, "IgG": 9, "IgM": 1, "non_secretory": 1}
        assert result["demographics"]["fracture_region"] == {"lumbar": 4, "thoracic": 3, "thoracolumbar": 9}
        assert result["demographics"]["fractured_count"] == {"2": 2, "3": 7, "4": 6, "5": 1}
        paired = result["paired"]
        summary = {k: tuple(round(paired[k][f], 2) for f in ("before_mean", "before_sd", "after_mean", "after_sd"))
                   for k in ("alp", "calcium", "qol_total")}  # fmt: skip
        assert summary == {
            "alp": (235.16, 51.07, 88.01, 10.22),
            "calcium": (4.56, 0.92, 3.51, 0.81),
            "qol_total": (21.06, 5.23, 42.06, 7.39),  # 5.24 is unreachable with integer totals (trials/demo.py)
        }
        # The paper's t for Ca2+ (8.221) and QoL (11.255) come out; its ALP t of 16.255 cannot (max 14.41).
        assert round(abs(paired["calcium"]["t"]), 1) == 8.2
        assert round(abs(paired["qol_total"]["t"]), 1) == 11.3
        assert round(abs(paired["alp"]["t"]), 2) == 14.41
        events = result["adverse_events"]
        assert {term: row["patients"] for term, row in events["by_term"].items()} == {
            "cement_leak_disc": 2, "cement_leak_paravertebral": 3, "fever": 2, "nausea": 2, "pancytopenia": 1,
            "hypocalcaemia": 2, "renal_dysfunction": 1,
        }  # fmt: skip
        # Two demo candidates were not enrolled: one screen failure (E1), one incomplete screening.
        assert result["enrolment"] == {"screened": 18, "eligible": 16, "ineligible": 1, "enrolled": 16,
                                       "with_pvp": 16, "completed_infusions": 16, "assessed": 16}  # fmt: skip

    def test_the_page_shows_the_same_figures(self, client, demo):
        client.force_login(demo)
        page = client.get("/dashboard/").content.decode()
        assert "14/16 = 87.5%" in page and "(95% CI 61.7–98.4%)" in page
        assert "15/16 = 93.75%" in page
        assert "235.16 ± 51.07" in page and "88.01 ± 10.22" in page
        assert "4.56 ± 0.92" in page and "3.51 ± 0.81" in page
        assert "21.06 ± 5.23" in page and "42.06 ± 7.39" in page
        assert "&lt;0.001" in page  # p below 0.001 as the manuscript shows it
        assert "62.5 ± 7.4 (52–83)" in page

    @pytest.mark.parametrize(
        ("params", "n"),
        [({"isotype": "IgA"}, 5), ({"fracture_region": "thoracic"}, 3), ({"site": "H01"}, 16), ({"site": "ZZ"}, 0)],
    )
    def test_filters_apply_to_json_and_page(self, client, demo, params, n):
        assert api(client, demo, **params)["demographics"]["n"] == n
        page = client.get("/dashboard/", params).content.decode()
        assert f"<tr><th>n</th><td>{n}</td></tr>" in page

    def test_another_sites_user_sees_none_of_it(self, client, demo, outsider):
        result = api(client, outsider)
        assert result["enrolment"]["screened"] == 0
        assert result["tumour_response"]["rate"] is None
        assert result["paired"]["alp"]["reason"].startswith("no patients")

    def test_every_table_downloads_as_csv_and_xlsx(self, client, demo):
        from openpyxl import load_workbook

        client.force_login(demo)
        for name in ("enrolment", "demographics", "tumour_response", "pain_relief", "paired", "adverse_events"):
            response = client.get(f"/dashboard/download/{name}.csv")
            assert response.status_code == 200
            rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
            assert len(rows) > 1, name
            workbook = load_workbook(io.BytesIO(client.get(f"/dashboard/download/{name}.xlsx").content))
            assert workbook.active.max_row == len(rows) + 1, name  # caption row + header + rows
        paired = list(
            csv.DictReader(io.StringIO(client.get("/dashboard/download/paired.csv").content.decode("utf-8-sig")))
        )
        alp = next(row for row in paired if row["variable"] == "alp")
        assert round(float(alp["before_mean"]), 2) == 235.16

    def test_the_paired_table_downloads_as_a_word_document(self, client, demo):
        from docx import Document

        client.force_login(demo)
        response = client.get("/dashboard/download/paired.docx", {"isotype": "IgG"})
        document = Document(io.BytesIO(response.content))
        cells = [cell.text for row in document.tables[0].rows for cell in row.cells]
        assert cells[:4] == ["Variable", "n", "Before", "After"]
        assert "ALP (U/L)" in cells and "9" in cells  # IgG only: 9 patients
        assert "Isotype: IgG" in "\n".join(p.text for p in document.paragraphs)


class TestLive:
    def test_the_version_answers_304_until_data_change(self, client, investigator, patient_a):
        client.force_login(investigator)
        first = client.get("/dashboard/version/")
        etag = first["ETag"]
        assert client.get("/dashboard/version/", HTTP_IF_NONE_MATCH=etag).status_code == 304
        factories.PainAssessmentFactory(patient=patient_a)
        changed = client.get("/dashboard/version/", HTTP_IF_NONE_MATCH=etag)
        assert changed.status_code == 200 and changed["ETag"] != etag

    def test_figures_are_recomputed_on_every_request(self, client, investigator, enrolled_patient):
        assert api(client, investigator)["tumour_response"]["n"] == 0
        factories.TumourResponseFactory(patient=enrolled_patient, category="PR", assessed_on=date(2020, 5, 1))
        assert api(client, investigator)["tumour_response"]["counts"]["PR"] == 1


class TestCost:
    def _patients(self, site, count):
        for _ in range(count):
            patient = factories.PatientFactory(site=site)
            factories.LabResultFactory(lab_draw=factories.LabDrawFactory(patient=patient))
            factories.AdverseEventFactory(patient=patient)

    def _queries(self, client, url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    def test_the_query_count_is_the_same_for_5_and_50_patients(self, client, investigator, site_a):
        client.force_login(investigator)
        self._patients(site_a, 5)
        page, json = self._queries(client, "/dashboard/"), self._queries(client, "/api/v1/outcomes/")
        self._patients(site_a, 45)
        assert self._queries(client, "/dashboard/") == page
        assert self._queries(client, "/api/v1/outcomes/") == json


class TestAccess:
    def test_anonymous_api_gets_401_and_the_page_redirects(self, client):
        assert client.get("/api/v1/outcomes/").status_code == 401
        assert client.get("/dashboard/").status_code == 302

    def test_a_user_without_a_study_role_is_refused(self, client, site_a):
        client.force_login(factories.UserFactory(site=site_a))
        assert client.get("/dashboard/").status_code == 403
        assert client.get("/api/v1/outcomes/").status_code == 403

    @pytest.mark.parametrize("role", ["clinician", "coordinator", "investigator", "data_manager"])
    def test_every_study_role_may_view(self, client, site_a, role):
        client.force_login(factories.UserFactory(role=role, site=site_a))
        assert client.get("/dashboard/").status_code == 200

    def test_an_unknown_download_is_not_found(self, client, investigator):
        client.force_login(investigator)
        assert client.get("/dashboard/download/enrolment.docx").status_code == 404
        assert client.get("/dashboard/download/secrets.csv").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_parallel_statements_give_the_same_figures(settings, monkeypatch):
    """With OUTCOMES_PARALLEL the two statements run on extra connections sharing one snapshot."""
    from trials.models import User
    from trials.outcomes import OutcomeFilters, outcomes_for_user

    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    user = User.objects.get(username="investigator")
    settings.OUTCOMES_PARALLEL = False
    sequential, _frames = outcomes_for_user(user, OutcomeFilters())
    settings.OUTCOMES_PARALLEL = True
    parallel, _frames = outcomes_for_user(user, OutcomeFilters())
    for result in (sequential, parallel):
        result.pop("generated_at")
    assert parallel == sequential
    assert parallel["tumour_response"]["rate"] == 0.875


def test_chart_series_joins_percentiles_when_there_are_too_many_patients_for_a_line_each(monkeypatch):
    import pandas as pd

    from trials import outcomes

    monkeypatch.setattr(outcomes, "PAIR_LINES_MAX", 4)
    values = {
        f"{variable}_{timepoint}": [None] * 6
        for variable in outcomes.PAIRED_ALWAYS
        for timepoint in ("baseline", "follow_up")
    }
    values |= {"alp_baseline": [100, 200, 300, 400, 500, None], "alp_follow_up": [50, 60, 70, 80, 90, 10]}
    values |= {
        "calcium_baseline": [2.1, 2.2, None, None, None, None],
        "calcium_follow_up": [2.3, 2.4, None, None, None, None],
    }
    patients = pd.DataFrame(
        values | {"enrolled": [True] * 6, "pain_baseline": [None] * 6, "pain_follow_up": [None] * 6}
    )
    frames = outcomes.StudyFrames(patients, pd.DataFrame())
    series = outcomes.chart_series(frames)
    # Five complete ALP pairs (> 4): the 10th, 25th, 50th, 75th and 90th percentiles, linear as R's type 7.
    assert series["percentiles"] == {"alp": [10, 25, 50, 75, 90]}
    assert series["lines"]["alp"] == [[140.0, 54.0], [200.0, 60.0], [300.0, 70.0], [400.0, 80.0], [460.0, 86.0]]
    assert series["lines"]["calcium"] == [[2.1, 2.3], [2.2, 2.4]]  # two pairs: a line each
