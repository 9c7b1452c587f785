"""Requests refused before any view runs."""

from django.http import HttpResponseBadRequest, JsonResponse


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
