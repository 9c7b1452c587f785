from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trials import protocol, rules
from trials.audit import audited
from trials.models.base import ClinicalRecord
from trials.models.patient import Patient

Answer = protocol.Answer


def _criterion_field(code: str) -> models.CharField:
    return models.CharField(
        code,
        max_length=7,
        choices=Answer,
        default=Answer.UNKNOWN,
        help_text=protocol.CRITERIA_BY_CODE[code].text.en,
    )


@audited
class Screening(ClinicalRecord):
    """The eligibility checklist. I4 is derived from KPS and life expectancy, never typed."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="screening")
    screened_on = models.DateField(_("screened on"))
    kps = models.PositiveSmallIntegerField(
        _("Karnofsky score (KPS)"), null=True, blank=True, choices=[(v, str(v)) for v in protocol.KPS_VALUES]
    )
    life_expectancy_over_90_days = models.CharField(
        _("expected survival > 90 days"), max_length=7, choices=Answer, default=Answer.UNKNOWN
    )
    i1 = _criterion_field("I1")
    i2 = _criterion_field("I2")
    i3 = _criterion_field("I3")
    i5 = _criterion_field("I5")
    e1 = _criterion_field("E1")
    e2 = _criterion_field("E2")
    e3 = _criterion_field("E3")
    e4 = _criterion_field("E4")
    e5 = _criterion_field("E5")
    consent_date = models.DateField(_("consent date"), null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    signed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The signature manifest (21 CFR 11.50): printed name and meaning, kept with the signature.
    signed_name = models.CharField(_("signed by (printed name)"), max_length=150, blank=True, editable=False)
    signature_meaning = models.CharField(_("meaning of the signature"), max_length=300, blank=True, editable=False)
    # What was signed: the version reviewed and the SHA-256 of its content (enrolment.signed_content).
    signed_version = models.PositiveIntegerField(_("version signed"), null=True, blank=True, editable=False)
    # db_default: raw SQL loaders (the benchmarks, restores) need not know about it.
    signed_content_hash = models.CharField(_("SHA-256 of the signed content"), max_length=64, blank=True,
                                           editable=False, db_default="")  # fmt: skip

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kps__in=protocol.KPS_VALUES), name="screening_kps_steps_of_10"),
            models.CheckConstraint(
                condition=~Q(i5=Answer.YES) | Q(consent_date__isnull=False),
                name="screening_consent_date_when_consented",
            ),
            models.CheckConstraint(
                condition=Q(signed_by__isnull=True, signed_at__isnull=True)
                | Q(signed_by__isnull=False, signed_at__isnull=False),
                name="screening_signature_complete",
            ),
        ]

    def __str__(self):
        return f"Screening of {self.patient}"

    def clean(self):
        errors = rules.date_errors(self, self.patient if self.patient_id else None, ["screened_on", "consent_date"])
        if self.i5 == Answer.YES and self.consent_date is None and "consent_date" not in errors:
            errors["consent_date"] = _("The consent date is required when I5 (informed consent signed) is yes.")
        if errors:
            raise ValidationError(errors)

    @property
    def i4(self) -> str:
        return protocol.derive_i4(self.kps, self.life_expectancy_over_90_days)

    @property
    def criteria(self) -> dict[str, str]:
        return {criterion.code: getattr(self, criterion.code.lower()) for criterion in protocol.CRITERIA}

    @property
    def result(self) -> protocol.EligibilityResult:
        return protocol.evaluate_eligibility(self.criteria)

    @property
    def eligible(self) -> bool | None:
        return self.result.eligible

    @property
    def failed_criteria(self) -> tuple[str, ...]:
        return self.result.failed_criteria

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class SignatureAttempt(models.Model):
    """Every e-signature attempt, refused ones included (a wrong password is logged here)."""

    screening = models.ForeignKey(Screening, on_delete=models.PROTECT, related_name="signature_attempts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    attempted_at = models.DateTimeField(auto_now_add=True)
    succeeded = models.BooleanField()
    refusal = models.CharField(max_length=200, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-attempted_at"]

    def __str__(self):
        outcome = "signed" if self.succeeded else f"refused ({self.refusal})"
        return f"{self.user} on {self.screening} at {self.attempted_at:%Y-%m-%d %H:%M}: {outcome}"
