"""Validating a form asks PostgreSQL about all its check constraints in one statement (trials/models/checks.py),
and gives exactly the answers of Django's one-query-per-constraint validation."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, models
from django.test.utils import CaptureQueriesContext

from tests import factories
from tests.test_constraints import IMPOSSIBLE_VALUES
from trials import protocol
from trials.models import QolAssessment, checks
from trials.models.checks import violated_checks

pytestmark = pytest.mark.django_db


def djangos_answer(instance, exclude=None) -> set[str]:
    """The violated check constraints as Django finds them, one constraint (and query) at a time."""
    violated = set()
    for model_class, constraints in instance.get_constraints():
        for constraint in constraints:
            if type(constraint) is models.CheckConstraint:
                try:
                    constraint.validate(model_class, instance, exclude=exclude, using=DEFAULT_DB_ALIAS)
                except ValidationError:
                    violated.add(constraint.name)
    return violated


def one_statement_answer(instance, exclude=None) -> set[str]:
    violated = set()
    for model_class, constraints in instance.get_constraints():
        checks = [c for c in constraints if type(c) is models.CheckConstraint]
        violated |= violated_checks(model_class, instance, checks, exclude, DEFAULT_DB_ALIAS)
    return violated


@pytest.mark.parametrize(("constraint", "factory", "values"), IMPOSSIBLE_VALUES)
def test_each_impossible_value_is_found_as_django_finds_it(constraint, factory, values):
    instance = factory.build(**values)
    assert constraint in djangos_answer(instance)
    assert one_statement_answer(instance) == djangos_answer(instance)


@pytest.mark.parametrize(
    "factory",
    [factories.PatientFactory, factories.ScreeningFactory, factories.InfusionFactory, factories.QolAssessmentFactory,
     factories.AdverseEventFactory, factories.LabResultFactory, factories.PainAssessmentFactory],
)  # fmt: skip
def test_a_valid_form_violates_nothing(factory):
    instance = factory.build()
    assert one_statement_answer(instance) == djangos_answer(instance) == set()


def test_a_condition_over_an_excluded_field_is_not_asked_as_in_django():
    # full_clean leaves out a field whose own validation failed: its range is not reported twice.
    qol = factories.QolAssessmentFactory.build(q_pain=9, q_sleep=0)
    assert one_statement_answer(qol) == djangos_answer(qol) == {"qol_q_pain_range", "qol_q_sleep_range"}
    assert one_statement_answer(qol, exclude={"q_pain"}) == djangos_answer(qol, exclude={"q_pain"})
    assert one_statement_answer(qol, exclude={"q_pain"}) == {"qol_q_sleep_range"}


def test_validation_reports_the_same_messages_in_the_same_order():
    saved = factories.InfusionFactory(cycle=2)
    # A second cycle 2 for the same patient (unique rule) that also breaks three check constraints.
    infusion = factories.InfusionFactory.build(
        patient=saved.patient, cycle=2, dose_mg=Decimal("4.5"), diluent_ml=20, held_reason="renal function"
    )
    with pytest.raises(ValidationError) as ours:
        infusion.validate_constraints()
    with pytest.raises(ValidationError) as djangos:
        models.Model.validate_constraints(infusion)
    assert ours.value.message_dict == djangos.value.message_dict
    assert len(ours.value.messages) == 4, ours.value.messages


def test_a_qol_forms_thirteen_checks_take_one_statement():
    qol = factories.QolAssessmentFactory.build(patient=factories.PatientFactory())
    checks = [c for c in QolAssessment._meta.constraints if type(c) is models.CheckConstraint]
    assert len(checks) == len(protocol.QOL_ITEM_CODES) + 1  # twelve items and the deletion record
    with CaptureQueriesContext(connection) as statements:
        qol.validate_constraints()
    asked = [q["sql"] for q in statements.captured_queries if "_check_" in q["sql"]]
    assert len(asked) == 1


def test_when_the_combined_statement_fails_each_check_is_asked_alone(monkeypatch):
    class FailingQuery(checks.Query):
        def get_compiler(self, *args, **kwargs):
            compiler = super().get_compiler(*args, **kwargs)

            def fail(*_args, **_kwargs):
                raise DatabaseError("simulated failure of the combined statement")

            compiler.execute_sql = fail
            return compiler

    monkeypatch.setattr(checks, "Query", FailingQuery)
    qol = factories.QolAssessmentFactory.build(q_pain=9, q_sleep=0)
    assert one_statement_answer(qol) == {"qol_q_pain_range", "qol_q_sleep_range"}  # not "all pass"
