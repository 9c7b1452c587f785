"""Every value of every table round-trips through every format, read back by R (haven and read.csv),
GNU PSPP and pyreadstat, for the paper's demo study, a study full of awkward values and an empty one;
R's paired t-test and response rate from the .sav equal the outcomes API to 1e-9.

The values expected are the database's, as `exports.read_study` reads them (one snapshot). Limits
that are the formats', not ours: a timestamp in Stata is in milliseconds (PSPP prints seconds), and
SAS transport numbers are IBM floating point (compared to 12 significant digits, far more than the
places any field keeps).
"""

import io
import math
import subprocess
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from tests import export_readers as readers
from tests import factories
from trials import exports
from trials.exports.statistical import XPT_LABEL_BYTES, ascii_label, spss_format, stata_codes
from trials.exports.variables import BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, TEXT, Variable, form_names
from trials.models import User
from trials.services import enrol_patient

pytestmark = pytest.mark.django_db

LONG_DESCRIPTION = ('骨水泥渗漏 cement leak, "quoted"; line\nbreak 😀 ' * 120)[:5000]
STATA_TEXT_CODED = "stata_coded"


@pytest.fixture
def demo_user(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    return User.objects.get(username="data_manager")


@pytest.fixture
def awkward_user(site_a, coordinator, data_manager):
    """Missing values in every column that may be empty, a leap day, Chinese text, emoji, a 5,000-character
    description (entered before the 4,000-character limit), and a patient never enrolled."""
    never = factories.PatientFactory(
        site=site_a,
        weight_kg=None,
        height_cm=None,
        diagnosis_date=None,
        fractured_levels=[],
        initials="张三",
        hospital_number="住院-001",
    )
    factories.ScreeningFactory(
        patient=never,
        kps=None,
        life_expectancy_over_90_days="unknown",
        i5="unknown",
        consent_date=None,
        screened_on=date(2024, 2, 29),
    )
    patient = factories.PatientFactory(
        site=site_a,
        sex="F",
        date_of_birth=date(1960, 2, 29),
        isotype="light_chain",
        light_chain="lambda",
        iss_stage="III",
        fractured_levels=["T12", "L1", "L5"],
    )
    signed_at = datetime.combine(date(2024, 2, 29), time(23, 59, 58, 123000), tzinfo=ZoneInfo("Asia/Shanghai"))
    factories.ScreeningFactory(
        patient=patient,
        screened_on=date(2024, 2, 29),
        consent_date=date(2024, 2, 29),
        signed_by=coordinator,
        signed_at=signed_at,
        signed_name="协调员 Coordinator 😀",
        signature_meaning="Eligibility reviewed",
    )
    enrol_patient(patient, enrolled_on=date(2024, 2, 29))
    pvp = factories.PvpProcedureFactory(
        patient=patient, performed_on=date(2024, 3, 1), bed_rest_days=None, operator="王医生 Dr Wang"
    )
    factories.TreatedLevelFactory(procedure=pvp, level="T12", cement_ml=Decimal("0.5"), leakage="venous")
    factories.TreatedLevelFactory(procedure=pvp, level="L1", cement_ml=Decimal("12.0"))
    factories.InfusionFactory(patient=patient, cycle=1, infused_on=date(2024, 3, 4), creatinine_umol_l=None)
    factories.InfusionFactory(
        patient=patient,
        cycle=2,
        infused_on=date(2024, 4, 1),
        status="held",
        held_reason="肾功能 creatinine ↑",
        dose_mg=None,
        duration_min=None,
        diluent_ml=None,
    )
    draw = factories.LabDrawFactory(patient=patient, timepoint="baseline", drawn_on=date(2024, 2, 29), fasting=None)
    factories.LabResultFactory(
        lab_draw=draw, analyte="calcium", value=Decimal("2.4950"), entered_value=Decimal("10.0"), entered_unit="mg/dL"
    )
    factories.LabResultFactory(lab_draw=draw, analyte="alp", value=Decimal("4999.9999"))
    factories.LabResultFactory(lab_draw=draw, analyte="m_protein", value=Decimal("0"))
    follow_up = factories.LabDrawFactory(
        patient=patient, timepoint="follow_up", drawn_on=date(2024, 6, 3), fasting=True
    )
    factories.LabResultFactory(lab_draw=follow_up, analyte="alp", value=Decimal("88.1"))
    factories.PainAssessmentFactory(patient=patient, timepoint="baseline", assessed_on=date(2024, 2, 29), vas=None)
    factories.PainAssessmentFactory(
        patient=patient, timepoint="follow_up", assessed_on=date(2024, 6, 3), who_grade=0, vas=Decimal("7.5")
    )
    factories.QolAssessmentFactory(patient=patient, timepoint="baseline", assessed_on=date(2024, 2, 29), q_sleep=None)
    factories.TumourResponseFactory(
        patient=patient,
        assessed_on=date(2024, 6, 3),
        category="CR",
        marrow_plasma_cells_pct=None,
        immunofixation_negative="unknown",
    )
    factories.AdverseEventFactory(
        patient=patient,
        term="other",
        other_term="其他事件 😀",
        onset_on=date(2024, 3, 1),
        resolved_on=None,
        outcome="ongoing",
        serious=True,
        description=LONG_DESCRIPTION,
    )
    factories.AdverseEventFactory(
        patient=patient,
        term="fever",
        onset_on=date(2024, 3, 5),
        resolved_on=date(2024, 3, 6),
        max_temperature_c=Decimal("38.5"),
        description="",
    )
    factories.EndOfStudyFactory(patient=patient, end_date=date(2024, 6, 3), end_reason="completed", notes="完成 ✅")
    return data_manager


@pytest.fixture
def empty_user(site_a, data_manager):
    return data_manager


# --- comparing ----------------------------------------------------------------------------------


def _inverse_stata(variable: Variable) -> dict[int, str]:
    return {number: code for code, number in stata_codes(variable).items()}


def _same(variable: Variable, want, got, *, fmt: str, reader: str) -> bool:
    """Whether the value read back is the database's value, in the reader's own types."""
    if variable.kind == TEXT:
        if fmt == "dta" and variable.coded_text:
            got = _inverse_stata(variable)[int(float(got))] if got not in (None, "") else ""
        return ("" if want is None else str(want)) == ("" if got is None else got)
    if isinstance(got, str):  # R and PSPP give text
        got = {DATE: readers.iso_date, DATETIME: _r_datetime}.get(variable.kind, readers.number)(got)
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got))
    if got is None or (isinstance(got, float) and math.isnan(got)):
        return False
    if variable.kind in (INTEGER, BOOLEAN):
        return float(got) == int(want)
    if variable.kind == DECIMAL:
        if fmt == "xpt" or reader == "pspp":
            return math.isclose(float(got), float(want), rel_tol=1e-12, abs_tol=1e-12)
        return float(got) == float(want)  # the same double, bit for bit
    if variable.kind == DATE:
        return (got.date() if isinstance(got, datetime) else got) == want
    tolerance = 1.0 if reader == "pspp" else 0.001
    return abs((readers.utc_naive(got) - readers.utc_naive(want)).total_seconds()) <= tolerance


def _r_datetime(text: str):
    return None if text == "" else datetime.fromisoformat(text)


def _pspp_value(variable: Variable, text: str):
    if variable.kind == DATE:
        return readers.us_date(text)
    if variable.kind == DATETIME:
        return readers.us_datetime(text)
    if variable.kind == TEXT:
        return text
    text = text.strip()
    return None if text in ("", ".") else float(text)


def _column(row: dict, variable: Variable, fmt: str, names, continued: dict[str, list[str]]):
    if fmt == "sav":
        return row[variable.name]
    if fmt == "dta":
        return row[names.stata[variable.name]]
    name = names.xpt[variable.name]
    pieces = [row[name], *(row[extra] for extra in continued.get(variable.name, []))]
    return "".join(piece or "" for piece in pieces) if variable.kind == TEXT else pieces[0]


def _check_values(study, tables: dict, *, fmt: str, reader: str, continued: dict) -> int:
    """Compare every value; the number of values compared."""
    compared = 0
    for form, frame in study.frames.items():
        variables = study.variables[form]
        names = form_names(form, variables)
        rows = tables[form]
        assert len(rows) == len(frame), (fmt, reader, form)
        for index, (want_row, got_row) in enumerate(zip(frame.to_dict("records"), rows, strict=True)):
            for variable in variables:
                got = _column(got_row, variable, fmt, names, continued.get(form, {}))
                if reader == "pspp":
                    got = _pspp_value(variable, got)
                want = want_row[variable.name]
                assert _same(variable, want, got, fmt=fmt, reader=reader), (
                    f"{reader} reads {fmt} {form}.{variable.name} row {index}: "
                    f"{got!r:.120}, the database has {want!r:.120}"
                )
                compared += 1
    return compared


def _continued(folder, fmt) -> dict:
    """{form: {variable: [continuation names]}} from the dictionary of a SAS transport export."""
    if fmt != "xpt":
        return {}
    import pandas as pd

    dictionary = pd.read_csv(folder / "data_dictionary.csv", encoding="utf-8-sig", keep_default_na=False)
    out: dict = {}
    for row in dictionary.itertuples():
        if "(continued in " in row.xpt_name:
            extra = row.xpt_name.split("(continued in ")[1].rstrip(")").split(", ")
            out.setdefault(row.form, {})[row.variable] = extra
    return out


def _check_metadata_haven(study, tables, fmt: str, language: str) -> None:
    expected_class = {DATE: "Date", DATETIME: "POSIXct", TEXT: "character"}
    for form, variables in study.variables.items():
        names = form_names(form, variables)
        _rows, meta = tables[form]
        for variable in variables:
            name = {"sav": variable.name, "dta": names.stata[variable.name], "xpt": names.xpt[variable.name]}[fmt]
            info = meta[name]
            klass = expected_class.get(variable.kind, "numeric")
            if fmt == "dta" and variable.coded_text:
                klass = "numeric"
            assert info["class"] == klass, (fmt, form, variable.name, info)
            if fmt == "xpt":
                assert len(name) <= 8 and len(info["label"].encode()) <= XPT_LABEL_BYTES
                assert info["label"] == ascii_label(variable.label_en), (form, variable.name)
                continue
            limit = 80 if fmt == "dta" else None  # Stata's longest variable label
            assert info["label"] == variable.label(language)[:limit], (fmt, form, variable.name)
            if variable.coded or variable.kind == BOOLEAN:
                labels = dict(pair.split("=", 1) for pair in info["labels"].split("\x1f"))
                if fmt == "dta" and variable.coded_text:
                    wanted = {
                        str(n): c.label(language) for c in variable.choices for n in [stata_codes(variable)[c.code]]
                    }
                else:
                    wanted = {str(code): label for code, label in variable.value_labels(language).items()}
                assert labels == wanted, (fmt, form, variable.name)
            if fmt == "sav" and spss_format(variable):
                assert info["format"] == spss_format(variable), (form, variable.name)


def _check_metadata_pspp(study, tables, language: str) -> None:
    for form, variables in study.variables.items():
        _rows, dictionary = tables[form]
        header = dictionary.index(["Name", "Position", "Label", "Measurement Level", "Role", "Width", "Alignment",
                                   "Print Format", "Write Format"])  # fmt: skip
        described = {row[0]: row for row in dictionary[header + 1 : header + 1 + len(variables)]}
        pairs = {(row[1], row[2]) for row in dictionary if len(row) == 3}
        for variable in variables:
            row = described[variable.name]
            assert (row[2], row[3]) == (variable.label(language), variable.measure.capitalize()), (form, row)
            if spss_format(variable):  # PSPP names DATETIME20 with its (zero) decimal places
                assert row[7] == spss_format(variable) + (".0" if variable.kind == DATETIME else ""), (form, row)
            for code, label in variable.value_labels(language).items():
                assert (str(code), label) in pairs, (form, variable.name, code, label)


def _check_csv(study, tables: dict, reader: str) -> int:
    compared = 0
    for form, frame in study.frames.items():
        rows = tables[form]
        assert len(rows) == len(frame), (reader, form)
        for want_row, got_row in zip(frame.to_dict("records"), rows, strict=True):
            for variable in study.variables[form]:
                want, text = want_row[variable.name], got_row[variable.name]
                if want is None or want == "":
                    assert text == "", (reader, form, variable.name, text)
                elif variable.kind == DECIMAL:
                    assert Decimal(text) == want, (reader, form, variable.name)
                elif variable.kind == INTEGER:
                    assert int(text) == want, (reader, form, variable.name)
                elif variable.kind == DATE:
                    assert date.fromisoformat(text) == want, (reader, form, variable.name)
                elif variable.kind == DATETIME:
                    assert datetime.fromisoformat(text) == want, (reader, form, variable.name)
                else:
                    assert text == str(want), (reader, form, variable.name, text[:80])
                compared += 1
    return compared


def check_every_format(user, tmp_path, language="en") -> dict:
    study = exports.read_study(user)
    compared = {}
    for fmt in ("sav", "dta", "xpt"):
        folder = readers.unzip(exports.render(user, fmt, language=language).content, tmp_path / fmt)
        continued = _continued(folder, fmt)
        haven = readers.haven_tables(folder, fmt)
        _check_metadata_haven(study, haven, fmt, language)
        compared[f"{fmt} haven"] = _check_values(study, {f: rows for f, (rows, _m) in haven.items()}, fmt=fmt,
                                                 reader="haven", continued=continued)  # fmt: skip
        native = readers.pyreadstat_tables(folder, fmt)
        compared[f"{fmt} pyreadstat"] = _check_values(study, {f: rows for f, (rows, _m) in native.items()}, fmt=fmt,
                                                      reader="pyreadstat", continued=continued)  # fmt: skip
        if fmt == "sav":
            pspp = readers.pspp_tables(folder)
            _check_metadata_pspp(study, pspp, language)
            compared["sav pspp"] = _check_values(study, {f: rows for f, (rows, _d) in pspp.items()}, fmt=fmt,
                                                 reader="pspp", continued={})  # fmt: skip
    folder = readers.unzip(exports.render(user, "csv").content, tmp_path / "csv")
    compared["csv R"] = _check_csv(study, readers.r_csv_tables(folder), "R read.csv")
    compared["csv python"] = _check_csv(
        study, {form: readers._csv_rows(folder / f"{form}.csv") for form in study.frames}, "python csv"
    )
    return compared


# --- the tests ------------------------------------------------------------------------------------


def test_the_demo_study_round_trips_through_every_reader(demo_user, tmp_path):
    compared = check_every_format(demo_user, tmp_path)
    assert all(count > 3000 for count in compared.values()), compared


def test_awkward_values_round_trip_through_every_reader(awkward_user, tmp_path):
    compared = check_every_format(awkward_user, tmp_path, language="zh")
    assert all(count > 150 for count in compared.values()), compared
    # The values a statistician would look at first, as R's haven reads them.
    haven = readers.haven_tables(tmp_path / "sav", "sav")
    patients = haven["patient"][0]
    assert [row["study_id"] for row in patients] == ["", "AAA-001"]  # never enrolled: empty, not "nan"
    assert patients[0]["weight_kg"] == "" and patients[0]["age_at_enrolment"] == ""  # system-missing
    assert patients[1]["enrolled_on"] == "2024-02-29"
    events = haven["adverse_event"][0]
    assert events[0]["description"] == LONG_DESCRIPTION and len(events[0]["description"]) == 5000
    assert events[0]["other_term"] == "其他事件 😀"
    stata = readers.haven_tables(tmp_path / "dta", "dta")
    assert stata["adverse_event"][0][0]["description"] == LONG_DESCRIPTION  # a strL, kept whole
    sas = readers.pyreadstat_tables(tmp_path / "xpt", "xpt")
    first = sas["adverse_event"][0][0]
    stem = form_names("adverse_event", exports.study_variables()["adverse_event"]).xpt["description"][:6]
    pieces = [value for name, value in first.items() if name.startswith(stem)]
    assert "".join(pieces) == LONG_DESCRIPTION and len(pieces) > 25  # 200-byte pieces, never half a character


def test_a_study_with_no_patients_exports_every_variable_and_no_rows(empty_user, tmp_path):
    compared = check_every_format(empty_user, tmp_path)
    assert set(compared.values()) == {0}
    for fmt in ("sav", "dta", "xpt"):
        tables = readers.haven_tables(tmp_path / fmt, fmt)
        assert set(tables) == set(exports.FORMS)
        for form, (rows, meta) in tables.items():
            assert rows == [] and len(meta) >= len(exports.study_variables()[form]), (fmt, form)


R_OUTCOMES = r"""
suppressPackageStartupMessages(library(haven))
patients <- read_sav("patient.sav"); labs <- read_sav("lab_result.sav"); responses <- read_sav("response.sav")
enrolled <- patients$screening_number[patients$study_id != ""]
alp <- labs[labs$analyte == "alp" & labs$screening_number %in% enrolled, ]
pairs <- merge(alp[alp$timepoint == "baseline", c("screening_number", "value")],
               alp[alp$timepoint == "follow_up", c("screening_number", "value")], by = "screening_number")
test <- t.test(pairs$value.y, pairs$value.x, paired = TRUE)
assessed <- responses[responses$screening_number %in% enrolled & responses$category != "", ]
responders <- sum(assessed$category %in% c("CR", "PR", "MR"))
rate <- binom.test(responders, nrow(assessed))
cat(sprintf("%.17g", c(nrow(pairs), test$statistic, test$parameter, test$p.value, test$estimate, test$conf.int,
                       nrow(assessed), responders / nrow(assessed), rate$conf.int)), sep = "\n")
"""


def test_r_reads_the_sav_files_and_reproduces_the_outcomes_api(demo_user, client, tmp_path):
    folder = readers.unzip(exports.render(demo_user, "sav").content, tmp_path / "sav")
    (folder / "outcomes.R").write_text(R_OUTCOMES)
    done = subprocess.run(["Rscript", "--vanilla", "outcomes.R"], cwd=folder, env=readers.UTF8, capture_output=True,
                          text=True, timeout=120, check=True)  # fmt: skip
    n, t, df, p, mean_diff, low, high, assessed, rate, rate_low, rate_high = map(float, done.stdout.split())
    client.force_login(demo_user)
    outcomes = client.get("/api/v1/outcomes/").json()
    alp, response = outcomes["paired"]["alp"], outcomes["tumour_response"]
    assert (n, df, assessed) == (alp["n"], alp["df"], response["n"]) == (16, 15, 16)
    for ours, r_value in ((alp["t"], t), (alp["p"], p), (alp["mean_diff"], mean_diff), (alp["diff_ci95"][0], low),
                          (alp["diff_ci95"][1], high), (response["rate"], rate), (response["ci95"][0], rate_low),
                          (response["ci95"][1], rate_high)):  # fmt: skip
        assert math.isclose(ours, r_value, rel_tol=1e-9, abs_tol=1e-12), (ours, r_value)
    assert response["rate"] == 14 / 16
