from django import forms

from trials import protocol
from trials.forms.base import ClinicalForm
from trials.models import AdverseEvent, PainAssessment, QolAssessment, TumourResponse


class PainAssessmentForm(ClinicalForm):
    class Meta:
        model = PainAssessment
        fields = ["timepoint", "assessed_on", "who_grade", "vas"]
        widgets = {"who_grade": forms.RadioSelect}


class QolAssessmentForm(ClinicalForm):
    class Meta:
        model = QolAssessment
        fields = ["timepoint", "assessed_on", *protocol.QOL_ITEM_CODES]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, text in protocol.QOL_ITEMS:
            self.fields[code].label = text.lazy
            self.fields[code].widget = forms.RadioSelect(
                choices=[(score, str(score)) for score in range(1, 6)], attrs={"class": "qol-item"}
            )


class TumourResponseForm(ClinicalForm):
    class Meta:
        model = TumourResponse
        fields = ["assessed_on", "category", "immunofixation_negative", "marrow_plasma_cells_pct"]
        widgets = {"immunofixation_negative": forms.RadioSelect}


class AdverseEventForm(ClinicalForm):
    class Meta:
        model = AdverseEvent
        fields = [
            "term",
            "other_term",
            "onset_on",
            "resolved_on",
            "ctcae_grade",
            "serious",
            "related_to",
            "action",
            "outcome",
            "max_temperature_c",
            "description",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
