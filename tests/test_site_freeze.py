"""Freezing follows site scope (issue 14): a data manager freezes and unfreezes their own sites; the
whole study only a data manager of every site (or operations staff)."""

import pytest
from django.db import IntegrityError, transaction

from tests import factories
from tests.factories import api_client_for
from trials.models import PainAssessment, SiteFreeze, StudyFreeze

pytestmark = pytest.mark.django_db


def test_a_data_manager_of_one_site_cannot_freeze_or_unfreeze_the_whole_study(client, data_manager, site_b):
    refused = api_client_for(data_manager).post("/api/v1/study/freeze/", {}, format="json")
    assert refused.status_code == 403 and "every site" in refused.json()["detail"]
    client.force_login(data_manager)
    page = client.post("/study/freeze/", {"action": "freeze"}, follow=True).content.decode()
    assert "every site" in page and not StudyFreeze.objects.exists()
    StudyFreeze.objects.create(frozen_by=data_manager)
    refused = api_client_for(data_manager).post("/api/v1/study/unfreeze/", {"reason": "late data"}, format="json")
    assert refused.status_code == 403 and StudyFreeze.objects.exists()


def test_a_data_manager_of_every_site_freezes_the_study(data_manager, site_b):
    data_manager.sites.add(site_b)
    assert api_client_for(data_manager).post("/api/v1/study/freeze/", {}, format="json").json()["frozen"] is True


def test_a_frozen_site_refuses_every_change_to_its_data_and_only_its_data(
    data_manager, enrolled_patient, site_b, clinician
):
    pain = factories.PainAssessmentFactory(patient=enrolled_patient)
    other_site = factories.PainAssessmentFactory(patient=factories.PatientFactory(site=site_b))
    state = api_client_for(data_manager).post("/api/v1/study/freeze/", {"site": "AAA"}, format="json").json()
    assert state["sites_frozen_since"]["AAA"] is not None and state["frozen"] is False
    with pytest.raises(IntegrityError, match="site AAA are frozen"), transaction.atomic():
        PainAssessment.objects.filter(pk=pain.pk).update(who_grade=1)  # raw SQL path, as any other
    with pytest.raises(IntegrityError, match="frozen"), transaction.atomic():
        factories.PatientFactory(site=enrolled_patient.site)  # no new patient either
    PainAssessment.objects.filter(pk=other_site.pk).update(who_grade=1)  # another site's data: open
    refused = api_client_for(data_manager).post("/api/v1/study/unfreeze/", {"site": "AAA"}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()
    api_client_for(data_manager).post("/api/v1/study/unfreeze/", {"site": "AAA", "reason": "late lab"}, format="json")
    PainAssessment.objects.filter(pk=pain.pk).update(who_grade=1)
    assert not SiteFreeze.objects.exists()


def test_nobody_freezes_a_site_that_is_not_theirs(client, data_manager, site_b):
    refused = api_client_for(data_manager).post("/api/v1/study/freeze/", {"site": site_b.code}, format="json")
    assert refused.status_code == 400 and "not one of your sites" in refused.json()["site"][0]
    client.force_login(data_manager)
    assert client.post("/study/freeze/", {"action": "freeze", "site": site_b.code}).status_code == 404
    assert not SiteFreeze.objects.exists()


def test_the_freeze_page_offers_ones_own_sites(client, data_manager, site_b):
    client.force_login(data_manager)
    page = client.get("/study/freeze/").content.decode()
    assert 'data-testid="site-AAA"' in page and 'data-testid="not-study-wide"' in page
    client.post("/study/freeze/", {"action": "freeze", "site": "AAA"})
    assert SiteFreeze.objects.get().site.code == "AAA"
    assert SiteFreeze.objects.get().events.get().pgh_context.metadata["username"] == data_manager.username
