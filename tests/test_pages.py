"""Every data-entry page: who may open it, what it shows, and what a save does."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories
from trials.models import Infusion, PainAssessment

pytestmark = pytest.mark.django_db


def entry_urls(patient, records):
    p = patient.pk
    return [
        f"/patients/{p}/edit/",
        f"/patients/{p}/pvp/",
        f"/patients/{p}/infusions/new/",
        f"/patients/{p}/infusions/{records['infusion'].pk}/",
        f"/patients/{p}/labs/new/?timepoint=follow_up",
        f"/patients/{p}/labs/{records['lab'].pk}/",
        f"/patients/{p}/pain/new/",
        f"/patients/{p}/pain/{records['pain'].pk}/",
        f"/patients/{p}/qol/new/",
        f"/patients/{p}/qol/{records['qol'].pk}/",
        f"/patients/{p}/response/",
        f"/patients/{p}/adverse-events/new/",
        f"/patients/{p}/adverse-events/{records['ae'].pk}/",
        f"/patients/{p}/end-of-study/",
    ]


@pytest.fixture
def records(enrolled_patient):
    return {
        "infusion": factories.InfusionFactory(patient=enrolled_patient),
        "lab": factories.LabResultFactory(lab_draw=factories.LabDrawFactory(patient=enrolled_patient)).lab_draw,
        "pain": factories.PainAssessmentFactory(patient=enrolled_patient),
        "qol": factories.QolAssessmentFactory(patient=enrolled_patient),
        "ae": factories.AdverseEventFactory(patient=enrolled_patient),
    }


class TestWhoMayOpenWhat:
    def test_a_clinician_opens_every_page_of_own_patient(self, client, clinician, enrolled_patient, records):
        client.force_login(clinician)
        for url in [
            "/patients/",
            "/patients/new/",
            f"/patients/{enrolled_patient.pk}/",
            *entry_urls(enrolled_patient, records),
        ]:
            assert client.get(url).status_code == 200, url
        # The screening is signed: its form sends the user to the review page (read-only).
        signed = client.get(f"/patients/{enrolled_patient.pk}/screening/")
        assert signed["Location"] == f"/screenings/{enrolled_patient.screening.pk}/"

    def test_another_sites_clinician_gets_404_everywhere(self, client, outsider, enrolled_patient, records):
        client.force_login(outsider)
        for url in [f"/patients/{enrolled_patient.pk}/", f"/patients/{enrolled_patient.pk}/screening/",
                    *entry_urls(enrolled_patient, records)]:  # fmt: skip
            assert client.get(url).status_code == 404, url

    @pytest.mark.parametrize("role", ["coordinator", "investigator", "data_manager"])
    def test_other_roles_read_but_do_not_enter_data(self, client, site_a, enrolled_patient, records, role):
        client.force_login(factories.UserFactory(role=role, site=site_a))
        assert client.get("/patients/").status_code == 200
        assert client.get(f"/patients/{enrolled_patient.pk}/").status_code == 200
        for url in ["/patients/new/", *entry_urls(enrolled_patient, records)]:
            assert client.get(url).status_code == 403, url
        screening_page = client.get(f"/patients/{enrolled_patient.pk}/screening/").status_code
        assert screening_page == (302 if role == "coordinator" else 403)  # signed: to the review page

    def test_anonymous_users_are_sent_to_login(self, client, enrolled_patient, records):
        for url in ["/patients/", f"/patients/{enrolled_patient.pk}/", *entry_urls(enrolled_patient, records)]:
            response = client.get(url)
            assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url

    def test_a_record_reached_through_another_patients_url_is_not_found(
        self, client, clinician, enrolled_patient, records, site_a
    ):
        other = factories.PatientFactory(site=site_a)
        client.force_login(clinician)
        assert client.get(f"/patients/{other.pk}/infusions/{records['infusion'].pk}/").status_code == 404


class TestTreatmentGateOnPages:
    def test_treatment_forms_are_closed_without_a_signed_screening(self, client, clinician, patient_a):
        client.force_login(clinician)
        for path in ("pvp/", "infusions/new/", "response/"):
            response = client.get(f"/patients/{patient_a.pk}/{path}", follow=True)
            assert response.redirect_chain[-1][0] == f"/patients/{patient_a.pk}/"
            assert "needs an eligibility screening signed by a coordinator" in response.content.decode()


class TestCreating:
    def test_a_new_patient_gets_the_next_screening_number(self, client, clinician, site_a):
        client.force_login(clinician)
        response = client.post(
            "/patients/new/",
            {"site": site_a.pk, "sex": "F", "date_of_birth": "1958-04-02", "initials": "WL", "hospital_number": "H-77",
             "weight_kg": "58", "diagnosis_date": "2019-01-05", "isotype": "IgA", "light_chain": "kappa",
             "iss_stage": "II", "fractured_levels": ["T12", "L1", "L2"]},
        )  # fmt: skip
        patient = site_a.patients.get()
        assert response["Location"] == f"/patients/{patient.pk}/"
        assert (patient.screening_number, patient.fracture_region) == ("AAA-S001", "thoracolumbar")
        assert patient.events.get().pgh_context.metadata["reason"] == "initial entry"

    def test_a_clinician_cannot_create_a_patient_at_another_site(self, client, clinician, site_b):
        client.force_login(clinician)
        response = client.post("/patients/new/", {"site": site_b.pk, "sex": "F"})
        assert "Select a valid choice" in response.content.decode()

    def test_an_infusion_is_saved_and_its_deviation_shown_on_the_record(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        response = client.post(
            f"/patients/{enrolled_patient.pk}/infusions/new/",
            {"cycle": 1, "infused_on": "2020-01-13", "status": "given", "creatinine_umol_l": "70", "dose_mg": "4.0",
             "diluent_ml": 100, "duration_min": 10},
        )  # fmt: skip
        assert response.status_code == 302
        record = client.get(f"/patients/{enrolled_patient.pk}/").content.decode()
        assert "infused over 10 min (protocol: at least 15 min)" in record

    def test_the_infusion_form_shows_the_creatinine_clearance(self, client, clinician, enrolled_patient):
        client.force_login(clinician)
        fragment = client.get(
            f"/patients/{enrolled_patient.pk}/infusions/crcl/",
            {"infused_on": "2020-01-13", "creatinine_umol_l": "150", "dose_mg": "4.0"},
        ).content.decode()
        assert "44.8 ml/min" in fragment
        assert "label dose" in fragment and "3.3 mg" in fragment
        assert "will be saved and flagged as a protocol deviation" in fragment


class TestRecordShowsFlags:
    def test_out_of_range_values_are_flagged_and_the_alternative_unit_shown(self, client, clinician, enrolled_patient):
        draw = factories.LabDrawFactory(patient=enrolled_patient)
        factories.LabResultFactory(lab_draw=draw, analyte="alp", value=Decimal("235"))
        factories.LabResultFactory(
            lab_draw=draw, analyte="calcium", value=Decimal("1.996"), entered_value=Decimal("8"), entered_unit="mg/dL"
        )
        client.force_login(clinician)
        page = client.get(f"/patients/{enrolled_patient.pk}/").content.decode()
        assert '235.0 U/L <strong class="text-danger">H</strong>' in page
        assert '2.00 mmol/L <strong class="text-danger">L</strong> <span class="text-muted">(8 mg/dL)</span>' in page

    def test_an_ebmt_disagreement_is_flagged(self, client, clinician, enrolled_patient):
        for timepoint, m_protein in (("baseline", "40"), ("follow_up", "10")):
            draw = factories.LabDrawFactory(patient=enrolled_patient, timepoint=timepoint)
            factories.LabResultFactory(lab_draw=draw, analyte="m_protein", value=Decimal(m_protein))
        factories.TumourResponseFactory(patient=enrolled_patient, category="NC", immunofixation_negative="no")
        client.force_login(clinician)
        page = client.get(f"/patients/{enrolled_patient.pk}/").content.decode()
        assert "EBMT: clinician says NC, the data suggest PR" in page
        assert 'data-testid="ebmt-disagreement"' in page


class TestEditConflict:
    def test_the_second_save_is_refused_with_the_other_change_and_can_be_reapplied(
        self, client, clinician, enrolled_patient, site_a
    ):
        pain = factories.PainAssessmentFactory(patient=enrolled_patient, who_grade=3)
        colleague = factories.UserFactory(username="colleague", role="clinician", site=site_a)
        url = f"/patients/{enrolled_patient.pk}/pain/{pain.pk}/"
        base = {"timepoint": "baseline", "assessed_on": "2020-01-07", "version": 1}

        client.force_login(colleague)
        assert client.post(url, base | {"who_grade": 2, "reason_for_change": "source: grade II"}).status_code == 302

        client.force_login(clinician)
        refused = client.post(url, base | {"who_grade": 3, "vas": "7", "reason_for_change": "add VAS"})
        page = refused.content.decode()
        assert refused.status_code == 409
        assert "Not saved: someone else changed this record after you opened it." in page
        assert "colleague saved it at" in page
        assert "<td>WHO pain grade</td><td>3</td><td>2</td>" in page
        assert 'name="vas" value="7"' in page  # nothing the second person typed is lost
        assert 'name="version" value="2"' in page

        reapplied = client.post(url, base | {"version": 2, "who_grade": 2, "vas": "7", "reason_for_change": "add VAS"})
        assert reapplied.status_code == 302
        pain.refresh_from_db()
        assert (pain.who_grade, pain.vas, pain.version) == (2, Decimal("7.0"), 3)


def _patients(site, count):
    for _ in range(count):
        patient = factories.PatientFactory(site=site)
        factories.InfusionFactory(patient=patient)
        draw = factories.LabDrawFactory(patient=patient)
        factories.LabResultFactory(lab_draw=draw)
        factories.PainAssessmentFactory(patient=patient)


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


class TestQueryCounts:
    def test_the_patient_list_costs_the_same_for_5_and_50_patients(self, client, clinician, site_a):
        client.force_login(clinician)
        _patients(site_a, 5)
        five = count_queries(client, "/patients/")
        _patients(site_a, 45)
        # 16 queries: session, user, role, count, the page, the site menu, and one prefetch each for
        # infusions, lab draws, their results, pain, QoL, treated levels, adverse events,
        # source verifications and open data queries, whatever the page holds
        assert count_queries(client, "/patients/") == five

    def test_the_record_costs_the_same_for_few_and_many_rows(self, client, clinician, enrolled_patient, site_a):
        client.force_login(clinician)
        _patients(site_a, 5)
        factories.AdverseEventFactory(patient=enrolled_patient)
        few = count_queries(client, f"/patients/{enrolled_patient.pk}/")
        _patients(site_a, 45)
        for cycle in (1, 2, 3):
            infused_on = date(2020, 1, 13) + timedelta(days=28 * (cycle - 1))
            Infusion.objects.create(
                patient=enrolled_patient, cycle=cycle, infused_on=infused_on, dose_mg=4, duration_min=20
            )
        for _ in range(5):
            factories.AdverseEventFactory(patient=enrolled_patient)
        PainAssessment.objects.create(
            patient=enrolled_patient, timepoint="follow_up", assessed_on=date(2020, 5, 1), who_grade=1
        )
        assert count_queries(client, f"/patients/{enrolled_patient.pk}/") == few


def test_the_casebook_shows_every_form_with_its_audit_summary(client, investigator, outsider, enrolled_patient):
    factories.InfusionFactory(patient=enrolled_patient, duration_min=10)
    draw = factories.LabDrawFactory(patient=enrolled_patient)
    factories.LabResultFactory(lab_draw=draw, analyte="alp", value=Decimal("300"))
    client.force_login(investigator)
    page = client.get(f"/patients/{enrolled_patient.pk}/casebook/").content.decode()
    assert page.count('data-testid="casebook-form"') == 5  # patient, screening, infusion, lab draw, lab result
    assert "infused over 10 min" in page  # flags
    assert "Electronic signature" in page and "audited change" in page
    client.force_login(outsider)
    assert client.get(f"/patients/{enrolled_patient.pk}/casebook/").status_code == 404


def test_the_casebook_pdf_renders_every_form_of_a_demo_patient(client, monkeypatch):
    import io

    from django.core.management import call_command
    from pypdf import PdfReader

    from trials import data_review
    from trials.models import Patient, User

    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    client.force_login(User.objects.get(username="investigator"))
    patient = Patient.objects.get(study_id="H01-003")  # the complete response, with a cement leak
    response = client.get(f"/patients/{patient.pk}/casebook.pdf")
    assert response["Content-Type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    text = " ".join(text.split())
    loaded = (
        type(patient)
        .objects.prefetch_related("infusions", "lab_draws", "pain_assessments", "qol_assessments", "adverse_events")
        .get(pk=patient.pk)
    )
    for record in data_review.patient_forms(loaded):
        assert str(record._meta.verbose_name) in text
    assert "Electronic signature: Coordinator Demo" in text
    assert "Cement leak into the disc space" in text
