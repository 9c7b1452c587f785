"""What each exported column is: one `Variable` per column, read off the model fields.

Every file format (CSV, Excel, SPSS, Stata, SAS transport, ODM) and the data dictionary are written
from these declarations, so a column's type, labels in both languages, value labels, unit, range and
measurement level come from one place: the model field and the protocol. Value labels are the field's
own `choices`; there is no second list.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import models
from django.utils import translation

from trials import protocol
from trials.models import (
    AdverseEvent,
    EndOfStudy,
    Infusion,
    LabDraw,
    LabResult,
    PainAssessment,
    Patient,
    PvpProcedure,
    QolAssessment,
    Screening,
    TreatedLevel,
    TumourResponse,
)
from trials.models.base import DELETION_FIELDS

LANGUAGES = ("en", "zh")
IDENTIFYING = ("date_of_birth", "hospital_number", "initials")
# Links to other rows are replaced by the patient's key; bookkeeping is not study data, and deleted
# forms are not exported, so their deletion fields would always be empty.
SKIP = {"id", "created_at", "updated_at", "version", "patient", "procedure", "lab_draw", "site", *DELETION_FIELDS}

# form name -> (model, how to reach the patient from it)
FORMS = {
    "patient": (Patient, ""),
    "screening": (Screening, "patient__"),
    "pvp_procedure": (PvpProcedure, "patient__"),
    "pvp_level": (TreatedLevel, "procedure__patient__"),
    "infusion": (Infusion, "patient__"),
    "lab_draw": (LabDraw, "patient__"),
    "lab_result": (LabResult, "lab_draw__patient__"),
    "pain": (PainAssessment, "patient__"),
    "qol": (QolAssessment, "patient__"),
    "response": (TumourResponse, "patient__"),
    "adverse_event": (AdverseEvent, "patient__"),
    "end_of_study": (EndOfStudy, "patient__"),
}

# Kinds of value, each written in its own native type by every format.
INTEGER, DECIMAL, DATE, DATETIME, TEXT, BOOLEAN = "integer", "decimal", "date", "datetime", "text", "boolean"

# Coded variables whose codes have an order (SPSS measurement level "ordinal"); other coded ones are
# nominal and numbers, dates and times are "scale".
ORDINAL = {"kps", "iss_stage", "timepoint", "who_grade", "category", "ctcae_grade", *protocol.QOL_ITEM_CODES}

# Units the column names carry (weight_kg ...); lab values carry their analyte's unit instead.
NAME_UNITS = (("_kg", "kg"), ("_cm", "cm"), ("_ml", "ml"), ("_mg", "mg"), ("_min", "min"),
              ("_umol_l", "umol/L"), ("_pct", "%"), ("_c", "°C"), ("_days", "days"))  # fmt: skip


@dataclass(frozen=True)
class Choice:
    code: str | int
    label_en: str
    label_zh: str

    def label(self, language: str) -> str:
        return self.label_zh if language == "zh" else self.label_en


@dataclass(frozen=True)
class Variable:
    """One exported column of one form."""

    form: str
    name: str
    kind: str
    label_en: str
    label_zh: str
    choices: tuple[Choice, ...] = ()
    decimals: int = 0  # places kept by a decimal column
    unit: str = ""
    low: Decimal | None = None
    high: Decimal | None = None
    max_length: int | None = None  # characters, for text
    derived: bool = False
    key: bool = False  # names the patient (or the row within the patient)
    note: str = ""  # what a de-identified export did to it (trials/exports/deidentify.py)

    def label(self, language: str) -> str:
        return self.label_zh if language == "zh" else self.label_en

    @property
    def coded(self) -> bool:
        return bool(self.choices)

    @property
    def coded_text(self) -> bool:
        """Coded with text codes (sex M/F), as opposed to numbers with labels (KPS, CTCAE grade)."""
        return self.coded and isinstance(self.choices[0].code, str)

    @property
    def measure(self) -> str:
        """SPSS measurement level."""
        if self.kind == BOOLEAN or (self.coded and self.name not in ORDINAL):
            return "nominal"
        if self.coded or self.kind == TEXT:
            return "ordinal" if self.name in ORDINAL else "nominal"
        return "scale"

    @property
    def range_text(self) -> str:
        return "" if self.low is None else f"{protocol.plain_number(self.low)}–{protocol.plain_number(self.high)}"

    def value_labels(self, language: str) -> dict:
        """{code: label} for a coded or yes/no variable (booleans are written as 0/1)."""
        if self.kind == BOOLEAN:
            return {0: _in("no", language), 1: _in("yes", language)}
        return {choice.code: choice.label(language) for choice in self.choices}


def _in(text: str, language: str) -> str:
    with translation.override("zh-hans" if language == "zh" else "en"):
        return str(translation.gettext(text))


def _both(label) -> tuple[str, str]:
    """A translatable label in English and Simplified Chinese."""
    text = bilingual(label)
    return text.en, text.zh


def bilingual(label) -> protocol.Text:
    """A Text, or a translatable label, in English and Simplified Chinese."""
    if isinstance(label, protocol.Text):
        return label
    with translation.override("en"):
        english = str(label)
    with translation.override("zh-hans"):
        chinese = str(label)
    return protocol.Text(english, chinese)


def export_fields(model, identifiable: bool) -> list[models.Field]:
    """The model fields a form exports: its own values (links to other rows become the patient key)."""
    return [
        field
        for field in model._meta.concrete_fields
        if field.name not in SKIP and not field.is_relation and (identifiable or field.name not in IDENTIFYING)
    ]


def _field_labels(model, model_field) -> tuple[str, str]:
    name = model_field.name
    qol = dict(protocol.QOL_ITEMS)
    if name in qol:
        return qol[name].en, qol[name].zh
    criterion = protocol.CRITERIA_BY_CODE.get(name.upper()) if model is Screening else None
    if criterion is not None:
        return f"{criterion.code}: {criterion.text.en}", f"{criterion.code}：{criterion.text.zh}"
    english, chinese = _both(model_field.verbose_name)
    if isinstance(model_field, models.DateTimeField):  # stored and exported in UTC
        english, chinese = f"{english} (UTC)", f"{chinese}（UTC）"
    return english, chinese


def _choices(model, model_field) -> tuple[Choice, ...]:
    if model is LabResult and model_field.name == "analyte":
        return tuple(Choice(a.code, a.label.en, a.label.zh) for a in protocol.ANALYTES)
    if not model_field.choices:  # (a list of coded values, the fractured levels, is written as text)
        return ()
    return tuple(Choice(code, *_both(label)) for code, label in model_field.choices)


def _kind(model_field) -> str:
    if isinstance(model_field, models.BooleanField):
        return BOOLEAN
    if isinstance(model_field, models.DateTimeField):
        return DATETIME
    if isinstance(model_field, models.DateField):
        return DATE
    if isinstance(model_field, models.DecimalField):
        return DECIMAL
    if isinstance(model_field, models.IntegerField):
        return INTEGER
    return TEXT


def _unit(model, model_field) -> str:
    name = model_field.name
    if model is LabResult and name in ("value", "entered_value"):
        return "canonical unit of the analyte" if name == "value" else "entered_unit"
    if _kind(model_field) not in (INTEGER, DECIMAL):  # life_expectancy_over_90_days is an answer, not days
        return ""
    return next((unit for suffix, unit in NAME_UNITS if name.endswith(suffix)), "")


def _from_field(form: str, model, model_field) -> Variable:
    validator = next((v for v in model_field.validators if hasattr(v, "low")), None)
    english, chinese = _field_labels(model, model_field)
    text_length = model_field.max_length if _kind(model_field) == TEXT else None
    if hasattr(model_field, "base_field"):  # fractured levels: "T12,L1", as typed on the form
        text_length = len(",".join(protocol.SPINAL_LEVELS))
    return Variable(
        form=form,
        name=model_field.name,
        kind=_kind(model_field),
        label_en=english,
        label_zh=chinese,
        choices=_choices(model, model_field),
        decimals=getattr(model_field, "decimal_places", 0) or 0,
        unit=_unit(model, model_field),
        low=validator.low if validator else None,
        high=validator.high if validator else None,
        max_length=text_length,
    )


def _key(form: str, name: str, english: str, chinese: str, **extra) -> Variable:
    return Variable(form=form, name=name, kind=TEXT, label_en=english, label_zh=chinese, key=True, **extra)


def _derived_patient_columns() -> list[Variable]:
    region = tuple(Choice(code, *_both(label)) for code, label in protocol.FractureRegion.choices)
    return [
        Variable("patient", "site", TEXT, "site code", "研究中心代码", derived=True, max_length=10),
        Variable(
            "patient",
            "age_at_enrolment",
            INTEGER,
            "age at enrolment (years)",
            "入组时年龄（岁）",
            unit="years",
            derived=True,
        ),  # fmt: skip
        Variable(
            "patient", "fractured_count", INTEGER, "number of fractured vertebrae", "骨折椎体数", derived=True
        ),  # fmt: skip
        Variable("patient", "fracture_region", TEXT, "fracture region", "骨折部位", choices=region, derived=True),
    ]


def form_variables(form: str, identifiable: bool = False) -> list[Variable]:
    """The columns of one form's table, in the order every format writes them."""
    model, _path = FORMS[form]
    columns = [_key(form, "screening_number", *_both(Patient._meta.get_field("screening_number").verbose_name),
                    max_length=20)]  # fmt: skip
    if form == "lab_result":  # a result belongs to its draw's timepoint
        timepoint = LabDraw._meta.get_field("timepoint")
        columns.append(
            Variable(form, "timepoint", TEXT, *_both(timepoint.verbose_name), choices=_choices(LabDraw, timepoint),
                     max_length=timepoint.max_length, key=True)
        )  # fmt: skip
    for model_field in export_fields(model, identifiable):
        if form == "patient" and model_field.name == "screening_number":
            continue
        columns.append(_from_field(form, model, model_field))
    if form == "patient":
        columns += _derived_patient_columns()
    return columns


def study_variables(identifiable: bool = False) -> dict[str, list[Variable]]:
    return {form: form_variables(form, identifiable) for form in FORMS}


# --- names in formats that limit them ------------------------------------------------------------

STATA_NAME_LENGTH = 32
XPT_NAME_LENGTH = 8


def short_names(names: list[str], length: int) -> dict[str, str]:
    """Unique names of at most `length` characters, upper case, stable for the same input.

    A name that fits is kept. A longer one drops the vowels after each word's first letter, then
    shares the room between its words (screening_number -> SCRNNMBR); a clash gets a number.
    """
    taken: set[str] = set()
    mapping = {}
    for name in names:
        short = _abbreviate(name, length)
        candidate, number = short, 1
        while candidate in taken:
            suffix = str(number)
            candidate, number = short[: length - len(suffix)] + suffix, number + 1
        taken.add(candidate)
        mapping[name] = candidate
    return mapping


def _abbreviate(name: str, length: int) -> str:
    upper = name.upper()
    if len(upper) <= length:
        return upper
    words = [word for word in upper.split("_") if word]
    words = [word[0] + "".join(c for c in word[1:] if c not in "AEIOU") for word in words]
    if len("".join(words)) <= length:
        return "".join(words)
    # Round-robin: each word gives one letter in turn until the room is used.
    shares = [0] * len(words)
    room = length
    while room:
        for index, word in enumerate(words):
            if room and shares[index] < len(word):
                shares[index] += 1
                room -= 1
        if all(shares[i] == len(w) for i, w in enumerate(words)):
            break
    return "".join(word[:share] for word, share in zip(words, shares, strict=True))


@dataclass(frozen=True)
class FormNames:
    """A form's table and column names in Stata and SAS transport."""

    stata: dict[str, str] = field(default_factory=dict)
    xpt: dict[str, str] = field(default_factory=dict)
    xpt_table: str = ""


def form_names(form: str, variables: list[Variable]) -> FormNames:
    names = [variable.name for variable in variables]
    stata = {name: name if len(name) <= STATA_NAME_LENGTH else short_names([name], STATA_NAME_LENGTH)[name].lower()
             for name in names}  # fmt: skip
    return FormNames(stata=stata, xpt=short_names(names, XPT_NAME_LENGTH), xpt_table=xpt_table_name(form))


def xpt_table_name(form: str) -> str:
    return short_names(list(FORMS), XPT_NAME_LENGTH)[form]
