"""API tokens: shown once when minted, stored only as a SHA-256 hash, read-only or read-write,
expiring, revocable by their owner and by a data manager; every mint and revocation is audited.

A token is 256 random bits, so a fast hash is enough: nobody can guess a key from its hash, and the
lookup stays one indexed query per API request (a slow password hash would cost every request).
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from trials.audit import audited

KEY_PREFIX = "pvp_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@audited
class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", _("read only")
        WRITE = "write", _("read and write")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(_("what it is for"), max_length=100)
    # The first characters of the key, so that its owner can tell tokens apart; never enough to use it.
    prefix = models.CharField(_("starts with"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(_("scope"), max_length=5, choices=Scope, default=Scope.READ)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    # Minted from a session that passed the second factor (required for the roles that need one).
    second_factor = models.BooleanField(_("minted after a two-factor code"), default=False, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        constraints = [
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True) | Q(revoked_at__isnull=False),
                name="api_token_revoked_with_time",
            )
        ]

    def __str__(self):
        return f"{self.prefix}… ({self.name}, {self.user})"

    @classmethod
    def mint(cls, user, *, name: str, scope: str, second_factor: bool) -> tuple["ApiToken", str]:
        """A new token and its key: the key is returned once and never stored."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        days = settings.API_TOKEN_DAYS
        token = cls.objects.create(
            user=user, name=name, prefix=key[:10], key_hash=hash_key(key), scope=scope,
            expires_at=timezone.now() + timedelta(days=days), second_factor=second_factor,
        )  # fmt: skip
        return token, key

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return str(_("revoked"))
        return str(_("active")) if self.expires_at > timezone.now() else str(_("expired"))

    def revoke(self, by) -> None:
        self.revoked_at, self.revoked_by = timezone.now(), by
        self.save(update_fields=["revoked_at", "revoked_by"])


def revoke_tokens(user, *, by) -> int:
    """Revoke every active token of `user` (their second factor was reset, or they were deactivated)."""
    tokens = list(ApiToken.objects.filter(user=user, revoked_at__isnull=True))
    for token in tokens:
        token.revoke(by=by)
    return len(tokens)
