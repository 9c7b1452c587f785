"""What every clinical form shares: reason for change, version check, date inputs, focus."""

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _

from trials import unreadable
from trials.models.base import REASON_MAX_CHARS, InRange

INITIAL_ENTRY_REASON = "initial entry"
# Shown by static/js/app.js next to a date the browser cannot read; the picker keeps no text to quote.
UNREADABLE_DATE = _("This date does not exist (for example 30 February): correct the day, month or year.")


class DateInput(forms.DateInput):
    """The browser's own date picker, which also shows dates in the user's language.

    A date the picker cannot read (30 February) would be sent as empty; static/js/app.js stops the
    submit and says so next to the field.
    """

    input_type = "date"

    def __init__(self, attrs=None):
        attrs = {"data-unreadable-date": UNREADABLE_DATE, **(attrs or {})}
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class DecimalInput(forms.TextInput):
    """Text, not `type=number`: a number input drops a decimal comma ("1,2" arrives as 12) or sends an
    unreadable value as empty. `inputmode` still brings up the number keypad on a tablet."""

    def __init__(self, attrs=None):
        super().__init__(attrs={"inputmode": "decimal", "autocomplete": "off", **(attrs or {})})


class WholeNumberInput(forms.TextInput):
    def __init__(self, attrs=None):
        super().__init__(attrs={"inputmode": "numeric", "autocomplete": "off", **(attrs or {})})


class TypedDecimalField(forms.DecimalField):
    """A decimal read exactly as typed (trials.unreadable.read_number), or refused quoting it."""

    widget = DecimalInput

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return unreadable.read_number(value)
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid") from error


def number_formfield(db_field, **kwargs):
    """ModelForms' `formfield_callback`: number fields as text inputs read by the rule above."""
    if isinstance(db_field, models.DecimalField):
        return db_field.formfield(form_class=TypedDecimalField, **kwargs)
    if isinstance(db_field, models.IntegerField) and not db_field.choices and "widget" not in kwargs:
        return db_field.formfield(widget=WholeNumberInput, **kwargs)
    return db_field.formfield(**kwargs)


class ClinicalForm(forms.ModelForm):
    """A form for one clinical record of one patient.

    The view passes the patient; on an edit the user must give a reason for change (stored in the
    audit trail), and `version` carries the record's version from when the page was opened.
    """

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason_for_change = forms.CharField(
        label=_("Reason for change"),
        max_length=REASON_MAX_CHARS,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("Required when changing saved data; kept in the audit trail."),
    )

    class Meta:
        # Subclasses inherit it with `class Meta(ClinicalForm.Meta)`.
        formfield_callback = number_formfield

    def __init__(self, *args, patient=None, **kwargs):
        super().__init__(*args, **kwargs)
        if patient is not None and not self.instance.pk:
            self.instance.patient = patient
        self.is_edit = self.instance.pk is not None
        if self.is_edit:
            self.fields["reason_for_change"].required = True
            # Without the version the page was opened at, a stale copy could overwrite newer data.
            self.fields["version"].required = True
            self.fields["version"].initial = self.instance.version
        else:
            del self.fields["reason_for_change"]
        for name, field in self.fields.items():
            model_field = self._model_field(name)
            if isinstance(model_field, models.DateField):
                field.widget = DateInput()
            if isinstance(field.widget, forms.RadioSelect):
                # A radio button labelled "---------" is no answer to offer: an unanswered
                # required question is already refused by name.
                field.choices = [(value, label) for value, label in field.choices if value not in ("", None)]
            # The model's range rules run at the form level too, so an impossible value is
            # named even when another check on the same field also fails (3.85 °C: too many
            # decimals *and* outside 35-43 °C).
            if model_field is not None:
                field.validators.extend(v for v in model_field.validators if isinstance(v, InRange))
        # Not via visible_fields(): that caches bound fields before subclasses set their labels.
        first = next((field for field in self.fields.values() if not field.widget.is_hidden), None)
        if first is not None:
            first.widget.attrs["autofocus"] = True

    @property
    def helper(self) -> FormHelper:
        """Crispy layout, built when rendered so that subclasses' widget choices count."""
        helper = FormHelper()
        helper.form_tag = False
        helper.disable_csrf = True
        # Radio answers side by side: a whole questionnaire fits on a tablet screen.
        helper.layout = Layout(
            *(
                InlineRadios(name) if isinstance(field.widget, forms.RadioSelect) else Field(name)
                for name, field in self.fields.items()
            )
        )
        return helper

    def _model_field(self, name):
        try:
            return self._meta.model._meta.get_field(name)
        except Exception:  # noqa: BLE001 - a form-only field has no model field
            return None

    def _clean_fields(self):
        super()._clean_fields()
        unreadable.name_unreadable_values(self)

    def _update_errors(self, errors):
        # A value the form could not read ("1,5", "NaN") reaches the model as empty, and the model's
        # "dose is required" would contradict what the user typed: the form's own message stands alone.
        if hasattr(errors, "error_dict"):
            errors.error_dict = {name: found for name, found in errors.error_dict.items() if name not in self._errors}
        super()._update_errors(errors)

    def _get_validation_exclusions(self):
        # The patient is set by the view, not typed; without this Django would skip the
        # per-patient rules (one lab draw per timepoint, ...) and leave them to the database.
        # deleted_at: the "once per patient" rules hold among live forms only, so the form must see it.
        return super()._get_validation_exclusions() - {"patient", "deleted_at"}

    @property
    def reason(self) -> str:
        return self.cleaned_data.get("reason_for_change") or INITIAL_ENTRY_REASON

    @property
    def expected_version(self) -> int | None:
        return self.cleaned_data.get("version") if self.is_edit else None

    def error_summary(self) -> list[tuple[str, str]]:
        """(field label, message) pairs for the summary at the top of the form."""
        summary = []
        for name, errors in self.errors.items():
            label = str(self.fields[name].label) if name in self.fields else ""
            summary.extend((label, str(error)) for error in errors)
        return summary
