"""The three lexicographic stages: most same-day population, then most next-day population, then
least cost, each stage keeping the one before at the value it reached.

Each stage runs the cheapest proof first (measured on the national instance, where the LP bound
sits within 1e-4 of the optimum and the work is in finding the integer plan):

1. the LP relaxation gives a proven bound (its basis carries over from the stage before);
2. a MIP over the options where the LP and the best plan so far disagree, with the options where
   they agree fixed (the "RINS" neighbourhood: small, and never empty of plans, since the best
   plan lies in it) usually finds a plan within the gap in about a second;
3. only when that plan is not yet proven within the requested gap does HiGHS solve the whole MIP,
   warm-started from the best plan known.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from model.formulation import MONEY_UNIT, STAGE_SENSE, STAGES, matrix_model
from model.reduce import CoveringProblem
from solvers.greedy import greedy_choice
from solvers.highs import (ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, HighsModel, SolveOptions, StageResult,
                           relative_gap)

_WHOLE = 1e-6  # an LP value this close to 0 or 1 counts as whole


@dataclass(frozen=True)
class Solution:
    """The chosen options of a CoveringProblem and how each stage went."""

    status: str
    chosen: np.ndarray  # bool per option
    stages: tuple[StageResult, ...]
    seconds: float


def stage_values(problem: CoveringProblem, chosen: np.ndarray) -> dict[str, float]:
    """Each stage's objective for a choice: same-day and next-day people (constants included),
    and cost in model money units."""
    x = chosen.astype(np.int64)
    return {
        "same_day": problem.same_day_fixed + int(problem.same_day_population[problem.same_day_cover @ x > 0].sum()),
        "next_day": problem.next_day_fixed + int(problem.next_day_population[problem.next_day_cover @ x > 0].sum()),
        "cost": float(problem.cost @ chosen) / MONEY_UNIT,
    }


def full_start(problem: CoveringProblem, chosen: np.ndarray) -> np.ndarray:
    """The column vector (x, y, z) of a choice, with every row it reaches marked reached."""
    x = chosen.astype(np.int64)
    y = (problem.same_day_cover @ x > 0).astype(float)
    z = (problem.next_day_cover @ x > 0).astype(float)
    return np.concatenate([x.astype(float), y, z])


def overall_status(stages: tuple[StageResult, ...]) -> str:
    statuses = {stage.status for stage in stages}
    for status in (ERROR, INFEASIBLE, TIME_LIMIT):
        if status in statuses:
            return status
    return OPTIMAL


def _improves(stage: str, value: float, incumbent: float) -> bool:
    return value > incumbent if STAGE_SENSE[stage] == "max" else value < incumbent


def _rounded_bound(stage: str, bound: float, cost_step: float) -> float:
    """Populations are whole numbers and costs whole multiples of ``cost_step`` (USD), so a proven
    bound rounds towards the plans: down for people, up for cost."""
    if not math.isfinite(bound):
        return bound
    if stage != "cost":
        return float(math.floor(bound + 1e-6))
    if cost_step > 0:
        step = cost_step / MONEY_UNIT
        return math.ceil(bound / step - 1e-6) * step
    return bound


def _proven(stage: str, value: float, bound: float, mip_gap: float, cost_step: float) -> tuple[bool, float]:
    """Whether ``value`` is within the gap of the (rounded) ``bound``, and the gap."""
    bound = _rounded_bound(stage, bound, cost_step)
    if not math.isfinite(bound):
        return False, math.inf
    gap = relative_gap(value, bound)
    return gap <= mip_gap, gap


class _Stage:
    """One stage's search: keeps the best plan, the best bound and the time spent."""

    def __init__(self, problem, model, stage, incumbent, floors, options, deadline):
        self.problem, self.model, self.stage, self.options, self.deadline = problem, model, stage, options, deadline
        self.floors = dict(floors)
        self.cost_step = problem.cost_step
        self.chosen = incumbent
        self.value = stage_values(problem, incumbent)[stage]
        self.bound = math.nan
        self.began = time.perf_counter()

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.perf_counter()

    def out_of_time(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def offer(self, result: StageResult, *, bound_holds: bool = True) -> None:
        """Take the solver's plan if it is better, within budget and keeps the earlier stages'
        floors (checked exactly, not to the solver's tolerance); take its bound if it holds for
        the whole stage (a neighbourhood's bound does not) and is tighter."""
        if result.values is not None:
            candidate = np.round(result.values[:self.problem.n_options]).astype(bool)
            values = stage_values(self.problem, candidate)
            keeps_floors = all(values[stage] >= floor for stage, floor in self.floors.items())
            if (keeps_floors and self.problem.cost @ candidate <= self.problem.budget
                    and _improves(self.stage, values[self.stage], self.value)):
                self.chosen, self.value = candidate, values[self.stage]
        if bound_holds:
            self.offer_bound(result.bound)

    def offer_bound(self, bound: float) -> None:
        # A solve stopped early reports an infinite bound: no bound at all.
        if math.isfinite(bound) and (math.isnan(self.bound) or _improves(self.stage, self.bound, bound)):
            self.bound = bound

    def result(self, status: str) -> StageResult:
        proven, gap = _proven(self.stage, self.value, self.bound, self.options.mip_gap, self.cost_step)
        if proven:
            status = OPTIMAL
        bound = _rounded_bound(self.stage, self.bound, self.cost_step)
        return StageResult(self.stage, status, self.value, bound, gap, time.perf_counter() - self.began, None)

    def run(self) -> StageResult:
        if self.out_of_time():
            return self.result(TIME_LIMIT)
        relaxation = self.model.relaxation(self.stage, self.remaining())
        self.offer_bound(relaxation.bound)  # its values are fractional: a bound, not a plan
        if relaxation.status == INFEASIBLE:
            return self.result(INFEASIBLE)
        if relaxation.values is not None and not self.out_of_time():
            x = relaxation.values[:self.problem.n_options]
            fixed = (((x >= 1 - _WHOLE) & self.chosen).astype(float), ((x > _WHOLE) | self.chosen).astype(float))
            neighbourhood = self.model.solve(self.stage, self.remaining(), start=full_start(self.problem, self.chosen),
                                             fixed=fixed)
            self.offer(neighbourhood, bound_holds=False)
        if _proven(self.stage, self.value, self.bound, self.options.mip_gap, self.cost_step)[0]:
            return self.result(OPTIMAL)
        if self.out_of_time():
            return self.result(TIME_LIMIT)
        # Options the LP proves cannot be in a plan better than the incumbent are fixed, so that
        # HiGHS presolves them away instead of re-solving the whole root LP from scratch. A plan
        # the fixing excludes is no better than the incumbent, so bounds stay valid.
        self.model.fix_by_reduced_costs(self.stage, self.value)
        full = self.model.solve(self.stage, self.remaining(), start=full_start(self.problem, self.chosen))
        self.offer(full)
        return self.result(full.status)


def solve_lexicographic(problem: CoveringProblem, options: SolveOptions, start: np.ndarray | None = None,
                        model: HighsModel | None = None) -> Solution:
    """Solve the three stages. ``start``: a feasible choice (bool per option) to begin from
    (default: the greedy plan); ``model``: a loaded HighsModel to reuse across budgets."""
    began = time.perf_counter()
    deadline = None if options.time_limit is None else began + options.time_limit
    if model is None:
        model = HighsModel(matrix_model(problem), options)
    model.reset(problem.budget / MONEY_UNIT)
    chosen = greedy_choice(problem)
    if start is not None and problem.cost @ start <= problem.budget and \
            stage_values(problem, start)["same_day"] > stage_values(problem, chosen)["same_day"]:
        chosen = start.astype(bool)
    results: list[StageResult] = []
    floors: dict[str, float] = {}
    for stage in STAGES:
        search = _Stage(problem, model, stage, chosen, floors, options, deadline)
        result = search.run()
        chosen = search.chosen
        results.append(result)
        if result.status in (ERROR, INFEASIBLE):
            break
        if stage != "cost":
            floors[stage] = search.value
            model.set_floor(stage, search.value)
            # Every later plan keeps this stage's value: what the LP proves cannot change without
            # losing it stays fixed (a warm re-solve: the floor only cuts off the LP's optimum).
            if not search.out_of_time() and model.relaxation(stage, search.remaining()).status == OPTIMAL:
                model.fix_by_reduced_costs(stage, search.value)
    if problem.cost @ chosen > problem.budget:
        raise RuntimeError(f"solution spends ${problem.cost @ chosen:,.2f}, over the budget ${problem.budget:,.2f}")
    return Solution(overall_status(tuple(results)), chosen, tuple(results), time.perf_counter() - began)
