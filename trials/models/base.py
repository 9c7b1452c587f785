from decimal import Decimal

import pghistory
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from trials.audit import audited
from trials.models.checks import OneStatementChecks
from trials.protocol import Range

# --- Input limits: the one place they are set ------------------------------------------------
# Long free text (notes, descriptions, query questions and answers): a page of text is plenty for a
# case report form, and the limit keeps a pasted document or a hostile megabyte out of the database,
# the pages and the exports. Counted in characters, so Chinese text gets the same room as English.
FREE_TEXT_MAX_CHARS = 4000
# The reason for a change, stored with each audited edit.
REASON_MAX_CHARS = 500
# A CSV import file (a study of this size needs a few hundred kB at most).
IMPORT_MAX_BYTES = 5 * 1024 * 1024


def free_text_field(verbose_name, **kwargs) -> models.TextField:
    """A TextField whose limit holds on every path: the page's form, the API and `full_clean` (imports).

    `max_length` alone on a TextField only reaches the form; the validator makes the model enforce it.
    """
    return models.TextField(
        verbose_name,
        max_length=FREE_TEXT_MAX_CHARS,
        validators=[MaxLengthValidator(FREE_TEXT_MAX_CHARS)],
        **kwargs,
    )


@deconstructible
class InRange:
    """Field validator whose message names the value and the rule (the form names the field)."""

    def __init__(self, low, high, unit=""):
        self.low, self.high, self.unit = Decimal(str(low)), Decimal(str(high)), unit

    @classmethod
    def of(cls, rng: Range) -> "InRange":
        return cls(rng.low, rng.high, rng.unit)

    def __call__(self, value):
        if value is None:
            return
        if not (self.low <= Decimal(str(value)) <= self.high):
            unit = f" {self.unit}" if self.unit else ""
            raise ValidationError(
                _("%(value)s is impossible: the value must lie in %(low)s–%(high)s%(unit)s."),
                code="impossible_value",
                params={"value": value, "low": self.low, "high": self.high, "unit": unit},
            )

    def __eq__(self, other):
        return isinstance(other, InRange) and (self.low, self.high, self.unit) == (other.low, other.high, other.unit)


def range_check(name: str, field: str, rng: Range) -> models.CheckConstraint:
    """The database twin of `InRange`: NULL passes (a missing value is not an impossible one)."""
    return models.CheckConstraint(condition=Q(**{f"{field}__gte": rng.low, f"{field}__lte": rng.high}), name=name)


def not_before(name: str, later: str, earlier: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{later}__gte": models.F(earlier)}), name=name)


@audited
class Site(models.Model):
    code = models.CharField(
        _("site code"),
        max_length=10,
        unique=True,
        help_text=_("Short upper-case code used in study IDs, e.g. H01."),
    )
    name = models.CharField(_("name"), max_length=200)
    # Counters for gap-free numbering; read and bumped under SELECT ... FOR UPDATE.
    last_screening_number = models.PositiveIntegerField(default=0, editable=False)
    last_study_number = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9]{2,10}$"), name="site_code_format"),
        ]

    def __str__(self):
        return f"{self.code} — {self.name}"


# Accounts are in the audit trail too: who created, changed or deactivated a user, and when their
# password changed (the hash itself is never copied; nor is the last login, which changes daily).
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
    pghistory.UpdateEvent("password_changed", condition=pghistory.AnyChange("password")),
    exclude=["password", "last_login"],
)
class User(AbstractUser):
    """A study user; the sites decide which patients the user may see."""

    sites = models.ManyToManyField(Site, blank=True, related_name="users", verbose_name=_("sites"))

    def __str__(self):
        return self.get_full_name() or self.username


class ClinicalRecord(OneStatementChecks):
    """Bookkeeping every clinical form carries; `version` supports optimistic edit conflicts.

    Its check constraints are validated in one statement (trials/models/checks.py)."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True


class LiveRecords(models.Manager):
    """The default manager of a soft-deletable form: deleted rows leave every page, export and count.

    Being the default manager, it is also what `patient.infusions` and prefetches use. The rows stay
    in the table (and in the audit trail) and remain reachable through `all_objects`.
    """

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class AllRecords(models.Manager):
    """Every row, deleted ones included: for the casebook, the audit and restoring."""


DELETION_FIELDS = frozenset({"deleted_at", "deleted_by", "deletion_reason"})


class SoftDeletable(models.Model):
    """A form that can be deleted only as a soft delete with a reason (GCP: nothing entered disappears)."""

    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, editable=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, editable=False,
        related_name="+", verbose_name=_("deleted by"),
    )  # fmt: skip
    # db_default: raw SQL loaders (the benchmark, restores) need not know about deletion.
    deletion_reason = models.TextField(_("reason for deletion"), blank=True, editable=False, db_default="")

    objects = LiveRecords()
    all_objects = AllRecords()

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


def deletion_complete(name: str) -> models.CheckConstraint:
    """A deleted row names who deleted it, when and why; a live row has none of the three."""
    return models.CheckConstraint(
        condition=Q(deleted_at__isnull=True, deleted_by__isnull=True, deletion_reason="")
        | (Q(deleted_at__isnull=False, deleted_by__isnull=False) & ~Q(deletion_reason="")),
        name=name,
    )


LIVE = Q(deleted_at__isnull=True)


def once_per_patient(name: str, field: str, message) -> models.UniqueConstraint:
    """One live form per patient and `field` (a deleted form may be entered again)."""
    return models.UniqueConstraint(
        fields=["patient", field], condition=LIVE, name=name, violation_error_message=message
    )
