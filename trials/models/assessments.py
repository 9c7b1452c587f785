from functools import reduce
from operator import or_

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
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
from trials.models.patient import Patient

Timepoint = protocol.Timepoint


def check_timepoint_record(instance, date_field: str, what: str) -> None:
    """Baseline data may precede enrolment; anything later is follow-up and needs the signed screening."""
    if not instance.patient_id:
        return
    after_baseline = instance.timepoint not in ("", None, Timepoint.BASELINE)
    if after_baseline:
        rules.check_treatment_allowed(instance.patient, what)
    rules.check_dates(instance, instance.patient, [date_field], treatment=after_baseline)


def _analyte_is_possible() -> Q:
    """One CHECK for the whole results table: each analyte within its own possible range."""
    return reduce(
        or_,
        (Q(analyte=a.code, value__gte=a.possible.low, value__lte=a.possible.high) for a in protocol.ANALYTES),
    )


def _critical_is_confirmed() -> Q:
    critical = Q()
    for analyte in protocol.ANALYTES:
        if analyte.critical_low is not None:
            critical |= Q(analyte=analyte.code, value__lt=analyte.critical_low)
        if analyte.critical_high is not None:
            critical |= Q(analyte=analyte.code, value__gt=analyte.critical_high)
    return ~critical | Q(critical_confirmed=True)


@audited
class LabDraw(ClinicalRecord, SoftDeletable):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lab_draws")
    timepoint = models.CharField(_("timepoint"), max_length=10, choices=Timepoint)
    drawn_on = models.DateField(_("drawn on"))
    fasting = models.BooleanField(_("fasting"), null=True, blank=True)

    class Meta:
        ordering = ["patient", "drawn_on"]
        constraints = [
            once_per_patient(
                "lab_draw_once_per_timepoint",
                "timepoint",
                _("A lab draw at this timepoint already exists for this patient."),
            ),
            deletion_complete("lab_draw_deletion_complete"),
        ]

    def __str__(self):
        return f"Labs of {self.patient} at {self.get_timepoint_display()}"

    def clean(self):
        check_timepoint_record(self, "drawn_on", _("A lab draw after baseline"))

    @property
    def results_by_analyte(self) -> dict[str, "LabResult"]:
        return {result.analyte: result for result in self.results.all()}


@audited
class LabResult(ClinicalRecord):
    """One analyte of one draw, stored in its canonical unit; what was typed is kept beside it."""

    lab_draw = models.ForeignKey(LabDraw, on_delete=models.CASCADE, related_name="results")
    analyte = models.CharField(_("analyte"), max_length=20, choices=protocol.ANALYTE_CHOICES)
    value = models.DecimalField(_("value (canonical unit)"), max_digits=12, decimal_places=4)
    entered_value = models.DecimalField(_("value as entered"), max_digits=12, decimal_places=4, null=True, blank=True)
    entered_unit = models.CharField(_("unit as entered"), max_length=10, blank=True)
    critical_confirmed = models.BooleanField(_("critical value confirmed"), default=False)

    @classmethod
    def from_reading(cls, reading: protocol.LabReading, *, critical_confirmed: bool = False, **fields) -> "LabResult":
        """The result of a value read by `protocol.read_lab_value`: the one way pages, API, import and
        demo loader make a result, so the same value entered in any unit is stored the same way."""
        return cls(analyte=reading.analyte, value=reading.value, entered_value=reading.entered_value,
                   entered_unit=reading.entered_unit, critical_confirmed=critical_confirmed, **fields)  # fmt: skip

    class Meta:
        ordering = ["lab_draw", "analyte"]
        constraints = [
            models.UniqueConstraint(fields=["lab_draw", "analyte"], name="lab_result_once_per_draw"),
            models.CheckConstraint(condition=_analyte_is_possible(), name="lab_result_value_possible"),
            models.CheckConstraint(condition=_critical_is_confirmed(), name="lab_result_critical_confirmed"),
        ]

    def __str__(self):
        return f"{self.analyte} = {self.value} {self.definition.unit}"

    def clean(self):
        definition = protocol.ANALYTES_BY_CODE.get(self.analyte)
        if definition is None or self.value is None:
            return
        if self.value not in definition.possible:
            raise ValidationError(
                {
                    "value": _("%(analyte)s %(value)s %(unit)s is impossible: it must lie in %(range)s %(unit)s.")
                    % {
                        "analyte": definition.label.for_language(get_language()),
                        "value": protocol.plain_number(self.value),
                        "unit": definition.unit,
                        "range": f"{definition.possible.low}–{definition.possible.high}",
                    }
                },
                code="impossible_value",
            )
        if definition.is_critical(self.value) and not self.critical_confirmed:
            raise ValidationError(
                {
                    "critical_confirmed": _(
                        "%(analyte)s %(value)s %(unit)s is a critical value (below %(low)s or above %(high)s): "
                        "tick the confirmation to save it."
                    )
                    % {
                        "analyte": definition.label.for_language(get_language()),
                        "value": protocol.plain_number(self.value),
                        "unit": definition.unit,
                        "low": definition.critical_low,
                        "high": definition.critical_high,
                    }
                },
                code="critical_unconfirmed",
            )

    @property
    def definition(self) -> protocol.Analyte:
        return protocol.ANALYTES_BY_CODE[self.analyte]

    @property
    def flag(self) -> str:
        return self.definition.flag(self.value)


@audited
class PainAssessment(ClinicalRecord, SoftDeletable):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="pain_assessments")
    timepoint = models.CharField(_("timepoint"), max_length=10, choices=Timepoint)
    assessed_on = models.DateField(_("assessed on"))
    who_grade = models.PositiveSmallIntegerField(_("WHO pain grade"), choices=protocol.WHO_PAIN_GRADES)
    vas = models.DecimalField(
        _("VAS (0-10)"), max_digits=3, decimal_places=1, null=True, blank=True,
        validators=[InRange.of(protocol.VAS_RANGE)],
    )  # fmt: skip

    class Meta:
        ordering = ["patient", "assessed_on"]
        constraints = [
            once_per_patient(
                "pain_once_per_timepoint",
                "timepoint",
                _("A pain assessment at this timepoint already exists for this patient."),
            ),
            deletion_complete("pain_deletion_complete"),
            range_check("pain_who_grade_range", "who_grade", protocol.WHO_GRADE_RANGE),
            range_check("pain_vas_range", "vas", protocol.VAS_RANGE),
        ]

    def __str__(self):
        return f"Pain of {self.patient} at {self.get_timepoint_display()}"

    def clean(self):
        check_timepoint_record(self, "assessed_on", _("A pain assessment after baseline"))


def _qol_item(code: str, label: protocol.Text) -> models.PositiveSmallIntegerField:
    return models.PositiveSmallIntegerField(
        label.en, null=True, blank=True, choices=[(score, str(score)) for score in range(1, 6)]
    )


@audited
class QolAssessment(ClinicalRecord, SoftDeletable):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="qol_assessments")
    timepoint = models.CharField(_("timepoint"), max_length=10, choices=Timepoint)
    assessed_on = models.DateField(_("assessed on"))
    q_appetite = _qol_item(*protocol.QOL_ITEMS[0])
    q_mental_state = _qol_item(*protocol.QOL_ITEMS[1])
    q_sleep = _qol_item(*protocol.QOL_ITEMS[2])
    q_fatigue = _qol_item(*protocol.QOL_ITEMS[3])
    q_pain = _qol_item(*protocol.QOL_ITEMS[4])
    q_family = _qol_item(*protocol.QOL_ITEMS[5])
    q_colleagues = _qol_item(*protocol.QOL_ITEMS[6])
    q_understanding = _qol_item(*protocol.QOL_ITEMS[7])
    q_attitude = _qol_item(*protocol.QOL_ITEMS[8])
    q_daily_life = _qol_item(*protocol.QOL_ITEMS[9])
    q_side_effects = _qol_item(*protocol.QOL_ITEMS[10])
    q_facial_expression = _qol_item(*protocol.QOL_ITEMS[11])

    class Meta:
        verbose_name = _("QoL assessment")
        ordering = ["patient", "assessed_on"]
        constraints = [
            once_per_patient(
                "qol_once_per_timepoint",
                "timepoint",
                _("A QoL assessment at this timepoint already exists for this patient."),
            ),
            deletion_complete("qol_deletion_complete"),
            *(range_check(f"qol_{code}_range", code, protocol.QOL_ITEM_RANGE) for code in protocol.QOL_ITEM_CODES),
        ]

    def __str__(self):
        return f"QoL of {self.patient} at {self.get_timepoint_display()}"

    def clean(self):
        check_timepoint_record(self, "assessed_on", _("A QoL assessment after baseline"))

    @property
    def total(self) -> int | None:
        return protocol.qol_total(getattr(self, code) for code in protocol.QOL_ITEM_CODES)


@audited
class TumourResponse(ClinicalRecord):
    """EBMT response at follow-up; the clinician's category counts, the suggestion only flags."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="tumour_response")
    assessed_on = models.DateField(_("assessed on"))
    category = models.CharField(_("EBMT category"), max_length=2, choices=protocol.EbmtCategory)
    immunofixation_negative = models.CharField(
        _("immunofixation negative"), max_length=7, choices=protocol.Answer, default=protocol.Answer.UNKNOWN
    )
    marrow_plasma_cells_pct = models.DecimalField(
        _("marrow plasma cells (%)"), max_digits=4, decimal_places=1, null=True, blank=True,
        validators=[InRange.of(protocol.MARROW_PLASMA_CELLS_PCT)],
    )  # fmt: skip

    class Meta:
        verbose_name = _("tumour response")
        constraints = [
            range_check("response_marrow_pc_range", "marrow_plasma_cells_pct", protocol.MARROW_PLASMA_CELLS_PCT),
        ]

    def __str__(self):
        return f"{self.patient}: {self.category}"

    def clean(self):
        if self.patient_id:
            rules.check_treatment_allowed(self.patient, _("A tumour response"))
            rules.check_dates(self, self.patient, ["assessed_on"], treatment=True)

    def suggested_category(self, m_protein_baseline, m_protein_follow_up) -> str | None:
        return protocol.suggest_ebmt_category(
            m_protein_baseline, m_protein_follow_up, self.immunofixation_negative, self.marrow_plasma_cells_pct
        )
