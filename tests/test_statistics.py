"""The statistics against published reference values; each expected number names its source."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from trials import statistics

# R's built-in `sleep` data (Cushny & Peebles 1905, as used by Student 1908): extra sleep in hours
# for 10 patients under drug 1 (`group == 1`, rows 1-10) and drug 2 (rows 11-20).
SLEEP_DRUG_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_DRUG_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


class TestRates:
    def test_clopper_pearson_matches_r_binom_test_14_of_16(self):
        # R 4.x: binom.test(14, 16) -> 95 percent CI 0.6165238 0.9844864 (the paper's response rate)
        rate = statistics.rate_with_ci(14, 16)
        assert rate.rate == 0.875
        assert rate.ci95 == pytest.approx((0.6165238, 0.9844864), abs=1e-7)

    def test_clopper_pearson_matches_r_binom_test_15_of_16(self):
        # R: binom.test(15, 16) -> 95 percent CI 0.6976793 0.9984189 (the paper's pain relief rate)
        assert statistics.rate_with_ci(15, 16).ci95 == pytest.approx((0.6976793, 0.9984189), abs=1e-7)

    def test_no_patients_is_null_with_a_reason(self):
        rate = statistics.rate_with_ci(0, 0)
        assert (rate.rate, rate.ci95, rate.reason) == (None, None, "no patients")

    def test_a_count_above_n_is_refused(self):
        with pytest.raises(ValueError, match="count=3, n=2"):
            statistics.rate_with_ci(3, 2)


class TestPairedComparison:
    def test_matches_r_t_test_on_the_sleep_data(self):
        # R: t.test(sleep$extra[1:10], sleep$extra[11:20], paired = TRUE)
        #   t = -4.0621, df = 9, p-value = 0.002833
        #   95 percent confidence interval: -2.4598858 -0.7001142; mean difference -1.58
        result = statistics.paired_comparison(before=SLEEP_DRUG_2, after=SLEEP_DRUG_1, unit="h")
        assert result.n == 10
        assert result.t == pytest.approx(-4.0621, abs=5e-5)
        assert result.df == 9
        assert result.p == pytest.approx(0.002833, abs=5e-7)
        assert result.diff_ci95 == pytest.approx((-2.4598858, -0.7001142), abs=1e-7)
        assert result.mean_diff == pytest.approx(-1.58)
        # sd of the differences is 1.229995 (R: sd(diff)), so dz = -1.58 / 1.229995
        assert result.cohens_dz == pytest.approx(-1.284558, abs=1e-6)

    def test_shapiro_and_wilcoxon_match_r(self):
        # R: shapiro.test(sleep$extra[1:10] - sleep$extra[11:20]) -> W = 0.82987, p-value = 0.03334
        # R: wilcox.test(..., paired = TRUE) -> V = 0, p-value = 0.009091 (ties and a zero difference:
        #    normal approximation with continuity correction)
        result = statistics.paired_comparison(before=SLEEP_DRUG_2, after=SLEEP_DRUG_1)
        assert result.shapiro_p == pytest.approx(0.03334, abs=5e-6)
        assert result.wilcoxon_p == pytest.approx(0.009091, abs=5e-7)

    def test_wilcoxon_is_exact_without_ties_or_zeros(self):
        # R: wilcox.test(c(1.5, 2.5, -0.5, 3.5, 4.5), mu = 0) -> V = 14, p-value = 0.125 (exact)
        result = statistics.paired_comparison(before=[0] * 5, after=[1.5, 2.5, -0.5, 3.5, 4.5])
        assert result.wilcoxon_p == pytest.approx(0.125)

    def test_descriptives_use_the_n_minus_1_sd(self):
        result = statistics.paired_comparison(before=[1, 2, 3, 4], after=[2, 4, 6, 9])
        assert (result.before_mean, result.after_mean) == (2.5, 5.25)
        assert result.before_sd == pytest.approx(1.2909944)  # R: sd(1:4)
        assert result.after_sd == pytest.approx(2.9860788)  # R: sd(c(2, 4, 6, 9))

    def test_no_patients_gives_nulls_with_a_reason(self):
        result = statistics.paired_comparison([], [])
        assert result.n == 0 and result.t is None and result.reason.startswith("no patients")

    def test_one_pair_gives_means_but_no_tests(self):
        result = statistics.paired_comparison([4.0], [3.0])
        assert (result.n, result.mean_diff, result.before_sd, result.t, result.p) == (1, -1.0, None, None, None)
        assert "at least 2" in result.reason

    def test_all_differences_equal_leave_t_undefined_not_nan(self):
        result = statistics.paired_comparison([1, 2, 3, 4], [2, 3, 4, 5])
        assert result.mean_diff == 1.0
        assert (result.t, result.p, result.diff_ci95, result.cohens_dz, result.shapiro_p) == (None,) * 5
        assert result.wilcoxon_p is not None  # four positive differences: still rankable
        assert "all differences are equal" in result.as_dict()["reason"]

    def test_equal_differences_are_recognised_despite_float_noise(self):
        result = statistics.paired_comparison([2.3, 4.6, 3.1], [2.4, 4.7, 3.2])
        assert (result.t, result.p, result.cohens_dz) == (None, None, None)

    def test_all_zero_differences_make_wilcoxon_undefined(self):
        result = statistics.paired_comparison([1, 2, 3], [1, 2, 3])
        assert result.wilcoxon_p is None
        assert "all differences are zero" in result.as_dict()["reason"]

    def test_missing_follow_up_drops_the_pair(self):
        result = statistics.paired_comparison([1, 2, 3, 4], [2, None, 5, float("nan")])
        assert result.n == 2
        assert result.mean_diff == 1.5

    def test_the_result_serialises_to_strict_json(self):
        for before, after in (([], []), ([1], [2]), ([1, 2, 3], [1, 2, 3]), (SLEEP_DRUG_2, SLEEP_DRUG_1)):
            text = json.dumps(statistics.paired_comparison(before, after).as_dict(), allow_nan=False)
            assert "NaN" not in text


class TestCategorical:
    def test_tumour_response_of_the_paper(self):
        categories = pd.Series(["CR"] + ["PR"] * 12 + ["MR", "NC", "PD", np.nan])
        outcome = statistics.tumour_response(categories)
        assert outcome.counts == {"CR": 1, "PR": 12, "MR": 1, "NC": 1, "PD": 1}
        assert (outcome.n, outcome.responders, outcome.rate.rate) == (16, 14, 0.875)

    def test_an_unknown_category_is_refused(self):
        with pytest.raises(ValueError, match="XX"):
            statistics.tumour_response(pd.Series(["PR", "XX"]))

    def test_pain_relief_counts_grade_drops(self):
        frame = pd.DataFrame({"baseline": [3, 3, 2, 3, 2, 3], "follow_up": [1, 0, 1, 3, 3, np.nan]})
        outcome = statistics.pain_relief(frame)
        assert outcome.counts == {"marked": 2, "effective": 1, "ineffective": 2}
        assert (outcome.n, outcome.responders) == (5, 3)


class TestFormatting:
    @pytest.mark.parametrize(("p", "shown"), [(0.0004, "<0.001"), (0.001, "0.001"), (0.0333, "0.033"), (None, "—")])
    def test_p_values_as_in_the_manuscript(self, p, shown):
        assert statistics.format_p(p) == shown


class TestDescriptive:
    def test_demographics_of_no_patients(self):
        empty = pd.DataFrame(columns=["sex", "age", "isotype", "fracture_region", "fractured_count"])
        result = statistics.demographics(empty)
        assert result["n"] == 0 and result["age"]["mean"] is None

    def test_adverse_events_by_term(self):
        events = pd.DataFrame(
            {"patient": [1, 1, 2], "term": ["fever", "fever", "nausea"], "ctcae_grade": [1, 2, 1],
             "serious": [False, False, True], "related_to": ["zoledronic_acid"] * 3}
        )  # fmt: skip
        table = statistics.adverse_event_table(events, n_patients=3)
        assert table["by_term"]["fever"] == {
            "events": 2, "patients": 1, "max_grade": 2, "related_to": {"zoledronic_acid": 2}
        }  # fmt: skip
        assert (table["patients_with_any"], table["serious"]) == (2, 1)
        assert not math.isnan(table["n"])


def test_shapiro_wilk_is_left_out_above_5000_pairs_as_in_r():
    """R's shapiro.test refuses more than 5,000 values; scipy would warn that its p is not accurate."""
    rng = np.random.default_rng(7)
    before = rng.normal(100, 10, 5001)
    after = before + rng.normal(-2, 3, 5001)
    comparison = statistics.paired_comparison(before, after, "U/L")
    assert comparison.shapiro_p is None
    assert "Shapiro-Wilk is computed for at most 5000 pairs (as R's shapiro.test)" in comparison.notes
    assert comparison.p is not None and comparison.wilcoxon_p is not None
    assert statistics.paired_comparison(before[:5000], after[:5000], "U/L").shapiro_p is not None
