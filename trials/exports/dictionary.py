"""The data dictionary that travels with every export: one row per variable of every form.

Besides the meaning (labels in English and Chinese, type, unit, range, codes with their labels,
SPSS measurement level) it gives each variable's name where a format limits names (Stata 32
characters, SAS transport 8) and the numbers Stata stores for coded text.
"""

import pandas as pd

from trials.exports import deidentify
from trials.exports.statistical import stata_codes
from trials.exports.variables import BOOLEAN, Variable, form_names

COLUMNS = [
    "variable", "form", "label_en", "label_zh", "type", "decimals", "unit", "range", "measure", "choices",
    "choices_zh", "derived", "stata_name", "stata_values", "xpt_dataset", "xpt_name", "deidentification",
]  # fmt: skip


def _choices(variable: Variable, language: str) -> str:
    labels = variable.value_labels(language)
    text = "; ".join(f"{code}={label}" for code, label in labels.items())
    # SPSS, Stata and SAS store a yes/no field as 0/1; CSV and Excel keep the words.
    return f"{text} (CSV, Excel: False/True)" if variable.kind == BOOLEAN else text


def _stata_values(variable: Variable) -> str:
    if variable.coded_text:
        return "; ".join(f"{number}={code}" for code, number in stata_codes(variable).items())
    return "0=no; 1=yes" if variable.kind == BOOLEAN else ""


def data_dictionary(
    variables: dict[str, list[Variable]], continued: dict | None = None, dropped: tuple[Variable, ...] = ()
) -> pd.DataFrame:
    """`continued`: {(form, variable): [continuation names]} of long text cut in a SAS transport file;
    `dropped`: variables a de-identified export left out, listed with that note."""
    rows = []
    for form, columns in variables.items():
        names = form_names(form, columns)
        for variable in columns:
            xpt_name = names.xpt[variable.name]
            extra = (continued or {}).get((form, variable.name))
            if extra:
                xpt_name += " (continued in " + ", ".join(extra) + ")"
            rows.append({
                "variable": variable.name, "form": form, "label_en": variable.label_en, "label_zh": variable.label_zh,
                "type": variable.kind, "decimals": variable.decimals if variable.kind == "decimal" else "",
                "unit": variable.unit, "range": variable.range_text, "measure": variable.measure,
                "choices": _choices(variable, "en"), "choices_zh": _choices(variable, "zh"),
                "derived": "yes" if variable.derived else "", "stata_name": names.stata[variable.name],
                "stata_values": _stata_values(variable), "xpt_dataset": names.xpt_table, "xpt_name": xpt_name,
                "deidentification": variable.note,
            })  # fmt: skip
    for variable in dropped:
        rows.append({"variable": variable.name, "form": variable.form, "label_en": variable.label_en,
                     "label_zh": variable.label_zh, "type": variable.kind,
                     "deidentification": deidentify.NOTE_DROPPED})  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS).fillna("")
