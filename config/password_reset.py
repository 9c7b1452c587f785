"""Password reset by e-mail, only where a mail server is configured (EMAIL_HOST).

Without one a reset mail could never arrive: the login page shows no link and the reset pages
answer 404. The pages are Django's own (config/urls.py), in the study's templates.
"""

import functools

from django.conf import settings
from django.http import Http404

URL_NAMES = ("password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete")


def enabled() -> bool:
    return bool(settings.EMAIL_HOST)


def mail_server_required(view):
    @functools.wraps(view)
    def view_or_404(request, *args, **kwargs):
        if not enabled():
            raise Http404("password reset needs a mail server (EMAIL_HOST)")
        return view(request, *args, **kwargs)

    return view_or_404


def context(request) -> dict:
    """Template context: whether the login page offers the reset."""
    return {"password_reset_enabled": enabled()}
