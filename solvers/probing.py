r"""Options decided by local probes of a stage's LP.

A later stage keeps an earlier one at its value (the floor :math:`F`); the first stage's own search
needs only plans at least as good as its best one (:math:`F` that plan's value). An option that,
forced the other way, leaves the stage's LP bound below :math:`F` takes its LP value in every plan
that keeps the floor, and can be decided. Solving the whole LP again per option ("probing")
decided two thirds of a later stage's options on the networks where that stage is slowest, and
took minutes; the reduced costs alone, a probe with every dual held, decide a fifth to a
fourteenth as many (benchmarks/README.md). What the probes find comes from the covering rows'
prices moving near the option, so each probe here moves only those:

For any row duals :math:`\rho` (of the sign the row's finite side asks), the Lagrangian

.. math::  \mathcal{L}(\rho) = \text{offset} + \sum_k \rho_k b_k(\rho_k) + \sum_j \max_{l_j \le v_j \le u_j} \delta_j v_j,
           \qquad \delta = c - A^\top \rho,

(:math:`b_k` the row's upper bound where :math:`\rho_k > 0`, its lower where :math:`\rho_k < 0`)
bounds the LP from above, and equals it at the LP's optimal duals. A probe of option o keeps
every dual at its optimum but those of :math:`K_o`, the covering rows within two steps of o (the
rows o reaches, and the rows of the free options that reach those), and minimizes over them: that
minimum is the LP over the columns :math:`J` that touch :math:`K_o`, with the rows :math:`K_o`
kept and every other row priced at its dual,

.. math::  \max \sum_{j \in J} (\delta_j + (A_{K_o J}^\top \rho_{K_o})_j) v_j \quad
           \text{s.t. } A_{K_o J} v \text{ within the rows' bounds},\ v \text{ within its bounds},\ v_o \text{ forced},

plus the Lagrangian's terms outside :math:`K_o` and :math:`J`. A few hundred rows each, it is
solved exactly; its bound below :math:`F` decides o. Any duals give a valid bound, so the
decisions hold whatever the LP's vertex. On the stages measured they were 85-89% of what the
whole LP's probes decide, in a fifth to a seventeenth of their time.
"""

from __future__ import annotations

import time

import highspy
import numpy as np
from scipy import sparse

from ruralreach.model.reach import entries_of, entry_positions, rows_reaching

from .highs import LpOptimum, bound_margin

_WHOLE_DUAL = 1e-9  # a dual this small on a row's infinite side is the solver's noise: taken as 0


def _row_terms(duals: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return duals * np.where(duals > 0, upper, np.where(duals < 0, lower, 0.0))


def _box_terms(reduced: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return np.where(reduced > 0, reduced * upper, reduced * lower)


def decided_by_local_probes(lp: LpOptimum, col_lower: np.ndarray, col_upper: np.ndarray, probed: np.ndarray,
                            covering_rows: np.ndarray, floor: float, deadline: float | None,
                            patience: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The options (masks over the first ``probed.size`` columns: at 0, at 1) that cannot take
    the other side of their LP value in any solution of the maximizing LP ``lp`` worth at least
    ``floor``. ``col_lower``/``col_upper`` are the columns' bounds now (as tight as the LP's or
    tighter); ``probed`` the options to try; ``covering_rows`` (bool per row) the rows whose duals
    a probe may move. The options are probed likeliest first (by the size of their reduced cost);
    the probes stop at ``deadline``, or once ``patience`` of them in a row have decided nothing
    (None: never). What is decided by then holds."""
    n = probed.size
    at_zero, at_one = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    assert lp.maximize, "floors are kept on people, which stages maximize"
    duals = lp.row_duals.copy()
    wrong_side = np.isinf(np.where(duals > 0, lp.row_upper, lp.row_lower)) & (duals != 0)
    if np.any(np.abs(duals[wrong_side]) > _WHOLE_DUAL):
        return at_zero, at_one
    duals[wrong_side] = 0.0
    A = lp.A
    if not A.has_sorted_indices:
        A = A.sorted_indices()
    by_row = A.tocsr()
    covering = np.asarray(covering_rows, dtype=bool)
    margin = bound_margin(lp.objective)
    # A covering row that an option already taken reaches is reached whatever the plan: it is
    # priced at 0 and moved by no probe, as a model narrowed by that decision drops it. The
    # Lagrangian stays at the LP's optimum (the row's y gains what the taken option loses, and
    # every other column of the row can only lose), and each probe's LP is the smaller, for the
    # same decisions (benchmarks/README.md, "Probes without the rows decided"). Checked all the
    # same: where the duals priced so do not reach the LP's optimum, they are taken as they are.
    taken = np.zeros(A.shape[1], dtype=bool)
    taken[:n] = col_lower[:n] >= 1.0
    settled = covering & rows_reaching(by_row, taken)
    for held in (settled, np.zeros_like(settled)) if settled.any() else (settled,):
        priced = np.where(held, 0.0, duals)
        reduced = lp.cost - A.T @ priced
        rows_part = _row_terms(priced, lp.row_lower, lp.row_upper)
        box_part = _box_terms(reduced, col_lower, col_upper)
        whole = lp.offset + rows_part.sum() + box_part.sum()
        if whole <= lp.objective + margin:
            duals, covering = priced, covering & ~held
            break
    else:  # the duals do not price the LP at its optimum: no probes
        return at_zero, at_one
    movable = (col_upper > 0.0) | (col_lower < 0.0)  # a column held at 0 adds nothing to any probe
    order = np.flatnonzero(probed)
    order = order[np.argsort(-np.abs(reduced[order]), kind="stable")]  # the likeliest first
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    # A probe's LP is a few hundred rows that presolve barely shrinks: without it the probes of
    # two captured first stages took about two thirds of the time and decided the same options
    # (benchmarks/README.md, "Probes in the first stage").
    h.setOptionValue("presolve", "off")
    # Each probe's rows, columns and block are gathered from the index arrays, and its LP passed to
    # HiGHS as arrays: gathered by scipy's indexing into a HighsLp, the probes spent more time in
    # Python than in HiGHS (benchmarks/README.md, "Probes without scipy's indexing").
    local_row = np.full(A.shape[0], -1, dtype=np.int64)  # a row's place in the probe's rows, else -1
    row_seen, column_seen = np.zeros(A.shape[0], dtype=bool), np.zeros(A.shape[1], dtype=bool)
    undecided = 0  # probes in a row that decided nothing
    for o in order:
        if deadline is not None and time.perf_counter() > deadline:
            break
        if patience is not None and undecided >= patience:
            break
        undecided += 1
        rows = _covering(A, covering, np.array([o]), row_seen)
        near = _distinct(entries_of(by_row, rows), column_seen)
        near = near[near < probed.size]
        rows = _distinct(np.concatenate((rows, entries_of(A, near[probed[near]]))), row_seen)
        rows = rows[covering[rows]]
        forced = 0.0 if lp.values[o] > 0.5 else 1.0
        if rows.size == 0:  # o reaches no covering row: its reduced cost is all a probe can move
            bound = whole - box_part[o] + reduced[o] * forced
        else:
            columns = _distinct(entries_of(by_row, rows), column_seen)
            columns = columns[movable[columns]]
            start, index, values = _block(A, rows, columns, local_row)
            column_of = np.repeat(np.arange(columns.size), np.diff(start))
            cost = reduced[columns] + np.bincount(column_of, weights=values * duals[rows][index],
                                                  minlength=columns.size)
            lower, upper = col_lower[columns].copy(), col_upper[columns].copy()
            position = np.searchsorted(columns, o)
            lower[position] = upper[position] = forced
            h.passModel(int(columns.size), int(rows.size), int(values.size), int(highspy.MatrixFormat.kColwise),
                        int(highspy.ObjSense.kMaximize), 0.0, cost, lower, upper,
                        lp.row_lower[rows], lp.row_upper[rows],
                        start, index, values,
                        np.zeros(columns.size, dtype=np.int32))  # every column continuous
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                continue
            held = whole - rows_part[rows].sum() - box_part[columns].sum()
            bound = held + h.getInfo().objective_function_value
        if bound < floor - margin:
            (at_one if forced == 0.0 else at_zero)[o] = True
            undecided = 0
    return at_zero, at_one


def _block(A: sparse.csc_matrix, rows: np.ndarray, columns: np.ndarray,
           local_row: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``A[rows][:, columns]`` (``rows`` and ``columns`` sorted, A's indices sorted) in HiGHS's
    column-wise arrays: starts, row indices and values, each column's rows in order.
    ``local_row``: -1 for every row of A, and left so."""
    local_row[rows] = np.arange(rows.size)
    at = entry_positions(A.indptr, columns)
    index = local_row[A.indices[at]]
    local_row[rows] = -1
    inside = index >= 0
    column_of = np.repeat(np.arange(columns.size), A.indptr[columns + 1] - A.indptr[columns])[inside]
    start = np.concatenate(([0], np.cumsum(np.bincount(column_of, minlength=columns.size))))
    return start.astype(np.int32), index[inside].astype(np.int32), A.data[at[inside]].astype(np.float64)


def _distinct(values: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The distinct ``values``, sorted (``np.unique``), marked in ``seen`` (all False, a flag per
    possible value, and left so): cheaper than sorting when the values are many and their range
    is the matrix's."""
    seen[values] = True
    distinct = np.flatnonzero(seen)
    seen[distinct] = False
    return distinct


def _covering(A: sparse.csc_matrix, covering: np.ndarray, options: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """The covering rows any of ``options`` (column indices) has a coefficient in, sorted."""
    rows = _distinct(entries_of(A, options), seen)
    return rows[covering[rows]]
