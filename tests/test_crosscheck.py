"""benchmarks/crosscheck.py, the national-scale check of plans, on tiny program instances where
brute force knows the answer (with capacities too): it passes the solver's exact plans (and finds
the brute-force optima), it fails a plan whose promise or rules are broken, and it refuses a plan
solved at another budget than the instance's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from checker import brute_force, max_floor_share, read_raw
from conftest import run_cli, with_capacity
from test_program import _solve_cli, program_instance, random_decisions

from ruralreach.model.instance import Equity, Phase

CROSSCHECK = Path(__file__).resolve().parents[1] / "benchmarks" / "crosscheck.py"


def crosscheck(instance: Path, *plans: Path, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CROSSCHECK), str(instance), *map(str, plans), *options],
                          capture_output=True, text=True, timeout=600)


def optima(output: str) -> dict[str, float]:
    return {stage: float(value.replace(",", "")) for stage, value in
            re.findall(r"(same_day|next_day|cost)\s+unreduced HiGHS: Optimal ([\d,.]+)", output)}


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> tuple[Path, Path]:
    """Two phases (the second weighs twice), sites fixed by hand and a binding equity floor, and
    the solver's exact plan of it."""
    tmp = tmp_path_factory.mktemp("program")
    directory = program_instance(tmp / "i", seed=1, phases=[Phase("2025", 20e6, 1.0), Phase("2026", 30e6, 2.0)],
                                 decisions=random_decisions(1), equity=Equity("region", 0.6))
    return directory, _solve_cli(directory, tmp)


def passes_as_the_brute_force_optimum(directory: Path, plan: Path, rel: float | None = None) -> str:
    """Cross-check an exact plan: it passes, equals the three optima, and those are the
    brute-force optima (to ``rel``: people served with capacities are an LP's value). Returns the
    report."""
    result = crosscheck(directory, plan)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("equals the optimum") == 3
    same_day, next_day, cost = brute_force(read_raw(directory))
    assert optima(result.stdout) == pytest.approx({"same_day": same_day, "next_day": next_day, "cost": cost},
                                                  rel=rel)
    return result.stdout


def test_passes_an_exact_plan_of_the_program_and_finds_the_brute_force_optima(program):
    report = passes_as_the_brute_force_optimum(*program)
    assert "figures recompute, budgets kept, decisions kept, floors met" in report


def _broken_copy(plan: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(plan, tmp_path / "broken"))


def _edit_summary(plan: Path, edit) -> None:
    """Rewrite the plan's plan.json with ``edit`` applied to it."""
    summary = json.loads((plan / "plan.json").read_text())
    edit(summary)
    (plan / "plan.json").write_text(json.dumps(summary))


def _edit_site(plan: Path, column: str, value: str, **fields: str) -> None:
    """Rewrite the first row of the plan's sites.csv whose ``column`` is ``value`` with ``fields``."""
    sites = (plan / "sites.csv").read_text().splitlines()
    header = sites[0].split(",")
    row = next(k for k, line in enumerate(sites[1:], 1) if line.split(",")[header.index(column)] == value)
    cells = sites[row].split(",")
    for name, cell in fields.items():
        cells[header.index(name)] = cell
    sites[row] = ",".join(cells)
    (plan / "sites.csv").write_text("\n".join(sites) + "\n")


def test_fails_a_bound_that_does_not_hold(program, tmp_path):
    directory, plan = program
    broken = _broken_copy(plan, tmp_path)

    def promise_below_the_optimum(summary):
        next_day = summary["stages"][1]
        next_day["bound"] = next_day["objective"] - 1

    _edit_summary(broken, promise_below_the_optimum)
    result = crosscheck(directory, broken)
    assert result.returncode == 1
    assert "FAILS bound holds" in result.stdout


def test_promises_hold_for_the_solvers_plans_and_fail_where_broken(program, tmp_path):
    """--promises asks, for each stage's bound, for a plan keeping the floors the plan kept that
    beats it: none beats the exact plan's (three "holds"); a next-day bound a person below the
    plan's own figure, or a cost bound a dollar above it, is beaten by the plan itself."""
    directory, plan = program
    result = crosscheck(directory, plan, options=("--promises",))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("holds: no plan keeping the floors beats it") == 3
    for stage, shift in (("next_day", -1.0), ("cost", 1.0)):
        broken = _broken_copy(plan, tmp_path / stage)

        def promise_past_the_plan(summary, stage=stage, shift=shift):
            promised = next(s for s in summary["stages"] if s["stage"] == stage)
            promised["bound"] = promised["objective"] + shift

        _edit_summary(broken, promise_past_the_plan)
        result = crosscheck(directory, broken, options=("--promises",))
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"{stage}: " in result.stdout and "FAILS: a plan keeping the floors reaches" in result.stdout


def test_checks_a_plan_that_ended_after_its_first_stage_with_no_gap_to_show(program, tmp_path):
    # A plan in error after its first stage lists that stage alone, and a stage whose value is 0
    # has no relative gap: what the plan states is checked, without a crash.
    directory, plan = program
    shortened = _broken_copy(plan, tmp_path)

    def first_stage_only(summary):
        summary["status"] = "error"
        summary["stages"] = summary["stages"][:1]
        summary["stages"][0].update(status="error", mip_gap=None)

    _edit_summary(shortened, first_stage_only)
    result = crosscheck(directory, shortened)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no next_day stage, error" in result.stdout and "(gap n/a), error: bound holds" in result.stdout


def test_fails_an_action_a_decision_rules_out(program, tmp_path):
    directory, plan = program
    broken = _broken_copy(plan, tmp_path)
    _edit_site(broken, "decision", "never", action="upgrade", phase="2025")
    result = crosscheck(directory, broken)
    assert result.returncode == 1
    assert "decisions kept" in result.stdout.split("FAILS")[1]


def test_checks_the_largest_feasible_share_when_no_plan_meets_the_floors(tmp_path):
    directory = program_instance(tmp_path / "i", seed=0, budget=15e6, equity=Equity("region", 0.97))
    plan = _solve_cli(directory, tmp_path)
    result = crosscheck(directory, plan)
    assert result.returncode == 0, result.stdout + result.stderr
    share = float(re.search(r"largest share of the floors, unreduced HiGHS: ([\d.]+)", result.stdout)[1])
    assert share == pytest.approx(max_floor_share(read_raw(directory)), abs=1e-6)
    _edit_summary(plan, lambda summary: summary["equity"]["max_feasible_scale"].update(bound=share - 0.01))
    result = crosscheck(directory, plan)
    assert result.returncode == 1
    assert "FAILS share's bound holds" in result.stdout


def test_refuses_a_plan_solved_at_another_budget(program, tmp_path):
    directory, _ = program
    result = run_cli("solve", directory, "--budget", "40e6", "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = crosscheck(directory, tmp_path / "plan")
    assert result.returncode == 2
    assert "not at the instance's $50,000,000.00" in result.stderr


def greedy_trap(directory: Path) -> Path:
    """Floors some plan meets and the greedy start misses: the group needs 100 of its 200
    people, and $2M buys either the upgrade reaching 60 of them for $1M (the most people a dollar,
    which the greedy takes first) or the one reaching 100 for $2M (the plan)."""
    directory.mkdir(parents=True)
    (directory / "zones.csv").write_text("zone_id,lat,lon,population,group\nA,40.0,-100.0,60,G\n"
                                         "B,40.0,-95.0,100,G\nC,40.0,-90.0,40,G\n", encoding="utf-8")
    (directory / "sites.csv").write_text("site_id,lat,lon,kind,upgrade_cost,station_cost,center_cost\n"
                                         "E0,30.0,-80.0,center,,,\nS1,40.0,-100.0,station,1000000,,\n"
                                         "S2,40.0,-95.0,station,2000000,,\n", encoding="utf-8")
    (directory / "scenario.toml").write_text("budget = 2000000\nsame_day_minutes = 90\nnext_day_minutes = 180\n"
                                             "speed_mph = 50\ncircuity = 1.3\n[equity]\ncolumn = \"group\"\n"
                                             "min_same_day_share = 0.5\n", encoding="utf-8")
    return directory


@pytest.mark.parametrize("seed, budget", [(None, None), (0, 15e6)], ids=["floors-met-by-some-plan", "floors-met-by-none"])
def test_passes_a_plan_stopped_before_it_found_one_and_fails_it_with_an_action(seed, budget, tmp_path):
    if seed is None:
        directory = greedy_trap(tmp_path / "i")
        assert brute_force(read_raw(directory)) is not None
    else:
        directory = program_instance(tmp_path / "i", seed=seed, budget=budget, equity=Equity("region", 0.97))
    result = run_cli("solve", directory, "--time-limit", "0.001", "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = tmp_path / "plan"
    summary = json.loads((plan / "plan.json").read_text())
    # Floors above what any plan reaches are infeasible before any search, however short the time.
    assert summary["status"] == ("time_limit" if seed is None else "infeasible")
    assert summary["stages"][0]["objective"] is None
    result = crosscheck(directory, plan)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "takes no action" in result.stdout
    _edit_site(plan, "kind", "station", action="upgrade")
    result = crosscheck(directory, plan)
    assert result.returncode == 1
    assert "FAILS figures recompute, takes no action" in result.stdout


def test_finds_the_brute_force_optima_where_money_carries_between_phases(tmp_path):
    # The first phase's money, unspent, pays for the second's actions here: budget rows phase by
    # phase instead of through each phase (or through each phase but not cumulated) move the optima.
    directory = program_instance(tmp_path / "i", seed=2, budget=50e6,
                                 phases=[Phase("2025", 35e6, 1.0), Phase("2026", 15e6, 2.0)])
    passes_as_the_brute_force_optimum(directory, _solve_cli(directory, tmp_path))


@pytest.mark.parametrize("case", ["phases", "floors", "everything", "weightless"])
def test_finds_the_brute_force_optima_with_capacities(case, tmp_path):
    # Shares of a zone's demand shipped within each capacity, phase by phase, and floors on the
    # people served: the cross-check's unreduced rows against the checker's split of every plan.
    seed, options = {
        "phases": (1, dict(phases=[Phase("2025", 20e6), Phase("2026", 30e6, 1.5)], stations=2, candidates=2)),
        "floors": (0, dict(budget=40e6, equity=Equity("region", 0.3, (("west", 0.4),)))),
        "everything": (5, dict(phases=[Phase("first", 25e6), Phase("second", 25e6)], stations=2, candidates=2,
                               equity=Equity("region", 0.2), decisions=random_decisions(3))),
        # A phase of weight 0 counts for nothing in the objective, but its people are served all the same.
        "weightless": (1, dict(phases=[Phase("2025", 20e6, 0.0), Phase("2026", 30e6)], stations=2, candidates=2)),
    }[case]
    directory = with_capacity(program_instance(tmp_path / "i", seed=seed, **options), seed=seed, share=0.2)
    report = passes_as_the_brute_force_optimum(directory, _solve_cli(directory, tmp_path), rel=1e-7)
    assert re.search(r"[1-9][\d,]* sites with a capacity", report)


def test_reads_populations_as_the_instance_format_allows_them_written(program, tmp_path):
    """``1e3`` and ``1000.0`` are whole numbers of people to ruralreach: the checks read them so
    too (both once stopped on them with a ValueError)."""
    directory, _ = program
    written = tmp_path / "i"
    shutil.copytree(directory, written)
    lines = (written / "zones.csv").read_text().splitlines()
    column = lines[0].split(",").index("population")
    for row, text in ((1, "1e3"), (2, "1000.0")):
        fields = lines[row].split(",")
        fields[column] = text
        lines[row] = ",".join(fields)
    (written / "zones.csv").write_text("\n".join(lines) + "\n")
    passes_as_the_brute_force_optimum(written, _solve_cli(written, tmp_path))


def test_solves_again_without_presolve_where_highs_ends_in_a_solve_error(tmp_path):
    """The unreduced next-day MIP of this phased region is one HiGHS 1.16's presolve ends in a
    solve error (``data/region-solve-error``): the script must solve it again without presolve,
    as ruralreach does, rather than give up (exit 2), and find the exact plan's optima."""
    directory = Path(__file__).parent / "data" / "region-solve-error"
    plan = _solve_cli(directory, tmp_path)
    result = crosscheck(directory, plan)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("equals the optimum") == 3
    figures = json.loads((plan / "plan.json").read_text())["stages"]
    assert optima(result.stdout) == pytest.approx({s["stage"]: s["objective"] for s in figures})


def test_checks_what_an_unproven_stage_found_against_the_plans(tmp_path):
    """Where the unreduced MIP stops short of its proof, its best plan still refutes a bound a plan
    promises below it, and its bound a same-day figure above it; a plan consistent with both
    passes (the script then exits 2: the later stages are not checked)."""
    import importlib.util

    import highspy
    import numpy as np

    spec = importlib.util.spec_from_file_location("crosscheck", CROSSCHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    h = module.quiet_highs()
    # A strongly correlated knapsack (value = weight + 100), HiGHS on one thread without presolve
    # or heuristics, started from the empty plan and stopped after one node: a plan, a bound, no
    # proof.
    rng = np.random.default_rng(3)
    weights = rng.integers(1, 1000, 60).astype(float)
    columns = np.arange(60, dtype=np.int32)
    h.addVars(60, np.zeros(60), np.ones(60))
    h.changeColsIntegrality(60, columns, np.full(60, highspy.HighsVarType.kInteger, dtype=np.uint8))
    h.addRow(-highspy.kHighsInf, weights.sum() // 2 + 0.5, 60, columns, weights)
    h.changeColsCost(60, columns, weights + 100)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    empty = highspy.HighsSolution()
    empty.col_value, empty.value_valid = [0.0] * 60, True
    h.setSolution(empty)
    for option, value in (("presolve", "off"), ("mip_max_nodes", 1), ("mip_heuristic_effort", 0.0),
                          ("mip_rel_gap", 0.0)):
        h.setOptionValue(option, value)
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) != "Optimal"
    found, ceiling = h.getInfo().objective_function_value, h.getInfo().mip_dual_bound
    assert 0 < found < ceiling

    def plan(objective: float, bound: float) -> list:
        stage = {"objective": objective, "bound": bound, "mip_gap": None, "status": "time_limit"}
        return [(tmp_path / "plan", {"status": "time_limit"}, {"same_day": stage})]

    def check(objective: float, bound: float) -> int:
        return module.check_plans("same_day", plan(objective, bound), found, ceiling, 1e-6, proven=False)

    assert check(found, ceiling) == 0
    assert check(found - 1, found - 0.5) == 1  # a bound below a plan
    assert check(ceiling + 1, ceiling + 1) == 1  # a plan above the bound
