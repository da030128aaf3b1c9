"""Seeded random tiny instances with the model's options drawn together (phases with weights of 0,
halves and more, sites fixed by hand, equity floors some plan meets or none does, capacities, tight
and loose budgets), each solved exactly and held to the checker's brute force: the three optima
(weighted over phases), every rule kept, each stage proven; or, where no plan meets every
constraint, no action and the largest share of the floors. Such a campaign of thousands of cases
found the faults that ``tests/data/gap-zero`` and several tests in test_program.py now hold.

Case N is ``pytest tests/test_random_plans.py -k "[N]"``; ``RURALREACH_RANDOM_CASES`` sets how many
run (default 40).
"""

import os

import numpy as np
import pytest
from checker import brute_force, max_floor_share, phased_outcome, read_raw
from conftest import with_capacity
from test_program import plan_of, program_instance, random_decisions

from ruralreach.model.instance import Equity, InstanceError, Phase, load_instance
from ruralreach.pipeline import solve_instance
from ruralreach.solvers.highs import SolveOptions

CASES = int(os.environ.get("RURALREACH_RANDOM_CASES", "40"))


def random_instance(directory, seed: int):
    """A tiny instance with options drawn at random (seeded); returns it and what was drawn."""
    rng = np.random.default_rng(seed)
    budget = float(rng.choice([5e6, 20e6, 45e6, 90e6]))
    capacitated = rng.random() < 0.4
    # Few enough plans for the brute force to take a second at most (with capacities, an LP a
    # plan and phase): each site takes an action in one phase, or none.
    n_phases = int(rng.integers(0, 3 if capacitated else 4))
    shares = rng.dirichlet(np.ones(n_phases)) if n_phases else []
    phases = [Phase(f"p{t}", round(budget * share, 2), float(rng.choice([1.0, 1.0, 0.0, 0.5, 2.5])))
              for t, share in enumerate(shares)]
    if phases:  # the budget is the phases' sum, to the cent
        phases[-1] = Phase(phases[-1].name, round(budget - sum(p.budget for p in phases[:-1]), 2), phases[-1].weight)
    equity = None
    if rng.random() < 0.5:
        floor = float(rng.choice([0.2, 0.5, 0.8, 0.97]))
        equity = Equity("region", floor, (("west", float(rng.choice([floor, 0.3, 0.9]))),) if rng.random() < 0.5 else ())
    decisions = random_decisions(seed) if rng.random() < 0.4 else None
    small = n_phases >= 2 or capacitated
    directory = program_instance(directory, seed=seed, budget=budget, phases=phases, equity=equity,
                                 decisions=decisions, stations=2 if small else int(rng.integers(2, 4)),
                                 candidates=2 if small else int(rng.integers(2, 4)))
    if capacitated:
        with_capacity(directory, seed=seed, share=float(rng.choice([0.1, 0.3, 1.0])))
    return directory, dict(phases=n_phases, floors=equity is not None, decisions=decisions is not None,
                           capacities=capacitated)


@pytest.mark.parametrize("seed", range(CASES))
def test_random_instance_matches_brute_force(seed, tmp_path):
    assert_matches_brute_force(seed, tmp_path)


def assert_matches_brute_force(seed, tmp_path):
    """Case ``seed`` solved exactly, held to the brute force (test_probing.py runs it too)."""
    directory, drawn = random_instance(tmp_path / "i", seed)
    raw = read_raw(directory)
    try:
        plan = solve_instance(load_instance(directory), SolveOptions(mip_gap=0.0))
    except InstanceError as error:  # sites fixed by hand that cost more than the budget
        assert "budget" in str(error), (drawn, error)
        return
    summary = plan.summary
    best = brute_force(raw)
    if best is None:
        assert summary["status"] == "infeasible", drawn
        assert (plan.sites["action"] == "none").all()
        scale = summary["equity"]["max_feasible_scale"]
        assert scale["status"] == "optimal"
        assert scale["value"] == pytest.approx(max_floor_share(raw), abs=1e-6)
        assert scale["bound"] >= scale["value"] - 1e-9
        return
    assert summary["status"] == "optimal", (drawn, summary["stages"])
    outcome = phased_outcome(raw, plan_of(plan))
    assert outcome["budgets_kept"] and outcome["decisions_kept"] and outcome["floors_met"], drawn
    achieved = (outcome["same_day"], outcome["next_day"], outcome["cost"])
    assert achieved == pytest.approx(best, rel=1e-7, abs=1e-6), drawn
    for stage, value in zip(summary["stages"], achieved):
        assert stage["objective"] == pytest.approx(value, rel=1e-7, abs=1e-6), (drawn, stage)
        assert stage["mip_gap"] <= 1e-7, (drawn, stage)
