"""Instance in, plan out: reach -> reduce -> warm start -> three stages -> plan.

Each step is a plain function of plain data, so a notebook or a sweep can call any of them alone;
:func:`prepare` does the budget-independent part once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from ruralreach.model.actions import NONE
from ruralreach.model.coverage import no_actions
from ruralreach.model.formulation import FLOOR_SCALE
from ruralreach.model.instance import Instance
from ruralreach.model.plan import Plan, StageReport, build_plan
from ruralreach.model.reach import Reach, compute_reach
from ruralreach.model.reduce import CoveringProblem, reduce_problem
from ruralreach.solvers.floor_cost import FLOOR_COST_TIME_SHARE, least_floor_costs
from ruralreach.solvers.highs import INFEASIBLE, HighsModel, SolveOptions, solver_version
from ruralreach.solvers.lexicographic import Progress, Solution, Watch, max_floor_scale, plan_unit, solve_lexicographic

from .review import yardstick_records


@dataclass(frozen=True)
class Prepared:
    """What does not depend on the budget: the instance, its reach and its covering problem."""

    instance: Instance
    reach: Reach
    problem: CoveringProblem
    reach_seconds: float
    reduce_seconds: float
    # What meeting each equity floor costs at least (USD per group; None without groups), for
    # the "floor cost" rows a solve adds where its first LP breaks them.
    floor_costs: np.ndarray | None = None


def prepare(instance: Instance, time_limit: float | None = None) -> Prepared:
    """``time_limit``: the seconds a solve of it will have (None: no limit), of which pricing the
    equity floors takes at most a share (``FLOOR_COST_TIME_SHARE``)."""
    began = time.perf_counter()
    reach = compute_reach(instance)
    reached = time.perf_counter()
    problem = reduce_problem(instance, reach)
    floor_costs = None
    # Floors out of reach make every budget's solve "infeasible" at once, with no LP to price for.
    if problem.n_groups and not problem.floors_out_of_reach():
        pricing = None if time_limit is None else FLOOR_COST_TIME_SHARE * time_limit
        floor_costs = least_floor_costs(problem, SolveOptions(), pricing)
    return Prepared(instance, reach, problem, reached - began, time.perf_counter() - reached, floor_costs)


def actions_of(prepared: Prepared, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map the chosen options back onto one action per site of the full instance, and the phase
    of each (-1 for none); actions decided before the solve (``must:`` decisions) included."""
    problem = prepared.problem
    actions = np.full(len(prepared.instance.sites), NONE, dtype=object)
    phases = np.full(len(prepared.instance.sites), -1, dtype=np.int64)
    actions[problem.taken_site] = problem.taken_action
    phases[problem.taken_site] = problem.taken_phase
    actions[problem.option_site[chosen]] = problem.option_action[chosen]
    phases[problem.option_site[chosen]] = problem.option_phase[chosen]
    return actions, phases


def stage_reports(solution: Solution, problem: CoveringProblem) -> list[StageReport]:
    """Stage objectives and bounds in the plan's units: people, and USD for the cost stage."""
    reports = []
    for s in solution.stages:
        unit = plan_unit(problem, s.stage)
        reports.append(StageReport(s.stage, s.status, s.objective * unit, s.bound * unit, s.mip_gap, s.seconds))
    return reports


def solve_prepared(prepared: Prepared, budget: float, options: SolveOptions,
                   model: HighsModel | None = None, start: np.ndarray | None = None,
                   watch: Watch | None = None, start_cost_bound: tuple[float, float] | None = None) -> Plan:
    """Solve one budget of a prepared instance and expand the solution into a plan. ``start``: a
    choice (bool per option) feasible at this budget, to warm-start the solve; ``watch``: told of
    each step of each stage as it ends (:class:`ruralreach.solvers.lexicographic.Progress`);
    ``start_cost_bound``: (budget, USD) the cost bound ``start`` was proven with at that smaller
    budget (:func:`ruralreach.solvers.lexicographic.carried_cost_bound`).
    Raises InstanceError when the sites fixed by hand cost more than the budget."""
    instance = prepared.instance.with_budget(budget)
    instance.check_budget()
    problem = prepared.problem.with_budget(budget)
    solution = solve_lexicographic(problem, options, start=start, model=model, watch=watch,
                                   floor_costs=prepared.floor_costs, start_cost_bound=start_cost_bound)
    floor_scale, scale_seconds = None, 0.0
    if not solution.found and solution.status == INFEASIBLE and problem.n_groups:
        # No plan meets every floor: say how much of them one plan can meet.
        floor_scale, scale_seconds = largest_floor_share(instance, prepared.reach, problem, options,
                                                         solution.seconds, watch)
    if solution.found:
        actions, phases = actions_of(prepared, solution.chosen)
    else:  # no plan meets every constraint: the plan takes no action
        actions, phases = no_actions(instance), np.full(len(instance.sites), -1, dtype=np.int64)
    plan = build_plan(
        instance, prepared.reach, actions, phases=phases, floor_scale=floor_scale,
        reachable_group_people=problem.reachable_group_people() if problem.n_groups else None,
        status=solution.status, stages=stage_reports(solution, problem), mip_gap=options.mip_gap,
        solve_seconds=solution.seconds + scale_seconds, solver={"name": "HiGHS", "version": solver_version()},
    )
    plan.summary["yardsticks"] = yardstick_records(plan)
    return plan


def largest_floor_share(instance: Instance, reach: Reach, problem: CoveringProblem, options: SolveOptions,
                        spent: float, watch: Watch | None = None) -> tuple[dict, float]:
    """``equity.max_feasible_scale`` of a budget (``instance`` and ``problem`` at it) whose floors
    no plan meets, searched in the time ``options`` leave after the ``spent`` seconds of the
    solve; and the seconds the search took."""
    began = time.perf_counter()
    if watch is not None:
        watch(Progress(FLOOR_SCALE, "searching", math.nan, math.nan, math.inf, spent))
    if problem.n_phases > 1:
        # The floors hold after the last phase, and every plan can wait for it: the share is
        # that of one phase with the whole budget. Its MIP has one copy of each option where
        # the phased one has a copy per phase, copies that only branching tells apart where
        # HiGHS's presolve cannot merge them (with capacities; benchmarks/README.md).
        problem = reduce_problem(instance.in_one_phase(), reach)
    left = None if options.time_limit is None else max(0.0, options.time_limit - spent
                                                           - (time.perf_counter() - began))
    scale = max_floor_scale(problem, replace(options, time_limit=left))
    seconds = time.perf_counter() - began
    if watch is not None:
        watch(Progress(FLOOR_SCALE, scale.status, scale.objective, scale.bound, scale.mip_gap, spent + seconds))
    return {"value": _finite(scale.objective), "bound": _finite(scale.bound), "status": scale.status,
            "mip_gap": _finite(scale.mip_gap)}, seconds


def _finite(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def solve_instance(instance: Instance, options: SolveOptions) -> Plan:
    instance.check_budget()
    return solve_prepared(prepare(instance), instance.scenario.budget, options)
