"""The protocol rules, each checked against the paper or the source it cites."""

from decimal import Decimal

import pytest

from trials import protocol
from trials.protocol import Answer

ALL_MET = {"I1": "yes", "I2": "yes", "I3": "yes", "I4": "yes", "I5": "yes"} | {f"E{n}": "no" for n in range(1, 6)}


class TestEligibility:
    def test_all_inclusion_yes_and_all_exclusion_no_is_eligible(self):
        result = protocol.evaluate_eligibility(ALL_MET)
        assert result.eligible is True
        assert result.failed_criteria == ()

    def test_a_failed_criterion_is_named(self):
        result = protocol.evaluate_eligibility(ALL_MET | {"I2": "no", "E1": "yes"})
        assert result.eligible is False
        assert result.failed_criteria == ("I2", "E1")

    def test_any_unknown_answer_is_incomplete_never_eligible(self):
        result = protocol.evaluate_eligibility(ALL_MET | {"E4": "unknown"})
        assert result.eligible is None
        assert result.unknown_criteria == ("E4",)

    def test_a_missing_answer_counts_as_unknown(self):
        answers = dict(ALL_MET)
        del answers["I3"]
        assert protocol.evaluate_eligibility(answers).eligible is None

    def test_a_failure_decides_even_while_others_are_unknown(self):
        assert protocol.evaluate_eligibility(ALL_MET | {"E1": "yes", "E2": "unknown"}).eligible is False

    @pytest.mark.parametrize(
        ("kps", "survival", "i4"),
        [
            (40, "yes", Answer.YES),
            (30, "yes", Answer.NO),
            (90, "no", Answer.NO),
            (None, "yes", Answer.UNKNOWN),
            (70, "unknown", Answer.UNKNOWN),
            (30, "unknown", Answer.NO),  # KPS alone already fails I4
            (None, "no", Answer.NO),
        ],
    )
    def test_i4_is_derived_from_kps_and_life_expectancy(self, kps, survival, i4):
        assert protocol.derive_i4(kps, survival) == i4

    def test_every_criterion_has_english_and_chinese_text(self):
        assert [c.code for c in protocol.CRITERIA] == ["I1", "I2", "I3", "I4", "I5", "E1", "E2", "E3", "E4", "E5"]
        for criterion in protocol.CRITERIA:
            assert criterion.text.for_language("en") and criterion.text.for_language("zh-hans")
            assert criterion.text.for_language("zh-hans") != criterion.text.for_language("en")


class TestSpine:
    @pytest.mark.parametrize(
        ("levels", "region"),
        [(["T7", "T8"], "thoracic"), (["L2", "L3"], "lumbar"), (["T12", "L1"], "thoracolumbar"), ([], None)],
    )
    def test_fracture_region(self, levels, region):
        assert protocol.fracture_region(levels) == region


class TestRenalDosing:
    def test_cockcroft_gault_for_a_man(self):
        # 60 years, 72 kg, creatinine 1.0 mg/dL (88.42 umol/L): (140 - 60) x 72 / (72 x 1.0) = 80 ml/min
        assert protocol.cockcroft_gault(60, "M", Decimal(72), Decimal("88.42")) == Decimal("80.0")

    def test_cockcroft_gault_for_a_woman_is_85_percent(self):
        assert protocol.cockcroft_gault(60, "F", Decimal(72), Decimal("88.42")) == Decimal("68.0")

    @pytest.mark.parametrize(
        ("crcl", "dose"),
        [("75", "4.0"), ("60.1", "4.0"), ("60", "3.5"), ("50", "3.5"), ("49.9", "3.3"), ("40", "3.3"), ("30", "3.0")],
    )
    def test_label_dose_table(self, crcl, dose):
        assert protocol.label_dose_mg(Decimal(crcl)) == Decimal(dose)

    def test_below_30_ml_min_is_not_recommended(self):
        assert protocol.label_dose_mg(Decimal("29.9")) is None

    def test_deviations_are_named_with_the_rule(self):
        deviations = protocol.infusion_deviations(
            status="given",
            duration_min=10,
            days_since_previous=18,
            dose_mg=Decimal("4.0"),
            label_dose=Decimal("3.3"),
            crcl_known=True,
        )
        assert deviations == [
            "infused over 10 min (protocol: at least 15 min)",
            "18 days after the previous cycle (protocol: at least 21)",
            "dose 4.0 mg differs from the renal-adjusted label dose 3.3 mg",
        ]

    def test_a_held_infusion_has_no_deviations(self):
        assert (
            protocol.infusion_deviations(
                status="held", duration_min=None, days_since_previous=5, dose_mg=None, label_dose=None, crcl_known=False
            )
            == []
        )


class TestLabs:
    def test_calcium_in_mg_dl_converts_to_mmol_l(self):
        calcium = protocol.ANALYTES_BY_CODE["calcium"]
        assert calcium.to_canonical(Decimal("10"), "mg/dL") == Decimal("2.4950")

    def test_creatinine_in_mg_dl_converts_to_umol_l(self):
        assert protocol.ANALYTES_BY_CODE["creatinine"].to_canonical(Decimal("1"), "mg/dL") == Decimal("88.42")

    @pytest.mark.parametrize(("value", "flag"), [("2.05", "L"), ("2.10", ""), ("2.60", ""), ("2.61", "H")])
    def test_reference_range_flags(self, value, flag):
        assert protocol.ANALYTES_BY_CODE["calcium"].flag(value) == flag

    @pytest.mark.parametrize(("value", "critical"), [("1.74", True), ("1.75", False), ("3.40", False), ("3.41", True)])
    def test_critical_calcium(self, value, critical):
        assert protocol.ANALYTES_BY_CODE["calcium"].is_critical(value) is critical


class TestOutcomeRules:
    @pytest.mark.parametrize(
        ("before", "after", "relief"),
        [(3, 1, "marked"), (3, 0, "marked"), (2, 1, "effective"), (3, 3, "ineffective"), (1, 2, "ineffective")],
    )
    def test_pain_relief_from_who_grades(self, before, after, relief):
        assert protocol.classify_pain_relief(before, after) == relief

    def test_qol_total_needs_every_item(self):
        assert protocol.qol_total([5] * 12) == 60
        assert protocol.qol_total([5] * 11 + [None]) is None
        assert protocol.qol_total([5] * 11) is None

    @pytest.mark.parametrize(
        ("baseline", "follow_up", "ife_negative", "plasma_cells", "category"),
        [
            ("40", "20", "no", None, "PR"),  # 50% fall
            ("40", "25", "no", None, "MR"),  # 37.5% fall
            ("40", "31", "no", None, "NC"),  # 22.5% fall
            ("40", "50", "no", None, "NC"),  # 25% rise is not yet progression
            ("40", "50.4", "no", None, "PD"),  # 26% rise
            ("40", "0", "yes", "3", "CR"),
            ("40", "0", "yes", "6", "PR"),  # negative IFE but >= 5% plasma cells
            ("0", "0", "no", None, None),  # non-secretory: no percentage to judge
            (None, "10", "no", None, None),
        ],
    )
    def test_ebmt_suggestion(self, baseline, follow_up, ife_negative, plasma_cells, category):
        as_decimal = lambda value: None if value is None else Decimal(value)  # noqa: E731
        suggestion = protocol.suggest_ebmt_category(
            as_decimal(baseline), as_decimal(follow_up), ife_negative, as_decimal(plasma_cells)
        )
        assert suggestion == category
