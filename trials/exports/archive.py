"""One export, start to finish: read the study in one snapshot, write the files, checksum them.

The tabular formats (CSV, SPSS, Stata, SAS transport) download as a zip: one file per form, the
data dictionary, a README, a manifest (`manifest.json`: export time, user, data version, the row
count of every table and the SHA-256 of every file) with the same checksums as `SHA256SUMS` for
`sha256sum -c`, and for CSV and SPSS the analysis script. Excel and ODM are single files that carry
the same facts inside (an "about" sheet; the ODM header). The SHA-256 of the whole download is
shown on the job page and in the API and recorded in the audit trail (the export log).
"""

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from trials.exports import statistical
from trials.exports.dictionary import data_dictionary
from trials.exports.frames import StudyData, read_study, snapshot
from trials.exports.variables import LANGUAGES, form_names
from trials.protocol import STUDY_OID, STUDY_TITLE
from trials.tables import FORMULA_STARTS, spreadsheet_text

FORMATS = ("csv", "xlsx", "sav", "dta", "xpt", "odm", "casebooks")
# Analysis scripts that reproduce the dashboard's figures from the files of one format.
SCRIPTS_DIR = Path(__file__).with_name("scripts")
SCRIPTS: dict[str, tuple[str, ...]] = {"sav": ("analysis.sps",), "csv": ("analysis.R",)}
DEIDENTIFIED = "de-identified (no date of birth, hospital number or initials)"
CONTENT_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "odm": "application/xml"}


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    content_type: str
    file_name: str
    manifest: dict

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size(self) -> int:
        return len(self.content)


def option_problem(fmt: str, *, identifiable: bool, shift_dates: bool, drop_free_text: bool) -> str:
    """Why these export options do not go together, or "" (the page and the API say it alike)."""
    if (shift_dates or drop_free_text) and identifiable:
        return "Shifting dates and dropping free text are for de-identified exports."
    if (shift_dates or drop_free_text) and fmt == "odm":
        return (
            "Shifting dates and dropping free text are for the table formats: ODM carries the audit trail's real times."
        )
    if (shift_dates or drop_free_text) and fmt == "casebooks":
        return "Shifting dates and dropping free text are for the table formats: a casebook shows the record as it is."
    return ""


def render(
    user, fmt: str, *, identifiable: bool = False, language: str = "en", audit: bool = True,
    shift_dates: bool = False, drop_free_text: bool = False, progress=None,
) -> ExportFile:  # fmt: skip
    """The export of the user's sites in one format; `progress(percent)` is told how far it got.

    `audit` (ODM only): include the audit trail (a Transactional ODM) or only the current values.
    `shift_dates`, `drop_free_text` (de-identified table formats): see trials/exports/deidentify.py.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(LANGUAGES)}")
    problem = option_problem(fmt, identifiable=identifiable, shift_dates=shift_dates, drop_free_text=drop_free_text)
    if problem:
        raise ValueError(problem)
    report = progress or (lambda percent: None)
    reading_share = 10 if fmt == "casebooks" else 50  # of the progress bar
    with snapshot():
        study = read_study(user, identifiable=identifiable, shift_dates=shift_dates, drop_free_text=drop_free_text,
                           progress=lambda done, total: report(reading_share * done // total))  # fmt: skip
        trail = None
        if fmt == "casebooks":
            from trials.exports.casebooks import casebook_files

            files = casebook_files(user, identifiable=identifiable, language=language,
                                   progress=lambda share: report(10 + int(85 * share)))  # fmt: skip
        if fmt == "odm":
            from trials.exports import odm  # here, not at the top: odm imports export_info from this module

            trail = odm.read_trail(study, audit=audit)
    report(50)
    manifest = _manifest(user, fmt, language, study)
    stamp = study.exported_at.strftime("%Y%m%d-%H%M")
    kind = "identifiable" if identifiable else "deidentified"
    if fmt == "odm":
        from trials.exports import odm

        content = odm.odm_bytes(study, trail, language=language, audit=audit, manifest=manifest)
        return ExportFile(content, CONTENT_TYPES["odm"], f"pvp-study-{kind}-{stamp}.odm.xml", manifest)
    if fmt == "xlsx":
        return ExportFile(_workbook(study, manifest), CONTENT_TYPES["xlsx"], f"pvp-study-{kind}-{stamp}.xlsx", manifest)
    if fmt != "casebooks":
        files, continued = _tables(study, fmt, language, lambda share: report(50 + 45 * share))
        files["data_dictionary.csv"] = _csv_bytes(data_dictionary(study.variables, continued, study.dropped))
    for script in SCRIPTS.get(fmt, ()):
        files[script] = (SCRIPTS_DIR / script).read_bytes()
    manifest["files"] = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                         for name, data in files.items()}  # fmt: skip
    files["README.txt"] = readme(manifest).encode("utf-8")
    files["SHA256SUMS"] = "".join(f"{entry['sha256']}  {name}\n" for name, entry in manifest["files"].items()).encode()
    files["manifest.json"] = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    report(100)
    return ExportFile(buffer.getvalue(), "application/zip", f"pvp-study-{kind}-{stamp}-{fmt}.zip", manifest)


def _manifest(user, fmt: str, language: str, study: StudyData) -> dict:
    from django.conf import settings

    return {
        "study": STUDY_OID,
        "title": STUDY_TITLE,
        "format": fmt,
        "language": language,
        "identifiable": study.identifiable,
        "exported_at": study.exported_at.astimezone(UTC).isoformat(timespec="seconds"),
        "exported_by": {"username": user.get_username(), "name": user.get_full_name() or user.get_username()},
        "data_version": study.data_version,
        "database_snapshot": study.database_snapshot,
        "data_frozen_since": study.frozen_since.astimezone(UTC).isoformat(timespec="seconds")
        if study.frozen_since
        else None,
        "tables": study.row_counts,
        "deidentification": {
            "dates_shifted": study.dates_shifted,
            "free_text_dropped": sorted({f"{v.form}.{v.name}" for v in study.dropped}),
        },  # fmt: skip
        "software": {
            "application": "pvp-myeloma-edc",
            "pyreadstat": _version("pyreadstat"),
            "time_zone": settings.TIME_ZONE,
        },  # fmt: skip
    }


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def export_info(manifest: dict) -> str:
    """One line on what the export is: when, by whom, which data state, de-identified or not."""
    since = manifest["data_frozen_since"]
    state = f"data frozen since {since}" if since else "data not frozen (live)"
    kind = "identifiable" if manifest["identifiable"] else DEIDENTIFIED
    if manifest["deidentification"]["dates_shifted"]:
        kind += "; dates shifted by a secret offset per patient"
    if manifest["deidentification"]["free_text_dropped"]:
        kind += "; free text left out"
    return (
        f"{manifest['title']} export, {manifest['exported_at']} (UTC) by {manifest['exported_by']['username']}; "
        f"data version {manifest['data_version']}; {state}; {kind}."
    )


def readme(manifest: dict) -> str:
    tables = "\n".join(f"  {form:<14} {rows:>8} rows" for form, rows in manifest["tables"].items())
    files = "\n".join(f"  {name:<22} {entry['sha256']}" for name, entry in manifest["files"].items())
    if manifest["format"] == "casebooks":
        return f"""{export_info(manifest)}

One casebook per patient (casebooks/casebook-<study id or screening number>.pdf): every form with its
values, source-data verification, signature, data queries and a summary of its audit trail, as the
casebook page prints it, all read at the same moment. The rows of the study's tables at that moment:
{tables}

Files and their SHA-256 checksums (also in SHA256SUMS: run `sha256sum -c SHA256SUMS` in this folder):
{files}
"""
    return f"""{export_info(manifest)}

Tables (one file per form; every row names its patient by screening_number):
{tables}

Files and their SHA-256 checksums (also in SHA256SUMS: run `sha256sum -c SHA256SUMS` in this folder):
{files}

data_dictionary.csv describes every variable: labels in English and Chinese, type, unit, range,
codes and their labels, and the names used where a format limits them (Stata, SAS transport).
Dates are calendar dates; times are UTC. A missing value is empty (CSV), system-missing (SPSS),
"." (Stata, SAS). See the README of the application for how to open each format.
"""


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 with a BOM (so Excel reads Chinese), CRLF rows (RFC 4180: a carriage return inside a
    value is then quoted too), empty for missing, each value as the database gives it (52, not 52.0),
    text a spreadsheet would run as a formula defused."""
    out = frame.copy()
    for column in out.columns:
        if any(isinstance(value, str) and value.startswith(FORMULA_STARTS) for value in out[column]):
            out[column] = out[column].map(spreadsheet_text).astype(object)
    return out.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def _tables(study: StudyData, fmt: str, language: str, progress) -> tuple[dict[str, bytes], dict]:
    files, continued = {}, {}
    for done, (form, frame) in enumerate(study.frames.items()):
        progress(done / len(study.frames))
        variables = study.variables[form]
        label = f"{STUDY_TITLE}: {form}"
        if fmt == "csv":
            files[f"{form}.csv"] = _csv_bytes(frame)
        elif fmt == "sav":
            files[f"{form}.sav"] = statistical.sav_bytes(frame, variables, language, label)
        elif fmt == "dta":
            files[f"{form}.dta"] = statistical.dta_bytes(frame, variables, language, form_names(form, variables), label)
        else:
            content, extra = statistical.xpt_bytes(frame, variables, form_names(form, variables))
            files[f"{form}.xpt"] = content
            continued |= {(form, name): names for name, names in extra.items()}
    return files, continued


def _workbook(study: StudyData, manifest: dict) -> bytes:
    """A sheet per form, the dictionary and an "about" sheet, streamed row by row by openpyxl's
    write-only workbook (through pandas, 10,000 patients took 40 s: it styles each of 2 million cells)."""
    from openpyxl import Workbook

    about = pd.DataFrame(
        [["export", export_info(manifest)], ["exported_at (UTC)", manifest["exported_at"]],
         ["exported_by", manifest["exported_by"]["username"]], ["data_version", manifest["data_version"]],
         *[[f"rows: {form}", rows] for form, rows in manifest["tables"].items()]],
        columns=["item", "value"],
    )  # fmt: skip
    sheets = {**{form[:31]: frame for form, frame in study.frames.items()},
              "data_dictionary": data_dictionary(study.variables, dropped=study.dropped), "about": about}  # fmt: skip
    workbook = Workbook(write_only=True)
    for name, frame in sheets.items():
        sheet = workbook.create_sheet(name)
        sheet.append(list(frame.columns))
        for row in frame.itertuples(index=False, name=None):
            sheet.append([_cell(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value):
    """Excel has no time zones (times are UTC, as the column label says), and must not run typed
    text as a formula."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, float) and value != value:  # NaN: an empty cell
        return None
    return spreadsheet_text(value)
