"""The export API: the twin of the exports page, with the same rules (`roles.export_refusal`).

POST /exports/ queues an export and answers 202 with the job; GET /exports/{id}/ tells its status,
progress, size and SHA-256; GET /exports/{id}/download/ returns the file. A job is its owner's only:
the file may hold identifying data, so anybody else is told it does not exist (404).
"""

import json

from django.conf import settings
from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.response import Response

from trials import exports, jobs
from trials.api.views import Conflict
from trials.models import Job
from trials.roles import export_download_refusal, export_refusal


class FileRenderer(renderers.BaseRenderer):
    """Lets a client ask for the file itself (Accept: application/octet-stream, application/zip, ...):
    the download answers with the file's own type; an error is still JSON."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if not isinstance(data, bytes) else data


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.CharField(help_text="One of " + ", ".join(exports.FORMATS) + ".")
    identifiable = serializers.BooleanField(default=False, help_text="Data managers only, with a reason.")
    language = serializers.CharField(default="en", help_text="Labels in English (en) or Chinese (zh).")
    reason = serializers.CharField(default="", allow_blank=True, max_length=500, help_text="Why (identifiable).")
    audit = serializers.BooleanField(default=True, help_text="ODM: include the audit trail (Transactional ODM).")
    shift_dates = serializers.BooleanField(
        default=False, help_text="De-identified table formats: shift each patient's dates by a secret offset."
    )
    drop_free_text = serializers.BooleanField(
        default=False, help_text="De-identified table formats: leave free text out."
    )

    def validate(self, data):
        problem = exports.archive.option_problem(
            data["format"], identifiable=data["identifiable"], shift_dates=data["shift_dates"],
            drop_free_text=data["drop_free_text"],
        )  # fmt: skip
        if problem:
            raise serializers.ValidationError({"shift_dates": [problem]})
        return data

    def validate_format(self, value):
        if value not in exports.FORMATS:
            raise serializers.ValidationError(
                f"“{value[:40]}” is not an export format: use one of {', '.join(exports.FORMATS)}."
            )
        return value

    def validate_language(self, value):
        if value not in exports.LANGUAGES:
            raise serializers.ValidationError(
                f"“{value[:40]}” is not a label language: use one of {', '.join(exports.LANGUAGES)}."
            )
        return value


class ExportJobSerializer(serializers.ModelSerializer):
    format = serializers.SerializerMethodField()
    language = serializers.SerializerMethodField()
    identifiable = serializers.SerializerMethodField()
    manifest = serializers.JSONField(source="result", read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "status", "progress", "message", "format", "language", "identifiable", "created_at",
                  "file_name", "size", "sha256", "manifest", "download"]  # fmt: skip
        read_only_fields = fields

    def get_format(self, job) -> str:
        return job.parameters.get("format", "")

    def get_language(self, job) -> str:
        return job.parameters.get("language", "en")

    def get_identifiable(self, job) -> bool:
        return bool(job.parameters.get("identifiable"))

    def get_download(self, job) -> str | None:
        if job.status != Job.Status.DONE:
            return None
        return self.context["request"].build_absolute_uri(reverse("export-download", args=[job.pk]))


class ExportPermission(permissions.BasePermission):
    def has_permission(self, request, view):
        refusal = export_refusal(request.user, identifiable=False)
        if refusal:
            self.message = refusal
            return False
        return True


class ExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [permissions.IsAuthenticated, ExportPermission]
    serializer_class = ExportJobSerializer

    def get_queryset(self):
        # The caller's own exports only: a file may hold identifying data.
        return Job.objects.filter(kind="export", user=self.request.user)

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportJobSerializer})
    def create(self, request, format=None):
        body = ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = body.validated_data
        refusal = export_refusal(request.user, identifiable=wanted["identifiable"])
        if refusal:
            raise PermissionDenied(refusal)
        if wanted["identifiable"] and not wanted["reason"].strip():
            raise ValidationError({"reason": ["An identifiable export needs the reason, kept in the audit trail."]})
        if jobs.exports_under_way(request.user) >= jobs.MAX_EXPORTS_AT_ONCE:
            raise Throttled(detail=f"You have {jobs.MAX_EXPORTS_AT_ONCE} exports under way: wait for one to finish.")
        job = jobs.start_export(
            request.user, wanted["format"], identifiable=wanted["identifiable"], reason=wanted["reason"].strip(),
            language=wanted["language"], audit=wanted["audit"], shift_dates=wanted["shift_dates"],
            drop_free_text=wanted["drop_free_text"], background=settings.JOBS_IN_BACKGROUND,
        )  # fmt: skip
        job.refresh_from_db()
        return Response(self.get_serializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY),
            409: OpenApiResponse(description="The export has not finished (or failed)."),
        }
    )
    @action(detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, FileRenderer])
    def download(self, request, pk=None, format=None):
        job = self.get_object()
        refusal = export_download_refusal(request.user, job)
        if refusal:
            raise PermissionDenied(refusal)
        if job.status != Job.Status.DONE:
            raise Conflict(f"The export is {job.status}" + (f": {job.message}" if job.message else "") + ".")
        if not job.file:  # purged after its retention time (jobs.purge_expired_files)
            return Response({"detail": job.message}, status=status.HTTP_410_GONE)
        response = FileResponse(
            job.file.open("rb"), as_attachment=True, filename=job.file_name, content_type=job.content_type
        )
        response["X-Content-SHA256"] = job.sha256  # the checksum shown on the job page and in the audit
        return response
