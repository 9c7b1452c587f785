"""SPSS (.sav), Stata (.dta) and SAS transport (.xpt) files of one form, written with pyreadstat.

Each column keeps its field's type: integers stay integers, decimals keep their places (display
format), dates are dates and timestamps datetimes (UTC), a missing number is system-missing and a
missing text is empty. Coded variables carry value labels from the model's choices where the
format has them (SPSS, Stata); SAS transport has none, and the data dictionary lists the codes.

- SPSS: UTF-8, names as designed, labels in the language asked for, measurement levels, string
  codes with their labels.
- Stata 14+ (format 118): Stata labels only whole numbers, so a coded text variable is stored as
  1, 2, ... in the order of the field's choices, labelled with the code's meaning; the dictionary
  gives each number. Text longer than 2,045 bytes is a strL, kept whole.
- SAS transport version 5 (what FDA and PMDA accept): names of 8 characters, labels of 40, text of
  200 bytes. Longer text continues in numbered variables (DSCRPT01, DSCRPT02, ...), as SDTM splits
  long values; labels are English in ASCII, as the format expects.
"""

import os
import tempfile

import numpy as np
import pandas as pd
import pyreadstat

from trials.exports.variables import BOOLEAN, DATE, DATETIME, DECIMAL, INTEGER, FormNames, Variable

STATA_LABEL_CHARS = 80
XPT_LABEL_BYTES = 40
XPT_TEXT_BYTES = 200


def _numbers(values: pd.Series, variable: Variable) -> pd.Series:
    if variable.kind in (INTEGER, BOOLEAN):
        return pd.Series(pd.array([None if v is None else int(v) for v in values], dtype="Int32"), index=values.index)
    return pd.Series([np.nan if v is None else float(v) for v in values], index=values.index, dtype="float64")


def _dates(values: pd.Series, variable: Variable) -> pd.Series:
    """Dates as date objects, timestamps as naive UTC datetimes; all missing: a numeric column of
    missing values (the writers cannot tell a date column from its values then; the format does)."""
    if values.isna().all():
        return pd.Series(np.nan, index=values.index, dtype="float64")
    if variable.kind == DATETIME:
        return pd.to_datetime(values, utc=True).dt.tz_localize(None)
    return values


def _texts(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if v is None else str(v)).astype(object)


def _native_column(values: pd.Series, variable: Variable) -> pd.Series:
    if variable.kind in (INTEGER, DECIMAL, BOOLEAN):
        return _numbers(values, variable)
    if variable.kind in (DATE, DATETIME):
        return _dates(values, variable)
    return _texts(values)


def _write(writer, frame: pd.DataFrame, suffix: str, **options) -> bytes:
    handle, path = tempfile.mkstemp(suffix=suffix)
    os.close(handle)
    try:
        writer(frame, path, **options)
        with open(path, "rb") as written:
            return written.read()
    finally:
        os.unlink(path)


def _width(variable: Variable) -> int:
    digits = len(str(int(variable.high))) if variable.high is not None else 8
    return max(8, digits + variable.decimals + 2)


# --- SPSS ------------------------------------------------------------------------------------------


def spss_format(variable: Variable) -> str | None:
    if variable.kind == DATE:
        return "SDATE10"  # 2024/02/29: year first, unambiguous in every locale
    if variable.kind == DATETIME:
        return "DATETIME20"
    if variable.kind == DECIMAL:
        return f"F{_width(variable)}.{variable.decimals}"
    if variable.kind in (INTEGER, BOOLEAN):
        return f"F{_width(variable)}.0"
    return None  # text: A<width>, from the longest value


def sav_bytes(frame: pd.DataFrame, variables: list[Variable], language: str, file_label: str = "") -> bytes:
    data = pd.DataFrame({v.name: _native_column(frame[v.name], v) for v in variables}, index=frame.index)
    formats = {v.name: fmt for v in variables if (fmt := spss_format(v))}
    return _write(
        pyreadstat.write_sav,
        data,
        ".sav",
        file_label=file_label,
        column_labels={v.name: v.label(language) for v in variables},
        variable_value_labels={v.name: v.value_labels(language) for v in variables if v.coded or v.kind == BOOLEAN},
        variable_measure={v.name: v.measure for v in variables},
        variable_format=formats,
    )


# --- Stata -----------------------------------------------------------------------------------------


def stata_codes(variable: Variable) -> dict[str, int]:
    """Code -> number for a coded text variable in Stata: its choices numbered from 1."""
    return {str(choice.code): number for number, choice in enumerate(variable.choices, start=1)}


def stata_format(variable: Variable) -> str | None:
    if variable.kind == DATE:
        return "%td"  # the plain forms: every reader (haven, pyreadstat, pandas) knows them as dates
    if variable.kind == DATETIME:
        return "%tc"
    if variable.kind == DECIMAL:
        return f"%{_width(variable)}.{variable.decimals}f"
    if variable.kind in (INTEGER, BOOLEAN) or variable.coded_text:
        return "%8.0g"
    return None


def dta_bytes(
    frame: pd.DataFrame, variables: list[Variable], language: str, names: FormNames, file_label: str = ""
) -> bytes:
    columns, value_labels = {}, {}
    for variable in variables:
        name = names.stata[variable.name]
        if variable.coded_text:
            codes = stata_codes(variable)
            unknown = {str(v) for v in frame[variable.name] if v is not None} - set(codes)
            if unknown:  # the database holds a code the field no longer offers: say so, do not guess
                raise ValueError(f"{variable.form}.{variable.name} holds {sorted(unknown)}, which is not one of "
                                 f"its codes ({', '.join(codes)}): Stata needs a number for each code")  # fmt: skip
            columns[name] = pd.Series(
                pd.array([None if v is None else codes[str(v)] for v in frame[variable.name]], dtype="Int32"),
                index=frame.index,
            )
            value_labels[name] = {codes[str(c.code)]: c.label(language) for c in variable.choices}
        else:
            columns[name] = _native_column(frame[variable.name], variable)
            if variable.coded or variable.kind == BOOLEAN:
                value_labels[name] = variable.value_labels(language)
    data = pd.DataFrame(columns, index=frame.index)
    formats = {names.stata[v.name]: fmt for v in variables if (fmt := stata_format(v))}
    return _write(
        pyreadstat.write_dta,
        data,
        ".dta",
        version=14,  # format 118: Unicode, strL (Stata 14 and later)
        file_label=file_label[:STATA_LABEL_CHARS],
        column_labels={names.stata[v.name]: v.label(language)[:STATA_LABEL_CHARS] for v in variables},
        variable_value_labels=value_labels,
        variable_format=formats,
    )


# --- SAS transport ---------------------------------------------------------------------------------


def xpt_format(variable: Variable) -> str | None:
    if variable.kind == DATE:
        return "DATE9."
    if variable.kind == DATETIME:
        return "DATETIME20."
    if variable.kind == DECIMAL:
        return f"{_width(variable)}.{variable.decimals}"
    if variable.kind in (INTEGER, BOOLEAN):
        return f"{_width(variable)}."
    return None


def utf8_prefix(text: str, limit: int) -> str:
    """The longest start of `text` whose UTF-8 form fits in `limit` bytes (never half a character)."""
    encoded = text.encode("utf-8")[:limit]
    return encoded.decode("utf-8", errors="ignore")


def split_utf8(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` UTF-8 bytes, on character boundaries.

    SAS pads text with blanks and drops them when read, so a piece never ends in a blank: the blanks
    before a cut move to the start of the next piece, where they are kept.
    """
    pieces = []
    while text:
        piece = utf8_prefix(text, limit)
        if len(piece) < len(text) and piece.rstrip(" "):
            piece = piece.rstrip(" ")
        pieces.append(piece)
        text = text[len(piece) :]
    return pieces or [""]


def continuation_name(base: str, number: int, taken: set[str]) -> str:
    """The name of piece `number` (1, 2, ...) after the first of a long text: DSCRPT01, or, should
    another variable have that name, the first free one of DSCRP001, DSCR0001, ... (never 9 characters:
    a text of 4,000 characters needs at most 80 pieces)."""
    for stem in range(6, 0, -1):
        name = f"{base[:stem]}{number:0{8 - stem}d}"
        if name not in taken and len(name) <= 8:
            taken.add(name)
            return name
    raise ValueError(f"no free SAS name for piece {number} of {base}")


# SAS transport labels are ASCII: the few other characters the English labels use, spelled out.
ASCII_SPELLING = str.maketrans({"µ": "u", "°": "deg ", "–": "-", "’": "'", "≥": ">=", "≤": "<="})


def ascii_label(label: str, suffix: str = "") -> str:
    text = label.translate(ASCII_SPELLING).encode("ascii", "replace").decode()
    return text[: XPT_LABEL_BYTES - len(suffix)] + suffix


def xpt_bytes(frame: pd.DataFrame, variables: list[Variable], names: FormNames) -> tuple[bytes, dict[str, list[str]]]:
    """The file, and for each text cut into pieces the names of its continuation variables."""
    columns, labels, formats, continued = {}, {}, {}, {}
    taken = set(names.xpt.values())
    for variable in variables:
        name = names.xpt[variable.name]
        label = ascii_label(variable.label_en)
        native = _native_column(frame[variable.name], variable)
        if native.dtype == object and variable.kind not in (DATE, DATETIME):
            pieces = [split_utf8(text, XPT_TEXT_BYTES) for text in native]
            count = max((len(p) for p in pieces), default=1)
            columns[name] = pd.Series([p[0] for p in pieces], index=frame.index, dtype=object)
            labels[name] = label
            extra = [continuation_name(name, n, taken) for n in range(1, count)]
            for number, extra_name in enumerate(extra, start=1):
                columns[extra_name] = pd.Series([p[number] if number < len(p) else "" for p in pieces],
                                                index=frame.index, dtype=object)  # fmt: skip
                labels[extra_name] = ascii_label(variable.label_en, f" (cont. {number})")
            if extra:
                continued[variable.name] = extra
            continue
        if isinstance(native.dtype, pd.Int32Dtype):
            native = native.astype("float64")  # SAS numbers are all floating point
        columns[name] = native
        labels[name] = label
        if fmt := xpt_format(variable):
            formats[name] = fmt
    data = pd.DataFrame(columns, index=frame.index)
    content = _write(
        pyreadstat.write_xport,
        data,
        ".xpt",
        file_format_version=5,
        table_name=names.xpt_table,
        column_labels=labels,
        variable_format=formats,
    )
    return content, continued
