"""The migrations describe the models exactly: a model change without its migration fails here
(`manage.py makemigrations --check --dry-run`, as issue 16 asks of `make test`)."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_its_migration():
    output = io.StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=output, stderr=output)
    except SystemExit as exit_:  # --check exits 1 when a migration would be written
        pytest.fail(f"models and migrations disagree (exit {exit_.code}):\n{output.getvalue()}")
    assert "No changes detected" in output.getvalue()
