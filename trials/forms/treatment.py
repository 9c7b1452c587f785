from django import forms
from django.utils.translation import gettext_lazy as _

from trials import protocol, unreadable
from trials.forms.base import ClinicalForm, DecimalInput, number_formfield
from trials.models import Infusion, PvpProcedure, TreatedLevel


class PvpProcedureForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = PvpProcedure
        fields = ["performed_on", "approach", "bed_rest_days", "operator"]


class TreatedLevelForm(forms.ModelForm):
    class Meta:
        model = TreatedLevel
        fields = ["level", "cement_ml", "leakage"]
        formfield_callback = number_formfield
        widgets = {
            "level": forms.Select(attrs={"class": "form-select form-select-sm"}),
            "cement_ml": DecimalInput(attrs={"class": "form-control form-control-sm"}),
            "leakage": forms.Select(attrs={"class": "form-select form-select-sm"}),
        }

    def _clean_fields(self):
        super()._clean_fields()
        unreadable.name_unreadable_values(self)


class BaseTreatedLevelFormSet(forms.BaseInlineFormSet):
    """The treated levels of a procedure; a new procedure starts with a row per fractured level."""

    def __init__(self, data=None, *args, fractured_levels=(), **kwargs):
        instance = kwargs.get("instance")
        if data is None and fractured_levels and (instance is None or instance.pk is None):
            kwargs["initial"] = [{"level": level} for level in fractured_levels]
            self.extra = max(len(fractured_levels) - self.min_num, 0)
        super().__init__(data, *args, **kwargs)

    def error_summary(self) -> list[tuple[str, str]]:
        """(where, message) pairs for the summary at the top of the form: "Level 2 (L1) — PMMA cement (ml)"."""
        summary = [("", str(error)) for error in self.non_form_errors()]
        for number, form in enumerate(self.forms, start=1):
            level = form["level"].value()
            row = _("Level %(number)s") % {"number": number} + (f" ({level})" if level else "")
            for name, errors in form.errors.items():
                where = row if name == "__all__" else f"{row} — {form.fields[name].label}"
                summary.extend((where, str(error)) for error in errors)
        return summary

    def clean(self):
        kept = [
            form for form in self.forms if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
        ]
        levels = [form.cleaned_data["level"] for form in kept if form.cleaned_data.get("level")]
        duplicates = sorted({level for level in levels if levels.count(level) > 1})
        if duplicates:
            # Before Django's own duplicate check, whose message does not name the vertebra.
            raise forms.ValidationError(
                _("Level %(levels)s is listed twice: each vertebra is treated once per procedure.")
                % {"levels": ", ".join(duplicates)}
            )
        super().clean()
        if not any(self.errors) and not levels:
            raise forms.ValidationError(_("Enter at least one treated level with its cement volume."))


TreatedLevelFormSet = forms.inlineformset_factory(
    PvpProcedure,
    TreatedLevel,
    form=TreatedLevelForm,
    formset=BaseTreatedLevelFormSet,
    extra=0,
    min_num=1,
    validate_min=False,
    can_delete=True,
)


class InfusionForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = Infusion
        fields = [
            "cycle",
            "infused_on",
            "status",
            "held_reason",
            "creatinine_umol_l",
            "dose_mg",
            "diluent_ml",
            "duration_min",
        ]
        widgets = {"status": forms.RadioSelect}

    def __init__(self, *args, crcl_url="", **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_edit and not self.is_bound:
            given = self.instance.patient.infusions.order_by("-cycle").first()
            if self.initial.get("cycle") is None:
                self.initial["cycle"] = (given.cycle + 1) if given else 1
            if self.initial.get("diluent_ml") is None:
                self.initial["diluent_ml"] = protocol.STANDARD_DILUENT_ML
        # The Cockcroft-Gault panel updates (htmx) as the date, creatinine, dose or duration is typed.
        for name in ("infused_on", "status", "creatinine_umol_l", "dose_mg", "duration_min"):
            self.fields[name].widget.attrs.update(
                {"hx-get": crcl_url, "hx-trigger": "change, input changed delay:400ms", "hx-target": "#crcl-panel",
                 "hx-include": "closest form"}
            )  # fmt: skip
