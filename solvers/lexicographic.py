"""The three lexicographic stages: most same-day population, then most next-day population, then
least cost, each stage keeping the one before at the value it reached.

Each stage runs the cheapest proof first (measured on the national instance, where the LP bound
sits within 1e-4 of the optimum and the work is in finding the integer plan):

0. a people stage whose best plan counts everyone any plan can reach is proven by counting;
1. the LP relaxation gives a proven bound;
2. a MIP over the options where the LP and the best plan so far disagree, with the options where
   they agree fixed (the "RINS" neighbourhood: small, and never empty of plans, since the best
   plan lies in it) usually finds a plan within the gap in about a second;
3. only when that plan is not yet proven within the requested gap are the options the LP proves
   cannot change decided, and HiGHS solves the MIP that is left, warm-started from the best plan,
   over the plans that could beat the best one by more than the gap (the options the LP proves
   cannot flip in any of them fixed for this search: :meth:`_Stage.search_above`).

Options decided stay decided for the later stages (each keeps the stages before at their values),
and the problem shrinks with them (:func:`model.reduce.restrict`: rows that differed only in
decided options merge). On the national instance the first stage decides about two thirds of the
options, and the later MIPs have a third of the rows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from ruralreach.model.formulation import (FLOOR_SCALE, STAGE_SENSE, STAGES, budget_room, floor_cost_rows,
                                          floor_scale_model, floor_scale_shortfall_rows, floor_shortfalls, matrix_model,
                                          reach_every_group_rows,
                                          shortfall_coefficients, stated_supply)
from ruralreach.model.reduce import (CoveringProblem, Restriction, restrict, rows_the_floors_force,
                                     rows_the_floors_reach)

from .floor_cost import least_cost_to_reach
from .greedy import greedy_choice, greedy_floor_share, without_redundant
from .highs import (ERROR, INFEASIBLE, OPTIMAL, TIME_LIMIT, HighsModel, LpOptimum, SolveOptions, StageResult,
                    bound_margin, relative_gap)
from .probing import decided_by_local_probes

_WHOLE = 1e-6  # an LP value this close to 0 or 1 counts as whole
# The first stage is solved to this share of the requested gap. Its value is the floor of every
# later stage: a floor closer to the optimum leaves fewer plans for them to search and lets the LP
# and the probes decide more options, but the search to it is longer. Of a tenth, a fifth, a third,
# a half and all of the gap, a fifth was the fastest on the phased program, whose next-day stage is
# the most sensitive to the floor (erratically: each share ended the first stage on another plan,
# and the later stages' time followed no order in the share), and as fast as a third on the
# family's networks and `us-2026` (benchmarks/README.md, "The first stage's share of the gap,
# re-decided with the probes", and "A fifth").
FIRST_STAGE_GAP_SHARE = 0.2
# The closer search goes past its root only as far as the requested gap: on some networks the
# tree to the closer gap is large and its nodes dear, while the root alone (its cuts) reaches the
# requested gap. So it stops once its root is done and the stage is within the requested gap (a
# rule on nodes is deterministic, where one on time is not); where the root falls short, the same
# search goes on into the tree until it is within it, rather than a second search presolving and
# solving the root again (:meth:`_Stage.search_closer`).
# Under a time limit, the first stage's closer search (beyond the requested gap) leaves each later
# stage time for this many of its own LP solves (keeping the floor, its bound, its neighbourhood
# search), and never takes less than half the time remaining. It yields that time only once the
# stage is within the requested gap: a search that starts short of it runs on, and is stopped as
# soon as it gets there past its share. A stage short of the requested gap keeps all the time
# but LATER_STAGE_BOUND_LPS (below): the stages are in order of importance. No search starts with
# less than one LP's time left (for a neighbourhood, the LP's time times its share of the
# nonzeros): a MIP needs more than that for its presolve and root LP, and HiGHS does not always
# stop inside them when told to.
LATER_STAGE_LPS = 3
# Under a time limit, a later stage's search short of the requested gap still leaves each stage
# after it time for this many of its LP solves (the floor's warm re-solve, then the stage's own
# LP), at most a quarter of what is left: the last stage then reports its LP's bound instead of
# none. The first stage holds nothing back this way: its LP, solved from scratch, is no measure
# of the warm re-solves after it, and its search matters most.
LATER_STAGE_BOUND_LPS = 2
# A later stage searches to its target (:meth:`_Stage.search_above`) only when the MIP left has at
# most this many rows. Where it was small (`us-2026` and the networks nearest it, about 3,400 rows)
# the target search cut the later stages by a fifth to a half; where it was large (populous250,
# the phased program, the equity floors: 12,000 rows and more) HiGHS's path through the smaller
# model was slower as often as not, once by a proof lost at a time limit (benchmarks/README.md).
# Set between the two on these instances, as RESTART_ROWS was, not on the ones that will judge it.
TARGET_ROWS = 5000
# The rows the floors make reached (:func:`_reached_rows`) are made constants only where they are
# at least this share of the problem's rows: where a budget reaches nearly everyone they are
# around half (a later stage that is a set cover, proved much faster without them), at the usual
# budgets from none to a few percent, where taking them out changes nothing but HiGHS's path
# (on `us-2026`, 4 rows of 3,100 made its cost stage 1.0 s -> 1.8 s; benchmarks/README.md).
REACHED_SHARE = 0.1
# A kept stage's options (and the first stage's, before its search: :meth:`_Stage.run`) are
# probed (:mod:`solvers.probing`) only where the model has more than PROBE_ROWS rows: the national
# networks (about 12,000 rows as `us-2026`'s first stage is kept), not the small regional ones.
# The probes take a few milliseconds an option, which the searches after them give back on the
# national networks measured (benchmarks/README.md, "Local probes" and "Probes in the first
# stage"). Under a time limit the probes take at most PROBE_SHARE of the time left. The probes,
# made likeliest first, stop once PROBE_PATIENCE in a row have decided nothing. Where they decide,
# they do so to nearly the last option; where they decide nothing (the capacitated network, the
# peers' p = 200 problem), they stop at once; where the first stage's stop deciding (the phased
# program with floors, after a fifth of their time), its search was the shorter for it ("Probes
# that stop by count"). A kept stage's probes stop the same way: on the seven national solves
# measured none of them went more than 44 probes without a decision before its last one, while
# on a network of 19,740 sites whose same-day reach is 120 minutes they tried 8,908 options and
# decided one ("A kept stage's probes stop by count too"). A count, not a clock, so that a solve
# without a time limit takes the same path, and writes the same plan, every time.
PROBE_ROWS = 5000
PROBE_SHARE = 0.25
PROBE_PATIENCE = 100
# The first stage's own options are probed only where its reduced costs leave at least this many
# free: with fewer, the search the probes would shorten is short anyway, and they cost more than
# they save (the small budgets; benchmarks/README.md, "The first stage's probes at small
# budgets"). Every solve measured where they lost had at most 454 options to probe, every one
# where they paid at least 995; set between the two on these instances, as RESTART_ROWS was, not
# on the ones that will judge it.
FIRST_STAGE_PROBE_OPTIONS = 600
# A search HiGHS calls optimal that leaves its stage unproven by ruralreach's exact accounting is
# searched again with HiGHS's feasibility tolerance at FINER_INTEGRALITY (:meth:`_Stage.search_finer`):
# HiGHS proved its answer for columns and rows within its tolerance (an option at 0.9999992, a
# budget overrun by a fraction of a cent, a capacity's sliver of a zone below it), just off the
# plans the exact checks accept. Finer only there: HiGHS is made for its own tolerances (see
# solvers/highs.py).
FINER_INTEGRALITY = 1e-9
# The floorless first LP starts from the start plan's basis (HighsModel._set_start_basis) only
# where that plan reaches at most this share of the same-day rows. There the LP reaches most rows
# in part or not at all, and primal simplex took a tenth to three fifths of its time from that
# basis; where the plan reaches most rows it took about as long either way, ending at another
# vertex of the same optimum, which moved the later stages both ways (`us-2026` at $4B, where the
# plan reaches 84% of the rows: 8.2 s -> 9.5 s; benchmarks/README.md).
START_BASIS_SHARE = 0.6
# Where the start plan reaches at least this share of the same-day rows, the floorless first LP goes
# straight to interior point. There the LP reaches nearly every row, and primal simplex from the
# plan that takes nothing ran past its pivot cap (PRIMAL_PIVOTS_PER_ROW in solvers/highs.py) on
# 14 of the 15 such LPs of the family, before the interior point that ended each of them at the
# same basis it reaches alone: the pivots were all lost (up to 54 s against 15 s for interior point
# alone; benchmarks/README.md).
INTERIOR_POINT_SHARE = 0.95
# With at least this many phases the floorless first LP goes straight to interior point too,
# whatever the start plan reaches. Each option has a column per phase, every one of them in the
# reach rows of its phase and of each phase after. On four of seven three-phase national networks
# measured the path through primal simplex took longer than interior point alone, on three of
# them by a minute or more: where logged, primal simplex ran to its pivot cap before the interior
# point that ends the LP where it ends alone, and on the slowest neither simplex method, from the
# plan that takes nothing or from the start plan's vertex, came near the optimum. Where primal
# simplex was quicker it won by less than the stalls lost (benchmarks/README.md, "The phased first
# LP"); with two phases it was quicker on every network measured.
INTERIOR_POINT_PHASES = 3
# The "floor shortfall" rows (model/formulation.py) are drawn from the first LP, for each set T of
# the options it takes at least each of SHORTFALL_THRESHOLDS, and the one per group the LP breaks
# most (its left side below 1 - SHORTFALL_VIOLATION) is added; then the LP is solved again, for at
# most SHORTFALL_ROUNDS rounds. On `us-2026` with state floors of 0.8, where Wyoming's floor binds,
# the first round took the LP from 20,539 people above the best plan to 9,786, and two more to
# 9,451; the sets below a whole option's worth found the last two (benchmarks/README.md).
SHORTFALL_THRESHOLDS = (1 - _WHOLE, 0.9, 0.75, 0.5, 0.3)
SHORTFALL_VIOLATION = 1e-4
SHORTFALL_ROUNDS = 5
# What the floor-scale model's shortfall rows add to its LP's share, for the share no plan passes:
# the LP's optimum is within its tolerances of the true one.
SCALED_SHORTFALL_MARGIN = 1e-7
# While a search runs, whoever watches the solve is told where its stage stands at most this often,
# at HiGHS's interrupt checks: a search was silent until it ended, for minutes where its root is
# dear (populous140 at 90/180 and $7B: 222 s of the first stage's closer search).
PROGRESS_SECONDS = 10.0


@dataclass(frozen=True)
class Solution:
    """The chosen options of a CoveringProblem and how each stage went."""

    status: str
    chosen: np.ndarray  # bool per option
    stages: tuple[StageResult, ...]
    seconds: float
    found: bool = True  # False when no plan meets every constraint: ``chosen`` is then empty


@dataclass(frozen=True)
class Progress:
    """A step of a stage just ended, for whoever watches a long solve: the stage's best value and
    proven bound so far (people; cost in USD; NaN where there is none yet), the gap
    between them, and the seconds since the solve began. ``step`` is "bound" (the LP relaxation),
    "plan" (a search ended) or the stage's final status ("optimal", "time_limit", ...); for the
    largest share of the equity floors (FLOOR_SCALE), "searching" as it starts, then its status.
    Before a later stage's first step, "floor": the stage before it kept as a floor at ``value``
    (people), and the options the LP with that floor and the probes then ``decided``. While a
    search of a stage runs, "searching" every PROGRESS_SECONDS or so: the best plan checked so far,
    the bound counting what the search has proven of the whole stage, and the search's ``nodes``;
    and ``searched``, the search's own best plan where it is better (HiGHS's, to HiGHS's
    tolerances: checked exactly only once the search returns, and then perhaps refused)."""

    stage: str
    step: str
    value: float
    bound: float
    gap: float
    seconds: float
    decided: int | None = None
    nodes: int | None = None
    searched: float | None = None


Watch = Callable[[Progress], None]


def stage_values(problem: CoveringProblem, chosen: np.ndarray) -> dict[str, float]:
    """Each stage's objective for a choice: same-day and next-day people (constants included;
    with capacities, the people served by the best split), and cost in model money units."""
    return {
        "same_day": problem.same_day_fixed + float(problem.same_day_population @ problem.same_day_share(chosen)),
        "next_day": problem.next_day_fixed + float(problem.next_day_population[problem.next_day_reached(chosen)].sum()),
        "cost": problem.spend(chosen) / problem.money_unit,
    }


def counts_everyone(problem: CoveringProblem, stage: str, value: float) -> bool:
    """Whether a people stage's ``value`` counts everyone some plan can reach
    (:meth:`CoveringProblem.reachable_people`), the most it can be; never for cost."""
    return stage != "cost" and value >= problem.reachable_people(stage)


def best_start(problem: CoveringProblem, candidates: list[np.ndarray]) -> np.ndarray | None:
    """The best of some plans in the stages' order (most same-day people, then most next-day,
    then least cost; None: no plans). Ties on same-day people are the rule where a budget reaches
    everyone: there a sweep's plan from the budget before is the cheap one, the greedy plan not."""
    def order(chosen: np.ndarray) -> tuple[float, ...]:
        values = stage_values(problem, chosen)
        return tuple(values[stage] if STAGE_SENSE[stage] == "max" else -values[stage] for stage in STAGES)
    return max(candidates, key=order, default=None)


def carried_cost_bound(problem: CoveringProblem, start: np.ndarray, budget: float, bound: float) -> float | None:
    """The cost bound (USD) that the cost stage proved at a smaller ``budget``, where ``start`` was
    its plan, as a bound of this problem's cost stage (model money units), or None where it need
    not hold. It holds where the problem has a single budget (no phases: a larger phase budget can
    admit a cheaper plan) and ``start`` reaches everyone either people stage can count. Then this
    problem's cost stage asks for the cheapest plan reaching everyone; such a plan within the
    smaller budget kept that stage's floors, so costs at least ``bound``, and one beyond it costs
    more than ``start``, which costs at least ``bound``. Where a budget reaches everyone, a sweep's
    later budgets then need no search of the set cover the cost stage has become."""
    if not (math.isfinite(bound) and budget <= problem.budget and problem.n_phases <= 1 and problem.feasible(start)):
        return None
    values = stage_values(problem, start)
    if not all(counts_everyone(problem, stage, values[stage]) for stage in ("same_day", "next_day")):
        return None
    return bound / problem.money_unit


def full_start(problem: CoveringProblem, chosen: np.ndarray) -> np.ndarray:
    """The column vector (x, y, z, g) of a choice, with every row it reaches marked reached (and
    with capacities, the best split)."""
    service, _ = problem.same_day_service(chosen)
    z = problem.next_day_reached(chosen).astype(float)
    return np.concatenate([chosen.astype(float), service.share, z,
                           stated_supply(problem).pair_shares(service.pair_share)])


def floor_slack(problem: CoveringProblem, stage: str) -> float:
    """How far below a kept value a later plan may fall and still count as keeping it: 0 where
    values are exact sums (of whole people); with capacities (where the same-day value is an
    LP's) the LP's tolerance, a few people in a national total; and with phase weights that make
    the people counted fractions, the rounding a float sum of them can make (n terms: n ulps of
    the total), so that two plans of the same weighted people are not told apart by the order of
    their sums (weights 0.1, 0.2, 0.3 once ended a --mip-gap 0 solve in 'error')."""
    if stage == "cost":
        return 0.0
    people = problem.same_day_population if stage == "same_day" else problem.next_day_population
    fixed = problem.same_day_fixed if stage == "same_day" else problem.next_day_fixed
    total = fixed + float(people.sum())
    if stage == "same_day" and problem.capacitated:
        return 1e-8 * total
    if float(fixed).is_integer() and np.all(people == np.round(people)):
        return 0.0
    return (people.size + 1) * np.finfo(float).eps * total


def overall_status(stages: tuple[StageResult, ...]) -> str:
    statuses = {stage.status for stage in stages}
    for status in (ERROR, INFEASIBLE, TIME_LIMIT):
        if status in statuses:
            return status
    return OPTIMAL


def _improves(stage: str, value: float, incumbent: float) -> bool:
    return value > incumbent if STAGE_SENSE[stage] == "max" else value < incumbent


def _tighter_bound(stage: str, bound: float, new: float) -> float:
    """The tighter of a stage's bound (NaN: none yet) and a new one (a solve stopped early
    reports an infinite bound: no bound at all)."""
    if math.isfinite(new) and (math.isnan(bound) or _improves(stage, bound, new)):
        return new
    return bound


def plan_unit(problem: CoveringProblem, stage: str) -> float:
    """A model unit of the stage's objective in the plan's units: a person, or ``money_unit`` USD."""
    return problem.money_unit if stage == "cost" else 1.0


def _contradicts(stage: str, value: float, bound: float) -> bool:
    """Whether a plan of ``value`` shows ``bound`` false (beyond rounding): a bound HiGHS proved
    for its tolerances, not for the plans (a capacity's sliver of a zone served below them)."""
    if not (math.isfinite(value) and math.isfinite(bound)):
        return False
    return _improves(stage, value, bound) and relative_gap(value, bound) > 0


def _rounded_bound(stage: str, bound: float, problem: CoveringProblem) -> float:
    """Every plan's people are whole multiples of ``people_step`` (whole people, or halves where a
    phase weighs 1.5) and its cost of ``cost_step`` (USD), so a proven bound rounds towards the
    plans: down for people, up for cost."""
    if not math.isfinite(bound):
        return bound
    if stage != "cost":
        step = problem.people_step[stage]
        return math.floor(bound / step + 1e-6) * step if step > 0 else bound
    if problem.cost_step > 0:
        step = problem.cost_step / problem.money_unit
        return math.ceil(bound / step - 1e-6) * step
    return bound


def _proven(stage: str, value: float, bound: float, mip_gap: float, problem: CoveringProblem) -> tuple[bool, float]:
    """Whether ``value`` is within the gap of the (rounded) ``bound``, and the gap."""
    bound = _rounded_bound(stage, bound, problem)
    if not math.isfinite(bound) or not math.isfinite(value):
        return False, math.inf
    gap = relative_gap(value, bound)
    return gap <= mip_gap, gap


class _Search:
    """What the stages share: the problem still open (the whole problem, narrowed as options are
    decided), its loaded model, the best plan in it (None until one is found: with equity floors
    or sites that must act, the greedy start may not be a plan), the floors kept, and the clock."""

    def __init__(self, problem: CoveringProblem, model: HighsModel, chosen: np.ndarray | None, options: SolveOptions,
                 deadline: float | None, watch: Watch | None = None, began: float | None = None):
        self.problem, self.model, self.chosen, self.options, self.deadline = problem, model, chosen, options, deadline
        self.watch = watch
        self.began = time.perf_counter() if began is None else began
        self.floors: dict[str, float] = {}
        self.restrictions: list[Restriction] = []
        # What meeting each equity floor costs at least (USD per group), until the first LP
        # says which of the "floor cost" rows it breaks (:meth:`hold_floor_costs`).
        self.pending_floor_costs: np.ndarray | None = None
        self.pending_shortfalls = True  # until the first LP has drawn its floor shortfall rows
        # Seconds of the last LP solved with no basis to start from: what a search's root costs,
        # since HiGHS solves its MIP's root LP afresh (and a search stopped in it has no bound).
        self.fresh_lp_seconds = 0.0

    @property
    def first_lp(self) -> bool:
        """Whether an LP solved now is the first stage's on the whole problem: no stage kept and no
        option decided yet. The rows drawn from the first LP (floor costs, floor shortfalls) and its
        interior-point rule are for that LP only."""
        return not self.floors and not self.restrictions

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.perf_counter()

    def out_of_time(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def keep(self, stage: str, value: float) -> None:
        """Keep ``stage`` at ``value`` in every later plan. What the LP then proves cannot change
        without losing it is decided (a warm re-solve: the floor only cuts off the LP's optimum)."""
        # At the most people the stage can count, the floor holds every row it counts reached
        # (rows_the_floors_force) and the LP's objective is a constant: what its reduced costs
        # decide is little (29 of 4,750 options on one network) for an LP that, where the stage
        # was proven by counting, starts from nothing (benchmarks/README.md).
        everyone = counts_everyone(self.problem, stage, value)
        floor = value - floor_slack(self.problem, stage)
        self.floors[stage] = floor
        _hold_floors(self.model, self.problem, self.floors)
        decided = 0
        if not everyone and not self.out_of_time() and self.relaxation(stage).status == OPTIMAL:
            decided = self.decide_by_lp(stage, floor, probes=True)
        self.narrow()
        if self.watch is not None:  # the time this takes shows before the next stage's first step
            self.watch(Progress(STAGES[STAGES.index(stage) + 1], "floor", value * plan_unit(self.problem, stage),
                                math.nan, math.nan, time.perf_counter() - self.began, decided))

    def relaxation(self, stage: str) -> StageResult:
        # With no floor (and no equity floor or site that must act), the plan that takes nothing
        # is feasible and primal simplex starts from a feasible basis; otherwise that start is
        # infeasible and dual simplex is the faster from the basis of the LP before. The first LP
        # has none: with equity floors or sites that must act it goes to interior point, which
        # was the faster on `us-2026` with state floors, and on the phased program with them by
        # far (benchmarks/README.md). With capacities, primal simplex crawls through the split's
        # degenerate vertices: in one phase the first LP stays on dual simplex (interior point was
        # no faster), in phases it goes to interior point, the faster there by far. A later search
        # whose root LP (by dual simplex, in HiGHS's MIP) outlasts that estimate stops at the limit.
        problem = self.problem
        starts_feasible = (not self.floors and problem.n_groups == 0 and problem.required_sites.size == 0
                           and not problem.capacitated)
        start_reach = None
        interior_point = (not starts_feasible and (not problem.capacitated or problem.n_phases > 1)
                          and self.model.lp_from_scratch and self.first_lp)
        if starts_feasible and self.chosen is not None:
            same_day = problem.same_day_share(self.chosen) > 0  # without capacities, each row in full or not
            reached = np.count_nonzero(same_day)
            interior_point = ((same_day.size > 0 and reached >= INTERIOR_POINT_SHARE * same_day.size)
                              or problem.n_phases >= INTERIOR_POINT_PHASES)
            if not interior_point and reached <= START_BASIS_SHARE * same_day.size:  # a basis for primal simplex
                start_reach = np.concatenate([same_day, problem.next_day_reached(self.chosen)])
        fresh = self.model.lp_from_scratch
        result = self.model.relaxation(stage, self.remaining(), primal_simplex=starts_feasible, start_reach=start_reach,
                                       interior_point=interior_point)
        if fresh and result.status == OPTIMAL:
            self.fresh_lp_seconds = result.seconds
        if result.status == OPTIMAL and self.hold_floor_costs(result.values):
            again = self.model.relaxation(stage, self.remaining())  # dual simplex from the last basis
            result = replace(again, seconds=result.seconds + again.seconds)
        if result.status == OPTIMAL:
            result = self.hold_floor_shortfalls(stage, result)
        return result

    def hold_floor_costs(self, values: np.ndarray) -> bool:
        """Once, at the first LP: add the "floor cost" rows (``model/formulation.py``) that the
        LP optimum ``values`` breaks, for the rest of the solve. Only those: where the LP already
        pays what a floor costs, the row moves no bound, and HiGHS's path through a model with
        more rows is slower as often as not (benchmarks/README.md). Returns whether
        any was added."""
        pending, self.pending_floor_costs = self.pending_floor_costs, None
        if pending is None or not self.first_lp:
            return False
        spend = self.problem.group_options() @ (values[:self.problem.n_options] * self.problem.option_cost)
        broken = (pending > 0) & (spend < pending * (1 - 1e-6))
        if not broken.any():
            return False
        self.problem = replace(self.problem, equity_floor_cost=np.where(broken, pending, 0.0))
        self.model.add_rows(*floor_cost_rows(self.problem))
        return True

    def hold_floor_shortfalls(self, stage: str, lp: StageResult) -> StageResult:
        """Once, at the first LP (optimal, ``lp``): add the "floor shortfall" rows it breaks, and
        solve it again, for up to SHORTFALL_ROUNDS rounds, for the rest of the solve (the pairs are
        kept in the problem, so every restriction of it holds them too). Returns the last LP
        solved to optimality, its seconds those of all."""
        pending, self.pending_shortfalls = self.pending_shortfalls, False
        problem = self.problem
        if not pending or not self.first_lp or problem.capacitated or not np.any(problem.equity_need > 0):
            return lp
        seconds = lp.seconds
        for _ in range(SHORTFALL_ROUNDS):
            groups, bases, rows = _broken_shortfalls(problem, lp.values[:problem.n_options])
            if not groups.size:
                break
            problem = replace(problem, shortfall_group=np.concatenate([problem.shortfall_group, groups]),
                              shortfall_base=sparse.vstack([problem.shortfall_base, bases]).tocsr())
            self.problem = problem
            self.model.add_rows(rows, np.ones(rows.shape[0]))
            again = self.model.relaxation(stage, self.remaining())  # dual simplex from the last basis
            seconds += again.seconds
            if again.status != OPTIMAL:  # out of time: the LP before is a relaxation still
                break
            lp = again
        return replace(lp, seconds=seconds)

    def fixable(self, stage: str, floor: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The options (masks at their lower and their upper bound) that the last LP relaxation of
        ``stage`` proves keep their LP value in every plan reaching ``floor``: flipping a nonbasic
        option costs the LP bound at least its reduced cost, so where bound - |reduced cost| <
        floor it cannot flip. None when the LP was not solved to optimality."""
        duals = self.model.lp_duals()
        if duals is None:
            return None
        sense = 1.0 if STAGE_SENSE[stage] == "max" else -1.0
        cannot_flip = (self.model.free_options
                       & (sense * (duals.bound - floor) + bound_margin(duals.bound) < np.abs(duals.reduced_costs)))
        return cannot_flip & duals.at_lower & (duals.values < 0.5), cannot_flip & duals.at_upper & (duals.values > 0.5)

    def decide_by_lp(self, stage: str, floor: float, *, probes: bool, least_probed: int = 0) -> int:
        """Fix the options that the last LP relaxation of ``stage``, solved to optimality, proves
        cannot move in any plan reaching ``floor``: by its reduced costs (:meth:`fixable`), and on a
        model of more than PROBE_ROWS rows (with a finite floor: a plan in hand), where ``probes``
        and they leave at least ``least_probed`` options free, by local probes of those
        (:meth:`decide_by_probes`). Valid for every later stage, which all keep this stage at
        ``floor``. Returns how many were fixed."""
        fixable = self.fixable(stage, floor)
        probe = probes and math.isfinite(floor) and self.model.mip.getNumRow() > PROBE_ROWS
        if probe and fixable is not None:
            left = self.model.free_options & ~fixable[0] & ~fixable[1]  # free once those are decided
            probe = left.sum() >= least_probed
        # Taken before the reduced costs decide: changing the model's bounds drops HiGHS's solution.
        optimum = self.model.lp_optimum() if probe else None
        decided = 0 if fixable is None else self.decide(*fixable)
        if optimum is not None:
            decided += self.decide_by_probes(stage, floor, optimum)
        return decided

    def decide(self, at_zero: np.ndarray, at_one: np.ndarray) -> int:
        """Fix the options ``at_zero`` to 0 and ``at_one`` to 1 (masks over the options) in the
        model, for :meth:`narrow` to decide. Returns how many."""
        lower, upper = self.model.option_lower.copy(), self.model.option_upper.copy()
        upper[at_zero] = 0.0
        lower[at_one] = 1.0
        self.model.set_option_bounds(lower, upper)
        return int(at_zero.sum() + at_one.sum())

    def decide_by_probes(self, stage: str, floor: float, optimum: LpOptimum) -> int:
        """Fix the options that local probes of the LP relaxation of ``stage`` at its ``optimum``
        prove cannot move in any plan reaching ``floor`` (:mod:`solvers.probing`), among those
        the reduced costs left free, until PROBE_PATIENCE probes in a row decide nothing. Valid
        for every later stage, as those are. Under a time limit the probes take at most
        PROBE_SHARE of what is left. Returns how many were fixed."""
        model = self.model
        n = model.matrix.n_options
        lower, upper = optimum.col_lower.copy(), optimum.col_upper.copy()
        lower[:n], upper[:n] = model.option_lower, model.option_upper
        covering = np.zeros(optimum.A.shape[0], dtype=bool)
        covering[model.matrix.demand_rows(stage)] = True
        remaining = self.remaining()
        deadline = None if remaining is None else time.perf_counter() + PROBE_SHARE * remaining
        return self.decide(*decided_by_local_probes(optimum, lower, upper, model.free_options, covering, floor,
                                                    deadline, PROBE_PATIENCE))

    def narrow(self) -> Restriction | None:
        """Go on with the problem left once the options the model has fixed are decided. Only
        fixings the best plan agrees with are used (all should; one that does not is dropped
        rather than trusted), so the best plan stays a plan of the narrowed problem. Returns the
        restriction made (None: nothing to decide).

        The rows the floors make reached stay rows here (only the spaces a stage searches take
        them out, :meth:`_Stage.search_space`): taken out of the next-day stage's problem on
        populous250 at 120/180 and $7B, a third of its rows, they made its LP, solved from scratch
        on the new model, take 62 s instead of 11 (benchmarks/README.md)."""
        if self.chosen is None:
            return None
        taken = (self.model.option_lower == 1.0) & self.chosen
        excluded = (self.model.option_upper == 0.0) & ~self.chosen
        if not taken.any() and not excluded.any():
            return None
        restriction = restrict(self.problem, taken, excluded)
        self.restrictions.append(restriction)
        self.problem, self.chosen = restriction.problem, restriction.project(self.chosen)
        self.model = _loaded(self.problem, self.options)
        _hold_floors(self.model, self.problem, self.floors)
        return restriction

    def start(self) -> np.ndarray | None:
        """The best plan as a column vector of the model, to warm-start a solve (None: no plan)."""
        return None if self.chosen is None else full_start(self.problem, self.chosen)

    def plan(self) -> np.ndarray:
        """The best plan as a choice of the whole problem's options."""
        return self.lift(self.chosen)

    def lift(self, chosen: np.ndarray) -> np.ndarray:
        """A choice of the problem still open as a choice of the whole problem's options."""
        for restriction in reversed(self.restrictions):
            chosen = restriction.lift(chosen)
        return chosen


class _Stage:
    """One stage: its best value and bound so far, and the time spent."""

    def __init__(self, search: _Search, stage: str):
        self.search, self.stage = search, stage
        self.gap = search.options.mip_gap * (FIRST_STAGE_GAP_SHARE if stage == STAGES[0] else 1.0)
        no_plan = -math.inf if STAGE_SENSE[stage] == "max" else math.inf
        self.value = no_plan if search.chosen is None else stage_values(search.problem, search.chosen)[stage]
        self.bound = math.nan
        self.began = time.perf_counter()
        self.lp_seconds = 0.0  # what its LP relaxation took

    def search_time(self, *, beyond_requested_gap: bool = False) -> float | None:
        """Seconds a search of this stage may take (None: no limit). A search beyond the requested
        gap leaves the later stages LATER_STAGE_LPS of their LP solves each, estimated by this
        stage's LP, but takes at least half of what is left; any other search but the first
        stage's leaves them LATER_STAGE_BOUND_LPS each, and takes at least three quarters."""
        remaining = self.search.remaining()
        if remaining is None:
            return None
        later = len(STAGES) - 1 - STAGES.index(self.stage)
        if beyond_requested_gap:
            return remaining - min(later * LATER_STAGE_LPS * self.lp_seconds, remaining / 2)
        if self.stage == STAGES[0]:
            return remaining
        return remaining - min(later * LATER_STAGE_BOUND_LPS * self.lp_seconds, remaining / 4)

    def yield_within_requested_gap(self, *, stage_bound: Callable[[float], float] | None) -> _Yield | None:
        """For a search beyond the requested gap under a time limit, its ``stop_when`` (see
        :class:`_Yield`); None when there is nothing to yield."""
        if self.search.deadline is None or self.gap >= self.search.options.mip_gap:
            return None
        return _Yield(self, time.perf_counter() + self.search_time(beyond_requested_gap=True), stage_bound)

    def root_seconds(self, problem: CoveringProblem | None = None) -> float:
        """How long a search's root LP is expected to take: an LP solved afresh (of the ``problem``
        searched, by its share of the stage's nonzeros, when it is a smaller one). Not the stage's
        own LP, warm-started and far shorter: a search started on that ran past a time limit
        (benchmarks/README.md, "A search under a limit starts only with time for its root")."""
        share = 1.0 if problem is None else _nonzeros(problem) / max(_nonzeros(self.search.problem), 1)
        return share * max(self.lp_seconds, self.search.fresh_lp_seconds)

    def can_search(self, seconds: float | None, problem: CoveringProblem | None = None) -> bool:
        """Whether a search given ``seconds`` is worth starting: more than its root LP's time."""
        return seconds is None or seconds > self.root_seconds(problem)

    def within_requested_gap(self) -> bool:
        return self.standing()[0]

    def offer(self, result: StageResult) -> None:
        """Take a search of the whole problem still open: its plan if it is better, within budget
        and keeps the earlier stages' floors (checked exactly, not to the solver's tolerance), and
        its bound if it is tighter."""
        if result.values is not None:
            self.offer_plan(np.round(result.values[:self.search.problem.n_options]).astype(bool))
        self.offer_bound(result.bound)

    def search_neighbourhood(self, x: np.ndarray) -> bool:
        """Solve the MIP over the options where the LP values ``x`` and the best plan disagree,
        the others fixed at the value both give them (the "RINS" neighbourhood, searched as a
        problem of its own: :meth:`search_space`). Its bound holds for the neighbourhood only, so
        only its plan is taken. Where its bound shows that none of its plans brings the stage
        within the requested gap (:func:`_cannot_prove`), the search stops once its tree has as many
        nodes as the neighbourhood has options. Returns whether the search stopped early to
        yield its time (:class:`_Yield`)."""
        search = self.search
        model, chosen = search.model, search.chosen
        taken = ((x >= 1 - _WHOLE) | (model.option_lower == 1.0)) & chosen
        excluded = ((x <= _WHOLE) | (model.option_upper == 0.0)) & ~chosen
        yielding = self.yield_within_requested_gap(stage_bound=None)
        free = max(1, int(np.count_nonzero(~taken & ~excluded)))

        def stop_when(best: float, bound: float, nodes: int) -> bool:
            return (yielding is not None and yielding(best, bound, nodes)) or (nodes >= free and _cannot_prove(self, bound))

        self.search_space(taken, excluded, self.search_time(), gap=self.gap, stop_when=stop_when)
        return yielding is not None and yielding.stopped

    def search_space(self, taken: np.ndarray, excluded: np.ndarray, seconds: float | None, *, gap: float,
                     stop_when: Callable[[float, float, int], bool] | None = None,
                     stage_bound: Callable[[float], float] | None = None) -> StageResult | None:
        """Solve the stage's MIP over the plans that take every option ``taken`` and none
        ``excluded`` (bool per option of the problem still open; the best plan must keep them),
        warm-started from the best plan, and take its plan. The space is built as a problem of
        its own (:func:`ruralreach.model.reduce.restrict`: only the rows its free options reach,
        merged), so HiGHS does not presolve and solve the root of the whole model to search a
        few hundred options; in it, the rows every plan keeping the floors reaches count as
        reached (fixings can make many more such rows than the stage's problem has). Returns the
        solver's result, whose bound holds for the space only (``stage_bound`` makes it one of the
        stage's, for the watcher as the search runs); None when ``seconds`` are too few to search
        it."""
        search = self.search
        ends = None if seconds is None else time.perf_counter() + seconds  # building the space counts
        space = restrict(search.problem, taken, excluded, _reached_rows(search.problem, search.floors, taken, excluded))
        sub = space.problem
        if sub.n_options == 0:  # one plan: the decisions themselves
            only = space.lift(np.zeros(0, dtype=bool))
            self.offer_plan(only)
            value = stage_values(search.problem, only)[self.stage]
            return StageResult(self.stage, OPTIMAL, value, value, 0.0, 0.0, None)
        if not self.can_search(seconds, sub):
            return None
        sub_model = _loaded(sub, search.options)
        # The rows the parent's floors imply are constants here already where they are many
        # (restrict); leaving out of a space's MIP the rest is not what was measured.
        _hold_floors(sub_model, sub, search.floors, leave_out_implied=False)
        seconds = None if ends is None else ends - time.perf_counter()
        result = sub_model.solve(self.stage, seconds, start=full_start(sub, space.project(search.chosen)), gap=gap,
                                 stop_when=self.watching(stop_when, stage_bound),
                                 refuted=lambda plan: self.refuted(space.lift(plan)), root_seconds=self.root_seconds(sub))
        if result.values is not None:
            self.offer_plan(space.lift(np.round(result.values[:sub.n_options]).astype(bool)))
        return result

    def target(self, gap: float) -> float:
        """The value a plan must beat for the best plan not to be within ``gap`` of the optimum
        (just inside the gap, so that a bound at the target proves it in floating point)."""
        step = gap * abs(self.value) * (1 - 1e-9)
        return self.value + step if STAGE_SENSE[self.stage] == "max" else self.value - step

    def looser(self, bound: float, target: float) -> float:
        """The stage's bound from a search of the plans that could beat ``target``: every other
        plan falls short of the target (NaN: the search proved nothing)."""
        if not math.isfinite(bound):
            return math.nan
        return max(bound, target) if STAGE_SENSE[self.stage] == "max" else min(bound, target)

    def search_above(self, target: float, fixable: tuple[np.ndarray, np.ndarray] | None, seconds: float | None,
                     *, gap: float) -> StageResult | None:
        """Search the plans that could beat ``target``: the options ``fixable`` (at their lower and
        upper bound; :meth:`_Search.fixable` at the target) keep their LP values, and the MIP
        left is solved to ``gap`` (:meth:`search_space`). The stage's bound is then the looser of
        the search's and the target. Without fixings (an LP not solved; a MIP too large to search
        to a target), the whole model, and ``target`` is not used. Returns the solver's result
        (None: too few ``seconds`` to search a space)."""
        search = self.search
        if fixable is None:
            # Where rows are left out of the MIP (a set cover, a floor at everyone), without the
            # best plan as a start: given it, HiGHS restarted its search of flat8000's and did not
            # prove it where it does without (benchmarks/README.md, "Rows the floors imply").
            start = None if search.model.rows_left_out.size else search.start()
            result = search.model.solve(self.stage, seconds, start=start, gap=gap,
                                        stop_when=self.watching(None, lambda bound: bound), refuted=self.refuted,
                                        root_seconds=self.root_seconds())
            self.offer(result)
            return result
        at_lower, at_upper = fixable
        result = self.search_space(at_upper & search.chosen, at_lower & ~search.chosen, seconds, gap=gap,
                                   stage_bound=lambda bound: self.looser(bound, target))
        if result is not None:
            self.offer_bound(self.looser(result.bound, target))
        return result

    def search_closer(self, seconds: float | None) -> StageResult:
        """The first stage's search of the whole model to its own gap, closer than the requested
        one: it stops once the stage is within the requested gap (counting the search's plan and
        bound) and either its root is done or, under a time limit, its share of the time is spent
        (:class:`_Yield`). HiGHS's restarts are kept whatever the model's size: its root is
        where its bound comes from (``RESTART_ROWS`` in solvers/highs.py)."""
        search = self.search
        share_ends = None if search.deadline is None else (
            time.perf_counter() + self.search_time(beyond_requested_gap=True))
        stop_when = _Yield(self, share_ends, stage_bound=lambda bound: bound, past_root=True)
        result = search.model.solve(self.stage, seconds, start=search.start(), gap=self.gap,
                                    stop_when=self.watching(stop_when, lambda bound: bound), restarts=True,
                                    refuted=self.refuted, root_seconds=self.root_seconds())
        self.offer(result)
        return result

    def offer_plan(self, candidate: np.ndarray) -> None:
        """Take a plan (bool per option of the problem still open) if it is better, within budget
        and keeps the earlier stages' floors, all checked exactly. The cost stage takes it without
        the options it does not need (:func:`without_redundant`)."""
        if self.stage == "cost":
            candidate = without_redundant(self.search.problem, candidate)
        values = stage_values(self.search.problem, candidate)
        if self.acceptable(candidate, values) and _improves(self.stage, values[self.stage], self.value):
            self.search.chosen, self.value = candidate, values[self.stage]

    def acceptable(self, candidate: np.ndarray, values: dict[str, float] | None = None) -> bool:
        """Whether a plan (bool per option of the problem still open) is within budget and keeps
        the earlier stages' floors, checked exactly (``values``: its :func:`stage_values`, if at
        hand; with capacities they take an LP)."""
        search = self.search
        values = stage_values(search.problem, candidate) if values is None else values
        return all(values[stage] >= floor for stage, floor in search.floors.items()) and search.problem.feasible(candidate)

    def refuted(self, candidate: np.ndarray) -> bool:
        """Whether a plan surely breaks a constraint, so that a search may exclude it: with
        capacities, only a budget counts (their same-day figures are an LP's, to its tolerance, and
        a plan they put a hair under a floor may still keep it); otherwise anything
        :meth:`acceptable` checks, all sums of whole people and written decimals."""
        problem = self.search.problem
        return not problem.affordable(candidate) if problem.capacitated else not self.acceptable(candidate)

    def offer_bound(self, bound: float) -> None:
        """Take a bound if it is tighter and no plan in hand shows it false."""
        if not _contradicts(self.stage, self.value, bound):
            self.bound = _tighter_bound(self.stage, self.bound, bound)

    def proven(self) -> bool:
        """Whether the search can stop: the stage is within its own gap."""
        return _proven(self.stage, self.value, self.bound, self.gap, self.search.problem)[0]

    def standing(self) -> tuple[bool, float, float, float]:
        """Where the stage stands against the gap the user asked for: whether it is proven within
        it, its best value (NaN: no plan yet), its bound (rounded towards the plans) and the gap."""
        problem = self.search.problem
        proven, gap = _proven(self.stage, self.value, self.bound, self.search.options.mip_gap, problem)
        value = self.value if math.isfinite(self.value) else math.nan
        return proven, value, _rounded_bound(self.stage, self.bound, problem), gap

    def tell(self, step: str, *, bound: float | None = None, nodes: int | None = None,
             searched: float | None = None) -> None:
        """Show the watcher of the solve, if any, where the stage stands (:class:`Progress`);
        ``bound``: a bound of the stage tighter than the one it holds (a search's, as it runs);
        ``searched``: the running search's own best plan, better than the stage's."""
        search = self.search
        if search.watch is not None:
            _, value, held, gap = self.standing()
            if bound is not None:
                held = _rounded_bound(self.stage, bound, search.problem)
                gap = relative_gap(value, held)
            unit = plan_unit(search.problem, self.stage)
            search.watch(Progress(self.stage, step, value * unit, held * unit, gap,
                                  time.perf_counter() - search.began, nodes=nodes,
                                  searched=None if searched is None else searched * unit))

    def watching(self, stop_when: Callable[[float, float, int], bool] | None,
                 stage_bound: Callable[[float], float] | None) -> Callable[[float, float, int], bool] | None:
        """A search's ``stop_when`` that also tells the watcher of the solve, if any, where the
        stage stands as the search runs, at most every PROGRESS_SECONDS (:meth:`tell`, step
        "searching"); ``stage_bound`` makes the search's bound a bound of the whole stage (None:
        it is none, as a neighbourhood's). It stops the search only where ``stop_when`` does."""
        if self.search.watch is None:
            return stop_when
        told = time.perf_counter()

        def asked(best: float, bound: float, nodes: int) -> bool:
            nonlocal told
            if time.perf_counter() - told >= PROGRESS_SECONDS:
                told = time.perf_counter()
                tighter = None if stage_bound is None else _tighter_bound(self.stage, self.bound, stage_bound(bound))
                if tighter is not None and (tighter == self.bound or math.isnan(tighter)
                                            or _contradicts(self.stage, self.value, tighter)):
                    tighter = None  # nothing tighter than the stage holds, or a bound a plan shows false
                # A search's plans are the stage's only once checked, when it returns; until then
                # its best is shown beside them, or a long search looks stuck where it is not
                # (benchmarks/README.md, "Floors below $4B").
                searched = best if math.isfinite(best) and _improves(self.stage, best, self.value) else None
                self.tell("searching", bound=tighter, nodes=nodes, searched=searched)
            return stop_when is not None and stop_when(best, bound, nodes)

        return asked

    def result(self, status: str) -> StageResult:
        """The stage's outcome, judged against the gap the user asked for (the first stage may
        have searched to a tighter one)."""
        proven, value, bound, gap = self.standing()
        if proven:
            status = OPTIMAL
        elif status == OPTIMAL or (status == INFEASIBLE and self.search.chosen is not None):
            # The solver's word without a bound this stage holds to back it, or against a plan
            # checked exactly (an "infeasible" with a plan in hand is a numerical failure): a plan
            # claims no optimality it cannot show (its gap is reported as measured).
            status = TIME_LIMIT if self.search.deadline is not None else ERROR
        self.tell(status)
        return StageResult(self.stage, status, value, bound, gap, time.perf_counter() - self.began, None)

    def run(self) -> StageResult:
        search = self.search
        if self.stage == "cost" and search.chosen is not None:
            # Where the budget has room, the people stages' plan may hold options that add no one
            # (their objectives count people, not money): dropped first, so that a cost stage left
            # no time to search still saves what they cost.
            self.offer_plan(search.chosen)
        if search.problem.n_options == 0:
            # Every option decided (by the stages before, or by hand): the one plan left is the
            # decisions themselves, and the stage's value a constant; or, where that plan misses
            # an equity floor, there is none (HiGHS calls a model without columns empty, not
            # infeasible).
            if search.chosen is None:
                return self.result(INFEASIBLE)
            self.offer_bound(self.value)
            return self.result(OPTIMAL)
        if counts_everyone(search.problem, self.stage, self.value):
            # The best plan counts everyone any plan can: proven by counting, however little time
            # is left. Where a budget reaches everyone, the stage's LP from scratch was most of a solve.
            self.offer_bound(self.value)
            return self.result(OPTIMAL)
        if self.proven():  # by a bound carried from a smaller budget (carried_cost_bound)
            return self.result(OPTIMAL)
        if search.out_of_time():
            return self.result(TIME_LIMIT)
        relaxation = search.relaxation(self.stage)
        self.offer_bound(relaxation.bound)  # its values are fractional: a bound, not a plan
        if relaxation.status == INFEASIBLE:
            return self.result(INFEASIBLE)
        self.tell("bound")
        self.lp_seconds = relaxation.seconds
        yielded = (relaxation.values is not None and search.chosen is not None
                   and self.search_neighbourhood(relaxation.values[:search.problem.n_options]))
        self.tell("plan")
        if self.proven() or yielded:
            return self.result(OPTIMAL)
        if not self.can_search(search.remaining()):
            return self.result(TIME_LIMIT)
        # Options the LP proves cannot flip in any plan better than the best one are decided for
        # good (every later stage keeps this one at least there). Those it proves cannot flip in
        # any plan better than the target, the best plan's value plus the gap, are fixed for this
        # stage's search only: plans that do not reach the target leave the best plan within the
        # gap, so they need no search, and a later stage's floor may sit below the target. Not in
        # the first stage, whose value is the floor of both later ones: they are very sensitive
        # to it, and a search that never looks between the best plan and the target leaves it
        # lower (benchmarks/README.md has the measurement).
        # The first stage's options are probed as well where its reduced costs leave many free
        # (FIRST_STAGE_PROBE_OPTIONS): on the networks where its search is slowest the probes
        # decide most of the options the reduced costs leave free, and the search of the rest is
        # the shorter by more than they take. So too where the best plan is within the requested
        # gap already and the search goes on to the first stage's closer gap: its presolve, root
        # and sub-MIPs run on fewer options (benchmarks/README.md, "Probes in the first stage"
        # and "... within the requested gap too").
        target = self.target(self.gap)
        to_target = search.chosen is not None and self.stage != STAGES[0]
        fixable = search.fixable(self.stage, target) if to_target else None
        search.decide_by_lp(self.stage, self.value, probes=self.stage == STAGES[0],
                            least_probed=FIRST_STAGE_PROBE_OPTIONS)
        restriction = search.narrow()
        if search.model.mip.getNumRow() > TARGET_ROWS:
            fixable = None
        elif restriction is not None and fixable is not None:
            fixable = tuple(mask[restriction.options] for mask in fixable)
        closer = self.gap < search.options.mip_gap
        seconds = self.search_time(beyond_requested_gap=closer and self.within_requested_gap())
        if not self.can_search(seconds):
            return self.result(TIME_LIMIT)
        if closer:
            found = self.search_closer(seconds)
        else:
            found = self.search_above(target, fixable, seconds, gap=self.gap)
        if found is None:
            return self.result(TIME_LIMIT)
        # A search HiGHS proved that the exact accounting leaves short is searched again finer;
        # not the closer search within the requested gap, whose closer gap was only a bonus.
        if found.status == OPTIMAL and not self.proven() and not (closer and self.within_requested_gap()):
            found = self.search_finer(target, fixable) or found
        return self.result(found.status)

    def search_finer(self, target: float, fixable: tuple[np.ndarray, np.ndarray] | None) -> StageResult | None:
        """Search again, with HiGHS's feasibility tolerance at FINER_INTEGRALITY, a stage the
        solver called optimal that is not proven: HiGHS takes a column within its tolerance of a
        whole number as whole (an option at 0.9999992, costing $27M, as $21.57 cheaper) and a row
        within its tolerance as kept (a plan $0.0008 over budget, of costs in hundredths of a
        cent), and proves its bound for those, just off the plans the exact checks accept."""
        search = self.search
        options, mip = search.options, search.model.mip
        _, tolerance = mip.getOptionValue("mip_feasibility_tolerance")
        finer = {**options.highs_options, "mip_feasibility_tolerance": FINER_INTEGRALITY}
        search.options = replace(options, highs_options=finer)  # for the spaces it builds
        mip.setOptionValue("mip_feasibility_tolerance", FINER_INTEGRALITY)
        try:
            return self.search_above(target, fixable, search.remaining(), gap=self.gap)
        finally:
            search.options = options
            mip.setOptionValue("mip_feasibility_tolerance", tolerance)


class _Yield:
    """A ``stop_when(best, bound, nodes)`` for a stage's search beyond the requested gap: it stops
    the search once the stage is within the requested gap, counting the search's best plan, and
    its bound as ``stage_bound`` makes it a bound of the whole stage (None: it is none; a
    neighbourhood's), and either the search's share of the time has passed (``share_ends``; None:
    no share) or, with ``past_root``, the search has done its root. ``stopped`` says afterwards
    whether it stopped the search."""

    def __init__(self, stage: _Stage, share_ends: float | None, stage_bound: Callable[[float], float] | None,
                 past_root: bool = False):
        self.stage, self.share_ends, self.stage_bound, self.past_root = stage, share_ends, stage_bound, past_root
        self.stopped = False

    def __call__(self, best: float, bound: float, nodes: int) -> bool:
        stage = self.stage
        share_spent = self.share_ends is not None and time.perf_counter() >= self.share_ends
        if not (share_spent or self.past_root and nodes >= 1) or not math.isfinite(best):
            return False
        value = best if _improves(stage.stage, best, stage.value) else stage.value
        if self.stage_bound is not None:
            bound = _tighter_bound(stage.stage, stage.bound, self.stage_bound(bound))
        else:
            bound = stage.bound
        self.stopped = _proven(stage.stage, value, bound, stage.search.options.mip_gap, stage.search.problem)[0]
        return self.stopped


def _cannot_prove(stage: _Stage, neighbourhood_bound: float) -> bool:
    """Whether a neighbourhood's bound shows that none of its plans is within the requested gap
    of the stage's bound. The neighbourhood is searched for a plan; where none of its plans can
    prove the stage, a long tree over it only proves the neighbourhood's own optimum, to the
    closer gap, while the search of the whole model, which the stage needs all the same, waits:
    on a capacitated network that tree (13,000 nodes over 236 options) took nearly all of a
    time limit and left the stage's bound at the LP's. A short one is worth its time: on the
    capacitated `us-2026` a tree of 61 nodes finds a plan the whole model's search does not
    (benchmarks/README.md)."""
    search = stage.search
    bound = _rounded_bound(stage.stage, stage.bound, search.problem)
    if not (math.isfinite(neighbourhood_bound) and math.isfinite(bound)):
        return False
    return (_improves(stage.stage, bound, neighbourhood_bound)
            and relative_gap(neighbourhood_bound, bound) > search.options.mip_gap)


def _hold_floor_scale_shortfalls(model: HighsModel, problem: CoveringProblem, deadline: float | None) -> float:
    """Add to the floor-scale ``model`` the floor shortfall rows its LP breaks, and solve it again,
    for up to SHORTFALL_ROUNDS rounds or until ``deadline``. Its LP goes to interior point after
    HiGHS's presolve: dual simplex from scratch stalled on the national network's for minutes.
    Returns the seconds of the last LP solved to optimality (0 for none): the MIP's estimate of
    its root LP, which hears no time limit (:class:`ruralreach.solvers.highs._Checks`)."""
    seconds = 0.0
    for _ in range(SHORTFALL_ROUNDS):
        left = None if deadline is None else deadline - time.perf_counter()
        if left is not None and left <= 0:
            return seconds
        lp = model.relaxation(FLOOR_SCALE, left, presolve=True)
        if lp.status != OPTIMAL:
            return seconds
        seconds = lp.seconds
        # A share no plan passes: the LP's, a hair above for its tolerances (the rows only loosen).
        share = min(1.0, lp.objective + SCALED_SHORTFALL_MARGIN)
        at_share = replace(problem, equity_floor=share * problem.equity_floor)
        groups, bases, _ = _broken_shortfalls(at_share, lp.values[:problem.n_options])
        rows, lower = floor_scale_shortfall_rows(problem, share, groups, bases.toarray(), model.matrix.n_columns)
        if not rows.shape[0]:
            return seconds
        model.add_rows(rows, lower)
    return seconds


def _broken_shortfalls(problem: CoveringProblem, values: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix,
                                                                               sparse.csr_matrix]:
    """The floor shortfall rows the LP option values ``values`` break: for each group, of the
    sets of the options at each of SHORTFALL_THRESHOLDS or more, the row it breaks most. Returns
    their groups, their sets (rows of bool per option) and the rows themselves."""
    best = np.full(problem.n_groups, 1.0 - SHORTFALL_VIOLATION)  # a row's left side at the LP
    chosen_rows: dict[int, tuple[np.ndarray, sparse.csr_matrix]] = {}
    for threshold in SHORTFALL_THRESHOLDS:
        base = values >= threshold
        rows = shortfall_coefficients(*floor_shortfalls(problem, base))
        sides = rows @ values
        breaks = (rows.getnnz(axis=1) > 0) & (sides < best)
        for group in np.flatnonzero(breaks):
            best[group] = sides[group]
            chosen_rows[int(group)] = (base, rows[group])
    groups = np.array(sorted(chosen_rows), dtype=np.int64)
    if not groups.size:
        return groups, sparse.csr_matrix((0, problem.n_options), dtype=bool), sparse.csr_matrix((0, problem.n_options))
    bases = sparse.csr_matrix(np.vstack([chosen_rows[g][0] for g in groups]))
    return groups, bases, sparse.vstack([chosen_rows[g][1] for g in groups]).tocsr()


def _nonzeros(problem: CoveringProblem) -> int:
    """The size of a problem's model, near enough: the nonzeros of its reach rows."""
    return problem.same_day_cover.nnz + problem.next_day_cover.nnz + problem.supply_cover.nnz


def _reached_rows(problem: CoveringProblem, floors: dict[str, float], taken: np.ndarray,
                  excluded: np.ndarray) -> dict[str, np.ndarray] | None:
    """The rows every plan keeping the floors and the decisions reaches
    (:func:`ruralreach.model.reduce.rows_the_floors_reach`), where they are at least
    REACHED_SHARE of the problem's rows; else None."""
    reached = rows_the_floors_reach(problem, floors, taken, excluded)
    if reached is None:
        return None
    rows = len(problem.same_day_population) + len(problem.next_day_population)
    return reached if sum(int(mask.sum()) for mask in reached.values()) >= REACHED_SHARE * rows else None


def _hold_floors(model: HighsModel, problem: CoveringProblem, floors: dict[str, float], *,
                 leave_out_implied: bool = True) -> None:
    """Set the kept stages' floors in a model of ``problem``, and hold the rows they force
    (:func:`ruralreach.model.reduce.rows_the_floors_force`) reached: valid for every plan, and
    what lets the LP see the covering a floor near everyone implies. With ``leave_out_implied``,
    the rows those imply (:func:`_reached_rows`, whatever the options' bounds) are left out of the
    MIP."""
    for stage, value in floors.items():
        model.set_floor(stage, value)
    forced = rows_the_floors_force(problem, floors)
    if forced is not None:
        none = np.zeros(problem.n_options, dtype=bool)
        implied = _reached_rows(problem, floors, none, none) if leave_out_implied else None
        model.require_reach(np.flatnonzero(forced["same_day"]), np.flatnonzero(forced["next_day"]), implied)


def _loaded(problem: CoveringProblem, options: SolveOptions) -> HighsModel:
    """A HighsModel of ``problem`` with its budget row set."""
    model = HighsModel(matrix_model(problem), options)
    model.reset(budget_room(problem))
    return model


def solve_lexicographic(problem: CoveringProblem, options: SolveOptions, start: np.ndarray | None = None,
                        model: HighsModel | None = None, watch: Watch | None = None,
                        floor_costs: np.ndarray | None = None,
                        start_cost_bound: tuple[float, float] | None = None) -> Solution:
    """Solve the three stages. ``start``: a feasible choice (bool per option) to begin from
    (default: the greedy plan); ``model``: a loaded HighsModel of ``problem`` to reuse across
    budgets; ``watch``: called with a :class:`Progress` as each step of a stage ends;
    ``floor_costs``: what meeting each equity floor costs at least (USD per group,
    :func:`ruralreach.solvers.floor_cost.least_floor_costs`), for the rows the first LP breaks;
    ``start_cost_bound``: (budget, bound): ``start`` was the plan of this problem at that budget,
    and its cost stage proved the bound (USD), which the cost stage here keeps where it still holds
    (:func:`carried_cost_bound`)."""
    began = time.perf_counter()
    if problem.n_groups and problem.floors_out_of_reach():
        # A floor above every person of its group any plan can reach is met by no plan, whatever
        # the budget: proven by counting, so the answer is "infeasible" however short the time
        # limit, with no search (the floors too small for HiGHS to count that first made it
        # needed are now an input error, LEAST_FLOOR_PEOPLE).
        unmet = StageResult("same_day", INFEASIBLE, math.nan, math.nan, math.inf, time.perf_counter() - began, None)
        return Solution(INFEASIBLE, np.zeros(problem.n_options, dtype=bool), (unmet,),
                        time.perf_counter() - began, found=False)
    deadline = None if options.time_limit is None else began + options.time_limit
    if model is None:
        model = _loaded(problem, options)
    else:
        model.reset(budget_room(problem))
    candidates = [c for c in (greedy_choice(problem), None if start is None else start.astype(bool))
                  if c is not None and problem.feasible(c)]
    chosen = best_start(problem, candidates)
    search = _Search(problem, model, chosen, options, deadline, watch, began)
    search.pending_floor_costs = floor_costs
    carried = None if start_cost_bound is None or start is None else carried_cost_bound(problem, start.astype(bool),
                                                                                         *start_cost_bound)
    results: list[StageResult] = []
    for stage in STAGES:
        stage_search = _Stage(search, stage)
        if stage == "cost" and carried is not None:
            stage_search.offer_bound(carried)
        result = stage_search.run()
        results.append(result)
        if result.status in (ERROR, INFEASIBLE) or search.chosen is None:
            break
        if stage != "cost":
            search.keep(stage, stage_search.value)
    if search.chosen is None:  # no plan meets every constraint (or none was found in time)
        status = overall_status(tuple(results))
        return Solution(status, np.zeros(problem.n_options, dtype=bool), tuple(results),
                        time.perf_counter() - began, found=False)
    # Without the options no figure needs: the cost stage drops those that cost money (even with
    # no time left), but a tie on cost keeps any that cost nothing, and a stage that ends in an
    # error leaves the cost stage unrun.
    chosen = without_redundant(problem, search.plan())
    if not problem.feasible(chosen):
        raise RuntimeError(f"the solution is not a plan: it spends ${problem.spend(chosen):,.2f} of "
                           f"${problem.budget:,.2f}, or misses a floor or a site that must act")
    results = _restated(results, stage_values(problem, chosen), options.mip_gap, problem)
    return Solution(overall_status(results), chosen, results, time.perf_counter() - began)


def _restated(results: list[StageResult], final: dict[str, float], mip_gap: float,
              problem: CoveringProblem) -> tuple[StageResult, ...]:
    """Each stage's result with its value and gap those of the final plan. A later stage keeps an
    earlier one at its value or better, and may end on a plan better in it (the next-day stage
    on a plan with more people same-day): the plan's stages then report what the plan achieves,
    against the same bounds, and a stage that this brings within the requested gap is proven."""
    restated = []
    for result in results:
        value = final[result.stage]
        if _contradicts(result.stage, value, result.bound):  # the stage's bound was no bound
            status = ERROR if result.status == OPTIMAL else result.status
            restated.append(replace(result, status=status, objective=value, bound=math.nan, mip_gap=math.inf))
            continue
        proven, gap = _proven(result.stage, value, result.bound, mip_gap, problem)
        status = OPTIMAL if proven else result.status
        restated.append(replace(result, status=status, objective=value, mip_gap=gap))
    return tuple(restated)


def max_floor_scale(problem: CoveringProblem, options: SolveOptions) -> StageResult:
    r"""The largest share :math:`\lambda` of every equity floor that one plan within the budgets
    meets, solved to the requested gap (``objective`` is the share found, ``bound`` the proven
    upper bound on it).

    Every share above 0 needs an option reaching each group nobody in it is served without
    (:func:`reach_every_group_rows`), and :math:`\lambda = 0` needs none: the MIP is solved with
    those rows, and where the budget cannot pay for them (their small set cover, priced as the
    floor costs are) the answer is 0, proven. The MIP without them meets every such group with
    slivers of options; with a floor per county, it took HiGHS past its time limit to prove what
    the set cover's LP proves at once.

    No plan meets more than every group's people in reach of some option allow
    (:meth:`CoveringProblem.floor_share_ceiling`): a greedy plan that meets that much ends the
    search with no MIP (nationally, a floor above what Alaska can reach). Else the best greedy
    plan (:func:`greedy_floor_share`) starts the MIP, and the floor shortfall rows its LP breaks
    (:func:`floor_scale_shortfall_rows`) tighten it, for up to SHORTFALL_ROUNDS rounds: its LP
    meets each floor with slivers of options, as the stages' LPs do."""
    began = time.perf_counter()
    deadline = None if options.time_limit is None else began + options.time_limit
    reach_every_group = reach_every_group_rows(problem)
    if reach_every_group.shape[0] and least_cost_to_reach(reach_every_group, problem, options) > problem.budget_room()[-1]:
        return StageResult(FLOOR_SCALE, OPTIMAL, 0.0, 0.0, 0.0, time.perf_counter() - began, None)
    ceiling = problem.floor_share_ceiling()
    share, chosen = greedy_floor_share(problem, deadline)
    if chosen is not None and relative_gap(share, ceiling) <= options.mip_gap:
        return StageResult(FLOOR_SCALE, OPTIMAL, share, ceiling, relative_gap(share, ceiling),
                           time.perf_counter() - began, None)
    model = HighsModel(floor_scale_model(problem), options)
    model.reset(budget_room(problem))
    if reach_every_group.shape[0]:
        model.add_rows(reach_every_group, np.ones(reach_every_group.shape[0]))
    root_seconds = 0.0
    if not problem.capacitated:  # where a row may be served in part, the rows do not hold
        root_seconds = _hold_floor_scale_shortfalls(model, problem, deadline)
    # The start must keep every row: the share 0 can leave a group unreached.
    start = np.append(full_start(problem, chosen), share) if chosen is not None and share > 0 else None
    left = None if deadline is None else max(0.0, deadline - time.perf_counter())
    result = model.solve(FLOOR_SCALE, left, start=start, root_seconds=root_seconds)
    bound = min(result.bound, ceiling) if math.isfinite(result.bound) else ceiling
    result = replace(result, seconds=time.perf_counter() - began, bound=bound)
    if result.status == INFEASIBLE:  # the same, found by the search
        return replace(result, status=OPTIMAL, objective=0.0, bound=0.0, mip_gap=0.0)
    if not math.isfinite(result.objective):  # none found in time: what the plan without actions meets
        unplanned = max(share, problem.floor_share(np.zeros(problem.n_options, dtype=bool)))
        result = replace(result, objective=unplanned)
    result = replace(result, mip_gap=relative_gap(result.objective, result.bound))
    status = OPTIMAL if result.mip_gap <= options.mip_gap or result.status == OPTIMAL else result.status
    return replace(result, status=status, values=None)
