"""The README's main command: the bundled national instance, solved at its budget."""

import subprocess
import sys

import numpy as np
import pytest

from ruralreach.model.coverage import evaluate
from ruralreach.model.instance import load_instance
from ruralreach.model.plan import read_plan
from ruralreach.model.reach import compute_reach
from ruralreach.cli import DEFAULT_INSTANCE


@pytest.fixture(scope="module")
def national_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("national")
    result = subprocess.run([sys.executable, "-m", "ruralreach", "solve"], capture_output=True, text=True,
                            cwd=cwd, timeout=900)
    return result, cwd / "plans" / "us-2026-4000000000"


def test_national_instance_solves_to_proven_gap(national_run):
    result, plan_dir = national_run
    assert result.returncode == 0, result.stderr
    plan = read_plan(plan_dir)
    assert plan.summary["status"] == "optimal"
    assert all(stage["mip_gap"] <= 1e-4 for stage in plan.summary["stages"])
    assert plan.summary["cost"] <= plan.summary["budget"] == 4e9
    assert plan.summary["same_day_population"] > plan.summary["baseline_same_day_population"]
    # Each stage's bound is on the right side of the plan; later stages keep earlier ones at least
    # at the value they reached (they may find more of it, never less).
    same_day, next_day, cost = plan.summary["stages"]
    assert same_day["bound"] >= plan.summary["same_day_population"] >= same_day["objective"]
    assert next_day["bound"] >= plan.summary["next_day_population"] >= next_day["objective"]
    assert cost["bound"] <= cost["objective"] == pytest.approx(plan.summary["cost"])


def test_national_plan_coverage_recomputes(national_run):
    _, plan_dir = national_run
    plan = read_plan(plan_dir)
    instance = load_instance(DEFAULT_INSTANCE)
    coverage = evaluate(instance, compute_reach(instance), plan.sites["action"].to_numpy(dtype=object))
    np.testing.assert_array_equal(plan.zones["same_day"].to_numpy(), coverage.same_day)
    np.testing.assert_array_equal(plan.zones["next_day"].to_numpy(), coverage.next_day)
    population = instance.zones["population"].to_numpy()
    assert plan.summary["same_day_population"] == population[coverage.same_day].sum()
    assert plan.sites["cost"].sum() == pytest.approx(plan.summary["cost"])


def test_national_summary_shows_program_yardsticks(national_run):
    result, plan_dir = national_run
    for words in ("status      optimal", "ZIP codes newly within same-day reach", "13,000+",
                  "square miles newly within same-day reach", "1.2M", "small towns newly within same-day reach",
                  "4,000+", "new and upgraded sites", "about 200", "plans/us-2026-4000000000"):
        assert words in result.stdout
