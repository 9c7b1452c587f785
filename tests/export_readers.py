"""Reading exported files back with readers this project did not write: R's haven, GNU PSPP, pyreadstat.

Each reader's view of a table is turned into plain Python values (int, float, Decimal, date, datetime,
str, None) so that tests compare them with the database's values column by column.
"""

import csv
import io
import os
import subprocess
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyreadstat

# haven turns each table into two CSV files R writes itself: the values as text (numbers with 17
# significant digits, so a double survives exactly; dates ISO; times UTC to the millisecond; NA
# empty) and the metadata (label, class, the format the file declares, value labels).
R_DUMP = r"""
args <- commandArgs(trailingOnly = TRUE)
fmt <- args[1]; folder <- args[2]
suppressPackageStartupMessages(library(haven))
read <- switch(fmt, sav = read_sav, dta = read_dta, xpt = read_xpt)
format_attr <- c(sav = "format.spss", dta = "format.stata", xpt = "format.sas")[[fmt]]
for (path in list.files(folder, pattern = paste0("\\.", fmt, "$"), full.names = TRUE)) {
  table <- read(path)
  values <- data.frame(row.names = seq_len(nrow(table)))
  meta <- data.frame()
  for (name in names(table)) {
    column <- table[[name]]
    labels <- attr(column, "labels")
    plain <- zap_labels(column)
    text <- if (inherits(plain, "Date")) format(plain, "%Y-%m-%d")
      else if (inherits(plain, "POSIXct")) format(plain, "%Y-%m-%d %H:%M:%OS3", tz = "UTC")
      else if (is.numeric(plain)) sprintf("%.17g", plain)
      else as.character(plain)
    text[is.na(plain)] <- ""
    values[[name]] <- text
    label <- attr(column, "label"); declared <- attr(column, format_attr)
    meta <- rbind(meta, data.frame(
      variable = name, label = if (is.null(label)) "" else label, class = class(plain)[1],
      format = if (is.null(declared)) "" else declared,
      labels = if (is.null(labels)) "" else paste(paste0(labels, "=", names(labels)), collapse = "\x1f")))
  }
  write.csv(values, paste0(path, ".values.csv"), row.names = FALSE, na = "", fileEncoding = "UTF-8")
  write.csv(meta, paste0(path, ".meta.csv"), row.names = FALSE, na = "", fileEncoding = "UTF-8")
}
"""

R_CSV = r"""
folder <- commandArgs(trailingOnly = TRUE)[1]
for (path in list.files(folder, pattern = "\\.csv$", full.names = TRUE)) {
  if (grepl("(values|meta|r-csv)\\.csv$", path) || basename(path) == "data_dictionary.csv") next
  table <- read.csv(path, colClasses = "character", fileEncoding = "UTF-8-BOM", check.names = FALSE,
                    na.strings = character(0))
  write.csv(table, paste0(path, ".r-csv.csv"), row.names = FALSE, fileEncoding = "UTF-8")
}
"""

UTF8 = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def unzip(content: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(folder)
    return folder


def _run(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, env=UTF8, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout}\n{done.stderr}"


def _csv_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def haven_tables(folder: Path, fmt: str) -> dict[str, tuple[list[dict], dict[str, dict]]]:
    """{form: (rows as text, {variable: metadata})} as R's haven reads the .sav/.dta/.xpt files."""
    script = folder / "dump.R"
    script.write_text(R_DUMP)
    _run(["Rscript", "--vanilla", str(script), fmt, str(folder)], folder)
    tables = {}
    for path in sorted(folder.glob(f"*.{fmt}")):
        meta = {row["variable"]: row for row in _csv_rows(path.with_name(path.name + ".meta.csv"))}
        tables[path.stem] = (_csv_rows(path.with_name(path.name + ".values.csv")), meta)
    return tables


def r_csv_tables(folder: Path) -> dict[str, list[dict]]:
    """{form: rows} as R's read.csv reads the CSV export (every column as text)."""
    script = folder / "read_csv.R"
    script.write_text(R_CSV)
    _run(["Rscript", "--vanilla", str(script), str(folder)], folder)
    return {path.name.removesuffix(".csv.r-csv.csv"): _csv_rows(path) for path in folder.glob("*.r-csv.csv")}


def pspp_tables(folder: Path) -> dict[str, tuple[list[dict], list[list[str]]]]:
    """{form: (rows as PSPP writes them, the rows of PSPP's DISPLAY DICTIONARY)} for every .sav."""
    tables = {}
    for path in sorted(folder.glob("*.sav")):
        values = path.with_name(path.stem + ".pspp.csv")
        _run(["pspp-convert", str(path), str(values)], folder)
        syntax = path.with_name(path.stem + ".dictionary.sps")
        syntax.write_text(f'GET FILE="{path.name}".\nDISPLAY DICTIONARY.\n')
        dictionary = path.with_name(path.stem + ".dictionary.csv")
        _run(["pspp", str(syntax), "-O", "format=csv", "-o", str(dictionary)], folder)
        with open(dictionary, encoding="utf-8", newline="") as handle:
            tables[path.stem] = (_csv_rows(values), list(csv.reader(handle)))
    return tables


def pyreadstat_tables(folder: Path, fmt: str) -> dict[str, tuple[list[dict], object]]:
    reader = {"sav": pyreadstat.read_sav, "dta": pyreadstat.read_dta, "xpt": pyreadstat.read_xport}[fmt]
    tables = {}
    for path in sorted(folder.glob(f"*.{fmt}")):
        frame, meta = reader(str(path))
        tables[path.stem] = (frame.astype(object).where(frame.notna(), None).to_dict("records"), meta)
    return tables


# --- turning a reader's text into values ----------------------------------------------------------


def number(text: str) -> float | None:
    return None if text in ("", "NA") else float(text)


def iso_date(text: str) -> date | None:
    return None if text == "" else date.fromisoformat(text)


def us_date(text: str) -> date | None:
    """PSPP writes dates as mm/dd/yyyy."""
    text = text.strip()
    if text in ("", "."):
        return None
    month, day, year = text.split(" ")[0].split("/")
    return date(int(year), int(month), int(day))


def us_datetime(text: str) -> datetime | None:
    text = text.strip()
    if text in ("", "."):
        return None
    day = us_date(text)
    hours, minutes, seconds = text.split(" ")[1].split(":")
    return datetime(day.year, day.month, day.day, int(hours), int(minutes), int(float(seconds)), tzinfo=UTC)


def utc_naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def as_decimal(text: str) -> Decimal | None:
    return None if text == "" else Decimal(text)
