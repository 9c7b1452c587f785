"""REST API (docs/design.md §3): the same scoping, rights, rules and audit as the pages.

Writes go through `services.save_record` (audit context with the user and reason, version check)
and `services.register_patient` / `enrolment.sign_screening`, as the pages' do.
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as ModelValidationError
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from trials import access, data_review, enrolment, services
from trials.api import serializers as s
from trials.models import (
    AdverseEvent,
    DataQuery,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PvpProcedure,
    QolAssessment,
    Screening,
    TreatedLevel,
    TumourResponse,
)
from trials.roles import CLINICIAN, COORDINATOR, DATA_MANAGER, ROLES, has_role
from trials.security import log_identifying_read

INITIAL_ENTRY = "initial entry"


def exception_handler(exc, context):
    """DRF's handler, and Django's refusals of a hostile request (a body over DATA_UPLOAD_MAX_MEMORY_SIZE,
    too many fields) answered in JSON like every other API error, not as Django's HTML error page."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response({"detail": f"The request body is larger than the limit of {limit} bytes."},
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)  # fmt: skip
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "version_conflict"


class StudyRolePermission(permissions.BasePermission):
    """Any study role reads; writing needs the roles the pages require."""

    write_roles = (CLINICIAN,)

    def has_permission(self, request, view):
        if not has_role(request.user, *ROLES):
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        return has_role(request.user, *getattr(view, "write_roles", self.write_roles))


class ClinicalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                      mixins.UpdateModelMixin, viewsets.GenericViewSet):  # fmt: skip
    """List (filter by ?patient=, ?site=, ?timepoint=), create, retrieve, update. No hard delete:
    the viewsets of deletable forms add SoftDeleteMixin."""

    permission_classes = [permissions.IsAuthenticated, StudyRolePermission]
    site_path = "patient__site"
    write_roles = (CLINICIAN,)

    def get_queryset(self):
        if self.site_path == "site":
            queryset = access._scoped(self.queryset.all(), self.request.user, "site")
        else:
            queryset = access.forms_for_user(self.queryset.all(), self.request.user)
        params = self.request.query_params
        prefix = "" if self.site_path == "site" else "patient__"
        if params.get("patient"):
            queryset = queryset.filter(**{f"{prefix}screening_number": params["patient"]})
        if params.get("site"):
            queryset = queryset.filter(**{f"{self.site_path}__code": params["site"]})
        if params.get("timepoint") and "timepoint" in {f.name for f in self.queryset.model._meta.fields}:
            queryset = queryset.filter(timepoint=params["timepoint"])
        return queryset.order_by("pk")

    def perform_create(self, serializer):
        self._save(serializer, reason=INITIAL_ENTRY)

    def perform_update(self, serializer):
        self._save(serializer, reason=serializer.validated_data["reason"],
                   expected_version=serializer.validated_data["version"])  # fmt: skip

    def _save(self, serializer, *, reason, expected_version=None):
        data = dict(serializer.validated_data)
        parts = {name: data.pop(name) for name in self.part_fields if name in data}
        data.pop("reason", None)
        data.pop("version", None)
        instance = serializer.instance or serializer.Meta.model()
        for name, value in data.items():
            setattr(instance, name, value)
        try:
            serializer.instance = services.save_record(
                instance, user=self.request.user, reason=reason, expected_version=expected_version,
                save_parts=(lambda saved: self.save_parts(saved, parts, data)) if parts else None,
            )  # fmt: skip
        except services.EditConflict as conflict:
            raise Conflict({
                "detail": f"Not saved: {conflict.changed_by} changed this record after version {expected_version}.",
                "current_version": conflict.current.version,
                "their_changes": {c.field: [str(c.before), str(c.after)] for c in conflict.changes},
            }) from conflict  # fmt: skip
        except IntegrityError as error:  # locked, frozen, signed, or a race on a unique rule
            raise Conflict({"detail": str(error).splitlines()[0]}) from error

    part_fields: tuple[str, ...] = ()

    def save_parts(self, saved, parts, data):
        raise NotImplementedError


class SoftDeleteMixin:
    """DELETE is a soft delete with a reason: {"reason": "..."} in the body (or ?reason=); 204 when done."""

    @extend_schema(request=s.ReasonSerializer, responses={204: None})
    def destroy(self, request, *args, **kwargs):
        record = self.get_object()
        body = s.ReasonSerializer(data=request.data or {"reason": request.query_params.get("reason", "")})
        body.is_valid(raise_exception=True)
        try:
            services.soft_delete(record, user=request.user, reason=body.validated_data["reason"])
        except ModelValidationError as refused:
            raise ValidationError({"detail": " ".join(refused.messages)}) from refused
        except IntegrityError as error:  # locked or frozen
            raise Conflict({"detail": str(error).splitlines()[0]}) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


DATA_MANAGER_ACTION = [permissions.IsAuthenticated]


def _data_manager_only(request, what: str) -> None:
    if not has_role(request.user, DATA_MANAGER):
        raise PermissionDenied(f"Only a data manager may {what}.")


class SiteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.SiteSerializer
    permission_classes = [permissions.IsAuthenticated, StudyRolePermission]

    def get_queryset(self):
        return access.sites_for_user(self.request.user)


class PatientViewSet(SoftDeleteMixin, ClinicalViewSet):
    queryset = Patient.objects.select_related("site")
    serializer_class = s.PatientSerializer
    site_path = "site"

    # Each read of identifying data (those who may see it get it) is written to the security log.
    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        rows = response.data["results"] if isinstance(response.data, dict) else response.data
        log_identifying_read(request, [row["screening_number"] for row in rows])
        return response

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        log_identifying_read(request, [response.data["screening_number"]])
        return response

    def perform_create(self, serializer):
        data = {k: v for k, v in serializer.validated_data.items() if k not in ("reason", "version")}
        serializer.instance = services.register_patient(**data, user=self.request.user)

    # The role check is the data-manager check inside (StudyRolePermission would ask for a clinician).
    @action(detail=True, methods=["post"], serializer_class=s.ReasonSerializer, permission_classes=DATA_MANAGER_ACTION)
    def lock(self, request, pk=None, format=None):
        """Lock a fully verified record (data manager); the twin of the record page's Lock button."""
        _data_manager_only(request, "lock a patient record")
        patient = self.get_object()
        try:
            data_review.lock_patient(user=request.user, patient=patient)
        except data_review.ReviewRefused as refused:
            raise Conflict({"detail": str(refused)}) from refused
        return Response({"patient": patient.screening_number, "locked": True})

    @action(detail=True, methods=["post"], serializer_class=s.ReasonSerializer, permission_classes=DATA_MANAGER_ACTION)
    def unlock(self, request, pk=None, format=None):
        """Unlock with a reason (data manager)."""
        _data_manager_only(request, "unlock a patient record")
        patient = self.get_object()
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data_review.unlock_patient(user=request.user, patient=patient, reason=body.validated_data["reason"])
        return Response({"patient": patient.screening_number, "locked": False})


class ScreeningViewSet(ClinicalViewSet):
    queryset = Screening.objects.select_related("patient")
    serializer_class = s.ScreeningSerializer
    write_roles = (CLINICIAN, COORDINATOR)

    # Every action takes `format`: the router's suffix twin (/sign.json/) passes it, a 500 otherwise.
    @action(detail=True, methods=["post"], serializer_class=s.SignatureSerializer)
    def sign(self, request, pk=None, format=None):
        """The coordinator's e-signature (password re-entered); enrols or records a screen failure."""
        screening = self.get_object()
        if not enrolment.may_sign(request.user):
            raise PermissionDenied("Only a coordinator may sign an eligibility screening.")
        body = s.SignatureSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        result = enrolment.sign_screening(
            screening, signer=request.user, password=body.validated_data["password"],
            remote_addr=request.META.get("REMOTE_ADDR"), reviewed_version=body.validated_data["version"],
            request=request,
        )  # fmt: skip
        screening.refresh_from_db()
        payload = {"signed": result.signed, "detail": result.message, "study_id": screening.patient.study_id,
                   "version": screening.version, "signed_content_sha256": screening.signed_content_hash}  # fmt: skip
        if result.version_changed:
            return Response(payload, status=status.HTTP_409_CONFLICT)
        return Response(payload, status=status.HTTP_200_OK if result.signed else status.HTTP_400_BAD_REQUEST)


class PvpProcedureViewSet(ClinicalViewSet):
    queryset = PvpProcedure.objects.select_related("patient").prefetch_related("levels")
    serializer_class = s.PvpProcedureSerializer
    part_fields = ("levels",)

    def save_parts(self, saved, parts, data):
        saved.levels.all().delete()
        for level in parts["levels"]:
            TreatedLevel.objects.create(procedure=saved, **level)


class InfusionViewSet(SoftDeleteMixin, ClinicalViewSet):
    queryset = Infusion.objects.select_related("patient")
    serializer_class = s.InfusionSerializer


class LabDrawViewSet(SoftDeleteMixin, ClinicalViewSet):
    queryset = LabDraw.objects.select_related("patient").prefetch_related("results")
    serializer_class = s.LabDrawSerializer
    part_fields = ("results", "critical_confirmed")

    def save_parts(self, saved, parts, data):
        if "results" not in parts:
            return  # a PATCH of other fields (or of the confirmations alone) leaves the results as they are
        confirmed = set(parts.get("critical_confirmed", []))
        # The serializer has read each value in its unit (protocol.read_lab_value).
        results = [
            LabResult.from_reading(reading, critical_confirmed=reading.analyte in confirmed)
            for reading in parts.get("results", {}).values()
        ]
        services.save_lab_results(saved, results)


class PainAssessmentViewSet(SoftDeleteMixin, ClinicalViewSet):
    queryset = PainAssessment.objects.select_related("patient")
    serializer_class = s.PainAssessmentSerializer


class QolAssessmentViewSet(SoftDeleteMixin, ClinicalViewSet):
    queryset = QolAssessment.objects.select_related("patient")
    serializer_class = s.QolAssessmentSerializer


class TumourResponseViewSet(ClinicalViewSet):
    queryset = TumourResponse.objects.select_related("patient")
    serializer_class = s.TumourResponseSerializer


class AdverseEventViewSet(SoftDeleteMixin, ClinicalViewSet):
    queryset = AdverseEvent.objects.select_related("patient")
    serializer_class = s.AdverseEventSerializer


class EndOfStudyViewSet(ClinicalViewSet):
    queryset = EndOfStudy.objects.select_related("patient")
    serializer_class = s.EndOfStudySerializer


class DataQueryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                       viewsets.GenericViewSet):  # fmt: skip
    """Data queries: raise (coordinator), answer (clinician), close / re-open (coordinator)."""

    serializer_class = s.DataQuerySerializer
    permission_classes = [permissions.IsAuthenticated, StudyRolePermission]
    write_roles = (CLINICIAN, COORDINATOR)

    def get_queryset(self):
        queryset = DataQuery.objects.filter(patient__in=access.patients_for_user(self.request.user))
        if self.request.query_params.get("status"):
            queryset = queryset.filter(status=self.request.query_params["status"])
        return queryset.select_related("patient").order_by("raised_at")

    def create(self, request, *args, **kwargs):
        body = s.DataQuerySerializer(data=request.data, context={"request": request})
        body.is_valid(raise_exception=True)
        record = data_review.visible_record(request.user, body.validated_data["record"])
        try:
            query = data_review.raise_query(user=request.user, record=record, field=body.validated_data["field"],
                                            question=body.validated_data["question"])  # fmt: skip
        except data_review.ReviewRefused as refused:
            raise PermissionDenied(str(refused)) from refused
        return Response(s.DataQuerySerializer(query).data, status=status.HTTP_201_CREATED)

    def _step(self, request, action_function, **kwargs):
        query = self.get_object()
        text = s.TextSerializer(data=request.data)
        text.is_valid(raise_exception=True)
        try:
            action_function(user=request.user, query=query, **{k: text.validated_data.get("text", "") for k in kwargs})
        except data_review.ReviewRefused as refused:
            raise PermissionDenied(str(refused)) from refused
        return Response(s.DataQuerySerializer(query).data)

    @action(detail=True, methods=["post"], serializer_class=s.TextSerializer)
    def answer(self, request, pk=None, format=None):
        return self._step(request, data_review.answer_query, answer=True)

    @action(detail=True, methods=["post"], serializer_class=s.TextSerializer)
    def close(self, request, pk=None, format=None):
        return self._step(request, data_review.close_query)

    @action(detail=True, methods=["post"], serializer_class=s.TextSerializer)
    def reopen(self, request, pk=None, format=None):
        return self._step(request, data_review.reopen_query, reason=True)


class VerificationViewSet(viewsets.GenericViewSet):
    """Source-data verification of one form (coordinator): POST {"record": "<form>:<id>"}."""

    permission_classes = [permissions.IsAuthenticated, StudyRolePermission]
    write_roles = (COORDINATOR,)
    serializer_class = s.RecordSerializer

    def create(self, request, format=None):
        body = s.RecordSerializer(data=request.data)  # a list or a bare string is a 400, not a crash
        body.is_valid(raise_exception=True)
        record = data_review.visible_record(request.user, body.validated_data["record"])
        try:
            verification = data_review.verify(user=request.user, record=record,
                                              reviewed_version=body.validated_data["version"])  # fmt: skip
        except data_review.VersionChanged as changed:
            return Response({"detail": str(changed), "version": record.version}, status=status.HTTP_409_CONFLICT)
        except data_review.ReviewRefused as refused:
            raise PermissionDenied(str(refused)) from refused
        return Response({"record": body.validated_data["record"], "version": verification.record_version,
                         "verified_at": verification.verified_at}, status=status.HTTP_201_CREATED)  # fmt: skip


class StudyViewSet(viewsets.ViewSet):
    """The freeze state: GET /study/; POST /study/freeze/ and /study/unfreeze/ (with a `reason`) freeze
    the whole study (a data manager of every site) or, with `site`, one of the data manager's sites."""

    permission_classes = [permissions.IsAuthenticated, StudyRolePermission]
    write_roles = (DATA_MANAGER,)
    serializer_class = s.FreezeSerializer

    def _state(self, request):
        since = data_review.frozen_since()
        sites = {
            site.code: freeze.frozen_at if freeze else None for site, freeze in data_review.site_freezes(request.user)
        }
        return Response({"frozen": since is not None, "frozen_since": since, "sites_frozen_since": sites})

    def list(self, request, format=None):
        return self._state(request)

    def _site(self, request, body):
        code = body.validated_data.get("site", "")
        if not code:
            return None
        site = access.sites_for_user(request.user).filter(code=code).first()
        if site is None:
            raise ValidationError({"site": [f"{code} is not one of your sites."]})
        return site

    @extend_schema(request=s.FreezeSerializer)
    @action(detail=False, methods=["post"])
    def freeze(self, request, format=None):
        _data_manager_only(request, "freeze the study")
        body = s.FreezeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        site = self._site(request, body)
        try:
            if site:
                data_review.freeze_site(user=request.user, site=site)
            else:
                data_review.freeze_study(user=request.user)
        except data_review.ReviewRefused as refused:
            raise PermissionDenied(str(refused)) from refused
        return self._state(request)

    @action(detail=False, methods=["post"])
    def unfreeze(self, request, format=None):
        _data_manager_only(request, "unfreeze the study")
        body = s.FreezeSerializer(data=request.data, context={"reason_required": True})
        body.is_valid(raise_exception=True)
        site, reason = self._site(request, body), body.validated_data["reason"]
        try:
            if site:
                data_review.unfreeze_site(user=request.user, site=site, reason=reason)
            else:
                data_review.unfreeze_study(user=request.user, reason=reason)
        except data_review.ReviewRefused as refused:
            raise PermissionDenied(str(refused)) from refused
        return self._state(request)
