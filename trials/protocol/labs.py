"""Laboratory analytes: canonical units, the other units accepted on entry, ranges, critical limits,
and the one function that reads an entered value in any accepted unit (`read_lab_value`): the lab
page, the API, the import and the demo loader all call it, so a value means the same by every path."""

from dataclasses import dataclass, field
from decimal import Decimal

from trials.protocol.basics import Range, Text
from trials.protocol.basics import value_range as _range

# ---------------------------------------------------------------------------
# Laboratory analytes (docs/design.md §2). Factors convert the alternative unit to the canonical one.


@dataclass(frozen=True)
class Analyte:
    code: str
    label: Text
    unit: str
    possible: Range
    reference: Range
    alternative_units: dict[str, Decimal] = field(default_factory=dict)
    critical_low: Decimal | None = None
    critical_high: Decimal | None = None
    decimals: int = 2

    @property
    def units(self) -> tuple[str, ...]:
        """The units a value may be entered in, the canonical one first."""
        return (self.unit, *self.alternative_units)

    def to_canonical(self, value: Decimal, unit: str) -> Decimal:
        if unit == self.unit:
            return Decimal(value)
        return Decimal(value) * self.alternative_units[unit]

    def flag(self, value) -> str:
        """ "H" or "L" outside the reference range, "" inside it."""
        value = Decimal(str(value))
        if value > self.reference.high:
            return "H"
        if value < self.reference.low:
            return "L"
        return ""

    def is_critical(self, value) -> bool:
        value = Decimal(str(value))
        return (self.critical_low is not None and value < self.critical_low) or (
            self.critical_high is not None and value > self.critical_high
        )


ANALYTES: tuple[Analyte, ...] = (
    Analyte("alp", Text("Alkaline phosphatase", "碱性磷酸酶"), "U/L", _range(1, 5000), _range(40, 150), decimals=1),
    Analyte(
        "calcium",
        Text("Serum calcium", "血清钙"),
        "mmol/L",
        _range("0.5", "6.0"),
        _range("2.10", "2.60"),
        alternative_units={"mg/dL": Decimal("0.2495")},
        critical_low=Decimal("1.75"),
        critical_high=Decimal("3.40"),
    ),
    Analyte(
        "creatinine",
        Text("Creatinine", "肌酐"),
        "umol/L",
        _range(10, 2000),
        _range(45, 110),
        alternative_units={"mg/dL": Decimal("88.42")},
        decimals=1,
    ),
    Analyte(
        "hemoglobin",
        Text("Haemoglobin", "血红蛋白"),
        "g/L",
        _range(20, 250),
        _range(115, 175),
        alternative_units={"g/dL": Decimal("10")},
        decimals=0,
    ),
    Analyte("wbc", Text("White cells", "白细胞"), "10^9/L", _range(0, 500), _range("3.5", "9.5")),
    Analyte("platelets", Text("Platelets", "血小板"), "10^9/L", _range(0, 3000), _range(125, 350), decimals=0),
    Analyte(
        "albumin",
        Text("Albumin", "白蛋白"),
        "g/L",
        _range(5, 70),
        _range(35, 55),
        alternative_units={"g/dL": Decimal("10")},
        decimals=1,
    ),
    Analyte(
        "m_protein",
        Text("Serum M-protein", "血清M蛋白"),
        "g/L",
        _range(0, 200),
        _range(0, 0),
        alternative_units={"g/dL": Decimal("10")},
        decimals=1,
    ),
    Analyte(
        "urine_light_chain",
        Text("Urine light chain", "尿轻链"),
        "mg/24h",
        _range(0, 50000),
        _range(0, 0),
        decimals=0,
    ),
)
ANALYTES_BY_CODE = {analyte.code: analyte for analyte in ANALYTES}
ANALYTE_CHOICES = [(a.code, a.label.en) for a in ANALYTES]


@dataclass(frozen=True)
class LabReading:
    """A lab value as it was entered and as it is stored: in the analyte's canonical unit, to the
    4 decimals the database keeps."""

    analyte: str
    value: Decimal  # canonical unit
    entered_value: Decimal
    entered_unit: str


class UnitNotAccepted(ValueError):
    """The unit is not one the analyte accepts; the message names the analyte, the unit and the units."""


STORED_PLACES = Decimal("0.0001")


def read_lab_value(analyte_code: str, value, unit: str | None = None) -> LabReading:
    """The reading of `value` entered in `unit` (the canonical unit when None or empty).

    Raises KeyError for an unknown analyte and UnitNotAccepted for a unit the analyte does not
    accept. Ranges are the model's to check (LabResult.clean), on the canonical value.
    """
    analyte = ANALYTES_BY_CODE[analyte_code]
    unit = unit or analyte.unit
    if unit not in analyte.units:
        raise UnitNotAccepted(f"“{unit[:20]}” is not a unit of {analyte.code}: use {' or '.join(analyte.units)}.")
    entered = Decimal(str(value))
    return LabReading(analyte.code, analyte.to_canonical(entered, unit).quantize(STORED_PLACES), entered, unit)
