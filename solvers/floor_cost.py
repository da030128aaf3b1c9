r"""What meeting each equity floor costs at least: :math:`L_h` of the model's "floor cost" rows
(``model/formulation.py``).

For each group h whose floor needs people, a small MIP over the options :math:`O_h` that reach
the group's rows: :math:`\min \sum_o c_o x_o` such that :math:`E_h + \sum_{i \in I_h} e_i y_i
\ge F_h`, :math:`y_i \le \sum_o a_{io} x_o` (a row with a supplier open whatever the plan is
free, and capacities are left out), at most one option per site. It leaves out the budget, the
other floors, the sites that must act and every capacity, so it is a relaxation of what any plan
meeting the floor does on :math:`O_h`: its proven lower bound is a valid :math:`L_h`.

The same kind of small MIP prices a set cover for the largest share of the floors one plan meets
(``solvers/lexicographic.py``, ``max_floor_scale``): what it costs at least to take an option
reaching each group nobody in it is served without the plan.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager

import highspy
import numpy as np
from scipy import sparse

from ruralreach.model.reduce import CoveringProblem

from .highs import SolveOptions, _quiet_stdout, _run_guarded

# Each group's MIP stops after this many branch-and-bound nodes, or this many seconds: what it
# has proven by then is still a lower bound, and most groups are solved at the root. Nodes first,
# so that the bound (and with it the plan) does not depend on the machine's speed.
FLOOR_COST_NODES = 200
FLOOR_COST_SECONDS = 2.0
# At most this many groups, those that need the most people first: with a floor per county
# (thousands of groups) each small MIP's set-up would add up to more than the rows can save.
FLOOR_COST_GROUPS = 200
# Under a time limit, pricing takes at most this share of the time the solve has: the rows it
# yields speed up the search, which still needs most of the time. Groups not priced in time get no
# row (a least cost of 0 holds for any group).
FLOOR_COST_TIME_SHARE = 0.25
# The bound is taken this far below what HiGHS proves (relative, and at least a tenth of a money
# unit): HiGHS proves it to its own tolerances, and a floor-cost row above the true least cost
# would cut off plans.
_MARGIN = 1e-6


def least_floor_costs(problem: CoveringProblem, options: SolveOptions, seconds: float | None = None) -> np.ndarray:
    """USD every plan meeting group h's floor spends on the options that reach the group's rows,
    at least (a proven lower bound; 0 where the floor is met whatever the plan, where no plan
    meets it, where HiGHS proved nothing, past the FLOOR_COST_GROUPS groups that need the most
    people, or past the ``seconds`` the pricing may take, None for no limit)."""
    ends = None if seconds is None else time.perf_counter() + seconds
    costs = np.zeros(problem.n_groups)
    need = problem.equity_need
    if not np.any(need > 0):
        return costs
    reach = problem.same_day_reach().tocsr()
    given = problem.given_supply_rows()
    unit_cost = problem.option_cost / problem.money_unit
    needing = np.flatnonzero(need > 0)
    for group in needing[np.argsort(-need[needing], kind="stable")][:FLOOR_COST_GROUPS]:
        left = FLOOR_COST_SECONDS if ends is None else min(FLOOR_COST_SECONDS, ends - time.perf_counter())
        if left <= 0:
            break
        rows = np.flatnonzero((problem.same_day_group == group) & ~given)
        free_people = problem.same_day_people[(problem.same_day_group == group) & given].sum()
        cover = reach[rows]
        group_options = np.unique(cover.indices)
        bound = _least_cost(cover[:, group_options].tocsr(), problem.same_day_people[rows],
                            need[group] - free_people, unit_cost[group_options],
                            problem.option_site[group_options], options, left)
        if math.isfinite(bound):  # else no plan meets the floor: the solve says so, not this row
            costs[group] = _below(bound) * problem.money_unit
    return costs


def least_cost_to_reach(groups: sparse.csr_matrix, problem: CoveringProblem, options: SolveOptions) -> float:
    """USD every plan spends at least to take an option in each row of ``groups`` (rows x
    options; :func:`ruralreach.model.formulation.reach_every_group_rows`): a proven lower bound
    of the small set cover, one option a site at most, the budgets left out; within
    ``options.time_limit``, if any."""
    unit_cost = problem.option_cost / problem.money_unit
    seconds = FLOOR_COST_SECONDS if options.time_limit is None else min(FLOOR_COST_SECONDS, options.time_limit)
    with _mip(unit_cost, problem.option_site, options, seconds) as h:
        rows = groups.tocsr().astype(float)
        h.addRows(rows.shape[0], np.ones(rows.shape[0]), np.full(rows.shape[0], highspy.kHighsInf), rows.nnz,
                  rows.indptr[:-1].astype(np.int32), rows.indices.astype(np.int32), rows.data)
    return _below(_proven_bound(h)) * problem.money_unit


def _below(bound: float) -> float:
    """The bound taken _MARGIN below what HiGHS proves."""
    return max(0.0, bound - _MARGIN * max(abs(bound), 1e5))


def _least_cost(cover: sparse.csr_matrix, people: np.ndarray, need: float, cost: np.ndarray, site: np.ndarray,
                options: SolveOptions, seconds: float) -> float:
    """The MIP's proven lower bound on the least cost (money units) of reaching ``need`` people
    of the rows, each reached by the options of its row of ``cover`` (:func:`_proven_bound`)."""
    if need <= 0:
        return 0.0
    n_x, n_y = cover.shape[1], cover.shape[0]
    with _mip(cost, site, options, seconds) as h:
        h.addVars(n_y, np.zeros(n_y), np.ones(n_y))
        reached = sparse.hstack([-cover, sparse.identity(n_y)]).tocsr().astype(float)  # y_i <= sum of its options
        h.addRows(n_y, np.full(n_y, -highspy.kHighsInf), np.zeros(n_y), reached.nnz,
                  reached.indptr[:-1].astype(np.int32), reached.indices.astype(np.int32), reached.data)
        h.addRow(need, highspy.kHighsInf, n_y, (n_x + np.arange(n_y)).astype(np.int32), people.astype(float))
    return _proven_bound(h)


@contextmanager
def _mip(cost: np.ndarray, site: np.ndarray, options: SolveOptions, seconds: float):
    """A MIP minimizing ``cost`` over binary option columns, at most one option a site; the body
    adds its rows, and the MIP is solved (within FLOOR_COST_NODES and ``seconds``) after it."""
    n_x = len(cost)
    with _quiet_stdout(True):
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", options.threads)
    h.setOptionValue("random_seed", options.seed)
    # HiGHS 1.16's MIP presolve has proven a bound above a MIP's optimum (solvers/highs.py,
    # run_mip); here such a bound would cut off plans, so there is none.
    h.setOptionValue("presolve", "off")
    h.setOptionValue("mip_max_nodes", FLOOR_COST_NODES)
    h.setOptionValue("time_limit", seconds)
    h.addVars(n_x, np.zeros(n_x), np.ones(n_x))
    h.changeColsCost(n_x, np.arange(n_x, dtype=np.int32), cost.astype(float))
    h.changeColsIntegrality(n_x, np.arange(n_x, dtype=np.int32), np.full(n_x, highspy.HighsVarType.kInteger))
    yield h
    for members in np.split(np.argsort(site, kind="stable"), np.flatnonzero(np.diff(np.sort(site))) + 1):
        if members.size > 1:
            h.addRow(-highspy.kHighsInf, 1.0, members.size, members.astype(np.int32), np.ones(members.size))
    _run_guarded(h, seconds)


def _proven_bound(h: highspy.Highs) -> float:
    """What the MIP proved of its least cost: infinite when no plan meets its rows, 0 when it
    proved nothing."""
    if h.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        return math.inf
    info = h.getInfo()
    bound = info.mip_dual_bound
    if not math.isfinite(bound):
        return 0.0
    if info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible:
        bound = min(bound, info.objective_function_value)  # a bound above a plan in hand is none
    return max(bound, 0.0)
