"""One date format in every language: ISO 8601 (2026-11-20, 2026-11-20 14:05), set once for each
language in config/formats, so that templates say `|date` and print the same thing everywhere."""

import re

import pytest
from django.utils import translation
from django.utils.formats import date_format

from tests.test_chinese_pages import demo, pages  # noqa: F401 - the demo fixture and its pages
from trials.models import User

pytestmark = pytest.mark.django_db

OTHER_FORMATS = {
    "US or European numeric": re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"),
    "month name": re.compile(
        r"\b(Jan|Feb|Mar|Apr|May|June?|July?|Aug|Sept?|Oct|Nov|Dec)[a-z]*\.? \d{1,2}, \d{4}\b"
        r"|\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{4}\b"
    ),
    "Chinese long form": re.compile(r"\d{4}年\d{1,2}月\d{1,2}日"),
    "midnight/noon words": re.compile(r"\b(midnight|noon|a\.m\.|p\.m\.)"),
}
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_dates_are_iso_8601_in_each_language(language):
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    with translation.override(language):
        assert date_format(date(1958, 3, 14)) == "1958-03-14"
        assert date_format(date(1958, 3, 14), "SHORT_DATE_FORMAT") == "1958-03-14"
        moment = datetime(2026, 11, 20, 14, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
        assert date_format(moment, "DATETIME_FORMAT") == "2026-11-20 14:05"
        assert date_format(moment, "SHORT_DATETIME_FORMAT") == "2026-11-20 14:05"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_demo_pages_show_one_date_format(client, demo, language):  # noqa: F811
    client.cookies["django_language"] = language
    seen_iso = 0
    found = []
    for username, urls in pages(demo).items():
        client.force_login(User.objects.get(username=username))
        for url in urls:
            html = client.get(url).content.decode()
            text = re.sub(r"<script.*?</script>|<[^>]+>", " ", html, flags=re.S)
            seen_iso += len(ISO_DATE.findall(text))
            found += [f"{username} {url}: {name}: {m.group(0)}" for name, rx in OTHER_FORMATS.items()
                      for m in rx.finditer(text)]  # fmt: skip
    assert not found, "\n".join(found)
    assert seen_iso > 100  # the demo's pages are full of dates, all of them ISO
