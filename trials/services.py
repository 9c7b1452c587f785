"""Writes that touch several rows or need numbering: called by views, the API and commands alike."""

from datetime import date

from django.db import transaction

from trials.models import Patient, Site


def _next_number(site_id: int, counter: str) -> tuple[Site, int]:
    # The site row is locked until the transaction ends, so two coordinators (or two imports)
    # numbering patients at the same moment queue here: no duplicate and no gap.
    site = Site.objects.select_for_update().get(pk=site_id)
    number = getattr(site, counter) + 1
    setattr(site, counter, number)
    site.save(update_fields=[counter])
    return site, number


@transaction.atomic
def register_patient(*, site: Site, **fields) -> Patient:
    """Create a patient at first entry with the next screening number, `<SITE>-S<NNN>`."""
    site, number = _next_number(site.pk, "last_screening_number")
    return Patient.objects.create(site=site, screening_number=f"{site.code}-S{number:03d}", **fields)


@transaction.atomic
def enrol_patient(patient: Patient, *, enrolled_on: date) -> Patient:
    """Assign the study ID `<SITE>-<NNN>`; the caller has checked the signed eligible screening."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.study_id:
        return patient
    site, number = _next_number(patient.site_id, "last_study_number")
    patient.study_id = f"{site.code}-{number:03d}"
    patient.enrolled_on = enrolled_on
    patient.version += 1
    patient.save(update_fields=["study_id", "enrolled_on", "version", "updated_at"])
    return patient
