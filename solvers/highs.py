"""HiGHS through highspy: one solver model kept across stages (and budgets), options, the status
vocabulary, gap and bound, and a wall-clock guard on top of HiGHS's own time limit."""

from __future__ import annotations

import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import highspy
import numpy as np

from model.formulation import STAGE_SENSE, MatrixModel

# Our one status vocabulary; every HiGHS model status maps onto it.
OPTIMAL, TIME_LIMIT, INFEASIBLE, ERROR = "optimal", "time_limit", "infeasible", "error"
_STATUS = {
    highspy.HighsModelStatus.kOptimal: OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: TIME_LIMIT,
    highspy.HighsModelStatus.kInterrupt: TIME_LIMIT,  # our wall-clock guard cancelled it
    highspy.HighsModelStatus.kInfeasible: INFEASIBLE,
}
# Grace past the time limit before the guard cancels a solve HiGHS did not stop itself.
_GUARD_GRACE_SECONDS = 5.0


def solver_version() -> str:
    return f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"


@dataclass(frozen=True)
class SolveOptions:
    """What the user asks of the solver. ``mip_gap`` is relative, per stage; ``time_limit`` is
    for the whole lexicographic solve (seconds, None for none)."""

    mip_gap: float = 1e-4
    time_limit: float | None = None
    threads: int = 1
    seed: int = 0
    log: bool = False
    highs_options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class StageResult:
    stage: str
    status: str
    objective: float
    bound: float
    mip_gap: float
    seconds: float
    values: np.ndarray | None  # column values of the best solution, None if none was found


class HighsModel:
    """A MatrixModel loaded into HiGHS once; stages change only the objective, add floor rows,
    and may change the budget row."""

    def __init__(self, matrix: MatrixModel, options: SolveOptions):
        self.matrix = matrix
        self.options = options
        with _quiet_stdout(not options.log):
            self.highs = highspy.Highs()
        self.highs.HandleUserInterrupt = True
        self._set_options()
        n = matrix.n_columns
        A = matrix.A.tocsr()
        self.highs.addVars(n, np.zeros(n), np.ones(n))
        self.highs.changeColsIntegrality(
            n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
        self.highs.addRows(A.shape[0], matrix.row_lower, matrix.row_upper, A.nnz,
                           A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data)
        # One free row per objective that a later stage keeps fixed; set_floor gives it a bound.
        self._floor_rows = {}
        for stage in ("same_day", "next_day"):
            coefficients = matrix.objective[stage]
            columns = np.flatnonzero(coefficients).astype(np.int32)
            self._floor_rows[stage] = self.highs.getNumRow()
            self.highs.addRow(-highspy.kHighsInf, highspy.kHighsInf, columns.size, columns, coefficients[columns])

    def _set_options(self) -> None:
        o = self.options
        h = self.highs
        h.setOptionValue("output_flag", o.log)
        # Same inputs, same plan: one thread and a fixed seed make HiGHS deterministic.
        h.setOptionValue("threads", o.threads)
        h.setOptionValue("random_seed", o.seed)
        h.setOptionValue("mip_rel_gap", o.mip_gap)
        # Costs and budget are exact in USD; a tighter feasibility tolerance keeps a solution from
        # overspending the budget row by more than a fraction of a cent (money unit: $1M).
        h.setOptionValue("mip_feasibility_tolerance", 1e-9)
        h.setOptionValue("primal_feasibility_tolerance", 1e-9)
        for key, value in o.highs_options.items():
            h.setOptionValue(key, value)

    def set_budget(self, budget_units: float) -> None:
        self.highs.changeRowBounds(self.matrix.budget_row, -highspy.kHighsInf, budget_units)

    def set_floor(self, stage: str, value: float) -> None:
        """Keep an earlier stage's objective at least at ``value`` (lexicographic fixing)."""
        self.highs.changeRowBounds(self._floor_rows[stage], value, highspy.kHighsInf)

    def clear_floors(self) -> None:
        """Free the floors again, so the same loaded model can solve another budget."""
        for row in self._floor_rows.values():
            self.highs.changeRowBounds(row, -highspy.kHighsInf, highspy.kHighsInf)

    def solve(self, stage: str, time_limit: float | None, start: np.ndarray | None = None) -> StageResult:
        h = self.highs
        h.changeColsCost(self.matrix.n_columns, np.arange(self.matrix.n_columns, dtype=np.int32),
                         self.matrix.objective[stage])
        h.changeObjectiveSense(
            highspy.ObjSense.kMaximize if STAGE_SENSE[stage] == "max" else highspy.ObjSense.kMinimize)
        h.setOptionValue("time_limit", math.inf if time_limit is None else max(time_limit, 0.0))
        if start is not None:
            solution = highspy.HighsSolution()
            solution.col_value = list(map(float, start))
            solution.value_valid = True
            h.setSolution(solution)
        began = time.perf_counter()
        thread = h.startSolve()
        guard = None if time_limit is None else time_limit + _GUARD_GRACE_SECONDS
        finished, _ = h.wait(-1.0 if guard is None else guard)
        if not finished:
            h.cancelSolve()
            h.wait()
        thread.join()
        seconds = time.perf_counter() - began
        status = _STATUS.get(h.getModelStatus(), ERROR)
        info = h.getInfo()
        has_solution = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        values = np.asarray(h.getSolution().col_value) if has_solution else None
        objective = info.objective_function_value if has_solution else math.nan
        bound = info.mip_dual_bound
        return StageResult(stage, status, objective, bound, _gap(objective, bound), seconds, values)


@contextmanager
def _quiet_stdout(quiet: bool):
    """Silence C-level stdout: HiGHS prints its banner when a solver object is created."""
    if not quiet:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def _gap(objective: float, bound: float) -> float:
    """Relative gap as HiGHS defines it, |bound - objective| / |objective|, 0 when both agree."""
    if math.isnan(objective) or math.isnan(bound) or math.isinf(bound):
        return math.inf
    difference = abs(bound - objective)
    if difference <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return difference / abs(objective) if objective != 0 else math.inf


@dataclass(frozen=True)
class PyomoStage:
    """One stage solved through Pyomo's own HiGHS interface (the reference path)."""

    objective: float
    chosen: np.ndarray  # bool per option
    build_seconds: float
    solve_seconds: float


def solve_stage_with_pyomo(problem, stage: str, floors: dict[str, float], options: SolveOptions) -> PyomoStage:
    """Build the Pyomo model of one stage and solve it with Pyomo's HiGHS interface."""
    from pyomo.contrib.solver.solvers.highs import Highs as PyomoHighs

    from model.formulation import build_model

    began = time.perf_counter()
    model = build_model(problem, stage, floors)
    built = time.perf_counter()
    solver = PyomoHighs()
    results = solver.solve(model, rel_gap=options.mip_gap, threads=options.threads, time_limit=options.time_limit,
                           solver_options={"random_seed": options.seed, "mip_feasibility_tolerance": 1e-9,
                                           "primal_feasibility_tolerance": 1e-9, **options.highs_options})
    solved = time.perf_counter()
    chosen = np.array([round(model.x[o].value or 0) == 1 for o in model.O], dtype=bool)
    return PyomoStage(float(results.incumbent_objective), chosen, built - began, solved - built)
