"""What people read in place of codes: each coded value's label and each form's name, in the user's language.

The labels are the models' own choices (one source for forms, pages, the casebook and its PDF); the
exports keep the codes (by design) and carry these labels as value labels.
"""

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import get_language, gettext_lazy

from trials import protocol
from trials.data_review import RECORD_MODELS
from trials.models import AdverseEvent, EndOfStudy, Infusion, Patient, PvpProcedure, TreatedLevel
from trials.models.review import RECORD_TYPES

# The choices each kind of coded value takes its label from.
CHOICES = {
    "sex": Patient.Sex,
    "isotype": Patient.Isotype,
    "light_chain": Patient.LightChain,
    "iss_stage": Patient.IssStage,
    "fracture_region": protocol.FractureRegion,
    "timepoint": protocol.Timepoint,
    "answer": protocol.Answer,
    "ebmt": protocol.EbmtCategory,
    "pain_relief": protocol.PainRelief,
    "ae_term": protocol.AdverseEventTerm,
    "related_to": AdverseEvent.RelatedTo,
    "ae_action": AdverseEvent.Action,
    "ae_outcome": AdverseEvent.Outcome,
    "end_reason": EndOfStudy.Reason,
    "approach": PvpProcedure.Approach,
    "leakage": TreatedLevel.Leakage,
    "infusion_status": Infusion.Status,
}


def label(kind: str, code) -> str:
    """The label of a coded value; an unknown code as it is."""
    return str(dict(CHOICES[kind].choices).get(code, code))


# Fields without a translated verbose_name (the bookkeeping of every form, the signature's time).
FIELD_NAMES = {
    "created_at": gettext_lazy("created"),
    "updated_at": gettext_lazy("updated"),
    "version": gettext_lazy("version"),
    "signed_at": gettext_lazy("signed at"),
}
QOL_ITEMS = dict(protocol.QOL_ITEMS)


def analyte_label(code: str) -> str:
    analyte = protocol.ANALYTES_BY_CODE.get(code)
    return analyte.label.for_language(get_language()) if analyte else code


def field_label(field) -> str:
    """A form field's name in the user's language."""
    if field.name in QOL_ITEMS:
        return QOL_ITEMS[field.name].for_language(get_language())
    criterion = protocol.CRITERIA_BY_CODE.get(field.name.upper())
    if criterion is not None:
        return f"{criterion.code} {criterion.text.for_language(get_language())}"
    return str(FIELD_NAMES.get(field.name, field.verbose_name))


def form_name(record) -> str:
    """The form's name as a data query names it (the models' RECORD_TYPES, translated)."""
    return str(dict(RECORD_TYPES).get(record._meta.model_name, record._meta.verbose_name))


def query_field_label(query) -> str:
    """The name of the field a data query asks about, in the user's language."""
    model = RECORD_MODELS.get(query.record_type)
    try:
        return field_label(model._meta.get_field(query.field)) if model else query.field
    except FieldDoesNotExist:
        return query.field


def form_title(record) -> str:
    """The form's name and which one it is (timepoint, cycle, level, analyte) in the user's language; the
    models' own __str__ is English (for logs and the administration)."""
    parts = [form_name(record)]
    if hasattr(record, "get_timepoint_display"):
        parts.append(str(record.get_timepoint_display()))
    if getattr(record, "cycle", None) is not None:
        parts.append(str(gettext_lazy("Cycle %(cycle)s") % {"cycle": record.cycle}))
    if getattr(record, "level", None):
        parts.append(record.level)
    if getattr(record, "analyte", None):
        parts.append(analyte_label(record.analyte))
    if getattr(record, "term", None):
        parts.append(record.display_term)
    return " · ".join(parts)
