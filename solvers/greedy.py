"""A fast greedy plan: the warm start of the first stage and a quick lower bound.

Covering is submodular, so the classic budgeted rule applies: repeatedly take the affordable option
with the most newly reached population per dollar, then keep the better of that plan and the best
single affordable option (a constant-factor guarantee, and in practice within a fraction of a
percent of the optimum on clustered geography). Gains only fall as rows get covered, so stale
gains in a heap are upper bounds and only the top one needs recomputing ("lazy" greedy).

With phases an option is affordable when every cumulative budget row from its phase on has room
for it. Sites that must act take their option first, in the earliest phase with room. Equity
floors come before population: while a group is short of its floor, an option's gain counts the
group's people it newly reaches (up to what the group still needs) above any population, so the
greedy meets the floors first, cheapest people first, where it can (the plan may still miss them,
and then the solver starts without a plan). Gains still only fall as the plan grows, so the lazy
rule holds. Capacities are not counted: a supplier's gain is every row it reaches. Where no plan
meets the floors, greedy plans aimed at shares of them start the search for the largest share
one plan meets (:func:`greedy_floor_share`).

A plan can also be pruned (:func:`without_redundant`): an option whose every row another option of
the plan reaches too adds nothing to any figure, and dropping it only saves its cost.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import replace

import numpy as np

from ruralreach.model.reduce import CoveringProblem

# How many shares of the equity floors below the most any plan meets a greedy plan is aimed at,
# halving the interval each time (:func:`greedy_floor_share`): a start for the floor-share MIP,
# which its search then betters.
FLOOR_SHARE_AIMS = 8


class _Gains:
    """An option's gain: the population of the rows it newly reaches, plus, with equity floors
    some group is short of, the people it newly reaches in groups short of their floor (each
    group's up to what it still needs) at a weight above all the population together."""

    def __init__(self, cover_csc, population, problem: CoveringProblem | None):
        self.cover, self.population = cover_csc, population
        self.covered = np.zeros(cover_csc.shape[0], dtype=bool)
        self.short = None
        if problem is not None and np.any(problem.equity_need > 0):
            self.group, self.people = problem.same_day_group, problem.same_day_people
            self.short = problem.equity_need  # people each group still needs, as the plan grows
            self.weight = float(population.sum()) + 1.0  # a person a floor needs outweighs all others

    def rows(self, option) -> np.ndarray:
        return self.cover.indices[self.cover.indptr[option]:self.cover.indptr[option + 1]]

    def __call__(self, option) -> float:
        new = self.rows(option)
        new = new[~self.covered[new]]
        gain = float(self.population[new].sum())
        if self.short is not None and np.any(self.short > 0):
            grouped = new[self.group[new] >= 0]
            toward = np.bincount(self.group[grouped], weights=self.people[grouped], minlength=self.short.size)
            gain += self.weight * float(np.minimum(toward, np.maximum(self.short, 0.0)).sum())
        return gain

    def take(self, option) -> None:
        new = self.rows(option)
        new = new[~self.covered[new]]
        self.covered[new] = True
        if self.short is not None:
            grouped = new[self.group[new] >= 0]
            self.short -= np.bincount(self.group[grouped], weights=self.people[grouped], minlength=self.short.size)


def greedy_choice(problem: CoveringProblem, tier: str = "same_day") -> np.ndarray:
    """A choice (bool per option) built greedily on one tier's population, within every budget."""
    # With capacities the gains are optimistic (every row in reach counts as served); the plan is
    # only a start, valued by the best split like every other.
    cover = (problem.same_day_reach() if tier == "same_day" else problem.next_day_cover).tocsc()
    population = problem.same_day_population if tier == "same_day" else problem.next_day_population
    cost, phase = problem.option_cost, problem.option_phase
    gains = _Gains(cover, population, problem if tier == "same_day" else None)
    covered = gains.covered
    chosen = np.zeros(problem.n_options, dtype=bool)
    site_taken = set()
    room = problem.budget_room().astype(float)  # USD left in each cumulative budget row
    # An option fits where it fits the row of its phase and of every later phase: the least of them.
    room_from = _least_from(room)

    def fits(option) -> bool:
        return bool(cost[option] <= room_from[phase[option]])

    def take(option) -> None:
        nonlocal room_from
        chosen[option] = True
        site_taken.add(problem.option_site[option])
        room[phase[option]:] -= cost[option]
        room_from = _least_from(room)
        gains.take(option)

    for site in problem.required_sites:
        options = sorted(np.flatnonzero(problem.option_site == site), key=lambda o: (phase[o], cost[o], o))
        fitting = [o for o in options if fits(o)]
        if fitting:
            take(fitting[0])

    def ratio(gain, option):
        return gain / cost[option] if cost[option] > 0 else np.inf

    heap = []
    for option in range(problem.n_options):
        gain = gains(option)
        if gain > 0 and fits(option) and problem.option_site[option] not in site_taken:
            heap.append((-ratio(gain, option), option))
    heapq.heapify(heap)
    while heap:
        _, option = heapq.heappop(heap)
        if not fits(option) or problem.option_site[option] in site_taken:
            continue
        gain = gains(option)
        if gain <= 0:
            continue
        if heap and -heap[0][0] > ratio(gain, option):
            heapq.heappush(heap, (-ratio(gain, option), option))  # stale: someone may beat it now
            continue
        take(option)

    if problem.required_sites.size or gains.short is not None:
        return chosen  # a single option would drop the sites that must act, or miss the floors
    greedy_value = float(population[covered].sum())
    affordable = np.flatnonzero(cost <= _least_from(problem.budget_room())[phase])
    if affordable.size:
        single_gain = np.asarray(cover[:, affordable].T @ population)
        best = affordable[int(np.argmax(single_gain))]
        if single_gain.max() > greedy_value:
            chosen = np.zeros(problem.n_options, dtype=bool)
            chosen[best] = True
    return chosen


def greedy_floor_share(problem: CoveringProblem, deadline: float | None = None) -> tuple[float, np.ndarray | None]:
    """The largest share of the equity floors a greedy plan meets, and that plan (None where no
    greedy plan keeps the budgets and the sites that must act, or ``deadline``, a
    ``time.perf_counter()``, came first): the greedy plan aimed at the share no plan can pass
    (:meth:`CoveringProblem.floor_share_ceiling`), then, where it falls short, at shares halfway
    between the best met and the least missed, FLOOR_SHARE_AIMS times. Aimed too high, the
    greedy spends on the groups it cannot lift enough and misses the others, so a plan aimed
    lower may meet more: every aim is kept if it is the best."""
    floor = problem.equity_floor
    best_share, best = -1.0, None

    def aim(share: float) -> float:
        nonlocal best_share, best
        if deadline is not None and time.perf_counter() >= deadline:
            return math.inf  # stops the halving
        chosen = greedy_choice(replace(problem, equity_floor=share * floor))
        if not problem.keeps_all_but_floors(chosen):
            return -1.0
        met = problem.floor_share(chosen)
        if met > best_share:
            best_share, best = met, chosen
        return met

    low, high = 0.0, problem.floor_share_ceiling()
    if aim(high) < high:
        for _ in range(FLOOR_SHARE_AIMS):
            middle = (low + high) / 2
            met = aim(middle)
            if met == math.inf:
                break
            if met >= middle:
                low = middle
            else:
                high = middle
    return max(best_share, 0.0), best


def without_redundant(problem: CoveringProblem, chosen: np.ndarray) -> np.ndarray:
    """The plan ``chosen`` (bool per option) without the options it does not need: most expensive
    first, each option every same-day and next-day row of which another option left in the plan
    reaches too is dropped. Every row the plan reaches stays reached, so its people, its groups'
    people and every floor are unchanged and only the cost falls. Kept whatever they reach: the
    options of sites that must act, and those that make a supplier (with capacities, what a
    supplier serves is a split, not its reach)."""
    chosen = np.asarray(chosen, dtype=bool).copy()
    covers = [cover.tocsc() for cover in (problem.same_day_cover, problem.next_day_cover)]
    reached_by = [cover @ chosen.astype(np.int64) for cover in covers]  # options of the plan reaching each row
    held = np.isin(problem.option_site, problem.required_sites)
    held[problem.supply_option[problem.supply_option >= 0]] = True
    candidates = np.flatnonzero(chosen & ~held)
    for option in candidates[np.argsort(-problem.option_cost[candidates], kind="stable")]:
        rows = [cover.indices[cover.indptr[option]:cover.indptr[option + 1]] for cover in covers]
        if all(np.all(count[r] >= 2) for count, r in zip(reached_by, rows)):
            chosen[option] = False
            for count, r in zip(reached_by, rows):
                count[r] -= 1
    return chosen


def _least_from(room: np.ndarray) -> np.ndarray:
    """Per phase, the least room of its cumulative budget row and every later phase's."""
    return np.minimum.accumulate(room[::-1])[::-1]
