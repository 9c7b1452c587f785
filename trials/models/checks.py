"""A form's check constraints are validated by one statement, not one per constraint.

Django's `CheckConstraint.validate` asks PostgreSQL about each constraint separately, each inside its
own savepoint: three round trips per constraint. Validating a QoL form (13 check constraints) took 39
round trips, a patient or an infusion (8) took 24, on every save from the pages, the API and imports.
Here the same conditions are asked as the columns of one SELECT. The answers, the messages and the
rules for excluded fields are Django's own; only the number of round trips changes. Should the
combined statement fail, each constraint is asked alone, as Django would.
"""

import logging
from contextlib import nullcontext

from django.core.exceptions import FieldError, ValidationError
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import BooleanField, Q, Value
from django.db.models.functions import Coalesce
from django.db.models.sql import Query
from django.db.models.sql.constants import SINGLE

logger = logging.getLogger(__name__)


def violated_checks(model_class, instance, constraints, exclude, using) -> set[str]:
    """Names of the check constraints the instance's values would violate, in one statement.

    As in Django: a condition over a field left out of the validation (`exclude`, usually because the
    field already failed) is not asked, NULL counts as passing, and a database error counts as passing
    (the constraint itself still guards the INSERT).
    """
    against = instance._get_field_expression_map(meta=model_class._meta, exclude=exclude)
    query = Query(None)
    for name, value in against.items():
        query.add_annotation(value if hasattr(value, "resolve_expression") else Value(value), name, select=False)
    asked = []
    for constraint in constraints:
        try:
            condition = Coalesce(Q(constraint.condition), True, output_field=BooleanField())
            query.add_annotation(condition, f"_check_{len(asked)}")
        except FieldError:
            continue  # reads an excluded field
        asked.append(constraint)
    if not asked:
        return set()
    connection = connections[using]
    try:
        with transaction.atomic(using=using) if connection.in_atomic_block else nullcontext():
            answers = query.get_compiler(using=using).execute_sql(SINGLE)
    except DatabaseError as error:
        # Ask one by one, as Django does, so that one failing condition does not excuse the others.
        logger.warning("Got a database error checking %s together: %s", [c.name for c in asked], error)
        return {
            constraint.name
            for constraint in asked
            if _violated_alone(constraint, model_class, instance, exclude, using)
        }
    return {constraint.name for constraint, passed in zip(asked, answers, strict=True) if not passed}


def _violated_alone(constraint, model_class, instance, exclude, using) -> bool:
    try:
        constraint.validate(model_class, instance, exclude=exclude, using=using)
    except ValidationError:
        return True
    return False


class OneStatementChecks(models.Model):
    """Model.validate_constraints with the check constraints asked together (see the module's doc)."""

    class Meta:
        abstract = True

    def validate_constraints(self, exclude=None):
        using = router.db_for_write(self.__class__, instance=self)
        errors = {}
        for model_class, constraints in self.get_constraints():
            checks = [c for c in constraints if type(c) is models.CheckConstraint]
            violated = violated_checks(model_class, self, checks, exclude, using) if checks else set()
            for constraint in constraints:  # in Django's order, so the messages come in the same order
                try:
                    if type(constraint) is models.CheckConstraint:
                        if constraint.name in violated:
                            raise ValidationError(
                                constraint.get_violation_error_message(), code=constraint.violation_error_code
                            )
                    else:
                        constraint.validate(model_class, self, exclude=exclude, using=using)
                except ValidationError as error:
                    # As Django: a unique constraint's error on one field belongs to that field.
                    if getattr(error, "code", None) == "unique" and len(getattr(constraint, "fields", ())) == 1:
                        errors.setdefault(constraint.fields[0], []).append(error)
                    else:
                        errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)
