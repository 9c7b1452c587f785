"""Every URL pattern the resolver knows, requested as every persona: the expected answer, or a failure.

The patterns come from `django.urls.get_resolver()`, not from a hand-made list, so a new URL without
a row in `EXPECTED` (or `ADMIN_MODELS` for a new admin model) fails
`test_every_url_pattern_has_an_expectation` with the exact key to add; a row whose URL is gone
fails `test_every_expectation_names_an_existing_url_pattern`. A path listed twice is checked once,
as the first pattern that the resolver reaches (`SHADOWED` names them and why).

Each row reads, for GET and where the view changes state also for POST (or PATCH and DELETE for an
API detail), one answer per persona in the column order of `PERSONAS`:

    login        302 to the login page (/accounts/login/?next=...)
    admin        302 to the admin's login page (a signed-in user who is not staff; anyone on the
                 admin's site-wide pages)
    302          a redirect anywhere else (from the admin: "this record does not exist")
    ok           any 2xx or 3xx that is not a redirect to a login page (a POST whose outcome depends
                 on the body; the point of the row is who is refused)
    200 ...      exactly that status

Object URLs are filled with site A's records, so the site-B personas must get 404 (or 403 for their
role before any lookup) and no page they are shown may contain site A's identifying data. No page
shows anyone a confirmed two-factor device's secret key.

Data managers' sessions have passed the two-factor step (their role requires it). A request that
changes data (a soft delete, a study freeze) runs in its test's savepoint and is rolled back.
"""

import re
from base64 import b32encode
from dataclasses import dataclass
from datetime import date, datetime, time
from http.cookies import SimpleCookie
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import transaction
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLResolver, get_resolver, resolve, reverse
from django.urls.resolvers import RegexPattern
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import factories
from trials import access, data_review
from trials.models import ApiToken, ExportLog, Job, Patient, SecurityEvent
from trials.security import LAST_ACTIVITY
from trials.services import enrol_patient
from trials.views import accounts

pytestmark = pytest.mark.django_db

PERSONAS = (
    "anonymous",
    "clinician",  # the four study roles, all at site A
    "coordinator",
    "investigator",
    "data_manager",
    "no_role",  # a site-A user in no study group (an account set up halfway)
    "outsider",  # a clinician of site B
    "outsider_dm",  # a data manager of site B (staff in the admin)
)
OUTSIDERS = ("anonymous", "outsider", "outsider_dm")  # must never be shown site A's data


@dataclass(frozen=True)
class Row:
    """The expected answers for one URL pattern; `fill` names the records its URL arguments take."""

    get: str
    post: str | None = None
    patch: str | None = None
    delete: str | None = None  # an API detail's DELETE, always with a reason (see DELETE_BODY)
    fill: str = ""  # "patient_pk=enrolled pk=infusion": URL argument = that record's id (see `world`)
    query: str = ""  # query string, "{name}" replaced by the record's id
    body: tuple = ()  # the POST / PATCH body as (key, value) pairs, "{name}" replaced likewise


# fmt: off
EXPECTED = {
    #                                                       anon   clin  coord inv   dm    norole out   out_dm
    # --- accounts: Django's own views; the login and password-reset pages are open to everyone
    "accounts/login/":                             Row(get="200    200   200   200   200   200    200   200"),
    # The second login step: without a password step just passed (none here), back to the first.
    "accounts/login/code/":                        Row(get="login  login login login login login  login login",
                                                       post="login login login login login login  login login",
                                                       body=(("token", "123456"),)),
    # The keep-alive of static/js/session.js: open to all (an anonymous caller learns "signed out").
    "accounts/session/":                           Row(get="200    200   200   200   200   200    200   200",
                                                       post="200   200   200   200   200   200    200   200"),
    # One's own TOTP device; a wrong code (or none) goes back to the page with a message.
    "accounts/two-factor/":                        Row(get="login  200   200   200   200   200    200   200",
                                                       post="login 302   302   302   302   302    302   302",
                                                       body=(("action", "remove"),)),
    # One's own API tokens: everyone signed in sees the page (a user with no role is told why they
    # cannot make one); only the owner revokes a token (site A's clinician's here).
    "api-tokens/":                                 Row(get="login  200   200   200   200   200    200   200",
                                                       post="login 302   302   302   302   302    302   302",
                                                       body=(("name", "matrix"), ("scope", "read"))),
    "api-tokens/<int:pk>/revoke/":                 Row(get="login  405   405   405   405   405    405   405",
                                                       post="login 302   404   404   404   404    404   404",
                                                       fill="pk=token", body=(("reason", "matrix"),)),
    "accounts/logout/":                            Row(get="login  405   405   405   405   405    405   405",
                                                       post="login login login login login login  login login"),
    "accounts/password_change/":                   Row(get="login  200   200   200   200   200    200   200",
                                                       post="login 200   200   200   200   200    200   200"),
    "accounts/password_change/done/":              Row(get="login  200   200   200   200   200    200   200"),
    # Password reset by e-mail exists only with a mail server (EMAIL_HOST, unset here): 404 for all;
    # tests/test_password_reset.py covers the pages when one is configured.
    "accounts/password_reset/":                    Row(get="404    404   404   404   404   404    404   404",
                                                       post="404   404   404   404   404   404    404   404",
                                                       body=(("email", "someone@example.org"),)),
    "accounts/password_reset/done/":               Row(get="404    404   404   404   404   404    404   404"),
    "accounts/reset/<uidb64>/<token>/":            Row(get="404    404   404   404   404   404    404   404",
                                                       fill="uidb64=bad_uid token=bad_token"),
    "accounts/reset/done/":                        Row(get="404    404   404   404   404   404    404   404"),
    # Health endpoints for the load balancer: open, reveal nothing of the study (tests/test_health.py).
    "health/live/":                                Row(get="200    200   200   200   200   200    200   200"),
    "health/ready/":                               Row(get="200    200   200   200   200   200    200   200"),
    # Prometheus: from this machine (METRICS_NETWORKS) only, signed in or not; counts, no study data.
    # From another address or through a proxy: 404 (tests/test_observability.py).
    "metrics":                                     Row(get="200    200   200   200   200   200    200   200"),
    # Open before login too: the login page has the language switch.
    "i18n/setlang/":                               Row(get="302    302   302   302   302   302    302   302",
                                                       post="302   302   302   302   302   302    302   302",
                                                       body=(("language", "zh-hans"),)),
    # --- the admin's own pages; per-model pages come from ADMIN_MODELS below
    "admin/":                                      Row(get="admin admin admin admin 200   admin  admin 200"),
    # Redirected to the study's login (the admin's own form would skip the two-factor step).
    "admin/login/":                                Row(get="login  login login login login login  login login"),
    "admin/logout/":                               Row(get="admin 302   302   302   405   302    302   405"),
    "admin/password_change/":                      Row(get="admin admin admin admin 200   admin  admin 200"),
    "admin/password_change/done/":                 Row(get="admin admin admin admin 200   admin  admin 200"),
    "admin/autocomplete/":                         Row(get="admin admin admin admin 403   admin  admin 403"),
    "admin/jsi18n/":                               Row(get="admin admin admin admin 200   admin  admin 200"),
    # A patient has no public URL of its own, so "view on site" finds nothing.
    "admin/r/<path:content_type_id>/<path:object_id>/": Row(
                                                       get="admin admin admin admin 404   admin  admin 404",
                                                       fill="content_type_id=patient_type object_id=enrolled"),
    "admin/<app_label>/":                          Row(get="admin admin admin admin 200   admin  admin 200",
                                                       fill="app_label=trials_app"),
    "admin/<url>":                                 Row(get="admin admin admin admin 404   admin  admin 404",
                                                       fill="url=no-such-page/"),
    # A data manager sets passwords of own-site users only.
    "admin/trials/user/<id>/password/":            Row(get="login admin admin admin 200   admin  admin 404",
                                                       post="login admin admin admin 200   admin  admin 404",
                                                       fill="id=clinician_user"),
    # A TOTP device's secret (its otpauth URL, its QR code) is a second factor: nobody reads it back,
    # a lost phone's device is deleted and a new one set up by its user.
    "admin/otp_totp/totpdevice/<int:pk>/config/":  Row(get="login admin admin admin 403   admin  admin 403",
                                                       fill="pk=totp_device"),
    "admin/otp_totp/totpdevice/<int:pk>/qrcode/":  Row(get="login admin admin admin 403   admin  admin 403",
                                                       fill="pk=totp_device"),
    # --- pages
    "":                                            Row(get="login  302   302   302   302   302    302   302"),
    "patients/":                                   Row(get="login  200   200   200   200   403    200   200"),
    "patients/new/":                               Row(get="login  200   403   403   403   403    200   403",
                                                       post="login 200   403   403   403   403    200   403"),
    "patients/<int:pk>/":                          Row(get="login  200   200   200   200   403    404   404",
                                                       fill="pk=enrolled"),
    "patients/<int:pk>/edit/":                     Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="pk=enrolled"),
    # Soft deletion with a reason, clinicians only. The patient registered in error is the
    # unenrolled one (an enrolled patient's delete is refused: test_an_enrolled_patient_is_not_deleted).
    "patients/<int:pk>/delete/":                   Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 302   403   403   403   403    404   403",
                                                       fill="pk=screened", body=(("reason", "registered in error"),)),
    "patients/<int:patient_pk>/<slug:form>/<int:pk>/delete/": Row(
                                                       get="login  200   403   403   403   403    404   403",
                                                       post="login 302   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled form=infusions pk=infusion",
                                                       body=(("reason", "entered twice"),)),
    "patients/<int:pk>/casebook/":                 Row(get="login  200   200   200   200   403    404   404",
                                                       fill="pk=enrolled"),
    "patients/<int:pk>/casebook.pdf":              Row(get="login  200   200   200   200   403    404   404",
                                                       fill="pk=enrolled"),
    # The unsigned screening (the enrolled patient's is signed and read-only).
    "patients/<int:patient_pk>/screening/":        Row(get="login  200   200   403   403   403    404   403",
                                                       post="login 200   200   403   403   403    404   403",
                                                       fill="patient_pk=screened"),
    "patients/<int:patient_pk>/screening/result/": Row(get="login  200   200   200   200   403    404   404",
                                                       fill="patient_pk=screened"),
    "patients/<int:patient_pk>/pvp/":              Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/infusions/new/":    Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/infusions/<int:pk>/": Row(get="login 200  403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled pk=infusion"),
    "patients/<int:patient_pk>/infusions/crcl/":   Row(get="login  200   200   200   200   403    404   404",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/labs/new/":         Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/labs/<int:pk>/":    Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled pk=lab_draw"),
    "patients/<int:patient_pk>/pain/new/":         Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/pain/<int:pk>/":    Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled pk=pain"),
    "patients/<int:patient_pk>/qol/new/":          Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/qol/<int:pk>/":     Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled pk=qol"),
    "patients/<int:patient_pk>/response/":         Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/adverse-events/new/": Row(get="login 200  403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    "patients/<int:patient_pk>/adverse-events/<int:pk>/": Row(
                                                       get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled pk=adverse_event"),
    "patients/<int:patient_pk>/end-of-study/":     Row(get="login  200   403   403   403   403    404   403",
                                                       post="login 200   403   403   403   403    404   403",
                                                       fill="patient_pk=enrolled"),
    # Only a data manager locks; GET is refused before anything else (POST only).
    "patients/<int:patient_pk>/lock/":             Row(get="login  405   405   405   405   405    405   405",
                                                       post="login 403   403   403   302   403    403   404",
                                                       fill="patient_pk=enrolled"),
    "screenings/review/":                          Row(get="login  200   200   200   200   403    200   200"),
    # Everyone of the study reads a screening; only a coordinator signs (an empty signature is refused).
    "screenings/<int:pk>/":                        Row(get="login  200   200   200   200   403    404   404",
                                                       post="login 403   302   403   403   403    404   404",
                                                       fill="pk=signed_screening"),
    "screenings/log/":                             Row(get="login  200   200   200   200   403    200   200"),
    "screenings/flow/":                            Row(get="login  200   200   200   200   403    200   200"),
    "queries/":                                    Row(get="login  200   200   200   200   403    200   200"),
    "queries/new/":                                Row(get="login  403   200   403   403   403    404   404",
                                                       post="login 403   200   403   403   403    404   404",
                                                       query="record=painassessment:{pain}"),
    # The role rules of answering a query are the service's, shown as a message after the redirect
    # (tests/test_data_review.py); here: another site's query is not found.
    "queries/<int:pk>/":                           Row(get="login  200   200   200   200   403    404   404",
                                                       post="login 302   302   302   302   403    404   404",
                                                       fill="pk=data_query", body=(("action", "answer"), ("answer", "ok"))),  # noqa: E501
    "verify/":                                     Row(get="login  405   405   405   405   405    405   405",
                                                       post="login 403   302   403   403   403    404   404",
                                                       body=(("record", "painassessment:{pain}"), ("version", "1"))),
    # The freeze page: every data manager (the whole study only for one of every site; own sites for all).
    "study/freeze/":                               Row(get="login  403   403   403   200   403    403   200",
                                                       post="login 403   403   403   302   403    403   302"),
    "exports/":                                    Row(get="login  403   403   200   200   403    403   200",
                                                       post="login 403   403   302   302   403    403   302"),
    "exports/audit-trail.csv":                     Row(get="login  403   403   403   200   403    403   200"),
    # Imports follow the entry pages: clinicians every form, coordinators the screenings (trials/imports.py).
    "imports/":                                    Row(get="login  200   200   403   403   403    200   403",
                                                       post="login 200   200   403   403   403    200   403"),
    # A job's result may hold identifying data: only the data manager who started it sees it.
    "jobs/<int:pk>/":                              Row(get="login  404   404   404   200   404    404   404",
                                                       fill="pk=job"),
    "jobs/<int:pk>/status/":                       Row(get="login  404   404   404   200   404    404   404",
                                                       fill="pk=job"),
    "jobs/<int:pk>/download/":                     Row(get="login  404   404   404   200   404    404   404",
                                                       fill="pk=job"),
    "dashboard/":                                  Row(get="login  200   200   200   200   403    200   200"),
    "dashboard/version/":                          Row(get="login  200   200   200   200   403    200   200"),
    "dashboard/download/<slug:name>.<slug:extension>": Row(
                                                       get="login  200   200   200   200   403    200   200",
                                                       fill="name=tumour_response extension=csv"),
    # --- API: no login redirect (401 with WWW-Authenticate); the schema and its page are public.
    # A ".<format>/" twin of a route (DRF's format suffix) is checked with the same row.
    # DELETE (with a reason) is a soft delete where a form may be deleted (204), refused by role
    # first, then by method (405); the enrolled patient is not deleted (400, "cannot be deleted").
    "api/v1/":                                     Row(get="401    200   200   200   200   200    200   200"),
    "api/v1/<drf_format_suffix:format>":           Row(get="401    200   200   200   200   200    200   200",
                                                       fill="format=.json"),
    "api/v1/schema/":                              Row(get="200    200   200   200   200   200    200   200"),
    "api/v1/docs/":                                Row(get="200    200   200   200   200   200    200   200"),
    "api/v1/outcomes/":                            Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   405   405   405   405   405    405   405"),
    # Sites are run in the admin; the API refuses a write by role first, then by method.
    "api/v1/sites/":                               Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   405   403   403   403   403    405   403"),
    "api/v1/sites/<pk>/":                          Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  405   403   403   403   403    405   403",
                                                       delete="401 405   403   403   403   403    405   403",
                                                       fill="pk=site_a"),
    "api/v1/patients/":                            Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/patients/<pk>/":                       Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 400   403   403   403   403    404   403",
                                                       fill="pk=enrolled"),
    # Data managers only, checked before the lookup; the record is not verified, so no lock (409).
    "api/v1/patients/<pk>/lock/":                  Row(get="401    405   405   405   405   405    405   405",
                                                       post="401   403   403   403   409   403    403   404",
                                                       fill="pk=enrolled"),
    "api/v1/patients/<pk>/unlock/":                Row(get="401    405   405   405   405   405    405   405",
                                                       post="401   403   403   403   200   403    403   404",
                                                       fill="pk=enrolled", body=(("reason", "correction after lock"),)),  # noqa: E501
    "api/v1/screenings/":                          Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   400   403   403   403    400   403"),
    "api/v1/screenings/<pk>/":                     Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   400   403   403   403    404   403",
                                                       delete="401 405   405   403   403   403    405   403",
                                                       fill="pk=screening"),
    "api/v1/screenings/<pk>/sign/":                Row(get="401    405   405   405   405   403    405   405",
                                                       post="401   403   400   403   403   403    404   403",
                                                       fill="pk=screening"),
    "api/v1/pvp-procedures/":                      Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/pvp-procedures/<pk>/":                 Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 405   403   403   403   403    405   403",
                                                       fill="pk=pvp"),
    "api/v1/infusions/":                           Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/infusions/<pk>/":                      Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 204   403   403   403   403    404   403",
                                                       fill="pk=infusion"),
    "api/v1/lab-draws/":                           Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/lab-draws/<pk>/":                      Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 204   403   403   403   403    404   403",
                                                       fill="pk=lab_draw"),
    "api/v1/pain-assessments/":                    Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/pain-assessments/<pk>/":               Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 204   403   403   403   403    404   403",
                                                       fill="pk=pain"),
    "api/v1/qol-assessments/":                     Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/qol-assessments/<pk>/":                Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 204   403   403   403   403    404   403",
                                                       fill="pk=qol"),
    "api/v1/responses/":                           Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/responses/<pk>/":                      Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 405   403   403   403   403    405   403",
                                                       fill="pk=response"),
    "api/v1/adverse-events/":                      Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/adverse-events/<pk>/":                 Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 204   403   403   403   403    404   403",
                                                       fill="pk=adverse_event"),
    "api/v1/end-of-study/":                        Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   403   403   403   403    400   403"),
    "api/v1/end-of-study/<pk>/":                   Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  400   403   403   403   403    404   403",
                                                       delete="401 405   403   403   403   403    405   403",
                                                       fill="pk=end_of_study"),
    "api/v1/data-queries/":                        Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   400   400   403   403   403    400   403"),
    "api/v1/data-queries/<pk>/":                   Row(get="401    200   200   200   200   403    404   404",
                                                       patch="401  405   405   403   403   403    405   403",
                                                       delete="401 405   405   403   403   403    405   403",
                                                       fill="pk=data_query"),
    # The workflow steps: only a clinician answers, only a coordinator closes and re-opens.
    "api/v1/data-queries/<pk>/answer/":            Row(get="401    405   405   405   405   403    405   405",
                                                       post="401   200   403   403   403   403    404   403",
                                                       fill="pk=data_query", body=(("text", "checked the source"),)),  # noqa: E501
    "api/v1/data-queries/<pk>/close/":             Row(get="401    405   405   405   405   403    405   405",
                                                       post="401   403   200   403   403   403    404   403",
                                                       fill="pk=data_query"),
    "api/v1/data-queries/<pk>/reopen/":            Row(get="401    405   405   405   405   403    405   405",
                                                       post="401   403   200   403   403   403    404   403",
                                                       fill="pk=data_query", body=(("text", "look again"),)),
    "api/v1/verifications/":                       Row(get="401    405   405   405   405   403    405   405",
                                                       post="401   403   201   403   403   403    403   403",
                                                       body=(("record", "painassessment:{pain}"), ("version", "1"))),
    # Exports (the page's rule, roles.export_refusal): investigators and data managers; a job is its
    # owner's only (the file may hold identifying data): the site-A data manager's job.
    "api/v1/exports/":                             Row(get="401    403   403   200   200   403    403   200",
                                                       post="401   403   403   202   202   403    403   202",
                                                       body=(("format", "csv"),)),
    "api/v1/exports/<pk>/":                        Row(get="401    403   403   404   200   403    403   404",
                                                       patch="401  403   403   405   405   403    403   405",
                                                       delete="401 403   403   405   405   403    403   405",
                                                       fill="pk=job"),
    "api/v1/exports/<pk>/download/":               Row(get="401    403   403   404   200   403    403   404",
                                                       post="401   403   403   405   405   403    403   405",
                                                       fill="pk=job"),
    "api/v1/study/":                               Row(get="401    200   200   200   200   403    200   200",
                                                       post="401   403   403   403   405   403    403   405"),
    # The whole study only for a data manager of every site (neither runs both sites here); with `site`
    # one's own site (both may freeze their own; here the body names site A, not site B's manager's).
    "api/v1/study/freeze/":                        Row(get="401    405   405   405   405   403    405   405",
                                                       post="401   403   403   403   403   403    403   403"),
    "api/v1/study/unfreeze/":                      Row(get="401    405   405   405   405   403    405   405",
                                                       post="401   403   403   403   403   403    403   403",
                                                       body=(("reason", "late data found"),)),
}
# fmt: on

# Every model in the admin: the record its object pages open (site A's) and what a data manager
# may do with that model. Only data managers are staff; site scoping hides other sites' rows.
ADMIN_MODELS = {
    "auth.group": ("role_group", ""),  # roles are set in trials/roles.py, never in the admin
    "trials.site": ("site_a", "view add change delete"),
    "trials.user": ("clinician_user", "view add change"),  # deactivated, never deleted
    # Clinical forms are never hard-deleted (SiteScopedAdmin): the pages and the API soft-delete.
    "trials.patient": ("enrolled", "view add change"),
    "trials.screening": ("screening", "view add change"),  # unsigned: a signed one is read-only
    "trials.pvpprocedure": ("pvp", "view add change"),
    "trials.labdraw": ("lab_draw", "view add change"),
    "trials.infusion": ("infusion", "view add change"),
    "trials.painassessment": ("pain", "view add change"),
    "trials.qolassessment": ("qol", "view add change"),
    "trials.tumourresponse": ("response", "view add change"),
    "trials.adverseevent": ("adverse_event", "view add change"),
    "trials.endofstudy": ("end_of_study", "view add change"),
    "pghistory.events": ("audit_event", "view"),  # the audit trail is read-only
    "trials.apitoken": ("token", "view change"),  # made by its owner; a data manager sees and revokes it
    "trials.securityevent": ("security_event", "view"),  # the security log is read-only
    # Security (docs/security.md): a lost phone's device is deleted, a locked-out user unlocked by
    # deleting the access attempt. Site scoping as everywhere: these are site A's users' rows.
    "otp_totp.totpdevice": ("totp_device", "view delete"),
    "axes.accessattempt": ("access_attempt", "view delete"),
    "axes.accesslog": ("access_log", "view"),
    "axes.accessfailurelog": ("access_failure_log", ""),
}
UNSCOPED_ADMIN_MODELS = {"auth.group"}  # the same rows for every site


def _admin_rows(model_key: str, record: str, rights: str) -> dict[str, Row]:
    """The rows of one admin model's six URL patterns, from the data manager's rights on it."""
    app_label, model = model_key.split(".")
    base = f"admin/{app_label}/{model}/"
    rights = set(rights.split())
    may_view = bool(rights & {"view", "change"})
    non_staff = "admin admin admin"  # clinician, coordinator, investigator

    def row(dm: str, dm_b: str, *, post: tuple[str, str] | None = None, fill=True) -> Row:
        # dm_b: site B's data manager; the record is site A's, so scoped models answer "doesn't
        # exist" (302 to the admin index) where the permission allows the request at all.
        return Row(
            get=f"login {non_staff} {dm} admin admin {dm_b}",
            post=f"login {non_staff} {post[0]} admin admin {post[1]}" if post else None,
            fill=f"object_id={record}" if fill else "",
        )

    def allowed(right: bool, dm_code: str = "200") -> str:
        return dm_code if right else "403"

    def elsewhere(right: bool, *, checks_existence_first: bool = False) -> str:
        if model_key in UNSCOPED_ADMIN_MODELS:
            return allowed(right)
        return "302" if right or checks_existence_first else "403"

    return {
        base: row(allowed(may_view), allowed(may_view), fill=False),
        f"{base}add/": row(
            allowed("add" in rights),
            allowed("add" in rights),
            post=(allowed("add" in rights), allowed("add" in rights)),
            fill=False,
        ),  # fmt: skip
        f"{base}<path:object_id>/change/": row(
            allowed(may_view),
            elsewhere(may_view),
            post=(allowed("change" in rights), elsewhere("change" in rights)),
        ),  # fmt: skip
        f"{base}<path:object_id>/delete/": row(
            allowed("delete" in rights),
            elsewhere("delete" in rights),
            # A delete of a record others refer to is refused on the page itself (200).
            post=(allowed("delete" in rights, "ok"), elsewhere("delete" in rights)),
        ),  # fmt: skip
        f"{base}<path:object_id>/history/": row(allowed(may_view), elsewhere(may_view, checks_existence_first=True)),
        # The old-style object URL only redirects to .../change/.
        f"{base}<path:object_id>/": row("302", "302"),
    }


for _model_key, (_record, _rights) in ADMIN_MODELS.items():
    EXPECTED.update(_admin_rows(_model_key, _record, _rights))

FORMAT_SUFFIX = ".<format>/"  # DRF's twin of every router route: /api/v1/patients.json/


def _readable(pattern) -> str:
    """A route as urls.py spells it; DRF's regexes as a plain path (`^sites/(?P<pk>[^/.]+)/$` -> `sites/<pk>/`)."""
    text = str(pattern.pattern)
    if isinstance(pattern.pattern, RegexPattern):
        text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", text)
        text = text.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")
        if set(text) & set("^$()[]?*+\\|"):
            raise ValueError(f"{pattern.pattern!r}: teach _readable() this regex")
    return text


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + _readable(pattern))
        else:
            yield prefix + _readable(pattern)


RESOLVED = list(_walk(get_resolver().url_patterns))
# A pattern listed before another of the same path wins; the later one is never reached.
SHADOWED = {
    "accounts/login/": "the study's login (password, then the two-factor code) before django.contrib.auth.urls'",
    "admin/login/": "a redirect to the study's login before the admin's own form, which would skip the code",
}


def _base_of(route: str) -> str:
    return route.removesuffix(FORMAT_SUFFIX) + "/" if route.endswith(FORMAT_SUFFIX) else route


def _row_for(route: str) -> Row | None:
    if route in EXPECTED:
        return EXPECTED[route]
    if route.endswith(FORMAT_SUFFIX) and _base_of(route) in EXPECTED:
        row = EXPECTED[_base_of(route)]
        return Row(get=row.get, post=row.post, patch=row.patch, fill=f"{row.fill} format=json".strip(),
                   query=row.query, body=row.body)  # fmt: skip
    return None


def _answers(route: str, spec: str) -> dict[str, str]:
    answers = spec.split()
    if len(answers) != len(PERSONAS):
        raise ValueError(f"{route!r}: {len(answers)} answers for {len(PERSONAS)} personas: {spec!r}")
    return dict(zip(PERSONAS, answers, strict=True))


def _cases(method: str) -> list:
    cases = []
    for route in dict.fromkeys(RESOLVED):  # a shadowed twin (SHADOWED) is never reached: once
        row = _row_for(route)
        spec = row and getattr(row, method)
        if spec:
            for persona, expected in _answers(route, spec).items():
                cases.append(pytest.param(route, persona, expected, id=f"{method.upper()} /{route} as {persona}"))
    return cases


# --- the records every URL is filled with, built once for the module -------------------------


def _build_world() -> SimpleNamespace:
    site_a = factories.SiteFactory(code="AAA", name="Hospital A")
    site_b = factories.SiteFactory(code="BBB", name="Hospital B")
    users = {
        "clinician": factories.UserFactory(username="a_clinician", role="clinician", site=site_a),
        "coordinator": factories.UserFactory(username="a_coordinator", role="coordinator", site=site_a),
        "investigator": factories.UserFactory(username="a_investigator", role="investigator", site=site_a),
        "data_manager": factories.UserFactory(username="a_data_manager", role="data_manager", site=site_a),
        "no_role": factories.UserFactory(username="a_no_role", site=site_a),
        "outsider": factories.UserFactory(username="b_clinician", role="clinician", site=site_b),
        "outsider_dm": factories.UserFactory(username="b_data_manager", role="data_manager", site=site_b),
    }
    coordinator, data_manager = users["coordinator"], users["data_manager"]

    screened = factories.PatientFactory(site=site_a, hospital_number="HN-A-SCREENED")
    screening = factories.ScreeningFactory(patient=screened)
    enrolled = factories.PatientFactory(site=site_a, hospital_number="HN-A-ENROLLED")
    signed_screening = factories.ScreeningFactory(
        patient=enrolled,
        signed_by=coordinator,
        signed_at=datetime.combine(date(2020, 1, 7), time(9), tzinfo=ZoneInfo("Asia/Shanghai")),
    )
    enrolled = enrol_patient(enrolled, enrolled_on=date(2020, 1, 7))
    pvp = factories.PvpProcedureFactory(patient=enrolled)
    factories.TreatedLevelFactory(procedure=pvp)
    lab_draw = factories.LabResultFactory(lab_draw=factories.LabDrawFactory(patient=enrolled)).lab_draw
    pain = factories.PainAssessmentFactory(patient=enrolled)
    factories.PatientFactory(site=site_b, hospital_number="HN-B-OWN")  # site B's lists are not empty
    # Security rows of site A's clinician: a two-factor device (besides the data managers' own),
    # a locked-out login, django-axes' logs and a security log entry.
    clinician_ip = "192.0.2.11"
    totp_device = TOTPDevice.objects.create(user=users["clinician"], name="clinician's phone", confirmed=True)
    axes_row = {"username": "a_clinician", "ip_address": clinician_ip, "user_agent": "matrix", "path_info": "/"}
    access_attempt = AccessAttempt.objects.create(**axes_row, get_data="", post_data="", failures_since_start=5)
    access_log = AccessLog.objects.create(**axes_row)
    access_failure_log = AccessFailureLog.objects.create(**axes_row, locked_out=True)
    security_event = SecurityEvent.objects.create(
        kind=SecurityEvent.Kind.LOGIN_FAILED, user=users["clinician"], username="a_clinician", ip_address=clinician_ip
    )

    records = {
        "site_a": site_a,
        "screened": screened,
        "screening": screening,
        "enrolled": enrolled,
        "signed_screening": signed_screening,
        "pvp": pvp,
        "infusion": factories.InfusionFactory(patient=enrolled),
        "lab_draw": lab_draw,
        "pain": pain,
        "qol": factories.QolAssessmentFactory(patient=enrolled),
        "response": factories.TumourResponseFactory(patient=enrolled),
        "adverse_event": factories.AdverseEventFactory(patient=enrolled),
        "end_of_study": factories.EndOfStudyFactory(patient=enrolled),
        "data_query": data_review.raise_query(
            user=coordinator, record=pain, field="who_grade", question="Grade III or II?"
        ),
        "job": finished_export(data_manager),
        "clinician_user": users["clinician"],
        "role_group": Group.objects.get(name="clinician"),
        "patient_type": ContentType.objects.get_for_model(Patient),
        "totp_device": totp_device,
        "access_attempt": access_attempt,
        "access_log": access_log,
        "access_failure_log": access_failure_log,
        "security_event": security_event,
    }
    ids = {name: str(record.pk) for name, record in records.items()}
    # The admin names a token by its user, and an audit event by its slug.
    ids["token"] = str(ApiToken.mint(users["clinician"], name="matrix", scope="read", second_factor=False)[0].pk)
    ids["audit_event"] = access.audit_events_for_user(data_manager).filter(pgh_obj_model="trials.Patient")[0].pgh_slug
    ids["trials_app"] = "trials"
    ExportLog.objects.create(user=data_manager, file_format="csv", identifiable=True, reason="monitoring visit AAA")

    # Site A's identifying data: none of it may reach anonymous users or site B's staff.
    site_a_users = [user.username for user in users.values() if user.username.startswith("a_")]
    secrets = [screened.screening_number, enrolled.screening_number, enrolled.study_id, "HN-A-SCREENED",
               "HN-A-ENROLLED", "Grade III or II?", "monitoring visit AAA", clinician_ip, *site_a_users]  # fmt: skip
    # Nobody, of any site, is shown a confirmed TOTP device's secret (hex or base32).
    credentials = [text for device in TOTPDevice.objects.filter(confirmed=True)
                   for text in (device.key, b32encode(device.bin_key).decode())]  # fmt: skip
    sessions = {}
    for persona, user in users.items():
        client = Client()
        client.force_login(user)
        session = client.session
        # As after the login's two steps (conftest's fixture for force_login is function-scoped and
        # does not reach this module-scoped world): a data manager's session has shown a code.
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None:
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        # The idle timeout counts from each test's own first request, not from this login.
        session.pop(LAST_ACTIVITY, None)
        session.save()
        sessions[persona] = session.session_key
    return SimpleNamespace(ids=ids, secrets=secrets, credentials=credentials, sessions=sessions)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    # One outer transaction for the module: each test runs in a savepoint inside it and the whole
    # set is rolled back at the end, so other test modules never see these rows.
    with django_db_blocker.unblock(), transaction.atomic():
        yield _build_world()
        transaction.set_rollback(True)


def _url(route: str, row: Row, ids: dict[str, str]) -> str:
    kwargs = {}
    for pair in row.fill.split():
        name, _, record = pair.partition("=")
        kwargs[name] = ids.get(record, record)  # not a record's name: the value itself
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda match: kwargs[match.group(1)], route)
    query = f"?{row.query.format(**ids)}" if row.query else ""
    return f"/{path}{query}"


DELETE_BODY = (("reason", "entered in error (URL matrix)"),)  # a soft delete needs a reason


def _request(client, method: str, route: str, row: Row, world):
    url = _url(route, row, world.ids)
    body = {key: value.format(**world.ids) for key, value in (DELETE_BODY if method == "delete" else row.body)}
    if method == "get":
        return url, client.get(url)
    if route.startswith("api/"):
        return url, getattr(client, method)(url, body, content_type="application/json")
    return url, getattr(client, method)(url, body)


def _check(response, expected: str) -> bool:
    location = response.get("Location", "")
    path = location.partition("?")[0]
    to_login = path == resolve_url(settings.LOGIN_URL)
    to_admin_login = path == reverse("admin:login")
    if expected == "login":
        return response.status_code == 302 and to_login
    if expected == "admin":
        return response.status_code == 302 and to_admin_login
    if expected == "ok":
        return 200 <= response.status_code < 400 and not (to_login or to_admin_login)
    if expected == "302":
        return response.status_code == 302 and not (to_login or to_admin_login)
    return response.status_code == int(expected)


def _run(method, route, persona, expected, world, client):
    if persona != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[persona]
    url, response = _request(client, method, route, _row_for(route), world)
    assert _check(response, expected), (
        f"{method.upper()} {url} as {persona}: expected {expected}, got {response.status_code} "
        f"{response.get('Location', '')}"
    )
    if persona in OUTSIDERS and not response.streaming:
        leaked = [secret for secret in world.secrets if secret.encode() in response.content]
        assert not leaked, f"{method.upper()} {url} as {persona} shows site A's data: {leaked}"
    if not response.streaming:
        shown = [secret for secret in world.credentials if secret.encode() in response.content]
        assert not shown, f"{method.upper()} {url} as {persona} shows a two-factor device's secret key"


@pytest.fixture(scope="module")
def shared_client():
    # One client for the module: each new client loads the middleware again, and WhiteNoise's
    # scan of the static files would then cost more than the request itself.
    return Client()


@pytest.fixture
def client(shared_client):
    shared_client.cookies = SimpleCookie()
    return shared_client


@pytest.mark.parametrize(("route", "persona", "expected"), _cases("get"))
def test_get(route, persona, expected, world, client):
    _run("get", route, persona, expected, world, client)


@pytest.mark.parametrize(("route", "persona", "expected"), _cases("post"))
def test_post(route, persona, expected, world, client):
    _run("post", route, persona, expected, world, client)


@pytest.mark.parametrize(("route", "persona", "expected"), _cases("patch"))
def test_patch(route, persona, expected, world, client):
    _run("patch", route, persona, expected, world, client)


@pytest.mark.parametrize(("route", "persona", "expected"), _cases("delete"))
def test_delete(route, persona, expected, world, client):
    _run("delete", route, persona, expected, world, client)


def test_an_enrolled_patient_is_not_deleted(world, client):
    """The rows above delete the unenrolled patient; an enrolled one is refused on the page and in the API."""
    client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions["clinician"]
    page = f"/patients/{world.ids['enrolled']}/delete/"
    assert client.get(page).status_code == 200
    refused = client.post(page, {"reason": "registered in error"})
    assert refused.status_code == 400
    assert b"cannot be deleted" in refused.content
    api = client.delete(f"/api/v1/patients/{world.ids['enrolled']}/", {"reason": "registered in error"},
                        content_type="application/json")  # fmt: skip
    assert api.status_code == 400
    assert Patient.objects.filter(pk=world.ids["enrolled"], deleted_at__isnull=True).exists()


# --- the table and the resolver agree ------------------------------------------------------------


def test_every_url_pattern_has_an_expectation():
    missing = [route for route in RESOLVED if _row_for(route) is None]
    assert not missing, (
        "These URL patterns have no expected answers. Add a row per pattern to EXPECTED in "
        f"tests/test_url_matrix.py (a new admin model: a line in ADMIN_MODELS), one answer per persona in the "
        f"order {' '.join(PERSONAS)}, keyed exactly as shown:\n"
        + "\n".join(f'    "{route}": Row(get="...", fill="..."),' for route in missing)
    )


def test_every_expectation_names_an_existing_url_pattern():
    stale = sorted(set(EXPECTED) - set(RESOLVED))
    assert not stale, f"Rows in EXPECTED for URL patterns that no longer exist (remove them): {stale}"


def test_every_admin_model_has_a_row():
    registered = {f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry}
    assert registered == set(ADMIN_MODELS), f"ADMIN_MODELS differs from the admin's models: {registered}"


def test_no_two_url_patterns_read_the_same():
    twice = {route for route in RESOLVED if RESOLVED.count(route) > 1}
    assert twice == set(SHADOWED), f"URL patterns listed twice (each a row of its own, or in SHADOWED): {twice}"
    assert all(RESOLVED.count(route) == 2 for route in SHADOWED)


def test_a_shadowing_pattern_is_the_one_reached():
    assert resolve("/accounts/login/").func.view_class is accounts.LoginView
    assert resolve("/admin/login/").namespace != "admin"


def test_every_row_has_one_answer_per_persona():
    for route, row in EXPECTED.items():
        for spec in (row.get, row.post, row.patch):
            if spec:
                _answers(route, spec)


def finished_export(user) -> Job:
    """A finished export whose file is in storage, as a worker leaves it."""
    job = Job(kind="export", user=user, status=Job.Status.DONE, progress=100, file_name="pvp.csv",
              content_type="text/csv")  # fmt: skip
    job.file.save("pvp.csv", ContentFile(b"study_id\nAAA-001\n"), save=False)
    job.save()
    return job
