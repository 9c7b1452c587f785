"""Third-party security admins (two-factor devices, login lockouts) scoped like the user admin.

A data manager sees and manages only the devices and lockout records of the users they run (their
own sites): another site's data manager must not strip a user of their second factor, unlock
them, or read their login history. Importing the packages' admin modules first registers them, so
the `unregister` calls work whatever order the apps load in.
"""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from trials.access import users_run_by

admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class ScopedTOTPDeviceAdmin(TOTPDeviceAdmin):
    """A lost phone's device is deleted by a data manager of the user's own site."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user__in=users_run_by(request.user).values("pk"))


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
