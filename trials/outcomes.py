"""The study's results from the data as it stands: the one code path of the dashboard and the API.

Two SQL queries fetch everything (one row per patient from the trigger-maintained summary, its pain,
QoL and lab values in columns; one row per adverse event), scoped to the user's sites and filtered; pandas
and `trials.statistics` do the rest. `study_results` keeps what they computed per data version (see
there): asked again while nothing changed, the figures come back without being recomputed.
"""

import csv
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from trials import flow, patient_summary, protocol, statistics
from trials.models import Patient

PAIRED_ALWAYS = ("alp", "calcium", "qol_total")
TIMEPOINTS = patient_summary.LAB_TIMEPOINTS


@dataclass(frozen=True)
class OutcomeFilters:
    site: str = ""
    isotype: str = ""
    fracture_region: str = ""

    @classmethod
    def from_query(cls, query) -> "OutcomeFilters":
        isotype = query.get("isotype", "")
        region = query.get("fracture_region", "")
        return cls(
            site=query.get("site", "").strip().upper()[:10],
            isotype=isotype if isotype in dict(Patient.Isotype.choices) else "",
            fracture_region=region if region in dict(protocol.FractureRegion.choices) else "",
        )

    def as_dict(self) -> dict:
        return {key: value for key, value in vars(self).items() if value}


def data_version() -> int:
    """Bumped by a trigger on every write to study data (migration 0003)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM trials_data_version")
        return int(cursor.fetchone()[0])


# --- fetching ---------------------------------------------------------------------------------
#
# Each query's rows come back as ONE text value (tab-separated lines), which pandas
# parses in C: for 100,000 patients that is several times faster than receiving them row by row
# and turning millions of values into Python objects one at a time.

# Soft-deleted rows (a patient registered in error, a form deleted with a reason) never count.
SCOPE_CONDITION = """
    p.deleted_at IS NULL
    AND ({all_sites} OR p.site_id IN (SELECT site_id FROM trials_user_sites WHERE user_id = {user}))
    AND ({site} = '' OR s.code = {site}) AND ({isotype} = '' OR p.isotype = {isotype})
"""
SCOPE = f"SELECT p.id FROM trials_patient p JOIN trials_site s ON s.id = p.site_id WHERE {SCOPE_CONDITION}"  # noqa: S608


@dataclass(frozen=True)
class Query:
    columns: tuple[tuple[str, str], ...]  # (SQL expression, name)
    source: str  # FROM ... WHERE ...
    fields: tuple[str, ...] = ()  # what a row's text holds, when a column is itself a line of fields

    @property
    def names(self) -> list[str]:
        return [name for _expression, name in self.columns]

    @property
    def parsed_names(self) -> list[str]:
        return list(self.fields) or self.names

    @property
    def sql(self) -> str:
        select = ", ".join(f"{expression} AS {name}" for expression, name in self.columns)
        return f"SELECT {select} {self.source}"


# The patient-level inputs come from the summary table (one row per patient, kept current by
# triggers in the writing transaction: trials/patient_summary.py), as the line of text it keeps of
# them; aliased `p` so that the scope condition reads its site_id, isotype and deleted_at as it would
# the patient's.
PATIENTS = Query(
    columns=(("s.code", "site"), ("p.line", "line")),
    fields=("site", *patient_summary.LINE_NAMES),
    source=f"""
FROM {patient_summary.TABLE} p
JOIN trials_site s ON s.id = p.site_id
WHERE {SCOPE_CONDITION}
""",  # noqa: S608 - built from constants; values are bound as literals by psycopg
)

LAB_COLUMNS = patient_summary.LAB_COLUMNS

ADVERSE_EVENTS = Query(
    columns=(
        ("ae.patient_id", "patient"),
        ("ae.term", "term"),
        ("ae.ctcae_grade", "ctcae_grade"),
        ("ae.serious", "serious"),
        ("ae.related_to", "related_to"),
    ),  # fmt: skip
    source=f"""
FROM trials_adverseevent ae JOIN trials_patient p ON p.id = ae.patient_id
JOIN trials_site s ON s.id = p.site_id
WHERE ae.deleted_at IS NULL AND p.study_id IS NOT NULL AND {SCOPE_CONDITION}
""",  # noqa: S608
)

QUERIES = (PATIENTS, ADVERSE_EVENTS)


def _query_params(user, filters: OutcomeFilters) -> dict:
    return {"all_sites": user.is_superuser, "user": user.pk, "site": filters.site, "isotype": filters.isotype}


def bound_select(query: Query, params: dict):
    """The query with its parameters quoted as literals by psycopg."""
    from psycopg import sql as psql

    return psql.SQL(query.sql).format(**{name: psql.Literal(value) for name, value in params.items()})


def aggregated_statement(query: Query, params: dict) -> str:
    """All rows of the query as one value: tab-separated lines, NULL as an empty field, in UTF-8 bytes.

    No value contains a tab or a newline (codes, numbers, dates, '|' and ',' lists), so the text
    needs no quoting. Bytes, not text: pandas parses them in C as they come, where a str of 100,000
    rows had first to be decoded and then copied into a StringIO (0.15 s). (COPY TO STDOUT was
    tried: psycopg hands its rows over one by one, and that cost 0.4 s more.)
    """
    from psycopg import sql as psql

    fields = ", ".join(f"COALESCE(t.{name}::text, '')" for name in query.names)
    statement = psql.SQL(
        "SELECT convert_to(string_agg(concat_ws(E'\\t', " + fields + "), E'\\n'), 'UTF8') FROM ({}) AS t"  # noqa: S608
    ).format(bound_select(query, params))
    connection.ensure_connection()
    return statement.as_string(connection.connection)


def fetch_one(cursor, statement: str) -> bytes:
    cursor.execute(statement)
    return bytes(cursor.fetchone()[0] or b"")


@dataclass(frozen=True)
class StudyFrames:
    patients: pd.DataFrame  # one row per patient (all screened candidates)
    adverse_events: pd.DataFrame  # one row per event of an enrolled patient


# True when no transaction that could still commit was under way as the data was read: then every write
# counted by the data version read before had ended, and the data read includes it (see study_results).
SETTLED = "NOT EXISTS (SELECT FROM pg_snapshot_xip(pg_current_snapshot()))"


def fetch_rows(queries, params: dict) -> tuple[list[bytes], bool]:
    """The results of the statements, in order, and whether the data was read SETTLED.

    With OUTCOMES_PARALLEL the statements run at the same time on extra connections, each importing
    the snapshot of this transaction (pg_export_snapshot), so all of them see one consistent state of
    the data. An exported snapshot does not show the exporting transaction's own uncommitted writes,
    so the test suite (which runs inside a transaction) uses the sequential path.
    """
    if not settings.OUTCOMES_PARALLEL:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {SETTLED}")  # noqa: S608 - a constant
            settled = cursor.fetchone()[0]
        with connection.cursor() as cursor:
            return [fetch_one(cursor, aggregated_statement(query, params)) for query in queries], settled

    statements = [aggregated_statement(query, params) for query in queries]
    # The exported snapshot lives as long as the exporting transaction: keep one open meanwhile
    # (savepoint=False: a snapshot cannot be exported from a subtransaction).
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            # One statement, so the exported snapshot is the one SETTLED looks at.
            cursor.execute(f"SELECT pg_export_snapshot(), {SETTLED}")  # noqa: S608 - a constant
            snapshot, settled = cursor.fetchone()
        return _run_in_parallel(statements, snapshot), settled


def _run_in_parallel(statements: list[str], snapshot: str) -> list[bytes]:
    import psycopg
    from psycopg import sql as psql

    connection_params = {
        key: value for key, value in connection.get_connection_params().items() if key not in ("cursor_factory",)
    }

    def run(statement: str) -> bytes:
        with psycopg.connect(**connection_params) as worker:
            worker.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            worker.read_only = True
            with worker.cursor(binary=True) as cursor:  # the bytes as they are, not in hex
                cursor.execute(psql.SQL("SET TRANSACTION SNAPSHOT {}").format(psql.Literal(snapshot)))
                return fetch_one(cursor, statement)

    with ThreadPoolExecutor(max_workers=len(statements)) as pool:
        return list(pool.map(run, statements))


def _parse(query: Query, rows: bytes, **read_options) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=query.parsed_names)
    return pd.read_csv(
        io.BytesIO(rows),
        sep="\t",
        quoting=csv.QUOTE_NONE,
        names=query.parsed_names,
        header=None,
        keep_default_na=False,
        na_values=[""],  # NULL
        true_values=["true"],
        false_values=["false"],
        low_memory=False,  # one pass over the text: no chunks to concatenate afterwards
        **read_options,
    )


def load_frames(user, filters: OutcomeFilters) -> tuple[StudyFrames, bool]:
    """The frames, and whether they were read SETTLED."""
    params = _query_params(user, filters)
    (patient_rows, event_rows), settled = fetch_rows(QUERIES, params)
    text_columns = {"levels": str, "answers": str, "response": str, "site": str}
    patients = _parse(PATIENTS, patient_rows, dtype=text_columns | dict.fromkeys(LAB_COLUMNS, "float64"))
    events = _parse(ADVERSE_EVENTS, event_rows)
    patients = _derive(patients)
    if filters.fracture_region:
        patients = patients[patients["fracture_region"] == filters.fracture_region]
        events = events[events["patient"].isin(patients["id"])]
    return StudyFrames(patients.reset_index(drop=True), events.reset_index(drop=True)), settled


def _derive(patients: pd.DataFrame) -> pd.DataFrame:
    """Add what the protocol derives: fracture region and count, eligibility.

    The protocol's own functions run once per distinct value (a handful), not once per patient.
    """
    levels = patients["levels"].fillna("")
    patients["fractured_count"] = patients["fractured_count"].fillna(0).astype(int)
    patients["fracture_region"] = _map_distinct(levels, lambda text: protocol.fracture_region(text.split(",")))
    eligible = _map_distinct(patients["answers"].fillna(""), _eligible_from_answers).astype(object)
    patients["eligible"] = eligible.where(patients["screened"].astype(bool), None)
    patients["enrolled"] = patients["enrolled"].astype(bool)
    patients["with_pvp"] = patients["with_pvp"].astype(bool)
    return patients


def _map_distinct(values: pd.Series, function) -> pd.Series:
    """Apply a protocol function once per distinct value (there are a handful), then map in C."""
    return values.map({value: function(value) for value in values.unique()})


def _eligible_from_answers(text: str) -> bool | None:
    kps, survival, *typed = (text.split("|") + [""] * 11)[:11]
    answers = dict(zip((c.code for c in protocol.CRITERIA if not c.derived), typed, strict=True))
    answers["I4"] = protocol.derive_i4(int(kps) if kps else None, survival or None)
    return protocol.evaluate_eligibility(answers).eligible


# --- computing --------------------------------------------------------------------------------


def paired_variables(patients: pd.DataFrame) -> list[tuple[str, str]]:
    """(variable, unit): ALP, calcium and QoL always, then every other analyte with a pair."""
    variables = [("alp", "U/L"), ("calcium", "mmol/L"), ("qol_total", "points")]
    for analyte in protocol.ANALYTES:
        if analyte.code in PAIRED_ALWAYS:
            continue
        both = patients[[f"{analyte.code}_baseline", f"{analyte.code}_follow_up"]].notna().all(axis=1)
        if both.any():
            variables.append((analyte.code, analyte.unit))
    return variables


def compute_outcomes(frames: StudyFrames, version: int) -> dict:
    """The JSON contract of docs/design.md §4, from the frames alone (pure)."""
    patients = frames.patients
    enrolled = patients[patients["enrolled"]] if not patients.empty else patients
    ae_table = statistics.adverse_event_table(frames.adverse_events, len(enrolled))
    return {
        "data_version": version,
        "generated_at": datetime.now(UTC).isoformat(),
        "enrolment": enrolment_flow(patients),
        "demographics": statistics.demographics(enrolled),
        "tumour_response": statistics.tumour_response(enrolled["response"]).as_dict(),
        "pain_relief": statistics.pain_relief(
            pd.DataFrame({"baseline": enrolled["pain_baseline"], "follow_up": enrolled["pain_follow_up"]})
        ).as_dict(),
        "paired": {
            variable: statistics.paired_comparison(
                enrolled[f"{variable}_baseline"], enrolled[f"{variable}_follow_up"], unit
            ).as_dict()
            for variable, unit in paired_variables(enrolled)
        },
        "adverse_events": {
            "patients_with_any": ae_table["patients_with_any"],
            "serious": ae_table["serious"],
            "by_term": {
                term: {key: row[key] for key in ("events", "patients", "max_grade")}
                for term, row in ae_table["by_term"].items()
            },
        },
    }


def enrolment_flow(patients: pd.DataFrame) -> dict:
    """The counts of `flow.step_counts`, the definition the flow diagram and the lists share."""
    if patients.empty:
        return flow.step_counts(patients)
    return flow.step_counts(patients.assign(assessed=patients["response"].notna()))


def outcomes_for_user(user, filters: OutcomeFilters) -> tuple[dict, StudyFrames]:
    """Recomputed from the data, always (study_results keeps them)."""
    version = data_version()
    frames, _settled = load_frames(user, filters)
    return compute_outcomes(frames, version), frames


# --- results kept per data version -------------------------------------------------------------
#
# At 100,000 patients the figures take about a second to compute, and an open dashboard, its
# downloads and the API ask for the same figures again and again while nobody writes. They are kept in
# the cache (PostgreSQL, settings.CACHES: every app server shares them) under the data version, the
# user's sites and the filters. Never stale: the data version is read BEFORE the data, so the data is
# at least as new as the version it is kept under; and because the version is a sequence, bumped by
# writing transactions before they commit, figures are kept only when the data was read SETTLED (no
# transaction was under way that could still commit a write the version already counts). A write
# after that bumps the version, and the next view computes afresh.


@dataclass(frozen=True)
class StudyResults:
    outcomes: dict  # the JSON contract of docs/design.md §4
    adverse_events: dict  # adverse_event_detail: the dashboard's and the downloads' AE table
    charts: dict | None  # {"series": chart_series, "pairs": pair_completeness}, when asked for


def study_results(user, filters: OutcomeFilters, *, charts: bool = False) -> StudyResults:
    version = data_version()  # first: see above
    key = _cache_key(version, user, filters)
    wanted = [key, f"{key}:charts"] if charts else [key]
    kept = cache.get_many(wanted)
    if len(kept) == len(wanted):
        return StudyResults(*kept[key], charts=kept.get(f"{key}:charts"))
    frames, settled = load_frames(user, filters)
    outcomes = compute_outcomes(frames, version)
    results = StudyResults(outcomes, adverse_event_detail(frames), chart_data(frames, outcomes) if charts else None)
    if settled:
        keep = {key: (results.outcomes, results.adverse_events)}
        if charts:
            keep[f"{key}:charts"] = results.charts
        cache.set_many(keep, timeout=settings.OUTCOMES_KEEP_SECONDS)
    return results


def _cache_key(version: int, user, filters: OutcomeFilters) -> str:
    """Users who see the same sites share the figures (the scope of SCOPE_CONDITION)."""
    scope = "all" if user.is_superuser else ",".join(map(str, sorted(user.sites.values_list("id", flat=True))))
    if len(scope) > 64:  # a key has at most 250 characters
        scope = hashlib.sha256(scope.encode()).hexdigest()
    chosen = ",".join(f"{name}={value}" for name, value in sorted(filters.as_dict().items()))
    if not (chosen.isascii() and chosen.isprintable() and " " not in chosen):
        chosen = hashlib.sha256(chosen.encode()).hexdigest()  # a typed site filter may hold anything
    return f"outcomes:v{version}:sites={scope}:{chosen}"


def chart_data(frames: StudyFrames, outcomes: dict) -> dict:
    variables = dict.fromkeys([*PAIRED_ALWAYS, "pain", *outcomes["paired"]])
    return {"series": chart_series(frames), "pairs": pair_completeness(frames, variables)}


# --- extras for the page (not part of the JSON contract) ---------------------------------------


def adverse_event_detail(frames: StudyFrames) -> dict:
    enrolled = int(frames.patients["enrolled"].sum()) if not frames.patients.empty else 0
    return statistics.adverse_event_table(frames.adverse_events, enrolled)


# A line per patient reads well for a study of tens of patients (the paper's had 16); with hundreds
# it is a smudge, and with 100,000 the page would carry 300,000 table rows and take seconds to draw.
# Above this many pairs the plot joins percentiles of the values before and after instead.
PAIR_LINES_MAX = 100
PERCENTILES = (10, 25, 50, 75, 90)


def chart_series(frames: StudyFrames) -> dict:
    """Before/after values and category counts for the plots.

    `lines[variable]` holds one [before, after] per patient with both values, or, when there are more
    than PAIR_LINES_MAX such patients, one per percentile of PERCENTILES (named in `percentiles`):
    the percentile of the baseline values and that of the follow-up values of those patients.
    """
    patients = frames.patients
    enrolled = patients[patients["enrolled"]] if not patients.empty else patients
    lines, percentiles = {}, {}
    for variable in PAIRED_ALWAYS:
        pairs = enrolled[[f"{variable}_baseline", f"{variable}_follow_up"]].dropna()
        if len(pairs) > PAIR_LINES_MAX:
            quantiles = pairs.quantile([percentile / 100 for percentile in PERCENTILES])
            lines[variable] = [[float(before), float(after)] for before, after in quantiles.itertuples(index=False)]
            percentiles[variable] = list(PERCENTILES)
        else:
            lines[variable] = [[float(before), float(after)] for before, after in pairs.itertuples(index=False)]
    shift = {}
    for timepoint in TIMEPOINTS:
        grades = enrolled[f"pain_{timepoint}"].dropna()
        shift[timepoint] = [int((grades == grade).sum()) for grade in range(4)]
    return {"lines": lines, "percentiles": percentiles, "pain_shift": shift}


@dataclass(frozen=True)
class Pairs:
    """How many enrolled patients have a variable's baseline and follow-up values, and why the others not."""

    enrolled: int
    pairs: int
    no_baseline: int  # follow-up only
    no_follow_up: int  # baseline only
    neither: int


def pair_completeness(frames: StudyFrames, variables) -> dict[str, Pairs]:
    """Per variable (an analyte, `qol_total` or `pain`): why n is below the number enrolled."""
    patients = frames.patients
    enrolled = patients[patients["enrolled"]] if not patients.empty else patients
    result = {}
    for variable in variables:
        before = enrolled[f"{variable}_baseline"].notna()
        after = enrolled[f"{variable}_follow_up"].notna()
        result[variable] = Pairs(
            enrolled=len(enrolled),
            pairs=int((before & after).sum()),
            no_baseline=int((~before & after).sum()),
            no_follow_up=int((before & ~after).sum()),
            neither=int((~before & ~after).sum()),
        )
    return result
