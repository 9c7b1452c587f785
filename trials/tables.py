"""The dashboard's tables as header + rows, for CSV, Excel and the manuscript document.

Numbers stay numbers (full precision) in CSV and Excel so they can be analysed further; only the
manuscript table is formatted (mean ± SD, p as `<0.001`).
"""

import csv
import io

from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from trials import protocol
from trials.statistics import format_p

TABLES = ("enrolment", "demographics", "tumour_response", "pain_relief", "paired", "adverse_events")

PAIRED_LABELS = {"alp": "ALP", "calcium": "Ca2+", "qol_total": gettext_lazy("QoL total")}


def variable_label(code: str) -> str:
    """The variable's name in the active language (the analyte's own label when it is not one of the paper's)."""
    if code in PAIRED_LABELS:
        return str(PAIRED_LABELS[code])
    analyte = protocol.ANALYTES_BY_CODE.get(code)
    return analyte.label.for_language(get_language()) if analyte else code


def unit_label(unit: str) -> str:
    """A unit as printed: symbols stay (U/L, mmol/L); the QoL scale's "points" is a word."""
    return _("points") if unit == "points" else unit


def table(name: str, outcomes: dict, ae_detail: dict) -> tuple[list[str], list[list]]:
    builders = {
        "enrolment": _enrolment,
        "demographics": _demographics,
        "tumour_response": lambda o: _categorical(o["tumour_response"]),
        "pain_relief": lambda o: _categorical(o["pain_relief"]),
        "paired": _paired,
        "adverse_events": lambda o: _adverse_events(ae_detail),
    }
    return builders[name](outcomes)


def _enrolment(outcomes):
    flow = outcomes["enrolment"]
    return ["step", "patients"], [[step, count] for step, count in flow.items()]


def _demographics(outcomes):
    demo = outcomes["demographics"]
    rows = [["n", "", demo["n"]]]
    rows += [["sex", sex, count] for sex, count in demo["sex"].items()]
    rows += [["age", statistic, value] for statistic, value in demo["age"].items()]
    for group in ("isotype", "fracture_region", "fractured_count"):
        rows += [[group, key, count] for key, count in demo[group].items()]
    return ["characteristic", "category", "value"], rows


def _categorical(outcome):
    n = outcome["n"]
    rows = [[category, count, count / n if n else None] for category, count in outcome["counts"].items()]
    low, high = outcome["ci95"] or (None, None)
    rows.append(["responders", outcome["responders"], outcome["rate"], low, high])
    return ["category", "patients", "proportion", "ci95_low", "ci95_high"], rows


PAIRED_COLUMNS = ["n", "unit", "before_mean", "before_sd", "after_mean", "after_sd", "mean_diff", "diff_ci95_low",
                  "diff_ci95_high", "t", "df", "p", "cohens_dz", "shapiro_p", "wilcoxon_p", "reason"]  # fmt: skip


def _paired(outcomes):
    rows = []
    for variable, result in outcomes["paired"].items():
        low, high = result["diff_ci95"] or (None, None)
        values = result | {"diff_ci95_low": low, "diff_ci95_high": high}
        rows.append([variable, *(values[column] for column in PAIRED_COLUMNS)])
    return ["variable", *PAIRED_COLUMNS], rows


def _adverse_events(detail):
    rows = []
    for term, row in detail["by_term"].items():
        related = "; ".join(f"{key}: {count}" for key, count in row["related_to"].items())
        rows.append([term, row["events"], row["patients"], row["max_grade"], related])
    rows.append(["any adverse event", "", detail["patients_with_any"], "", ""])
    rows.append(["serious", detail["serious"], "", "", ""])
    return ["term", "events", "patients", "worst_ctcae_grade", "related_to"], rows


# Excel and LibreOffice run a cell starting with one of these as a formula (CSV / formula injection:
# `=HYPERLINK(...)` typed into a free-text field would become a live link in the data manager's sheet);
# a leading tab or carriage return is skipped before the check, so it counts too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value):
    """Text a spreadsheet would run as a formula, with an apostrophe in front (OWASP's advice) so that
    it shows as text; numbers and everything else unchanged (-1.5 stays a number)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def as_csv(header, rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(["" if value is None else spreadsheet_text(value) for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")  # the BOM lets Excel open Chinese text correctly


def as_xlsx(title: str, header, rows, caption: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append([caption])
    sheet.append(header)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([spreadsheet_text(value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def paired_docx(outcomes: dict, caption: str) -> bytes:
    """Table 1 of the paper (mean ± SD before and after, t, P) extended with the difference and its
    CI, dz, Shapiro-Wilk and Wilcoxon p, as a Word table a journal's template accepts."""
    from docx import Document
    from docx.shared import Pt

    def fmt(value, digits=2):
        return "—" if value is None else f"{value:.{digits}f}"

    document = Document()
    document.add_heading(_("Table 1. Before and after treatment (paired comparisons)"), level=2)
    document.add_paragraph(caption)
    header = [_("Variable"), "n", _("Before"), _("After"), _("Mean difference (95% CI)"), "t", "P", "dz",
              _("Shapiro–Wilk P"), _("Wilcoxon P")]  # fmt: skip
    grid = document.add_table(rows=1, cols=len(header))
    grid.style = "Table Grid"
    for cell, text in zip(grid.rows[0].cells, header, strict=True):
        cell.text = text
        cell.paragraphs[0].runs[0].font.bold = True
    to = _("to")  # in a confidence interval: "-3.1 to -1.2" (a dash would read as a minus)
    for variable, r in outcomes["paired"].items():
        ci = r["diff_ci95"]
        cells = grid.add_row().cells
        values = [
            f"{variable_label(variable)} ({unit_label(r['unit'])})",
            str(r["n"]),
            f"{fmt(r['before_mean'])} ± {fmt(r['before_sd'])}",
            f"{fmt(r['after_mean'])} ± {fmt(r['after_sd'])}",
            f"{fmt(r['mean_diff'])} ({fmt(ci[0])} {to} {fmt(ci[1])})" if ci else fmt(r["mean_diff"]),
            fmt(r["t"], 3),
            format_p(r["p"]),
            fmt(r["cohens_dz"]),
            format_p(r["shapiro_p"]),
            format_p(r["wilcoxon_p"]),
        ]
        for cell, text in zip(cells, values, strict=True):
            cell.text = text
    for row in grid.rows:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                for run in paragraph.runs:
                    run.font.size = Pt(9)
    document.add_paragraph(
        _("Mean ± SD (n − 1). Difference = after − before. Paired t test, two-sided; dz = mean difference / SD "
          "of differences; Wilcoxon signed-rank test with zero differences dropped.")
    )  # fmt: skip
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
