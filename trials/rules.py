"""Validation rules that need more than one field or another record: dates and the treatment gate.

Models call these from `clean()`, so the pages, the API and imports all apply the same rules
(`full_clean()` runs them). Every message names the field, the value and the rule.
"""

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _


def _label(instance, field_name: str) -> str:
    return str(capfirst(instance._meta.get_field(field_name).verbose_name))


def date_errors(instance, patient, field_names, *, treatment: bool = False) -> dict[str, str]:
    """Dates must not lie in the future, before birth or diagnosis, nor (treatment) before screening."""
    errors = {}
    today = timezone.localdate()
    screening = getattr(patient, "screening", None) if patient and patient.pk else None
    for name in field_names:
        value = getattr(instance, name)
        if value is None:
            continue
        params = {"field": _label(instance, name), "value": value}
        if value > today:
            errors[name] = _("%(field)s %(value)s is in the future: dates cannot be after today (%(today)s).") % (
                params | {"today": today}
            )
        elif patient and patient.date_of_birth and value < patient.date_of_birth:
            errors[name] = _("%(field)s %(value)s is before the patient's date of birth (%(birth)s).") % (
                params | {"birth": patient.date_of_birth}
            )
        elif patient and patient.diagnosis_date and value < patient.diagnosis_date:
            errors[name] = _("%(field)s %(value)s is before the diagnosis of myeloma (%(diagnosis)s).") % (
                params | {"diagnosis": patient.diagnosis_date}
            )
        elif treatment and screening and value < screening.screened_on:
            errors[name] = _(
                "%(field)s %(value)s is before the screening (%(screened)s): no treatment may be dated before it."
            ) % (params | {"screened": screening.screened_on})
    return errors


def check_dates(instance, patient, field_names, *, treatment: bool = False) -> None:
    errors = date_errors(instance, patient, field_names, treatment=treatment)
    if errors:
        raise ValidationError(errors)


def treatment_is_allowed(patient) -> bool:
    """Only a screening a coordinator has signed as eligible lets a patient be treated."""
    screening = getattr(patient, "screening", None)
    return bool(screening and screening.is_signed and screening.eligible is True)


def patient_may_be_deleted(patient) -> bool:
    """Only a patient registered in error: never enrolled and no signed screening (those belong to the
    screening log and the CONSORT flow)."""
    screening = getattr(patient, "screening", None)
    return not patient.is_enrolled and not (screening is not None and screening.is_signed)


def check_treatment_allowed(patient, what: str) -> None:
    if not treatment_is_allowed(patient):
        raise ValidationError(
            _(
                "%(what)s cannot be entered for %(patient)s: treatment and follow-up need an eligibility "
                "screening signed by a coordinator as eligible."
            )
            % {"what": what, "patient": patient},
            code="treatment_gate",
        )


def not_before(instance, later: str, earlier: str) -> dict[str, str]:
    later_value, earlier_value = getattr(instance, later), getattr(instance, earlier)
    if later_value is None or earlier_value is None or later_value >= earlier_value:
        return {}
    return {
        later: _("%(field)s %(value)s is before %(other)s %(other_value)s.")
        % {
            "field": _label(instance, later),
            "value": later_value,
            "other": _label(instance, earlier).lower(),
            "other_value": earlier_value,
        }
    }
