from trials.models.assessments import LabDraw, LabResult, PainAssessment, QolAssessment, TumourResponse
from trials.models.base import Site, User
from trials.models.jobs import Job
from trials.models.patient import EndOfStudy, Patient
from trials.models.review import DataQuery, ExportLog, PatientLock, SiteFreeze, SourceVerification, StudyFreeze
from trials.models.safety import AdverseEvent
from trials.models.screening import Screening, SignatureAttempt
from trials.models.security import SecurityEvent
from trials.models.tokens import ApiToken
from trials.models.treatment import Infusion, PvpProcedure, TreatedLevel

__all__ = [
    "AdverseEvent",
    "ApiToken",
    "DataQuery",
    "ExportLog",
    "PatientLock",
    "SourceVerification",
    "StudyFreeze",
    "EndOfStudy",
    "Infusion",
    "Job",
    "LabDraw",
    "LabResult",
    "PainAssessment",
    "Patient",
    "PvpProcedure",
    "QolAssessment",
    "Screening",
    "SecurityEvent",
    "SignatureAttempt",
    "SiteFreeze",
    "Site",
    "TreatedLevel",
    "TumourResponse",
    "User",
]
