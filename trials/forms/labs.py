"""The lab form: every analyte of one timepoint on one page, with a unit choice where one exists."""

from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from trials import protocol, services, unreadable
from trials.forms.base import ClinicalForm, TypedDecimalField
from trials.models import LabDraw, LabResult


def value_field(analyte: protocol.Analyte) -> str:
    return f"{analyte.code}_value"


def unit_field(analyte: protocol.Analyte) -> str:
    return f"{analyte.code}_unit"


def confirm_field(analyte: protocol.Analyte) -> str:
    return f"{analyte.code}_confirm"


class LabDrawForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = LabDraw
        fields = ["timepoint", "drawn_on", "fasting"]
        widgets = {"fasting": forms.NullBooleanSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        existing = self.instance.results_by_analyte if self.instance.pk else {}
        for analyte in protocol.ANALYTES:
            result = existing.get(analyte.code)
            self.fields[value_field(analyte)] = TypedDecimalField(
                label=analyte.label.lazy,
                required=False,
                max_digits=12,
                decimal_places=4,
                initial=_entered_value(result),
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
        """One `LabRow` per analyte for the template."""
        for analyte in protocol.ANALYTES:
            unit = self[unit_field(analyte)] if unit_field(analyte) in self.fields else None
            confirm = self[confirm_field(analyte)] if confirm_field(analyte) in self.fields else None
            chosen_unit = (unit.value() if unit is not None else None) or analyte.unit
            yield LabRow(
                analyte=analyte,
                value=self[value_field(analyte)],
                unit=unit,
                confirm=confirm,
                chosen_unit=chosen_unit,
                ranges=[unit_ranges(analyte, code) for code in (analyte.unit, *analyte.alternative_units)],
                confirm_shown=confirm is not None
                and (bool(confirm.value()) or bool(confirm.errors) or self._typed_critical(analyte, chosen_unit)),
            )

    def _typed_critical(self, analyte, unit: str) -> bool:
        """Whether the value on the page is critical: only then is the confirmation tick shown."""
        if unit not in (analyte.unit, *analyte.alternative_units):
            return False
        try:
            value = unreadable.read_number(self[value_field(analyte)].value())
        except ValueError:
            return False
        return analyte.is_critical(analyte.to_canonical(value, unit))

    def clean(self):
        cleaned = super().clean()
        self.results = []
        for analyte in protocol.ANALYTES:
            entered = cleaned.get(value_field(analyte))
            if entered is None:
                continue
            unit = cleaned.get(unit_field(analyte)) or analyte.unit  # one of the analyte's: a choice field
            result = LabResult.from_reading(
                protocol.read_lab_value(analyte.code, entered, unit),
                critical_confirmed=bool(cleaned.get(confirm_field(analyte))),
            )
            try:
                result.clean()
            except ValidationError as error:
                # The rule speaks of the canonical value; the user also reads what they typed ("1,2 mg/dL").
                typed = unreadable.shown(self[value_field(analyte)].value()).strip()
                as_typed = unit != analyte.unit or typed != protocol.plain_number(entered)
                for field, messages in error.message_dict.items():
                    target = confirm_field(analyte) if field == "critical_confirmed" else value_field(analyte)
                    for message in messages:
                        if as_typed:
                            message = _("%(message)s (%(value)s %(unit)s entered)") % {
                                "message": message,
                                "value": typed,
                                "unit": unit,
                            }
                        self.add_error(target, message)
                continue
            self.results.append(result)
        return cleaned

    def save_parts(self, draw: LabDraw) -> None:
        """Replace the draw's results with the ones entered (called inside the save transaction)."""
        services.save_lab_results(draw, self.results)


@dataclass(frozen=True)
class UnitRanges:
    """An analyte's ranges written in one of its units, for the row of the lab form."""

    unit: str
    factor: Decimal  # times a value in this unit gives the canonical unit
    reference: str  # "" when the analyte has no reference range
    possible: str
    critical: str


@dataclass(frozen=True)
class LabRow:
    analyte: protocol.Analyte
    value: forms.BoundField
    unit: forms.BoundField | None
    confirm: forms.BoundField | None
    chosen_unit: str
    ranges: list[UnitRanges]
    confirm_shown: bool


def unit_ranges(analyte: protocol.Analyte, unit: str) -> UnitRanges:
    factor = Decimal(1) if unit == analyte.unit else analyte.alternative_units[unit]
    # A converted limit keeps at least two decimals: 45 umol/L of creatinine is 0.51 mg/dL, not 0.5.
    places = Decimal(1).scaleb(-max(analyte.decimals, 2))

    def written(value) -> str:
        if factor == 1:
            return protocol.plain_number(value)
        return protocol.plain_number((Decimal(value) / factor).quantize(places))

    # M-protein and urine light chain are "0": normally absent, which is no range to show as 0–0.
    has_reference = analyte.reference.low != analyte.reference.high
    critical = []
    if analyte.critical_low is not None:
        critical.append(f"< {written(analyte.critical_low)}")
    if analyte.critical_high is not None:
        critical.append(f"> {written(analyte.critical_high)}")
    return UnitRanges(
        unit=unit,
        factor=factor,
        reference=f"{written(analyte.reference.low)}–{written(analyte.reference.high)} {unit}" if has_reference else "",
        possible=f"{written(analyte.possible.low)}–{written(analyte.possible.high)} {unit}",
        critical=" / ".join(critical),
    )


def _entered_value(result):
    if result is None:
        return None
    return protocol.plain_number(result.entered_value if result.entered_value is not None else result.value)
