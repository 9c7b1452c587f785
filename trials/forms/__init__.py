from trials.forms.assessments import AdverseEventForm, PainAssessmentForm, QolAssessmentForm, TumourResponseForm
from trials.forms.labs import LabDrawForm
from trials.forms.patient import EndOfStudyForm, PatientForm, ScreeningForm
from trials.forms.treatment import InfusionForm, PvpProcedureForm, TreatedLevelFormSet

__all__ = [
    "AdverseEventForm",
    "EndOfStudyForm",
    "InfusionForm",
    "LabDrawForm",
    "PainAssessmentForm",
    "PatientForm",
    "PvpProcedureForm",
    "QolAssessmentForm",
    "ScreeningForm",
    "TreatedLevelFormSet",
    "TumourResponseForm",
]
