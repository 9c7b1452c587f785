"""The live outcome dashboard, its downloads, its change poll, and the outcomes JSON API."""

from datetime import UTC

from django.http import Http404, HttpResponse, HttpResponseNotModified, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from trials import access, data_review, outcomes, tables
from trials.models import Patient
from trials.protocol import EbmtCategory, Timepoint
from trials.statistics import format_p
from trials.views.common import require_study_role

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _caption(filters: outcomes.OutcomeFilters, result: dict) -> str:
    applied = "; ".join(f"{name}: {value}" for name, value in filter_labels(filters)) or _("all patients")
    since = data_review.frozen_since()
    state = (
        _("data FROZEN since %(since)s UTC") % {"since": since.astimezone(UTC).strftime("%Y-%m-%d %H:%M")}
        if since
        else _("data not frozen (live)")
    )
    return _(
        "PVP + zoledronic acid myeloma study; %(filters)s; %(state)s; data version %(version)s; computed %(at)s UTC"
    ) % {
        "filters": applied,
        "state": state,
        "version": result["data_version"],
        "at": result["generated_at"][:19].replace("T", " "),
    }


def filter_labels(filters: outcomes.OutcomeFilters) -> list[tuple[str, str]]:
    """(name, value) of the filters applied, in words: "Fracture region: lumbar", not fracture_region=lumbar."""
    labels = []
    if filters.site:
        labels.append((_("Site"), filters.site))
    if filters.isotype:
        labels.append((_("Isotype"), dict(Patient.Isotype.choices)[filters.isotype]))
    if filters.fracture_region:
        labels.append((_("Fracture region"), dict(outcomes.protocol.FractureRegion.choices)[filters.fracture_region]))
    return [(str(name), str(value)) for name, value in labels]


def chart_panels(result: dict, charts: dict) -> tuple[list[dict], dict]:
    """Each plot's words in the user's language, its numbers as a table (the text alternative) and, for
    the paired outcomes, why n is below the number enrolled; and the words static/js/dashboard.js draws."""
    series, pairs = charts["series"], charts["pairs"]
    before, after, patients = _("Before"), _("After"), _("Patients")
    baseline, follow_up = str(Timepoint.BASELINE.label), str(Timepoint.FOLLOW_UP.label)
    panels = []
    for variable in outcomes.PAIRED_ALWAYS:
        unit = tables.unit_label(result["paired"][variable]["unit"])
        title = f"{tables.variable_label(variable)} ({unit})"
        panel = {
            "id": f"chart-{variable}", "kind": "pairs", "variable": variable,
            "title": title, "x": _("Time point"), "y": title,
            "header": [_("Patient"), before, after],
            "rows": [[number, *pair] for number, pair in enumerate(series["lines"][variable], start=1)],
            "pairs": pairs[variable],
        }  # fmt: skip
        if variable in series.get("percentiles", {}):  # too many patients for a line each
            names = [percentile_name(percentile) for percentile in series["percentiles"][variable]]
            panel |= {
                "header": [_("Percentile"), before, after],
                "rows": [[name, *pair] for name, pair in zip(names, series["lines"][variable], strict=True)],
                "series_names": names,
            }
        panels.append(panel)
    counts = result["tumour_response"]["counts"]
    panels.append({
        "id": "chart-response", "kind": "bars",
        "title": _("Tumour response (EBMT)"), "x": _("EBMT category"), "y": patients,
        "header": [_("Category"), patients],
        "rows": [[f"{code} {EbmtCategory(code).label}", count] for code, count in counts.items()],
    })  # fmt: skip
    shift = series["pain_shift"]
    panels.append({
        "id": "chart-pain", "kind": "bars", "variable": "pain", "title": _("Pain grade shift (WHO 0–III)"),
        "x": _("WHO pain grade"), "y": patients, "header": [_("WHO pain grade"), baseline, follow_up],
        "rows": [[grade, shift["baseline"][index], shift["follow_up"][index]]
                 for index, grade in enumerate(("0", "I", "II", "III"))],
        "pairs": pairs["pain"],
    })  # fmt: skip
    words = {
        "before": before,
        "after": after,
        "baseline": baseline,
        "follow_up": follow_up,
        "charts": {
            panel["id"]: {"title": panel["title"], "x": panel["x"], "y": panel["y"]}
            | ({"series": panel["series_names"]} if "series_names" in panel else {})
            for panel in panels
        },
    }
    return panels, words


def percentile_name(percentile: int) -> str:
    if percentile == 50:
        return str(_("Median"))
    return _("%(percentile)sth percentile") % {"percentile": percentile}


def dashboard(request):
    require_study_role(request.user)
    filters = outcomes.OutcomeFilters.from_query(request.GET)
    results = outcomes.study_results(request.user, filters, charts=True)
    result, pairs = results.outcomes, results.charts["pairs"]
    panels, words = chart_panels(result, results.charts)
    context = {
        "outcomes": result,
        "ae_detail": results.adverse_events,
        "charts": results.charts["series"],
        "chart_panels": panels,
        "chart_words": words,
        "filters": filters,
        "query": request.GET.urlencode(),
        "paired_rows": [
            (
                tables.variable_label(variable),
                tables.unit_label(row["unit"]),
                row,
                format_p(row["p"]),
                format_p(row["shapiro_p"]),
                format_p(row["wilcoxon_p"]),
                pairs[variable],
            )
            for variable, row in result["paired"].items()
        ],  # fmt: skip
        "sites": access.sites_for_user(request.user),
        "isotypes": Patient.Isotype.choices,
        "regions": outcomes.protocol.FractureRegion.choices,
        "tables": tables.TABLES,
        "caption": _caption(filters, result),
    }
    template = "trials/_dashboard_body.html" if request.GET.get("partial") else "trials/dashboard.html"
    return TemplateResponse(request, template, context)


def dashboard_version(request):
    """Answers 304 while nothing changed, so an open dashboard can poll every few seconds for free."""
    require_study_role(request.user)
    etag = f'"v{outcomes.data_version()}"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponseNotModified()
    else:
        response = JsonResponse({"data_version": int(etag.strip('"v'))})
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response


def download(request, name: str, extension: str):
    require_study_role(request.user)
    if name not in tables.TABLES or extension not in ("csv", "xlsx") and not (name, extension) == ("paired", "docx"):
        raise Http404
    filters = outcomes.OutcomeFilters.from_query(request.GET)
    results = outcomes.study_results(request.user, filters)
    result = results.outcomes
    caption = _caption(filters, result)
    if extension == "docx":
        content = tables.paired_docx(result, caption)
    else:
        header, rows = tables.table(name, result, results.adverse_events)
        content = tables.as_csv(header, rows) if extension == "csv" else tables.as_xlsx(name, header, rows, caption)
    response = HttpResponse(content, content_type=CONTENT_TYPES[extension])
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="pvp-{name}-{stamp}.{extension}"'
    return response


@extend_schema(
    summary="The study's results from the data as it stands (docs/design.md §4; kept per data version, never stale)",
    parameters=[
        OpenApiParameter("site", str, description="site code"),
        OpenApiParameter("isotype", str),
        OpenApiParameter("fracture_region", str, enum=["thoracic", "lumbar", "thoracolumbar"]),
    ],
    responses=OpenApiTypes.OBJECT,
)
@api_view(["GET"])
def outcomes_api(request):
    require_study_role(request.user)
    filters = outcomes.OutcomeFilters.from_query(request.GET)
    return Response(outcomes.study_results(request.user, filters).outcomes)
