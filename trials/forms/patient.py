from django import forms
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from trials import protocol
from trials.access import sites_for_user
from trials.forms.base import ClinicalForm
from trials.models import EndOfStudy, Patient, Screening


class PatientForm(ClinicalForm):
    fractured_levels = forms.MultipleChoiceField(
        label=_("Fractured levels"),
        choices=[(level, level) for level in protocol.SPINAL_LEVELS],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "spine-levels"}),
        required=False,
    )

    class Meta(ClinicalForm.Meta):
        model = Patient
        fields = [
            "site",
            "sex",
            "date_of_birth",
            "initials",
            "hospital_number",
            "weight_kg",
            "height_cm",
            "diagnosis_date",
            "isotype",
            "light_chain",
            "iss_stage",
            "fractured_levels",
        ]

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        sites = sites_for_user(user)
        self.fields["site"].queryset = sites
        if self.is_edit:
            self.fields["site"].disabled = True  # the screening number belongs to the site
        elif sites.count() == 1:
            self.fields["site"].initial = sites.first()


class ScreeningForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = Screening
        fields = ["screened_on", "kps", "life_expectancy_over_90_days", "i1", "i2", "i3", "i5", "consent_date"]
        fields += ["e1", "e2", "e3", "e4", "e5"]
        widgets = {
            code: forms.RadioSelect
            for code in ("life_expectancy_over_90_days", "i1", "i2", "i3", "i5", "e1", "e2", "e3", "e4", "e5")
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for criterion in protocol.CRITERIA:
            field = self.fields.get(criterion.code.lower())
            if field is not None:
                field.label = f"{criterion.code} — {criterion.text.lazy}"
                # The other language underneath: the protocol is bilingual, reviewers read both. Marked
                # with its language, so that a screen reader (and the language test) knows it is English.
                if str(get_language()).startswith("zh"):
                    field.help_text = format_html('<span lang="en">{}</span>', criterion.text.en)
                else:
                    field.help_text = format_html('<span lang="zh-hans">{}</span>', criterion.text.zh)


class EndOfStudyForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = EndOfStudy
        fields = ["end_date", "end_reason", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}
