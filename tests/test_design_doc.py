"""docs/design.md stays true: what it lists (criteria, analytes, coded values, routes, the outcome JSON)
is compared with what the code declares, so neither can change without the other."""

import re
from decimal import Decimal
from pathlib import Path

import pytest

from trials import protocol
from trials.models import AdverseEvent, EndOfStudy, Infusion, Patient, PvpProcedure, TreatedLevel

DESIGN = (Path(__file__).resolve().parent.parent / "docs" / "design.md").read_text()


def listed(name: str) -> list[str]:
    """The values the data dictionary lists in parentheses after `name`, e.g. `sex` (M/F)."""
    match = re.search(rf"`{name}`\s+\(([^)]*)\)", DESIGN)
    assert match, f"docs/design.md does not list the values of {name}"
    return [value.strip() for value in re.split(r"[,/]", match.group(1))]


@pytest.mark.parametrize(
    ("name", "choices"),
    [
        ("sex", Patient.Sex),
        ("isotype", Patient.Isotype),
        ("light_chain", Patient.LightChain),
        ("iss_stage", Patient.IssStage),
        ("end_reason", EndOfStudy.Reason),
        ("approach", PvpProcedure.Approach),
        ("leakage", TreatedLevel.Leakage),
        ("status", Infusion.Status),
        ("category", protocol.EbmtCategory),
        ("term", protocol.AdverseEventTerm),
        ("related_to", AdverseEvent.RelatedTo),
        ("action", AdverseEvent.Action),
        ("outcome", AdverseEvent.Outcome),
    ],
)
def test_every_coded_variable_lists_exactly_the_models_codes(name, choices):
    assert listed(name) == [str(value) for value in choices.values]


def test_the_eligibility_criteria_are_the_protocols():
    codes = re.findall(r"^\| ([IE]\d) \|", DESIGN, re.M)
    assert codes == [criterion.code for criterion in protocol.CRITERIA]


def test_the_schedules_timepoints_are_the_protocols():
    rows = re.findall(r"^\| `(\w+)`(?:\.\.`(\w+)`)?", DESIGN.split("### Schedule")[1].split("###")[0], re.M)
    codes = []
    for first, last in rows:
        if last:  # cycle_1..cycle_3
            prefix = first.rsplit("_", 1)[0]
            codes += [f"{prefix}_{n}" for n in range(int(first.rsplit("_", 1)[1]), int(last.rsplit("_", 1)[1]) + 1)]
        else:
            codes.append(first)
    assert codes == [str(value) for value in protocol.Timepoint.values]


def test_the_qol_items_are_the_protocols():
    line = next(line for line in DESIGN.splitlines() if line.startswith("QoL: "))
    following = DESIGN[DESIGN.index(line) :].split("derived `total`")[0]
    assert re.findall(r"`(q_\w+)`", following) == list(protocol.QOL_ITEM_CODES)


def _number(text: str) -> Decimal:
    return Decimal(text.strip())


def test_the_analyte_table_is_the_protocols():
    """Canonical unit, units accepted on entry with their factor, impossible and reference ranges,
    critical limits: what the page, the API and the import check."""
    table = DESIGN.split("Lab draw (one per patient")[1].split("Impossible values")[0]
    rows = re.findall(r"^\| `(\w+)` \|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|$", table, re.M)
    assert [row[0] for row in rows] == [analyte.code for analyte in protocol.ANALYTES]
    for (code, unit, accepted, possible, reference), analyte in zip(rows, protocol.ANALYTES, strict=True):
        assert unit.split(" (")[0] == analyte.unit, code
        alternatives = dict(re.findall(r"([\w/]+) \(x ([\d.]+)\)", accepted))
        assert {name: Decimal(factor) for name, factor in alternatives.items()} == analyte.alternative_units, code
        low, high = possible.split("-")
        assert (_number(low), _number(high)) == (analyte.possible.low, analyte.possible.high), code
        if reference.strip() == "0":
            assert analyte.reference.low == 0 and analyte.reference.high >= 0, code
        else:
            low, high = reference.split(";")[0].split("-")
            assert (_number(low), _number(high)) == (analyte.reference.low, analyte.reference.high), code
        critical = re.search(r"critical < ([\d.]+) or > ([\d.]+)", reference)
        limits = (analyte.critical_low, analyte.critical_high)
        assert limits == ((_number(critical.group(1)), _number(critical.group(2))) if critical else (None, None)), code


def test_the_api_routes_are_the_routers():
    from trials.api.urls import router

    section = DESIGN.split("## 3. API endpoints")[1].split("### 3b.")[0]
    documented = {route.rstrip("/") for route in re.findall(r"`([a-z-]+)/`", section)}
    registered = {prefix for prefix, _viewset, _basename in router.registry} | {"outcomes", "schema"}
    assert documented == registered


def test_the_outcome_json_has_the_documented_keys():
    import pandas as pd

    from trials import outcomes

    contract = DESIGN.split("## 4. Outcomes as JSON")[1].split("```")[1]
    top_level = members(contract)
    columns = ["id", "site", *outcomes.patient_summary.LINE_NAMES, "eligible", "fracture_region"]
    empty = outcomes.StudyFrames(pd.DataFrame(columns=columns), pd.DataFrame(columns=outcomes.ADVERSE_EVENTS.names))
    result = outcomes.compute_outcomes(empty, version=0)
    assert top_level == list(result)
    for part in ("enrolment", "demographics", "tumour_response", "pain_relief", "adverse_events"):
        assert members(contract, part) == list(result[part]), part


def members(text: str, part: str | None = None) -> list[str]:
    """The names an object of the sketch lists, keyed or bare: "part": {"n", "counts": {...}, ...};
    without `part`, those of the outermost object."""
    opening = f'"{part}": {{' if part else "{"
    start = text.index(opening) + len(opening)
    names, depth = [], 0
    for match in re.finditer(r'[{}\[\]]|"(\w+)"', text[start:]):
        token = match.group(0)
        if token in "{[":
            depth += 1
        elif token in "}]":
            if depth == 0:
                return names
            depth -= 1
        elif depth == 0:
            names.append(match.group(1))
    return names
