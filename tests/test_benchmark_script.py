"""The benchmark's seed and measurement still fit the schema (run here on 50 patients)."""

import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from tests import factories

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import outcomes_benchmark  # noqa: E402

pytestmark = pytest.mark.django_db


def test_the_benchmark_seeds_a_complete_schedule_and_measures_it(site_a):
    user = factories.UserFactory(role="investigator", site=site_a)
    assert Group.objects.filter(name="investigator").exists()
    outcomes_benchmark.seed(site_a, user, 50, 0)
    result = outcomes_benchmark.measure(user, repeat=1)
    assert result["enrolled"] == 50
    # Nothing changed: session, user, roles, audit context, data version, sites, the kept figures; no statement.
    assert result["kept_queries"] == 8
    # After a write (sequential path): settled?, the two statements (patients, adverse events), and
    # keeping the figures (cull count, the key's row, its write).
    assert result["queries"] == 8 + 1 + 2 + 5
    assert result["endpoint_ms"] > 0 and result["endpoint_kept_ms"] > 0 and result["page_ms"] > 0
    assert result["floor_ms"] > 0
