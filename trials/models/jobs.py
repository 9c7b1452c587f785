import uuid

from django.conf import settings
from django.db import models


def job_file_path(job, file_name: str) -> str:
    # A random folder per file: its name is unguessable even where storage is shared.
    return f"jobs/{uuid.uuid4().hex}/{file_name}"


class Job(models.Model):
    """A long export or import, a task in the PostgreSQL queue (trials/tasks.py); the page polls it.

    An export's file lives in storage (the file system or an S3 bucket), never in this row.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    kind = models.CharField(max_length=20)  # "export" or "import"
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    message = models.CharField(max_length=500, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    file = models.FileField(upload_to=job_file_path, max_length=300, blank=True)
    # How many times a worker started it: more than once after a worker died in the middle.
    attempts = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)  # an import's report; an export's manifest
    # What was asked (an export's format, language, de-identified or not), for the page and the API.
    parameters = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)  # of the finished file
    size = models.PositiveBigIntegerField(null=True, blank=True)  # bytes

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} job {self.pk} ({self.status}, {self.progress}%)"
