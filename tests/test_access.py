"""Site scoping and role rights: another site's record is a 404; every page needs a login."""

import pytest
from django.http import Http404

from tests import factories
from trials import access

pytestmark = pytest.mark.django_db

FORM_HELPERS = [
    (factories.ScreeningFactory, access.get_screening_for_user),
    (factories.PvpProcedureFactory, access.get_pvp_procedure_for_user),
    (factories.InfusionFactory, access.get_infusion_for_user),
    (factories.LabDrawFactory, access.get_lab_draw_for_user),
    (factories.PainAssessmentFactory, access.get_pain_assessment_for_user),
    (factories.QolAssessmentFactory, access.get_qol_assessment_for_user),
    (factories.TumourResponseFactory, access.get_tumour_response_for_user),
    (factories.AdverseEventFactory, access.get_adverse_event_for_user),
    (factories.EndOfStudyFactory, access.get_end_of_study_for_user),
]


def test_a_user_sees_only_patients_of_their_sites(clinician, patient_a, patient_b):
    assert list(access.patients_for_user(clinician)) == [patient_a]


def test_a_user_of_several_sites_sees_each_patient_once(clinician, site_b, patient_a, patient_b):
    clinician.sites.add(site_b)
    assert sorted(p.pk for p in access.patients_for_user(clinician)) == sorted([patient_a.pk, patient_b.pk])


def test_a_user_without_a_site_sees_nobody(patient_a):
    lonely = factories.UserFactory(role="clinician")
    assert list(access.patients_for_user(lonely)) == []


def test_another_sites_patient_is_not_found(clinician, outsider, patient_a):
    assert access.get_patient_for_user(clinician, patient_a.pk) == patient_a
    with pytest.raises(Http404):
        access.get_patient_for_user(outsider, patient_a.pk)


@pytest.mark.parametrize(("factory", "get_for_user"), FORM_HELPERS)
def test_every_form_is_scoped_to_the_patients_site(factory, get_for_user, clinician, outsider, patient_a):
    record = factory(patient=patient_a)
    assert get_for_user(clinician, record.pk) == record
    with pytest.raises(Http404):
        get_for_user(outsider, record.pk)


class TestPages:
    def test_every_page_requires_login(self, client):
        for url in ("/", "/patients/", "/admin/"):
            response = client.get(url)
            assert response.status_code == 302
            assert "login" in response["Location"]

    def test_the_login_page_is_open(self, client):
        assert client.get("/accounts/login/").status_code == 200

    def test_the_patient_list_shows_only_own_site(self, client, clinician, patient_a, patient_b):
        client.force_login(clinician)
        page = client.get("/patients/").content.decode()
        assert patient_a.screening_number in page
        assert patient_b.screening_number not in page

    @pytest.mark.parametrize("role", ["clinician", "coordinator", "investigator"])
    def test_only_data_managers_reach_the_admin(self, client, site_a, role):
        client.force_login(factories.UserFactory(role=role, site=site_a))
        assert client.get("/admin/").status_code == 302

    def test_the_data_manager_sees_only_own_site_in_the_admin(self, client, data_manager, patient_a, patient_b):
        client.force_login(data_manager)
        assert client.get(f"/admin/trials/patient/{patient_a.pk}/change/").status_code == 200
        assert client.get(f"/admin/trials/patient/{patient_b.pk}/change/").status_code == 302  # "doesn't exist"
        listing = client.get("/admin/trials/patient/").content.decode()
        assert patient_a.screening_number in listing
        assert patient_b.screening_number not in listing

    def test_the_audit_trail_is_read_only_in_the_admin(self, client, data_manager, patient_a):
        client.force_login(data_manager)
        assert client.get("/admin/pghistory/events/").status_code == 200
        assert client.get("/admin/pghistory/events/add/").status_code == 403


def test_audit_events_are_scoped_to_the_users_sites(data_manager, patient_a, patient_b):
    own_pvp = factories.PvpProcedureFactory(patient=patient_a)
    own_level = factories.TreatedLevelFactory(procedure=own_pvp)
    own_result = factories.LabResultFactory(lab_draw=factories.LabDrawFactory(patient=patient_a))
    other_level = factories.TreatedLevelFactory(procedure=factories.PvpProcedureFactory(patient=patient_b))
    other_result = factories.LabResultFactory(lab_draw=factories.LabDrawFactory(patient=patient_b))

    visible = {(e.pgh_obj_model, e.pgh_obj_id) for e in access.audit_events_for_user(data_manager)}

    for own in (patient_a, own_pvp, own_level, own_result, own_result.lab_draw, patient_a.site):
        assert (f"trials.{type(own).__name__}", str(own.pk)) in visible
    for other in (patient_b, other_level, other_result, other_result.lab_draw, patient_b.site):
        assert (f"trials.{type(other).__name__}", str(other.pk)) not in visible


class TestAdminScoping:
    def test_a_data_manager_sees_and_edits_only_own_site_users_and_no_superuser_rights(
        self, client, data_manager, clinician, outsider
    ):
        client.force_login(data_manager)
        listing = client.get("/admin/trials/user/").content.decode()
        assert clinician.username in listing and outsider.username not in listing
        assert client.get(f"/admin/trials/user/{outsider.pk}/change/").status_code == 302  # not found
        page = client.get(f"/admin/trials/user/{clinician.pk}/change/").content.decode()
        assert 'name="is_superuser"' not in page  # read-only for data managers
        assert "Hospital B" not in page  # cannot hand out another site

    def test_a_form_cannot_be_pointed_at_another_sites_patient(self, client, data_manager, patient_a, patient_b):
        client.force_login(data_manager)
        page = client.get("/admin/trials/painassessment/add/").content.decode()
        assert patient_a.screening_number in page and patient_b.screening_number not in page

    def test_an_admin_edit_needs_a_reason_and_bumps_the_version(self, client, data_manager, patient_a):
        pain = factories.PainAssessmentFactory(patient=patient_a, who_grade=3)
        client.force_login(data_manager)
        url = f"/admin/trials/painassessment/{pain.pk}/change/"
        data = {"patient": patient_a.pk, "timepoint": "baseline", "assessed_on": "2020-01-07", "who_grade": 2}
        assert "A reason for change is required" in client.post(url, data).content.decode()
        assert client.post(url, data | {"reason_for_change": "source says II"}).status_code == 302
        pain.refresh_from_db()
        assert (pain.who_grade, pain.version) == (2, 2)
        assert pain.events.order_by("pgh_id").last().pgh_context.metadata["reason"] == "source says II"
