"""Third-party security admins (two-factor devices, login lockouts) scoped like the user admin.

A data manager sees and manages only the devices and lockout records of the users they run (their
own sites): another site's data manager must not strip a user of their second factor, unlock
them, or read their login history. Importing the packages' admin modules first registers them, so
the `unregister` calls work whatever order the apps load in.
"""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.db import transaction
from django.http import QueryDict
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from trials.access import users_run_by
from trials.audit import change_context, current_reason
from trials.models import SecurityEvent
from trials.models.tokens import revoke_tokens
from trials.security import log_event

admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class ScopedTOTPDeviceAdmin(TOTPDeviceAdmin):
    """A lost phone's device is deleted by a data manager who runs the user, with a reason; the
    user's API tokens go with it (they were minted under that second factor)."""

    delete_confirmation_template = "admin/delete_with_reason.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user__in=users_run_by(request.user).values("pk"))

    def get_actions(self, request):
        return {}  # no bulk deletion: each device is removed on its own page, with a reason

    def delete_view(self, request, object_id, extra_context=None):
        reason = request.POST.get("reason_for_change", "").strip()
        if request.method == "POST" and not reason:
            request.POST = QueryDict()  # Django deletes on any POST: an empty one shows the page again
            extra_context = {**(extra_context or {}), "reason_missing": True}
        with transaction.atomic(), change_context(user=request.user, reason=reason):
            return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        revoke_tokens(obj.user, by=request.user)
        super().delete_model(request, obj)
        log_event(SecurityEvent.Kind.TWO_FACTOR_REMOVED, request=request, user=obj.user, actor=request.user,
                  detail=f"reset by a data manager; reason: {current_reason()}")  # fmt: skip


class ScopedToUsersRun:
    """django-axes rows name a username: only those of the users the data manager runs."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(username__in=users_run_by(request.user).values("username"))


for model, base in ((AccessAttempt, AccessAttemptAdmin), (AccessLog, AccessLogAdmin),
                    (AccessFailureLog, AccessFailureLogAdmin)):  # fmt: skip
    admin.site.unregister(model)
    admin.site.register(model, type(f"Scoped{base.__name__}", (ScopedToUsersRun, base), {}))

# The task queue's own admin (procrastinate) is not offered: its rows carry only a job's id, the
# study's job pages show each user their jobs, and /health/ready/ reports the queue's depth.
from procrastinate.contrib.django import admin as procrastinate_admin  # noqa: E402, F401 - registers it first
from procrastinate.contrib.django.models import ProcrastinateJob  # noqa: E402

admin.site.unregister(ProcrastinateJob)
