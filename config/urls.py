from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import set_language

from config import password_reset
from trials.views import accounts, health, metrics

# Django's account pages; those of the password reset answer 404 unless a mail server is configured.
account_urls = [
    path(str(url.pattern), password_reset.mail_server_required(url.callback), name=url.name)
    if url.name in password_reset.URL_NAMES
    else url
    for url in auth_urls.urlpatterns
]

urlpatterns = [
    # Before Django's own auth URLs: our login adds the two-factor step.
    path("accounts/login/", accounts.LoginView.as_view(), name="login"),
    path("accounts/login/code/", accounts.login_two_factor, name="login_two_factor"),
    path("accounts/session/", accounts.session_status, name="session_status"),
    path("accounts/two-factor/", accounts.two_factor, name="two_factor"),
    path("accounts/", include(account_urls)),
    # The admin's own login form would skip the two-factor step.
    path("admin/login/", login_not_required(RedirectView.as_view(pattern_name="login", query_string=True))),
    # The language switch works before login too (the login page has it): it only sets the language
    # cookie and redirects to a same-site `next` (Django's set_language refuses another host).
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("admin/", admin.site.urls),
    # For the load balancer and the orchestrator (trials/views/health.py): open, no study data.
    path("health/live/", health.live, name="health_live"),
    path("health/ready/", health.ready, name="health_ready"),
    # For Prometheus, from the internal network only (trials/views/metrics.py).
    path("metrics", metrics.metrics, name="metrics"),
    path("", include("trials.urls")),
]

# A clear 503 (JSON for the API) while the database is unreachable; see trials/views/errors.py.
handler500 = "trials.views.errors.server_error"
