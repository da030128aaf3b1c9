"""The three lexicographic stages: most same-day population, then most next-day population, then
least cost, each stage keeping the one before at the value it reached."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from model.formulation import MONEY_UNIT, STAGES, matrix_model
from model.reduce import CoveringProblem
from solvers.highs import ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, HighsModel, SolveOptions, StageResult


@dataclass(frozen=True)
class Solution:
    """The chosen options of a CoveringProblem and how each stage went."""

    status: str
    chosen: np.ndarray  # bool per option
    stages: tuple[StageResult, ...]
    seconds: float


def covered(problem: CoveringProblem, chosen: np.ndarray) -> tuple[int, int]:
    """Same-day and next-day population of the variable rows that ``chosen`` reaches."""
    x = chosen.astype(np.int64)
    same_day = int(problem.same_day_population[problem.same_day_cover @ x > 0].sum())
    next_day = int(problem.next_day_population[problem.next_day_cover @ x > 0].sum())
    return same_day, next_day


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


def solve_lexicographic(problem: CoveringProblem, options: SolveOptions, start: np.ndarray | None = None,
                        model: HighsModel | None = None) -> Solution:
    """Solve the three stages on one HiGHS model. ``start``: a feasible choice (bool per option)
    to warm-start the first stage; ``model``: a loaded model to reuse (its budget is set here)."""
    began = time.perf_counter()
    deadline = None if options.time_limit is None else began + options.time_limit
    if model is None:
        model = HighsModel(matrix_model(problem), options)
    model.set_budget(problem.budget / MONEY_UNIT)
    model.clear_floors()
    chosen = np.zeros(problem.n_options, dtype=bool) if start is None else start.astype(bool)
    results: list[StageResult] = []
    for stage in STAGES:
        remaining = None if deadline is None else deadline - time.perf_counter()
        if remaining is not None and remaining <= 0:
            results.append(StageResult(stage, TIME_LIMIT, math.nan, math.nan, math.inf, 0.0, None))
            continue
        result = model.solve(stage, remaining, full_start(problem, chosen))
        if result.values is not None:
            candidate = np.round(result.values[:problem.n_options]).astype(bool)
            if _better_or_equal(problem, stage, candidate, chosen):
                chosen = candidate
        results.append(result)
        if result.status in (ERROR, INFEASIBLE):
            break
        if stage != "cost":
            model.set_floor(stage, covered(problem, chosen)[STAGES.index(stage)])
    _check_budget(problem, chosen)
    return Solution(overall_status(tuple(results)), chosen, tuple(results), time.perf_counter() - began)


def _better_or_equal(problem: CoveringProblem, stage: str, candidate: np.ndarray, incumbent: np.ndarray) -> bool:
    """Whether the solver's rounded solution is at least as good as the start it was given
    (a solve stopped early may return nothing better than its start)."""
    if problem.cost @ candidate > problem.budget:
        return False
    if stage == "cost":
        return problem.cost @ candidate <= problem.cost @ incumbent
    index = STAGES.index(stage)
    return covered(problem, candidate)[index] >= covered(problem, incumbent)[index]


def _check_budget(problem: CoveringProblem, chosen: np.ndarray) -> None:
    spent = float(problem.cost @ chosen)
    if spent > problem.budget:
        raise RuntimeError(f"solution spends ${spent:,.2f}, over the budget ${problem.budget:,.2f}")
