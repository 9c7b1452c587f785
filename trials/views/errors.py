"""The server-error answer: a clear 503 while the database is unreachable, never a broken page.

Django calls `handler500` inside the `except` block of the failing request, so the exception is
still in `sys.exc_info()`. Nothing here touches the database or the template context processors
(they could need the very database that is down).
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

RETRY_AFTER_SECONDS = 5

UNAVAILABLE = (
    "The study database is not reachable at the moment (for example while it restarts). "
    "Nothing of this request was saved. Please try again in a few seconds."
)
FAILED = "The server failed to handle this request. Nothing of it was saved; the error has been logged."


def server_error(request, *args, **kwargs):
    _type, exception, _traceback = sys.exc_info()
    database_down = isinstance(exception, OperationalError | InterfaceError)
    status, message = (503, UNAVAILABLE) if database_down else (500, FAILED)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=status)
    else:
        html = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Service unavailable</title></head>'
            f"<body><h1>{'Service unavailable' if database_down else 'Server error'}</h1><p>{message}</p></body></html>"
        )
        response = HttpResponse(html, status=status)
    if database_down:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
