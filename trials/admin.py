"""Django admin for data managers: users, sites and clinical records of their own sites.

Audit rows are shown read-only; the database refuses to change them anyway.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.db import transaction
from django.db.models import Q
from pghistory.models import Events

from trials import access, audit_view, data_review
from trials.audit import change_context
from trials.models import (
    AdverseEvent,
    ApiToken,
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
    SecurityEvent,
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


class AccountReasonMixin(forms.Form):
    """Every change to an account (creating it, its roles, sites, activity, password) names a reason,
    written with it into the audit trail."""

    reason_for_change = forms.CharField(
        max_length=500, help_text="Why: kept in the audit trail with who and when (required)."
    )


class UserCreationWithReason(AccountReasonMixin, AdminUserCreationForm):
    pass


class UserChangeWithReason(AccountReasonMixin, UserChangeForm):
    pass


class PasswordResetWithReason(AccountReasonMixin, AdminPasswordChangeForm):
    pass


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """A data manager runs the users whose every site is one of theirs (access.users_run_by); only
    operations staff (superusers) may grant superuser rights or raw permissions, or touch users who
    belong to other sites too. A user is deactivated, never deleted (their history stays theirs)."""

    form = UserChangeWithReason
    add_form = UserCreationWithReason
    change_password_form = PasswordResetWithReason
    change_user_password_template = "admin/trials/user/change_password.html"  # noqa: S105 - a template name
    fieldsets = DjangoUserAdmin.fieldsets + (
        ("Study", {"fields": ["sites"]}),
        ("Why", {"fields": ["reason_for_change"]}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2", "reason_for_change"),
            },
        ),
    )
    filter_horizontal = ["groups", "user_permissions", "sites"]
    list_display = ["username", "first_name", "last_name", "is_active"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(pk__in=access.users_run_by(request.user).values("pk"))

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["is_superuser", "user_permissions", "last_login", "date_joined"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "sites" and not request.user.is_superuser:
            kwargs["queryset"] = access.sites_for_user(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The user row, its roles and its sites are saved in one transaction under one reason.
        with transaction.atomic(), change_context(user=request.user, reason=request.POST.get("reason_for_change", "")):
            return super().changeform_view(request, object_id, form_url, extra_context)

    def user_change_password(self, request, id, form_url=""):
        with change_context(user=request.user, reason=request.POST.get("reason_for_change", "")):
            return super().user_change_password(request, id, form_url)


class ReasonForChangeForm(forms.ModelForm):
    reason_for_change = forms.CharField(
        max_length=500, required=False, help_text="Required when changing saved data; kept in the audit trail."
    )

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk and not cleaned.get("reason_for_change", "").strip():
            self.add_error("reason_for_change", "A reason for change is required to edit saved data.")
        return cleaned


class SiteScopedAdmin(admin.ModelAdmin):
    """Only records of the data manager's own sites; `site_path` leads from the model to Site.

    Edits carry a reason for change into the audit trail and bump the record's version (so a
    source-verified form becomes unverified, as after an edit through the pages).
    """

    site_path = "patient__site"
    form = ReasonForChangeForm

    def get_readonly_fields(self, request, obj=None):
        # A saved form stays with its patient (a patient's site is changed on the patient, with a reason).
        fixed = ["patient"] if obj is not None and any(f.name == "patient" for f in self.model._meta.fields) else []
        return [*super().get_readonly_fields(request, obj), *fixed]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scoped = {
            "patient": lambda: access.patients_for_user(request.user),
            "site": lambda: access.sites_for_user(request.user),
            "procedure": lambda: PvpProcedure.objects.filter(patient__in=access.patients_for_user(request.user)),
            "lab_draw": lambda: LabDraw.objects.filter(patient__in=access.patients_for_user(request.user)),
        }
        if db_field.name in scoped:
            kwargs["queryset"] = scoped[db_field.name]()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        request.audit_reason = form.cleaned_data.get("reason_for_change") or "initial entry (admin)"
        if change and hasattr(obj, "version"):
            obj.version += 1
        with change_context(user=request.user, reason=request.audit_reason):
            super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        with change_context(user=request.user, reason=getattr(request, "audit_reason", "admin")):
            for inline_form in formset.forms:
                if inline_form.instance.pk and inline_form.has_changed() and hasattr(inline_form.instance, "version"):
                    inline_form.instance.version += 1
            super().save_formset(request, form, formset, change)

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
        # Clinical forms are never hard-deleted: the pages and the API soft-delete with a reason.
        return False


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


class ReadOnlyAdmin(admin.ModelAdmin):
    """A log shown as it was written: nobody adds, changes or deletes its rows here (the database
    refuses it too)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Events)
class AuditTrailAdmin(ReadOnlyAdmin):
    """Every audited insert, update and delete, with its context (user, URL, reason)."""

    list_display = [
        "pgh_created_at", "pgh_label", "pgh_obj_model", "pgh_obj_id", "user", "reason", "pgh_diff", "record_deleted"
    ]  # fmt: skip
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

    @admin.display(description="record deleted")
    def record_deleted(self, event):
        return audit_view.deletion_note(event)


class TokenRevocationForm(forms.ModelForm):
    revoke = forms.BooleanField(required=False, help_text="The token stops working at once.")
    reason_for_change = forms.CharField(max_length=500, required=False, help_text="Why (required to revoke).")

    class Meta:
        model = ApiToken
        fields: list[str] = []

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("revoke"):
            self.add_error("revoke", "Nothing else about a token can change: tick this to revoke it.")
        elif not cleaned.get("reason_for_change", "").strip():
            self.add_error("reason_for_change", "Give the reason for revoking the token.")
        return cleaned


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are minted by their owner (account page, after the second factor where the role needs
    one) and shown only then; a data manager sees those of the users they run and revokes them."""

    form = TokenRevocationForm
    list_display = ["prefix", "user", "name", "scope", "created_at", "expires_at", "status"]
    list_filter = ["scope"]
    readonly_fields = ["user", "name", "prefix", "scope", "created_at", "expires_at", "revoked_at", "revoked_by"]
    fields = [*readonly_fields, "revoke", "reason_for_change"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("user")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user__in=access.users_run_by(request.user).values("pk"))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if form.cleaned_data.get("revoke") and obj.revoked_at is None:
            with change_context(user=request.user, reason=form.cleaned_data["reason_for_change"]):
                obj.revoke(by=request.user)


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    """The security log (trials/security.py), read-only: logins, failures, lockouts, logouts,
    two-factor changes, role and site changes. A data manager sees the events of the users they
    run, and failed logins that name no known user."""

    list_display = ["created_at", "kind", "username", "ip_address", "detail", "actor"]
    list_filter = ["kind"]
    search_fields = ["username", "ip_address", "detail"]
    ordering = ["-created_at", "-pk"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("user", "actor")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(Q(user__in=access.users_run_by(request.user).values("pk")) | Q(user__isnull=True))


# Two-factor devices and login-lockout records, scoped to the data manager's own users. Imported
# last: it builds on UserAdmin above.
from trials import admin_security  # noqa: E402, F401
