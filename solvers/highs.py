"""HiGHS through highspy: one solver model kept across stages (and budgets), options, the status
vocabulary, gap and bound, and a wall-clock guard on top of HiGHS's own time limit."""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
from scipy import sparse

from ruralreach.model.formulation import STAGE_SENSE, MatrixModel

# Our one status vocabulary; every HiGHS model status maps onto it.
OPTIMAL, TIME_LIMIT, INFEASIBLE, ERROR = "optimal", "time_limit", "infeasible", "error"
_STATUS = {
    highspy.HighsModelStatus.kOptimal: OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: TIME_LIMIT,
    highspy.HighsModelStatus.kInterrupt: TIME_LIMIT,  # our wall-clock guard, or a caller's stop_when, stopped it
    highspy.HighsModelStatus.kInfeasible: INFEASIBLE,
}
_NO_ITERATION_LIMIT = 2147483647  # HiGHS's default simplex_iteration_limit
# From the plan that takes nothing, primal simplex needs about one pivot for each row the LP
# optimum reaches (fewer from the start basis, :meth:`HighsModel._set_start_basis`); far past that
# it is stalling on degenerate vertices, a thing interior point does not do (on one national
# network at $7B it took 82,000 pivots, six a row, and six times the interior point's time), so the
# LP is handed to interior point there.
PRIMAL_PIVOTS_PER_ROW = 1.5
# Once its root has fixed what it can, HiGHS may restart: presolve and the root again, on the
# smaller model left. On a small model, solved at or near the root, that is what makes it quick;
# on a large one the root (cut rounds of seconds each) is most of the proof, and doing it twice
# costs more than the smaller model saves. So a MIP of more rows than this searches without
# restarts, unless told to keep them: the first stage's closer search, whose bound comes from its
# root, second root included (a root-only search of 7.9e-6 on `us-2026` reached 1.2e-5 without).
RESTART_ROWS = 5000
# A plan HiGHS proves optimal that the exact checks refuse (over the budget or under a floor by
# less than HiGHS's tolerance) is excluded and the MIP solved again at most this many times
# (:meth:`HighsModel.solve`); past it the stage stays unproven, as it was before any.
REFUSED_PLANS = 20
# Grace past the time limit before the guard cancels a solve HiGHS did not stop itself: small,
# since a user's time limit bounds the whole command (which keeps it for the solve's end).
GUARD_GRACE_SECONDS = 0.2
# How long a wait of the main thread (on HiGHS here, on a sweep's workers in ``sweep``) lasts at a
# time: the delay before Ctrl-C or the guard acts. The kernel may give Ctrl-C to any thread of the
# process, and Python runs its handler only once the main thread is back in Python code.
WAIT_STEP_SECONDS = 0.05
# A run cancelled by Ctrl-C stops at HiGHS's next interrupt check, but its presolve and a MIP's root
# LP make none, and the run goes on for as long as they take. Past this, the process's own policy
# (:func:`when_a_cancel_goes_unheard`) acts.
CANCEL_PATIENCE_SECONDS = 1.0
_unheard_cancel_policies: list[Callable[[], object]] = []


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


@dataclass(frozen=True)
class LpDuals:
    """What the last LP relaxation says of each option column: its value, its reduced cost, and
    whether the simplex basis holds it nonbasic at its lower or its upper bound."""

    bound: float  # the LP optimum, objective offset included
    values: np.ndarray
    reduced_costs: np.ndarray
    at_lower: np.ndarray
    at_upper: np.ndarray


@dataclass(frozen=True)
class LpOptimum:
    """An LP relaxation as HiGHS holds it, ``row_lower <= A v <= row_upper``, ``col_lower <= v <=
    col_upper``, objective ``cost @ v + offset`` (``maximize`` or not), at its optimum ``objective``
    with the column values and the row duals HiGHS found."""

    A: sparse.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    cost: np.ndarray
    offset: float
    maximize: bool
    objective: float
    values: np.ndarray
    row_duals: np.ndarray


class HighsModel:
    """A thin adapter: a MatrixModel loaded into HiGHS once, twice over, as the MIP and as its LP
    relaxation (whose simplex basis carries from one solve to the next). Callers change the
    objective (by stage), the floor rows, the budget row and the option columns' bounds, solve,
    and read solutions, duals and bounds back; every decision about what to change is theirs."""

    def __init__(self, matrix: MatrixModel, options: SolveOptions):
        self.matrix = matrix
        self.options = options
        self.mip = self._load(integer=True)
        self.lp = self._load(integer=False)
        # Whether HiGHS runs ``mip`` as a MIP: not once every column is continuous (the
        # floor-scale model with every option decided), when it solves it as an LP.
        self.integer = matrix.continuous is None or not bool(matrix.continuous.all())
        # The option columns' standing bounds, as loaded in both models.
        self.option_lower = np.zeros(matrix.n_options)
        self.option_upper = np.ones(matrix.n_options)
        self.floor_rows: dict[str, int] = {}  # row of each earlier stage's floor, once set
        self.reach_required = np.empty(0, dtype=np.int32)  # y and z columns held at 1
        # y and z columns held at 1 in the MIP alone, their rows left out of it (require_reach).
        self.reach_implied = np.empty(0, dtype=np.int32)
        # Whether primal simplex has stalled on this model's floorless LP (PRIMAL_PIVOTS_PER_ROW).
        # A sweep solves one model at growing budgets, and the stall grows with the budget: past
        # the first stall the LP goes straight to interior point, whose crossover ends on the same
        # basis whether or not simplex ran first, so only the stalled pivots are saved.
        self.primal_stalled = False

    def _load(self, integer: bool) -> highspy.Highs:
        matrix, o = self.matrix, self.options
        with _quiet_stdout(not o.log):
            h = highspy.Highs()
        h.HandleUserInterrupt = True
        h.setOptionValue("output_flag", o.log)
        # Same inputs, same plan: one thread and a fixed seed make HiGHS deterministic.
        h.setOptionValue("threads", o.threads)
        h.setOptionValue("random_seed", o.seed)
        # HiGHS's own feasibility tolerances, which its search is made for: held to 1e-9 instead,
        # it has called a national MIP with a plan infeasible (benchmarks/README.md).
        # A budget row may be overspent by its 1e-6 units, a tenth of a cent (money_unit), and a
        # plan is taken only when it is within budget and keeps its floors exactly.
        if not integer:
            # HiGHS presolve costs more than it saves on this LP, and without it the basis of one
            # solve warm-starts the next.
            h.setOptionValue("presolve", "off")
        for key, value in o.highs_options.items():
            h.setOptionValue(key, value)
        n = matrix.n_columns
        A = matrix.A.tocsr()
        h.addVars(n, np.zeros(n), np.ones(n))
        if integer:
            kinds = np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8)
            if matrix.continuous is not None:
                kinds[matrix.continuous] = highspy.HighsVarType.kContinuous
            h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), kinds)
        h.addRows(A.shape[0], matrix.row_lower, matrix.row_upper, A.nnz,
                  A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data)
        return h

    def reset(self, budget_units: np.ndarray) -> None:
        """Forget earlier solves (so a budget's plan does not depend on what was solved before),
        drop the floor rows, free the option columns and set the budget rows (one per phase)."""
        n_rows = self.matrix.A.shape[0]
        rows = np.asarray(self.matrix.budget_rows, dtype=np.int32)
        budget_units = np.asarray(budget_units, dtype=float)
        for h in (self.mip, self.lp):
            h.clearSolver()
            if h.getNumRow() > n_rows:
                floors = np.arange(n_rows, h.getNumRow(), dtype=np.int32)
                h.deleteRows(floors.size, floors)
            h.changeRowsBounds(rows.size, rows, np.full(rows.size, -highspy.kHighsInf), budget_units)
        self.floor_rows = {}
        self.set_option_bounds(np.zeros(self.matrix.n_options), np.ones(self.matrix.n_options))
        self.require_reach(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64))

    @property
    def lp_from_scratch(self) -> bool:
        """Whether the LP has no basis to start from: none solved since the model was loaded or
        last reset (HiGHS's own record, which :meth:`reset` clears)."""
        return not self.lp.getBasis().valid

    @property
    def free_options(self) -> np.ndarray:
        """Whether each option is still free, neither held at 0 nor at 1 by its standing bounds."""
        return (self.option_lower == 0.0) & (self.option_upper == 1.0)

    def set_option_bounds(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """The option columns' standing bounds, in both models."""
        self.option_lower, self.option_upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        for h in (self.mip, self.lp):
            self._apply_option_bounds(h, self.option_lower, self.option_upper)

    def require_reach(self, same_day_rows: np.ndarray, next_day_rows: np.ndarray,
                      implied: dict[str, np.ndarray] | None = None) -> None:
        """Demand rows every plan still searched reaches (row indices per tier): their columns
        y (z) held at 1 in both models, instead of those of the last call. ``implied``: more
        such rows (a mask per tier), each reached because its options include every option of
        a row held (:func:`ruralreach.model.reduce.rows_the_floors_reach`): held at 1 in the MIP,
        with their rows left out of it (made free).

        Why: HiGHS's presolve keeps such rows, and a set cover is proved faster without them
        (``rows_the_floors_reach`` says by how much). The LP keeps them: they do not move its
        optimum, and its basis carries from one solve to the next."""
        m = self.matrix
        columns = self._reach_columns(same_day_rows, next_day_rows)
        left_out = self.rows_left_out
        if left_out.size:  # the rows of the last call back in the MIP, their columns free
            self.mip.changeRowsBounds(left_out.size, left_out, m.row_lower[left_out], m.row_upper[left_out])
            self.mip.changeColsBounds(left_out.size, self.reach_implied, np.zeros(left_out.size),
                                      np.ones(left_out.size))
        for h in (self.mip, self.lp):
            for held, lower in ((self.reach_required, 0.0), (columns, 1.0)):
                if held.size:
                    h.changeColsBounds(held.size, held, np.full(held.size, lower), np.ones(held.size))
        self.reach_required = columns
        self.reach_implied = np.empty(0, dtype=np.int32) if implied is None else self._reach_columns(
            np.flatnonzero(implied["same_day"]), np.flatnonzero(implied["next_day"]))
        left_out = self.rows_left_out
        if left_out.size:
            free = np.full(left_out.size, highspy.kHighsInf)
            self.mip.changeRowsBounds(free.size, left_out, -free, free)
            self.mip.changeColsBounds(free.size, self.reach_implied, np.ones(free.size), np.ones(free.size))

    @property
    def rows_left_out(self) -> np.ndarray:
        """The rows left out of the MIP (:meth:`require_reach`): those of the columns in
        ``reach_implied``, each demand row's column standing as far from the first option column as
        the row from the first reach row."""
        m = self.matrix
        return (self.reach_implied - m.n_options + m.first_reach_row).astype(np.int32)

    def _reach_columns(self, same_day_rows: np.ndarray, next_day_rows: np.ndarray) -> np.ndarray:
        """The y columns of same-day rows and the z columns of next-day rows (indices per tier)."""
        m = self.matrix
        return np.concatenate([m.n_options + np.asarray(same_day_rows, dtype=np.int64),
                               m.n_options + m.n_same_day + np.asarray(next_day_rows, dtype=np.int64)]).astype(np.int32)

    def _apply_option_bounds(self, h: highspy.Highs, lower: np.ndarray, upper: np.ndarray) -> None:
        n = self.matrix.n_options
        h.changeColsBounds(n, np.arange(n, dtype=np.int32), lower, upper)

    def lp_duals(self) -> LpDuals | None:
        """The option columns in the last LP relaxation, or None when it was not solved to optimality."""
        if self.lp.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        n = self.matrix.n_options
        solution = self.lp.getSolution()
        status = np.asarray([int(s) for s in self.lp.getBasis().col_status[:n]])
        return LpDuals(
            bound=self.lp.getInfo().objective_function_value,
            values=np.asarray(solution.col_value)[:n],
            reduced_costs=np.asarray(solution.col_dual)[:n],
            at_lower=status == int(highspy.HighsBasisStatus.kLower),
            at_upper=status == int(highspy.HighsBasisStatus.kUpper),
        )

    def lp_optimum(self) -> LpOptimum | None:
        """The last LP relaxation as loaded (every row, the floors' included) with its optimal
        primal and dual values; None when it was not solved to optimality."""
        h = self.lp
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        lp, solution = h.getLp(), h.getSolution()
        matrix = lp.a_matrix_
        A = sparse.csc_matrix((np.asarray(matrix.value_), np.asarray(matrix.index_), np.asarray(matrix.start_)),
                              shape=(lp.num_row_, lp.num_col_))
        return LpOptimum(A, np.asarray(lp.row_lower_), np.asarray(lp.row_upper_), np.asarray(lp.col_lower_),
                         np.asarray(lp.col_upper_), np.asarray(lp.col_cost_), float(lp.offset_),
                         lp.sense_ == highspy.ObjSense.kMaximize, h.getInfo().objective_function_value,
                         np.asarray(solution.col_value), np.asarray(solution.row_dual))

    def add_rows(self, rows: sparse.csr_matrix, lower: np.ndarray) -> None:
        """Rows over the option columns that every plan keeps, ``lower <= rows @ x``, added to
        both models until the next :meth:`reset` (a sweep's next budget starts without them).
        Before any floor row is set."""
        assert not self.floor_rows, "rows are added before the floors"
        full = sparse.hstack([rows, sparse.csr_matrix((rows.shape[0], self.matrix.n_columns - rows.shape[1]))])
        full = full.tocsr().astype(float)
        for h in (self.mip, self.lp):
            h.addRows(full.shape[0], np.asarray(lower, dtype=float), np.full(full.shape[0], highspy.kHighsInf),
                      full.nnz, full.indptr[:-1].astype(np.int32), full.indices.astype(np.int32), full.data)

    def set_floor(self, stage: str, value: float) -> None:
        """Keep an earlier stage's objective at least at ``value`` (people, constant included).
        The floor rows are added only when needed: these rows are dense, and present but free
        they still slow the LP."""
        lower = value - self.matrix.offset[stage]
        if stage in self.floor_rows:
            for h in (self.mip, self.lp):
                h.changeRowBounds(self.floor_rows[stage], lower, highspy.kHighsInf)
            return
        coefficients = self.matrix.objective[stage]
        columns = np.flatnonzero(coefficients).astype(np.int32)
        for h in (self.mip, self.lp):
            h.addRow(lower, highspy.kHighsInf, columns.size, columns, coefficients[columns])
        self.floor_rows[stage] = self.lp.getNumRow() - 1

    def _set_stage(self, h: highspy.Highs, stage: str, time_limit: float | None) -> None:
        n = self.matrix.n_columns
        h.changeColsCost(n, np.arange(n, dtype=np.int32), self.matrix.objective[stage])
        h.changeObjectiveOffset(self.matrix.offset[stage])
        h.changeObjectiveSense(
            highspy.ObjSense.kMaximize if STAGE_SENSE[stage] == "max" else highspy.ObjSense.kMinimize)
        _set_time_limit(h, time_limit, mip=h is self.mip and self.integer)

    def relaxation(self, stage: str, time_limit: float | None, *, primal_simplex: bool = False,
                   start_reach: np.ndarray | None = None, interior_point: bool = False,
                   presolve: bool = False) -> StageResult:
        """The stage's LP relaxation: its optimum is a proven bound on the stage. ``primal_simplex``:
        solve it by primal rather than dual simplex, from the start the caller knows is feasible;
        past PRIMAL_PIVOTS_PER_ROW pivots a row, by interior point (with crossover, so that the
        next solves start from its basis); straight by interior point once primal simplex has
        stalled on this model (``primal_stalled``). ``start_reach``: with ``primal_simplex``, whether
        a plan at hand reaches each demand row (same-day rows, then next-day rows), for the basis
        an LP solved from scratch starts from (:meth:`_set_start_basis`). ``interior_point``:
        straight by interior point, as after a stall: the caller expects one. ``presolve``: by
        interior point, after HiGHS's presolve (an LP solved once, whose basis no later solve
        starts from)."""
        self._set_stage(self.lp, stage, time_limit)
        seconds = 0.0
        by_interior_point = interior_point or presolve or (primal_simplex and self.primal_stalled)
        if primal_simplex and not by_interior_point and start_reach is not None and self.lp_from_scratch:
            self._set_start_basis(start_reach)
        if not by_interior_point:
            self.lp.setOptionValue("simplex_strategy", 4 if primal_simplex else 1)
            pivots = int(PRIMAL_PIVOTS_PER_ROW * self.lp.getNumRow()) if primal_simplex else _NO_ITERATION_LIMIT
            self.lp.setOptionValue("simplex_iteration_limit", pivots)
            seconds = _run_guarded(self.lp, time_limit)
            self.lp.setOptionValue("simplex_iteration_limit", _NO_ITERATION_LIMIT)
            by_interior_point = self.lp.getModelStatus() == highspy.HighsModelStatus.kIterationLimit
            self.primal_stalled |= by_interior_point
        if by_interior_point:
            left = None if time_limit is None else time_limit - seconds
            _set_time_limit(self.lp, left, mip=False)
            self.lp.setOptionValue("solver", "ipm")
            _, standing = self.lp.getOptionValue("presolve")
            if presolve:
                self.lp.setOptionValue("presolve", "on")
            try:
                seconds += _run_guarded(self.lp, left)
            finally:
                self.lp.setOptionValue("solver", "choose")
                self.lp.setOptionValue("presolve", standing)
        status = _STATUS.get(self.lp.getModelStatus(), ERROR)
        if status != OPTIMAL:
            return StageResult(stage, status, math.nan, math.nan, math.inf, seconds, None)
        value = self.lp.getInfo().objective_function_value
        return StageResult(stage, status, value, value, 0.0, seconds, np.asarray(self.lp.getSolution().col_value))

    def _set_start_basis(self, start_reach: np.ndarray) -> None:
        """Start the LP at the plan that takes nothing, with the reach column (y, z) of each row
        ``start_reach`` says the plan at hand does not reach in the basis, at 0, in place of its
        row's slack. Why: the LP spreads fractions of options over many rows that it reaches only
        in part; from the all-slack basis, primal simplex brings each such row's column in by a
        degenerate pivot, about a pivot a row in all, where a basic column follows the options'
        fractions as they grow. The rows the plan reaches keep their slack: the LP reaches most of
        them in full, and a basic column leaves at 1 by a pivot, on wide reach many times over
        (benchmarks/README.md has both measurements). Only where nothing is fixed yet: at the plan
        that takes nothing, each basic column's value, its options' sum, is 0."""
        m = self.matrix
        if self.option_lower.any() or self.reach_required.size or self.floor_rows:
            return
        columns = m.n_options + np.flatnonzero(~np.asarray(start_reach, dtype=bool))
        rows = m.first_reach_row + columns - m.n_options
        column_status = np.full(self.lp.getNumCol(), highspy.HighsBasisStatus.kLower)
        row_status = np.full(self.lp.getNumRow(), highspy.HighsBasisStatus.kBasic)
        column_status[columns] = highspy.HighsBasisStatus.kBasic
        row_status[rows] = highspy.HighsBasisStatus.kUpper
        basis = self.lp.getBasis()
        basis.col_status, basis.row_status, basis.valid = list(column_status), list(row_status), True
        self.lp.setBasis(basis)

    def solve(self, stage: str, time_limit: float | None, start: np.ndarray | None = None,
              gap: float | None = None, stop_when: Callable[[float, float, int], bool] | None = None,
              restarts: bool | None = None, refuted: Callable[[np.ndarray], bool] | None = None,
              root_seconds: float = 0.0) -> StageResult:
        """Solve the stage's MIP to relative ``gap`` (default: the requested one). ``start``: a
        feasible column vector; ``stop_when(best, bound, nodes)``: asked as the search goes, with
        its best objective, its bound and the branch-and-bound nodes done so far (0 in the root),
        whether to stop now (status TIME_LIMIT, its plan and bound kept); ``restarts``: whether
        HiGHS may restart (default: by ``RESTART_ROWS``); ``root_seconds``: how long its root LP
        is expected to take, which a time limit must leave room for (:class:`_Checks`).

        ``refuted(options)``: whether a plan (bool per option) surely breaks a constraint,
        checked exactly. HiGHS keeps rows to its tolerance, so the plan it proves optimal may be
        over the budget (or under a floor) by a fraction of a cent (or of a person); such a plan
        is excluded by a row of its own, ``Σ_{o in plan} (1 - x_o) + Σ_{o not in plan} x_o >= 1``,
        and the MIP solved again, at most REFUSED_PLANS times. The bound that ends the loop holds
        for every plan that meets the constraints: the plans excluded meet none. The rows are
        removed before returning."""
        h = self.mip
        began = time.perf_counter()
        h.setOptionValue("mip_rel_gap", self.options.mip_gap if gap is None else gap)
        if "mip_allow_restart" not in self.options.highs_options:
            h.setOptionValue("mip_allow_restart", h.getNumRow() <= RESTART_ROWS if restarts is None else restarts)
        rows = h.getNumRow()
        try:
            for excluded in range(REFUSED_PLANS + 1):
                left = None if time_limit is None else time_limit - (time.perf_counter() - began)
                if excluded and left is not None and left <= 0:
                    break
                self._set_stage(h, stage, left)
                result = self._mip_result(stage, left, start, gap, stop_when, root_seconds)
                if (refuted is None or result.status != OPTIMAL or result.values is None
                        or excluded == REFUSED_PLANS):
                    break
                plan = np.round(result.values[:self.matrix.n_options]).astype(bool)
                if not refuted(plan):
                    break
                columns = np.arange(self.matrix.n_options, dtype=np.int32)
                h.addRow(1.0 - plan.sum(), highspy.kHighsInf, columns.size, columns, np.where(plan, -1.0, 1.0))
        finally:
            if h.getNumRow() > rows:
                h.deleteRows(h.getNumRow() - rows, np.arange(rows, h.getNumRow(), dtype=np.int32))
        return replace(result, seconds=time.perf_counter() - began)

    def _mip_result(self, stage: str, time_limit: float | None, start: np.ndarray | None, gap: float | None,
                    stop_when: Callable[[float, float, int], bool] | None, root_seconds: float) -> StageResult:
        """One run of the MIP as set (:func:`run_mip`), read back as a StageResult."""
        h = self.mip
        seconds, consistent = run_mip(h, time_limit, self.matrix.objective[stage], self.matrix.offset[stage],
                                      start=start, stop_when=stop_when, integer=self.integer,
                                      root_seconds=root_seconds)
        status = _STATUS.get(h.getModelStatus(), ERROR)
        info = h.getInfo()
        has_solution = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
        values = np.asarray(h.getSolution().col_value) if has_solution else None
        objective = info.objective_function_value if has_solution else math.nan
        bound = info.mip_dual_bound
        if not consistent:
            # HiGHS's status and bound are not to be trusted, and were not checked again for lack
            # of time (or said the same again): its plan may still serve, the caller checks it exactly.
            objective = math.nan if values is None else float(values @ self.matrix.objective[stage]
                                                              + self.matrix.offset[stage])
            return StageResult(stage, ERROR if time_limit is None else TIME_LIMIT, objective, math.inf, math.inf,
                               seconds, values)
        if not self.integer:
            # Nothing integer (the floor-scale model once every option is decided): HiGHS solved
            # an LP, whose optimum is the bound, and reports no MIP bound (0, even when a time
            # limit stopped the LP short of its optimum: then there is none).
            no_bound = math.inf if STAGE_SENSE[stage] == "max" else -math.inf
            bound = objective if status == OPTIMAL and has_solution else no_bound
        elif status == OPTIMAL and has_solution and not math.isfinite(bound):
            # Optimal with no bound reported (a MIP presolve solved whole): HiGHS's claim is that
            # the plan is within the gap it was asked for, so that is the bound it proves.
            asked = self.options.mip_gap if gap is None else gap
            bound = objective + (1.0 if STAGE_SENSE[stage] == "max" else -1.0) * asked * abs(objective)
        return StageResult(stage, status, objective, bound, relative_gap(objective, bound), seconds, values)


def run_mip(h: highspy.Highs, time_limit: float | None, objective: np.ndarray, offset: float, *,
            start: np.ndarray | None = None,
            stop_when: Callable[[float, float, int], bool] | None = None, integer: bool = True,
            root_seconds: float = 0.0) -> tuple[float, bool]:
    """Run the MIP loaded in ``h`` (the stage's ``objective`` vector and ``offset`` set in it),
    from the feasible column vector ``start`` if given (:func:`_run_guarded`), and once more
    without presolve when HiGHS's answer may be wrong: ``Infeasible``, a solve error (HiGHS 1.16
    gives one when the solution its presolve found overruns a row by its tolerance once restored:
    a budget a cent below a plan's cost, ``tests/data/money/cent-over``), or a solution whose
    objective is not the one HiGHS reports for it. HiGHS 1.16's MIP presolve does both of the last on a
    small phased capacitated MIP (``tests/data/highs-presolve``): ``Infeasible`` without a start,
    and with the optimal plan as one ``Optimal`` at an objective and bound above what that plan
    is worth, a bound above the optimum that in a minimizing stage would be a broken promise. A
    MIP proven infeasible is proven twice, to be sure. ``integer``: whether HiGHS runs ``h`` as a
    MIP (some column integer), whose time limit is the run's own (:func:`_set_time_limit`);
    ``root_seconds``: as :func:`_run_guarded` takes it. Returns the wall seconds and whether the
    answer now stands (False: the time limit left no second run,
    or it contradicts itself too)."""
    def set_start() -> None:
        if start is not None:
            solution = highspy.HighsSolution()
            solution.col_value = list(map(float, start))
            solution.value_valid = True
            h.setSolution(solution)

    set_start()
    seconds = _run_guarded(h, time_limit, stop_when, root_seconds=root_seconds)
    doubtful = h.getModelStatus() in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kSolveError)
    misreports = _misreports(h, objective, offset)
    _, presolve = h.getOptionValue("presolve")
    if not (doubtful or misreports) or presolve == "off":
        return seconds, not misreports
    left = None if time_limit is None else time_limit - seconds
    if left is not None and left <= 0:
        return seconds, False
    h.clearSolver()
    h.setOptionValue("presolve", "off")
    _set_time_limit(h, left, mip=integer)
    set_start()
    try:
        seconds += _run_guarded(h, left, stop_when, root_seconds=root_seconds)
    finally:
        h.setOptionValue("presolve", presolve)
    return seconds, not _misreports(h, objective, offset)


def _misreports(h: highspy.Highs, objective: np.ndarray, offset: float) -> bool:
    """Whether HiGHS reports its MIP solution at an objective other than the one recomputed from
    the solution's columns (beyond rounding: a millionth of it)."""
    info = h.getInfo()
    if info.primal_solution_status != highspy.SolutionStatus.kSolutionStatusFeasible:
        return False
    recomputed = float(np.asarray(h.getSolution().col_value) @ objective) + offset
    return abs(recomputed - info.objective_function_value) > 1e-6 * max(1.0, abs(recomputed))


def _set_time_limit(h: highspy.Highs, time_limit: float | None, *, mip: bool) -> None:
    """Set ``h`` to stop ``time_limit`` seconds into its next run, a MIP's (``mip``) or an LP's.
    HiGHS 1.16 measures an LP's time_limit against all the time this Highs object has ever run,
    so an LP's limit is set that far past what the object has already spent; its MIP solver keeps
    a clock of its own, started with the run, so a MIP's limit is the run's own. Given the LP's
    offset, a MIP's own steps (above all its root LP, where a cancel from outside goes unheard)
    ran as far past the limit as the object's earlier runs had taken (benchmarks/README.md, "A
    MIP's time limit is its run's own")."""
    if time_limit is None:
        h.setOptionValue("time_limit", math.inf)
    else:
        h.setOptionValue("time_limit", max(time_limit, 0.0) + (0.0 if mip else h.getRunTime()))


class _Checks:
    """What HiGHS's MIP interrupt checks do for a run: ask ``stop_when(best, bound, nodes)``
    whether to stop, and, under a time limit, stop at the last check before it. HiGHS looks at
    its clock only at these checks, and some steps between two of them take seconds (a root cut
    round with thousands of cuts in the pool, measured at 7.4 s on a national network): a limit
    that falls inside one is overrun by what is left of it, and a cancel from outside waits for
    it too. So the run stops at a check from which the longest wait between checks seen so far
    would end past the limit: at most that much sooner than needed, rather than that much later.

    The wait for the first check is HiGHS's presolve, which a run does once, not a wait between
    checks: counted as one, a presolve of 15 s stopped a national search 15 s before its limit.
    Until the run has a bound, that is until its root LP is solved, ``first_step`` (the caller's
    estimate of that LP, which hears no cancel) stands for a wait not yet seen."""

    def __init__(self, deadline: float | None, stop_when: Callable[[float, float, int], bool] | None,
                 clock: Callable[[], float] = time.perf_counter, *, first_step: float = 0.0):
        self.deadline, self.stop_when, self.clock = deadline, stop_when, clock
        self.last: float | None = None
        self.longest = 0.0  # of the waits between checks seen
        self.first_step = first_step

    def __call__(self, best: float, bound: float, nodes: int) -> bool:
        now = self.clock()
        if self.last is not None:
            self.longest = max(self.longest, now - self.last)
        self.last = now
        if math.isfinite(bound):
            self.first_step = 0.0  # the root LP is solved
        if self.deadline is not None and now + max(self.longest, self.first_step) >= self.deadline:
            return True
        return self.stop_when is not None and self.stop_when(best, bound, nodes)


@contextmanager
def _asking(h: highspy.Highs, checks: _Checks):
    """While in it, HiGHS's MIP interrupt checks ask ``checks`` whether to stop (when there is
    anything to ask: an untimed run without ``stop_when`` goes unwatched)."""
    if checks.deadline is None and checks.stop_when is None:
        yield
        return

    def asked(event) -> None:
        data = event.data_out
        if checks(data.mip_primal_bound, data.mip_dual_bound, data.mip_node_count):
            event.interrupt()

    h.cbMipInterrupt.subscribe(asked)
    try:
        yield
    finally:
        h.cbMipInterrupt.unsubscribe(asked)


@contextmanager
def _interrupt_cleared(h: highspy.Highs):
    """While in it, the first interrupt check of the run clears HiGHS's interrupt request. HiGHS
    keeps the request its callbacks last made from one run to the next, and highspy's own
    handler (``cancelSolve``) only ever sets it, so after a run stopped early the next run on the
    same Highs stopped at its first check, its root LP unsolved and no bound (benchmarks/README.md,
    "A stopped run no longer stops the next"). A cancel asked for at that first check is asked
    again, and heard, at the next."""
    cleared = False

    def clear(event) -> None:
        nonlocal cleared
        if not cleared:
            cleared = True
            event.interrupt(False)

    kinds = (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt)
    for kind in kinds:
        kind.subscribe(clear)
    try:
        yield
    finally:
        for kind in kinds:
            kind.unsubscribe(clear)


def _run_guarded(h: highspy.Highs, time_limit: float | None,
                 stop_when: Callable[[float, float, int], bool] | None = None, *, root_seconds: float = 0.0) -> float:
    """Run HiGHS, cancelling it ourselves if it overruns its own time limit (HiGHS time limits
    are not always honoured inside long LP or presolve steps), or when ``stop_when(best, bound,
    nodes)`` says so, or when the time limit would fall before its next check (both asked at
    HiGHS's own interrupt checks of a MIP; see :class:`_Checks`, whose ``first_step`` is
    ``root_seconds``, a MIP's root LP as the caller expects it). Returns wall seconds.

    HiGHS runs in a thread of its own while this one waits in short steps, so that Ctrl-C is seen
    at once. On any exception here (Ctrl-C) the solve is cancelled and its thread waited for and
    joined before the exception goes on: a process that exits with the HiGHS thread still
    running is aborted by the C++ runtime."""
    began = time.perf_counter()
    deadline = None if time_limit is None else began + max(time_limit, 0.0)
    guard = None if deadline is None else deadline + GUARD_GRACE_SECONDS
    with _interrupt_cleared(h), _asking(h, _Checks(deadline, stop_when, first_step=root_seconds)):
        thread = h.startSolve()
        try:
            while not h.wait(WAIT_STEP_SECONDS)[0]:
                if guard is not None and time.perf_counter() >= guard:
                    h.cancelSolve()
        except BaseException:
            _stop(h, thread)
            raise
        thread.join()
    return time.perf_counter() - began


def _stop(h: highspy.Highs, thread) -> None:
    """Cancel a running solve and wait until its thread has ended, whatever else arrives; or,
    where the process has a policy for a cancel HiGHS does not hear, until that acts (without
    one, a warning says why the wait is long)."""
    cancelled, warned = time.perf_counter(), False
    # Ctrl-C is ignored while the run is waited for: the solve is already being stopped, and a
    # Ctrl-C inside Python 3.11's Thread.join takes the thread for ended while it runs (the wait
    # then ended, and the process with HiGHS's thread still running, which aborts it).
    with ctrl_c_ignored():
        while thread.is_alive():
            try:
                h.cancelSolve()
                h.wait(WAIT_STEP_SECONDS)
                thread.join(WAIT_STEP_SECONDS)
                if thread.is_alive() and time.perf_counter() - cancelled >= CANCEL_PATIENCE_SECONDS:
                    if _unheard_cancel_policies:
                        _unheard_cancel_policies[-1]()
                    elif not warned:
                        warned = True
                        warnings.warn("HiGHS is in its presolve or a MIP's root LP, where it hears no cancel: "
                                      "waiting for it to stop (another Ctrl-C does not stop it sooner; restarting "
                                      "the kernel or ending the process does)", RuntimeWarning, stacklevel=2)
            except KeyboardInterrupt:  # Ctrl-C again, where this thread cannot ignore it
                continue


@contextmanager
def ctrl_c_ignored():
    """While in it, Ctrl-C is ignored, where this thread may set its handler (only the main thread
    handles signals) and can put back the one it had (None: one not set from Python)."""
    before = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or before is None:
        yield
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


@contextmanager
def when_a_cancel_goes_unheard(end: Callable[[], object]):
    """While in it, a run stopped by an exception (Ctrl-C) that HiGHS has not ended within
    CANCEL_PATIENCE_SECONDS calls ``end``, which must end the process (``os._exit``): the run's
    thread can be neither stopped nor left behind, since the code the exception unwinds would
    change the Highs object under it. Outside it, the run is waited for: a program that goes on
    after Ctrl-C (a notebook) gets its HiGHS back."""
    _unheard_cancel_policies.append(end)
    try:
        yield
    finally:
        _unheard_cancel_policies.remove(end)


@contextmanager
def _quiet_stdout(quiet: bool):
    """Silence C-level stdout: HiGHS prints its banner when a solver object is created."""
    if not quiet or sys.stdout is None:  # None: a process started without stdout has none to keep clean
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


def bound_margin(bound: float) -> float:
    """How far an LP bound (and a bound drawn from its duals) may be off by the solver's
    tolerances: a test that moves it below a floor by less decides nothing."""
    return max(1.0, 1e-7 * abs(bound))


def relative_gap(objective: float, bound: float) -> float:
    """|bound - objective| / |objective|, as HiGHS defines it; 0 when both agree."""
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

    from ruralreach.model.formulation import build_model

    began = time.perf_counter()
    model = build_model(problem, stage, floors)
    built = time.perf_counter()
    solver = PyomoHighs()
    results = solver.solve(model, rel_gap=options.mip_gap, threads=options.threads, time_limit=options.time_limit,
                           solver_options={"random_seed": options.seed, **options.highs_options})
    solved = time.perf_counter()
    chosen = np.array([round(model.x[o].value or 0) == 1 for o in model.O], dtype=bool)
    return PyomoStage(float(results.incumbent_objective), chosen, built - began, solved - built)
