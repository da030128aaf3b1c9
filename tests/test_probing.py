"""Local probes (solvers/probing.py): what they decide, every plan that keeps the floor agrees
with, counted here by enumerating the plans of tiny instances; and whole solves that probe every
kept stage, and the first stage in its search, still reach the brute force's optima."""

import itertools
import time

import numpy as np
import pytest
from checker import brute_force, phased_outcome, read_raw
from conftest import plans, small_instance, with_capacity
from scipy import sparse
from test_program import plan_of, program_instance
from test_random_plans import assert_matches_brute_force, random_instance

from ruralreach.model.formulation import reach_rows
from ruralreach.model.instance import Equity, Phase, load_instance
from ruralreach.model.reach import compute_reach, entries_of
from ruralreach.model.reduce import reduce_problem
from ruralreach.pipeline import solve_instance
from ruralreach.solvers import lexicographic, probing
from ruralreach.solvers.highs import OPTIMAL, SolveOptions
from ruralreach.solvers.lexicographic import stage_values
from ruralreach.solvers.probing import decided_by_local_probes


def probed_instance(directory, seed):
    """Tiny instances of every kind the probes meet: plain, phased, with equity floors, with
    capacities."""
    kind = seed % 4
    if kind == 0:
        return small_instance(directory, seed=seed, zones=50, stations=4, candidates=6, budget=90e6)
    if kind == 1:
        return program_instance(directory, seed=seed, budget=60e6, stations=2, candidates=3,
                                phases=[Phase("a", 25e6, 1.0), Phase("b", 35e6, 0.5)])
    if kind == 2:
        return program_instance(directory, seed=seed, budget=60e6, stations=3, candidates=4,
                                equity=Equity("region", 0.5, ()))
    return with_capacity(small_instance(directory, seed=seed, zones=40, stations=3, candidates=4, budget=60e6),
                         seed=seed, share=0.3)


def test_what_the_probes_decide_every_plan_keeping_the_floor_agrees_with(tmp_path):
    decided, by_reduced_costs, stopped_early = 0, 0, 0
    for seed in range(16):
        instance = load_instance(probed_instance(tmp_path / str(seed), seed))
        problem = reduce_problem(instance, compute_reach(instance))
        every = [(chosen, stage_values(problem, chosen)["same_day"]) for chosen in plans(problem)
                 if problem.feasible(chosen)]  # budgets, sites that must act and equity floors kept
        best = max(value for _, value in every)
        people = problem.same_day_population
        # The floor at the optimum, and below it by a small row's people: more plans keep it.
        for floor in (best, best - float(np.min(people[people > 0], initial=0.0))):
            model = lexicographic._loaded(problem, SolveOptions())
            lexicographic._hold_floors(model, problem, {"same_day": floor})
            lp = model.relaxation("same_day", None)
            assert lp.status == OPTIMAL
            optimum, duals = model.lp_optimum(), model.lp_duals()
            covering = np.zeros(optimum.A.shape[0], dtype=bool)
            covering[model.matrix.demand_rows("same_day")] = True
            free = np.ones(problem.n_options, dtype=bool)
            at_zero, at_one = decided_by_local_probes(optimum, optimum.col_lower, optimum.col_upper, free, covering,
                                                      floor, None)
            keeping = [chosen for chosen, value in every if value >= floor]
            assert keeping, "the floor is some plan's value"
            for chosen in keeping:
                assert not chosen[at_zero].any() and chosen[at_one].all(), (seed, floor, at_zero, at_one)
            # A probe holding every dual is the reduced-cost test: the probes decide what it does.
            flips = np.abs(duals.reduced_costs) > lp.objective - floor + 1.0
            assert not (flips & duals.at_lower & (duals.values < 0.5) & ~at_zero).any(), seed
            assert not (flips & duals.at_upper & (duals.values > 0.5) & ~at_one).any(), seed
            # Probes that stop once some in a row decide nothing make a part of the same decisions.
            for patience in (0, 1, 3):
                zero_early, one_early = decided_by_local_probes(optimum, optimum.col_lower, optimum.col_upper, free,
                                                                covering, floor, None, patience)
                assert not (zero_early & ~at_zero).any() and not (one_early & ~at_one).any(), (seed, patience)
                assert patience > 0 or not (zero_early.any() or one_early.any())
                stopped_early += int(zero_early.sum() + one_early.sum() < at_zero.sum() + at_one.sum())
            decided += int(at_zero.sum() + at_one.sum())
            by_reduced_costs += int(np.sum(flips & (duals.at_lower | duals.at_upper)))
    assert decided > by_reduced_costs > 0
    assert stopped_early > 0


def test_probes_leave_out_the_rows_a_taken_option_reaches_and_the_columns_held_at_0(tmp_path, monkeypatch):
    # Where the reduced costs have taken options, the rows those reach are reached whatever the
    # plan and a column held at 0 adds nothing: a probe that moved them would only be larger (a
    # model narrowed by the same decisions holds neither). What the probes decide without them
    # still holds for every plan that keeps the floor.
    blocks = []
    block = probing._block

    def recorded(A, rows, columns, local_row):
        blocks.append((rows.copy(), columns.copy()))
        return block(A, rows, columns, local_row)

    monkeypatch.setattr(probing, "_block", recorded)
    left_out, decided = 0, 0
    for seed in range(16):
        instance = load_instance(probed_instance(tmp_path / str(seed), seed))
        problem = reduce_problem(instance, compute_reach(instance))
        every = [(chosen, stage_values(problem, chosen)["same_day"]) for chosen in plans(problem)
                 if problem.feasible(chosen)]
        people = problem.same_day_population
        floor = max(value for _, value in every) - float(np.min(people[people > 0], initial=0.0))
        model = lexicographic._loaded(problem, SolveOptions())
        lexicographic._hold_floors(model, problem, {"same_day": floor})
        lp = model.relaxation("same_day", None)
        assert lp.status == OPTIMAL
        optimum, duals = model.lp_optimum(), model.lp_duals()
        flips = np.abs(duals.reduced_costs) > lp.objective - floor + 1.0
        taken = flips & duals.at_upper & (duals.values > 0.5)
        out = flips & duals.at_lower & (duals.values < 0.5)
        lower, upper = optimum.col_lower.copy(), optimum.col_upper.copy()
        lower[:problem.n_options][taken], upper[:problem.n_options][out] = 1.0, 0.0
        covering = np.zeros(optimum.A.shape[0], dtype=bool)
        covering[model.matrix.demand_rows("same_day")] = True
        reached = np.zeros(optimum.A.shape[0], dtype=bool)
        reached[entries_of(optimum.A, np.flatnonzero(taken))] = True
        blocks.clear()
        at_zero, at_one = decided_by_local_probes(optimum, lower, upper, ~(taken | out), covering, floor, None)
        for chosen, value in every:
            if value >= floor:
                assert chosen[taken].all() and not chosen[out].any(), seed  # what the reduced costs decide
                assert not chosen[at_zero].any() and chosen[at_one].all(), (seed, at_zero, at_one)
        for rows, columns in blocks:
            assert not (reached & covering)[rows].any() and not (upper[columns] == 0.0).any(), seed
        left_out += int(np.sum(reached & covering))
        decided += int(at_zero.sum() + at_one.sum())
    assert left_out > 0 and decided > 0


def test_the_demand_rows_are_the_covering_rows_of_each_tier(tmp_path):
    instance = load_instance(program_instance(tmp_path / "i", seed=3, phases=[Phase("a", 30e6), Phase("b", 30e6)]))
    problem = reduce_problem(instance, compute_reach(instance))
    model = lexicographic._loaded(problem, SolveOptions()).matrix
    n_o, n_i, n_j = model.n_options, model.n_same_day, model.n_next_day
    same, following = model.demand_rows("same_day"), model.demand_rows("next_day")
    # Each row holds its own y (z) column (coefficient 1), that of the same zone's row in an earlier
    # phase (-1) where it is stated through one, and the options it states (-1; reach_rows).
    for tier, rows, first, n in (("same_day", same, n_o, n_i), ("next_day", following, n_o + n_i, n_j)):
        earlier, options = reach_rows(problem, tier)
        columns = np.eye(n)
        columns[np.flatnonzero(earlier >= 0), earlier[earlier >= 0]] = -1.0
        assert np.array_equal(model.A[rows][:, first:first + n].toarray(), columns)
        assert np.array_equal(-model.A[rows][:, :n_o].toarray(), options.toarray())
        assert np.any(earlier >= 0) or n == 0


@pytest.mark.parametrize("seed", range(24))
def test_solves_that_probe_every_kept_stage_reach_the_optima(seed, tmp_path, monkeypatch):
    # The probes run only on large models (PROBE_ROWS): here on every one.
    monkeypatch.setattr(lexicographic, "PROBE_ROWS", 0)
    assert_matches_brute_force(1000 + seed, tmp_path)


def recorded_probes(patch) -> list[tuple[str, bool, int]]:
    """Record, through ``patch`` (a monkeypatch), each round of probes a solve makes: its stage,
    whether that stage was kept (False: the stage's own search) and how many options it decided."""
    rounds = []
    probe = lexicographic._Search.decide_by_probes

    def recorded(search, stage, floor, optimum):
        kept = stage in search.floors
        decided = probe(search, stage, floor, optimum)
        rounds.append((stage, kept, decided))
        return decided

    patch.setattr(lexicographic._Search, "decide_by_probes", recorded)
    return rounds


def rounds_of_probes(seed: int, tmp_path, patch, **settings) -> list[tuple[str, bool, int]]:
    """Solve random instance ``seed`` with probes on every model (they run only on large ones,
    PROBE_ROWS) and the module's ``settings``, hold it to brute force, and return its rounds of
    probes (:func:`recorded_probes`)."""
    patch.setattr(lexicographic, "PROBE_ROWS", 0)
    for name, value in settings.items():
        patch.setattr(lexicographic, name, value)
    rounds = recorded_probes(patch)
    assert_matches_brute_force(seed, tmp_path)
    return rounds


@pytest.mark.parametrize("seed", [1010, 1021])
def test_a_first_stage_probed_in_its_search_reaches_the_optimum(seed, tmp_path, monkeypatch):
    # Cases whose first stage is not within the gap after its neighbourhood search, so that its
    # options are probed before its own search, and the probes decide some. (The probes run only
    # on large models, PROBE_ROWS, and a first stage's only where many options are free,
    # FIRST_STAGE_PROBE_OPTIONS: here on every one.)
    rounds = rounds_of_probes(seed, tmp_path, monkeypatch, FIRST_STAGE_PROBE_OPTIONS=0)
    in_search = [(stage, decided) for stage, kept, decided in rounds if not kept]
    assert [stage for stage, _ in in_search] == ["same_day"]
    assert in_search[0][1] > 0


@pytest.mark.parametrize("seed", [1010, 1021])
def test_a_first_stage_with_few_options_free_is_searched_unprobed(seed, tmp_path, monkeypatch):
    # The same cases with fewer options free after the reduced costs than the first stage's probes
    # ask for: its search goes without them, the kept stages are probed as before, and the
    # optima are the same.
    rounds = rounds_of_probes(seed, tmp_path, monkeypatch, FIRST_STAGE_PROBE_OPTIONS=10**6)
    assert rounds and all(kept for _, kept, _ in rounds)


@pytest.mark.parametrize("seed", [1025, 1068, 1139])
def test_a_first_stage_within_the_requested_gap_is_probed_before_its_closer_search(seed, tmp_path, monkeypatch):
    # At a 5% gap these cases' first stage is within it after the neighbourhood search, and goes on
    # to its own closer gap: its options are probed before that search too, and the probes decide
    # some. The plan is held to the brute force: within the gap of the optimum, each bound held.
    closer, within = lexicographic._Stage.search_closer, []

    def recorded(stage, seconds):
        within.append(stage.within_requested_gap())
        return closer(stage, seconds)

    monkeypatch.setattr(lexicographic._Stage, "search_closer", recorded)
    monkeypatch.setattr(lexicographic, "PROBE_ROWS", 0)
    monkeypatch.setattr(lexicographic, "FIRST_STAGE_PROBE_OPTIONS", 0)
    rounds = recorded_probes(monkeypatch)
    directory, drawn = random_instance(tmp_path / "i", seed)
    gap = 0.05
    plan = solve_instance(load_instance(directory), SolveOptions(mip_gap=gap))
    summary = plan.summary
    assert within == [True]
    in_search = [(stage, decided) for stage, kept, decided in rounds if not kept]
    assert [stage for stage, _ in in_search] == ["same_day"] and in_search[0][1] > 0
    raw = read_raw(directory)
    best = brute_force(raw)
    stages = {stage["stage"]: stage for stage in summary["stages"]}
    assert summary["status"] == "optimal"
    outcome = phased_outcome(raw, plan_of(plan))
    assert outcome["budgets_kept"] and outcome["decisions_kept"] and outcome["floors_met"], drawn
    assert outcome["same_day"] == pytest.approx(stages["same_day"]["objective"], rel=1e-7, abs=1e-6)
    assert best[0] * (1 - gap) - 1e-6 <= outcome["same_day"] <= best[0] <= stages["same_day"]["bound"] + 1e-6


@pytest.mark.parametrize("seed", [1025, 1030])
def test_a_kept_stages_probes_stop_by_count_too(seed, tmp_path, monkeypatch):
    # PROBE_PATIENCE bounds every round of probes, a kept stage's as well as the first stage's: at
    # 0 no round decides anything, and the optima are the same. (Cases whose kept stages' probes
    # decide an option when they go on.)
    rounds = rounds_of_probes(seed, tmp_path, monkeypatch, PROBE_PATIENCE=0)
    assert any(kept for _, kept, _ in rounds) and not any(decided for *_, decided in rounds)


def test_a_solve_without_a_time_limit_probes_the_same_whatever_the_clock(tmp_path, monkeypatch):
    # Without a time limit no step may depend on how fast the machine is: the same instance gives
    # the same decisions and the same plan on a machine ten thousand times slower.
    monkeypatch.setattr(lexicographic, "PROBE_ROWS", 0)
    monkeypatch.setattr(lexicographic, "FIRST_STAGE_PROBE_OPTIONS", 0)
    directory, _ = random_instance(tmp_path / "i", 1010)  # its first stage is probed in its search
    instance = load_instance(directory)
    problem = reduce_problem(instance, compute_reach(instance))

    def solved() -> tuple[list, np.ndarray]:
        with monkeypatch.context() as patched:
            rounds = recorded_probes(patched)
            solution = lexicographic.solve_lexicographic(problem, SolveOptions())
        return rounds, solution.chosen

    decisions, chosen = solved()
    assert any(decided for _, _, decided in decisions)
    ticks = itertools.count()
    monkeypatch.setattr(time, "perf_counter", lambda: 1e4 * next(ticks))
    assert solved() == (decisions, pytest.approx(chosen))


def test_a_probes_block_is_the_one_scipys_indexing_cuts():
    """The probes gather each block from the index arrays themselves (scipy's indexing took longer
    than the probes' solves): the same entries, in the same order, as ``A[rows][:, columns]``."""
    rng = np.random.default_rng(7)
    for trial in range(40):
        n_rows, n_cols = rng.integers(1, 60, size=2)
        A = sparse.random(n_rows, n_cols, density=rng.uniform(0.02, 0.4), format="csc", random_state=rng)
        by_row = A.tocsr()
        rows = np.sort(rng.choice(n_rows, size=rng.integers(1, n_rows + 1), replace=False))
        columns = probing._distinct(entries_of(by_row, rows), np.zeros(n_cols, dtype=bool))
        assert np.array_equal(columns, np.unique(by_row[rows].indices))
        local_row = np.full(n_rows, -1, dtype=np.int64)
        start, index, values = probing._block(A, rows, columns, local_row)
        expected = by_row[rows][:, columns].tocsc()
        expected.sort_indices()
        assert np.array_equal(start, expected.indptr) and np.array_equal(index, expected.indices), trial
        assert np.array_equal(values, expected.data), trial
        assert (local_row == -1).all()
