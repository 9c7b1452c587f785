from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from trials import flow, labels, protocol

register = template.Library()

BADGES = {
    "complete": ("success", gettext_lazy("complete")),
    "partial": ("warning", gettext_lazy("partial")),
    "awaiting_signature": ("info", gettext_lazy("complete, awaiting signature")),
    "missing": ("secondary", gettext_lazy("missing")),
}


@register.filter
def plain(value):
    """A number without exponent or trailing zeros; '—' when missing."""
    return "—" if value in (None, "") else protocol.plain_number(value)


@register.simple_tag
def badge(state: str):
    colour, label = BADGES[state]
    return format_html('<span class="badge text-bg-{} ms-2" data-state="{}">{}</span>', colour, state, label)


@register.simple_tag
def lab_value(result):
    """Canonical value with its unit and H/L flag, plus what was typed when it was another unit."""
    analyte = result.definition
    shown = Decimal(result.value).quantize(Decimal(1).scaleb(-analyte.decimals))
    flag = result.flag
    html = format_html('{} {} <strong class="text-danger">{}</strong>', shown, analyte.unit, flag)
    if result.entered_unit and result.entered_unit != analyte.unit:
        html += format_html(
            ' <span class="text-muted">({} {})</span>', protocol.plain_number(result.entered_value), result.entered_unit
        )
    if analyte.is_critical(result.value):
        html += format_html(' <span class="badge text-bg-danger">{}</span>', _("critical, confirmed"))
    return html


@register.filter
def text_in(text, language_code):
    return text.for_language(language_code)


@register.filter
def pct(value, digits=1):
    """A proportion as a percentage: 0.875 -> 87.5."""
    return "—" if value in (None, "") else f"{float(value) * 100:.{int(digits)}f}"


@register.filter
def num(value, digits=2):
    return "—" if value in (None, "") else f"{float(value):.{int(digits)}f}"


@register.filter
def get(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def criterion(code):
    return protocol.CRITERIA_BY_CODE[code]


@register.simple_tag
def log_counts(rows):
    """The study's counts (`flow.step_counts`) of the screening log's rows, from the patients already fetched."""
    return flow.counts_of(row["patient"] for row in rows)


@register.filter
def label(code, kind: str):
    """The label of a coded value in the user's language: `{{ term|label:"ae_term" }}`; an unknown code as is."""
    return labels.label(kind, code)


@register.filter
def query_field(query):
    """The name of the field a data query asks about, in the user's language (not its code)."""
    return labels.query_field_label(query)


@register.filter
def form_title(record):
    return labels.form_title(record)


@register.filter
def analyte_label(code):
    return labels.analyte_label(code)
