"""The study's statistics as pure functions: pandas or arrays in, small frozen results out.

No ORM here (see `trials/outcomes.py` for the thin layer that builds the DataFrames). Every result
can be computed from any data, including none: what cannot be computed is `None` with a `reason`,
never NaN and never an exception. Numbers are plain Python floats so they serialise as JSON numbers.
"""

import math
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from trials import protocol


def _number(value) -> float | None:
    """A finite float, or None (NaN and infinities never leave this module)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --- rates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    n: int
    count: int
    rate: float | None
    ci95: tuple[float, float] | None
    reason: str | None = None

    def as_dict(self) -> dict:
        return {"n": self.n, "count": self.count, "rate": self.rate, "ci95": list(self.ci95) if self.ci95 else None}


def rate_with_ci(count: int, n: int) -> Rate:
    """Proportion count / n with the exact (Clopper-Pearson) 95% confidence interval.

    The interval is [B(0.025; k, n - k + 1), B(0.975; k + 1, n - k)] with B the beta quantile.

    References
    ----------
    Clopper CJ, Pearson ES. Biometrika 1934;26:404-413. R: ``binom.test(k, n)``.
    """
    if n < 0 or count < 0 or count > n:
        raise ValueError(f"need 0 <= count <= n, got count={count}, n={n}")
    if n == 0:
        return Rate(0, 0, None, None, "no patients")
    interval = stats.binomtest(count, n).proportion_ci(confidence_level=0.95, method="exact")
    return Rate(n, count, count / n, (float(interval.low), float(interval.high)))


# --- categorical outcomes ---------------------------------------------------------------------


@dataclass(frozen=True)
class CategoricalOutcome:
    n: int
    counts: dict[str, int]
    responders: int
    rate: Rate

    def as_dict(self) -> dict:
        rate = self.rate.as_dict()
        return {"n": self.n, "counts": self.counts, "responders": self.responders, "rate": rate["rate"],
                "ci95": rate["ci95"]}  # fmt: skip


EBMT_CODES = tuple(category.value for category in protocol.EbmtCategory)


def tumour_response(categories: pd.Series) -> CategoricalOutcome:
    """EBMT categories per patient (NaN = not assessed); responders = CR + PR + MR."""
    assessed = categories.dropna()
    tally = assessed.value_counts()
    unknown = set(tally.index) - set(EBMT_CODES)
    if unknown:
        raise ValueError(f"unknown EBMT categories: {sorted(unknown)}")
    counts = {code: int(tally.get(code, 0)) for code in EBMT_CODES}
    responders = sum(counts[code] for code in protocol.EBMT_RESPONDERS)
    return CategoricalOutcome(len(assessed), counts, responders, rate_with_ci(responders, len(assessed)))


def pain_relief(frame: pd.DataFrame) -> CategoricalOutcome:
    """WHO grade change from `baseline` to `follow_up` (columns); patients with both only.

    A drop of >= 2 grades is marked, 1 grade effective, none or worse ineffective; the effective
    rate is (marked + effective) / n.
    """
    both = frame[["baseline", "follow_up"]].dropna()
    drop = both["baseline"] - both["follow_up"]
    counts = {
        protocol.PainRelief.MARKED.value: int((drop >= 2).sum()),
        protocol.PainRelief.EFFECTIVE.value: int((drop == 1).sum()),
        protocol.PainRelief.INEFFECTIVE.value: int((drop <= 0).sum()),
    }
    responders = counts["marked"] + counts["effective"]
    return CategoricalOutcome(len(both), counts, responders, rate_with_ci(responders, len(both)))


# --- paired comparisons -----------------------------------------------------------------------


@dataclass(frozen=True)
class PairedComparison:
    n: int
    unit: str
    before_mean: float | None = None
    before_sd: float | None = None
    after_mean: float | None = None
    after_sd: float | None = None
    mean_diff: float | None = None
    diff_ci95: tuple[float, float] | None = None
    t: float | None = None
    df: int | None = None
    p: float | None = None
    cohens_dz: float | None = None
    shapiro_p: float | None = None
    wilcoxon_p: float | None = None
    reason: str | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict:
        values = asdict(self)
        values["diff_ci95"] = list(self.diff_ci95) if self.diff_ci95 else None
        notes = values.pop("notes")
        if notes and not values["reason"]:
            values["reason"] = "; ".join(notes)
        return values


def paired_comparison(before: Iterable, after: Iterable, unit: str = "") -> PairedComparison:
    """Compare paired values (diff = after - before), dropping pairs with a missing side.

    mean and SD (n - 1) before and after; mean diff d with 95% CI d +/- t(0.975, n-1) * s_d / sqrt(n);
    paired t = d / (s_d / sqrt(n)) with df = n - 1 and two-sided p; Cohen's dz = d / s_d;
    Shapiro-Wilk p of the differences (n >= 3); Wilcoxon signed-rank p with zero differences dropped,
    exact when fewer than 50 non-zero differences without ties, else the normal approximation with
    continuity correction (the defaults of R's ``wilcox.test``).

    References
    ----------
    Student. Biometrika 1908;6:1-25. Lakens D. Front Psychol 2013;4:863 (dz).
    Shapiro SS, Wilk MB. Biometrika 1965;52:591-611. Wilcoxon F. Biometrics 1945;1:80-83.
    R: ``t.test(after, before, paired = TRUE)``, ``shapiro.test``, ``wilcox.test(paired = TRUE)``.
    Every figure agrees with R to about 1e-13, except the Shapiro-Wilk p, to about 3e-8 (relative):
    scipy's algorithm (AS R94, as R's) uses older, 9-digit approximations of the normal quantile and
    tail where R calls qnorm and pnorm (measured over 6,000 random samples; irrelevant clinically).
    """
    pairs = pd.DataFrame({"before": _floats(before), "after": _floats(after)}).dropna()
    n = len(pairs)
    if n == 0:
        return PairedComparison(0, unit, reason="no patients with both a baseline and a follow-up value")
    # Values are recorded to at most 4 decimals: rounding the differences removes float noise
    # (2.4 - 2.3 != 4.7 - 4.6 in binary) that would turn "all equal" into t = 1e14.
    diffs = np.round((pairs["after"] - pairs["before"]).to_numpy(), 9)
    described = {
        "before_mean": _number(pairs["before"].mean()),
        "after_mean": _number(pairs["after"].mean()),
        "mean_diff": _number(diffs.mean()),
    }
    if n < 2:
        return PairedComparison(n, unit, **described, reason="one pair only: SD and tests need at least 2")
    described |= {"before_sd": _number(pairs["before"].std(ddof=1)), "after_sd": _number(pairs["after"].std(ddof=1))}
    sd_diff = float(np.std(diffs, ddof=1))
    notes = []
    if np.ptp(diffs) == 0:  # exact after rounding; the SD itself would carry float noise
        notes.append("all differences are equal: t, its CI and dz are undefined")
        tested = {}
    else:
        se = sd_diff / math.sqrt(n)
        t = described["mean_diff"] / se
        half_width = float(stats.t.ppf(0.975, n - 1)) * se
        tested = {
            "t": _number(t),
            "df": n - 1,
            "p": _number(2 * stats.t.sf(abs(t), n - 1)),
            "diff_ci95": (described["mean_diff"] - half_width, described["mean_diff"] + half_width),
            "cohens_dz": _number(described["mean_diff"] / sd_diff),
        }
    shapiro_p, note = _shapiro_p(diffs)
    notes += [note] if note else []
    wilcoxon_p, note = _wilcoxon_p(diffs)
    notes += [note] if note else []
    return PairedComparison(
        n, unit, **described, **tested, shapiro_p=shapiro_p, wilcoxon_p=wilcoxon_p, notes=tuple(notes)
    )


def _floats(values) -> np.ndarray:
    """Numbers as float64 (None becomes NaN) from a list, an array or a Series; text is refused."""
    return np.asarray(values if isinstance(values, pd.Series | np.ndarray) else list(values), dtype="float64")


# R's shapiro.test refuses more than 5,000 values, and scipy warns that its p-value is then not
# accurate (Royston's approximation is fitted up to 5,000). With that many pairs the t-test no longer
# leans on normality (central limit), so the test is left out, saying why.
SHAPIRO_MAX_N = 5000


def _shapiro_p(diffs: np.ndarray) -> tuple[float | None, str | None]:
    if len(diffs) < 3:
        return None, "Shapiro-Wilk needs at least 3 pairs"
    if len(diffs) > SHAPIRO_MAX_N:
        return None, f"Shapiro-Wilk is computed for at most {SHAPIRO_MAX_N} pairs (as R's shapiro.test)"
    if np.ptp(diffs) == 0:
        return None, "Shapiro-Wilk is undefined when all differences are equal"
    return _number(stats.shapiro(diffs).pvalue), None


def _wilcoxon_p(diffs: np.ndarray) -> tuple[float | None, str | None]:
    nonzero = diffs[diffs != 0]
    if len(nonzero) == 0:
        return None, "Wilcoxon is undefined when all differences are zero"
    magnitudes = np.abs(nonzero)
    exact = len(nonzero) < 50 and len(np.unique(magnitudes)) == len(magnitudes) and len(nonzero) == len(diffs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about small samples; the method is chosen above
        result = stats.wilcoxon(
            nonzero, zero_method="wilcox", correction=not exact, method="exact" if exact else "approx"
        )
    return _number(result.pvalue), None


def format_p(p: float | None) -> str:
    """p as the manuscript shows it: '<0.001' below 0.001, else 3 decimals; '—' when missing."""
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# --- descriptive tables -----------------------------------------------------------------------


def demographics(patients: pd.DataFrame) -> dict:
    """Counts and age summary of enrolled patients.

    Columns: sex, age, isotype, fracture_region, fractured_count (one row per patient).
    """
    n = len(patients)
    ages = pd.to_numeric(patients["age"]).dropna() if n else pd.Series(dtype="float64")
    return {
        "n": n,
        "sex": {code: int((patients["sex"] == code).sum()) for code in ("M", "F")} if n else {"M": 0, "F": 0},
        "age": {
            "mean": _number(ages.mean()) if len(ages) else None,
            "sd": _number(ages.std(ddof=1)) if len(ages) > 1 else None,
            "min": _number(ages.min()) if len(ages) else None,
            "max": _number(ages.max()) if len(ages) else None,
        },
        "isotype": _value_counts(patients, "isotype"),
        "fracture_region": _value_counts(patients, "fracture_region"),
        "fractured_count": {str(k): v for k, v in sorted(_value_counts(patients, "fractured_count").items())},
    }


def _value_counts(frame: pd.DataFrame, column: str) -> dict:
    if frame.empty:
        return {}
    return {key: int(count) for key, count in frame[column].dropna().value_counts().sort_index().items()}


def adverse_event_table(events: pd.DataFrame, n_patients: int) -> dict:
    """Per term: events, patients, worst CTCAE grade and relatedness; patients with any; serious.

    Columns: patient, term, ctcae_grade, serious, related_to (one row per event).
    """
    if events.empty:
        return {"n": n_patients, "patients_with_any": 0, "serious": 0, "by_term": {}}
    by_term = {}
    for term, group in events.groupby("term", sort=True):
        by_term[term] = {
            "events": len(group),
            "patients": int(group["patient"].nunique()),
            "max_grade": int(group["ctcae_grade"].max()),
            "related_to": {key: int(v) for key, v in group["related_to"].value_counts().sort_index().items()},
        }
    return {
        "n": n_patients,
        "patients_with_any": int(events["patient"].nunique()),
        "serious": int(events["serious"].sum()),
        "by_term": by_term,
    }
