"""The lab form: every analyte of one timepoint on one page, with a unit choice where one exists."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from trials import protocol, services
from trials.forms.base import ClinicalForm
from trials.models import LabDraw, LabResult


def value_field(analyte: protocol.Analyte) -> str:
    return f"{analyte.code}_value"


def unit_field(analyte: protocol.Analyte) -> str:
    return f"{analyte.code}_unit"


def confirm_field(analyte: protocol.Analyte) -> str:
    return f"{analyte.code}_confirm"


class LabDrawForm(ClinicalForm):
    class Meta:
        model = LabDraw
        fields = ["timepoint", "drawn_on", "fasting"]
        widgets = {"fasting": forms.NullBooleanSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        existing = self.instance.results_by_analyte if self.instance.pk else {}
        for analyte in protocol.ANALYTES:
            result = existing.get(analyte.code)
            self.fields[value_field(analyte)] = forms.DecimalField(
                label=analyte.label.lazy,
                required=False,
                max_digits=12,
                decimal_places=4,
                initial=_entered_value(result),
                widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            )
            if analyte.alternative_units:
                units = [analyte.unit, *analyte.alternative_units]
                self.fields[unit_field(analyte)] = forms.ChoiceField(
                    label=_("unit"),
                    choices=[(unit, unit) for unit in units],
                    required=False,  # the canonical unit when not chosen
                    initial=result.entered_unit if result and result.entered_unit else analyte.unit,
                )
            if analyte.critical_low is not None or analyte.critical_high is not None:
                self.fields[confirm_field(analyte)] = forms.BooleanField(
                    label=_("I confirm this critical value is correct"),
                    required=False,
                    initial=bool(result and result.critical_confirmed),
                )

    def analyte_rows(self):
        """(analyte, value field, unit field or None, confirm field or None) for the template."""
        for analyte in protocol.ANALYTES:
            yield (
                analyte,
                self[value_field(analyte)],
                self[unit_field(analyte)] if unit_field(analyte) in self.fields else None,
                self[confirm_field(analyte)] if confirm_field(analyte) in self.fields else None,
            )

    def clean(self):
        cleaned = super().clean()
        self.results = []
        for analyte in protocol.ANALYTES:
            entered = cleaned.get(value_field(analyte))
            if entered is None:
                continue
            unit = cleaned.get(unit_field(analyte)) or analyte.unit
            result = LabResult(
                analyte=analyte.code,
                value=analyte.to_canonical(entered, unit).quantize(Decimal("0.0001")),
                entered_value=entered,
                entered_unit=unit,
                critical_confirmed=bool(cleaned.get(confirm_field(analyte))),
            )
            try:
                result.clean()
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    target = confirm_field(analyte) if field == "critical_confirmed" else value_field(analyte)
                    for message in messages:
                        if unit != analyte.unit:
                            message = f"{message} ({entered} {unit} entered)"
                        self.add_error(target, message)
                continue
            self.results.append(result)
        return cleaned

    def save_parts(self, draw: LabDraw) -> None:
        """Replace the draw's results with the ones entered (called inside the save transaction)."""
        services.save_lab_results(draw, self.results)


def _entered_value(result):
    if result is None:
        return None
    return protocol.plain_number(result.entered_value if result.entered_value is not None else result.value)
