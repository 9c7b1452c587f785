"""Requests answered or refused before any view runs."""

from django.http import HttpResponseBadRequest, JsonResponse


def serve_internal_endpoints(get_response):
    """/health/live/, /health/ready/ and /metrics, answered before the host check and the HTTPS redirect.

    Those are asked for by machines on the internal network, by the name they know the server by: the
    container's health check over plain HTTP on 127.0.0.1, Prometheus as web:8000. With ALLOWED_HOSTS set
    to the public name and HTTPS on, Django would answer them 400 or 301, so a healthy replica would look
    dead. They build no URL from the Host header, which is what the host check protects; who may read
    the metrics is still decided by the metrics view (trials/views/metrics.py).
    """
    from trials.views import health, metrics

    endpoints = {"/health/live/": health.live, "/health/ready/": health.ready, "/metrics": metrics.metrics}

    def middleware(request):
        view = endpoints.get(request.path_info)
        return view(request) if view is not None else get_response(request)

    return middleware


def refuse_nul_characters(get_response):
    """A NUL character in the query string is refused with 400.

    PostgreSQL cannot hold NUL in text, so a filter like `?q=%00` or `?patient=%00` reached the database
    and ended as a server error on every list page and API list. No study value contains one.
    """

    def middleware(request):
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            message = "The query string contains a NUL character (%00)."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message)
        return get_response(request)

    return middleware
