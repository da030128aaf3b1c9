"""The program as announced: a phased rollout, sites fixed by hand and equity floors, each alone and
all together, against brute force over every plan (tests/checker.py, independent of the package),
and the input errors each option brings."""

from __future__ import annotations

import dataclasses
import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from checker import (brute_force, capacitated, equity_floors, evaluate, every_plan, max_floor_share, phased_outcome, phases_of,
                     reachable_shares, read_raw)
from conftest import every_choice, plans, run_cli, small_instance, upgrades_problem, with_capacity
from test_optimality import lp_runs_recorded

from ruralreach import review, sweep
from ruralreach.cli import format_summary
from ruralreach.model.formulation import (floor_scale_shortfall_rows, floor_shortfalls, reach_every_group_rows,
                                          shortfall_coefficients)
from ruralreach.model.instance import Equity, Phase, load_instance, write_instance
from ruralreach.model.plan import read_plan
from ruralreach.model.reach import compute_reach
from ruralreach.model.reduce import equity_groups, reduce_problem
from ruralreach.pipeline import prepare, solve_instance, solve_prepared
from ruralreach.review import report_html
from ruralreach.solvers.highs import SolveOptions
from ruralreach.solvers.floor_cost import least_floor_costs
from ruralreach.solvers.greedy import greedy_choice
from ruralreach.solvers import lexicographic
from ruralreach.solvers.lexicographic import carried_cost_bound, max_floor_scale, stage_values

EXACT = SolveOptions(mip_gap=0.0)


def program_instance(directory: Path, *, seed: int, phases=(), equity=None, decisions=None, budget=60e6,
                     stations=3, candidates=4) -> Path:
    """A tiny instance (small enough to enumerate every plan) with the program's options."""
    small_instance(directory, seed=seed, zones=40, stations=stations, candidates=candidates, budget=budget)
    instance = load_instance(directory)
    zones = pd.read_csv(directory / "zones.csv", dtype=str, keep_default_na=False)
    # Two equity groups, west and east of the median zone; a few zones in none.
    lon = zones["lon"].astype(float)
    zones["region"] = np.where(lon < lon.median(), "west", "east")
    zones.loc[zones.index[::13], "region"] = ""
    zones["primary_city"], zones["state"] = "Town " + zones["town"], "KS"
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    if decisions is not None:
        sites["decision"] = decisions(sites)
    scenario = dataclasses.replace(instance.scenario, phases=tuple(phases), equity=equity)
    if phases:
        scenario = dataclasses.replace(scenario, budget=sum(p.budget for p in phases))
    write_instance(directory, zones, sites, scenario)
    return directory


def random_decisions(seed: int):
    """One station forced to upgrade, one ruled out, one candidate forced open as a station."""
    def decide(sites: pd.DataFrame) -> list[str]:
        rng = np.random.default_rng(seed)
        decision = [""] * len(sites)
        stations = list(sites.index[sites["kind"] == "station"])
        candidates = list(sites.index[sites["kind"] == "candidate"])
        rng.shuffle(stations)
        rng.shuffle(candidates)
        decision[stations[0]] = "must:upgrade"
        decision[stations[1]] = "never"
        decision[candidates[0]] = "must:open_station"
        return decision
    return decide


def plan_of(plan) -> dict[str, tuple[str, int]]:
    """The plan's sites as the checker reads them: site_id -> (action, phase position)."""
    names = [p["name"] for p in plan.summary["scenario"].get("phases", [{"name": ""}])]
    phase = plan.sites["phase"] if "phase" in plan.sites else pd.Series("", index=plan.sites.index)
    return {site: (action, names.index(name) if action != "none" else -1)
            for site, action, name in zip(plan.sites["site_id"], plan.sites["action"], phase)}


def check_against_brute_force(directory: Path) -> dict:
    """Solve exactly; the plan keeps every rule, its figures recompute, and it is optimal."""
    raw = read_raw(directory)
    plan = solve_instance(load_instance(directory), EXACT)
    best = brute_force(raw)
    summary = plan.summary
    if best is None:
        assert summary["status"] == "infeasible"
        assert (plan.sites["action"] == "none").all()
        return summary
    assert summary["status"] == "optimal"
    outcome = phased_outcome(raw, plan_of(plan))
    assert outcome["budgets_kept"] and outcome["decisions_kept"] and outcome["floors_met"]
    assert (outcome["same_day"], outcome["next_day"]) == pytest.approx(best[:2])
    assert outcome["cost"] == pytest.approx(best[2])
    assert summary["cost"] == pytest.approx(outcome["cost"])
    after = outcome["phases"][-1]
    assert (summary["same_day_population"], summary["next_day_population"]) == (
        after["same_day_population"], after["next_day_population"])
    if "phases" in summary:
        for figures, reached, spent, phase in zip(summary["phases"], outcome["phases"], outcome["spent"],
                                                  phases_of(raw)):
            assert figures["name"] == phase["name"] and figures["budget"] == pytest.approx(phase["budget"])
            assert figures["same_day_population"] == reached["same_day_population"]
            assert figures["next_day_population"] == reached["next_day_population"]
            assert figures["cost"] == pytest.approx(spent)
    # The stage objectives are the weighted ones, with their bounds.
    same_day = summary["stages"][0]
    assert same_day["objective"] == pytest.approx(best[0]) and same_day["bound"] >= best[0] - 1e-6
    return summary


@pytest.mark.parametrize("seed", range(4))
def test_phased_rollout_matches_brute_force(seed, tmp_path):
    weights = [(1.0, 1.0), (1.0, 2.5), (0.5, 1.0), (2.0, 1.0)][seed]
    budgets = [(15e6, 30e6), (30e6, 10e6), (0.0, 40e6), (20e6, 20e6)][seed]
    phases = [Phase("2025", budgets[0], weights[0]), Phase("2026", budgets[1], weights[1])]
    summary = check_against_brute_force(program_instance(tmp_path / "i", seed=seed, phases=phases))
    assert [p["name"] for p in summary["phases"]] == ["2025", "2026"]


@pytest.mark.parametrize("seed, weights", [(14, (0.1, 0.2)), (17, (0.001, 3.0))])
def test_fractional_weights_match_brute_force(seed, weights, tmp_path):
    # Weighted people are then fractions summed in floating point: a later stage's plan of the
    # same weighted people as the kept value could sum to an ulp below it, and each of these
    # ended a --mip-gap 0 solve in 'error' (the solver's optimum refused as missing the floor).
    phases = [Phase("2025", 15e6, weights[0]), Phase("2026", 25e6, weights[1])]
    check_against_brute_force(program_instance(tmp_path / "i", seed=seed, phases=phases))


def test_weights_are_counted_exactly_up_to_2_to_the_53_weighted_people(tmp_path):
    """A phase weighing a billion solves as brute force finds (weighted people to about 1e14);
    weights whose weighted people pass 2**53 are an input error (at 1e12 and above the plan came
    out 'error', at 1e16 with a cost far from the optimum), not a solve."""
    heavy = program_instance(tmp_path / "heavy", seed=1, phases=[Phase("2025", 30e6, 1e9), Phase("2026", 10e6, 1.0)])
    check_against_brute_force(heavy)
    people = int(pd.read_csv(heavy / "zones.csv")["population"].sum())
    too_heavy = program_instance(tmp_path / "too", seed=1, phases=[Phase("2025", 30e6, 1.0),
                                                                   Phase("2026", 10e6, 2**53 / people)])
    result = run_cli("solve", too_heavy, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "scenario.toml" in result.stderr and "field 'phases[2].weight'" in result.stderr
    assert "cannot be counted exactly" in result.stderr and not (tmp_path / "plan").exists()


def test_a_phase_spent_to_the_cent_is_not_ruled_out_by_rescaling(tmp_path):
    # The first phase brings exactly the cheapest upgrade's cost, and the optimum spends all of
    # it there. Scaled to the total it already has, that budget would come back a rounding below
    # (X / (X + Y) * (X + Y) != X here) and rule the optimum out.
    sites = pd.read_csv(program_instance(tmp_path / "plain", seed=5) / "sites.csv")
    first = float(sites.loc[sites["kind"] == "station", "upgrade_cost"].min())
    second = 28e6 + 0.37
    assert first / (first + second) * (first + second) != first
    summary = check_against_brute_force(program_instance(tmp_path / "i", seed=5,
                                                         phases=[Phase("a", first), Phase("b", second)]))
    assert summary["phases"][0]["cost"] == first == summary["phases"][0]["budget"]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("phased", [False, True])
def test_sites_fixed_by_hand_match_brute_force(seed, phased, tmp_path):
    phases = [Phase("first", 25e6), Phase("second", 35e6)] if phased else []
    directory = program_instance(tmp_path / "i", seed=seed, phases=phases, decisions=random_decisions(seed))
    check_against_brute_force(directory)
    plan = read_plan(_solve_cli(directory, tmp_path))
    decided = plan.sites.set_index("site_id")
    for site, decision in zip(plan.sites["site_id"], plan.sites["decision"]):
        if decision == "never":
            assert decided.loc[site, "action"] == "none"
        elif decision.startswith("must:"):
            assert decided.loc[site, "action"] == decision.removeprefix("must:")


def _solve_cli(directory: Path, tmp_path: Path) -> Path:
    result = run_cli("solve", directory, "--mip-gap", "0", "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return tmp_path / "plan"


# Floors that bind (the best plan without them leaves the town short) and floors that do not.
@pytest.mark.parametrize("seed, equity", [(0, Equity("town", 0.0, (("T00003", 0.5),))),
                                          (2, Equity("town", 0.0, (("T00004", 0.5),))),
                                          (1, Equity("region", 0.8, (("west", 0.95),)))])
def test_equity_floors_match_brute_force(seed, equity, tmp_path):
    directory = program_instance(tmp_path / "i", seed=seed, budget=40e6, equity=equity)
    summary = check_against_brute_force(directory)
    assert summary["status"] == "optimal"
    for group in summary["equity"]["groups"]:
        assert group["meets_floor"] == (group["same_day_population"] >= group["floor"] * group["population"])
        assert group["meets_floor"]


@pytest.mark.parametrize("seed, equity", [(0, Equity("town", 0.0, (("T00003", 0.5),))),
                                          (1, Equity("region", 0.8, (("west", 0.95),))),
                                          (3, Equity("region", 0.9))])
def test_what_each_floor_costs_at_least_is_what_the_cheapest_plan_meeting_it_costs(seed, equity, tmp_path):
    """The model's "floor cost" rows hold for every plan: what meeting a group's floor costs at
    least is at most the cost of the cheapest plan (any budget) meeting that floor alone, found
    by brute force; and on instances this small it is that cost (the small MIP is solved)."""
    directory = program_instance(tmp_path / "i", seed=seed, budget=40e6, equity=equity)
    instance = load_instance(directory)
    names, _, _ = equity_groups(instance)
    # Priced here: a solve prices no floor where one is out of reach (seed 3's), as none is met.
    least = dict(zip(names, least_floor_costs(prepare(instance).problem, SolveOptions(), None)))
    raw = read_raw(directory)
    cheapest = dict.fromkeys(least, math.inf)
    for plan in every_plan(raw):
        outcome = evaluate(raw, {site: action for site, (action, _) in plan.items()})
        for group, (share, population, members) in equity_floors(raw).items():
            if sum(outcome["served"][k] for k in members) >= share * population:
                cheapest[group] = min(cheapest[group], outcome["cost"])
    assert any(0 < cost < math.inf for cost in cheapest.values())
    for group, cost in cheapest.items():
        assert least[group] <= cost, group
        if cost < math.inf:
            assert least[group] == pytest.approx(cost, rel=1e-4), group


@pytest.mark.parametrize("seed, budget, equity", [(0, 40e6, Equity("town", 0.0, (("T00003", 0.5),))),
                                                  (2, 40e6, Equity("town", 0.0, (("T00004", 0.5),))),
                                                  (2, 60e6, Equity("region", 0.97))])
def test_the_greedy_start_meets_floors_some_plan_meets(seed, budget, equity, tmp_path):
    """The greedy start seeks the equity floors before population, so that the solve starts from
    a plan where floors bind (without one, the first stage searches the whole model for any). A
    greedy by population alone misses each of these floors."""
    directory = program_instance(tmp_path / "i", seed=seed, budget=budget, equity=equity)
    raw = read_raw(directory)
    assert brute_force(raw) is not None
    problem = prepare(load_instance(directory)).problem
    start = greedy_choice(problem)
    assert problem.feasible(start)
    outcome = phased_outcome(raw, plan_of(solve_prepared(
        prepare(load_instance(directory)), budget, SolveOptions(time_limit=0.0))))
    assert outcome["floors_met"] and outcome["budgets_kept"]


@pytest.mark.parametrize("seed, equity, stations", [(3, Equity("town", 0.0, (("T00003", 0.5),)), 3),
                                                    (5, Equity("region", 0.8, (("west", 0.95),)), 5),
                                                    (6, Equity("region", 0.9), 5),
                                                    (7, Equity("region", 0.7), 6)])
def test_floor_shortfall_rows_hold_for_every_choice_meeting_the_floors(seed, equity, stations, tmp_path):
    """The model's "floor shortfall" rows, for any group and any set of options T, hold for every
    set of options (one per site or not) meeting the floors, found by enumeration; and they are
    not empty: each instance has rows that cut off choices missing a floor, and rows that some
    choice meeting the floors keeps with equality (the cap at 1 is as tight as it may be)."""
    directory = program_instance(tmp_path / "i", seed=seed, budget=40e6, equity=equity, stations=stations, candidates=8)
    problem = prepare(load_instance(directory)).problem
    assert 5 <= problem.n_options <= 14
    rng = np.random.default_rng(seed)
    bases = [rng.random(problem.n_options) < share for share in (0.2, 0.4, 0.6) for _ in range(6)]
    bases += [np.eye(problem.n_options, dtype=bool)[o] for o in range(problem.n_options)]
    rows = sparse.vstack([shortfall_coefficients(*floor_shortfalls(problem, base)) for base in bases]).tocsr()
    rows = rows[rows.getnnz(axis=1) > 0]
    assert rows.shape[0] > 0
    least = np.full(rows.shape[0], np.inf)  # each row's least left side over the choices meeting the floors
    cuts_off = 0
    for chosen in every_choice(problem):
        sides = rows @ chosen.astype(float)
        if np.all(problem.equity_people(chosen) >= problem.equity_floor):
            least = np.minimum(least, sides)
        else:
            cuts_off += int(np.any(sides < 1 - 1e-9))
    assert np.isfinite(least).any(), "no choice meets the floors"
    assert np.all(least >= 1 - 1e-9)
    assert cuts_off > 0
    assert np.any(np.isclose(least, 1.0))


@pytest.mark.parametrize("seed", [0, 2, 6])
def test_floor_scale_shortfall_rows_hold_for_every_choice_at_its_share(seed, tmp_path):
    """The floor-scale model's "floor shortfall" rows, stated at a share no choice passes, for any
    group and any set of options T, hold for every set of options (one per site or not) at the
    share of the floors it meets, found by enumeration; and stated at the largest share a plan
    within the budget meets, they cut off some plan at that share that meets less."""
    directory = program_instance(tmp_path / "i", seed=seed, budget=20e6, equity=Equity("region", 0.97), stations=5,
                                 candidates=8)
    problem = prepare(load_instance(directory)).problem
    assert 5 <= problem.n_options <= 14
    choices = list(every_choice(problem))
    shares = np.array([problem.floor_share(chosen) for chosen in choices])
    rng = np.random.default_rng(seed)
    bases = [rng.random(problem.n_options) < share for share in (0.2, 0.4, 0.6) for _ in range(6)]
    bases += [np.eye(problem.n_options, dtype=bool)[o] for o in range(problem.n_options)]
    groups = np.flatnonzero(problem.equity_floor > 0)
    pairs = [(group, base) for group in groups for base in bases]
    n_columns = problem.n_options + 1  # the options, then the share (no other column is in the rows)

    def rows_at(share):
        rows, lower = floor_scale_shortfall_rows(problem, share, np.array([g for g, _ in pairs]),
                                                 np.array([b for _, b in pairs]), n_columns)
        assert rows.shape == (len(lower), n_columns) and len(lower) > 0
        return rows, lower

    rows, lower = rows_at(shares.max())
    for chosen, share in zip(choices, shares):
        assert np.all(rows @ np.append(chosen, share) >= lower - 1e-9), (chosen, share)
    planned = [k for k, chosen in enumerate(choices) if problem.keeps_all_but_floors(chosen)]
    most = max(shares[k] for k in planned)
    rows, lower = rows_at(most)
    cut_off = [k for k in planned if shares[k] < most and np.any(rows @ np.append(choices[k], most) < lower - 1e-9)]
    assert cut_off
    for k in planned:
        assert np.all(rows @ np.append(choices[k], shares[k]) >= lower - 1e-9)


@pytest.mark.parametrize("seed, budget, rows_added", [(0, 20e6, True), (6, 40e6, True), (0, 40e6, False)])
def test_the_largest_floor_share_by_greedy_plans_and_shortfall_rows(seed, budget, rows_added, tmp_path,
                                                                   monkeypatch):
    """The largest share of the floors, exact, is brute force's. A group's floor is above every
    person of it in reach of some option (0.97 of a region), so no share above what they allow is
    met; where the budget allows that much, a greedy plan meeting it proves it with no MIP built,
    else the floor shortfall rows the MIP's LP breaks are added to it."""
    directory = program_instance(tmp_path / "i", seed=seed, budget=budget, equity=Equity("region", 0.97))
    prepared = prepare(load_instance(directory))
    problem = prepared.problem
    # A floor out of reach: every budget's solve is "infeasible" at once, so its floors go unpriced.
    assert problem.floors_out_of_reach() and prepared.floor_costs is None
    largest = max_floor_share(read_raw(directory))
    added = []
    stated = lexicographic.floor_scale_shortfall_rows

    def counted(*args):
        rows, lower = stated(*args)
        added.append(len(lower))
        return rows, lower

    monkeypatch.setattr(lexicographic, "floor_scale_shortfall_rows", counted)
    root_estimates = []
    if rows_added:
        solve = lexicographic.HighsModel.solve

        def watched(model, *args, **kwargs):
            root_estimates.append(kwargs["root_seconds"])
            return solve(model, *args, **kwargs)

        monkeypatch.setattr(lexicographic.HighsModel, "solve", watched)
    else:
        assert problem.floor_share_ceiling() == pytest.approx(largest) and largest < 1
        monkeypatch.setattr(lexicographic, "HighsModel", None)  # building one fails the test
    result = max_floor_scale(problem, EXACT)
    # The MIP's time guard expects its root LP to take what the last LP of the rows took.
    assert len(root_estimates) == int(rows_added) and all(seconds > 0 for seconds in root_estimates)
    # The share as HiGHS's solution holds it, to its tolerances (as in check_largest_feasible_share).
    assert result.status == "optimal" and result.objective == pytest.approx(largest, rel=2e-9)
    assert largest <= result.bound <= problem.floor_share_ceiling()
    assert (sum(added) > 0) == rows_added


def test_the_first_lp_holds_the_floor_shortfall_rows_it_breaks(monkeypatch):
    """A group needs 110 of its 200 people, in two rows that two options reach; two other options
    reach 1,000 people each, and the budget buys three. The LP takes one group option whole and a
    tenth of the other (2,010 people); every plan takes both (1,200 people). The floor shortfall
    rows of the LP's whole options take the first LP's bound to the optimum, found by enumeration;
    without them it stays at 2,010 (reported as 2,000, rounded down to the people's common step of
    100), and both solves end on the same plan."""
    problem = upgrades_problem(np.eye(4, dtype=int), [100, 100, 1000, 1000], budget=3e6)
    problem = dataclasses.replace(problem, same_day_group=np.array([0, 0, -1, -1]),
                                  same_day_people=np.array([100.0, 100.0, 0.0, 0.0]),
                                  equity_floor=np.array([110.0]), equity_fixed=np.array([0.0]))
    best = max(stage_values(problem, chosen)["same_day"] for chosen in plans(problem) if problem.feasible(chosen))
    assert best == 1200

    def solved() -> tuple[float, np.ndarray]:
        bounds = []
        solution = lexicographic.solve_lexicographic(
            problem, EXACT, watch=lambda progress: bounds.append(progress.bound) if progress.step == "bound" else None)
        assert solution.status == "optimal" and stage_values(problem, solution.chosen)["same_day"] == best
        return bounds[0], solution.chosen

    with_rows, plan = solved()
    monkeypatch.setattr(lexicographic, "SHORTFALL_ROUNDS", 0)
    without_rows, plan_without = solved()
    assert with_rows == pytest.approx(best)
    assert without_rows == pytest.approx(2000)
    assert np.array_equal(plan, plan_without)


@pytest.mark.parametrize("seed, equity, phased, candidates", [(0, Equity("region", 0.7), False, 4),
                                                               (0, Equity("region", 0.7), True, 4),
                                                               (11, Equity("region", 0.7), True, 4),
                                                               (12, Equity("town", 0.0, (("T00003", 0.5),)), False, 4)])
def test_solves_that_add_floor_shortfall_rows_match_brute_force(seed, equity, phased, candidates, tmp_path,
                                                                monkeypatch):
    """Instances whose first LP breaks floor shortfall rows (counted as the solve adds them), with
    and without phases: the exact solve is brute force's plan."""
    added = []
    holds = lexicographic._Search.hold_floor_shortfalls

    def counted(search, stage, lp):
        before = len(search.problem.shortfall_group)
        result = holds(search, stage, lp)
        added.append(len(search.problem.shortfall_group) - before)
        return result

    monkeypatch.setattr(lexicographic._Search, "hold_floor_shortfalls", counted)
    phases = [Phase("a", 12e6), Phase("b", 18e6)] if phased else []
    directory = program_instance(tmp_path / "i", seed=seed, budget=30e6, equity=equity, phases=phases,
                                 candidates=candidates)
    check_against_brute_force(directory)
    assert sum(added) > 0


@pytest.mark.parametrize("capacitated", [False, True])
def test_the_first_lp_with_floors_goes_to_interior_point(capacitated, tmp_path, monkeypatch):
    """The first LP with equity floors starts from nothing, infeasible: it is solved by interior
    point, to the bound dual simplex reaches, and the LPs after it by simplex from its basis.
    With capacities, by dual simplex as before."""
    directory = program_instance(tmp_path / "i", seed=1, budget=40e6, equity=Equity("region", 0.8, (("west", 0.95),)))
    if capacitated:
        directory = with_capacity(directory, seed=1)
    problem = prepare(load_instance(directory)).problem
    assert problem.capacitated == capacitated and np.any(problem.equity_need > 0)
    monkeypatch.setattr(lexicographic, "SHORTFALL_ROUNDS", 0)  # the LP alone
    by_dual = lexicographic._loaded(problem, EXACT).relaxation("same_day", None)
    runs = lp_runs_recorded(monkeypatch)
    search = lexicographic._Search(problem, lexicographic._loaded(problem, EXACT), None, EXACT, None)
    first = search.relaxation("same_day")
    again = search.relaxation("same_day")
    assert runs == (["choose", "choose"] if capacitated else ["ipm", "choose"])
    assert first.status == again.status == "optimal"
    assert first.bound == pytest.approx(by_dual.bound, rel=1e-9) and again.bound == pytest.approx(first.bound, rel=1e-9)


def test_floors_not_priced_in_time_get_no_row_and_the_solve_is_still_exact(tmp_path):
    """Under a time limit, pricing the floors takes a share of it: with none, no group is priced
    (no "floor cost" row), and the exact solve still finds brute force's plan."""
    directory = program_instance(tmp_path / "i", seed=0, budget=40e6, equity=Equity("town", 0.0, (("T00003", 0.5),)))
    instance = load_instance(directory)
    assert prepare(instance).floor_costs.max() > 0
    unpriced = prepare(instance, time_limit=0.0)
    assert not unpriced.floor_costs.any()
    plan = solve_prepared(unpriced, instance.scenario.budget, EXACT)
    outcome = phased_outcome(read_raw(directory), plan_of(plan))
    assert plan.summary["status"] == "optimal" and outcome["floors_met"]
    assert (outcome["same_day"], outcome["next_day"], outcome["cost"]) == pytest.approx(brute_force(read_raw(directory)))


def stated_share(share: float, up: bool = False) -> str:
    """A share as the summary states a share found (rounded down to 0.1%) or a bound (up)."""
    tenths = share * 1000
    return f"{(math.ceil(tenths - 1e-9) if up else math.floor(tenths + 1e-9)) / 10:.1f}%"


def check_largest_feasible_share(directory: Path, tmp_path: Path) -> None:
    """No plan meets the floors: the command writes an infeasible plan with no actions and the
    largest share of the floors one plan meets, as brute force finds it."""
    raw = read_raw(directory)
    assert brute_force(raw) is None, "the instance should be infeasible"
    result = run_cli("solve", directory, "--mip-gap", "0", "--out", tmp_path / "plan", "--progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = read_plan(tmp_path / "plan")
    assert plan.summary["status"] == "infeasible" and (plan.sites["action"] == "none").all()
    # A plan that acts on nothing is not measured against the program.
    assert not plan.found and plan.summary["yardsticks"] == [] and "program yardstick" not in result.stdout
    scale = plan.summary["equity"]["max_feasible_scale"]
    assert scale["status"] == "optimal"
    # The search is shown as it starts and as it ends, as the summary states it.
    searching, found = result.stderr.splitlines()[-2:]
    assert searching.split()[3] == found.split()[3] == "floor_scale"
    assert searching.endswith("no plan meets every floor: searching for the largest share of them one plan meets")
    assert found.endswith(f"optimal: floors feasible up to {stated_share(scale['value'])} of what was asked, gap "
                          + ("n/a" if scale["mip_gap"] is None else f"{scale['mip_gap']:.2e}"))
    # The share counted as the checker counts it (floors to 1e-9 of themselves); with capacities
    # an LP's, to its tolerances.
    tolerance = dict(abs=1e-6) if capacitated(raw) else dict(rel=2e-9)
    assert scale["value"] == pytest.approx(max_floor_share(raw), **tolerance)
    assert scale["bound"] >= max(scale["value"], max_floor_share(raw)) - 1e-9
    assert f"floors feasible up to {stated_share(scale['value'])} of what was asked" in result.stdout


def test_a_plan_not_found_in_time_says_so_and_is_not_measured(tmp_path):
    """Floors the greedy plan misses and no time to search: the plan written takes no action, and
    the summary and the report say that none was found rather than calling it not proven optimal,
    with no yardstick (every one would read "short" against a plan that does nothing)."""
    directory = program_instance(tmp_path / "i", seed=12, budget=60e6, equity=Equity("region", 0.85))
    instance = load_instance(directory)
    assert brute_force(read_raw(directory)) is not None, "a plan should meet the floors"
    assert not prepare(instance).problem.feasible(greedy_choice(prepare(instance).problem)), \
        "the greedy plan should miss the floors"
    plan = solve_instance(instance, SolveOptions(time_limit=0.0))
    assert plan.summary["status"] == "time_limit" and not plan.found and (plan.sites["action"] == "none").all()
    assert plan.summary["yardsticks"] == [] and len(review.yardstick_table(plan)) == 0
    assert "status      time_limit  (no plan found in time: this one takes no action)" in format_summary(plan)
    report = report_html(plan)
    assert "No plan was found in time" in report and "The program's yardsticks" not in report
    assert "better plan within the same budget" not in report
    # Given the time, the same instance has a plan, measured against the program.
    plan = solve_instance(instance, SolveOptions())
    assert plan.found and plan.summary["status"] == "optimal" and len(plan.summary["yardsticks"]) > 0


@pytest.mark.parametrize("seed, capacity_share", [(3, None), (4, None), (5, None), (0, 0.1), (4, 0.1)])
def test_each_group_says_the_most_any_plan_reaches(seed, capacity_share, tmp_path):
    # reachable_share: the group's people within same-day reach of a site that holds or may take
    # inventory (decisions kept, budget and capacities aside), as the checker counts them.
    directory = program_instance(tmp_path / "i", seed=seed, budget=60e6, equity=Equity("region", 0.97),
                                 decisions=random_decisions(seed))
    if capacity_share is not None:
        with_capacity(directory, seed=seed, share=capacity_share)
    plan = solve_instance(load_instance(directory), SolveOptions())
    expected = reachable_shares(read_raw(directory))
    got = {g["group"]: g["reachable_share"] for g in plan.summary["equity"]["groups"]}
    assert got == pytest.approx(expected, abs=1e-12)
    beyond = sorted((share, group) for group, share in expected.items() if share < 0.97)
    assert beyond, "some group should be beyond its floor at any budget"
    assert (f"{len(beyond)} group{'s' * (len(beyond) > 1)} below their floor at any budget (the most any plan reaches: "
            + ", ".join(f"{group} {stated_share(share, up=True)}" for share, group in beyond) + ")") in format_summary(plan)
    # The report's equity table states the same upper limits, rounded up as well.
    shown = review.formatted(review.equity_table(plan))["reachable_share"]
    assert shown.to_dict() == {group: stated_share(share, up=True) for group, share in expected.items()}


@pytest.mark.parametrize("seed", range(3))
def test_the_most_people_a_phased_stage_can_count_is_what_every_option_together_reaches(seed, tmp_path):
    """With phases (a later phase weighing double) and sites fixed by hand, reachable_people is
    still the most any set of options counts (every set enumerated): the ceiling at which a people
    stage is proven by counting (solvers/lexicographic.py)."""
    directory = program_instance(tmp_path / "i", seed=seed, phases=[Phase("2025", 15e6), Phase("2026", 30e6, 2.0)],
                                 decisions=random_decisions(seed))
    instance = load_instance(directory)
    problem = reduce_problem(instance, compute_reach(instance))
    for stage in ("same_day", "next_day"):
        assert max(stage_values(problem, chosen)[stage] for chosen in every_choice(problem)) == \
            problem.reachable_people(stage)


def test_a_cost_bound_is_not_carried_to_a_larger_budget_with_phases(tmp_path):
    """With phases a larger budget raises each phase's, which can admit a plan cheaper than the
    smaller budget's though it reaches no more people: a cost bound proved there is not carried
    (with one budget it is: test_optimality.py)."""
    directory = program_instance(tmp_path / "i", seed=2, phases=[Phase("2025", 1e9), Phase("2026", 1e9)])
    instance = load_instance(directory)
    problem = reduce_problem(instance, compute_reach(instance))
    everyone = greedy_choice(problem)
    assert all(stage_values(problem, everyone)[stage] == problem.reachable_people(stage) for stage in ("same_day", "next_day"))
    assert carried_cost_bound(problem, everyone, problem.budget / 2, 1e6) is None


def test_a_largest_feasible_share_out_of_time_is_what_no_action_meets(tmp_path):
    # With no time to search (HiGHS stops before any plan on this instance), the share stated is
    # the one the plan without actions meets, as the checker counts it: a share some plan meets.
    directory = program_instance(tmp_path / "i", seed=0, budget=5e6, equity=Equity("region", 0.97))
    raw = read_raw(directory)
    served = evaluate(raw, {})["served"]
    unplanned = min(sum(served[k] for k in members) / (floor * people)
                    for floor, people, members in equity_floors(raw).values())
    scale = max_floor_scale(prepare(load_instance(directory)).problem, SolveOptions(time_limit=0.0))
    assert scale.status == "time_limit"
    # (A floor is met to 1e-9 of itself: the share of it may be that much above the checker's.)
    assert scale.objective == pytest.approx(unplanned, rel=2e-9) and scale.objective <= max_floor_share(raw) + 1e-9


def test_a_largest_feasible_share_not_proven_says_how_far_up_it_may_be(tmp_path):
    # The share of a search stopped by its time limit is what it found, not the largest: the
    # summary and the report say so, with the bound. (The plan is real; its share is edited.)
    directory = program_instance(tmp_path / "i", seed=0, budget=5e6, equity=Equity("region", 0.97))
    plan = solve_instance(load_instance(directory), SolveOptions())
    scale = plan.summary["equity"]["max_feasible_scale"]
    assert scale["status"] == "optimal"
    proven = format_summary(plan)
    assert f"floors feasible up to {stated_share(scale['value'])} of what was asked\n" in proven and "not proven" not in proven
    scale.update(status="time_limit", value=scale["value"] / 2, mip_gap=1.0)
    words = (f"floors feasible up to {stated_share(scale['value'])} of what was asked "
             f"(time_limit: not proven, perhaps up to {stated_share(scale['bound'], up=True)})")
    assert words in format_summary(plan)
    assert html.escape(words) in report_html(plan)
    report = report_html(plan)
    assert plan.summary["status"] == "infeasible" and "No plan within the budget meets every constraint" in report
    assert "better plan within the same budget" not in report  # there is none to act on


@pytest.mark.parametrize("phases", [(), (Phase("2025", 20e6, 1.0), Phase("2026", 40e6, 0.5))])
def test_a_stage_left_short_of_its_gap_states_its_bound_in_people_or_dollars(phases, tmp_path):
    # A stage a time limit stopped says how far from its optimum it may be in the planner's units,
    # not only as a ratio; a proven one needs no more than its gap. (The plan is real; its stages'
    # statuses are edited as a time limit leaves them.)
    plan = solve_instance(load_instance(program_instance(tmp_path / "i", seed=3, phases=phases)), SolveOptions())
    stages = {stage["stage"]: stage for stage in plan.summary["stages"]}
    assert all(stage["status"] == "optimal" for stage in stages.values()) and "bound" not in format_summary(plan)
    for stage in stages.values():
        stage["status"] = "time_limit"
    lines = {line.split()[0]: line for line in format_summary(plan).splitlines() if line.startswith("  ")}
    unit = "phase-weighted people" if phases else "people"
    for name in ("same_day", "next_day"):
        bound = stages[name]["bound"]
        shown = f"{bound:,.0f}" if bound == round(bound) else f"{bound:,.2f}"
        assert lines[name].endswith(f"; bound {shown} {unit}")
    assert lines["cost"].endswith(f"; bound ${stages['cost']['bound'] / 1e6:,.1f}M")
    stages["cost"]["bound"] = None  # no bound found in the time: nothing to state
    assert "bound" not in next(line for line in format_summary(plan).splitlines() if line.startswith("  cost"))
    # A gap a limit left just past the requested one shows the digits that tell the two apart.
    requested = plan.summary["mip_gap_requested"]
    stages["same_day"]["mip_gap"] = requested * 1.0009
    line = next(line for line in format_summary(plan).splitlines() if line.startswith("  same_day"))
    assert f"gap {requested * 1.0009:.3e} (requested {requested:g})" in line


@pytest.mark.parametrize("seed", range(3))
def test_floors_at_the_edge_of_what_plans_meet(seed, tmp_path):
    """A floor set, in binary floating point, at exactly the share the best plan meets is met
    (one 1e-10 above it too: floors are met to 1e-9 of themselves), and one 1e-5 above it is not:
    the largest feasible share then reads 99.9%, never "100.0%" next to "infeasible"."""
    directory = program_instance(tmp_path / "i", seed=seed, budget=15e6, equity=Equity("region", 0.97))
    most = 0.97 * max_floor_share(read_raw(directory))
    assert 0 < most < 0.97
    instance = load_instance(directory)
    for above, met in ((0.0, True), (1e-10, True), (1e-5, False)):
        edge = tmp_path / f"edge{above}"
        write_instance(edge, *(pd.read_csv(directory / name, dtype=str, keep_default_na=False)
                               for name in ("zones.csv", "sites.csv")),
                       dataclasses.replace(instance.scenario, equity=Equity("region", most * (1 + above))))
        summary = check_against_brute_force(edge)
        assert (summary["status"] == "optimal") == met, above
        if not met:
            assert summary["equity"]["max_feasible_scale"]["value"] == pytest.approx(1 / (1 + 1e-5), rel=1e-6)
            assert "floors feasible up to 99.9% of what was asked" in format_summary(solve_instance(load_instance(edge), EXACT))


@pytest.mark.parametrize("seed", range(3))
def test_floors_no_plan_meets_give_the_largest_feasible_share(seed, tmp_path):
    check_largest_feasible_share(program_instance(tmp_path / "i", seed=seed, budget=15e6,
                                                 equity=Equity("region", 0.97)), tmp_path)


@pytest.mark.parametrize("capacity_share", [None, 0.3])
def test_phased_floors_no_plan_meets_give_the_largest_feasible_share(capacity_share, tmp_path):
    # The share is found on the rollout in one phase (the floors hold after the last one, and every
    # plan may wait for it): it must be the largest brute force finds over every phased plan, with
    # a first phase too poor to pay for the best plan early and sites fixed by hand.
    directory = program_instance(tmp_path / "i", seed=2, phases=[Phase("2025", 5e6), Phase("2026", 25e6)],
                                 equity=Equity("region", 0.97), decisions=random_decisions(2), stations=2, candidates=3)
    if capacity_share is not None:
        with_capacity(directory, seed=2, share=capacity_share)
    check_largest_feasible_share(directory, tmp_path)


@pytest.mark.parametrize("seed, budget, capacity_share", [(2, 5e6, None), (2, 10e6, None), (0, 2e6, 0.1)])
def test_floors_of_groups_nobody_reaches_today_give_the_largest_feasible_share(seed, budget, capacity_share, tmp_path):
    # Any share above 0 of a floor of a group nobody in it is served before the plan needs an
    # option reaching it (model "reach every group" rows): seed 2 has such a group, which $5M
    # cannot reach (share 0, proven by what meeting the rows costs) and $10M can. With capacities that bind,
    # seed 0's groups have nobody served whatever the plan, yet their existing centers serve
    # some: no option is needed there, and the share is above 0 at $2M.
    directory = program_instance(tmp_path / "i", seed=seed, budget=budget, equity=Equity("region", 0.97))
    if capacity_share is not None:
        with_capacity(directory, seed=seed, share=capacity_share)
    problem = prepare(load_instance(directory)).problem
    assert (problem.equity_fixed == 0).any()
    assert reach_every_group_rows(problem).shape[0] == (0 if capacity_share else 1)
    check_largest_feasible_share(directory, tmp_path)


def every_site_decided(sites: pd.DataFrame) -> list[str]:
    """Every station must upgrade and no candidate may open: no option is left to the solver."""
    return [{"station": "must:upgrade", "candidate": "never"}.get(kind, "") for kind in sites["kind"]]


@pytest.mark.parametrize("capacitated", [False, True])
def test_floors_the_sites_fixed_by_hand_miss_give_the_largest_feasible_share(capacitated, tmp_path):
    # The one plan is the decisions themselves, and it misses the floors: a stage with nothing to
    # decide and no plan, and a largest-share model with nothing integer (with capacities) in it.
    directory = program_instance(tmp_path / "i", seed=1, equity=Equity("region", 0.99), decisions=every_site_decided)
    if capacitated:
        with_capacity(directory, seed=1, share=0.2)
    check_largest_feasible_share(directory, tmp_path)


@pytest.mark.parametrize("seed", range(2))
def test_everything_together_matches_brute_force(seed, tmp_path):
    phases = [Phase("2025", 20e6, 1.0), Phase("2026", 30e6, 2.0)]
    directory = program_instance(tmp_path / "i", seed=seed, phases=phases, decisions=random_decisions(seed),
                                 equity=Equity("region", 0.6))
    check_against_brute_force(directory)


def test_budget_option_scales_every_phase(tmp_path):
    phases = [Phase("2025", 15e6), Phase("2026", 45e6)]
    directory = program_instance(tmp_path / "i", seed=1, phases=phases)
    result = run_cli("solve", directory, "--budget", "30M", "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = read_plan(tmp_path / "plan").summary
    assert [p["budget"] for p in summary["phases"]] == pytest.approx([7.5e6, 22.5e6])
    assert summary["budget"] == 30e6 and sum(p["cost"] for p in summary["phases"][:1]) <= 7.5e6
    assert "2025" in result.stdout and "2026" in result.stdout


def test_plans_without_the_options_have_none_of_their_keys(tiny, tmp_path):
    plan = read_plan(_solve_cli(tiny, tmp_path))
    assert not {"phases", "equity"} & set(plan.summary) and not {"phases", "equity"} & set(plan.summary["scenario"])
    assert "phase" not in plan.sites and "same_day_phase" not in plan.zones


def set_scenario(directory: Path, text: str) -> None:
    (directory / "scenario.toml").write_text(text, encoding="utf-8")


@pytest.mark.parametrize("edit, file, field, words", [
    (lambda d: _decide(d, "station", "must:open_center"), "sites.csv", "decision", "not a decision for a station"),
    (lambda d: _decide(d, "candidate", "maybe"), "sites.csv", "decision", "not a decision for a candidate"),
    (lambda d: _decide(d, "station", "must:upgrade", every=True, budget=1.0), "sites.csv", "decision",
     "more than the budget"),
    (lambda d: _scenario(d, "budget = 5e7\n[[phases]]\nname = 'a'\nbudget = 1e7\n[[phases]]\nname = 'b'\nbudget = 1e7\n"),
     "scenario.toml", "budget", "add up to"),
    (lambda d: _scenario(d, "[[phases]]\nname = 'a'\nbudget = -1\n"), "scenario.toml", "phases[1].budget",
     "must not be negative"),
    (lambda d: _scenario(d, "[[phases]]\nname = 'a'\nbudget = 1e7\n[[phases]]\nname = 'a'\nbudget = 1e7\n"),
     "scenario.toml", "phases[2].name", "named twice"),
    (lambda d: _scenario(d, "budget = 1e7\n[equity]\ncolumn = 'nowhere'\n"), "scenario.toml", "equity.column",
     "no column"),
    (lambda d: _scenario(d, "budget = 1e7\n[equity]\ncolumn = 'town'\nmin_same_day_share = 1.5\n"), "scenario.toml",
     "equity.min_same_day_share", "in [0, 1]"),
    (lambda d: _scenario(d, "budget = 1e7\n[equity]\ncolumn = 'town'\n[equity.groups]\nAtlantis = 0.5\n"),
     "scenario.toml", "equity.groups.Atlantis", "no zone is in group 'Atlantis'"),
])
def test_bad_program_input_exits_2_naming_the_field(edit, file, field, words, tiny, tmp_path):
    edit(tiny)
    result = run_cli("solve", tiny, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and file in line and f"field '{field}'" in line and words in line, line
    assert not (tmp_path / "plan").exists()


def _decide(directory: Path, kind: str, decision: str, every: bool = False, budget: float | None = None) -> None:
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    chosen = sites.index[sites["kind"] == kind]
    sites["decision"] = ""
    sites.loc[chosen if every else chosen[:1], "decision"] = decision
    sites.to_csv(directory / "sites.csv", index=False, lineterminator="\n")
    if budget is not None:
        text = (directory / "scenario.toml").read_text()
        lines = [f"budget = {budget}" if line.startswith("budget") else line for line in text.splitlines()]
        (directory / "scenario.toml").write_text("\n".join(lines) + "\n")


def _scenario(directory: Path, extra: str) -> None:
    """Replace the scenario's budget lines with ``extra`` (phases, equity)."""
    text = (directory / "scenario.toml").read_text()
    kept = [line for line in text.splitlines() if not line.startswith("budget")]
    (directory / "scenario.toml").write_text("\n".join(kept) + "\n" + extra)


def test_scenario_round_trips_through_write_instance(tmp_path):
    phases = (Phase("2025", 1.5e9), Phase("2026", 2.5e9, 0.5))
    equity = Equity("state", 0.6, (("AK", 0.3),))
    directory = program_instance(tmp_path / "i", seed=0, phases=phases)
    instance = load_instance(directory)
    zones = pd.read_csv(directory / "zones.csv", dtype=str, keep_default_na=False).assign(state="AK")
    write_instance(directory, zones, instance.sites, dataclasses.replace(instance.scenario, equity=equity))
    scenario = load_instance(directory).scenario
    assert scenario.phases == phases and scenario.equity == equity and scenario.budget == 4e9
    assert json.loads(json.dumps(scenario.to_dict()))["equity"]["groups"] == {"AK": 0.3}


def test_phased_sweep_matches_brute_force_at_every_budget(tmp_path):
    """A sweep of a phased instance with sites fixed by hand: each budget's plan (warm-started
    from the budget before, phases included) is the brute-force optimum at that budget."""
    phases = [Phase("2025", 10e6), Phase("2026", 30e6, 2.0)]
    directory = program_instance(tmp_path / "i", seed=4, phases=phases, decisions=random_decisions(4))
    result = run_cli("sweep", directory, "--budgets", "40M:70M:15M", "--workers", "1", "--mip-gap", "0",
                     "--out", tmp_path / "sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for budget in (40e6, 55e6, 70e6):
        plan = read_plan(tmp_path / "sweep" / f"budget-{budget:.0f}")
        assert [p["budget"] for p in plan.summary["phases"]] == pytest.approx([budget / 4, budget * 3 / 4])
        scaled = program_instance(tmp_path / f"at-{budget:.0f}", seed=4, decisions=random_decisions(4),
                                  phases=[Phase("2025", budget / 4), Phase("2026", budget * 3 / 4, 2.0)])
        raw = read_raw(scaled)
        outcome = phased_outcome(raw, plan_of(plan))
        assert outcome["budgets_kept"] and outcome["decisions_kept"]
        assert (outcome["same_day"], outcome["next_day"], outcome["cost"]) == pytest.approx(brute_force(raw))


def test_a_sweep_gives_the_largest_floor_share_at_each_budget_no_plan_meets(tmp_path):
    """A sweep of an instance with floors the smaller budgets cannot meet: sweep.csv's
    ``floor_share`` is the brute force's largest share at each budget no plan meets (and its
    bound at least that), blank where a plan meets the floors; the command prints each share."""
    equity = Equity("region", 0.97)
    directory = program_instance(tmp_path / "i", seed=2, budget=60e6, equity=equity)
    result = run_cli("sweep", directory, "--budgets", "5M,20M,60M", "--workers", "1", "--mip-gap", "0",
                     "--out", tmp_path / "sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = review.read_sweep(tmp_path / "sweep").set_index("budget")
    met = []
    for budget in (5e6, 20e6, 60e6):
        raw = read_raw(program_instance(tmp_path / f"at-{budget:.0f}", seed=2, budget=budget, equity=equity))
        row = table.loc[budget]
        met.append(brute_force(raw) is not None)
        if met[-1]:
            assert row["status"] == "optimal" and math.isnan(row["floor_share"]) and math.isnan(row["floor_share_bound"])
            continue
        largest = max_floor_share(raw)
        assert row["status"] == "infeasible" and row["floor_share"] == pytest.approx(largest, rel=2e-9, abs=1e-12)
        assert row["floor_share_bound"] >= largest - 1e-9
        scale = read_plan(tmp_path / "sweep" / row["plan_dir"]).summary["equity"]["max_feasible_scale"]
        assert f"no plan meets every floor: floors feasible up to {stated_share(scale['value'])} of what was asked" \
            in result.stdout
    assert met == [False, False, True]
    # The progress bar's best plan is one that was found, never the empty plans of the others.
    summaries = [read_plan(tmp_path / "sweep" / name).summary for name in table["plan_dir"]]
    assert sweep._best_figures(summaries[:2]).startswith("no plan meets every constraint yet")
    assert sweep._best_figures(summaries).startswith(
        f"best same-day {summaries[2]['same_day_population']:,} next-day {summaries[2]['next_day_population']:,} at $60M")


def test_sweep_below_the_forced_cost_exits_2(tmp_path):
    directory = program_instance(tmp_path / "i", seed=4, decisions=random_decisions(4))
    result = run_cli("sweep", directory, "--budgets", "1M,60M", "--workers", "1", "--out", tmp_path / "sweep",
                     cwd=tmp_path)
    assert result.returncode == 2 and "more than the budget" in result.stderr
    assert not (tmp_path / "sweep").exists()


def test_yardsticks_phase_by_phase_recompute_from_the_checker(tmp_path):
    """plan.json's yardsticks after each phase: ZIP codes and people newly same-day, sites acted
    on, packages arriving faster and the average promised days, recomputed by the checker from
    the plan's actions and phases with the documented default assumptions."""
    phases = [Phase("2025", 15e6), Phase("2026", 30e6)]
    directory = program_instance(tmp_path / "i", seed=2, phases=phases)
    raw = read_raw(directory)
    plan = read_plan(_solve_cli(directory, tmp_path))
    outcome = phased_outcome(raw, plan_of(plan))
    before = phased_outcome(raw, {})["phases"][-1]
    people = [int(z["population"]) for z in raw.zones]
    days = {"same": 0.5, "next": 1.0, "other": 3.0}

    def promise(reach, k):
        return days["same"] if reach["same_day"][k] else days["next"] if reach["next_day"][k] else days["other"]

    records = {r["yardstick"]: r for r in plan.summary["yardsticks"]}
    for t, (name, reach) in enumerate(zip(["2025", "2026"], outcome["phases"])):
        newly = [reach["same_day"][k] and not before["same_day"][k] for k in range(len(people))]
        assert records["ZIP codes newly within same-day reach"]["plan"][name] == sum(newly)
        assert records["people newly within same-day reach"]["plan"][name] == sum(p for p, n in zip(people, newly) if n)
        acted = sum(1 for action, phase in plan_of(plan).values() if action != "none" and phase <= t)
        assert records["new and upgraded sites"]["plan"][name] == acted
        faster = sum(p for k, p in enumerate(people) if promise(reach, k) < promise(before, k))
        assert records["packages a year arriving faster"]["plan"][name] == pytest.approx(18.0 * faster)
        ratio = (sum(p * promise(reach, k) for k, p in enumerate(people))
                 / sum(p * promise(before, k) for k, p in enumerate(people)))
        assert records["average promised delivery days, after / before"]["plan"][name] == pytest.approx(ratio)
    assert records["ZIP codes newly within same-day reach"]["due"] == "2026"
    assert records["ZIP codes newly within same-day reach"]["verdict"] == "short"  # 13,000+ of 40 zones


def test_place_lookup(tmp_path):
    directory = program_instance(tmp_path / "i", seed=2, phases=[Phase("2025", 15e6), Phase("2026", 30e6)])
    plan_dir = _solve_cli(directory, tmp_path)
    plan = read_plan(plan_dir)
    town = plan.zones.loc[plan.zones["same_day"] & ~plan.zones["same_day_before"], "primary_city"].iloc[0]
    result = run_cli("place", plan_dir, f"{town}, ks", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    zones = plan.zones[plan.zones["primary_city"] == town]
    assert f"{len(zones)} zones, {zones['population'].sum():,} people" in result.stdout
    for zone_id in zones["zone_id"]:
        assert zone_id in result.stdout
    missing = run_cli("place", plan_dir, "Atlantis, KS", cwd=tmp_path)
    assert missing.returncode == 2 and "Atlantis" in missing.stderr
    plan.zones.loc[plan.zones.index[:3], "primary_city"] = ""  # zones without a town name no town
    assert review.place_table(plan, ", KS").empty and review.place_table(plan, ", ").empty


@pytest.mark.parametrize("seed", range(4))
def test_phased_reductions_keep_the_optimum(seed, tmp_path):
    """With phases only an option whose site has no other action dominates, within its phase:
    the reduced problem's optimum is the unreduced one's, on instances where that happens."""
    from ruralreach.solvers.lexicographic import solve_lexicographic

    small_instance(tmp_path / "i", seed=seed, zones=200, stations=8, candidates=12, budget=80e6, towns=25)
    instance = load_instance(tmp_path / "i")
    scenario = dataclasses.replace(instance.scenario, phases=(Phase("a", 30e6), Phase("b", 50e6, 2.0)))
    instance = dataclasses.replace(instance, scenario=scenario)
    reach = compute_reach(instance)
    full = reduce_problem(instance, reach, merge=False, drop_dominated=False)
    reduced = reduce_problem(instance, reach)
    assert reduced.n_options < full.n_options  # some option was dominated
    results = []
    for problem in (full, reduced):
        solution = solve_lexicographic(problem, EXACT)
        assert solution.status == "optimal"
        values = stage_values(problem, solution.chosen)
        results.append((values["same_day"], values["next_day"], problem.spend(solution.chosen)))
    assert results[0] == pytest.approx(results[1])


def test_bundled_program_instance_rebuilds_byte_identical_and_is_found_by_name(tmp_path, monkeypatch):
    from ruralreach.instances import build_program, bundled, instance_path

    build_program.build(tmp_path / "rebuilt")
    shipped = bundled("us-2026-program")
    for name in ("zones.csv", "sites.csv", "scenario.toml", "README.md"):
        assert (tmp_path / "rebuilt" / name).read_bytes() == (shipped / name).read_bytes(), name
    scenario = load_instance(shipped).scenario
    assert [p.name for p in scenario.phases] == ["2025", "2026"] and scenario.budget == 4e9
    assert scenario.next_day_minutes == 90 and scenario.packages_per_person_per_year == 18
    monkeypatch.chdir(tmp_path)
    assert instance_path("us-2026-program") == shipped
    (tmp_path / "us-2026-program").mkdir()  # a folder of the user's own comes first
    assert instance_path("us-2026-program") == Path("us-2026-program")
