"""Reading the whole study for an export: one DataFrame per form, all from one database snapshot.

The frames hold the values as the database gives them (Decimal, date, datetime, bool, str, None);
each file format turns them into its own types (`statistical`, `odm`, `archive` for CSV and Excel).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from trials import access, protocol
from trials.exports import deidentify
from trials.exports.variables import FORMS, Variable, study_variables
from trials.models import LabResult


@dataclass(frozen=True)
class StudyData:
    """Every exported table of the user's sites, as one consistent state of the data."""

    frames: dict[str, pd.DataFrame]
    variables: dict[str, list[Variable]]
    data_version: int  # the write counter when the export began (it also counts writes rolled back)
    database_snapshot: str  # PostgreSQL's identifier of the snapshot read (pg_current_snapshot)
    exported_at: datetime
    frozen_since: datetime | None
    identifiable: bool
    patient_ids: list[int]  # the exported patients' primary keys (for the ODM audit trail)
    dates_shifted: bool = False
    dropped: tuple[Variable, ...] = ()  # variables left out (free text), listed in the dictionary

    @property
    def row_counts(self) -> dict[str, int]:
        return {form: len(frame) for form, frame in self.frames.items()}


@contextmanager
def snapshot() -> Iterator[None]:
    """Read everything inside one REPEATABLE READ transaction, so an edit saved while the export
    runs is either wholly in the files or wholly out of them (never half-old, half-new).

    Inside an open transaction (an inline job within a request, the test suite) the reads already
    share that transaction; PostgreSQL cannot change its isolation level once it has read.
    """
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def read_study(
    user, *, identifiable: bool = False, shift_dates: bool = False, drop_free_text: bool = False, progress=None
) -> StudyData:
    """The user's sites' study data; call inside `snapshot()`. `progress(done, total)` per form.

    `shift_dates` and `drop_free_text` de-identify further (trials/exports/deidentify.py)."""
    from trials.data_review import frozen_since
    from trials.outcomes import data_version

    version = data_version()  # the snapshot starts here: the version the files carry
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_snapshot()::text")
        database_snapshot = cursor.fetchone()[0]
    variables = study_variables(identifiable)
    patients = access.patients_for_user(user).order_by("screening_number")
    patient_ids = list(patients.values_list("pk", flat=True))
    frames = {}
    for done, (form, (model, path)) in enumerate(FORMS.items()):
        if progress:
            progress(done, len(FORMS))
        frames[form] = _read_form(form, model, path, variables[form], patient_ids)
    dropped = []
    if drop_free_text:
        frames, variables, dropped = deidentify.drop_free_text(frames, variables)
    if shift_dates:
        frames = deidentify.shift_dates(frames, variables)
        variables = deidentify.noted(variables, dates_shifted=True)
    return StudyData(
        frames=frames,
        variables=variables,
        data_version=version,
        database_snapshot=database_snapshot,
        exported_at=datetime.now(UTC),
        frozen_since=frozen_since(),
        identifiable=identifiable,
        patient_ids=patient_ids,
        dates_shifted=shift_dates,
        dropped=tuple(dropped),
    )


def any_of(ids: list[int]) -> RawSQL:
    """The ids as one array parameter for `__in`: as 10,000 separate parameters they cost seconds."""
    return RawSQL("SELECT unnest(%s::bigint[])", (list(ids),))


def _read_form(form: str, model, path: str, variables: list[Variable], patient_ids: list[int]) -> pd.DataFrame:
    stored = [variable.name for variable in variables if not variable.key and not variable.derived]
    key = "screening_number" if form == "patient" else f"{path}screening_number"
    queryset = model.objects.filter(**{f"{path}pk__in": any_of(patient_ids)})
    if model is LabResult:  # the results of a deleted draw go with it
        queryset = queryset.filter(lab_draw__deleted_at__isnull=True)
    extra = ["lab_draw__timepoint"] if form == "lab_result" else []
    lookups = [key, *extra, *stored]
    if form == "patient":
        lookups += ["site__code", "date_of_birth", "enrolled_on"]
    rows = list(queryset.order_by(key, "pk").values_list(*lookups))
    # object columns keep the database's Python values (an integer column with a gap stays integers)
    frame = pd.DataFrame(rows, dtype=object, columns=[*(["screening_number"] + ["timepoint"] * bool(extra)), *stored,
                                        *(["site", "_birth", "_enrolled"] if form == "patient" else [])])  # fmt: skip
    if form == "patient":
        frame = _derive_patient_columns(frame)
    selected = frame[[variable.name for variable in variables]].astype(object)
    return selected.where(selected.notna(), None)


def _derive_patient_columns(frame: pd.DataFrame) -> pd.DataFrame:
    def column(values) -> pd.Series:
        return pd.Series(list(values), index=frame.index, dtype=object)

    frame["age_at_enrolment"] = column(
        protocol.age_on(birth, enrolled) if enrolled is not None else None
        for birth, enrolled in zip(frame["_birth"], frame["_enrolled"], strict=True)
    )
    levels = frame["fractured_levels"]
    frame["fractured_count"] = column(len(value or []) for value in levels)
    frame["fracture_region"] = column(protocol.fracture_region(value).value if value else None for value in levels)
    frame["fractured_levels"] = column(",".join(value or []) for value in levels)
    return frame
