"""The Pyomo statement of the model, its array form, and the reductions all describe one problem."""

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from conftest import plans, small_instance, upgrades_problem, with_capacity
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
from scipy import sparse

from test_program import program_instance

from ruralreach.model import formulation, reduce
from ruralreach.model.formulation import (STAGE_SENSE, STAGES, StatedSupply, build_model, earlier_rows,
                                          floor_shortfall_rows, matrix_model, reach_rows, stated_supply)
from ruralreach.model.instance import Equity, Phase, load_instance
from ruralreach.model.reach import compute_reach
from ruralreach.model.reduce import reduce_problem, restrict, rows_the_floors_force, rows_the_floors_reach
from ruralreach.pipeline import prepare
from ruralreach.solvers.highs import HighsModel, SolveOptions, solve_stage_with_pyomo
from ruralreach.solvers.lexicographic import solve_lexicographic, stage_values

EXACT = SolveOptions(mip_gap=0.0)


def problem_of(directory, **reductions):
    instance = load_instance(directory)
    return reduce_problem(instance, compute_reach(instance), **reductions)


def pyomo_rows(problem, stage, floors):
    """The compiled Pyomo model as {row name: (coefficients over (x, y, z, g) columns, lower, upper)}."""
    model = build_model(problem, stage, floors)
    form = LinearStandardFormCompiler().write(model, mixed_form=True)
    n_o, n_i, n_j = problem.n_options, len(problem.same_day_population), len(problem.next_day_population)
    offset = {"x": 0, "y": n_o, "z": n_o + n_i, "g": n_o + n_i + n_j}
    n = n_o + n_i + n_j + stated_supply(problem).cover.nnz
    position = []
    for var in form.columns:
        name, index = re.fullmatch(r"(\w)\[(\d+)\]", var.name).groups()
        position.append(offset[name] + int(index))
    A = form.A.tocsr()
    rows = {}
    for k, entry in enumerate(form.rows):
        coefficients = np.zeros(n)
        coefficients[position] = A[[k]].toarray().ravel()
        bound = form.rhs[k]
        lower, upper = {-1: (bound, np.inf), 0: (bound, bound), 1: (-np.inf, bound)}[entry.bound_type]
        rows[entry.constraint.name] = (coefficients, lower, upper)
    objective = np.zeros(n)
    objective[position] = form.c.toarray().ravel()
    return rows, objective, form.c_offset[0], form.objectives[0].sense


def matrix_rows(problem, floors):
    matrix = matrix_model(problem)
    groups = len(problem.site_groups())
    equity = int((problem.equity_floor > problem.equity_fixed).sum())
    given = problem.supply_cover[:, np.flatnonzero(problem.supply_option < 0)].getnnz(axis=1) > 0
    within = int(((problem.supply_cover.getnnz(axis=1) > 0) & ~given).sum())
    names = ([f"one_action_per_site[{g}]" for g in range(groups)]
             + [f"budget[{t}]" for t in range(problem.n_phases)]
             + [f"same_day_reach[{i}]" for i in range(matrix.n_same_day)]
             + [f"next_day_reach[{j}]" for j in range(matrix.n_next_day)]
             + [f"capacity[{s}]" for s in range(stated_supply(problem).capacity.size)]
             + [f"within_reach[{w}]" for w in range(within)]
             + [f"floor_cost[{f}]" for f in range(int(((problem.equity_floor_cost > 0) & (problem.equity_floor > problem.equity_fixed)).sum()))]
             + [f"floor_shortfall[{k}]" for k in range(floor_shortfall_rows(problem).shape[0])]
             + [f"equity_floor[{h}]" for h in range(equity)])
    dense = matrix.A.toarray()
    rows = {name: (dense[k], matrix.row_lower[k], matrix.row_upper[k]) for k, name in enumerate(names)
            if dense[k].any() or not name.startswith("budget")}  # Pyomo keeps no empty budget row
    for stage, value in floors.items():
        if matrix.objective[stage].any():  # an empty floor is trivial: neither form keeps it
            rows[f"{stage}_floor"] = (matrix.objective[stage], value - matrix.offset[stage], np.inf)
    return rows, matrix


def some_decisions(problem, seed):
    """A random set of options taken (at most one per site) and of options excluded."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(problem.n_options)
    taken = np.zeros(problem.n_options, dtype=bool)
    for option in order[:max(1, problem.n_options // 4)]:
        if not np.any(taken & (problem.option_site == problem.option_site[option])):
            taken[option] = True
    excluded = ~taken & (rng.random(problem.n_options) < 0.25)
    return taken, excluded


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("restricted", [False, True])
@pytest.mark.parametrize("capacitated", [False, True])
def test_pyomo_model_and_array_model_are_identical(seed, stage, restricted, capacitated, tmp_path):
    directory = small_instance(tmp_path / "i", seed=seed, budget=80e6, zones=60, candidates=6)
    problem = problem_of(with_capacity(directory, seed=seed) if capacitated else directory)
    assert problem.capacitated == capacitated
    if restricted:  # committed cost and decided rows: constants in the budget and the objectives
        problem = restrict(problem, *some_decisions(problem, seed)).problem
        assert problem.committed_cost > 0
    assert_same_models(problem, stage)


@pytest.mark.parametrize("restricted", [False, True])
def test_pyomo_and_array_models_state_equity_floors_and_their_cost_alike(restricted, tmp_path):
    """With floors that bind, what meeting each costs at least (the "floor cost" rows), and
    "floor shortfall" rows for each group and a few sets of options, carried by a restriction."""
    directory = program_instance(tmp_path / "i", seed=1, budget=40e6, equity=Equity("region", 0.8, (("west", 0.95),)))
    prepared = prepare(load_instance(directory))
    problem = replace(prepared.problem, equity_floor_cost=prepared.floor_costs)
    bases = np.random.default_rng(1).random((3 * problem.n_groups, problem.n_options)) < 0.3
    problem = replace(problem, shortfall_group=np.tile(np.arange(problem.n_groups), 3),
                      shortfall_base=sparse.csr_matrix(bases))
    assert floor_shortfall_rows(problem).shape[0] > 0
    if restricted:  # half the optimal plan's options taken, a third of the others excluded
        chosen = solve_lexicographic(problem, EXACT).chosen
        taken = chosen & (np.cumsum(chosen) % 2 == 1)
        problem = restrict(problem, taken, ~chosen & (np.arange(problem.n_options) % 3 == 0)).problem
    assert np.any(problem.equity_floor_cost[problem.equity_floor > problem.equity_fixed] > 0)
    assert floor_shortfall_rows(problem).shape[0] > 0
    for stage in STAGES:
        assert_same_models(problem, stage)


def assert_same_models(problem, stage):
    floors = {s: problem_floor + k for k, s in enumerate(STAGES[:STAGES.index(stage)])
              for problem_floor in [problem.same_day_fixed + 1000.0]}
    expected, matrix = matrix_rows(problem, floors)
    actual, objective, offset, sense = pyomo_rows(problem, stage, floors)
    assert set(actual) == set(expected)
    for name, (coefficients, lower, upper) in expected.items():
        got = actual[name]
        if got[1] == -np.inf and lower > -np.inf:  # Pyomo wrote a >= row as <= negated
            got = (-got[0], -got[2], -got[1])
        np.testing.assert_allclose(got[0], coefficients, err_msg=name)
        assert (got[1], got[2]) == pytest.approx((lower, upper)), name
    # The compiler states every objective as a minimization: a maximized one comes negated.
    assert str(sense) == {"max": "maximize", "min": "minimize"}[STAGE_SENSE[stage]]
    sign = -1 if STAGE_SENSE[stage] == "max" else 1
    np.testing.assert_allclose(objective, matrix.objective[stage] * sign)
    assert offset == pytest.approx(matrix.offset[stage] * sign)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("capacitated", [False, True])
def test_pyomo_and_array_models_state_phased_reach_alike(seed, capacitated, tmp_path):
    """Three phases: a row's reach is stated through the same zone's row of an earlier phase (not
    the same-day rows with capacities, whose y is a share served)."""
    phases = [Phase("2025", 20e6), Phase("2026", 20e6), Phase("2027", 30e6)]
    directory = program_instance(tmp_path / "i", seed=seed, phases=phases)
    problem = problem_of(with_capacity(directory, seed=seed) if capacitated else directory)
    assert problem.capacitated == capacitated and problem.n_phases == 3
    same_day, _ = reach_rows(problem, "same_day")
    next_day, _ = reach_rows(problem, "next_day")
    assert np.all(same_day < 0) if capacitated else np.any(same_day >= 0)
    assert np.any(next_day >= 0) == (len(problem.next_day_population) > 0)
    for stage in STAGES:
        assert_same_models(problem, stage)


@pytest.mark.parametrize("seed", range(4))
def test_phased_reach_rows_have_the_lp_of_the_plain_rows(seed, monkeypatch, tmp_path):
    """Each stage's LP relaxation is the same with reach rows through the phase before as with
    every option in every later phase's rows, floors and all."""
    phases = [Phase("2025", 15e6), Phase("2026", 10e6), Phase("2027", 20e6)]
    directory = program_instance(tmp_path / "i", seed=seed, phases=phases, equity=Equity("region", 0.5))
    problem = prepare(load_instance(directory)).problem
    assert any(np.any(reach_rows(problem, tier)[0] >= 0) for tier in ("same_day", "next_day"))
    chained = matrix_model(problem)
    with monkeypatch.context() as patch:
        patch.setattr(formulation, "reach_rows", lambda problem, tier: (
            np.full(len(getattr(problem, f"{tier}_population")), -1), getattr(problem, f"{tier}_cover")))
        plain = matrix_model(problem)
    assert plain.A.nnz > chained.A.nnz
    assert_same_stage_lps(problem, chained, plain)


def assert_same_stage_lps(problem, matrix, other):
    """Each stage's LP relaxation has the same bound in both forms of the problem's model, each
    later stage keeping the ones before a little below their bounds."""
    floors = {}
    for stage in STAGES:
        bounds = []
        for form in (matrix, other):
            model = HighsModel(form, EXACT)
            model.reset(formulation.budget_room(problem))
            for kept, value in floors.items():
                model.set_floor(kept, value)
            bounds.append(model.relaxation(stage, None).bound)
        assert np.isfinite(bounds[0]) and bounds[0] == pytest.approx(bounds[1], rel=1e-9), stage
        floors[stage] = 0.999 * bounds[0]  # a floor the later stages' LPs keep with room


def one_per_supplier(problem):
    """The problem's suppliers stated one by one, each with its own option."""
    option = problem.supply_option
    opened = np.flatnonzero(option >= 0)
    opens = sparse.csr_matrix((np.ones(opened.size), (opened, option[opened])), shape=(option.size, problem.n_options))
    return StatedSupply(problem.supply_cover.tocsr(), problem.supply_capacity, opens,
                        np.arange(problem.supply_cover.nnz))


@pytest.mark.parametrize("seed", range(4))
def test_suppliers_stated_as_one_have_the_lp_of_one_each(seed, monkeypatch, tmp_path):
    """Each stage's LP relaxation is the same with the suppliers of the same rows and capacity
    stated as one (in phases, a site's suppliers of a phase's rows) as with a supplier for each
    option, floors and all."""
    phases = [Phase("2025", 15e6), Phase("2026", 10e6), Phase("2027", 20e6)]
    directory = program_instance(tmp_path / "i", seed=seed, phases=phases, equity=Equity("region", 0.3))
    problem = prepare(load_instance(with_capacity(directory, seed=seed))).problem
    stated = matrix_model(problem)
    with monkeypatch.context() as patch:
        patch.setattr(formulation, "stated_supply", one_per_supplier)
        separate = matrix_model(problem)
    assert separate.A.shape[1] > stated.A.shape[1]
    assert_same_stage_lps(problem, stated, separate)


@pytest.mark.parametrize("seed", range(6))
def test_suppliers_of_the_same_rows_and_capacity_are_stated_once(seed, tmp_path):
    """Against a search by supplier: each stated supplier is every supplier opened by an option
    with the same rows and capacity (or one supplier open whatever the plan), and holds their
    options. Two more sites stand where a capacitated one does: one with its capacity, stated with
    it, and one with another capacity, not."""
    phases = [Phase("2025", 15e6), Phase("2026", 10e6), Phase("2027", 20e6)]
    directory = with_capacity(program_instance(tmp_path / "i", seed=seed, phases=phases), seed=seed)
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    before = problem_of(directory, drop_dominated=False)
    supplying = before.option_site[before.supply_option[before.supply_option >= 0]]
    site = sites.iloc[[int(supplying.min())]]  # a site whose capacity can bind
    twins = pd.concat([site.assign(site_id="twin"),
                       site.assign(site_id="other", capacity=f"{float(site['capacity'].iloc[0]) / 2:.1f}")])
    pd.concat([sites, twins]).to_csv(directory / "sites.csv", index=False, lineterminator="\n")
    problem = problem_of(directory, drop_dominated=False)  # the twins' options kept
    supply = stated_supply(problem)
    cover, stated_cover = problem.supply_cover.toarray() > 0, supply.cover.toarray() > 0
    opens = supply.opens.toarray() > 0
    classes = {}
    for s, option in enumerate(problem.supply_option):
        kind = "opened" if option >= 0 else f"given {s}"
        classes.setdefault((kind, cover[:, s].tobytes(), problem.supply_capacity[s]), []).append(s)
    assert len(classes) == supply.capacity.size < problem.supply_option.size
    pairs = problem.supply_cover.tocoo()
    stated_pairs = supply.cover.tocoo()
    members_of_pair = supply.pair_shares(np.ones(pairs.nnz))  # shares of 1 added up: the members
    for members in classes.values():
        # Every pair of the members is the pair of the same row of one stated supplier.
        of_members = np.isin(pairs.col, members)
        (c,) = np.unique(stated_pairs.col[supply.pair_of[of_members]])
        np.testing.assert_array_equal(stated_pairs.row[supply.pair_of[of_members]], pairs.row[of_members])
        np.testing.assert_array_equal(stated_cover[:, c], cover[:, members[0]])
        np.testing.assert_array_equal(members_of_pair[stated_pairs.col == c], len(members))
        assert supply.capacity[c] == problem.supply_capacity[members[0]]
        options = problem.supply_option[members]
        np.testing.assert_array_equal(np.flatnonzero(opens[c]), np.sort(options[options >= 0]))
    # The twin shares its site's stated suppliers; the site of another capacity has its own.
    names = load_instance(directory).sites["site_id"].to_numpy()
    by_site = {name: {c for c in range(opens.shape[0]) if np.any(names[problem.option_site[opens[c]]] == name)}
               for name in ("twin", "other", site["site_id"].iloc[0])}
    assert by_site["twin"] and by_site["twin"] == by_site[site["site_id"].iloc[0]]
    assert by_site["other"] and not by_site["other"] & by_site["twin"]


@pytest.mark.parametrize("seed", range(20))
def test_each_row_is_stated_through_the_row_of_its_earlier_options(seed):
    """Random covers and phases, against a search of every pair of rows: a row has an earlier row
    exactly when some row has exactly its options of phases before its latest, and its options
    stated are then the others."""
    rng = np.random.default_rng(seed)
    n_rows, n_options, n_phases = int(rng.integers(1, 40)), int(rng.integers(1, 12)), int(rng.integers(1, 4))
    dense = rng.random((n_rows, n_options)) < rng.uniform(0.05, 0.5)
    dense[rng.integers(0, n_rows, size=n_rows // 2)] = dense[rng.integers(0, n_rows, size=n_rows // 2)]
    phase = rng.integers(0, n_phases, size=n_options)
    # Rows that are a row's earlier options, as phased reductions make them.
    for i in rng.integers(0, n_rows, size=n_rows // 3):
        if dense[i].any():
            latest = phase[dense[i]].max()
            dense = np.vstack([dense, dense[i] & (phase < latest)])
    cover = sparse.csr_matrix(dense)
    earlier, stated = earlier_rows(cover, phase)
    for i, row in enumerate(dense):
        before = row & (phase < (phase[row].max() if row.any() else -1))
        matches = [k for k in range(len(dense)) if np.array_equal(dense[k], before)] if before.any() else []
        if not matches:
            assert earlier[i] == -1
            np.testing.assert_array_equal(stated[i].toarray().ravel() > 0, row)
            continue
        assert earlier[i] in matches
        np.testing.assert_array_equal(stated[i].toarray().ravel() > 0, row & ~before)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("capacitated", [False, True])
def test_reductions_keep_the_optimum(seed, capacitated, tmp_path):
    directory = small_instance(tmp_path / "i", seed=seed, zones=300, stations=6, candidates=25,
                               budget=[30e6, 90e6, 250e6][seed % 3], towns=30)
    if capacitated:
        with_capacity(directory, seed=seed, share=0.05)
    full = problem_of(directory, merge=False, drop_dominated=False)
    reduced = problem_of(directory)
    assert len(reduced.same_day_population) <= len(full.same_day_population)
    assert reduced.n_options <= full.n_options
    results = []
    for problem in (full, reduced):
        solution = solve_lexicographic(problem, EXACT)
        assert solution.status == "optimal"
        values = stage_values(problem, solution.chosen)
        results.append((values["same_day"], values["next_day"], problem.option_cost @ solution.chosen))
    assert results[0][:2] == pytest.approx(results[1][:2], rel=1e-8)
    assert results[0][2] == pytest.approx(results[1][2])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("capacitated", [False, True])
def test_restricted_problem_has_the_plans_that_keep_the_decisions(seed, capacitated, tmp_path):
    directory = small_instance(tmp_path / "i", seed=seed, zones=80, stations=3, candidates=6, budget=100e6, towns=10)
    if capacitated:
        with_capacity(directory, seed=seed, share=0.1)
    problem = problem_of(directory, drop_dominated=False)
    assert problem.capacitated == capacitated
    assert 7 <= problem.n_options <= 13
    taken, excluded = some_decisions(problem, seed)
    restriction = restrict(problem, taken, excluded)
    narrow = restriction.problem
    assert narrow.n_options < problem.n_options
    # Every plan of the restricted problem is a plan of the whole that keeps the decisions, with
    # the same people in reach and the same cost, constants included.
    for chosen in plans(narrow):
        whole = restriction.lift(chosen)
        assert whole[taken].all() and not whole[excluded].any()
        assert stage_values(narrow, chosen) == pytest.approx(stage_values(problem, whole))
    # Every plan of the whole that keeps the decisions maps onto one reaching the same people at
    # no more cost.
    kept = 0
    for whole in plans(problem):
        if whole[taken].all() and not whole[excluded].any():
            kept += 1
            values, narrowed = stage_values(problem, whole), stage_values(narrow, restriction.project(whole))
            assert (narrowed["same_day"], narrowed["next_day"]) == pytest.approx((values["same_day"], values["next_day"]),
                                                                                 rel=1e-9)
            assert narrowed["cost"] <= values["cost"] + 1e-9
    assert kept > 1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("room", [0.0, 0.5])
def test_rows_the_floors_force_and_reach_are_reached_by_every_plan_keeping_them(seed, room, tmp_path):
    # A budget that reaches nearly everyone, and floors at the best plans' figures less ``room``
    # times the smallest row, or none: every row is forced, or the big ones.
    directory = small_instance(tmp_path / "i", seed=seed, zones=60, stations=3, candidates=7, budget=400e6,
                               towns=8, same_day_minutes=[60.0, 90.0][seed % 2], next_day_minutes=120.0)
    problem = problem_of(directory, drop_dominated=False)
    every = [(chosen, stage_values(problem, chosen)) for chosen in plans(problem) if problem.affordable(chosen)]
    best_same = max(v["same_day"] for _, v in every)
    best_next = max(v["next_day"] for _, v in every if v["same_day"] == best_same)
    smallest = min(problem.same_day_population.min(), problem.next_day_population.min(initial=np.inf))
    floors = {"same_day": best_same - room * smallest, "next_day": best_next - room * smallest}
    keeping = [(c, v) for c, v in every if v["same_day"] >= floors["same_day"] and v["next_day"] >= floors["next_day"]]
    none = np.zeros(problem.n_options, dtype=bool)
    forced = rows_the_floors_force(problem, floors)
    reached = rows_the_floors_reach(problem, floors, none, none)
    assert forced is not None and reached is not None
    asked = {tier: forced[tier] | reached[tier] for tier in forced}
    covers = {"same_day": problem.same_day_cover, "next_day": problem.next_day_cover}
    for chosen, _ in keeping:  # counted here, not by the functions under test
        for tier, cover in covers.items():
            assert (cover[np.flatnonzero(asked[tier])] @ chosen.astype(int) > 0).all()
    # Made constants, the rows leave the plans keeping the floors as they were, and the
    # narrowed problem accepts only plans that keep the floors in the whole.
    restriction = restrict(problem, none, none, reached)
    narrow = restriction.problem
    assert len(narrow.same_day_population) + len(narrow.next_day_population) < (
        len(problem.same_day_population) + len(problem.next_day_population))
    for chosen, values in keeping:
        narrowed = stage_values(narrow, restriction.project(chosen))
        assert (narrowed["same_day"], narrowed["next_day"]) == (values["same_day"], values["next_day"])
    for chosen in plans(narrow):
        values = stage_values(narrow, chosen)
        if values["same_day"] >= floors["same_day"] and values["next_day"] >= floors["next_day"]:
            whole = stage_values(problem, restriction.lift(chosen))
            assert (whole["same_day"], whole["next_day"]) == (values["same_day"], values["next_day"])


def test_rows_the_floors_force_leave_one_of_rows_with_the_same_options():
    # Rows 0 and 1 (same-day) and row 0 (next-day) have the same options; same-day row 2 has more.
    # With every row forced, same-day row 0 stays and the others are reached through it.
    problem = upgrades_problem([[1, 1, 0], [1, 1, 0], [1, 1, 1]], [5, 6, 7], [[1, 1, 0], [0, 0, 1]], [8, 9],
                               budget=3e6)
    none = np.zeros(3, dtype=bool)
    floors = {"same_day": 18.0, "next_day": 17.0}
    forced = rows_the_floors_force(problem, floors)
    assert forced["same_day"].tolist() == [True, True, True] and forced["next_day"].tolist() == [True, True]
    reached = rows_the_floors_reach(problem, floors, none, none)
    assert reached["same_day"].tolist() == [False, True, True] and reached["next_day"].tolist() == [True, False]
    # Room for row 0 (5 people) but not for the others: row 0 is not forced, and row 2 has all of
    # row 1's options, so row 2 is reached; row 0 too, through row 1.
    floors = {"same_day": 12.5}
    assert rows_the_floors_force(problem, floors)["same_day"].tolist() == [False, True, True]
    assert rows_the_floors_reach(problem, floors, none, none)["same_day"].tolist() == [True, False, True]
    assert rows_the_floors_reach(problem, {"same_day": 10.0}, none, none) is None  # room for every row


def test_rows_the_floors_reach_are_not_counted_past_the_work_allowed(monkeypatch):
    # A same-day floor of 12.5 forces same-day rows 1 and 2. Options 0 and 1 are each in both of
    # them and in four rows (same-day 0-2, next-day 0); option 2 in one and in two rows (same-day
    # 2, next-day 1): 2 x 4 + 2 x 4 + 1 x 2 = 18 products of an option's forced rows by its rows.
    problem = upgrades_problem([[1, 1, 0], [1, 1, 0], [1, 1, 1]], [5, 6, 7], [[1, 1, 0], [0, 0, 1]], [8, 9],
                               budget=3e6)
    none = np.zeros(3, dtype=bool)
    floors = {"same_day": 12.5}
    for work, counted in ((18, True), (17, False)):
        monkeypatch.setattr(reduce, "FORCING_WORK", work)
        assert (rows_the_floors_reach(problem, floors, none, none) is not None) == counted


def test_a_row_many_taken_options_reach_becomes_a_constant():
    # 256 upgrades reach row 0 (an int8 count of them wraps to 0); one more option reaches row 1.
    n = 257
    cover = sparse.csr_matrix((np.ones(n, dtype=np.int8), ([0] * 256 + [1], range(n))), shape=(2, n))
    problem = upgrades_problem(cover.toarray(), [1000, 7], budget=400e6, same_day_fixed=5)
    taken = np.arange(n) < 256
    narrow = restrict(problem, taken, np.zeros(n, dtype=bool)).problem
    assert narrow.same_day_fixed == 1005 and list(narrow.same_day_population) == [7]
    assert narrow.committed_cost == 256e6 and narrow.n_options == 1


@pytest.mark.parametrize("seed", range(4))
def test_rows_merge_exactly_when_group_options_and_suppliers_match(seed):
    # Rows drawn from few patterns, so that many coincide and some differ in one column only.
    from ruralreach.model.reduce import _Rows
    rng = np.random.default_rng(seed)
    n_rows, n_options, n_suppliers = 400, 30, 4
    patterns = [rng.random(n_options) < rng.uniform(0.02, 0.3) for _ in range(25)]
    patterns += [p ^ (np.arange(n_options) == rng.integers(n_options)) for p in patterns[:10]]
    cover = np.array([patterns[k] for k in rng.integers(len(patterns), size=n_rows)])
    supply = rng.random((n_rows, n_suppliers)) < 0.15
    group = rng.integers(-1, 2, size=n_rows)
    population = rng.integers(1, 1000, size=n_rows).astype(float)
    rows = _Rows(sparse.csr_matrix(cover, dtype=np.int8), population, group, population.copy(),
                 population / 10, sparse.csr_matrix(supply, dtype=np.int8)).merged()

    classes = {}  # the definition: the same group, options and suppliers; first row first
    for r in range(n_rows):
        if cover[r].any() or supply[r].any():
            key = (group[r], cover[r].tobytes(), supply[r].tobytes())
            classes.setdefault(key, []).append(r)
    expected = sorted(classes.values())
    assert len(rows.population) == len(expected) < n_rows
    for k, members in enumerate(expected):
        first = members[0]
        assert np.array_equal(rows.cover[k].toarray()[0] > 0, cover[first])
        assert np.array_equal(rows.supply[k].toarray()[0] > 0, supply[first])
        assert rows.group[k] == group[first]
        assert rows.population[k] == pytest.approx(population[members].sum())
        assert rows.demand[k] == pytest.approx(population[members].sum() / 10)


@pytest.mark.parametrize("seed", range(3))
def test_pyomo_solve_agrees_with_array_solve(seed, tmp_path):
    problem = problem_of(small_instance(tmp_path / "i", seed=seed, zones=200, candidates=15, budget=60e6))
    solution = solve_lexicographic(problem, EXACT)
    values = stage_values(problem, solution.chosen)
    same_day, next_day = values["same_day"], values["next_day"]
    first = solve_stage_with_pyomo(problem, "same_day", {}, EXACT)
    assert round(first.objective) == same_day
    second = solve_stage_with_pyomo(problem, "next_day", {"same_day": same_day}, EXACT)
    assert round(second.objective) == next_day
    third = solve_stage_with_pyomo(problem, "cost", {"same_day": same_day, "next_day": next_day}, EXACT)
    assert third.objective * problem.money_unit == pytest.approx(problem.option_cost @ solution.chosen, abs=1e-3)
