r"""Capacity: how much of each zone's same-day demand the plan's inventory sites can ship.

A zone's same-day demand is its population times the scenario's ``packages_per_person_per_day``.
An inventory site with a ``capacity`` ships at most that many packages a day same-day; a zone's
demand may be split among the inventory sites within its same-day reach. A site without one
serves every zone it reaches in full. Given the plan's inventory sites, the best split is a
linear program (a transportation problem):

.. math::

    \max \sum_i w_i y_i \quad\text{s.t.}\quad
    y_i \le \sum_{s} g_{is},\quad \sum_i d_i g_{is} \le K_s,\quad
    \sum_{i \in I_h} e_i y_i \ge N_h,\quad 0 \le g, y \le 1

with :math:`y_i` the share of row i's demand served same-day, :math:`g_{is}` the share shipped
from site s, :math:`d_i` the demand and :math:`K_s` the capacity. Rows served in full by a site
without capacity have :math:`y_i = 1`. :func:`best_service` solves it for plain arrays: the
zones of a whole instance (:func:`serve`, what a plan reports) or the demand rows of the reduced
covering problem (:meth:`ruralreach.model.reduce.CoveringProblem.same_day_service`).

A capacity no plan can reach serves in full: a site whose capacity is at least the demand of every
zone within its same-day reach that is not served in full whatever the plan is taken as unlimited
(:func:`unbinding_levels`), so capacity that never binds adds nothing to the model. A site
ships none of a zone's demand where its capacity is under a millionth of it (:func:`can_ship`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .actions import already
from .instance import Instance
from .reach import Reach, nearest_sites, rows_reaching

# Shares this close to 1 count as served in full (the LP's own tolerance, not a modelling choice).
FULL_SHARE = 1.0 - 1e-9
# A site ships none of a zone's demand where its capacity is under this share of it. Below it the
# zone's load coefficient (demand over capacity) passes what an LP solver can scale: a capacity of
# 1e-12 packages a day made HiGHS call the split "infeasible", and 1e-6 against zones of a few
# thousand people left its bound 2,125 people above a plan of 2e-5. What it leaves out is at
# most that share of the zone's people, for each site too small to ship it.
LEAST_SHARE_SHIPPED = 1e-6
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


@dataclass(frozen=True)
class RowService:
    """The best split for some rows: ``share`` per row, ``pair_share`` per (row, site) pair (the
    share of the row's demand that site ships)."""

    share: np.ndarray
    pair_share: np.ndarray


def best_service(weight: np.ndarray, demand: np.ndarray, full: np.ndarray, pair_row: np.ndarray,
                 pair_site: np.ndarray, capacity: np.ndarray, people: np.ndarray | None = None,
                 group: np.ndarray | None = None, need: np.ndarray | None = None) -> RowService | None:
    """The split that serves the most weight. ``full``: rows served in full anyway; pairs
    (``pair_row``, ``pair_site``): a row within reach of an open capacitated site (``capacity``
    per site). Optional floors: rows of ``group`` h (-1: none) must serve at least ``need[h]``
    ``people``. None when no split meets the floors."""
    n_rows, n_pairs = len(weight), len(pair_row)
    share = full.astype(float)
    pair_share = np.zeros(n_pairs)
    # Pairs of a row served in full anyway, or of a site that can ship nothing, carry nothing.
    open_pairs = (np.flatnonzero(~full[pair_row] & (capacity[pair_site] > 0)) if n_pairs
                  else np.empty(0, dtype=np.int64))
    rows = np.unique(pair_row[open_pairs])
    floors = np.zeros(0) if need is None else need - np.bincount(group[full & (group >= 0)],
                                                                    weights=people[full & (group >= 0)],
                                                                    minlength=len(need))
    if rows.size == 0:
        return None if np.any(floors > 1e-9) else RowService(share, pair_share)
    local = np.full(n_rows, -1, dtype=np.int64)
    local[rows] = np.arange(rows.size)
    r, s = local[pair_row[open_pairs]], pair_site[open_pairs]
    sites, s = np.unique(s, return_inverse=True)
    n_y, n_g = rows.size, open_pairs.size
    # Columns: y (rows), then g (pairs). Rows: y_i - sum_s g_is <= 0; sum_i d_i/K_s g_is <= 1.
    reach_rows = sparse.hstack([sparse.identity(n_y), -sparse.csr_matrix((np.ones(n_g), (r, np.arange(n_g))),
                                                                          shape=(n_y, n_g))])
    load = demand[rows][r] / capacity[sites][s]
    capacity_rows = sparse.hstack([sparse.csr_matrix((sites.size, n_y)),
                                   sparse.csr_matrix((load, (s, np.arange(n_g))), shape=(sites.size, n_g))])
    blocks, upper = [reach_rows, capacity_rows], [np.zeros(n_y), np.ones(sites.size)]
    hard = np.flatnonzero(floors > 1e-9)
    if hard.size:
        in_group = np.isin(group[rows], hard)
        members = np.flatnonzero(in_group)
        lookup = np.full(len(need), -1)
        lookup[hard] = np.arange(hard.size)
        blocks.append(sparse.hstack([
            sparse.csr_matrix((-people[rows][members], (lookup[group[rows][members]], members)), shape=(hard.size, n_y)),
            sparse.csr_matrix((hard.size, n_g))]))
        upper.append(-floors[hard])
    cost = np.concatenate([-weight[rows], np.zeros(n_g)])
    # Imported here: scipy.optimize takes a fifth of a second to import, and only a capacitated
    # plan needs it; every solve's start-up would pay for it otherwise.
    from scipy.optimize import linprog

    result = linprog(cost, A_ub=sparse.vstack(blocks).tocsr(), b_ub=np.concatenate(upper), bounds=(0, 1),
                     method="highs", options=_LP_OPTIONS)
    if result.status == 2:
        return None
    if result.status != 0:
        raise RuntimeError(f"the same-day split LP failed: {result.message}")
    flows = np.clip(result.x[n_y:], 0.0, 1.0) * demand[rows][r]
    # Within the LP's tolerance a site may ship a hair over its capacity, or a row be shipped a
    # hair over its demand: scale those down, so the split keeps both exactly.
    site_load = np.bincount(s, weights=flows, minlength=sites.size)
    over = site_load > capacity[sites]
    flows[over[s]] *= (capacity[sites] / np.where(over, site_load, 1.0))[s][over[s]]
    shipped = np.bincount(r, weights=flows, minlength=n_y)
    with np.errstate(divide="ignore", invalid="ignore"):
        row_share = np.where(demand[rows] > 0, shipped / demand[rows], 1.0)
        scale = np.where(row_share > 1.0, 1.0 / row_share, 1.0)
    flows *= scale[r]
    share[rows] = np.minimum(row_share, 1.0)
    share[rows[share[rows] >= FULL_SHARE]] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pair_share[open_pairs] = np.where(demand[rows][r] > 0, flows / demand[rows][r], 0.0)
    return RowService(share, pair_share)


def zone_demand(instance: Instance) -> np.ndarray:
    """Same-day packages a day each zone asks for (0 without a demand rate)."""
    rate = instance.scenario.packages_per_person_per_day or 0.0
    return instance.zones["population"].to_numpy(dtype=float) * rate


def unbinding_levels(instance: Instance, reach: Reach) -> np.ndarray:
    """For each site whose capacity can never bind, the round of this argument that shows it
    (0, 1, ...); -1 where it may bind. Round 0: the capacity is blank, or at least the demand of
    every zone within the site's same-day reach. Round k: at least the demand of the zones in reach
    that no existing inventory site of an earlier round serves (those are served in full whatever
    the plan). A site of round k can ship in full to any zones in its reach outside those."""
    capacity = instance.capacity
    existing = already(instance.sites["kind"], "holds_inventory")
    demand = zone_demand(instance)
    level = np.where(np.isfinite(capacity), -1, 0)
    served = np.zeros(len(demand), dtype=bool)
    round_ = 0
    while True:
        asked = np.asarray(reach.same_day.T @ np.where(served, 0.0, demand)).ravel()
        newly = (level < 0) & (capacity >= asked)
        level[newly] = round_
        now_served = rows_reaching(reach.same_day, existing & (level >= 0))
        if not newly.any() and np.array_equal(now_served, served):
            return level
        served = now_served
        round_ += 1


def effective_capacity(instance: Instance, reach: Reach, level: np.ndarray | None = None) -> np.ndarray:
    """Each site's capacity, inf where it can never bind (``level``: :func:`unbinding_levels`,
    computed here when not given)."""
    capacity = instance.capacity
    if level is None:
        if not np.isfinite(capacity).any():
            return capacity
        level = unbinding_levels(instance, reach)
    return np.where(level >= 0, np.inf, capacity)


def can_ship(demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Per (zone, site) pair, given the zone's demand and the site's capacity: whether the site
    may ship some of the zone's demand (its capacity is positive and at least LEAST_SHARE_SHIPPED
    of it). Decided zone by zone, before zones merge into rows."""
    return (capacity > 0) & (demand * LEAST_SHARE_SHIPPED <= capacity)


@dataclass(frozen=True)
class Service:
    """A plan's same-day service at the zones: ``share`` of each zone's demand shipped same-day
    and ``flows`` (zones x sites, packages a day; a zone a site without binding capacity reaches is
    shipped in full from the nearest such site)."""

    share: np.ndarray
    flows: sparse.csr_matrix

    @property
    def full(self) -> np.ndarray:
        return self.share >= FULL_SHARE


def serve(instance: Instance, reach: Reach, holds_inventory: np.ndarray, group: np.ndarray | None = None,
          need: np.ndarray | None = None) -> Service:
    """The best split of same-day demand among the inventory sites ``holds_inventory`` (bool per
    site): the most people served, and where ``need`` is given, at least ``need[h]`` people of each
    zone group h served (when no split meets those floors, the floors are dropped: only a plan
    that misses them anyway, the empty plan of an infeasible solve, comes here)."""
    level = unbinding_levels(instance, reach)
    capacity = effective_capacity(instance, reach, level)
    population = instance.zones["population"].to_numpy(dtype=float)
    unlimited = holds_inventory & ~np.isfinite(capacity)
    full = rows_reaching(reach.same_day, unlimited)
    capped = np.flatnonzero(holds_inventory & np.isfinite(capacity))
    block = reach.same_day[:, capped].tocoo()
    pair_row, pair_site = block.row.astype(np.int64), capped[block.col]
    demand = zone_demand(instance)
    ships = can_ship(demand[pair_row], capacity[pair_site])
    pair_row, pair_site = pair_row[ships], pair_site[ships]
    args = (population, demand, full, pair_row, pair_site, capacity)
    service = None
    if need is not None:
        service = best_service(*args, people=population, group=group, need=need)
    if service is None:
        service = best_service(*args)
    # A zone served in full by a site whose capacity cannot bind is assigned to such a site: one of
    # the earliest round of unbinding_levels within reach (the nearest of them), so that no site
    # is assigned more than the zones its round allows. Every package served is then in the split,
    # and the plan's figures recompute from it alone.
    nearest = np.full(len(population), -1)
    for round_ in np.unique(level[unlimited])[::-1]:
        sites = np.flatnonzero(unlimited & (level == round_))
        found, _ = nearest_sites(instance, sites)
        in_reach = (reach.same_day[:, sites] @ np.ones(sites.size, dtype=np.int64)) > 0
        nearest[in_reach] = found[in_reach]
    whole = np.flatnonzero(full & (demand > 0))
    flows = sparse.csr_matrix((np.concatenate([service.pair_share * demand[pair_row], demand[whole]]),
                               (np.concatenate([pair_row, whole]), np.concatenate([pair_site, nearest[whole]]))),
                              shape=(len(population), len(capacity)))
    flows.eliminate_zeros()
    # A zone with no demand (no people) is served in full by any inventory site within reach.
    share = np.where((demand == 0) & rows_reaching(reach.same_day, holds_inventory), 1.0, service.share)
    return Service(share, flows)
