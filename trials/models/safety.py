from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trials import protocol, rules
from trials.audit import audited
from trials.models.base import (
    ClinicalRecord,
    InRange,
    SoftDeletable,
    deletion_complete,
    free_text_field,
    not_before,
    range_check,
)
from trials.models.patient import Patient

Term = protocol.AdverseEventTerm


@audited
class AdverseEvent(ClinicalRecord, SoftDeletable):
    class RelatedTo(models.TextChoices):
        PVP = "pvp", _("PVP")
        ZOLEDRONIC_ACID = "zoledronic_acid", _("zoledronic acid")
        BOTH = "both", _("both")
        UNRELATED = "unrelated", _("unrelated")
        UNKNOWN = "unknown", _("unknown")

    class Action(models.TextChoices):
        NONE = "none", _("none")
        OBSERVATION = "observation", _("observation")
        SYMPTOMATIC_TREATMENT = "symptomatic_treatment", _("symptomatic treatment")
        DOSE_HELD = "dose_held", _("dose held")
        DOSE_REDUCED = "dose_reduced", _("dose reduced")
        DISCONTINUED = "discontinued", _("discontinued")

    class Outcome(models.TextChoices):
        RESOLVED = "resolved", _("resolved")
        RESOLVING = "resolving", _("resolving")
        ONGOING = "ongoing", _("ongoing")
        RESOLVED_WITH_SEQUELAE = "resolved_with_sequelae", _("resolved with sequelae")
        FATAL = "fatal", _("fatal")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="adverse_events")
    term = models.CharField(_("term"), max_length=30, choices=Term)
    other_term = models.CharField(_("other term"), max_length=200, blank=True)
    onset_on = models.DateField(_("onset"))
    resolved_on = models.DateField(_("resolved on"), null=True, blank=True)
    ctcae_grade = models.PositiveSmallIntegerField(
        _("CTCAE grade"),
        choices=[(g, str(g)) for g in range(1, 6)],
        validators=[InRange.of(protocol.CTCAE_GRADE_RANGE)],
    )
    serious = models.BooleanField(_("serious"), default=False)
    related_to = models.CharField(_("related to"), max_length=16, choices=RelatedTo)
    action = models.CharField(_("action taken"), max_length=22, choices=Action, default=Action.NONE)
    outcome = models.CharField(_("outcome"), max_length=22, choices=Outcome)
    max_temperature_c = models.DecimalField(
        _("maximum temperature (°C)"), max_digits=3, decimal_places=1, null=True, blank=True,
        validators=[InRange.of(protocol.FEVER_TEMPERATURE_C)],
    )  # fmt: skip
    description = free_text_field(_("description"), blank=True)

    class Meta:
        ordering = ["patient", "onset_on"]
        constraints = [
            deletion_complete("ae_deletion_complete"),
            range_check("ae_ctcae_grade_range", "ctcae_grade", protocol.CTCAE_GRADE_RANGE),
            range_check("ae_max_temperature_range", "max_temperature_c", protocol.FEVER_TEMPERATURE_C),
            not_before("ae_resolved_not_before_onset", "resolved_on", "onset_on"),
            models.CheckConstraint(
                condition=(Q(term=Term.OTHER) & ~Q(other_term="")) | (~Q(term=Term.OTHER) & Q(other_term="")),
                name="ae_other_term_only_for_other",
            ),
            models.CheckConstraint(
                condition=Q(term=Term.FEVER) | Q(max_temperature_c__isnull=True),
                name="ae_temperature_only_for_fever",
            ),
            # CTCAE grade 5 means death related to the event, so the two must agree.
            models.CheckConstraint(
                condition=Q(outcome="fatal", ctcae_grade=5) | (~Q(outcome="fatal") & ~Q(ctcae_grade=5)),
                name="ae_fatal_outcome_is_grade_5",
            ),
        ]

    def __str__(self):
        return f"{self.patient}: {self.display_term} (grade {self.ctcae_grade})"

    def clean(self):
        errors = rules.not_before(self, "resolved_on", "onset_on")
        if self.patient_id:
            errors = rules.date_errors(self, self.patient, ["onset_on", "resolved_on"]) | errors
        if self.term == Term.OTHER and not self.other_term.strip():
            errors["other_term"] = _("Name the event: the term is 'other'.")
        if self.term != Term.OTHER and self.other_term:
            errors["other_term"] = _("Leave 'other term' empty unless the term is 'other'.")
        if self.max_temperature_c is not None and self.term != Term.FEVER:
            errors["max_temperature_c"] = _("A maximum temperature belongs to a fever only.")
        if (self.outcome == self.Outcome.FATAL) != (self.ctcae_grade == 5) and self.ctcae_grade is not None:
            errors["outcome"] = _(
                "CTCAE grade 5 means death related to the event: grade %(grade)s and outcome '%(outcome)s' disagree."
            ) % {"grade": self.ctcae_grade, "outcome": self.get_outcome_display()}
        if errors:
            raise ValidationError(errors)

    @property
    def display_term(self) -> str:
        return self.other_term if self.term == Term.OTHER else self.get_term_display()
