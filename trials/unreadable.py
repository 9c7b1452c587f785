"""One message for a value that cannot be read as a date or a number, naming the value and the rule.

Django's and DRF's own words ("Enter a valid date.", "Date has wrong format. Use one of these formats
instead: YYYY-MM-DD.", "A valid number is required.") name neither the value typed nor what is wrong
with an impossible day such as 2026-02-30. The pages and the API both use these, so they agree.
"""

from django import forms
from django.utils.translation import gettext as _
from rest_framework import serializers

DATE, NUMBER, WHOLE_NUMBER = "date", "number", "whole number"
SHOWN_CHARACTERS = 40  # of the value echoed back: enough to recognise it, never a pasted megabyte


def message(kind: str, value) -> str:
    value = str(value)
    if len(value) > SHOWN_CHARACTERS:
        value = value[:SHOWN_CHARACTERS] + "…"
    if kind == DATE:
        return _("“%(value)s” is not a date: use YYYY-MM-DD, with a day that exists in that month.") % {"value": value}
    if kind == NUMBER:
        return _("“%(value)s” is not a number: use digits, with a point for decimals (1.5, not 1,5).") % {
            "value": value
        }
    return _("“%(value)s” is not a whole number.") % {"value": value}


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
    """After a form's fields are cleaned: restate the field's own "cannot read this" error with the value.

    Only that message is replaced; any other error on the field (a validator's) stays as it is.
    """
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        kind = kind_of_form_field(field)
        if not kind:
            continue
        unreadable = field.error_messages.get("invalid")
        bound = form[name]
        value = bound.initial if field.disabled else bound.data
        errors.data[:] = [
            forms.ValidationError(message(kind, value), code="invalid")
            if error.code == "invalid" and error.message == unreadable
            else error
            for error in errors.as_data()
        ]


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
