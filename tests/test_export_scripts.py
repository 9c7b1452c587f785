"""The analysis scripts inside the exports reproduce the dashboard: R on the CSV export, PSPP on the SPSS one.

Each test unzips an export into a temporary folder, runs the script there as a statistician would
(`Rscript analysis.R`, `pspp analysis.sps`) and compares its figures with GET /api/v1/outcomes/.
R and GNU PSPP are required, not optional: `make test` and CI install them, and a missing one fails.

Tolerances:
- R writes 17 significant digits, so R and the dashboard (scipy) must agree to 1e-9 relative (absolute
  1e-12 for values at zero, e.g. a mean difference of 0), far tighter than any figure is shown. One
  exception: the Shapiro-Wilk p to 1e-7 relative. scipy's `shapiro` evaluates the normal quantiles and
  the tail area with the AS 111 / AS 66 approximations (about 9 digits), R with qnorm / pnorm, so the
  two differ by up to ~3e-8 relative for the same W (measured over 6,000 samples; W itself agrees to
  ~1e-9).
- PSPP prints rounded values: each must be the dashboard's value rounded to the digits PSPP shows
  (8 decimals in the tables, 3 for the Sig. columns, 12 significant digits in the summary list).
  Plus 1e-11 relative: PSPP's functions (GSL) and scipy differ in the last digits (the exact CI's
  inverse beta by ~1e-13 relative; R's agrees with PSPP's). PSPP 1.6's Shapiro-Wilk is wrong for
  fewer than 6 values (analysis.sps says why), so both cohorts
  have at least 6 pairs of ALP, calcium and QoL.
"""

import csv
import io
import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from scipy import stats

from tests import factories
from trials import exports, protocol, services
from trials.models import PainAssessment, User

pytestmark = pytest.mark.django_db

TIMEOUT_SECONDS = 120
PAIRED_NUMBERS = ("n", "before_mean", "before_sd", "after_mean", "after_sd", "mean_diff", "t", "df", "p",
                  "cohens_dz", "shapiro_p", "wilcoxon_p")  # fmt: skip
# PSPP labels of the three paired variables (analysis.sps VARIABLE LABELS) -> the dashboard's names.
PSPP_PAIRED = {"ALP": "alp", "Calcium": "calcium", "QoL total": "qol_total"}
PSPP_SUMMARY = {"alp": "alp", "calcium": "calcium", "qol_total": "qol"}


# --- running the scripts ------------------------------------------------------------------------


def unzip_export(user, fmt: str, folder: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(exports.render(user, fmt).content)) as archive:
        archive.extractall(folder)
    return folder


def run(command: list[str], folder: Path) -> subprocess.CompletedProcess:
    assert shutil.which(command[0]), f"{command[0]} is not installed (make test installs R and PSPP)"
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def r_results(folder: Path) -> dict[tuple[str, str], float | None]:
    """analysis_results.csv: (analysis, statistic) -> number, None where R left it empty."""
    report = run(["Rscript", "analysis.R"], folder)
    assert "Analysis population" in report.stdout
    with open(folder / "analysis_results.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {(row["analysis"], row["statistic"]): float(row["value"]) if row["value"] else None for row in rows}


def pspp_tables(folder: Path) -> list[tuple[str, list[list[str]]]]:
    """The output tables of `pspp analysis.sps` as (title, rows)."""
    done = run(["pspp", "analysis.sps", "-O", "format=csv", "-o", "output.csv"], folder)
    assert "error" not in done.stdout.lower() + done.stderr.lower(), done.stdout + done.stderr
    tables = []
    for block in (folder / "output.csv").read_text(encoding="utf-8").split("\n\n"):
        lines = block.strip().splitlines()
        if lines and lines[0].startswith("Table: "):
            tables.append((lines[0].removeprefix("Table: "), list(csv.reader(lines[1:]))))
    return tables


def tables_titled(tables, title: str) -> list[list[list[str]]]:
    return [rows for name, rows in tables if name == title]


def outcomes(client, user) -> dict:
    client.force_login(user)
    response = client.get("/api/v1/outcomes/")
    assert response.status_code == 200
    return response.json()


# --- comparing ----------------------------------------------------------------------------------


def dashboard_figures(result: dict) -> dict[tuple[str, str], float | None]:
    """The API's figures under the names of analysis_results.csv."""
    figures = {("population", "enrolled"): result["enrolment"]["enrolled"]}
    for variable, paired in result["paired"].items():
        figures |= {(variable, key): paired[key] for key in PAIRED_NUMBERS}
        low, high = paired["diff_ci95"] or (None, None)
        figures |= {(variable, "diff_ci95_low"): low, (variable, "diff_ci95_high"): high}
    for analysis in ("tumour_response", "pain_relief"):
        rate = result[analysis]
        low, high = rate["ci95"] or (None, None)
        figures |= {(analysis, key): rate[key] for key in ("n", "responders", "rate")}
        figures |= {(analysis, code): count for code, count in rate["counts"].items()}
        figures |= {(analysis, "ci95_low"): low, (analysis, "ci95_high"): high}
    return figures


def assert_r_matches_dashboard(r: dict, result: dict) -> None:
    assert {analysis for analysis, _statistic in r} == {*result["paired"], "population", "tumour_response",
                                                        "pain_relief"}  # fmt: skip
    for (analysis, statistic), expected in dashboard_figures(result).items():
        actual = r[(analysis, statistic)]
        what = f"{analysis} {statistic}: R {actual!r}, dashboard {expected!r}"
        if expected is None:
            assert actual is None, what
        else:
            rel = 1e-7 if statistic == "shapiro_p" else 1e-9
            assert actual == pytest.approx(expected, rel=rel, abs=1e-12), what


def assert_printed(text: str, expected: float | None, what: str, rel: float = 1e-11) -> None:
    """`text` is PSPP's rounding of `expected` to the digits it shows ("." = system-missing)."""
    if expected is None:
        assert text.strip() in ("", "."), f"{what}: PSPP {text!r}, dashboard None"
        return
    mantissa, _e, exponent = text.strip().upper().partition("E")
    places = len(mantissa.partition(".")[2])
    half_unit = 0.5 * 10.0 ** (int(exponent or 0) - places)
    assert abs(float(text) - expected) <= half_unit * (1 + 1e-9) + rel * abs(expected), (
        f"{what}: PSPP {text!r}, dashboard {expected!r}"
    )


def assert_pspp_matches_dashboard(tables, result: dict) -> None:
    paired = result["paired"]
    # T-TEST: t and df; Sig. (2-tailed) to the 3 decimals PSPP prints.
    [test] = tables_titled(tables, "Paired Samples Test")
    pairs = {row[1].split(" at ")[0]: row for row in test if row[0].startswith("Pair")}
    assert set(pairs) == set(PSPP_PAIRED)
    for label, variable in PSPP_PAIRED.items():
        row, expected = pairs[label], paired[variable]
        assert_printed(row[5], expected["diff_ci95"][0], f"{variable} CI low")
        assert_printed(row[6], expected["diff_ci95"][1], f"{variable} CI high")
        assert_printed(row[7], expected["t"], f"{variable} t")
        assert int(row[8]) == expected["df"]
        assert_printed(row[9], expected["p"], f"{variable} p")
    # The summary list at the end: t, df and P (from CDF.T) to 12 significant digits, dz, the rates.
    summary = {}
    for rows in tables_titled(tables, "Data List"):
        summary |= dict(zip(rows[0], rows[1], strict=True))
    for variable, prefix in PSPP_SUMMARY.items():
        expected = paired[variable]
        assert int(summary[f"{prefix}_n"]) == expected["n"]
        for name, key in (("mean", "mean_diff"), ("t", "t"), ("p", "p"), ("dz", "cohens_dz")):
            assert_printed(summary[f"{prefix}_{name}"], expected[key], f"{variable} {key} (summary)")
        assert_printed(summary[f"{prefix}_df"], expected["df"], f"{variable} df (summary)")
    for analysis, prefix in (("tumour_response", "response"), ("pain_relief", "relief")):
        expected = result[analysis]
        assert int(summary[f"{prefix}_n"]) == expected["n"]
        assert int(summary[f"{prefix}_k"]) == expected["responders"]
        assert_printed(summary[f"{prefix}_rate"], expected["rate"], f"{analysis} rate")
        assert_printed(summary[f"{prefix}_ci_low"], expected["ci95"][0], f"{analysis} CI low")
        assert_printed(summary[f"{prefix}_ci_high"], expected["ci95"][1], f"{analysis} CI high")
    # FREQUENCIES: the EBMT categories and the pain relief classes (a category nobody had is not listed).
    [ebmt] = tables_titled(tables, "EBMT response at follow-up")
    counts = {row[1].split()[0]: int(row[2]) for row in ebmt if row[0] in ("Valid", "") and row[1]}
    assert {code: counts.get(code, 0) for code in result["tumour_response"]["counts"]} == result["tumour_response"][
        "counts"
    ]
    [relief] = tables_titled(tables, "Pain relief (WHO grade drop)")
    counts = {row[1].split()[0]: int(row[2]) for row in relief if row[0] in ("Valid", "") and row[1]}
    assert {code: counts.get(code, 0) for code in result["pain_relief"]["counts"]} == result["pain_relief"]["counts"]
    # EXAMINE: Shapiro-Wilk of the differences (with the scipy allowance explained above).
    normality = {rows[-1][0].split(" difference")[0]: rows[-1] for rows in tables_titled(tables, "Tests of Normality")}
    for label, variable in PSPP_PAIRED.items():
        assert_printed(normality[label][3], paired[variable]["shapiro_p"], f"{variable} Shapiro-Wilk p", rel=1e-7)


# --- the demo: the paper's 16 patients ------------------------------------------------------------


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    return User.objects.get(username="data_manager")


def test_r_script_reproduces_the_dashboard_on_the_demo(client, demo, tmp_path):
    folder = unzip_export(demo, "csv", tmp_path)
    assert (folder / "analysis.R").read_text().startswith("# PVP + zoledronic acid")
    result = outcomes(client, demo)
    r = r_results(folder)
    assert_r_matches_dashboard(r, result)
    assert r[("tumour_response", "rate")] == 0.875 and r[("pain_relief", "rate")] == 0.9375  # the paper's rates


def test_spss_syntax_reproduces_the_dashboard_in_pspp_on_the_demo(client, demo, tmp_path):
    folder = unzip_export(demo, "sav", tmp_path)
    tables = pspp_tables(folder)
    assert_pspp_matches_dashboard(tables, outcomes(client, demo))


# --- a second cohort: missing values, ties, zero differences, deleted and invisible records ----------

SIGNED_AT = datetime(2020, 1, 7, 1, 0, tzinfo=UTC)
BASELINE, FOLLOW_UP = date(2020, 1, 7), date(2020, 5, 1)

# Enrolled patients 1-8, (baseline, follow-up) per analyte; None = not measured.
LABS = {
    # 7 pairs without ties or zeros: the exact Wilcoxon P. Patient 3 has a follow-up draw without ALP.
    "alp": [("200.5", "150.25"), ("180", "120.5"), ("250.75", None), ("300", "180"), ("150", "162.5"),
            ("220.1", "140.3"), ("190", "95.5"), ("260.4", "230")],
    # 2.4 -> 2.3 and 4.7 -> 4.6 are a tie only once binary noise is rounded away; 3.0 -> 3.0 is a zero.
    "calcium": [("2.4", "2.3"), ("4.7", "4.6"), ("3.0", "3.0"), ("2.5", "2.7"), ("3.2", "2.9"), ("2.2", None),
                ("2.8", "2.45"), ("3.5", "3.1")],
    # All differences equal: no t, CI, dz or Shapiro-Wilk; the Wilcoxon normal approximation (ties).
    "hemoglobin": [("100", "110"), ("120", "130"), (None, None), ("90", "100")] + [(None, None)] * 4,
    # One pair only: no SD and no test.
    "creatinine": [("70", "75"), (None, "80")] + [(None, None)] * 6,
}  # fmt: skip
# The 12 QoL items at baseline and follow-up; one missing item leaves the total missing.
QOL = [
    ([2] * 12, [4] * 12),  # +24
    ([1] * 8 + [3] * 4, [3] * 4 + [1] * 8),  # 0: a zero difference
    ([3] * 12, [4] * 11 + [None]),  # the follow-up total is missing: no pair
    ([2] * 12, [3] * 12),  # +12
    ([2] * 12, [3] * 12),  # +12: a tie
    ([None] + [2] * 11, [3] * 12),  # the baseline total is missing: no pair
    ([2] * 12, [5] * 6 + [4] * 6),  # +30
    ([3] * 12, [4] * 12),  # +12: a tie
]
# WHO grade at baseline and follow-up: marked, marked, effective, ineffective, worse (ineffective),
# patient 6 whose follow-up assessment was deleted (no pair), ineffective, effective.
PAIN = [(3, 1), (3, 0), (2, 1), (1, 1), (1, 2), (3, 3), (2, 2), (3, 2)]
RESPONSES = ["CR", "PD", "NC", "MR", None, "PR", "PR", None]


def enrolled_patient(site, coordinator):
    patient = factories.PatientFactory(site=site)
    factories.ScreeningFactory(patient=patient, signed_by=coordinator, signed_at=SIGNED_AT)
    return services.enrol_patient(patient, enrolled_on=BASELINE)


def lab_draw(patient, timepoint: str, drawn_on: date, **values):
    draw = factories.LabDrawFactory(patient=patient, timepoint=timepoint, drawn_on=drawn_on)
    for analyte, value in values.items():
        factories.LabResultFactory(lab_draw=draw, analyte=analyte, value=Decimal(value), critical_confirmed=True)


def qol(patient, timepoint: str, assessed_on: date, items: list[int | None]):
    factories.QolAssessmentFactory(patient=patient, timepoint=timepoint, assessed_on=assessed_on,
                                   **dict(zip(protocol.QOL_ITEM_CODES, items, strict=True)))  # fmt: skip


@pytest.fixture
def cohort(site_a, site_b, coordinator, data_manager):
    """Eight enrolled patients at site A (the data manager's site) with the values above, one screened
    patient at site A who was never enrolled, and one enrolled patient at site B (not visible)."""
    for index in range(len(PAIN)):
        patient = enrolled_patient(site_a, coordinator)
        for timepoint, on, column in (("baseline", BASELINE, 0), ("follow_up", FOLLOW_UP, 1)):
            values = {analyte: pairs[index][column] for analyte, pairs in LABS.items() if pairs[index][column]}
            if values or timepoint == "follow_up":
                lab_draw(patient, timepoint, on, **values)
            qol(patient, timepoint, on, QOL[index][column])
            factories.PainAssessmentFactory(patient=patient, timepoint=timepoint, assessed_on=on,
                                            who_grade=PAIN[index][column])  # fmt: skip
        if RESPONSES[index]:
            factories.TumourResponseFactory(patient=patient, category=RESPONSES[index], assessed_on=FOLLOW_UP)
        if index == 5:
            services.soft_delete(PainAssessment.objects.get(patient=patient, timepoint="follow_up"),
                                 user=data_manager, reason="entered for the wrong patient")  # fmt: skip
    # Baseline values of a patient who was not enrolled, and a patient of another site: neither counts.
    screened = factories.PatientFactory(site=site_a)
    factories.ScreeningFactory(patient=screened, i3="no")
    lab_draw(screened, "baseline", BASELINE, alp="999", calcium="2.5")
    factories.PainAssessmentFactory(patient=screened, timepoint="baseline", assessed_on=BASELINE, who_grade=3)
    elsewhere = enrolled_patient(site_b, factories.UserFactory(role="coordinator", site=site_b))
    lab_draw(elsewhere, "baseline", BASELINE, alp="400")
    lab_draw(elsewhere, "follow_up", FOLLOW_UP, alp="100")
    factories.TumourResponseFactory(patient=elsewhere, category="PD", assessed_on=FOLLOW_UP)
    return data_manager


def test_the_second_cohort_exercises_missing_values_ties_and_zeros(client, cohort):
    result = outcomes(client, cohort)
    paired = result["paired"]
    assert {variable: paired[variable]["n"] for variable in paired} == {
        "alp": 7, "calcium": 7, "qol_total": 6, "creatinine": 1, "hemoglobin": 3}  # fmt: skip
    assert paired["alp"]["wilcoxon_p"] == pytest.approx(4 / 2**7)  # exact: V = 1, P(V <= 1) = 2 / 2^7, two-sided
    assert paired["hemoglobin"]["t"] is None and paired["hemoglobin"]["wilcoxon_p"] is not None
    assert paired["creatinine"]["before_sd"] is None
    assert result["tumour_response"]["counts"] == {"CR": 1, "PR": 2, "MR": 1, "NC": 1, "PD": 1}
    assert result["pain_relief"]["counts"] == {"marked": 2, "effective": 2, "ineffective": 3}


def test_r_script_reproduces_the_dashboard_with_missing_values_ties_and_zeros(client, cohort, tmp_path):
    r = r_results(unzip_export(cohort, "csv", tmp_path))
    assert_r_matches_dashboard(r, outcomes(client, cohort))
    assert r[("population", "enrolled")] == 8 and r[("population", "registered")] == 9


def test_spss_syntax_reproduces_the_dashboard_in_pspp_with_missing_values_ties_and_zeros(client, cohort, tmp_path):
    tables = pspp_tables(unzip_export(cohort, "sav", tmp_path))
    result = outcomes(client, cohort)
    assert_pspp_matches_dashboard(tables, result)
    # Exact Wilcoxon (ALP: 7 differences, no ties or zeros) is the dashboard's P; PSPP prints 3 decimals.
    [wilcoxon] = [rows for rows in tables_titled(tables, "Test Statistics") if rows[0][1].startswith("ALP")]
    statistic = {row[0]: row[1:] for row in wilcoxon}
    assert_printed(statistic["Exact Sig. (2-tailed)"][0], result["paired"]["alp"]["wilcoxon_p"], "alp Wilcoxon")
    # Calcium (a zero and a tie that exists only after rounding): PSPP ranks the same differences as
    # the dashboard; its Z is the normal approximation without the continuity correction.
    diffs = [round(float(after) - float(before), 9) for before, after in LABS["calcium"] if after]
    expected = stats.wilcoxon([d for d in diffs if d], method="approx", correction=False)
    assert_printed(statistic["Z"][1].lstrip("-"), abs(expected.zstatistic), "calcium Wilcoxon Z")


def test_both_scripts_run_on_an_export_without_patients(client, data_manager, tmp_path):
    r = r_results(unzip_export(data_manager, "csv", tmp_path / "csv"))
    assert_r_matches_dashboard(r, outcomes(client, data_manager))
    assert r[("alp", "n")] == 0 and r[("tumour_response", "rate")] is None
    assert pspp_tables(unzip_export(data_manager, "sav", tmp_path / "sav")) == []  # no cases, no tables
