from rest_framework.pagination import LimitOffsetPagination


class StudyPagination(LimitOffsetPagination):
    """`?limit=` and `?offset=`, 100 rows by default and never more than 500 a page: a client that
    wants everything pages through it (one request for the whole study would tie up a worker)."""

    max_limit = 500
