"""From an instance and its reach to the covering problem the model is built on.

The covering problem is stated over *options* and *demand rows* (groups of zones), in a reduced
space where nothing the plan cannot change is a variable:

- a zone already same-day (within reach of an existing center) is a constant of the same-day
  objective, and a zone already next-day (within reach of any existing site) of the next-day one;
- a zone no option can reach drops out of that tier;
- zones reached by exactly the same options (and in the same equity group) merge into one row
  whose population is their sum;
- an option that reaches nothing new in either tier drops out (it can only add cost), unless its
  site must act;
- an option dominated by another (no dearer, reaching a superset in both tiers) drops out (with
  phases, see below).

Sites fixed by hand (the ``decision`` column) are applied first: ``never`` removes a site's
options, ``must:ACTION`` removes its other actions. Without phases a forced action is decided
outright (its cost committed, the zones it reaches constants); with phases its site must take it
in some phase.

A phased rollout is the same problem over more options and rows: an option is a (site, action,
phase) triple, and a row is a (zone, phase) pair, reached by the options of phases up to its own,
with the zone's population times the phase's weight. The budget becomes one row per phase
(cumulative: money carries forward, none is borrowed). With phases, only an option whose site has
no other action may dominate, and only within its phase: a site taking a weaker action early and
another site a stronger one later can be better than either swap.

With capacities (``capacity`` in sites.csv), an inventory site whose capacity can bind is a
*supplier*: a row's demand may be split among the suppliers within its same-day reach, each
shipping at most its capacity. Existing centers (and, without phases, actions that must be taken)
with a capacity are suppliers whatever the plan; an option of a site with a capacity supplies
the rows of its phase and of every later one, with the capacity again in each. Such an option's
same-day reach is through its suppliers only, and it is never dominated (dropping it would drop
its capacity). Rows merge only where they have the same suppliers too: the merged row's demand is
the sum, and since a person served counts the same in every zone, the best split of the merged
row serves exactly as many people as the best split of its zones.

Every reduction keeps the optimum of all three stages. The solution maps back exactly: an option
is a (site, action, phase) triple, and coverage is recomputed from the actions on the full
instance (:mod:`ruralreach.model.coverage`), never read from the reduced rows.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from scipy import sparse

from .actions import ACTIONS, already
from .capacity import RowService, best_service, can_ship, effective_capacity, zone_demand
from .instance import Instance, decided, scaled_phase_budgets, usd_total, within_budget, zone_groups
from .reach import Reach, entries_of, row_sums, rows_reaching

# USD per money unit of the model: thousands, so that HiGHS's row tolerance (1e-6 of a unit) is a
# tenth of a cent. Where a plan could spend more than MONEY_UNIT_UP_TO, a double no longer tells a
# tenth of a unit apart near a budget row's bound, and the unit grows by powers of ten instead
# (a row then held to a cent or more; plans are checked against the budget exactly all the same).
# Below that, the unit is the largest power of ten in which every option's cost is whole, so that
# the budget row has whole coefficients, which HiGHS's presolve and cuts make use of: on the peers'
# p = 200 problem (every option $1, budget $200) units of $1 and $0.10 reached 4.0e-4 and 3.4e-4 in
# 300 s, and units of $1,000, $100, $10 and $2 (costs of 0.001 to 0.5) all stopped at 3.1e-3 with
# a plan 881,340 people worse. Where no power of ten makes them whole (or not without a plan
# spending more than MONEY_UNIT_UP_TO / MONEY_UNIT units), the cheapest option's power of ten, so
# that costs are a few units at least, not thousandths.
MONEY_UNIT = 1e3
MONEY_UNIT_UP_TO = 1e12


def money_unit(most_spent: float, cheapest: float = math.inf, step: float = 0.0) -> float:
    """The model's money unit (USD) for plans that spend at most ``most_spent`` USD, on options of
    which the cheapest costs ``cheapest`` USD (more than 0) and every cost is a whole multiple of
    ``step`` USD (0: of no step)."""
    if most_spent > MONEY_UNIT_UP_TO:
        return MONEY_UNIT * 10.0 ** math.ceil(math.log10(most_spent / MONEY_UNIT_UP_TO))
    fewest = MONEY_UNIT * most_spent / MONEY_UNIT_UP_TO  # the smallest unit that keeps plans in range
    if step > 0:
        exponent = min(round(math.log10(MONEY_UNIT)), math.floor(math.log10(step)))
        while not _whole(step / 10.0 ** exponent):
            exponent -= 1
        if 10.0 ** exponent >= fewest:
            return 10.0 ** exponent
    if not MONEY_UNIT > cheapest > 0:
        return MONEY_UNIT
    exponent = math.floor(math.log10(cheapest))
    if fewest > 0:
        exponent = max(exponent, math.ceil(math.log10(fewest)))
    return min(MONEY_UNIT, 10.0 ** exponent)


def _whole(value: float) -> bool:
    """Whether ``value`` is a whole number, to floating-point noise (a double's division is
    exact to about 1e-16 of the quotient; 1e-9 of it let $1,000,000.001 pass as whole)."""
    return abs(value - round(value)) <= 1e-12 * abs(value)


def _cheapest(cost: np.ndarray) -> float:
    """The least of the costs above 0 (inf: none)."""
    positive = cost[cost > 0]
    return float(positive.min()) if positive.size else math.inf


def _empty(dtype) -> np.ndarray:
    return np.empty(0, dtype=dtype)


@dataclass(frozen=True)
class CoveringProblem:
    """The reduced problem: plain arrays, the input of the formulation.

    Options ``o``: ``option_site[o]`` (position in instance.sites), ``option_action[o]``,
    ``option_cost[o]`` (USD), ``option_phase[o]`` (0 without phases).
    Same-day rows ``i``: ``same_day_population[i]`` (people, times the phase's weight) and
    ``same_day_cover`` (rows x options, 1 where option o puts row i within same-day reach);
    next-day rows ``j`` likewise. ``same_day_fixed`` / ``next_day_fixed``: (weighted) population
    in reach whatever the plan does.
    ``phase_budgets``: USD each phase brings; ``budget`` is their sum. ``phase_committed``: USD
    already spent in each phase on actions decided outside the problem (``taken_site``,
    ``taken_action``, ``taken_phase``); it counts against the budget and in the cost.
    ``required_sites``: sites that must take one of their options.
    ``money_unit``: USD per money unit of the model (:func:`money_unit`), fixed for the problem
    and every restriction and budget of it.
    Equity: ``same_day_group[i]`` (group of row i, -1 for none) and ``same_day_people[i]`` (its
    people, unweighted); a group's same-day people must reach ``equity_floor[g]``, of which
    ``equity_fixed[g]`` are in reach whatever the plan. ``equity_floor_cost[g]``: USD that every
    plan meeting group g's floor spends on the options that reach the group's rows
    (:meth:`group_options`), a lower bound found by solving for that floor alone (0: none known;
    empty: none for any group); it makes the LP pay for a floor what an integer plan pays.
    ``shortfall_group[k]`` with row k of ``shortfall_base`` (bool per option, a set of options):
    the "floor shortfall" rows of the model (``model/formulation.py``). Any group with any set
    gives a row that every plan meeting the floors keeps, so a restriction carries them as they are.
    Capacity: suppliers ``k`` with ``supply_capacity[k]`` (packages a day) and ``supply_option[k]``
    (the option that makes it an inventory site, -1 when it is one whatever the plan);
    ``supply_cover`` (same-day rows x suppliers, indices sorted: its nonzeros in order are the
    (row, supplier) pairs the split may use) and ``same_day_demand[i]`` (packages a day). Without
    suppliers a row is same-day exactly when an option of the plan reaches it.
    """

    option_site: np.ndarray
    option_action: np.ndarray
    option_cost: np.ndarray
    budget: float
    same_day_population: np.ndarray
    same_day_cover: sparse.csr_matrix
    next_day_population: np.ndarray
    next_day_cover: sparse.csr_matrix
    same_day_fixed: float
    next_day_fixed: float
    committed_cost: float = 0.0
    money_unit: float = MONEY_UNIT
    option_phase: np.ndarray | None = None
    phase_budgets: np.ndarray | None = None
    phase_committed: np.ndarray | None = None
    required_sites: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    same_day_group: np.ndarray | None = None
    same_day_people: np.ndarray | None = None
    equity_floor: np.ndarray = field(default_factory=lambda: _empty(float))
    equity_fixed: np.ndarray = field(default_factory=lambda: _empty(float))
    equity_floor_cost: np.ndarray = field(default_factory=lambda: _empty(float))
    shortfall_group: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    shortfall_base: sparse.csr_matrix | None = None
    taken_site: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    taken_action: np.ndarray = field(default_factory=lambda: _empty(object))
    taken_phase: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    same_day_demand: np.ndarray | None = None
    supply_cover: sparse.csr_matrix | None = None
    supply_option: np.ndarray = field(default_factory=lambda: _empty(np.int64))
    supply_capacity: np.ndarray = field(default_factory=lambda: _empty(float))
    # The best split of the last few choices asked about (a split is an LP; the search asks the
    # same choice for its value, its equity and its feasibility). Not copied by ``replace``.
    _services: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        # One phase unless said otherwise; no groups unless said otherwise.
        defaults = {
            "option_phase": np.zeros(len(self.option_site), dtype=np.int64),
            "phase_budgets": np.array([float(self.budget)]),
            "phase_committed": np.array([float(self.committed_cost)]),
            "same_day_group": np.full(len(self.same_day_population), -1, dtype=np.int64),
            "same_day_people": np.zeros(len(self.same_day_population)),
            "same_day_demand": np.zeros(len(self.same_day_population)),
            "supply_cover": sparse.csr_matrix((len(self.same_day_population), 0), dtype=np.int8),
            "shortfall_base": sparse.csr_matrix((len(self.shortfall_group), len(self.option_site)), dtype=bool),
        }
        if len(self.equity_floor_cost) != len(self.equity_floor):
            object.__setattr__(self, "equity_floor_cost", np.zeros(len(self.equity_floor)))
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)

    @property
    def n_options(self) -> int:
        return len(self.option_site)

    @property
    def n_phases(self) -> int:
        return len(self.phase_budgets)

    @property
    def n_groups(self) -> int:
        return len(self.equity_floor)

    @property
    def equity_need(self) -> np.ndarray:
        """People each group's floor needs beyond those in reach whatever the plan (<= 0: none)."""
        return self.equity_floor - self.equity_fixed

    def site_groups(self) -> list[np.ndarray]:
        """Options that share a site (at most one of them may be taken), for sites with several
        and for every site that must act."""
        order = np.argsort(self.option_site, kind="stable")
        sites, starts, counts = np.unique(self.option_site[order], return_index=True, return_counts=True)
        required = np.isin(sites, self.required_sites)
        return [order[s:s + c] for s, c, r in zip(starts, counts, required) if c > 1 or r]

    def spend(self, chosen: np.ndarray) -> float:
        """USD a choice (bool per option) spends, committed cost included."""
        return usd_total([self.committed_cost, *self.option_cost[np.asarray(chosen, dtype=bool)]])

    def budget_room(self) -> np.ndarray:
        """USD each phase's cumulative budget row leaves for the options: what the phases up to
        it bring, less what is committed in them."""
        return np.cumsum(self.phase_budgets) - np.cumsum(self.phase_committed)

    def committed_with(self, taken: np.ndarray) -> np.ndarray:
        """USD committed in each phase once the options ``taken`` (bool per option) are: what was
        committed there and their costs, added as decimals (:func:`usd_total`)."""
        taken = np.asarray(taken, dtype=bool)
        return np.array([usd_total([self.phase_committed[t], *self.option_cost[taken & (self.option_phase == t)]])
                         for t in range(self.n_phases)])

    def affordable(self, chosen: np.ndarray) -> bool:
        """Whether a choice keeps every cumulative budget, as the instance writes the amounts
        (:func:`ruralreach.model.instance.within_budget`)."""
        chosen = np.asarray(chosen, dtype=bool)
        return all(within_budget([*self.phase_committed[:t + 1], *self.option_cost[chosen & (self.option_phase <= t)]],
                                 self.phase_budgets[:t + 1])
                   for t in range(self.n_phases))

    @property
    def capacitated(self) -> bool:
        return self.supply_option.size > 0

    def same_day_service(self, chosen: np.ndarray) -> tuple[RowService, bool]:
        """The share of each same-day row served with a choice (bool per option), the split among
        the suppliers (per supply pair), and whether the equity floors are met. Without
        suppliers a row is served in full or not at all; with them the split is the best one
        (:func:`ruralreach.model.capacity.best_service`), meeting the floors where any split does."""
        chosen = np.asarray(chosen, dtype=bool)
        key = chosen.tobytes()
        if key in self._services:
            return self._services[key]
        full = (self.same_day_cover @ chosen.astype(np.int64)) > 0
        if not self.capacitated:
            service = RowService(full.astype(float), np.zeros(0))
            answer = service, bool(np.all(self._group_people(service.share) >= self.equity_floor))
        else:
            pairs = self.supply_cover.tocoo()
            active = (self.supply_option < 0) | _by_supplier(chosen, self.supply_option)
            use = active[pairs.col]
            pair_row, pair_supplier = pairs.row.astype(np.int64), pairs.col.astype(np.int64)
            args = (self.same_day_population, self.same_day_demand, full, pair_row[use], pair_supplier[use],
                    self.supply_capacity)
            service = None
            if self.n_groups:
                service = best_service(*args, people=self.same_day_people, group=self.same_day_group,
                                       need=self.equity_need)
            meets = service is not None
            if service is None:
                service = best_service(*args)
                meets = bool(np.all(self._group_people(service.share) >= self.equity_floor))
            pair_share = np.zeros(pairs.nnz)
            pair_share[use] = service.pair_share
            answer = RowService(service.share, pair_share), meets
        if len(self._services) >= 8:
            self._services.pop(next(iter(self._services)))
        self._services[key] = answer
        return answer

    def _group_people(self, share: np.ndarray) -> np.ndarray:
        grouped = self.same_day_group >= 0
        return self.equity_fixed + np.bincount(self.same_day_group[grouped],
                                               weights=self.same_day_people[grouped] * share[grouped],
                                               minlength=self.n_groups)

    def reachable_group_people(self) -> np.ndarray:
        """Each group's people some plan puts within same-day reach, whatever the budget: those in
        reach whatever the plan and those of the rows an option (or a supplier open whatever the
        plan) reaches. A floor above it is met by no plan at any budget."""
        return self._group_people(self._reachable_same_day_rows().astype(float))

    def reachable_people(self, stage: str) -> float:
        """The most people the stage ("same_day" or "next_day") can count, whatever the budget:
        every row an option (or a supplier open whatever the plan) reaches, reached. A plan that
        counts them all is the stage's optimum, with nothing to prove."""
        if stage == "same_day":
            return self.same_day_fixed + float(self.same_day_population[self._reachable_same_day_rows()].sum())
        return self.next_day_fixed + float(self.next_day_population[self.next_day_cover.getnnz(axis=1) > 0].sum())

    def _reachable_same_day_rows(self) -> np.ndarray:
        return (self.same_day_reach().getnnz(axis=1) > 0) | self.given_supply_rows()

    def given_supply_rows(self) -> np.ndarray:
        """Bool per same-day row: a supplier open whatever the plan (an existing inventory site
        with a capacity) reaches it. All False without capacities."""
        return self.supply_cover[:, np.flatnonzero(self.supply_option < 0)].getnnz(axis=1) > 0

    def same_day_reach(self) -> sparse.csr_matrix:
        """Rows x options: 1 where the option puts the row within same-day reach, with or without
        the capacity to serve it (a supplier's rows count for its option)."""
        if not self.capacitated:
            return self.same_day_cover
        return self.reach_through(self.supply_option >= 0)

    def group_options(self) -> sparse.csr_matrix:
        """Equity groups x options: 1 where the option reaches a same-day row of the group, with
        or without the capacity to serve it. Only these options serve a group's floor."""
        grouped = np.flatnonzero(self.same_day_group >= 0)
        members = sparse.csr_matrix((np.ones(grouped.size), (self.same_day_group[grouped], grouped)),
                                    shape=(self.n_groups, len(self.same_day_population)))
        reached = (members @ self.same_day_reach()).tocsr()
        reached.data[:] = 1
        return reached

    def reach_through(self, suppliers: np.ndarray) -> sparse.csr_matrix:
        """Rows x options: the same-day cover with the rows of ``suppliers`` (bool per supplier,
        each with an option) counted as reached by their options."""
        opens = np.flatnonzero(suppliers)
        pick = sparse.csr_matrix((np.ones(opens.size, dtype=np.int8), (opens, self.supply_option[opens])),
                                 shape=(len(self.supply_option), self.n_options))
        reach = (self.same_day_cover + self.supply_cover @ pick).tocsr()
        reach.data[:] = 1
        return reach.astype(np.int8)

    def next_day_reached(self, chosen: np.ndarray) -> np.ndarray:
        """Bool per next-day row: whether a choice (bool per option) reaches it."""
        return self.next_day_cover @ np.asarray(chosen, dtype=np.int64) > 0

    def same_day_share(self, chosen: np.ndarray) -> np.ndarray:
        """The share of each same-day row served with a choice."""
        return self.same_day_service(chosen)[0].share

    def equity_people(self, chosen: np.ndarray) -> np.ndarray:
        """Each group's same-day people with a choice."""
        return self._group_people(self.same_day_share(chosen))

    def floors_out_of_reach(self) -> bool:
        """Whether some group's floor is above every person of it some plan reaches: then no plan
        meets the floors, whatever the budget."""
        return bool(np.any(self.reachable_group_people() < self.equity_floor))

    def floor_share(self, chosen: np.ndarray) -> float:
        """The largest share of every equity floor a choice meets (at most 1)."""
        return self._least_floor_share(self.equity_people(chosen))

    def floor_share_ceiling(self) -> float:
        """The largest share of every equity floor any plan meets, whatever the budget (at most
        1): each group's people in reach of some option against its floor. A plan that meets it
        meets the most any plan can."""
        return self._least_floor_share(self.reachable_group_people())

    def _least_floor_share(self, people: np.ndarray) -> float:
        floored = self.equity_floor > 0
        return min(1.0, float(np.min(people[floored] / self.equity_floor[floored]))) if floored.any() else 1.0

    def feasible(self, chosen: np.ndarray) -> bool:
        """Whether a choice is a plan: one it is but for the floors (:meth:`keeps_all_but_floors`),
        and every equity floor met."""
        return self.keeps_all_but_floors(chosen) and self.same_day_service(chosen)[1]

    def keeps_all_but_floors(self, chosen: np.ndarray) -> bool:
        """Whether a choice takes one option per site, acts at every site that must act, and
        keeps every budget."""
        sites = self.option_site[chosen]
        return (np.unique(sites).size == sites.size and bool(np.all(np.isin(self.required_sites, sites)))
                and self.affordable(chosen))

    @cached_property
    def people_step(self) -> dict[str, float]:
        """For each tier, the people of which every plan's (weighted) population is a whole
        multiple (0: none), so that a proven bound on it rounds down to one: 1 for whole people,
        1/2 where a phase weighs 1.5. Same-day with capacities has none (a split serves fractions
        of zones); next-day is whole people whatever the capacities."""
        same_day = 0.0 if self.capacitated else _common_step(np.append(self.same_day_population,
                                                                        self.same_day_fixed))
        return {"same_day": same_day, "next_day": _common_step(np.append(self.next_day_population,
                                                                        self.next_day_fixed))}

    @property
    def cost_step(self) -> float:
        """USD of which every plan's cost is a whole multiple (the greatest common divisor of the
        costs and the committed cost when all are whole dollars; 0 when some are not), so a
        proven lower bound on cost rounds up to one."""
        costs = np.append(self.option_cost, self.committed_cost)
        whole = np.round(costs)
        if self.option_cost.size == 0 or np.any(np.abs(costs - whole) > 1e-9) or np.any(whole > 2**53):
            return 0.0
        return float(np.gcd.reduce(whole.astype(np.int64)))

    def with_budget(self, budget: float) -> "CoveringProblem":
        """The same problem at another total budget; phase budgets scale in proportion, as
        :meth:`ruralreach.model.instance.Scenario.with_budget` scales them."""
        budgets = np.array(scaled_phase_budgets(self.phase_budgets.tolist(), float(budget)))
        return replace(self, budget=float(budget), phase_budgets=budgets)


# Denominators tried for a common step of weighted people: phase weights such as 0.5, 1.25 or 0.1.
_STEP_DENOMINATORS = (1, 2, 4, 5, 8, 10, 20, 25, 40, 50, 100, 1000)


def _common_step(values: np.ndarray) -> float:
    """The greatest step of which every value is a whole multiple, for values that are whole
    multiples of 1/d for a d in _STEP_DENOMINATORS (to floating-point noise); 0 when none is."""
    for d in _STEP_DENOMINATORS:
        scaled = np.abs(values) * d
        whole = np.round(scaled)
        if np.all(np.abs(scaled - whole) <= 1e-6) and np.all(whole < 2**53):
            step = int(np.gcd.reduce(whole.astype(np.int64)))
            return step / d if step > 0 else 0.0
    return 0.0


def option_table(instance: Instance):
    """Every (site, action) option: its site, action and cost, and whether it makes the site one of
    the same-day and of the next-day sites (an upgrade adds no next-day reach: the station already
    delivers)."""
    kinds = instance.sites["kind"].to_numpy()
    per_action = [(np.flatnonzero(kinds == a.kind), a) for a in ACTIONS.values()]
    site = np.concatenate([positions for positions, _ in per_action]).astype(np.int64)
    action = np.concatenate([np.full(positions.size, a.name, dtype=object) for positions, a in per_action])
    cost = np.concatenate([instance.sites[a.cost_column].to_numpy(dtype=float)[positions]
                           for positions, a in per_action])
    gives_same_day = np.concatenate([np.full(positions.size, a.gives_same_day) for positions, a in per_action])
    gives_next_day = np.concatenate([np.full(positions.size, a.gives_next_day) for positions, a in per_action])
    return site, action, cost, gives_same_day, gives_next_day


def enumerate_options(instance: Instance, reach: Reach):
    """Every option (:func:`option_table`) with its cost and the zones it newly reaches in each
    tier: site, action, cost arrays and two zones x options CSR matrices (same-day, next-day)."""
    site, action, cost, gives_same_day, gives_next_day = option_table(instance)
    return (site, action, cost, option_columns(reach.same_day, site, gives_same_day),
            option_columns(reach.next_day, site, gives_next_day))


def option_columns(reach: sparse.csr_matrix, site: np.ndarray, gives: np.ndarray) -> sparse.csr_matrix:
    """``reach``'s rows (every zone, or the zones a plan can change) x options: the reach column of
    each option's site where the option ``gives`` this tier, empty where it does not. One sparse
    product with a site-to-option selection, so that the reach columns are not copied first (on
    large instances that copy set the peak memory)."""
    options = np.flatnonzero(gives)
    pick = sparse.csr_matrix((np.ones(options.size, dtype=np.int8), (site[options], options)),
                             shape=(reach.shape[1], site.size))
    cover = (reach @ pick).tocsr()
    cover.eliminate_zeros()
    return cover


@dataclass(frozen=True)
class _Rows:
    """One tier's demand rows: which options reach each, its (weighted) population, and for
    same-day rows the equity group, the people counted toward it, the demand (packages a day)
    and which suppliers may serve it."""

    cover: sparse.csr_matrix
    population: np.ndarray
    group: np.ndarray
    people: np.ndarray
    demand: np.ndarray | None = None
    supply: sparse.csr_matrix | None = None

    def __post_init__(self):
        n = len(self.population)
        if self.demand is None:
            object.__setattr__(self, "demand", np.zeros(n))
        if self.supply is None:
            object.__setattr__(self, "supply", sparse.csr_matrix((n, 0), dtype=np.int8))

    def select(self, keep: np.ndarray) -> "_Rows":
        positions = np.flatnonzero(keep)
        return _Rows(self.cover[positions].tocsr(), self.population[positions], self.group[positions],
                     self.people[positions], self.demand[positions], self.supply[positions].tocsr())

    def merged(self) -> "_Rows":
        """Rows reached by no option and no supplier dropped; rows reached by the same options,
        served by the same suppliers and in the same group merged, in order of their first row
        (stable, readable)."""
        rows = self.select((np.diff(self.cover.indptr) > 0) | (np.diff(self.supply.indptr) > 0))
        cover, supply = rows.cover, rows.supply
        cover.sort_indices()
        supply.sort_indices()

        first, index = identical_rows(rows.group, cover, supply)
        order = np.argsort(first)
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)

        def summed(values):
            return np.bincount(rank[index], weights=values, minlength=order.size)

        merged, merged_supply = cover[first[order]].tocsr(), supply[first[order]].tocsr()
        merged.data[:] = 1
        merged_supply.data[:] = 1
        return _Rows(merged.astype(np.int8), summed(rows.population), rows.group[first[order]], summed(rows.people),
                     summed(rows.demand), merged_supply.astype(np.int8))


def _same_pattern(matrix: sparse.csr_matrix, rows: np.ndarray, other: np.ndarray) -> bool:
    """Whether each row ``rows[k]`` has exactly the columns of row ``other[k]`` (indices sorted,
    equal counts)."""
    return bool(np.array_equal(entries_of(matrix, rows), entries_of(matrix, other)))


def identical_rows(group: np.ndarray, cover: sparse.csr_matrix, supply: sparse.csr_matrix):
    """Classes of rows in the same group with the same columns in ``cover`` and in ``supply``
    (indices sorted): as ``np.unique(keys, return_index=True, return_inverse=True)`` on exact
    keys, the first row of each class and each row's class. Rows are told apart by random
    weights summed over their columns, and every class is then checked column by column against
    its first row; a collision (about 2**-128 a pair) is drawn again with other weights."""
    for seed in itertools.count():
        rng = np.random.default_rng(seed)
        keys = np.column_stack([
            group.astype(np.int64).view(np.uint64), np.diff(cover.indptr).astype(np.uint64),
            np.diff(supply.indptr).astype(np.uint64),
            *(row_sums(cover, rng.integers(0, 2**64, cover.shape[1], dtype=np.uint64, endpoint=False))
              for _ in range(2)),
            row_sums(supply, rng.integers(0, 2**64, supply.shape[1], dtype=np.uint64, endpoint=False)),
        ])
        _, first, index = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        index = index.reshape(-1)
        rows = np.arange(len(index))
        if _same_pattern(cover, rows, first[index]) and _same_pattern(supply, rows, first[index]):
            return first, index


def _site_set(positions: np.ndarray, n_sites: int) -> np.ndarray:
    """Bool per site: whether it is among ``positions``."""
    chosen = np.zeros(n_sites, dtype=bool)
    chosen[positions] = True
    return chosen


def _reaches_a_row(same_day: sparse.csr_matrix, next_day: sparse.csr_matrix) -> np.ndarray:
    """Per option: whether it reaches some row in either tier (one that does not only adds cost)."""
    return (same_day.getnnz(axis=0) > 0) | (next_day.getnnz(axis=0) > 0)


def _dominated(cost: np.ndarray, same_day: sparse.csc_matrix, next_day: sparse.csc_matrix,
               dominators: np.ndarray | None = None, phase: np.ndarray | None = None) -> np.ndarray:
    """Options for which another option is no dearer and reaches a superset in both tiers.

    Ties keep one option: at equal cost the wider reach wins, then the first. Sound with the
    one-action-per-site rule: the stronger option of a candidate site (service center) reaches a
    superset of the weaker. Superset tests come from one sparse product: the number of rows two
    options share equals the size of one option's rows exactly when the other contains them.

    ``dominators`` (bool per option) limits which options may dominate, and ``phase`` limits
    dominance to options of the same phase: with phases, a plan may take a dominating option's
    site in another phase, and only an option whose site has no other action can then always take
    the dominated option's place (in the earlier of the two phases, at no more cost).
    """
    n = cost.size
    both = sparse.vstack([same_day, next_day]).tocsc().astype(np.int32)
    size = np.diff(both.indptr)
    order = np.lexsort((np.arange(n), -size, cost))  # cheapest, then widest, then first
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    shared = (both.T @ both).tocoo()
    other, option = shared.row, shared.col
    dominates = (shared.data == size[option]) & (rank[other] < rank[option]) & (size[option] > 0)
    if dominators is not None:
        dominates &= dominators[other]
    if phase is not None:
        dominates &= phase[other] == phase[option]
    dominated = np.zeros(n, dtype=bool)
    dominated[option[dominates]] = True
    return dominated


# A group's floor in people is its share times its population taken FLOOR_TOLERANCE (relative)
# lower: 0.3 x 10 people is 3.0000000000000004 in binary floating point, and 3 people meet it.
FLOOR_TOLERANCE = 1e-9


def equity_groups(instance: Instance) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The equity groups (sorted values of the scenario's zone column, blank in none), each zone's
    group (-1 for none) and each group's floor in people (FLOOR_TOLERANCE)."""
    equity = instance.scenario.equity
    if equity is None:
        return [], np.full(len(instance.zones), -1, dtype=np.int64), _empty(float)
    names, group, group_population = zone_groups(equity, instance.zones)
    floors = np.array([equity.floor(name) for name in names], dtype=float)
    return names, group, floors * group_population * (1 - FLOOR_TOLERANCE)


def reduce_problem(instance: Instance, reach: Reach, *, merge: bool = True, drop_dominated: bool = True) -> CoveringProblem:
    """Build the covering problem for ``instance``; ``merge``/``drop_dominated`` switch the
    optional reductions off (for tests that compare reduced and unreduced optima)."""
    site, action, cost, gives_same_day, gives_next_day = option_table(instance)
    forced_action, never = decided(instance.sites)
    forced_site = np.array([a is not None for a in forced_action[site]], dtype=bool)
    forced = forced_site & (action == forced_action[site])
    allowed = ~never[site] & (~forced_site | forced)

    # Capacity that can bind makes a site a supplier: its same-day reach goes through the split.
    capacity = effective_capacity(instance, reach)
    capped = np.isfinite(capacity)
    supplies = gives_same_day & capped[site]
    sends_same_day = gives_same_day & ~supplies  # a supplier's same-day reach goes through the split

    n_sites = len(instance.sites)
    holds_inventory = already(instance.sites["kind"], "holds_inventory")
    delivers = already(instance.sites["kind"], "delivers")
    population = instance.zones["population"].to_numpy(dtype=float)
    demand = zone_demand(instance)
    _, zone_group, equity_floor = equity_groups(instance)
    phases = instance.scenario.rollout
    weights = np.array([p.weight for p in phases], dtype=float)
    phased = len(phases) > 1

    # Without phases a forced action is decided now: its zones join the constants (or its site
    # supplies whatever the plan).
    committed = forced if not phased else np.zeros_like(forced)
    const_same = rows_reaching(reach.same_day,
                               (holds_inventory & ~capped) | _site_set(site[committed & sends_same_day], n_sites))
    const_next = rows_reaching(reach.next_day, delivers | _site_set(site[committed & gives_next_day], n_sites))
    given = holds_inventory & capped
    given[site[committed & supplies]] = True
    given_sites = np.flatnonzero(given)
    in_group = zone_group >= 0
    equity_fixed = np.bincount(zone_group[in_group & const_same], weights=population[in_group & const_same],
                               minlength=equity_floor.size)

    free = allowed & ~committed
    n_phases, last, n_free = len(phases), len(phases) - 1, int(free.sum())
    # Rows (zone, phase) are reached by options of phases up to theirs: a lower-triangular block
    # matrix of the single-phase reach. Only the last phase's same-day rows count for equity.
    triangle = sparse.csr_matrix(np.tril(np.ones((n_phases, n_phases), dtype=np.int8)))
    keep_same = ~const_same
    # The rows a plan can change: most zones are reached before it (next-day, nearly all), and
    # the options' columns over every zone took most of the reductions' time.
    same_day_rows = reach.same_day[np.flatnonzero(keep_same)]
    supply_cover, supply_option, supply_capacity = _suppliers(
        same_day_rows, demand[keep_same], given_sites, site[free], supplies[free], capacity, n_phases)
    tiers = {}
    for tier, tier_reach, gives, constant in (("same_day", same_day_rows, sends_same_day, const_same),
                                              ("next_day", reach.next_day[np.flatnonzero(~const_next)],
                                               gives_next_day, const_next)):
        keep = ~constant
        zone_cover = option_columns(tier_reach, site[free], gives[free])
        if phased:
            zone_cover = sparse.kron(triangle, zone_cover, format="csr")
        group = np.where(in_group, zone_group, -1) if tier == "same_day" else np.full(len(population), -1)
        rows = _Rows(
            zone_cover.astype(np.int8, copy=False),
            np.concatenate([w * population[keep] for w in weights]),
            np.concatenate([group[keep] if t == last else np.full(int(keep.sum()), -1) for t in range(n_phases)]),
            np.concatenate([population[keep] * (group[keep] >= 0) if t == last else np.zeros(int(keep.sum()))
                            for t in range(n_phases)]),
            np.tile(demand[keep], n_phases) if tier == "same_day" else None,
            supply_cover if tier == "same_day" else None,
        )
        if not merge:
            rows = rows.select((np.diff(rows.cover.indptr) > 0) | (np.diff(rows.supply.indptr) > 0))
        tiers[tier] = rows.merged() if merge else rows

    option_site = np.tile(site[free], n_phases)
    option_action = np.tile(action[free], n_phases)
    option_cost = np.tile(cost[free], n_phases)
    option_phase = np.repeat(np.arange(n_phases), n_free)
    required_sites = np.unique(site[forced]) if phased else _empty(np.int64)
    supply_cover = tiers["same_day"].supply
    supplying = _supplying(supply_cover, supply_option, option_site.size)
    useful = (_reaches_a_row(tiers["same_day"].cover, tiers["next_day"].cover) | supplying
              | np.isin(option_site, required_sites))
    if drop_dominated:
        same_cover, next_cover = tiers["same_day"].cover.tocsc(), tiers["next_day"].cover.tocsc()
        if phased:
            sites_actions = np.unique(np.stack([option_site, np.unique(option_action, return_inverse=True)[1]]), axis=1)
            actions_per_site = np.bincount(sites_actions[0], minlength=len(instance.sites))
            dominated = _dominated(option_cost, same_cover, next_cover, dominators=actions_per_site[option_site] == 1,
                                   phase=option_phase) & ~np.isin(option_site, required_sites)
        else:
            dominated = _dominated(option_cost, same_cover, next_cover)
        useful &= ~(dominated & ~supplying)  # a supplier's capacity is its own: never dominated
    keep = np.flatnonzero(useful)
    supply_cover, supply_option, supply_capacity = _kept_suppliers(supply_cover, supply_option, supply_capacity,
                                                                   useful)
    committed_cost = usd_total(cost[committed])
    option_cost = option_cost[keep]
    return _without_roomy_suppliers(CoveringProblem(
        money_unit=money_unit(committed_cost + float(np.nansum(cost[free])), _cheapest(option_cost),
                              _common_step(option_cost)),
        option_site=option_site[keep],
        option_action=option_action[keep],
        option_cost=option_cost,
        budget=float(instance.scenario.budget),
        same_day_population=tiers["same_day"].population,
        same_day_cover=tiers["same_day"].cover[:, keep].tocsr(),
        next_day_population=tiers["next_day"].population,
        next_day_cover=tiers["next_day"].cover[:, keep].tocsr(),
        same_day_fixed=float(weights.sum() * population[const_same].sum()),
        next_day_fixed=float(weights.sum() * population[const_next].sum()),
        committed_cost=committed_cost,
        option_phase=option_phase[keep],
        phase_budgets=np.array([p.budget for p in phases], dtype=float),
        phase_committed=np.concatenate([[committed_cost], np.zeros(n_phases - 1)]),
        required_sites=required_sites,
        same_day_group=tiers["same_day"].group,
        same_day_people=tiers["same_day"].people,
        equity_floor=equity_floor,
        equity_fixed=equity_fixed,
        taken_site=site[committed],
        taken_action=action[committed],
        taken_phase=np.zeros(int(committed.sum()), dtype=np.int64),
        same_day_demand=tiers["same_day"].demand,
        supply_cover=supply_cover,
        supply_option=supply_option,
        supply_capacity=supply_capacity,
    ))


def _suppliers(zone_reach: sparse.csr_matrix, zone_demand: np.ndarray, given_sites: np.ndarray,
               option_site: np.ndarray, option_supplies: np.ndarray, capacity: np.ndarray, n_phases: int):
    """The suppliers of a (phased) problem before reductions: in each phase's block of rows, every
    site that holds inventory with a capacity whatever the plan, and every supplying option of
    that phase or an earlier one, each with the zones it can ship some of (:func:`can_ship`).
    Returns the rows x suppliers matrix, each supplier's option (in the phased option numbering:
    phase x options per phase + option; -1 for none) and capacity."""
    # A site that can ship nothing same-day (capacity 0) supplies nothing.
    given_sites = given_sites[capacity[given_sites] > 0]
    options = np.flatnonzero(option_supplies & (capacity[option_site] > 0))
    n_free = option_site.size
    if given_sites.size == 0 and options.size == 0:
        return sparse.csr_matrix((zone_reach.shape[0] * n_phases, 0), dtype=np.int8), _empty(np.int64), _empty(float)

    def shipping(sites: np.ndarray) -> sparse.csr_matrix:
        block = zone_reach[:, sites].tocoo()
        ships = can_ship(zone_demand[block.row], capacity[sites][block.col])
        return sparse.csr_matrix((block.data[ships], (block.row[ships], block.col[ships])), shape=block.shape)

    # Phase t's suppliers: the given sites, then the supplying options once per phase up to t.
    offered_sites = option_site[options]
    given, offered = shipping(given_sites), shipping(offered_sites)
    blocks, supplier_option, supplier_capacity = [], [], []
    for t in range(n_phases):
        blocks.append(sparse.hstack([given] + [offered] * (t + 1), format="csr"))
        supplier_option.append(np.concatenate([np.full(given_sites.size, -1)]
                                              + [phase * n_free + options for phase in range(t + 1)]))
        supplier_capacity.append(np.concatenate([capacity[given_sites]] + [capacity[offered_sites]] * (t + 1)))
    cover = sparse.block_diag(blocks, format="csr").astype(np.int8)
    return cover, np.concatenate(supplier_option).astype(np.int64), np.concatenate(supplier_capacity)


def _supplying(supply_cover: sparse.csr_matrix, supply_option: np.ndarray, n_options: int) -> np.ndarray:
    """Per option: whether it makes some supplier serve a row."""
    serving = supply_option[(supply_cover.getnnz(axis=0) > 0) & (supply_option >= 0)]
    supplying = np.zeros(n_options, dtype=bool)
    supplying[serving] = True
    return supplying


def _by_supplier(per_option: np.ndarray, supply_option: np.ndarray) -> np.ndarray:
    """An option array read per supplier (a supplier with no option reads False, or -1)."""
    padded = np.append(per_option, False if per_option.dtype == bool else -1)
    return padded[np.where(supply_option >= 0, supply_option, per_option.size)]


def _kept_suppliers(supply_cover: sparse.csr_matrix, supply_option: np.ndarray, supply_capacity: np.ndarray,
                    kept_options: np.ndarray):
    """The suppliers left once only ``kept_options`` (bool per option) remain: those that serve a
    row and whose option is kept (or that need none), their options renumbered."""
    renumber = np.cumsum(kept_options) - 1
    keep = (supply_cover.getnnz(axis=0) > 0) & ((supply_option < 0) | _by_supplier(kept_options, supply_option))
    cover = supply_cover[:, np.flatnonzero(keep)].tocsr()
    cover.sort_indices()
    return cover, _by_supplier(renumber, supply_option[keep]), supply_capacity[keep]


@dataclass(frozen=True)
class Restriction:
    """A covering problem with some options decided: ``problem`` is what is left to choose, over
    the options ``options`` of the parent (positions in the parent's option arrays); the parent
    options ``taken`` are in every plan. Plans map both ways exactly."""

    problem: CoveringProblem
    options: np.ndarray
    taken: np.ndarray
    n_parent_options: int

    def lift(self, chosen: np.ndarray) -> np.ndarray:
        """The parent's choice (bool per parent option) of a choice in the restricted problem."""
        parent = np.zeros(self.n_parent_options, dtype=bool)
        parent[self.taken] = True
        parent[self.options[chosen]] = True
        return parent

    def project(self, parent_chosen: np.ndarray) -> np.ndarray:
        """The restricted choice of a parent choice that takes every option in ``taken``: options
        the restriction dropped as reaching nothing left are dropped (the plan only gets cheaper)."""
        return parent_chosen[self.options]


def _without_roomy_suppliers(problem: CoveringProblem) -> CoveringProblem:
    """The same problem without the suppliers whose capacity covers the demand of every row they
    reach (once options are decided, many do): such a supplier serves in full, so a taken one's
    rows become constants and an option's rows join its same-day reach. Repeated, since rows that
    become constants ask nothing more of the other suppliers."""
    while problem.capacitated:
        asked = np.asarray(problem.supply_cover.T @ problem.same_day_demand).ravel()
        roomy = problem.supply_capacity >= asked
        if not roomy.any():
            return problem
        option = problem.supply_option
        constant = problem.supply_cover[:, np.flatnonzero(roomy & (option < 0))].getnnz(axis=1) > 0
        rows = _Rows(problem.reach_through(roomy & (option >= 0)), problem.same_day_population, problem.same_day_group,
                     problem.same_day_people, problem.same_day_demand,
                     problem.supply_cover[:, np.flatnonzero(~roomy)].tocsr()).select(~constant).merged()
        grouped = constant & (problem.same_day_group >= 0)
        supply = rows.supply
        supply.sort_indices()
        problem = replace(
            problem,
            same_day_population=rows.population, same_day_cover=rows.cover, same_day_group=rows.group,
            same_day_people=rows.people, same_day_demand=rows.demand, supply_cover=supply,
            supply_option=option[~roomy], supply_capacity=problem.supply_capacity[~roomy],
            same_day_fixed=problem.same_day_fixed + float(problem.same_day_population[constant].sum()),
            equity_fixed=problem.equity_fixed + np.bincount(problem.same_day_group[grouped],
                                                            weights=problem.same_day_people[grouped],
                                                            minlength=problem.n_groups),
        )
    return problem


def _free_options(problem: CoveringProblem, taken: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """The options still open once ``taken`` are in every plan and ``excluded`` in none: neither,
    and not at a site that already acts."""
    return ~taken & ~excluded & ~np.isin(problem.option_site, problem.option_site[taken])


# Room a floor must leave below a row's people for the row to count as one every plan reaches:
# a few ulps of a national total would do; this is a person in ten million.
FORCED_ROW_MARGIN = 1e-7
FORCING_CHUNK = 2048  # forced rows whose overlaps with every row are counted at once
# The most products of a forced row's option with a row's that rows_the_floors_reach counts: four
# times what the densest network measured asks for with a floor at everyone (19,740 sites). Past
# it the rows are left as they are, which is always valid.
FORCING_WORK = 1e9


def rows_the_floors_force(problem: CoveringProblem, floors: dict[str, float]) -> dict[str, np.ndarray] | None:
    """The rows (a mask per tier) that every plan keeping ``floors`` (a stage's kept value,
    people in reach whatever the plan included) must reach: where a floor leaves less room below
    the most its tier can reach than a row's people, only plans reaching that row meet it. None
    when there are none, and always with capacities (where a same-day row may be served in part).

    Why: the floor is one row over many, so the LP meets it with a little of every row, and
    neither it nor HiGHS's presolve sees the covering rows it implies; with a floor at everyone
    in reach, a later stage is a set cover."""
    none = np.zeros(problem.n_options, dtype=bool)
    return _forced(problem, floors, none, none)[0]


def _forced(problem: CoveringProblem, floors: dict[str, float], taken: np.ndarray,
            excluded: np.ndarray) -> tuple[dict[str, np.ndarray] | None, dict]:
    """The rows no taken option reaches that every plan keeping ``floors`` and the decisions
    ``taken`` and ``excluded`` must reach (:func:`rows_the_floors_force`), and each tier's cover
    over the options still free (counts) with its rows still open (reached by a free option and
    by no taken one)."""
    if problem.capacitated or not floors:
        return None, {}
    free = _free_options(problem, taken, excluded)
    tiers = {"same_day": (problem.same_day_cover, problem.same_day_population, problem.same_day_fixed),
             "next_day": (problem.next_day_cover, problem.next_day_population, problem.next_day_fixed)}
    rows, forced = {}, {}
    for tier, (cover, people, fixed) in tiers.items():
        # Counted in int32: an int8 sum of many options would wrap.
        constant = cover @ taken.astype(np.int32) > 0
        open_rows = ~constant & (cover @ free.astype(np.int32) > 0)
        rows[tier] = open_rows
        forced[tier] = np.zeros(len(people), dtype=bool)
        if tier in floors:
            most = fixed + float(people[constant | open_rows].sum())
            room = most - floors[tier]
            forced[tier] = open_rows & (people > room + FORCED_ROW_MARGIN * max(abs(most), 1.0))
    if not any(mask.any() for mask in forced.values()):
        return None, {}
    covers = {}
    for tier, (cover, _, _) in tiers.items():
        cover = cover[:, np.flatnonzero(free)].tocsr().astype(np.int32)  # counts, not int8 sums
        cover.data[:] = 1
        covers[tier] = (cover, rows[tier])
    return forced, covers


def rows_the_floors_reach(problem: CoveringProblem, floors: dict[str, float], taken: np.ndarray,
                          excluded: np.ndarray) -> dict[str, np.ndarray] | None:
    """The rows, a mask per tier, that every plan keeping ``floors`` and the decisions ``taken``
    and ``excluded`` reaches though they need not be asked for: rows (of either tier) whose
    options include every option of a row the floors force (:func:`rows_the_floors_force`), but
    one of each set of forced rows with the same options. None when there are none, or when
    finding them would take more than FORCING_WORK products.

    The forced rows that stay keep the floor's room smaller than their people (the rows returned
    move into the constants, from the most and from the floor alike), so every plan a problem
    without the rows returned accepts reaches them, and with them every row returned.

    Why: HiGHS keeps a covering row that contains another; with a floor at everyone in reach, the
    cost stage is a set cover that HiGHS proves several times faster without them
    (benchmarks/README.md)."""
    forced, covers = _forced(problem, floors, taken, excluded)
    if forced is None:
        return None
    # The forced rows' options, same-day rows first: the order that breaks ties between forced
    # rows with the same options (the first stays).
    forcing = sparse.vstack([covers[tier][0][np.flatnonzero(forced[tier])] for tier in covers]).tocsr()
    per_option = forcing.getnnz(axis=0).astype(float)
    if sum(per_option @ cover.getnnz(axis=0) for cover, _ in covers.values()) > FORCING_WORK:
        return None
    sizes = forcing.getnnz(axis=1)
    first_forced = 0
    reached = {}
    for tier, (cover, open_rows) in covers.items():
        row_forced = np.flatnonzero(forced[tier])
        own = np.full(cover.shape[0], -1)  # each forced row's place in ``forcing``
        own[row_forced] = first_forced + np.arange(row_forced.size)
        row_sizes = cover.getnnz(axis=1)
        mask = np.zeros(cover.shape[0], dtype=bool)
        for start in range(0, forcing.shape[0], FORCING_CHUNK):  # the overlaps of a chunk at a time
            overlap = (forcing[start:start + FORCING_CHUNK] @ cover.T).tocoo()
            f, row = overlap.row + start, overlap.col
            contains = overlap.data == sizes[f]  # the forced row's options are all the row's
            same = sizes[f] == row_sizes[row]
            # A forced row stays unless another contains it strictly, or holds the same options
            # and comes first.
            by_other = contains & ((own[row] < 0) | ((f != own[row]) & (~same | (f < own[row]))))
            mask[row[by_other]] = True
        reached[tier] = mask & open_rows
        first_forced += row_forced.size
    return reached if any(mask.any() for mask in reached.values()) else None


def restrict(problem: CoveringProblem, taken: np.ndarray, excluded: np.ndarray,
             reached: dict[str, np.ndarray] | None = None) -> Restriction:
    """The problem left once the options ``taken`` are in every plan and ``excluded`` in none
    (bool per option), in the same reduced space as :func:`reduce_problem`: rows a taken option
    reaches become constants, the taken options' cost is committed in their phases, options
    sharing a site with a taken one drop out, rows now reached by the same remaining options
    merge, and options that reach no remaining row drop out (they could only add cost) unless
    their site must act. Dominance is not re-applied, so that every plan of the parent that keeps
    the decisions projects onto a plan no worse. A taken option's suppliers supply whatever the
    plan, and those of options left out are dropped; a supplier whose capacity now covers every
    row it reaches serves in full (:func:`_without_roomy_suppliers`). ``reached``: rows (a mask
    per tier) every plan still of interest reaches besides (:func:`rows_the_floors_reach`), made
    constants too.

    Why: after the first stage fixes most options (by reduced costs), rows that differed only in
    fixed options become identical, and the later stages' models are much smaller.
    """
    free = _free_options(problem, taken, excluded)
    required = np.setdiff1d(problem.required_sites, problem.option_site[taken])
    # A taken option's suppliers supply whatever the plan; those of options that can no longer be
    # taken are gone.
    option = problem.supply_option
    stays = (option < 0) | _by_supplier(taken | free, option)
    supply_option = np.where(_by_supplier(taken, option), -1, option)[stays]
    supply = problem.supply_cover[:, np.flatnonzero(stays)].tocsr()
    tiers, gains = {}, {}
    for tier, cover, population in (("same_day", problem.same_day_cover, problem.same_day_population),
                                    ("next_day", problem.next_day_cover, problem.next_day_population)):
        # Counted, not multiplied: an int8 product would wrap for a row that many taken options reach.
        constant = cover[:, np.flatnonzero(taken)].getnnz(axis=1) > 0
        if reached is not None:
            constant |= reached[tier]
        group = problem.same_day_group if tier == "same_day" else np.full(len(population), -1)
        people = problem.same_day_people if tier == "same_day" else np.zeros(len(population))
        rows = _Rows(cover[:, np.flatnonzero(free)].tocsr(), population, group, people,
                     problem.same_day_demand if tier == "same_day" else None,
                     supply if tier == "same_day" else None)
        tiers[tier] = rows.select(~constant).merged()
        gains[tier] = float(population[constant].sum())
        if tier == "same_day":
            grouped = constant & (group >= 0)
            equity_gain = np.bincount(group[grouped], weights=people[grouped], minlength=problem.n_groups)
    same, nxt = tiers["same_day"], tiers["next_day"]
    # Suppliers renumbered onto the free options (as the option columns are below).
    supply_option = _by_supplier(np.cumsum(free) - 1, supply_option)
    supplying = _supplying(same.supply, supply_option, int(free.sum()))
    useful = _reaches_a_row(same.cover, nxt.cover) | supplying | np.isin(problem.option_site[free], required)
    options = np.flatnonzero(free)[useful]
    supply_cover, supply_option, supply_capacity = _kept_suppliers(same.supply, supply_option,
                                                                   problem.supply_capacity[stays], useful)
    phase_committed = problem.committed_with(taken)
    return Restriction(
        problem=_without_roomy_suppliers(replace(
            problem,
            option_site=problem.option_site[options],
            option_action=problem.option_action[options],
            option_cost=problem.option_cost[options],
            option_phase=problem.option_phase[options],
            same_day_population=same.population,
            same_day_cover=same.cover[:, np.flatnonzero(useful)].tocsr(),
            next_day_population=nxt.population,
            next_day_cover=nxt.cover[:, np.flatnonzero(useful)].tocsr(),
            same_day_fixed=problem.same_day_fixed + gains["same_day"],
            next_day_fixed=problem.next_day_fixed + gains["next_day"],
            committed_cost=problem.spend(taken),
            phase_committed=phase_committed,
            required_sites=required,
            same_day_group=same.group,
            same_day_people=same.people,
            equity_fixed=problem.equity_fixed + equity_gain,
            # What the taken options spent on a group counts towards what its floor costs: the
            # options the group loses here reach only rows the taken ones reach, so a plan meeting
            # the floor still does without them.
            equity_floor_cost=np.maximum(problem.equity_floor_cost
                                         - problem.group_options() @ np.where(taken, problem.option_cost, 0.0), 0.0),
            shortfall_base=problem.shortfall_base[:, options],
            taken_site=np.concatenate([problem.taken_site, problem.option_site[taken]]),
            taken_action=np.concatenate([problem.taken_action, problem.option_action[taken]]),
            taken_phase=np.concatenate([problem.taken_phase, problem.option_phase[taken]]),
            same_day_demand=same.demand,
            supply_cover=supply_cover,
            supply_option=supply_option,
            supply_capacity=supply_capacity,
        )),
        options=options,
        taken=np.flatnonzero(taken),
        n_parent_options=problem.n_options,
    )
