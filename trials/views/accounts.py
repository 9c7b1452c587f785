"""Login in two steps (password, then a TOTP code for users with a device), the session keep-alive
and the two-factor page of one's own account. See docs/security.md."""

import time
from base64 import b32encode

import qrcode
import qrcode.image.svg
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.signals import user_login_failed
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from trials.models import SecurityEvent, User
from trials.security import confirmed_device, idle_seconds_left, log_event, touch, two_factor_required

# Between the two steps the session holds who passed the password, for at most this long.
PENDING_KEY = "two_factor_pending"
PENDING_SECONDS = 5 * 60


class LoginView(auth_views.LoginView):
    """Step 1: the password (through django-axes' backend, so failures count toward lockout)."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["expired"] = "expired" in self.request.GET
        context["idle_minutes"] = round(settings.SESSION_IDLE_TIMEOUT / 60)
        return context

    def form_valid(self, form):
        user = form.get_user()
        if confirmed_device(user) is None:
            return super().form_valid(form)
        self.request.session[PENDING_KEY] = {"user": user.pk, "backend": user.backend, "at": time.time()}
        return redirect(f"{reverse('login_two_factor')}?{self.request.GET.urlencode()}")


def _pending_user(request) -> tuple[User, str] | None:
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    return (user, pending["backend"]) if user else None


@login_not_required
@require_http_methods(["GET", "POST"])
def login_two_factor(request):
    """Step 2: the code from the authenticator app. A wrong code is a failed login for django-axes."""
    pending = _pending_user(request)
    if pending is None:
        return redirect("login")
    user, backend = pending
    error = ""
    if request.method == "POST":
        credentials = {"username": user.get_username()}
        device = confirmed_device(user)
        if AxesProxyHandler.is_locked(request, credentials):
            request.session.pop(PENDING_KEY, None)
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_login_failed.send(__name__, credentials=credentials, request=request)
            return redirect("login")  # replaced by the lockout page (AxesMiddleware)
        if device is not None and device.verify_token(request.POST.get("token", "").strip().replace(" ", "")):
            del request.session[PENDING_KEY]
            request.two_factor_device = device  # for the security log
            login(request, user, backend)
            otp_login(request, device)
            return redirect(_safe_next(request))
        user_login_failed.send(
            __name__, credentials={**credentials, "reason": gettext_lazy("wrong two-factor code")}, request=request
        )
        if getattr(request, "axes_locked_out", False):
            request.session.pop(PENDING_KEY, None)
            return redirect("login")  # replaced by the lockout page (AxesMiddleware)
        error = _("The code is not correct or has expired. Enter the current code from your app.")
    return render(request, "registration/login_two_factor.html", {"error": error, "next": _safe_next(request)})


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


@login_not_required
@require_http_methods(["GET", "POST"])
def session_status(request):
    """GET: seconds left before the inactivity logout (not counted as activity). POST: keep-alive."""
    if not request.user.is_authenticated:
        return JsonResponse({"authenticated": False, "remaining": 0})
    if request.method == "POST":
        touch(request)
    return JsonResponse({"authenticated": True, "remaining": idle_seconds_left(request)})


@require_http_methods(["GET", "POST"])
def two_factor(request):
    """Set up, check or remove one's TOTP device (one per user)."""
    user = request.user
    device = confirmed_device(user)
    if request.method == "POST":
        action = request.POST.get("action")
        token = request.POST.get("token", "").strip().replace(" ", "")
        target = device or TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if target is None or not target.verify_token(token):
            messages.error(request, _("The code is not correct or has expired. Enter the current code from your app."))
            return redirect("two_factor")
        if action == "remove" and device is not None:
            if two_factor_required(user):
                messages.error(request, _("Your role requires two-factor authentication: it cannot be turned off."))
                return redirect("two_factor")
            device.delete()
            log_event(SecurityEvent.Kind.TWO_FACTOR_REMOVED, request=request, user=user)
            messages.success(request, _("Two-factor authentication is off."))
            return redirect("two_factor")
        if not target.confirmed:
            target.confirmed = True
            target.save(update_fields=["confirmed"])
            log_event(SecurityEvent.Kind.TWO_FACTOR_ENROLLED, request=request, user=user)
            messages.success(request, _("Two-factor authentication is on: each login will ask for a code."))
        otp_login(request, target)  # this session has now shown a code
        return redirect("two_factor")
    context = {
        "device": device,
        "verified": user.is_verified(),
        "required": two_factor_required(user),
    }
    if device is None:
        # An unconfirmed device holds the secret being set up; reused until confirmed.
        pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if pending is None:
            pending = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=False)
        image = qrcode.make(pending.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
        # The SVG is made by qrcode from our own otpauth URL, not from user input.
        context["qr_svg"] = mark_safe(image.to_string(encoding="unicode"))  # noqa: S308
        context["secret"] = _base32(pending)
    return render(request, "registration/two_factor.html", context)


def _base32(device: TOTPDevice) -> str:
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
