from django.contrib.auth.decorators import login_not_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from trials.api import exports, views
from trials.views.dashboard import outcomes_api

router = DefaultRouter(trailing_slash=True)
router.register("sites", views.SiteViewSet, basename="site")
router.register("patients", views.PatientViewSet, basename="patient")
router.register("screenings", views.ScreeningViewSet, basename="screening")
router.register("pvp-procedures", views.PvpProcedureViewSet, basename="pvp-procedure")
router.register("infusions", views.InfusionViewSet, basename="infusion")
router.register("lab-draws", views.LabDrawViewSet, basename="lab-draw")
router.register("pain-assessments", views.PainAssessmentViewSet, basename="pain-assessment")
router.register("qol-assessments", views.QolAssessmentViewSet, basename="qol-assessment")
router.register("responses", views.TumourResponseViewSet, basename="response")
router.register("adverse-events", views.AdverseEventViewSet, basename="adverse-event")
router.register("end-of-study", views.EndOfStudyViewSet, basename="end-of-study")
router.register("data-queries", views.DataQueryViewSet, basename="data-query")
router.register("verifications", views.VerificationViewSet, basename="verification")
router.register("study", views.StudyViewSet, basename="study")
router.register("exports", exports.ExportViewSet, basename="export")

urlpatterns = [
    path("outcomes/", outcomes_api, name="api_outcomes"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="api/swagger_ui.html"),
        name="api_docs",
    ),
    *router.urls,
]

# The API authenticates itself (session or token) and answers 401/403 in JSON rather than
# redirecting to the login page; the schema and the documentation page are public.
for pattern in urlpatterns:
    login_not_required(pattern.callback)
