from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from trials import protocol, rules
from trials.audit import audited
from trials.models.base import (
    ClinicalRecord,
    InRange,
    SoftDeletable,
    deletion_complete,
    once_per_patient,
    range_check,
)
from trials.models.patient import SPINAL_LEVEL_CHOICES, Patient


@audited
class PvpProcedure(ClinicalRecord):
    class Approach(models.TextChoices):
        UNIPEDICULAR = "unipedicular", _("unipedicular")
        BIPEDICULAR = "bipedicular", _("bipedicular")

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="pvp_procedure")
    performed_on = models.DateField(_("performed on"))
    approach = models.CharField(_("approach"), max_length=12, choices=Approach)
    bed_rest_days = models.PositiveSmallIntegerField(
        _("bed rest (days)"), null=True, blank=True, validators=[InRange.of(protocol.BED_REST_DAYS)]
    )
    operator = models.CharField(_("operator"), max_length=100)

    class Meta:
        verbose_name = _("PVP procedure")
        constraints = [range_check("pvp_bed_rest_days_range", "bed_rest_days", protocol.BED_REST_DAYS)]

    def __str__(self):
        return f"PVP of {self.patient} on {self.performed_on}"

    def levels_in_spine_order(self) -> list["TreatedLevel"]:
        """Treated levels from T1 down to L5 (uses prefetched levels when there are any)."""
        return sorted(self.levels.all(), key=lambda level: protocol.SPINAL_LEVELS.index(level.level))

    def clean(self):
        if self.patient_id:
            rules.check_treatment_allowed(self.patient, _("A PVP procedure"))
            rules.check_dates(self, self.patient, ["performed_on"], treatment=True)


@audited
class TreatedLevel(ClinicalRecord):
    class Leakage(models.TextChoices):
        NONE = "none", _("none")
        DISC = "disc", _("disc space")
        PARAVERTEBRAL = "paravertebral", _("paravertebral")
        EPIDURAL = "epidural", _("epidural")
        FORAMINAL = "foraminal", _("foraminal")
        VENOUS = "venous", _("venous")

    procedure = models.ForeignKey(PvpProcedure, on_delete=models.CASCADE, related_name="levels")
    level = models.CharField(_("level"), max_length=3, choices=SPINAL_LEVEL_CHOICES)
    cement_ml = models.DecimalField(
        _("PMMA cement (ml)"), max_digits=4, decimal_places=1, validators=[InRange.of(protocol.CEMENT_ML)]
    )
    leakage = models.CharField(_("cement leakage"), max_length=14, choices=Leakage, default=Leakage.NONE)

    class Meta:
        ordering = ["procedure", "level"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "level"], name="treated_level_once_per_procedure"),
            range_check("treated_level_cement_ml_range", "cement_ml", protocol.CEMENT_ML),
        ]

    def __str__(self):
        return f"{self.level}: {self.cement_ml} ml"


@audited
class Infusion(ClinicalRecord, SoftDeletable):
    class Status(models.TextChoices):
        GIVEN = "given", _("given")
        HELD = "held", _("held")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="infusions")
    cycle = models.PositiveSmallIntegerField(_("cycle"), validators=[InRange.of(protocol.CYCLE_RANGE)])
    infused_on = models.DateField(_("date"))
    status = models.CharField(_("status"), max_length=5, choices=Status, default=Status.GIVEN)
    held_reason = models.CharField(_("reason held"), max_length=200, blank=True)
    dose_mg = models.DecimalField(
        _("dose (mg)"), max_digits=2, decimal_places=1, null=True, blank=True,
        validators=[InRange.of(protocol.DOSE_MG)],
    )  # fmt: skip
    diluent_ml = models.PositiveSmallIntegerField(
        _("diluent 0.9% NaCl (ml)"), null=True, blank=True, validators=[InRange.of(protocol.DILUENT_ML)]
    )
    duration_min = models.PositiveSmallIntegerField(
        _("duration (min)"), null=True, blank=True, validators=[InRange.of(protocol.INFUSION_MINUTES)]
    )
    creatinine_umol_l = models.DecimalField(
        _("pre-dose creatinine (µmol/L)"), max_digits=5, decimal_places=1, null=True, blank=True,
        validators=[InRange.of(protocol.CREATININE_UMOL_L)],
    )  # fmt: skip

    class Meta:
        ordering = ["patient", "cycle"]
        constraints = [
            once_per_patient(
                "infusion_cycle_once_per_patient",
                "cycle",
                _("An infusion of this cycle already exists for this patient."),
            ),
            deletion_complete("infusion_deletion_complete"),
            range_check("infusion_cycle_range", "cycle", protocol.CYCLE_RANGE),
            range_check("infusion_dose_mg_range", "dose_mg", protocol.DOSE_MG),
            range_check("infusion_diluent_ml_range", "diluent_ml", protocol.DILUENT_ML),
            range_check("infusion_duration_min_range", "duration_min", protocol.INFUSION_MINUTES),
            range_check("infusion_creatinine_range", "creatinine_umol_l", protocol.CREATININE_UMOL_L),
            models.CheckConstraint(
                condition=Q(status="held") | Q(dose_mg__isnull=False, duration_min__isnull=False),
                name="infusion_given_has_dose_and_duration",
            ),
            models.CheckConstraint(
                condition=Q(status="given", held_reason="") | (Q(status="held") & ~Q(held_reason="")),
                name="infusion_held_reason_only_when_held",
            ),
        ]

    def __str__(self):
        return f"{self.patient} cycle {self.cycle}"

    def clean(self):
        errors = {}
        if self.status == self.Status.HELD:
            if not self.held_reason.strip():
                errors["held_reason"] = _("A held infusion needs the reason it was held.")
        else:
            if self.held_reason:
                errors["held_reason"] = _("Only a held infusion has a reason for holding; the status is 'given'.")
            for name in ("dose_mg", "duration_min"):
                if getattr(self, name) is None:
                    errors[name] = _("%(field)s is required for an infusion that was given.") % {
                        "field": capfirst(self._meta.get_field(name).verbose_name)
                    }
        if self.patient_id:
            rules.check_treatment_allowed(self.patient, _("An infusion"))
            errors = rules.date_errors(self, self.patient, ["infused_on"], treatment=True) | errors
            if "infused_on" not in errors and "cycle" not in errors:
                errors |= self._cycle_order_errors()
        if errors:
            raise ValidationError(errors)

    def _cycle_order_errors(self) -> dict[str, str]:
        """Cycle n must fall after cycle n - 1 and before cycle n + 1 (closer than 21 days is only a deviation)."""
        if self.cycle is None or self.infused_on is None:
            return {}
        others = Infusion.objects.filter(patient_id=self.patient_id).exclude(pk=self.pk)
        earlier = others.filter(cycle__lt=self.cycle, infused_on__gte=self.infused_on).order_by("cycle").first()
        later = others.filter(cycle__gt=self.cycle, infused_on__lte=self.infused_on).order_by("cycle").first()
        clash = earlier or later
        if clash is None:
            return {}
        return {
            "infused_on": _(
                "Date %(value)s does not fit the order of cycles: cycle %(other)s was given on %(other_date)s."
            )
            % {"value": self.infused_on, "other": clash.cycle, "other_date": clash.infused_on}
        }

    @property
    def crcl_ml_min(self):
        patient = self.patient
        if None in (self.creatinine_umol_l, patient.weight_kg, self.infused_on):
            return None
        age = protocol.age_on(patient.date_of_birth, self.infused_on)
        return protocol.cockcroft_gault(age, patient.sex, patient.weight_kg, self.creatinine_umol_l)

    @property
    def label_dose_mg(self):
        crcl = self.crcl_ml_min
        return None if crcl is None else protocol.label_dose_mg(crcl)

    def deviations(self, previous_infused_on=None) -> list[str]:
        days = None if previous_infused_on is None else (self.infused_on - previous_infused_on).days
        return protocol.infusion_deviations(
            status=self.status,
            duration_min=self.duration_min,
            days_since_previous=days,
            dose_mg=self.dose_mg,
            label_dose=self.label_dose_mg,
            crcl_known=self.crcl_ml_min is not None,
        )
