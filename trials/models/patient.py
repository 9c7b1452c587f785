from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trials import protocol, rules
from trials.audit import audited
from trials.models.base import (
    ClinicalRecord,
    InRange,
    Site,
    SoftDeletable,
    deletion_complete,
    free_text_field,
    not_before,
    range_check,
)

SPINAL_LEVEL_CHOICES = [(level, level) for level in protocol.SPINAL_LEVELS]


@audited
class Patient(ClinicalRecord, SoftDeletable):
    class Sex(models.TextChoices):
        MALE = "M", _("male")
        FEMALE = "F", _("female")

    class Isotype(models.TextChoices):
        IGG = "IgG", "IgG"
        IGA = "IgA", "IgA"
        IGM = "IgM", "IgM"
        IGD = "IgD", "IgD"
        IGE = "IgE", "IgE"
        LIGHT_CHAIN = "light_chain", _("light chain")
        NON_SECRETORY = "non_secretory", _("non-secretory")

    class LightChain(models.TextChoices):
        KAPPA = "kappa", _("kappa")
        LAMBDA = "lambda", _("lambda")
        UNKNOWN = "unknown", _("unknown")

    class IssStage(models.TextChoices):
        I = "I", "I"  # noqa: E741 - the stage is called I
        II = "II", "II"
        III = "III", "III"
        UNKNOWN = "unknown", _("unknown")

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients", verbose_name=_("site"))
    screening_number = models.CharField(_("screening number"), max_length=20, unique=True, editable=False)
    study_id = models.CharField(_("study ID"), max_length=20, unique=True, null=True, blank=True, editable=False)
    enrolled_on = models.DateField(_("enrolled on"), null=True, blank=True, editable=False)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex)
    date_of_birth = models.DateField(_("date of birth"))
    hospital_number = models.CharField(_("hospital number"), max_length=30)
    initials = models.CharField(_("initials"), max_length=10)
    weight_kg = models.DecimalField(
        _("weight (kg)"), max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[InRange.of(protocol.WEIGHT_KG)],
    )  # fmt: skip
    height_cm = models.DecimalField(
        _("height (cm)"), max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[InRange.of(protocol.HEIGHT_CM)],
    )  # fmt: skip
    diagnosis_date = models.DateField(_("diagnosis date"), null=True, blank=True)
    isotype = models.CharField(_("isotype"), max_length=20, choices=Isotype)
    light_chain = models.CharField(_("light chain"), max_length=10, choices=LightChain, default=LightChain.UNKNOWN)
    iss_stage = models.CharField(_("ISS stage"), max_length=10, choices=IssStage, default=IssStage.UNKNOWN)
    fractured_levels = ArrayField(
        models.CharField(max_length=3, choices=SPINAL_LEVEL_CHOICES),
        verbose_name=_("fractured levels"),
        default=list,
        blank=True,
    )

    class Meta:
        ordering = ["site__code", "screening_number"]
        # Granted to the roles that care for the patient (roles.py); investigators work de-identified.
        permissions = [("view_identifying_data", "Can see date of birth, hospital number and initials")]
        constraints = [
            deletion_complete("patient_deletion_complete"),
            # Only a patient registered in error (never enrolled) can be deleted.
            models.CheckConstraint(
                condition=Q(deleted_at__isnull=True) | Q(study_id__isnull=True), name="patient_deleted_only_unenrolled"
            ),
            range_check("patient_weight_kg_range", "weight_kg", protocol.WEIGHT_KG),
            range_check("patient_height_cm_range", "height_cm", protocol.HEIGHT_CM),
            models.CheckConstraint(
                condition=Q(fractured_levels__contained_by=list(protocol.SPINAL_LEVELS)),
                name="patient_fractured_levels_known",
            ),
            not_before("patient_diagnosis_after_birth", "diagnosis_date", "date_of_birth"),
            not_before("patient_enrolled_after_birth", "enrolled_on", "date_of_birth"),
            models.CheckConstraint(
                condition=Q(study_id__isnull=True, enrolled_on__isnull=True)
                | Q(study_id__isnull=False, enrolled_on__isnull=False),
                name="patient_study_id_with_enrolment_date",
            ),
        ]

    def __str__(self):
        return self.study_id or self.screening_number

    def clean(self):
        errors = rules.date_errors(self, None, ["date_of_birth", "diagnosis_date"])
        errors = rules.not_before(self, "diagnosis_date", "date_of_birth") | errors
        if errors:
            raise ValidationError(errors)

    @property
    def fractured_count(self) -> int:
        return len(self.fractured_levels)

    @property
    def fracture_region(self) -> str | None:
        return protocol.fracture_region(self.fractured_levels)

    @property
    def fracture_region_label(self) -> str:
        region = self.fracture_region
        return protocol.FractureRegion(region).label if region else ""

    @property
    def age_at_enrolment(self) -> int | None:
        if self.enrolled_on is None:
            return None
        return protocol.age_on(self.date_of_birth, self.enrolled_on)

    @property
    def is_enrolled(self) -> bool:
        return self.study_id is not None


@audited
class EndOfStudy(ClinicalRecord):
    class Reason(models.TextChoices):
        COMPLETED = "completed", _("completed")
        WITHDREW_CONSENT = "withdrew_consent", _("withdrew consent")
        LOST_TO_FOLLOW_UP = "lost_to_follow_up", _("lost to follow-up")
        DIED = "died", _("died")
        ADVERSE_EVENT = "adverse_event", _("adverse event")
        OTHER = "other", _("other")

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="end_of_study")
    end_date = models.DateField(_("end date"))
    end_reason = models.CharField(_("reason"), max_length=20, choices=Reason)
    notes = free_text_field(_("notes"), blank=True)

    class Meta:
        verbose_name = _("end of study")
        verbose_name_plural = _("ends of study")

    def __str__(self):
        return f"{self.patient}: {self.get_end_reason_display()} on {self.end_date}"

    def clean(self):
        if self.patient_id:
            rules.check_dates(self, self.patient, ["end_date"], treatment=True)
