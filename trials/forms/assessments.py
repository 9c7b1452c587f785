from django import forms
from django.utils.translation import gettext_lazy as _

from trials import protocol
from trials.forms.base import ClinicalForm
from trials.models import AdverseEvent, PainAssessment, QolAssessment, TumourResponse

# The WHO grades as the paper defines them (docs/design.md §1, pain relief).
WHO_GRADE_MEANINGS = {
    0: _("no pain"),
    1: _("mild, bearable without analgesics"),
    2: _("moderate, needs ordinary analgesics to sleep"),
    3: _("severe, needs opioids to sleep"),
}


class PainAssessmentForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = PainAssessment
        fields = ["timepoint", "assessed_on", "who_grade", "vas"]
        widgets = {"who_grade": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["who_grade"].choices = [
            (grade, f"{numeral} · {WHO_GRADE_MEANINGS[grade]}") for grade, numeral in protocol.WHO_PAIN_GRADES
        ]


# What each score of the 12 items means, 1 (worst) to 5 (best), in the wording of the Chinese QoL scale
# for cancer patients (1990) that the study uses; the Chinese originals are the translations in locale/.
# The facial-expression item is a row of five faces: its words describe the face chosen.
QOL_ANCHORS: dict[str, tuple] = {
    "q_appetite": (_("almost unable to eat"), _("eats less than half the usual amount"),
                   _("eats half the usual amount"), _("eats slightly less than usual"), _("eats the usual amount")),
    "q_mental_state": (_("very poor"), _("rather poor"), _("affected, better at times and worse at others"),
                       _("fairly good"), _("normal, as before the illness")),
    "q_sleep": (_("cannot fall asleep"), _("sleeps very badly"), _("sleeps badly"), _("sleeps slightly badly"),
                _("sleeps about normally")),
    "q_fatigue": (_("often tired"), _("feels weak"), _("frequently tired at times"), _("mildly tired at times"),
                  _("no tiredness")),
    "q_pain": (_("severe pain with a forced position, or pain for more than 6 months"), _("severe pain"),
               _("moderate pain"), _("mild pain"), _("no pain")),
    "q_family": (_("no understanding at all"), _("poor"), _("fair"), _("family understands and cares fairly well"),
                 _("good")),
    "q_colleagues": (_("no understanding, nobody cares"), _("poor"), _("fair"), _("a few understand and care"),
                     _("most understand and care")),
    "q_understanding": (_("despairing, does not cooperate at all"), _("uneasy, cooperates reluctantly"),
                        _("uneasy, cooperates moderately"), _("uneasy but cooperates well"),
                        _("optimistic and confident")),
    "q_attitude": (_("has no hope in the treatment"), _("half believes in the treatment"),
                   _("hopes for an effect but fears side effects"), _("hopes for an effect and cooperates"),
                   _("confident, cooperates actively")),
    "q_daily_life": (_("bedridden"), _("up and about, but in bed more than half the time"),
                     _("up and about, in bed at times"), _("normal life, unable to work"), _("normal life and work")),
    "q_side_effects": (_("seriously affect daily life"), _("affect daily life"),
                       _("do not affect daily life with symptomatic treatment"),
                       _("do not affect daily life without symptomatic treatment"), _("do not affect daily life")),
    "q_facial_expression": (_("very unhappy face"), _("unhappy face"), _("neutral face"), _("happy face"),
                            _("very happy face")),
}  # fmt: skip


class QolAssessmentForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = QolAssessment
        fields = ["timepoint", "assessed_on", *protocol.QOL_ITEM_CODES]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code, text in protocol.QOL_ITEMS:
            self.fields[code].label = text.lazy
            self.fields[code].widget = forms.RadioSelect(
                choices=[(score, f"{score} · {words}") for score, words in enumerate(QOL_ANCHORS[code], start=1)],
                attrs={"class": "qol-item"},
            )


class TumourResponseForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
        model = TumourResponse
        fields = ["assessed_on", "category", "immunofixation_negative", "marrow_plasma_cells_pct"]
        widgets = {"immunofixation_negative": forms.RadioSelect}


class AdverseEventForm(ClinicalForm):
    class Meta(ClinicalForm.Meta):
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
