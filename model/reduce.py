"""From an instance and its reach to the covering problem the model is built on.

The covering problem is stated over *options* (one per action a site may take) and *demand rows*
(groups of zones), in a reduced space where nothing the plan cannot change is a variable:

- a zone already same-day (within reach of an existing center) is a constant of the same-day
  objective, and a zone already next-day (within reach of any existing site) of the next-day one;
- a zone no option can reach drops out of that tier;
- zones reached by exactly the same options merge into one row whose population is their sum;
- an option that reaches nothing new in either tier drops out (it can only add cost);
- an option dominated by another (no dearer, reaching a superset in both tiers) drops out.

Every reduction keeps the optimum of all three stages. The solution maps back exactly: an option
is a (site, action) pair, so a chosen option is an action on a site, and coverage is recomputed
from the actions on the full instance (:mod:`ruralreach.model.coverage`), never read from the reduced rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .actions import ACTIONS
from .coverage import evaluate, no_actions
from .instance import Instance
from .reach import Reach


@dataclass(frozen=True)
class CoveringProblem:
    """The reduced problem: plain arrays, the input of the formulation.

    Options ``o``: ``option_site[o]`` (position in instance.sites), ``option_action[o]``,
    ``option_cost[o]`` (USD).
    Same-day rows ``i``: ``same_day_population[i]`` and ``same_day_cover`` (rows x options, 1
    where option o puts row i within same-day reach); next-day rows ``j`` likewise.
    ``same_day_fixed`` / ``next_day_fixed``: population in reach whatever the plan does.
    ``committed_cost``: USD already spent on actions taken outside the problem (a restricted
    problem's fixed actions, see :func:`restrict`); it counts against the budget and in the cost.
    """

    option_site: np.ndarray
    option_action: np.ndarray
    option_cost: np.ndarray
    budget: float
    same_day_population: np.ndarray
    same_day_cover: sparse.csr_matrix
    next_day_population: np.ndarray
    next_day_cover: sparse.csr_matrix
    same_day_fixed: int
    next_day_fixed: int
    committed_cost: float = 0.0

    @property
    def n_options(self) -> int:
        return len(self.option_site)

    def site_groups(self) -> list[np.ndarray]:
        """Options that share a site (at most one of them may be taken), for sites with several."""
        order = np.argsort(self.option_site, kind="stable")
        sites, starts, counts = np.unique(self.option_site[order], return_index=True, return_counts=True)
        return [order[s:s + c] for s, c in zip(starts, counts) if c > 1]

    def spend(self, chosen: np.ndarray) -> float:
        """USD a choice (bool per option) spends, committed cost included."""
        return self.committed_cost + float(self.option_cost @ chosen)

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
        return CoveringProblem(**{**self.__dict__, "budget": float(budget)})


def enumerate_options(instance: Instance, reach: Reach):
    """Every (site, action) option with its cost and the zones it newly reaches in each tier.

    Returns site, action, cost arrays and two zones x options CSR matrices (same-day, next-day).
    An option reaches a tier only where its action makes the site one of that tier's sites (an
    upgrade adds no next-day reach: the station already delivers).
    """
    kinds = instance.sites["kind"].to_numpy()
    per_action = [(np.flatnonzero(kinds == a.kind), a) for a in ACTIONS.values()]
    site = np.concatenate([positions for positions, _ in per_action]).astype(np.int64)
    action = np.concatenate([np.full(positions.size, a.name, dtype=object) for positions, a in per_action])
    cost = np.concatenate([instance.sites[a.cost_column].to_numpy(dtype=float)[positions]
                           for positions, a in per_action])
    gives_same_day = np.concatenate([np.full(positions.size, a.gives_same_day) for positions, a in per_action])
    gives_next_day = np.concatenate([np.full(positions.size, a.gives_next_day) for positions, a in per_action])
    return (site, action, cost, _option_columns(reach.same_day, site, gives_same_day),
            _option_columns(reach.next_day, site, gives_next_day))


def _option_columns(reach: sparse.csr_matrix, site: np.ndarray, gives: np.ndarray) -> sparse.csr_matrix:
    """Zones x options: the reach column of each option's site where the option ``gives`` this
    tier, empty where it does not. One sparse product with a site-to-option selection, so that
    the reach columns are not copied first (on large instances that copy set the peak memory)."""
    options = np.flatnonzero(gives)
    pick = sparse.csr_matrix((np.ones(options.size, dtype=np.int8), (site[options], options)),
                             shape=(reach.shape[1], site.size))
    cover = (reach @ pick).tocsr()
    cover.eliminate_zeros()
    return cover


def _merge_rows(cover: sparse.csr_matrix, population: np.ndarray, keep: np.ndarray):
    """Keep the given zone rows that some option reaches; merge rows with identical option sets."""
    cover = cover[np.flatnonzero(keep)].tocsr()
    population = population[keep]
    reached = np.diff(cover.indptr) > 0
    cover, population = cover[np.flatnonzero(reached)].tocsr(), population[reached]
    cover.sort_indices()
    keys = [cover.indices[a:b].tobytes() for a, b in zip(cover.indptr[:-1], cover.indptr[1:])]
    _, first, group = np.unique(np.array(keys, dtype=object), return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep groups in order of their first zone: stable, readable
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    merged_population = np.bincount(rank[group], weights=population, minlength=order.size)
    merged = cover[first[order]].tocsr()
    merged.data[:] = 1
    return merged.astype(np.int8), merged_population.astype(np.int64)


def _reaches_a_row(same_day: sparse.csr_matrix, next_day: sparse.csr_matrix) -> np.ndarray:
    """Per option: whether it reaches some row in either tier (one that does not only adds cost)."""
    return (same_day.getnnz(axis=0) > 0) | (next_day.getnnz(axis=0) > 0)


def _dominated(cost: np.ndarray, same_day: sparse.csc_matrix, next_day: sparse.csc_matrix) -> np.ndarray:
    """Options for which another option is no dearer and reaches a superset in both tiers.

    Ties keep one option: at equal cost the wider reach wins, then the first. Sound with the
    one-action-per-site rule: the stronger option of a candidate site (service center) reaches a
    superset of the weaker. Superset tests come from one sparse product: the number of rows two
    options share equals the size of one option's rows exactly when the other contains them.
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
    dominated = np.zeros(n, dtype=bool)
    dominated[option[dominates]] = True
    return dominated


def reduce_problem(instance: Instance, reach: Reach, *, merge: bool = True, drop_dominated: bool = True) -> CoveringProblem:
    """Build the covering problem for ``instance``; ``merge``/``drop_dominated`` switch the
    optional reductions off (for tests that compare reduced and unreduced optima)."""
    site, action, cost, same_day, next_day = enumerate_options(instance, reach)
    baseline = evaluate(instance, reach, no_actions(instance))
    population = instance.zones["population"].to_numpy(dtype=np.int64)
    if merge:
        same_cover, same_pop = _merge_rows(same_day, population, ~baseline.same_day)
        next_cover, next_pop = _merge_rows(next_day, population, ~baseline.next_day)
    else:
        keep_same = ~baseline.same_day & (np.diff(same_day.indptr) > 0)
        keep_next = ~baseline.next_day & (np.diff(next_day.indptr) > 0)
        same_cover, same_pop = same_day[np.flatnonzero(keep_same)].astype(np.int8), population[keep_same]
        next_cover, next_pop = next_day[np.flatnonzero(keep_next)].astype(np.int8), population[keep_next]

    useful = _reaches_a_row(same_cover, next_cover)
    if drop_dominated:
        useful &= ~_dominated(cost, same_cover.tocsc(), next_cover.tocsc())
    keep = np.flatnonzero(useful)
    return CoveringProblem(
        option_site=site[keep],
        option_action=action[keep],
        option_cost=cost[keep],
        budget=float(instance.scenario.budget),
        same_day_population=same_pop,
        same_day_cover=same_cover[:, keep].tocsr(),
        next_day_population=next_pop,
        next_day_cover=next_cover[:, keep].tocsr(),
        same_day_fixed=int(population[baseline.same_day].sum()),
        next_day_fixed=int(population[baseline.next_day].sum()),
    )


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


def restrict(problem: CoveringProblem, taken: np.ndarray, excluded: np.ndarray) -> Restriction:
    """The problem left once the options ``taken`` are in every plan and ``excluded`` in none
    (bool per option), in the same reduced space as :func:`reduce_problem`: rows a taken option
    reaches become constants, the taken options' cost is committed, options sharing a site with a
    taken one drop out, rows now reached by the same remaining options merge, and options that
    reach no remaining row drop out (they could only add cost). Dominance is not re-applied, so
    that every plan of the parent that keeps the decisions projects onto a plan no worse.

    Why: after the first stage fixes most options (by reduced costs), rows that differed only in
    fixed options become identical, and the later stages' models are much smaller.
    """
    taken_sites = np.isin(problem.option_site, problem.option_site[taken])
    free = ~taken & ~excluded & ~taken_sites
    reached = {}
    for tier, cover, population in (("same_day", problem.same_day_cover, problem.same_day_population),
                                    ("next_day", problem.next_day_cover, problem.next_day_population)):
        # Counted, not multiplied: an int8 product would wrap for a row that many taken options reach.
        constant = cover[:, np.flatnonzero(taken)].getnnz(axis=1) > 0
        merged, merged_population = _merge_rows(cover[:, np.flatnonzero(free)].tocsr(), population, ~constant)
        reached[tier] = (merged, merged_population, int(population[constant].sum()))
    (same_cover, same_pop, same_gain), (next_cover, next_pop, next_gain) = reached["same_day"], reached["next_day"]
    useful = _reaches_a_row(same_cover, next_cover)
    options = np.flatnonzero(free)[useful]
    return Restriction(
        problem=CoveringProblem(
            option_site=problem.option_site[options],
            option_action=problem.option_action[options],
            option_cost=problem.option_cost[options],
            budget=problem.budget,
            same_day_population=same_pop,
            same_day_cover=same_cover[:, np.flatnonzero(useful)].tocsr(),
            next_day_population=next_pop,
            next_day_cover=next_cover[:, np.flatnonzero(useful)].tocsr(),
            same_day_fixed=problem.same_day_fixed + same_gain,
            next_day_fixed=problem.next_day_fixed + next_gain,
            committed_cost=problem.spend(taken),
        ),
        options=options,
        taken=np.flatnonzero(taken),
        n_parent_options=problem.n_options,
    )
