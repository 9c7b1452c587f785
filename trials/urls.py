from django.urls import path
from django.views.generic import RedirectView

from trials.views import dashboard, entry, patients, screening

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="patient_list"), name="home"),
    path("patients/", patients.patient_list, name="patient_list"),
    path("patients/new/", patients.patient_create, name="patient_create"),
    path("patients/<int:pk>/", patients.patient_record, name="patient_record"),
    path("patients/<int:pk>/edit/", patients.patient_edit, name="patient_edit"),
    path("patients/<int:patient_pk>/screening/", entry.screening_form, name="screening_form"),
    path("patients/<int:patient_pk>/pvp/", entry.pvp_form, name="pvp_form"),
    path("patients/<int:patient_pk>/infusions/new/", entry.infusion_create, name="infusion_create"),
    path("patients/<int:patient_pk>/infusions/<int:pk>/", entry.infusion_edit, name="infusion_edit"),
    path("patients/<int:patient_pk>/infusions/crcl/", entry.crcl_panel, name="crcl_panel"),
    path("patients/<int:patient_pk>/labs/new/", entry.lab_draw_create, name="lab_draw_create"),
    path("patients/<int:patient_pk>/labs/<int:pk>/", entry.lab_draw_edit, name="lab_draw_edit"),
    path("patients/<int:patient_pk>/pain/new/", entry.pain_create, name="pain_create"),
    path("patients/<int:patient_pk>/pain/<int:pk>/", entry.pain_edit, name="pain_edit"),
    path("patients/<int:patient_pk>/qol/new/", entry.qol_create, name="qol_create"),
    path("patients/<int:patient_pk>/qol/<int:pk>/", entry.qol_edit, name="qol_edit"),
    path("patients/<int:patient_pk>/response/", entry.response_form, name="response_form"),
    path("patients/<int:patient_pk>/adverse-events/new/", entry.adverse_event_create, name="adverse_event_create"),
    path("patients/<int:patient_pk>/adverse-events/<int:pk>/", entry.adverse_event_edit, name="adverse_event_edit"),
    path("patients/<int:patient_pk>/end-of-study/", entry.end_of_study_form, name="end_of_study_form"),
    path("patients/<int:patient_pk>/screening/result/", screening.screening_result, name="screening_result"),
    path("screenings/review/", screening.review_queue, name="review_queue"),
    path("screenings/<int:pk>/", screening.review, name="screening_review"),
    path("screenings/log/", screening.screening_log, name="screening_log"),
    path("screenings/flow/", screening.flow_diagram, name="flow_diagram"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/version/", dashboard.dashboard_version, name="dashboard_version"),
    path("dashboard/download/<slug:name>.<slug:extension>", dashboard.download, name="dashboard_download"),
    path("api/v1/outcomes/", dashboard.outcomes_api, name="api_outcomes"),
]
