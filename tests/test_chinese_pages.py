"""Every page, read in Chinese, says nothing in English: each role's main pages are rendered with the
Chinese language cookie and their visible text (and title / aria-label / placeholder / alt attributes)
is searched for English words.

What may stay in Latin letters is listed in ALLOWED, each with why; besides, words that users typed
(free text in the records: an operator's name, an event's description, a query's question, the reason
for a change) are data, not interface, and are collected from the database (`typed_words`). Text that
the page marks as not to be translated is skipped: `<code>`, `<kbd>` and `<samp>` (column names, HTTP
headers: literal code), and elements with `translate="no"` or `lang="en"` (a deliberately bilingual
display, such as the protocol's criteria side by side in both languages).
"""

import io
import re
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.db import models
from django.urls import resolve
from pghistory.models import Context

from trials import data_review, jobs
from trials.models import (
    AdverseEvent,
    Infusion,
    LabDraw,
    PainAssessment,
    Patient,
    QolAssessment,
    User,
)

pytestmark = pytest.mark.django_db

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z]+")

# Latin-letter words a Chinese page rightly shows.
# fmt: off
ALLOWED = {
    # Abbreviations Chinese clinicians use as they are (scales, criteria, assays, statistics)
    "CTCAE", "EBMT", "WHO", "KPS", "ISS", "PVP", "PMMA", "QoL", "MM", "ALP", "CrCl", "VAS", "SDV", "CRF",
    "IgG", "IgA", "IgM", "IgD", "IgE", "CR", "PR", "MR", "NC", "PD", "SD", "CI", "dz", "df", "P", "t", "n",
    "I", "II", "III", "IV", "ID", "Ca", "TOTP", "API", "PDF", "CSV", "XLSX", "Word", "SAV", "DTA", "XPT",
    "ODM", "SDTM", "SPSS", "Stata", "SAS", "Excel", "CDISC", "JSON", "SHA", "UTC", "URL", "HTTP",
    # people's names (tests, formulas, a scale)
    "Shapiro", "Wilk", "Wilcoxon", "Cohen", "Cockcroft", "Gault", "Clopper", "Pearson", "Karnofsky",
    # units; chemistry; "mol" is what is left of µmol/L once the text is split at the non-ASCII µ
    "mg", "ml", "mL", "min", "kg", "cm", "KB", "MB", "mmol", "umol", "mol", "g", "L", "dL", "IU", "U", "h", "NaCl",
    # vertebral levels (T12, L1: the spine's own notation) and the light chains
    "T", "kappa", "lambda",
    # the language switch names each language in that language
    "English",
    # names of standards, file formats, encodings and file extensions; imaging
    "CONSORT", "XML", "PNG", "zip", "sav", "dta", "xpt", "UTF", "CT", "MRI",
    # the literal reason an import writes into the audit trail ("import <file name>")
    "import",
}
# fmt: on

# No page has known gaps: the screening pages show the protocol's English text beside the Chinese on
# purpose, marked lang="en" (a screen reader reads it as English; this test skips it).
KNOWN_GAPS: dict[str, set[str]] = {}
HIDDEN = {"script", "style", "template", "code", "kbd", "samp"}
ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _untranslated(tag: str, attrs: dict) -> bool:
    return tag in HIDDEN or attrs.get("translate") == "no" or (attrs.get("lang") or "").startswith("en")


class VisibleText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.open = []  # (tag, skipped) of each open element
        self.parts = []

    @property
    def hidden(self) -> bool:
        return any(skipped for _tag, skipped in self.open)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        skipped = _untranslated(tag, attrs)
        if not self.hidden and not skipped:
            self.parts.extend(value for name, value in attrs.items() if name in ATTRIBUTES and value)
        if tag not in VOID:
            self.open.append((tag, skipped))

    def handle_endtag(self, tag):
        # Close up to the matching element (HTML lets some end tags be left out).
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                break

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def english_words(html: str, allowed: set[str]) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    text = " ".join(parser.parts)
    return sorted({word for word in LATIN_WORD.findall(text) if word not in allowed})


def typed_words() -> set[str]:
    """Words in the records' free text (fields without choices) and in people's names and user names."""
    words = set()
    for model in apps.get_app_config("trials").get_models():
        fields = [
            field.name
            for field in model._meta.get_fields()
            if isinstance(field, models.CharField | models.TextField) and not field.choices
        ]
        for row in model._base_manager.values_list(*fields) if fields else ():
            for value in row:
                words.update(LATIN_WORD.findall(str(value or "")))
    for context in Context.objects.all():
        words.update(LATIN_WORD.findall(str(context.metadata.get("reason", ""))))
    for user in User.objects.all():
        words.update(LATIN_WORD.findall(f"{user.username} {user.first_name} {user.last_name}"))
    return words


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "x-demo-password")
    call_command("load_demo", stdout=io.StringIO())
    patient = Patient.objects.filter(study_id__isnull=False).order_by("pk").first()
    clinician = User.objects.get(username="clinician")
    event = AdverseEvent.objects.filter(patient=patient).first() or AdverseEvent.objects.first()
    query = data_review.raise_query(
        user=User.objects.get(username="coordinator"), record=event, field="ctcae_grade", question="请核对分级"
    )
    # a finished export, its page showing the manifest
    job = jobs.start_export(User.objects.get(username="data_manager"), "csv", identifiable=False, reason="",
                            background=False)  # fmt: skip
    return {"patient": patient, "event": event, "query": query, "job": job, "clinician": clinician}


def pages(demo) -> dict[str, list[str]]:
    patient = demo["patient"]
    pk = patient.pk
    event = demo["event"]
    record = [
        f"/patients/{pk}/",
        f"/patients/{pk}/casebook/",
    ]
    forms = [
        f"/patients/{pk}/edit/",
        # a signed screening redirects to its review: the form of the demo's incomplete screening
        f"/patients/{Patient.objects.filter(study_id__isnull=True).order_by('pk').last().pk}/screening/",
        f"/patients/{pk}/pvp/",
        f"/patients/{pk}/infusions/new/",
        f"/patients/{pk}/infusions/{Infusion.objects.filter(patient=patient).first().pk}/",
        f"/patients/{pk}/labs/new/?timepoint=follow_up",
        f"/patients/{pk}/labs/{LabDraw.objects.filter(patient=patient).first().pk}/",
        f"/patients/{pk}/pain/{PainAssessment.objects.filter(patient=patient).first().pk}/",
        f"/patients/{pk}/qol/{QolAssessment.objects.filter(patient=patient).first().pk}/",
        f"/patients/{pk}/response/",
        f"/patients/{event.patient_id}/adverse-events/{event.pk}/",
        f"/patients/{pk}/adverse-events/new/",
        f"/patients/{pk}/end-of-study/",
        "/patients/new/",
    ]
    common = [
        "/patients/", *record, "/dashboard/", "/screenings/flow/", "/screenings/log/", "/queries/",
        f"/queries/{demo['query'].pk}/", "/api-tokens/",
    ]  # fmt: skip
    return {
        "clinician": [*common, *forms, "/imports/"],
        "coordinator": [
            *common,
            "/screenings/review/",
            f"/screenings/{patient.screening.pk}/",
            f"/queries/new/?record=adverseevent:{event.pk}",
        ],  # fmt: skip
        "investigator": [*common],
        "data_manager": [*common, "/exports/", "/study/freeze/", f"/jobs/{demo['job'].pk}/"],
    }


def chinese_client(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


def test_every_page_of_every_role_is_in_chinese(client, demo):
    allowed = ALLOWED | typed_words()
    found = {}
    for username, urls in pages(demo).items():
        client.force_login(User.objects.get(username=username))
        chinese_client(client)
        for url in urls:
            response = client.get(url)
            if response.status_code != 200:
                found[f"{username} {url}"] = [f"status {response.status_code}"]
                continue
            gap = KNOWN_GAPS.get(resolve(url.split("?")[0]).url_name, set())
            words = english_words(response.content.decode(), allowed | gap)
            if words:
                found[f"{username} {url}"] = words
    client.logout()
    words = english_words(chinese_client(client).get("/accounts/login/").content.decode(), allowed)
    if words:
        found["anonymous /accounts/login/"] = words
    assert not found, "\n".join(f"{page}: {' '.join(words)}" for page, words in found.items())


def test_the_casebook_pdf_is_in_chinese(client, demo):
    from pypdf import PdfReader

    client.force_login(User.objects.get(username="coordinator"))
    response = chinese_client(client).get(f"/patients/{demo['patient'].pk}/casebook.pdf")
    assert response.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert "病例报告册" in "".join(text.split())  # the text was read (CJK font), not an empty page
    words = set(LATIN_WORD.findall(text)) - ALLOWED - typed_words()
    assert not words, sorted(words)


def test_the_records_deviation_flags_are_in_chinese(client, clinician, enrolled_patient):
    from tests import factories

    factories.InfusionFactory(patient=enrolled_patient, duration_min=10)  # shorter than the protocol's 15 min
    client.force_login(clinician)
    html = chinese_client(client).get(f"/patients/{enrolled_patient.pk}/").content.decode()
    assert 'data-testid="deviation"' in html
    assert not english_words(html, ALLOWED | typed_words())
