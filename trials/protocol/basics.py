"""The small value types of the protocol: a bilingual text and a closed range."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.functional import lazy
from django.utils.translation import get_language


@dataclass(frozen=True)
class Text:
    en: str
    zh: str

    def for_language(self, language_code: str | None) -> str:
        return self.zh if (language_code or "").lower().startswith("zh") else self.en

    @property
    def lazy(self):
        """The text in the language active when it is rendered (for labels built at import)."""
        return lazy(lambda: self.for_language(get_language()), str)()

    def __str__(self) -> str:
        return self.for_language(get_language())


@dataclass(frozen=True)
class Range:
    """A closed interval [low, high]; `unit` is only for messages."""

    low: Decimal
    high: Decimal
    unit: str = ""

    def __contains__(self, value) -> bool:
        return self.low <= Decimal(str(value)) <= self.high

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.low}–{self.high}{unit}"


def plain_number(value) -> str:
    """A Decimal as people write it: 45, 2.5, 0.25 (no exponent, no trailing zeros)."""
    text = format(Decimal(str(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def value_range(low, high, unit="") -> Range:
    return Range(Decimal(str(low)), Decimal(str(high)), unit)
