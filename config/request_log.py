"""Logs a machine can read: one JSON object per line on stdout, each carrying the request id.

The request id comes from the proxy (Caddy sets X-Request-ID, deploy/caddy/Caddyfile) or is made
here; it is returned in the response's X-Request-ID header, is on every log line written while the
request runs (a ContextVar, so threads of gthread workers keep theirs apart) and, in a task worker,
is "job-<id>" while a job runs. One line per request (logger `trials.requests`) says what was asked,
the answer and how long it took; gunicorn's own access log is off (config/gunicorn.conf.py).

The formatter is python-json-logger's (maintained, used by most Python services that log JSON);
LOG_FORMAT=text gives the plain lines of `make dev`.
"""

import logging
import re
import time
import uuid
from contextvars import ContextVar

from django.core.signals import request_finished
from django.dispatch import receiver

REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
# What a proxy may send: Caddy's UUIDs, nginx's $request_id (hex), an upstream's trace id. Anything
# else (too long, spaces, control characters) is replaced, so a client cannot forge log lines.
ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_logger = logging.getLogger("trials.requests")


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (a filter of the handler, so library loggers get it too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def request_log(get_response):
    """Middleware, first in the list: the id is set before anything else can log. It stays set until
    the response is closed (request_finished), so that Django's own lines about the response (a 404,
    a 500 logged by the handler after every middleware has returned) carry it too."""

    def middleware(request):
        offered = request.headers.get("X-Request-ID", "")
        request_id = offered if ACCEPTED_ID.fullmatch(offered) else uuid.uuid4().hex
        REQUEST_ID.set(request_id)
        started = time.perf_counter()
        response = get_response(request)
        response["X-Request-ID"] = request_id
        user = getattr(request, "user", None)
        request_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": user.pk if user is not None and user.is_authenticated else None,
                "view": getattr(getattr(request, "resolver_match", None), "view_name", None),
            },
        )
        return response

    return middleware


@receiver(request_finished)
def forget_request_id(**kwargs) -> None:
    REQUEST_ID.set("-")  # the thread's next request sets its own


def logging_config(*, json_lines: bool, level: str) -> dict:
    """settings.LOGGING, and gunicorn's (config/gunicorn.conf.py): the same lines from both."""
    formatter = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s %(process)d",
            "rename_fields": {"levelname": "level", "name": "logger", "process": "pid"},
            "timestamp": "time",  # ISO 8601 in UTC
        }
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "config.request_log.RequestIdFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "formatter": "default",
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # One line per request and per job, whatever LOG_LEVEL says of the libraries.
            "trials": {"level": "INFO" if level != "DEBUG" else "DEBUG"},
            "gunicorn.error": {"level": "INFO", "propagate": True},
        },
    }
