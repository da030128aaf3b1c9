r"""The budgeted two-tier maximal covering model, stated once.

Sets
    :math:`T`        phases of the rollout, in order (one phase without phases)
    :math:`O`        options: one per action a site may take in a phase (upgrade a station; open a
                     candidate as a delivery station; open a candidate as a service center);
                     :math:`t_o` the phase of option o
    :math:`G`        sites with more than one option, and sites that must act;
                     :math:`O_g \subseteq O` the options of site g; :math:`R \subseteq G` the
                     sites that must act (a ``must:`` decision in a phased rollout)
    :math:`I`        same-day demand rows (a zone in a phase; merged where reached by the same
                     options and in the same equity group)
    :math:`J`        next-day demand rows
    :math:`H`        equity groups; :math:`I_h \subseteq I` the rows of group h (last phase only)

Parameters
    :math:`c_o`      cost of option o, in the problem's money unit (``money_unit``: thousands of
                     USD, so that HiGHS's absolute row tolerance, 1e-6, is a tenth of a cent;
                     more only where plans could spend over $1e12; less where the costs are whole
                     only in a smaller power of ten, or are under $1,000)
    :math:`B_t`      budget of phase t, in the same unit
    :math:`C_t`      cost already committed in phase t to actions decided outside the model
                     (forced actions without phases, a restricted problem's fixed actions)
    :math:`p_i`      population of same-day row i times its phase's weight; :math:`q_j` likewise
    :math:`a_{io}`   1 when option o puts row i within same-day reach (the site holds inventory,
                     is within ``same_day_minutes`` of the row's zone, and o's phase is not after
                     the row's)
    :math:`b_{jo}`   1 when option o puts row j within next-day reach (the site delivers, is within
                     ``next_day_minutes``, and o's phase is not after the row's)
    :math:`e_i`      people of same-day row i counted toward its equity group
    :math:`F_h`      group h's floor in people (its floor share times its population);
                     :math:`E_h` of them in reach whatever the plan
    :math:`L_h`      what every plan meeting floor h spends on :math:`O_h`, the options that
                     reach a row of :math:`I_h` (with or without the capacity to serve it): a
                     lower bound on the least cost of meeting that floor alone, no budget or
                     other floor considered, less what decided options already spend on
                     :math:`O_h` (``CoveringProblem.equity_floor_cost``; 0 where none is known)
    :math:`R_h(T)`   for a set of options :math:`T \subseteq O`: the people group h still needs
                     once T is taken, :math:`F_h - E_h - \sum_{i \in I_h \text{ reached by } T} e_i`;
                     :math:`\rho_{ho}(T)` the people of the rows of :math:`I_h` that T leaves
                     unreached and option o reaches (0 for o in T); :math:`(h, T) \in \Sigma` the
                     pairs the model holds a "floor shortfall" row for (``shortfall_group``,
                     ``shortfall_base``), those with :math:`R_h(T) > 0`
    :math:`S`        suppliers (with capacities only): inventory sites whose capacity can bind, one
                     per phase they supply, and those that supply the same rows with the same
                     capacity as one (:func:`stated_supply`); :math:`O_s` the options that open
                     supplier s (none for a site that holds inventory whatever the plan),
                     :math:`K_s` its capacity in packages a day, :math:`P \subseteq I \times S`
                     the (row, supplier) pairs within same-day reach, :math:`d_i` row i's
                     same-day demand in packages a day

Variables
    :math:`x_o \in \{0,1\}`  option o is taken
    :math:`y_i \in \{0,1\}`  row i is same-day;  :math:`z_j \in \{0,1\}` row j is next-day
    :math:`g_{is} \in [0,1]`  the share of row i's demand supplier s ships; :math:`y_i \in [0,1]`
                             (the share served) for the rows that have suppliers

Constraints
    one action per site   :math:`\sum_{o \in O_g} x_o \le 1`  for g in G  (:math:`= 1` for g in R)
    budget, cumulative    :math:`\sum_{s \le t} C_s + \sum_{o: t_o \le t} c_o x_o \le \sum_{s \le t} B_s`  for t in T
    same-day reach        :math:`y_i \le \sum_{o} a_{io} x_o + \sum_{s: (i,s) \in P} g_{is}`   for i in I
                          (:math:`y_i \le y_{\pi(i)} + \sum_{o: t_o = \tau_i} a_{io} x_o` for i with a :math:`\pi(i)`)
    next-day reach        :math:`z_j \le \sum_{o} b_{jo} x_o`          for j in J
                          (:math:`z_j \le z_{\pi(j)} + \sum_{o: t_o = \tau_j} b_{jo} x_o` for j with a :math:`\pi(j)`)
    capacity              :math:`\sum_{i: (i,s) \in P} (d_i / K_s) g_{is} \le \sum_{o \in O_s} x_o` (1 without options)   for s in S
    within reach          :math:`y_i \le \sum_{o} a_{io} x_o + \sum_{o \in O_s, (i,s) \in P} x_o`   for i in I with
                          suppliers, none of them open whatever the plan
    equity floor          :math:`E_h + \sum_{i \in I_h} e_i y_i \ge F_h`   for h in H
    floor cost            :math:`\sum_{o \in O_h} c_o x_o \ge L_h`   for h in H with :math:`L_h > 0`
    floor shortfall       :math:`\sum_{o \notin T} \min(1, \rho_{ho}(T) / R_h(T)) x_o \ge 1`   for (h, T) in :math:`\Sigma`

Objectives, solved lexicographically (each stage keeps the one before at its value):
    1. same_day:  :math:`\max P_0 + \sum_i p_i y_i`
    2. next_day:  :math:`\max Q_0 + \sum_j q_j z_j`  s.t.  :math:`P_0 + \sum_i p_i y_i \ge P^*`
    3. cost:      :math:`\min C + \sum_o c_o x_o`  s.t.  also  :math:`Q_0 + \sum_j q_j z_j \ge Q^*`

With phases, the same-day objective is the sum over phases of the phase's weight times the
population same-day after it (and likewise next-day): rows are (zone, phase) pairs.
:math:`P_0` and :math:`Q_0` are the (weighted) populations already in reach whatever the plan
does (``CoveringProblem.same_day_fixed``, ``next_day_fixed``), and :math:`C = \sum_t C_t` is
``committed_cost``: constants, not rows. They belong in the objective all the same, because a
stage's relative gap is measured on the population the plan reaches and on the whole plan's cost,
not on the part of them the model still changes.

With phases, a reach row is stated through the same zone's row in an earlier phase:
:math:`\tau_i` is the latest phase of the options that reach row i, and :math:`\pi(i)` the row
reached by exactly row i's options of phases before :math:`\tau_i` (:func:`earlier_rows`; none
without phases, nor for same-day rows with suppliers, whose :math:`y` is a share served). A plan
with each :math:`y` at its reach keeps the row, and any solution of it keeps the plain row (its
:math:`y_{\pi(i)}` is at most the sum of its own options), so the plans are the same; and the LP
is the same, since by induction over the phases
:math:`y_{\pi(i)}` may reach :math:`\min(1, \sum_{o} a_{\pi(i) o} x_o)` and :math:`y_i` is at
most 1 either way. Why: each option sits in the reach rows of its phase and of every later one, so
the plain rows' nonzeros grow with the square of the phases; these hold each option in its own
phase's rows only (benchmarks/README.md, "Reach rows through the phase before").

The "floor cost" rows are implied by the floors, so they change no plan's standing, but the LP
does not know them: it meets a floor with slivers of many options at a fraction of what any
plan pays for it, and spends what it saves on the objective. A binding floor thus loosens every
stage's LP bound; these rows take most of that back (benchmarks/README.md).

The "floor shortfall" rows are implied by the floors too, for any group and any set T. The people
a plan S reaches are a coverage function of S: they are at most those of :math:`S \cup T`, which are
at most those T reaches plus, for each option of S outside T, the people it reaches that T does
not. So a plan meeting floor h has :math:`\sum_{o \in S \setminus T} \rho_{ho}(T) \ge R_h(T)`,
and, its options being whole, one option that alone brings :math:`R_h(T)` meets that with
:math:`R_h(T)`: hence the cap at 1. Where T is the options the LP takes whole, the LP meets the
few thousand people a floor still needs with a quarter of a site; the row asks for a site's worth
of options that bring them. The solver picks T and the groups from its first LP
(``solvers/lexicographic.py``). Not with capacities, where a row may be served in part.

The "within reach" rows are valid for every plan (a row is served only from open sites) and keep
the LP from serving a row in full through a sliver of a site's capacity. The textbook strong form,
:math:`g_{is} \le x_{o_s}` for every pair, is tighter still, but it adds a row per pair (170,000
nationally) and its LP is many times slower to solve (benchmarks/README.md).

When the equity floors cannot all be met, :func:`floor_scale_model` states the largest share of
them that can: the same rows with a column :math:`\lambda \in [0, 1]`, the floors
:math:`E_h + \sum_{i \in I_h} e_i y_i \ge \lambda F_h`, and the objective :math:`\max \lambda`.
Its floor shortfall rows are stated at a share :math:`\bar\lambda` no plan passes (its LP's
optimum), where group h needs :math:`\bar R_h(T) = \bar\lambda F_h - E_h - r_h(T)` more people
(:math:`r_h(T)` those T reaches), with coefficients capped there:
:math:`\sum_{o \notin T} \min(1, \rho_{ho}(T) / \bar R_h(T)) x_o \ge 1 + (F_h / \bar R_h(T))(\lambda - \bar\lambda)`
(:func:`floor_scale_shortfall_rows`). At a share :math:`\lambda \le \bar\lambda` a plan needs
:math:`\bar R_h(T) + F_h(\lambda - \bar\lambda)` people, no more than :math:`\bar R_h(T)`, so the argument
above holds with the cap where it was (an option that alone brings :math:`\bar R_h(T)` brings what
any such share needs).

:func:`build_model` is the Pyomo statement of this model. :func:`matrix_model` writes the same
model as arrays (columns x, y, z, g; rows in the order above) so it can be handed to HiGHS in bulk;
a test checks that the two are identical.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from .reach import entries_of, row_sums
from .reduce import CoveringProblem, identical_rows

STAGES = ("same_day", "next_day", "cost")
# The floor-scale objective (the largest share of the equity floors a plan can meet) is solved
# with the same machinery as the stages.
FLOOR_SCALE = "floor_scale"
STAGE_SENSE = {"same_day": "max", "next_day": "max", "cost": "min", FLOOR_SCALE: "max"}
# The least coefficient of a floor shortfall row: smaller ones are rounded up to it (a looser row)
# rather than left for HiGHS to drop (below its small_matrix_value, 1e-9), which would tighten it.
SHORTFALL_LEAST_COEFFICIENT = 1e-6
# The largest coefficient of the share in a floor-scale shortfall row, against the row's 1 for the
# people needed: a group that needs only a millionth of its floor more gives a row that bounds
# little and is badly scaled, and none is stated.
SCALED_SHORTFALL_MOST = 1e6


def _equity_rows(problem: CoveringProblem) -> tuple[np.ndarray, sparse.csr_matrix]:
    """The equity groups that need more people than are in reach whatever the plan (``E_h <
    F_h``), and their rows as groups x same-day rows of people :math:`e_i`."""
    groups = np.flatnonzero(problem.equity_need > 0)
    grouped = np.flatnonzero(problem.same_day_group >= 0)
    people = sparse.csr_matrix((problem.same_day_people[grouped], (problem.same_day_group[grouped], grouped)),
                               shape=(problem.n_groups, len(problem.same_day_population)))
    return groups, people[groups].tocsr()


def floor_cost_rows(problem: CoveringProblem) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The "floor cost" rows over the options, in model money units, and their lower bounds
    :math:`L_h`: one for each group with a floor row and a known cost."""
    equity_groups, _ = _equity_rows(problem)
    groups = equity_groups[problem.equity_floor_cost[equity_groups] > 0]
    cost = problem.option_cost / problem.money_unit
    rows = problem.group_options()[groups].multiply(cost[None, :]).tocsr()
    return rows, problem.equity_floor_cost[groups] / problem.money_unit


def floor_shortfalls(problem: CoveringProblem, base: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
    r"""For a set of options T (``base``, bool per option): :math:`R_h(T)` for every group, and
    :math:`\rho_{ho}(T)` as groups x options (people; 0 in the columns of T)."""
    rows = np.arange(len(problem.same_day_population))
    grouped = problem.same_day_group >= 0
    reached = problem.same_day_cover @ np.asarray(base, dtype=np.int64) > 0
    short = problem.equity_need - np.bincount(problem.same_day_group[grouped & reached],
                                              weights=problem.same_day_people[grouped & reached],
                                              minlength=problem.n_groups)
    unreached = grouped & ~reached
    people = sparse.csr_matrix((problem.same_day_people[unreached],
                                (problem.same_day_group[unreached], rows[unreached])),
                               shape=(problem.n_groups, rows.size))
    outside = sparse.diags((~np.asarray(base, dtype=bool)).astype(float))
    return short, (people @ problem.same_day_cover @ outside).tocsr()


def shortfall_coefficients(short: np.ndarray, reach: sparse.csr_matrix) -> sparse.csr_matrix:
    r"""The floor shortfall rows' coefficients :math:`\min(1, \rho_{ho}(T) / R_h(T))` from
    :func:`floor_shortfalls`, a row per group (empty where :math:`R_h(T) \le 0`). Each is rounded
    up to at least SHORTFALL_LEAST_COEFFICIENT, which only loosens the row: HiGHS drops smaller
    ones, which would tighten it."""
    needs = np.where(short > 0, 1.0 / np.where(short > 0, short, 1.0), 0.0)
    rows = (sparse.diags(needs) @ reach).tocsr()
    rows.data = np.clip(rows.data, SHORTFALL_LEAST_COEFFICIENT, 1.0)
    rows.eliminate_zeros()
    return rows


def floor_scale_shortfall_rows(problem: CoveringProblem, share: float, groups: np.ndarray, bases: np.ndarray,
                               n_columns: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    r"""The floor-scale model's floor shortfall rows at the share :math:`\bar\lambda` (``share``,
    which no plan may pass), one for each group of ``groups`` and its set T (the row of
    ``bases``, bool per option): over the model's ``n_columns`` columns (the options, then
    :math:`\lambda` last), and each row's lower bound. Groups that need nobody more at that share,
    or so few that :math:`F_h / \bar R_h(T)` passes SCALED_SHORTFALL_MOST, get no row."""
    at_share = replace(problem, equity_floor=share * problem.equity_floor)
    groups = np.asarray(groups)
    found: dict[int, tuple[sparse.csr_matrix, float]] = {}  # pair -> its row over the options, R_h(T)
    # Pairs share their sets (one per threshold), as in floor_shortfall_rows: each set's coverage once.
    sets, which = np.unique(np.asarray(bases, dtype=bool), axis=0, return_inverse=True)
    for k, members in enumerate(sets):
        pairs = np.flatnonzero(which.ravel() == k)
        need, reach = floor_shortfalls(at_share, members)
        rows = shortfall_coefficients(need, reach)
        for pair in pairs:
            group = groups[pair]
            if need[group] > 0 and problem.equity_floor[group] <= SCALED_SHORTFALL_MOST * need[group]:
                found[int(pair)] = rows[group], need[group]
    kept = sorted(found)
    if not kept:
        return sparse.csr_matrix((0, n_columns)), np.empty(0)
    scale = -problem.equity_floor[groups[kept]] / np.array([found[pair][1] for pair in kept])
    options = sparse.vstack([found[pair][0] for pair in kept]).tocsr()
    rest = n_columns - options.shape[1]  # the columns after the options', the share last
    share_column = sparse.csr_matrix((scale, (np.arange(len(kept)), np.full(len(kept), rest - 1))),
                                     shape=(len(kept), rest))
    return sparse.hstack([options, share_column]).tocsr(), 1.0 + share * scale


def floor_shortfall_rows(problem: CoveringProblem) -> sparse.csr_matrix:
    """The floor shortfall rows of the pairs the problem holds (``shortfall_group``,
    ``shortfall_base``) whose group still needs people, over the options; each >= 1."""
    if problem.capacitated or not len(problem.shortfall_group):
        return sparse.csr_matrix((0, problem.n_options))
    base = problem.shortfall_base.tocsr()
    found = []
    # Pairs share their sets (one per LP and threshold): each set's coverage once.
    sets, which = np.unique(base.toarray(), axis=0, return_inverse=True)
    for k, members in enumerate(sets):
        pairs = np.flatnonzero(which.ravel() == k)
        rows = shortfall_coefficients(*floor_shortfalls(problem, members))[problem.shortfall_group[pairs]]
        found.append(rows[rows.getnnz(axis=1) > 0])  # empty where the group needs no one more
    return sparse.vstack(found).tocsr() if found else sparse.csr_matrix((0, problem.n_options))


def reach_every_group_rows(problem: CoveringProblem) -> sparse.csr_matrix:
    r"""Rows over the options, :math:`\sum_{o \in O_h} x_o \ge 1` for every group with a floor
    that nobody in it meets whatever the plan (no people in reach, no supplier open whatever the
    plan): any share :math:`\lambda > 0` of its floor needs an option that reaches it."""
    untouched = (problem.equity_floor > 0) & (problem.equity_fixed <= 0)
    # A row a supplier serves whatever the plan may be served without an option.
    untouched[np.unique(problem.same_day_group[(problem.same_day_group >= 0) & problem.given_supply_rows()])] = False
    return problem.group_options()[np.flatnonzero(untouched)].tocsr()


def earlier_rows(cover: sparse.csr_matrix, option_phase: np.ndarray) -> tuple[np.ndarray, sparse.csr_matrix]:
    r"""For each demand row i of a tier's ``cover`` (rows x options): :math:`\pi(i)`, the row whose
    options are exactly row i's options of phases before :math:`\tau_i`, the latest phase of row
    i's options (-1 where it has none of an earlier phase, or no row has exactly those); and the
    cover with, in each row that has such a :math:`\pi(i)`, only its options of phase
    :math:`\tau_i`. In a phased rollout :math:`\pi(i)` is the same zone's row in an earlier phase
    (or the row it merged into)."""
    cover = cover.tocsr()
    if not cover.has_sorted_indices:
        cover = cover.sorted_indices()
    n_rows = cover.shape[0]
    counts = np.diff(cover.indptr)
    earlier_row = np.full(n_rows, -1, dtype=np.int64)
    entry_row = np.repeat(np.arange(n_rows), counts)
    entry_phase = np.asarray(option_phase, dtype=np.int64)[cover.indices]
    latest = np.full(n_rows, -1, dtype=np.int64)
    filled = np.flatnonzero(counts > 0)
    if filled.size:
        latest[filled] = np.maximum.reduceat(entry_phase, cover.indptr[filled])
    earlier = entry_phase < latest[entry_row]
    if not earlier.any():
        return earlier_row, cover

    def entries(mask: np.ndarray) -> sparse.csr_matrix:
        """The cover's entries where ``mask`` holds, row by row."""
        indptr = np.concatenate(([0], np.cumsum(np.bincount(entry_row[mask], minlength=n_rows))))
        return sparse.csr_matrix((cover.data[mask], cover.indices[mask], indptr), shape=cover.shape)

    before = entries(earlier)
    # Rows are found by two sums of random weights of their options (row_sums, as the reductions
    # merge rows), and every pair so found is then compared option by option.
    rng = np.random.default_rng(0)
    weights = [rng.integers(0, 2**64, cover.shape[1], dtype=np.uint64, endpoint=False) for _ in range(2)]
    every, asked = [row_sums(cover, w) for w in weights], [row_sums(before, w) for w in weights]
    asking = np.flatnonzero(np.diff(before.indptr) > 0)
    order = np.lexsort((every[1], every[0]))
    found = order[np.minimum(np.searchsorted(every[0][order], asked[0][asking]), n_rows - 1)]
    same = ((every[0][found] == asked[0][asking]) & (every[1][found] == asked[1][asking])
            & (counts[found] == np.diff(before.indptr)[asking]))
    asking, found = asking[same], found[same]
    differs = entries_of(before, asking) != entries_of(cover, found)
    wrong = np.bincount(np.repeat(np.arange(asking.size), counts[found]), weights=differs, minlength=asking.size) > 0
    earlier_row[asking[~wrong]] = found[~wrong]
    return earlier_row, entries(~(earlier & (earlier_row[entry_row] >= 0)))


def reach_rows(problem: CoveringProblem, tier: str) -> tuple[np.ndarray, sparse.csr_matrix]:
    r"""A tier's reach rows as the model states them (:func:`earlier_rows`): each row's
    :math:`\pi(i)` (-1: none) and its options. Same-day rows with capacities are not chained: their
    y is a share served, which an earlier phase's share does not bound."""
    cover = problem.same_day_cover if tier == "same_day" else problem.next_day_cover
    if problem.n_phases == 1 or (tier == "same_day" and problem.capacitated):
        return np.full(cover.shape[0], -1, dtype=np.int64), cover
    return earlier_rows(cover, problem.option_phase)


@dataclass(frozen=True)
class StatedSupply:
    r"""The suppliers as the model states them (:func:`stated_supply`): ``cover`` (same-day rows x
    stated suppliers, indices sorted: its nonzeros in order are the model's (row, supplier) pairs,
    the columns g), each stated supplier's ``capacity`` and ``opens`` (stated suppliers x options:
    1 for each option that opens it; a row without any is open whatever the plan), and
    ``pair_of`` (per pair of the problem's ``supply_cover``, the stated pair it is part of)."""

    cover: sparse.csr_matrix
    capacity: np.ndarray
    opens: sparse.csr_matrix
    pair_of: np.ndarray

    @property
    def given(self) -> np.ndarray:
        """Bool per stated supplier: open whatever the plan."""
        return self.opens.getnnz(axis=1) == 0

    def pair_shares(self, problem_pair_share: np.ndarray) -> np.ndarray:
        """The shares of the stated pairs (the columns g) from those of the problem's pairs."""
        return np.bincount(self.pair_of, weights=problem_pair_share, minlength=self.cover.nnz)


def stated_supply(problem: CoveringProblem) -> StatedSupply:
    r"""The problem's suppliers, those opened by options that supply the same rows with the same
    capacity stated as one: :math:`O_s`, the options that open stated supplier s, and its capacity
    row :math:`\sum_i (d_i / K_s) g_{is} \le \sum_{o \in O_s} x_o`. In a phased rollout each
    phase's rows have a supplier for every option of a site of that phase or an earlier one, so
    the suppliers and pairs grow with the square of the phases; stated once per site and phase,
    they grow with the phases. The plans are the same, and so is the LP: a solution with the
    separate rows gives one of the stated row by adding their g, and one of the stated row gives
    one of the separate rows by splitting each g in proportion to the options' x."""
    option = problem.supply_option
    by_supplier = problem.supply_cover.tocsc().T.tocsr()  # suppliers x rows
    if not by_supplier.has_sorted_indices:
        by_supplier = by_supplier.sorted_indices()
    # Classed by capacity; a supplier open whatever the plan stands alone.
    _, capacity_class = np.unique(problem.supply_capacity, return_inverse=True)
    group = np.where(option >= 0, capacity_class.ravel(), option.size + np.arange(option.size))
    first, index = identical_rows(group, by_supplier, sparse.csr_matrix((option.size, 0)))
    kept, stated = np.unique(first[index], return_inverse=True)
    opened = np.flatnonzero(option >= 0)
    opens = sparse.csr_matrix((np.ones(opened.size), (stated[opened], option[opened])),
                              shape=(kept.size, problem.n_options))
    cover = problem.supply_cover[:, kept].tocsr()
    cover.sort_indices()
    pairs = problem.supply_cover.tocoo()
    # A pair (i, s) is part of the stated pair (i, stated[s]): found by its place in the
    # row-major order of the stated cover's nonzeros.
    stated_pairs = cover.tocoo()
    place = np.searchsorted(stated_pairs.row.astype(np.int64) * kept.size + stated_pairs.col,
                            pairs.row.astype(np.int64) * kept.size + stated[pairs.col])
    return StatedSupply(cover, problem.supply_capacity[kept], opens, place)


def _reach_columns(earlier_row: np.ndarray) -> sparse.csr_matrix:
    r"""Rows x rows of a tier: +1 for each row's own column, -1 for the column of its
    :math:`\pi(i)`."""
    n = earlier_row.size
    chained = np.flatnonzero(earlier_row >= 0)
    return (sparse.identity(n, format="csr")
            - sparse.csr_matrix((np.ones(chained.size), (chained, earlier_row[chained])), shape=(n, n))).tocsr()


def _budget_rows(problem: CoveringProblem) -> sparse.csr_matrix:
    """Phases x options: the cost of each option (money units) in the budget row of its own phase
    and of every later one (the rows are cumulative)."""
    later = problem.option_phase[None, :] <= np.arange(problem.n_phases)[:, None]
    return sparse.csr_matrix(later * (problem.option_cost / problem.money_unit)[None, :])


def build_model(problem: CoveringProblem, stage: str = "same_day", floors: dict[str, float] | None = None):
    """The Pyomo model of one stage; ``floors`` holds P* (``same_day``) and Q* (``next_day``)."""
    # Imported here: a solve goes through matrix_model, and importing Pyomo costs every run of
    # the command noticeable start-up time and memory.
    import pyomo.environ as pyo

    floors = floors or {}
    m = pyo.ConcreteModel(name="ruralreach")
    m.O = pyo.RangeSet(0, problem.n_options - 1)
    m.I = pyo.RangeSet(0, len(problem.same_day_population) - 1)
    m.J = pyo.RangeSet(0, len(problem.next_day_population) - 1)
    m.T = pyo.RangeSet(0, problem.n_phases - 1)
    groups = problem.site_groups()
    m.G = pyo.RangeSet(0, len(groups) - 1)
    equity_groups, equity_people = _equity_rows(problem)
    m.H = pyo.RangeSet(0, len(equity_groups) - 1)

    cost = problem.option_cost / problem.money_unit
    m.c = pyo.Param(m.O, initialize=dict(enumerate(cost)))
    m.t = pyo.Param(m.O, initialize=dict(enumerate(problem.option_phase.tolist())))
    m.B = pyo.Param(m.T, initialize=dict(enumerate((problem.phase_budgets / problem.money_unit).tolist())))
    m.C = pyo.Param(m.T, initialize=dict(enumerate((problem.phase_committed / problem.money_unit).tolist())))
    m.p = pyo.Param(m.I, initialize=dict(enumerate(problem.same_day_population.tolist())))
    m.q = pyo.Param(m.J, initialize=dict(enumerate(problem.next_day_population.tolist())))
    m.F = pyo.Param(m.H, initialize=dict(enumerate(problem.equity_floor[equity_groups].tolist())))
    m.E = pyo.Param(m.H, initialize=dict(enumerate(problem.equity_fixed[equity_groups].tolist())))
    cost_rows, least_costs = floor_cost_rows(problem)
    m.Hc = pyo.RangeSet(0, len(least_costs) - 1)  # the groups with a "floor cost" row
    m.L = pyo.Param(m.Hc, initialize=dict(enumerate(least_costs.tolist())))
    shortfall_rows = floor_shortfall_rows(problem)
    m.Sigma = pyo.RangeSet(0, shortfall_rows.shape[0] - 1)  # the (h, T) pairs with a "floor shortfall" row

    supply = stated_supply(problem)
    pairs = supply.cover.tocoo()
    m.K = pyo.RangeSet(0, pairs.nnz - 1)  # (row, supplier) pairs
    m.S = pyo.RangeSet(0, supply.capacity.size - 1)
    has_suppliers = problem.supply_cover.getnnz(axis=1) > 0
    within = _within_reach_rows(problem)
    m.W = pyo.RangeSet(0, len(within) - 1)

    m.x = pyo.Var(m.O, within=pyo.Binary)
    m.y = pyo.Var(m.I, within=lambda m, i: pyo.UnitInterval if has_suppliers[i] else pyo.Binary)
    m.z = pyo.Var(m.J, within=pyo.Binary)
    m.g = pyo.Var(m.K, within=pyo.UnitInterval)

    (same_day_earlier, a), (next_day_earlier, b) = reach_rows(problem, "same_day"), reach_rows(problem, "next_day")
    required = set(problem.required_sites.tolist())

    def one_action(m, g):
        taken = sum(m.x[o] for o in groups[g])
        return taken == 1 if int(problem.option_site[groups[g][0]]) in required else taken <= 1

    def budget(m, t):
        options = [o for o in m.O if m.t[o] <= t]
        if not options:  # a row with no variables is trivial; Pyomo rejects it
            return pyo.Constraint.Skip
        return sum(m.C[s] for s in m.T if s <= t) + sum(m.c[o] * m.x[o] for o in options) \
            <= sum(m.B[s] for s in m.T if s <= t)

    def equity_floor(m, h):
        rows = equity_people[h]
        if rows.nnz == 0:
            return pyo.Constraint.Infeasible  # the group needs people no option can reach
        return m.E[h] + sum(e * m.y[i] for i, e in zip(rows.indices, rows.data)) >= m.F[h]

    pairs_of_supplier = [[] for _ in m.S]
    for k, s in enumerate(pairs.col):
        pairs_of_supplier[s].append(k)
    opens = supply.opens

    def capacity(m, s):
        load = sum(problem.same_day_demand[pairs.row[k]] / supply.capacity[s] * m.g[k]
                   for k in pairs_of_supplier[s])
        options = opens.indices[opens.indptr[s]:opens.indptr[s + 1]]
        return load - sum(m.x[o] for o in options) <= 0 if options.size else load <= 1

    m.one_action_per_site = pyo.Constraint(m.G, rule=one_action)
    m.budget = pyo.Constraint(m.T, rule=budget)
    m.same_day_reach = pyo.Constraint(
        m.I, rule=lambda m, i: m.y[i] - (m.y[same_day_earlier[i]] if same_day_earlier[i] >= 0 else 0)
        - sum(m.x[o] for o in a.indices[a.indptr[i]:a.indptr[i + 1]])
        - sum(m.g[k] for k in range(supply.cover.indptr[i], supply.cover.indptr[i + 1])) <= 0)
    m.next_day_reach = pyo.Constraint(
        m.J, rule=lambda m, j: m.z[j] - (m.z[next_day_earlier[j]] if next_day_earlier[j] >= 0 else 0)
        - sum(m.x[o] for o in b.indices[b.indptr[j]:b.indptr[j + 1]]) <= 0)
    m.capacity = pyo.Constraint(m.S, rule=capacity)

    reach = problem.same_day_reach()

    def within_reach(m, w):
        i = within[w]
        return m.y[i] - sum(m.x[o] for o in reach.indices[reach.indptr[i]:reach.indptr[i + 1]]) <= 0

    m.within_reach = pyo.Constraint(m.W, rule=within_reach)

    def floor_cost(m, f):
        row = cost_rows[f]
        if row.nnz == 0:
            return pyo.Constraint.Infeasible  # as the group's floor row: no option can serve it
        return sum(m.c[o] * m.x[o] for o in row.indices) >= m.L[f]

    m.floor_cost = pyo.Constraint(m.Hc, rule=floor_cost)

    def floor_shortfall(m, k):
        row = shortfall_rows[k]
        return sum(a * m.x[o] for o, a in zip(row.indices, row.data)) >= 1

    m.floor_shortfall = pyo.Constraint(m.Sigma, rule=floor_shortfall)
    m.equity_floor = pyo.Constraint(m.H, rule=equity_floor)

    same_day = problem.same_day_fixed + sum(m.p[i] * m.y[i] for i in m.I)
    next_day = problem.next_day_fixed + sum(m.q[j] * m.z[j] for j in m.J)
    total_cost = sum(m.C[t] for t in m.T) + sum(m.c[o] * m.x[o] for o in m.O)
    if "same_day" in floors and len(m.I):
        m.same_day_floor = pyo.Constraint(expr=same_day >= floors["same_day"])
    if "next_day" in floors and len(m.J):
        m.next_day_floor = pyo.Constraint(expr=next_day >= floors["next_day"])
    expression = {"same_day": same_day, "next_day": next_day, "cost": total_cost}[stage]
    m.objective = pyo.Objective(expr=expression, sense=pyo.maximize if STAGE_SENSE[stage] == "max" else pyo.minimize)
    return m


@dataclass(frozen=True)
class MatrixModel:
    """The same model as arrays: ``row_lower <= A @ v <= row_upper`` over ``v = (x, y, z)``
    (and ``lambda`` in the floor-scale model), binary but where ``continuous`` says;
    ``objective[stage]`` is the stage's coefficient vector."""

    A: sparse.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    objective: dict[str, np.ndarray]
    n_options: int
    n_same_day: int
    n_next_day: int
    budget_rows: np.ndarray  # the budget rows' positions in A, one per phase
    offset: dict[str, float]  # the stage objective's constant: population in reach whatever the plan
    continuous: np.ndarray | None = None  # columns in [0, 1] that need not be whole

    def demand_rows(self, stage: str) -> np.ndarray:
        """The rows of a people stage's reach (same-day or next-day), by position in A: they
        follow the budget rows, same-day first."""
        first = int(self.budget_rows[-1]) + 1 + (self.n_same_day if stage == "next_day" else 0)
        return np.arange(first, first + (self.n_same_day if stage == "same_day" else self.n_next_day))

    @property
    def n_columns(self) -> int:
        return self.A.shape[1]

    @property
    def first_reach_row(self) -> int:
        """The row of the first same-day reach row; the next-day rows follow the same-day ones."""
        return int(self.budget_rows[-1]) + 1


def budget_room(problem: CoveringProblem) -> np.ndarray:
    r"""The budget rows' right-hand sides, :math:`\sum_{s \le t} (B_s - C_s)`, in model money units."""
    return problem.budget_room() / problem.money_unit


def _within_reach_rows(problem: CoveringProblem) -> np.ndarray:
    """The same-day rows that have suppliers, none of them open whatever the plan."""
    return np.flatnonzero((problem.supply_cover.getnnz(axis=1) > 0) & ~problem.given_supply_rows())


def _supply_rows(problem: CoveringProblem, supply: StatedSupply) -> tuple[sparse.csr_matrix, sparse.csr_matrix,
                                                                         sparse.csr_matrix, np.ndarray]:
    """The supplier rows: "capacity" (one per stated supplier) then "within reach" (one per row of
    :func:`_within_reach_rows`), as parts over x, y and g, and their right-hand sides (a
    capacity row's is 0 where options open the supplier, 1 where it is open whatever the plan)."""
    pairs = supply.cover.tocoo()
    n_i, n_k, n_s = len(problem.same_day_population), pairs.nnz, supply.capacity.size
    load = problem.same_day_demand[pairs.row] / supply.capacity[pairs.col]
    capacity_g = sparse.csr_matrix((load, (pairs.col, np.arange(n_k))), shape=(n_s, n_k))
    within = _within_reach_rows(problem)
    within_x = -problem.same_day_reach()[within]
    within_y = sparse.csr_matrix((np.ones(within.size), (np.arange(within.size), within)), shape=(within.size, n_i))
    x_part = sparse.vstack([-supply.opens, within_x]).tocsr()
    y_part = sparse.vstack([sparse.csr_matrix((n_s, n_i)), within_y]).tocsr()
    g_part = sparse.vstack([capacity_g, sparse.csr_matrix((within.size, n_k))]).tocsr()
    return x_part, y_part, g_part, np.concatenate([supply.given.astype(float), np.zeros(within.size)])


def matrix_model(problem: CoveringProblem) -> MatrixModel:
    n_o, n_i, n_j = problem.n_options, len(problem.same_day_population), len(problem.next_day_population)
    groups = problem.site_groups()
    group_rows = sparse.csr_matrix(
        (np.ones(sum(g.size for g in groups)),
         np.concatenate(groups) if groups else np.empty(0, np.int64),
         np.concatenate([[0], np.cumsum([g.size for g in groups])])),
        shape=(len(groups), n_o),
    )
    required = np.array([np.isin(problem.option_site[g[0]], problem.required_sites) for g in groups], dtype=bool)
    budgets = _budget_rows(problem)
    equity_groups, equity_people = _equity_rows(problem)
    supply = stated_supply(problem)
    supply_x, supply_y, supply_g, supply_upper = _supply_rows(problem, supply)
    cost_rows, least_costs = floor_cost_rows(problem)
    shortfall_rows = floor_shortfall_rows(problem)
    n_g, n_t, n_h, n_f = len(groups), problem.n_phases, len(equity_groups), len(least_costs) + shortfall_rows.shape[0]
    n_k, n_l = supply.cover.nnz, supply_x.shape[0]
    (same_day_earlier, same_day_options), (next_day_earlier, next_day_options) = (
        reach_rows(problem, "same_day"), reach_rows(problem, "next_day"))
    x_part = sparse.vstack([group_rows, budgets, -same_day_options, -next_day_options, supply_x,
                            cost_rows, shortfall_rows, sparse.csr_matrix((n_h, n_o))])
    y_part = sparse.vstack([sparse.csr_matrix((n_g + n_t, n_i)), _reach_columns(same_day_earlier),
                            sparse.csr_matrix((n_j, n_i)), supply_y, sparse.csr_matrix((n_f, n_i)), equity_people])
    z_part = sparse.vstack([sparse.csr_matrix((n_g + n_t + n_i, n_j)), _reach_columns(next_day_earlier),
                            sparse.csr_matrix((n_l + n_f + n_h, n_j))])
    # Row i's pairs, in the order of the stated cover's nonzeros (row by row): y_i - sum g_is <= 0.
    pairs = supply.cover.tocoo()
    reach_g = sparse.csr_matrix((-np.ones(n_k), (pairs.row, np.arange(n_k))), shape=(n_i, n_k))
    g_part = sparse.vstack([sparse.csr_matrix((n_g + n_t, n_k)), reach_g, sparse.csr_matrix((n_j, n_k)),
                            supply_g, sparse.csr_matrix((n_f + n_h, n_k))])
    A = sparse.hstack([x_part, y_part, z_part, g_part]).tocsr().astype(float)
    A.eliminate_zeros()
    n_rows = A.shape[0]
    lower, upper = np.full(n_rows, -np.inf), np.zeros(n_rows)
    upper[:n_g] = 1.0
    lower[:n_g][required] = 1.0
    budget_rows = np.arange(n_g, n_g + n_t)
    upper[budget_rows] = budget_room(problem)
    upper[n_g + n_t + n_i + n_j:n_g + n_t + n_i + n_j + n_l] = supply_upper
    floor_rows = np.arange(n_rows - n_h - n_f, n_rows - n_h)  # floor cost, then floor shortfall
    lower[floor_rows] = np.concatenate([least_costs, np.ones(shortfall_rows.shape[0])])
    upper[floor_rows] = np.inf
    equity = np.arange(n_rows - n_h, n_rows)
    lower[equity] = problem.equity_need[equity_groups]
    upper[equity] = np.inf
    cost = problem.option_cost / problem.money_unit
    objective = {
        "same_day": np.concatenate([np.zeros(n_o), problem.same_day_population.astype(float), np.zeros(n_j + n_k)]),
        "next_day": np.concatenate([np.zeros(n_o + n_i), problem.next_day_population.astype(float), np.zeros(n_k)]),
        "cost": np.concatenate([cost, np.zeros(n_i + n_j + n_k)]),
    }
    offset = {"same_day": float(problem.same_day_fixed), "next_day": float(problem.next_day_fixed),
              "cost": problem.committed_cost / problem.money_unit}
    continuous = None
    if problem.capacitated:
        continuous = np.zeros(A.shape[1], dtype=bool)
        continuous[n_o:n_o + n_i] = problem.supply_cover.getnnz(axis=1) > 0  # a share served, not a yes/no
        continuous[n_o + n_i + n_j:] = True
    return MatrixModel(A, lower, upper, objective, n_o, n_i, n_j, budget_rows, offset, continuous)


def floor_scale_model(problem: CoveringProblem) -> MatrixModel:
    r"""The model with a column :math:`\lambda` that scales every equity floor, and the objective
    :math:`\max \lambda`: the largest share of the floors one plan meets (the same budgets)."""
    # Without the "floor cost" and "floor shortfall" rows: they hold only for plans meeting the
    # floors in full.
    matrix = matrix_model(replace(problem, equity_floor_cost=np.zeros(problem.n_groups),
                                  shortfall_group=np.empty(0, dtype=np.int64), shortfall_base=None))
    equity_groups, _ = _equity_rows(problem)
    n_rows, n_h = matrix.A.shape[0], len(equity_groups)
    equity = np.arange(n_rows - n_h, n_rows)
    scale = np.zeros((n_rows, 1))
    scale[equity, 0] = -problem.equity_floor[equity_groups]
    A = sparse.hstack([matrix.A, sparse.csr_matrix(scale)]).tocsr()
    lower = matrix.row_lower.copy()
    lower[equity] = -problem.equity_fixed[equity_groups]
    objective = {stage: np.append(vector, 0.0) for stage, vector in matrix.objective.items()}
    objective[FLOOR_SCALE] = np.append(np.zeros(matrix.n_columns), 1.0)
    continuous = np.zeros(A.shape[1], dtype=bool)
    if matrix.continuous is not None:
        continuous[:-1] = matrix.continuous
    continuous[-1] = True
    return replace(matrix, A=A, row_lower=lower, objective=objective,
                   offset={**matrix.offset, FLOOR_SCALE: 0.0}, continuous=continuous)
