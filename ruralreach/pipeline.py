"""Instance in, plan out: reach -> reduce -> warm start -> three stages -> plan.

Each step is a plain function of plain data, so a notebook or a sweep can call any of them alone;
:func:`prepare` does the budget-independent part once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ruralreach.model.formulation import MONEY_UNIT
from ruralreach.model.instance import Instance
from ruralreach.model.plan import Plan, StageReport, build_plan
from ruralreach.model.reach import Reach, compute_reach
from ruralreach.model.reduce import CoveringProblem, reduce_problem
from ruralreach.solvers.highs import HighsModel, SolveOptions, solver_version
from ruralreach.solvers.lexicographic import Solution, solve_lexicographic


@dataclass(frozen=True)
class Prepared:
    """What does not depend on the budget: the instance, its reach and its covering problem."""

    instance: Instance
    reach: Reach
    problem: CoveringProblem
    reach_seconds: float
    reduce_seconds: float


def prepare(instance: Instance) -> Prepared:
    began = time.perf_counter()
    reach = compute_reach(instance)
    reached = time.perf_counter()
    problem = reduce_problem(instance, reach)
    return Prepared(instance, reach, problem, reached - began, time.perf_counter() - reached)


def actions_of(prepared: Prepared, chosen: np.ndarray) -> np.ndarray:
    """Map the chosen options back onto one action per site of the full instance."""
    actions = np.full(len(prepared.instance.sites), "none", dtype=object)
    actions[prepared.problem.option_site[chosen]] = prepared.problem.option_action[chosen]
    return actions


def stage_reports(solution: Solution) -> list[StageReport]:
    """Stage objectives and bounds in the plan's units: people, and USD for the cost stage."""
    scale = {"same_day": 1.0, "next_day": 1.0, "cost": MONEY_UNIT}
    return [
        StageReport(s.stage, s.status, s.objective * scale[s.stage], s.bound * scale[s.stage], s.mip_gap, s.seconds)
        for s in solution.stages
    ]


def solve_prepared(prepared: Prepared, budget: float, options: SolveOptions,
                   model: HighsModel | None = None, start: np.ndarray | None = None) -> Plan:
    """Solve one budget of a prepared instance and expand the solution into a plan. ``start``: a
    choice (bool per option) feasible at this budget, to warm-start the solve."""
    instance = prepared.instance.with_budget(budget)
    problem = prepared.problem.with_budget(budget)
    solution = solve_lexicographic(problem, options, start=start, model=model)
    return build_plan(
        instance, prepared.reach, actions_of(prepared, solution.chosen),
        status=solution.status, stages=stage_reports(solution), mip_gap=options.mip_gap,
        solve_seconds=solution.seconds, solver={"name": "HiGHS", "version": solver_version()},
    )


def solve_instance(instance: Instance, options: SolveOptions) -> Plan:
    return solve_prepared(prepare(instance), instance.scenario.budget, options)
