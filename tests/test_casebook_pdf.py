"""The casebook PDF holds every free text whole, wrapped and split across pages (reportlab refused a
table row taller than a page with a LayoutError)."""

import io
from datetime import date

import pytest
from pypdf import PdfReader

from tests import factories
from trials.models import DataQuery
from trials.models.base import FREE_TEXT_MAX_CHARS

pytestmark = pytest.mark.django_db


def _fill(unit: str) -> str:
    """`unit` repeated to the longest free text a form accepts."""
    return (unit * (FREE_TEXT_MAX_CHARS // len(unit) + 1))[:FREE_TEXT_MAX_CHARS].strip()


LONG_TEXTS = {
    "english": _fill("The patient reported nausea and vomiting after the second infusion of zoledronic acid. "),
    "unbroken": _fill("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),  # a pasted identifier or URL: no space to wrap at
    "chinese": _fill("患者第二次输注唑来膦酸后出现恶心呕吐，给予止吐治疗后缓解。"),
}


def _squeezed(text: str) -> str:
    """Without white space: wrapping adds line breaks, and a word split over two lines loses nothing else."""
    return "".join(text.split())


def _casebook_pdf(client, user, patient) -> PdfReader:
    client.force_login(user)
    response = client.get(f"/patients/{patient.pk}/casebook.pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    return PdfReader(io.BytesIO(response.content))


def _text(pdf: PdfReader) -> str:
    return _squeezed("".join(page.extract_text() for page in pdf.pages))


@pytest.mark.parametrize("kind", LONG_TEXTS)
def test_a_long_adverse_event_description_is_wrapped_over_pages(client, clinician, enrolled_patient, kind):
    description = LONG_TEXTS[kind]
    factories.AdverseEventFactory(patient=enrolled_patient, description=description)

    pdf = _casebook_pdf(client, clinician, enrolled_patient)

    assert len(pdf.pages) > 1
    assert _squeezed(description) in _text(pdf)


@pytest.mark.parametrize("kind", LONG_TEXTS)
def test_long_notes_queries_and_answers_are_all_in_the_pdf(client, clinician, coordinator, enrolled_patient, kind):
    long_text = LONG_TEXTS[kind]
    factories.EndOfStudyFactory(patient=enrolled_patient, notes="END " + long_text)
    factories.AdverseEventFactory(patient=enrolled_patient, description="AE " + long_text)
    DataQuery.objects.create(
        patient=enrolled_patient, record_type="patient", record_id=enrolled_patient.pk, field="weight_kg",
        question="Q " + long_text, answer="A " + long_text, raised_by=coordinator,
    )  # fmt: skip

    pdf = _casebook_pdf(client, clinician, enrolled_patient)

    text = _text(pdf)
    for prefix in ("END ", "AE ", "Q ", "A "):
        assert _squeezed(prefix + long_text) in text, prefix
    assert len(pdf.pages) >= 4


def test_a_long_deletion_reason_is_in_the_pdf(client, clinician, enrolled_patient):
    from trials import services

    reason = LONG_TEXTS["english"][:2000]
    infusion = factories.InfusionFactory(patient=enrolled_patient, cycle=1, infused_on=date(2020, 1, 13))
    services.soft_delete(infusion, user=clinician, reason=reason)

    pdf = _casebook_pdf(client, clinician, enrolled_patient)

    assert _squeezed(reason) in _text(pdf)
