r"""The budgeted two-tier maximal covering model, stated once.

Sets
    :math:`O`        options: one per action a site may take (upgrade a station; open a candidate
                     as a delivery station; open a candidate as a service center)
    :math:`G`        sites with more than one option; :math:`O_g \subseteq O` the options of site g
    :math:`I`        same-day demand rows (zones, merged where reached by the same options)
    :math:`J`        next-day demand rows

Parameters
    :math:`c_o`      cost of option o, in millions of USD (``MONEY_UNIT``: keeps the budget row
                     well scaled next to the 0/1 coverage rows)
    :math:`B`        budget, in millions of USD
    :math:`C_0`      cost already committed to actions decided outside the model (a restricted
                     problem's fixed actions; 0 for a whole instance)
    :math:`p_i`      population of same-day row i;  :math:`q_j` population of next-day row j
    :math:`a_{io}`   1 when option o puts row i within same-day reach (the site holds inventory
                     and is within ``same_day_minutes``)
    :math:`b_{jo}`   1 when option o puts row j within next-day reach (the site delivers and is
                     within ``next_day_minutes``)

Variables
    :math:`x_o \in \{0,1\}`  option o is taken
    :math:`y_i \in \{0,1\}`  row i is same-day;  :math:`z_j \in \{0,1\}` row j is next-day

Constraints
    one action per site   :math:`\sum_{o \in O_g} x_o \le 1`            for g in G
    budget                :math:`C_0 + \sum_{o} c_o x_o \le B`
    same-day reach        :math:`y_i \le \sum_{o} a_{io} x_o`          for i in I
    next-day reach        :math:`z_j \le \sum_{o} b_{jo} x_o`          for j in J

Objectives, solved lexicographically (each stage keeps the one before at its value):
    1. same_day:  :math:`\max P_0 + \sum_i p_i y_i`
    2. next_day:  :math:`\max Q_0 + \sum_j q_j z_j`  s.t.  :math:`P_0 + \sum_i p_i y_i \ge P^*`
    3. cost:      :math:`\min C_0 + \sum_o c_o x_o`  s.t.  also  :math:`Q_0 + \sum_j q_j z_j \ge Q^*`

:math:`P_0` and :math:`Q_0` are the populations already in reach whatever the plan does
(``CoveringProblem.same_day_fixed``, ``next_day_fixed``), and :math:`C_0` is
``committed_cost``: constants, not rows. They belong in the objective all the same, because a
stage's relative gap is measured on the population the plan reaches and on the whole plan's cost,
not on the part of them the model still changes.

:func:`build_model` is the Pyomo statement of this model. :func:`matrix_model` writes the same
model as arrays (columns x, y, z; rows in the order above) so it can be handed to HiGHS in bulk;
a test checks that the two are identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .reduce import CoveringProblem

MONEY_UNIT = 1e6  # USD per model money unit
STAGES = ("same_day", "next_day", "cost")
STAGE_SENSE = {"same_day": "max", "next_day": "max", "cost": "min"}


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
    groups = problem.site_groups()
    m.G = pyo.RangeSet(0, len(groups) - 1)

    cost = problem.option_cost / MONEY_UNIT
    m.c = pyo.Param(m.O, initialize=dict(enumerate(cost)))
    m.B = pyo.Param(initialize=problem.budget / MONEY_UNIT)
    m.C0 = pyo.Param(initialize=problem.committed_cost / MONEY_UNIT)
    m.p = pyo.Param(m.I, initialize=dict(enumerate(problem.same_day_population.tolist())))
    m.q = pyo.Param(m.J, initialize=dict(enumerate(problem.next_day_population.tolist())))

    m.x = pyo.Var(m.O, within=pyo.Binary)
    m.y = pyo.Var(m.I, within=pyo.Binary)
    m.z = pyo.Var(m.J, within=pyo.Binary)

    a, b = problem.same_day_cover, problem.next_day_cover
    m.one_action_per_site = pyo.Constraint(m.G, rule=lambda m, g: sum(m.x[o] for o in groups[g]) <= 1)
    # A row with no variables is trivial; Pyomo rejects it, so the empty cases are skipped.
    m.budget = pyo.Constraint(expr=m.C0 + sum(m.c[o] * m.x[o] for o in m.O) <= m.B) if len(m.O) else pyo.Constraint.Skip
    m.same_day_reach = pyo.Constraint(
        m.I, rule=lambda m, i: m.y[i] - sum(m.x[o] for o in a.indices[a.indptr[i]:a.indptr[i + 1]]) <= 0)
    m.next_day_reach = pyo.Constraint(
        m.J, rule=lambda m, j: m.z[j] - sum(m.x[o] for o in b.indices[b.indptr[j]:b.indptr[j + 1]]) <= 0)

    same_day = problem.same_day_fixed + sum(m.p[i] * m.y[i] for i in m.I)
    next_day = problem.next_day_fixed + sum(m.q[j] * m.z[j] for j in m.J)
    total_cost = m.C0 + sum(m.c[o] * m.x[o] for o in m.O)
    if "same_day" in floors and len(m.I):
        m.same_day_floor = pyo.Constraint(expr=same_day >= floors["same_day"])
    if "next_day" in floors and len(m.J):
        m.next_day_floor = pyo.Constraint(expr=next_day >= floors["next_day"])
    expression = {"same_day": same_day, "next_day": next_day, "cost": total_cost}[stage]
    m.objective = pyo.Objective(expr=expression, sense=pyo.maximize if STAGE_SENSE[stage] == "max" else pyo.minimize)
    return m


@dataclass(frozen=True)
class MatrixModel:
    """The same model as arrays: ``row_lower <= A @ v <= row_upper`` over ``v = (x, y, z)``,
    all columns binary; ``objective[stage]`` is the stage's coefficient vector."""

    A: sparse.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    objective: dict[str, np.ndarray]
    n_options: int
    n_same_day: int
    n_next_day: int
    budget_row: int  # the budget row's position in A
    offset: dict[str, float]  # the stage objective's constant: population in reach whatever the plan

    @property
    def n_columns(self) -> int:
        return self.A.shape[1]


def budget_room(problem: CoveringProblem) -> float:
    """The budget row's right-hand side, :math:`B - C_0`, in model money units."""
    return (problem.budget - problem.committed_cost) / MONEY_UNIT


def matrix_model(problem: CoveringProblem) -> MatrixModel:
    n_o, n_i, n_j = problem.n_options, len(problem.same_day_population), len(problem.next_day_population)
    groups = problem.site_groups()
    group_rows = sparse.csr_matrix(
        (np.ones(sum(g.size for g in groups)),
         np.concatenate(groups) if groups else np.empty(0, np.int64),
         np.concatenate([[0], np.cumsum([g.size for g in groups])])),
        shape=(len(groups), n_o),
    )
    cost = problem.option_cost / MONEY_UNIT
    budget_coefficients = sparse.csr_matrix(cost.reshape(1, -1))
    x_part = sparse.vstack([group_rows, budget_coefficients, -problem.same_day_cover, -problem.next_day_cover])
    y_part = sparse.vstack([sparse.csr_matrix((len(groups) + 1, n_i)), sparse.identity(n_i),
                            sparse.csr_matrix((n_j, n_i))])
    z_part = sparse.vstack([sparse.csr_matrix((len(groups) + 1 + n_i, n_j)), sparse.identity(n_j)])
    A = sparse.hstack([x_part, y_part, z_part]).tocsr().astype(float)
    A.eliminate_zeros()
    n_rows = A.shape[0]
    upper = np.zeros(n_rows)
    upper[:len(groups)] = 1.0
    upper[len(groups)] = budget_room(problem)
    objective = {
        "same_day": np.concatenate([np.zeros(n_o), problem.same_day_population.astype(float), np.zeros(n_j)]),
        "next_day": np.concatenate([np.zeros(n_o + n_i), problem.next_day_population.astype(float)]),
        "cost": np.concatenate([cost, np.zeros(n_i + n_j)]),
    }
    offset = {"same_day": float(problem.same_day_fixed), "next_day": float(problem.next_day_fixed), "cost": problem.committed_cost / MONEY_UNIT}
    return MatrixModel(A, np.full(n_rows, -np.inf), upper, objective, n_o, n_i, n_j, len(groups), offset)
