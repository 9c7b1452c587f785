"""Optional de-identification beyond leaving the identifying fields out (issue 14): shift each
patient's dates by a secret per-patient offset, and drop free text.

- **Date shift**: every date and timestamp of a patient, in every table, moves by the same number of
  days, between -180 and +180 (never 0). Intervals between a patient's events (days from PVP to the
  infusions, the age at enrolment) stay true; calendar dates do not. The offset is an HMAC of the
  screening number under a key derived from SECRET_KEY (`DATE_SHIFT_KEY` to set another): the same in
  every export, so shifted exports can be joined, and unknown to anybody without the key.
- **Free text**: the fields people type freely (descriptions, notes, held reasons, other terms, the
  operator's and the signer's names) are left out; the dictionary lists them as not exported.

Both are for the tabular formats. ODM carries the audit trail's real times, so it is not offered there.
"""

import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta

import pandas as pd
from django.conf import settings

from trials.exports.variables import DATE, DATETIME, Variable

MAX_SHIFT_DAYS = 180
FREE_TEXT = {"other_term", "held_reason", "operator", "description", "notes", "signed_name"}
NOTE_SHIFTED = f"shifted by the patient's secret offset (same for all their dates, within ±{MAX_SHIFT_DAYS} days)"
NOTE_DROPPED = "not exported: free text left out of this de-identified export"


def shift_days(screening_number: str) -> int:
    """The patient's offset in days: -180 .. -1 or 1 .. 180, from the secret key and the screening number."""
    key = getattr(settings, "DATE_SHIFT_KEY", "") or f"date-shift:{settings.SECRET_KEY}"
    digest = hmac.new(key.encode(), screening_number.encode(), hashlib.sha256).digest()
    days = int.from_bytes(digest[:8], "big") % (2 * MAX_SHIFT_DAYS) - MAX_SHIFT_DAYS  # -180 .. 179
    return days or MAX_SHIFT_DAYS  # never 0: a shift of nothing would give the true dates away


def _offset(screening_number: str) -> timedelta:
    return timedelta(days=shift_days(screening_number))


def shift_dates(frames: dict, variables: dict[str, list[Variable]]) -> dict:
    """The frames with each patient's dates and timestamps moved by their offset."""
    shifted = {}
    for form, frame in frames.items():
        columns = [v.name for v in variables[form] if v.kind in (DATE, DATETIME)]
        if not columns or frame.empty:
            shifted[form] = frame
            continue
        out = frame.copy()
        offsets = out["screening_number"].map(_offset)
        for column in columns:
            pairs = zip(out[column], offsets, strict=True)
            out[column] = pd.Series([None if value is None else value + offset for value, offset in pairs],
                                    index=out.index, dtype=object)  # fmt: skip
        shifted[form] = out
    return shifted


def drop_free_text(frames: dict, variables: dict[str, list[Variable]]) -> tuple[dict, dict, list[Variable]]:
    """(frames, variables) without the free-text columns, and the variables left out."""
    dropped = [v for columns in variables.values() for v in columns if v.name in FREE_TEXT]
    kept = {form: [v for v in columns if v.name not in FREE_TEXT] for form, columns in variables.items()}
    frames = {form: frame[[v.name for v in kept[form]]] for form, frame in frames.items()}
    return frames, kept, dropped


def noted(variables: dict[str, list[Variable]], *, dates_shifted: bool) -> dict[str, list[Variable]]:
    """The variables with the dictionary's note on what was done to them."""
    if not dates_shifted:
        return variables
    return {form: [replace(v, note=NOTE_SHIFTED) if v.kind in (DATE, DATETIME) else v for v in columns]
            for form, columns in variables.items()}  # fmt: skip
