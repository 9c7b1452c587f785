"""One message for a value that cannot be read as a date or a number, naming the value and the rule.

Django's and DRF's own words ("Enter a valid date.", "Date has wrong format. Use one of these formats
instead: YYYY-MM-DD.", "A valid number is required.") name neither the value typed nor what is wrong
with an impossible day such as 2026-02-30. The pages and the API both use these, so they agree.
"""

import re
import unicodedata
from decimal import Decimal

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers

DATE, NUMBER, WHOLE_NUMBER = "date", "number", "whole number"
# The pages' number rule when the decimal comma is accepted, and a comma that may be a thousands separator.
NUMBER_WITH_COMMA, AMBIGUOUS_COMMA = "number with comma", "ambiguous comma"
DECIMAL_PLACES = "decimal places"
SHOWN_CHARACTERS = 40  # of the value echoed back: enough to recognise it, never a pasted megabyte

# Digits with at most one decimal separator; no exponent, no grouping, no NaN or Infinity.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)")
# "1,500" is 1500 to one reader and 1.5 to another: a comma followed by exactly three digits.
_GROUPING_COMMA = re.compile(r"[+-]?\d{1,3},\d{3}")


def shown(value) -> str:
    value = str(value)
    return value[:SHOWN_CHARACTERS] + "…" if len(value) > SHOWN_CHARACTERS else value


def message(kind: str, value, *, places: int | None = None) -> str:
    value = shown(value)
    if kind == DATE:
        return _("“%(value)s” is not a date: use YYYY-MM-DD, with a day that exists in that month.") % {"value": value}
    if kind == NUMBER:
        return _("“%(value)s” is not a number: use digits, with a point for decimals (1.5, not 1,5).") % {
            "value": value
        }
    if kind == NUMBER_WITH_COMMA:
        return _("“%(value)s” is not a number: use digits, with a point or a comma for decimals (1.5 or 1,5).") % {
            "value": value
        }
    if kind == AMBIGUOUS_COMMA:
        return _(
            "“%(value)s” can be read two ways: write numbers without thousands separators, "
            "with a point or a comma for decimals (1500, or 1.5)."
        ) % {"value": value}
    if kind == DECIMAL_PLACES:
        return _("“%(value)s” has too many decimals: at most %(places)s after the point.") % {
            "value": value,
            "places": places,
        }
    return _("“%(value)s” is not a whole number.") % {"value": value}


def decimal_comma_accepted() -> bool:
    """The pages read "1,5" as 1.5 unless the DECIMAL_COMMA setting is off (the API never does)."""
    return getattr(settings, "DECIMAL_COMMA", True)


def read_number(text) -> Decimal:
    """The number a person typed, exactly, or ValueError carrying the message that quotes it.

    Full-width digits and separators from a Chinese input method read as their ASCII twins. A single
    comma is a decimal separator when `decimal_comma_accepted()`; a comma that could group thousands
    ("1,500") is refused rather than guessed.
    """
    typed = str(text)
    plain = unicodedata.normalize("NFKC", typed).strip()
    comma = decimal_comma_accepted()
    not_a_number = message(NUMBER_WITH_COMMA if comma else NUMBER, typed)
    if not _PLAIN_NUMBER.fullmatch(plain) or plain.strip("+-") in (".", ","):
        raise ValueError(not_a_number)
    if "," in plain:
        if not comma:
            raise ValueError(not_a_number)
        if _GROUPING_COMMA.fullmatch(plain):
            raise ValueError(message(AMBIGUOUS_COMMA, typed))
        plain = plain.replace(",", ".")
    return Decimal(plain)


def kind_of_form_field(field) -> str | None:
    # Django's DecimalField and FloatField are subclasses of its IntegerField: look at them first.
    if isinstance(field, forms.DateField):
        return DATE
    if isinstance(field, forms.DecimalField | forms.FloatField):
        return NUMBER
    if isinstance(field, forms.IntegerField):
        return WHOLE_NUMBER
    return None


def name_unreadable_values(form: forms.BaseForm) -> None:
    """After a form's fields are cleaned: every message about a number or date quotes it as typed.

    The field's own "cannot read this" error is restated with the value; Django's "Ensure that there are
    no more than 1 decimal place." gets the value too; a range rule's message quotes "1,5" rather than
    the 1.5 it was read as. Any other error on the field stays as it is.
    """
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        kind = kind_of_form_field(field)
        if not kind:
            continue
        unreadable = field.error_messages.get("invalid")
        bound = form[name]
        value = bound.initial if field.disabled else bound.data
        errors.data[:] = [_restated(error, kind, value, field, unreadable) for error in errors.as_data()]


def _restated(error: forms.ValidationError, kind: str, value, field, unreadable) -> forms.ValidationError:
    if error.code == "invalid" and error.message == unreadable:
        return forms.ValidationError(message(kind, value), code="invalid")
    if error.code == "max_decimal_places":
        return forms.ValidationError(message(DECIMAL_PLACES, value, places=field.decimal_places), code=error.code)
    if isinstance(error.params, dict) and "value" in error.params and isinstance(value, str):
        return forms.ValidationError(error.message, code=error.code, params={**error.params, "value": shown(value)})
    return error


class _NamesTheValue:
    kind = ""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as error:
            if "invalid" in error.get_codes():
                raise serializers.ValidationError(message(self.kind, data), code="invalid") from error
            raise


class DateField(_NamesTheValue, serializers.DateField):
    kind = DATE


class DecimalField(_NamesTheValue, serializers.DecimalField):
    kind = NUMBER


class FloatField(_NamesTheValue, serializers.FloatField):
    kind = NUMBER


class IntegerField(_NamesTheValue, serializers.IntegerField):
    kind = WHOLE_NUMBER


NAMING_THE_VALUE = {
    serializers.DateField: DateField,
    serializers.DecimalField: DecimalField,
    serializers.FloatField: FloatField,
    serializers.IntegerField: IntegerField,
}
