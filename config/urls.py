from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("trials.urls")),
]

# A clear 503 (JSON for the API) while the database is unreachable; see trials/views/errors.py.
handler500 = "trials.views.errors.server_error"
