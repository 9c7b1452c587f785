"""Reading an import file: its size (before its content), its text, its columns, and its cells as model values.

The bottom layer of the import (`trials.imports` -> `trials.import_cases` -> here): it knows model
fields, not forms, roles or services.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from trials.models.base import IMPORT_MAX_BYTES

MAX_BYTES = IMPORT_MAX_BYTES  # one limit for the page, the job and the parser
READ_PIECE_BYTES = 64 * 1024
# Spreadsheets and pandas write a whole number as "60.0" once a column has an empty cell.
WHOLE_NUMBER = re.compile(r"^-?\d+\.0*$")


@dataclass(frozen=True)
class Problem:
    row: int  # 1 = the first data row; 0 = the file itself
    field: str  # "pvp_level.<column>" for a cell of the PVP levels file
    value: str
    rule: str


def too_big(name: str, size, *, prefix: str = "") -> Problem:
    """`size` in bytes, or a text such as "more than 5242880" when the reading stopped at the limit."""
    rule = f"larger than {MAX_BYTES // 1024 // 1024} MB ({MAX_BYTES} bytes), the limit of an import file"
    return Problem(0, prefix + "file", f"{name}: {size} bytes", rule)


def read_upload(upload, *, prefix: str = "") -> tuple[bytes | None, list[Problem]]:
    """An uploaded file's bytes, or the problem that it is too big, without ever holding more than the limit.

    The declared size is checked first, so a file known to be too big is not read at all; the file is
    then read in pieces and the reading stops one byte past the limit, so a size that was not declared
    (or was wrong) costs at most the limit in memory.
    """
    name = getattr(upload, "name", None) or "file"
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        return None, [too_big(name, size, prefix=prefix)]
    pieces, read = [], 0
    while read <= MAX_BYTES:
        piece = upload.read(min(READ_PIECE_BYTES, MAX_BYTES + 1 - read))
        if not piece:
            return b"".join(pieces), []
        pieces.append(piece)
        read += len(piece)
    return None, [too_big(name, f"more than {MAX_BYTES}", prefix=prefix)]


def read_rows(content: bytes, allowed: list[str], required: list[str], *, prefix: str = ""):
    """The file's rows as dicts, or the file-level problems (size, encoding, columns)."""
    if len(content) > MAX_BYTES:  # a caller that did not read it with read_upload (the job checks again)
        return [], [too_big("the file", len(content), prefix=prefix)]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(0, prefix + "file", "", "not UTF-8 text (save the sheet as CSV UTF-8)")]
    reader = csv.DictReader(io.StringIO(text))
    names = reader.fieldnames or []
    unknown = [name for name in names if name not in allowed]
    if unknown or not names:
        return [], [Problem(0, prefix + "columns", ", ".join(unknown) or "(none)",
                            f"the columns must be among: {', '.join(allowed)}")]  # fmt: skip
    missing = [name for name in required if name not in names]
    if missing:
        return [], [Problem(0, prefix + "columns", ", ".join(missing), "required columns are missing")]
    return list(reader), []


def set_values(record, fields: dict, row: dict, number: int, *, prefix: str = "") -> list[Problem]:
    """Convert each cell of `fields` with its model field and set it on the unsaved record."""
    problems = []
    for name, raw in row.items():
        if name not in fields:
            continue
        if raw and "\x00" in raw:  # PostgreSQL cannot store it: the whole commit would fail
            problems.append(Problem(number, prefix + name, raw.replace("\x00", "\\x00"), "contains a NUL character"))
            continue
        try:
            setattr(record, name, to_value(fields[name], raw))
        except ValidationError as error:
            problems.append(Problem(number, prefix + name, raw, " ".join(error.messages)))
    return problems


def to_value(field, raw):
    raw = (raw or "").strip()
    if raw == "":
        if field.null:
            return None
        return field.get_default() if field.has_default() else ""
    if isinstance(field, ArrayField):
        # A list of levels is written "T12,L1" (as the exports write it), not as JSON.
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(field, models.IntegerField) and WHOLE_NUMBER.match(raw):
        raw = raw.split(".")[0]
    value = field.to_python(raw)
    if isinstance(value, datetime) and timezone.is_naive(value):
        # A time typed without an offset is the study's local time (settings.TIME_ZONE).
        value = timezone.make_aware(value)
    return value


def clean_problems(record, row: dict, number: int, *, exclude: list[str], prefix: str = "") -> list[Problem]:
    """The model's own validation (`full_clean`: fields, clean(), constraints) as problems of this row."""
    try:
        record.full_clean(exclude=exclude)
    except ValidationError as error:
        problems = []
        for name, messages in error.message_dict.items():
            # A one-to-one form that already exists is reported against the patient's key.
            field = {"patient": "screening_number", "__all__": "row"}.get(name, name)
            raw = row.get(field, "")
            problems.extend(Problem(number, prefix + field, raw, message) for message in messages)
        return problems
    return []
