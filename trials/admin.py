"""Django admin for data managers: users, sites and clinical records of their own sites.

Audit rows are shown read-only; the database refuses to change them anyway.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from pghistory.models import Events

from trials import access, data_review
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PatientLock,
    PvpProcedure,
    QolAssessment,
    Screening,
    Site,
    TreatedLevel,
    TumourResponse,
    User,
)


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ["code", "name"]

    def get_queryset(self, request):
        return access.sites_for_user(request.user)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = DjangoUserAdmin.fieldsets + (("Study", {"fields": ["sites"]}),)
    filter_horizontal = ["groups", "user_permissions", "sites"]
    list_display = ["username", "first_name", "last_name", "is_active"]


class SiteScopedAdmin(admin.ModelAdmin):
    """Only records of the data manager's own sites; `site_path` leads from the model to Site."""

    site_path = "patient__site"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.site_path}__in": access.sites_for_user(request.user).values("pk")})

    # Locked records and a frozen study are read-only here too (the database refuses them anyway).
    def _writable(self, obj) -> bool:
        if data_review.frozen_since() is not None:
            return False
        return obj is None or not PatientLock.objects.filter(patient=data_review.patient_of(obj)).exists()

    def has_add_permission(self, request, *args):
        return self._writable(None) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return self._writable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._writable(obj) and super().has_delete_permission(request, obj)


@admin.register(Patient)
class PatientAdmin(SiteScopedAdmin):
    site_path = "site"
    list_display = ["screening_number", "study_id", "site", "sex", "isotype"]
    list_filter = ["site", "isotype", "sex"]
    search_fields = ["screening_number", "study_id"]
    readonly_fields = ["screening_number", "study_id", "enrolled_on"]


class TreatedLevelInline(admin.TabularInline):
    model = TreatedLevel
    extra = 0


@admin.register(PvpProcedure)
class PvpProcedureAdmin(SiteScopedAdmin):
    list_display = ["patient", "performed_on", "approach"]
    inlines = [TreatedLevelInline]


class LabResultInline(admin.TabularInline):
    model = LabResult
    extra = 0


@admin.register(LabDraw)
class LabDrawAdmin(SiteScopedAdmin):
    list_display = ["patient", "timepoint", "drawn_on"]
    list_filter = ["timepoint"]
    inlines = [LabResultInline]


@admin.register(Screening)
class ScreeningAdmin(SiteScopedAdmin):
    list_display = ["patient", "screened_on", "kps", "signed_at"]
    readonly_fields = ["signed_by", "signed_at", "signed_name", "signature_meaning"]

    def has_change_permission(self, request, obj=None):
        # A signed screening is read-only (the database refuses it too); withdraw the signature first.
        if obj is not None and obj.is_signed:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_signed:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Infusion)
class InfusionAdmin(SiteScopedAdmin):
    list_display = ["patient", "cycle", "infused_on", "status", "dose_mg"]


@admin.register(PainAssessment)
class PainAssessmentAdmin(SiteScopedAdmin):
    list_display = ["patient", "timepoint", "who_grade"]


@admin.register(QolAssessment)
class QolAssessmentAdmin(SiteScopedAdmin):
    list_display = ["patient", "timepoint", "assessed_on"]


@admin.register(TumourResponse)
class TumourResponseAdmin(SiteScopedAdmin):
    list_display = ["patient", "category", "assessed_on"]


@admin.register(AdverseEvent)
class AdverseEventAdmin(SiteScopedAdmin):
    list_display = ["patient", "term", "ctcae_grade", "related_to", "onset_on"]
    list_filter = ["term", "related_to", "serious"]


@admin.register(EndOfStudy)
class EndOfStudyAdmin(SiteScopedAdmin):
    list_display = ["patient", "end_date", "end_reason"]


@admin.register(Events)
class AuditTrailAdmin(admin.ModelAdmin):
    """Every audited insert, update and delete, with its context (user, URL, reason)."""

    list_display = ["pgh_created_at", "pgh_label", "pgh_obj_model", "pgh_obj_id", "user", "reason", "pgh_diff"]
    list_filter = ["pgh_label", "pgh_obj_model"]
    ordering = ["-pgh_created_at"]

    def get_queryset(self, request):
        return access.audit_events_for_user(request.user)

    @admin.display(description="user")
    def user(self, event):
        return (event.pgh_context or {}).get("username") or (event.pgh_context or {}).get("user") or "—"

    @admin.display(description="reason for change")
    def reason(self, event):
        return (event.pgh_context or {}).get("reason", "")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
