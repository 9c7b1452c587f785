import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class SecurityEvent(models.Model):
    """One line of the security log: logins, failed logins, lockouts, logouts, two-factor and
    role or site changes. Append-only: a database trigger refuses UPDATE and DELETE."""

    class Kind(models.TextChoices):
        LOGIN = "login", _("login")
        LOGIN_FAILED = "login_failed", _("failed login")
        LOCKED_OUT = "locked_out", _("locked out")
        LOGOUT = "logout", _("logout")
        SESSION_EXPIRED = "session_expired", _("session expired")
        TWO_FACTOR_ENROLLED = "two_factor_enrolled", _("two-factor enrolled")
        TWO_FACTOR_REMOVED = "two_factor_removed", _("two-factor removed")
        ROLES_CHANGED = "roles_changed", _("roles changed")
        SITES_CHANGED = "sites_changed", _("sites changed")
        IDENTIFYING_READ = "identifying_read", _("identifying data read")

    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    kind = models.CharField(_("event"), max_length=30, choices=Kind)
    # The user the event is about; the typed username too, since a failed login may name no user.
    # PROTECT, as for signatures: a user with a security history is deactivated, never deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    username = models.CharField(_("username"), max_length=150, blank=True)
    # Who made a role or site change (a data manager in the admin); empty for the user's own events.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("by"),
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        triggers = [
            pgtrigger.Protect(name="security_event_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.username}"
