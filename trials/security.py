"""Login hardening: the security log, the inactivity timeout and the two-factor requirement.

The log is written from Django's auth signals (login, failed login, logout), django-axes' lockout
signal and the m2m signals of User.groups (roles) and User.sites; see docs/security.md.
"""

import functools
import ipaddress
import math
import time
from contextvars import ContextVar
from urllib.parse import urlencode

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from trials.audit import current_reason
from trials.models import SecurityEvent, Site, User
from trials.roles import user_roles

# The request being served, so that a role change made in the admin names the data manager who made it.
_current_request: ContextVar = ContextVar("current_request", default=None)

LAST_ACTIVITY = "last_activity"
# Sent by pages that poll on their own (the live dashboard): a poll is not the user being active.
BACKGROUND_HEADER = "HTTP_X_BACKGROUND_POLL"


def client_ip(request) -> str | None:
    """The client's address as the lockout (django-axes, AXES_CLIENT_IP_CALLABLE) and the security log count it.

    The socket's address, which a client cannot forge; but a request from one of TRUSTED_PROXIES counts
    the address that proxy appended to X-Forwarded-For (the last one; past any further trusted proxy).
    Whatever the client itself wrote into the header stays to the left and is never read.
    """
    if request is None:
        return None
    address = request.META.get("REMOTE_ADDR")
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    while forwarded and _is_trusted_proxy(address):
        hop = forwarded.pop()
        if not _is_address(hop):
            break  # the proxy appended no usable address: keep counting the proxy's own
        address = hop
    return address


def _is_address(value: str | None) -> bool:
    try:
        ipaddress.ip_address(value or "")
    except ValueError:
        return False
    return True


def _is_trusted_proxy(address: str | None) -> bool:
    if not settings.TRUSTED_PROXIES or not _is_address(address):
        return False
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(network) for network in settings.TRUSTED_PROXIES)


def log_event(kind, *, request=None, user=None, username="", actor=None, detail="") -> SecurityEvent:
    return SecurityEvent.objects.create(
        kind=kind,
        user=user,
        username=username or (user.get_username() if user else ""),
        actor=actor,
        ip_address=client_ip(request),
        detail=detail[:500],
    )


def log_identifying_read(request, screening_numbers: list[str]) -> None:
    """A read that showed patients' identifying data (date of birth, hospital number, initials)."""
    from trials.roles import may_see_identifying

    if not screening_numbers or not may_see_identifying(request.user):
        return
    shown = ", ".join(screening_numbers[:20]) + (
        f" and {len(screening_numbers) - 20} more" if len(screening_numbers) > 20 else ""
    )
    log_event(SecurityEvent.Kind.IDENTIFYING_READ, request=request, user=request.user,
              detail=f"{request.method} {request.path}: {shown}")  # fmt: skip


# --- Two-factor ---------------------------------------------------------------------------------


def two_factor_required(user) -> bool:
    """Superusers always (they can do everything); otherwise the roles in TWO_FACTOR_REQUIRED_ROLES."""
    return user.is_superuser or bool(user_roles(user) & set(settings.TWO_FACTOR_REQUIRED_ROLES))


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


class TwoFactorRequiredMiddleware:
    """A user whose role requires two-factor and whose session is not verified by a code reaches
    only the two-factor page (to enrol, or to enter a code), the logout and the language switch."""

    ALLOWED_URL_NAMES = {"two_factor", "logout", "session_status", "set_language", "login", "login_two_factor"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified() or not two_factor_required(user):
            return None
        if request.resolver_match.url_name in self.ALLOWED_URL_NAMES:
            return None
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": _("Two-factor authentication is required for your role.")}, status=403)
        messages.warning(request, _("Your role requires two-factor authentication: set it up to continue."))
        return redirect("two_factor")


# --- Inactivity ---------------------------------------------------------------------------------


def idle_seconds_left(request) -> int:
    last = request.session.get(LAST_ACTIVITY)
    if last is None:
        return settings.SESSION_IDLE_TIMEOUT
    # Rounded up: 0 only once the session is really over (the page leaves when told 0).
    return max(0, math.ceil(last + settings.SESSION_IDLE_TIMEOUT - time.time()))


def touch(request) -> None:
    request.session[LAST_ACTIVITY] = time.time()


def session_settings(request) -> dict:
    """Template context for static/js/session.js (read from data attributes of <body>)."""
    return {
        "session_idle_timeout": settings.SESSION_IDLE_TIMEOUT,
        "session_idle_warning": settings.SESSION_IDLE_WARNING,
    }


class IdleTimeoutMiddleware:
    """Signs a user out after SESSION_IDLE_TIMEOUT seconds without a request of theirs.

    The activity time is rewritten at most every tenth of the timeout (and at most once a minute),
    to spare a session write on every request; the timeout can so fall up to that much early.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Also remembered for the security log, which names who changed a user's roles.
        token = _current_request.set(request)
        try:
            response = self._expire_or_touch(request)
            return response or self.get_response(request)
        finally:
            _current_request.reset(token)

    def _expire_or_touch(self, request):
        if not request.user.is_authenticated:
            return None
        last = request.session.get(LAST_ACTIVITY)
        now = time.time()
        if last is not None and now - last > settings.SESSION_IDLE_TIMEOUT:
            request.session_expired = True  # read by the logout signal handler below
            logout(request)
            if request.path.startswith("/api/") or request.path == reverse("session_status"):
                return None  # the API answers 401/403 itself; the status says "signed out"
            return redirect(f"{reverse('login')}?{urlencode({'expired': 1, 'next': request.get_full_path()})}")
        # The status probe (GET) must not count as activity, or a page would keep itself alive.
        if request.META.get(BACKGROUND_HEADER) or request.path == reverse("session_status"):
            return None
        throttle = min(60, settings.SESSION_IDLE_TIMEOUT / 10)
        if last is None or now - last >= throttle:
            request.session[LAST_ACTIVITY] = now
        return None


# --- The security log ---------------------------------------------------------------------------


def in_the_logs_language(write_to_log):
    """The log is written in the study's language (LANGUAGE_CODE) whatever the language of the request:
    one log reads alike for every site, and a search for a phrase finds every row."""

    @functools.wraps(write_to_log)
    def in_language(*args, **kwargs):
        with translation.override(settings.LANGUAGE_CODE):
            return write_to_log(*args, **kwargs)

    return in_language


@receiver(user_logged_in)
@in_the_logs_language
def _log_login(sender, request, user, **kwargs):
    device = getattr(request, "two_factor_device", None)
    log_event(
        SecurityEvent.Kind.LOGIN,
        request=request,
        user=user,
        detail=_("with a two-factor code") if device else _("password only"),
    )
    if request is not None and hasattr(request, "session"):
        touch(request)


@receiver(user_logged_out)
@in_the_logs_language
def _log_logout(sender, request, user, **kwargs):
    if user is None:
        return  # logging out an anonymous visitor
    expired = getattr(request, "session_expired", False)
    kind = SecurityEvent.Kind.SESSION_EXPIRED if expired else SecurityEvent.Kind.LOGOUT
    log_event(kind, request=request, user=user)


@receiver(user_login_failed)
@in_the_logs_language
def _log_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username") or "")
    user = User.objects.filter(username=username).first() if username else None
    if request is not None and getattr(request, "axes_locked_out", False):
        detail = _("refused: the username is locked out")
    else:
        detail = credentials.get("reason") or _("wrong username or password")
    log_event(SecurityEvent.Kind.LOGIN_FAILED, request=request, user=user, username=username, detail=str(detail))


@receiver(user_locked_out)
@in_the_logs_language
def _log_locked_out(sender, request, username, ip_address, **kwargs):
    user = User.objects.filter(username=username).first() if username else None
    log_event(
        SecurityEvent.Kind.LOCKED_OUT,
        request=request,
        user=user,
        username=username or "",
        detail=_("%(count)s failed logins") % {"count": settings.AXES_FAILURE_LIMIT},
    )


@in_the_logs_language
def _log_membership_change(kind, model, label, instance, action, reverse, pk_set):
    """Roles (groups) and sites of a user, whichever side of the relation was edited."""
    if action == "pre_clear":
        # clear() names no rows: remember what is about to go.
        related = instance.groups if label == "roles" else instance.sites
        instance._cleared = list(related.all()) if not reverse else []
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    request = _current_request.get()
    actor = request.user if request is not None and request.user.is_authenticated else None
    if action == "post_clear":
        if reverse or not getattr(instance, "_cleared", None):
            return
        pairs = [(instance, instance._cleared)]
        verb = _("removed")
    else:
        verb = _("added") if action == "post_add" else _("removed")
        if reverse:
            # Group.user_set / Site.users edited: instance is the group or site, pk_set the users.
            pairs = [(user, [instance]) for user in User.objects.filter(pk__in=pk_set)]
        else:
            pairs = [(instance, list(model.objects.filter(pk__in=pk_set)))]
    reason = current_reason()
    for user, items in pairs:
        names = ", ".join(sorted(getattr(item, "name" if label == "roles" else "code") for item in items))
        if names:
            detail = f"{label} {verb}: {names}" + (f"; {_('reason')}: {reason}" if reason else "")
            log_event(kind, request=request, user=user, actor=actor, detail=detail)


@receiver(m2m_changed, sender=User.groups.through)
def _log_role_change(sender, instance, action, reverse, model, pk_set, **kwargs):
    from django.contrib.auth.models import Group

    _log_membership_change(SecurityEvent.Kind.ROLES_CHANGED, Group, "roles", instance, action, reverse, pk_set)


@receiver(m2m_changed, sender=User.sites.through)
def _log_site_change(sender, instance, action, reverse, model, pk_set, **kwargs):
    _log_membership_change(SecurityEvent.Kind.SITES_CHANGED, Site, "sites", instance, action, reverse, pk_set)
