"""Data review: queries on recorded values, source-data verification, record locks, study freeze."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from trials.audit import audited
from trials.models.base import Site, free_text_field
from trials.models.patient import Patient

# The forms a query or a verification can point at (model name -> label).
RECORD_TYPES = [
    ("patient", _("patient details")),
    ("screening", _("eligibility screening")),
    ("pvpprocedure", _("PVP procedure")),
    ("treatedlevel", _("treated level")),
    ("infusion", _("infusion")),
    ("labdraw", _("lab draw")),
    ("labresult", _("lab result")),
    ("painassessment", _("pain assessment")),
    ("qolassessment", _("QoL assessment")),
    ("tumourresponse", _("tumour response")),
    ("adverseevent", _("adverse event")),
    ("endofstudy", _("end of study")),
]


@audited
class DataQuery(models.Model):
    """A question about one field of one record: open -> answered -> closed (or re-opened)."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        ANSWERED = "answered", _("answered")
        CLOSED = "closed", _("closed")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="data_queries")
    record_type = models.CharField(_("form"), max_length=20, choices=RECORD_TYPES)
    record_id = models.PositiveBigIntegerField()
    field = models.CharField(_("field"), max_length=60)
    question = free_text_field(_("question"))
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.OPEN)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(auto_now_add=True)
    answer = free_text_field(_("answer"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        verbose_name = _("data query")
        constraints = [
            models.CheckConstraint(condition=~Q(question=""), name="query_has_a_question"),
            models.CheckConstraint(
                condition=~Q(status="answered") | (~Q(answer="") & Q(answered_at__isnull=False)),
                name="query_answered_has_answer",
            ),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closed_at__isnull=False), name="query_closed_has_time"
            ),
        ]

    def __str__(self):
        return f"Query on {self.patient} {self.record_type}.{self.field}: {self.status}"


@audited
class SourceVerification(models.Model):
    """A coordinator checked this record against the source documents, at this version of it."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="verifications")
    record_type = models.CharField(max_length=20, choices=RECORD_TYPES)
    record_id = models.PositiveBigIntegerField()
    record_version = models.PositiveIntegerField()
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["record_type", "record_id"], name="one_verification_per_record"),
        ]

    def __str__(self):
        return f"SDV of {self.record_type} {self.record_id} (v{self.record_version})"


@audited
class PatientLock(models.Model):
    """While it exists, the patient's data cannot change by any path (database trigger)."""

    patient = models.OneToOneField(Patient, on_delete=models.PROTECT, related_name="lock")
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.patient} locked at {self.locked_at:%Y-%m-%d %H:%M}"


@audited
class StudyFreeze(models.Model):
    """While a row exists, no study data can change (database trigger); one row at most."""

    singleton = models.BooleanField(default=True, unique=True, editable=False)
    frozen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    frozen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(singleton=True), name="study_freeze_single_row")]

    def __str__(self):
        return f"Study frozen since {self.frozen_at:%Y-%m-%d %H:%M}"


@audited
class SiteFreeze(models.Model):
    """While it exists, no data of the site's patients can change (database trigger, as the study freeze)."""

    site = models.OneToOneField(Site, on_delete=models.PROTECT, related_name="freeze")
    frozen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    frozen_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.site.code} frozen since {self.frozen_at:%Y-%m-%d %H:%M}"


@audited
class ExportLog(models.Model):
    """Every export of study data: who, when, which format, and why for identifiable ones."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    exported_at = models.DateTimeField(auto_now_add=True)
    file_format = models.CharField(max_length=10)
    identifiable = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    # What left the system, so that a file can be matched to this record by its checksum.
    language = models.CharField(max_length=5, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    data_version = models.PositiveBigIntegerField(null=True, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-exported_at"]
        constraints = [
            models.CheckConstraint(condition=Q(identifiable=False) | ~Q(reason=""), name="identifiable_export_reason")
        ]

    def __str__(self):
        kind = "identifiable" if self.identifiable else "de-identified"
        return f"{self.user} exported {kind} {self.file_format} at {self.exported_at:%Y-%m-%d %H:%M}"
