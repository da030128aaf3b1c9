"""The ruralreach command as a user runs it."""

import json
import re
import subprocess
import sys
import time

import pytest
from checker import evaluate, read_raw
from conftest import assert_one_usage_line, run_cli, small_instance

from ruralreach.cli import progress_line
from ruralreach.model.instance import load_instance
from ruralreach.model.plan import read_plan
from ruralreach.money import usd_millions
from ruralreach.pipeline import prepare
from ruralreach.review import PROGRAM_YARDSTICKS
from ruralreach.solvers import lexicographic
from ruralreach.solvers.highs import SolveOptions



def test_help_explains_every_option(tmp_path):
    top = run_cli("--help", cwd=tmp_path)
    assert top.returncode == 0 and "solve" in top.stdout
    solve = run_cli("solve", "--help", cwd=tmp_path)
    assert solve.returncode == 0
    for option in ("--budget", "--out", "--time-limit", "--mip-gap", "--progress", "INSTANCE_DIR"):
        assert option in solve.stdout


def test_solve_writes_plan_and_prints_summary(tiny, tmp_path):
    result = run_cli("solve", tiny, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan_dir = tmp_path / "plans" / "tiny-60000000"
    plan = read_plan(plan_dir)
    for words in ("status      optimal", "same-day", "next-day", "cost", "gap", "seconds", str(plan_dir.relative_to(tmp_path))):
        assert words in result.stdout
    assert f"{plan.summary['same_day_population']:,}" in result.stdout
    assert f"{plan.summary['baseline_same_day_population']:,}" in result.stdout
    assert sorted(p.name for p in plan_dir.iterdir()) == ["plan.json", "sites.csv", "zones.csv"]
    summary = json.loads((plan_dir / "plan.json").read_text())
    for key in ("status", "instance", "scenario", "same_day_population", "next_day_population", "cost", "budget",
                "baseline_same_day_population", "baseline_next_day_population", "stages", "solve_seconds",
                "solver", "created", "actions"):
        assert key in summary
    assert [s["stage"] for s in summary["stages"]] == ["same_day", "next_day", "cost"]
    assert all({"mip_gap", "bound"} <= set(s) for s in summary["stages"])
    assert summary["solver"]["name"] == "HiGHS"
    assert len(summary["instance"]["sha256"]) == 64


def test_the_summary_total_is_the_whole_command_as_the_time_limit_counts_it(tiny, tmp_path):
    """"total" in the summary is the process's time from its start, interpreter start-up and
    imports included: the clock --time-limit bounds, and what a user timing the command sees."""
    began = time.perf_counter()
    result = run_cli("solve", tiny, "--out", tmp_path / "p", cwd=tmp_path)
    wall = time.perf_counter() - began
    assert result.returncode == 0, result.stderr
    solve, total = map(float, re.search(r"solve ([0-9.]+) s, total ([0-9.]+) s", result.stdout).groups())
    assert solve < total <= wall
    # Only the exit after the summary is left out. That exit took a quarter of the wall time on
    # a loaded machine; start-up and imports, were they left out, are most of it.
    assert total >= 0.6 * wall


def test_a_solve_does_not_load_what_only_other_commands_need(tiny, tmp_path):
    """Start-up is paid on every solve: the libraries only a Pyomo model, a capacitated plan's
    split LP or a sweep's chart need stay unloaded for a plain solve."""
    script = ("import sys; from ruralreach.cli import main; "
              f"status = main(['solve', {str(tiny)!r}, '--out', {str(tmp_path / 'p')!r}]); "
              "print(*sorted(m for m in ('pyomo', 'scipy.optimize', 'matplotlib', 'distributed') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ""
    assert read_plan(tmp_path / "p").summary["status"] == "optimal"


def test_progress_shows_each_stage_as_it_goes(tiny, tmp_path):
    """--progress prints each step of each stage to stderr as the solve goes, in time order, each
    stage ending with the status and gap plan.json records for it; without a terminal and
    without the flag, stderr stays empty. (At a budget short of reaching everyone: where the
    greedy plan reaches everyone it can, the people stages are proven by counting, with no LP.)"""
    shown = run_cli("solve", tiny, "--budget", "25M", "--out", tmp_path / "p", "--progress", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stderr.splitlines()
    assert lines and all(line.startswith("ruralreach:") for line in lines)
    seconds = [float(line.split()[1]) for line in lines]
    assert seconds == sorted(seconds)
    stages = json.loads((tmp_path / "p" / "plan.json").read_text())["stages"]
    assert lines[0].split()[3] == "same_day" and "LP bound" in lines[0]
    for stage in stages:
        last = [line for line in lines if line.split()[3] == stage["stage"]][-1]
        gap = "n/a" if stage["mip_gap"] is None else f"{stage['mip_gap']:.2e}"
        assert f"{stage['status']}:" in last and last.endswith(f"gap {gap}")
    # Each later stage begins with the floor the stage before it left, which the plan keeps.
    summary = json.loads((tmp_path / "p" / "plan.json").read_text())
    for kept, stage in (("same_day", "next_day"), ("next_day", "cost")):
        first = [line for line in lines if line.split()[3] == stage][0]
        assert f"keeps {kept.replace('_', '-')} at " in first and first.endswith(" options decided")
        floor = int(first.split(" at ")[1].split()[0].replace(",", ""))
        assert 0 < floor <= summary[f"{kept}_population"]
    quiet = run_cli("solve", tiny, "--out", tmp_path / "q", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_a_search_tells_where_its_stage_stands_as_it_runs(tmp_path, monkeypatch):
    """While a search runs, whoever watches the solve hears where its stage stands (here at every
    HiGHS interrupt check, not every PROGRESS_SECONDS): the best plan checked so far and a bound
    that holds, counting what the search has proven where its bound is one of the whole stage.
    Each bound is checked against the stage's optimum, exact at gap 0; watching changes nothing
    the solve does."""
    directory = small_instance(tmp_path / "i", seed=14, zones=2000, centers=2, stations=20, candidates=200,
                               budget=150e6, south=36.0, north=46.0, west=-104.0, east=-90.0)
    problem = prepare(load_instance(directory)).problem
    monkeypatch.setattr(lexicographic, "PROGRESS_SECONDS", 0.0)
    seen = []
    watched = lexicographic.solve_lexicographic(problem, SolveOptions(mip_gap=0.0), watch=seen.append)
    unwatched = lexicographic.solve_lexicographic(problem, SolveOptions(mip_gap=0.0))
    assert (watched.chosen == unwatched.chosen).all()
    assert [s.objective for s in watched.stages] == [s.objective for s in unwatched.stages]
    optimum = {s.stage: s.objective * lexicographic.plan_unit(problem, s.stage) for s in watched.stages}
    assert all(s.status == "optimal" and s.mip_gap == 0 for s in watched.stages)
    searching = [step for step in seen if step.step == "searching"]
    # Both people stages search here: the first in a neighbourhood whose own bound falls below
    # the stage's optimum (the plan it misses is outside it), then in the whole model, whose
    # bound tightens as it goes.
    assert {step.stage for step in searching} >= {"same_day", "next_day"}
    assert len({step.bound for step in searching if step.stage == "same_day"}) > 1
    for step in searching:
        if step.stage == "cost":
            assert step.value >= optimum["cost"] and step.bound <= optimum["cost"] + 1e-6
        else:
            assert step.value <= optimum[step.stage] <= step.bound
        assert step.nodes >= 0
        line = progress_line(step)
        assert f"{step.stage:<9} searching: best plan " in line and line.endswith(f", {step.nodes:,} nodes")
    # Where a search holds a better plan than those checked, the lines show it beside them, as
    # a plan: better than the stage's, and no better than the stage's own bound allows.
    held = [step for step in searching if step.searched is not None]
    assert held, "no search held a better plan than the stage's as it ran: not the case this test is for"
    for step in held:
        if step.stage == "cost":
            assert step.bound - 1e-6 <= step.searched < step.value
            shown = usd_millions(step.searched)
        else:
            assert step.value < step.searched <= step.bound
            shown = f"{step.searched:,.0f}"
        assert f" (the search holds {shown}, not yet checked), bound " in progress_line(step)


def test_budget_option_overrides_scenario(tiny, tmp_path):
    result = run_cli("solve", tiny, "--budget", "25M", "--out", tmp_path / "p", "--mip-gap", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = read_plan(tmp_path / "p")
    assert plan.summary["budget"] == 25e6 and plan.summary["scenario"]["budget"] == 25e6
    assert plan.summary["cost"] <= 25e6
    raw = read_raw(tiny)
    check = evaluate(raw, dict(zip(plan.sites["site_id"], plan.sites["action"])))
    assert check["same_day_population"] == plan.summary["same_day_population"]


def test_budgets_with_cents_get_a_plan_directory_each(tiny, tmp_path):
    """The default plan directory names the budget exactly: a budget a dollar away (or a cent) is
    not written over the other's plan."""
    budgets = ["25000000.5", "25000001.5", "25000001.51"]
    for budget in budgets:
        result = run_cli("solve", tiny, "--budget", budget, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "plans").iterdir())
    assert [p.name for p in written] == sorted(f"{tiny.name}-{b}" for b in budgets)
    assert sorted(read_plan(p).summary["budget"] for p in written) == [float(b) for b in budgets]


def test_the_yardsticks_an_instance_measures_are_printed(tiny, tmp_path):
    """An instance without towns or land area measures some of the program's yardsticks: those are
    printed, as plan.json and the report hold them, and no others."""
    result = run_cli("solve", tiny, "--out", tmp_path / "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    records = read_plan(tmp_path / "p").summary["yardsticks"]
    assert 0 < len(records) < len(PROGRAM_YARDSTICKS)
    printed = result.stdout.split("program yardstick", 1)[1].splitlines()[1:]
    assert [line[:48].rstrip() for line in printed] == [r["yardstick"] for r in records]


def test_amounts_under_a_million_are_printed_to_the_dollar(tiny, tmp_path):
    """Costs and budgets print in millions, which would show a budget of $250 as $0.0M."""
    result = run_cli("solve", tiny, "--budget", "250", "--out", tmp_path / "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "of $250 budget" in result.stdout
    assert [usd_millions(v) for v in (3_999_600_000, 1e6, 999_999, 12.5, 0)] == \
        ["$3,999.6M", "$1.0M", "$999,999", "$12.50", "$0.0M"]


@pytest.mark.parametrize("args", [["--budget", "lots"], ["--budget", "-4"], ["--budget", "1e16"],
                                  ["--budget", "215697932767301.48"], ["--mip-gap", "2"],
                                  ["--time-limit", "0"], ["--nonsense"], ["--time-limit", "\uff15"],
                                  ["--mip-gap", "\u0660"]])
def test_usage_errors_exit_2(args, tiny, tmp_path):
    result = run_cli("solve", tiny, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_usage_line(result.stderr)
    assert result.stderr.endswith("(see ruralreach solve --help)\n"), result.stderr  # the command's usage
    assert not (tmp_path / "plans").exists()


@pytest.mark.parametrize("case", ["scheduler that is no address", "out too long to look up", "no place",
                                  "instance path with a line break", "plan path with a line break"])
def test_more_errors_are_one_line_and_exit_2(case, tiny, tmp_path):
    args = {"scheduler that is no address": ["sweep", tiny, "--budgets", "15M", "--scheduler", "not a url",
                                              "--out", tmp_path / "s"],
            "out too long to look up": ["solve", tiny, "--out", tmp_path / ("a/" * 2100 + "p")],
            "no place": ["place", tmp_path / "p", " , "],
            "instance path with a line break": ["solve", tmp_path / "bad\ninstance"],
            "plan path with a line break": ["place", tmp_path / "bad\nplan", "Z000003"]}[case]
    if case == "no place":
        assert run_cli("solve", tiny, "--out", tmp_path / "p", cwd=tmp_path).returncode == 0
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1 and ": error: " in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("option,value", [("--budget", "-1e9"), ("--budget", "-4B"), ("--budget", "-inf"),
                                          ("--budgets", "-1e9,2e9"), ("--time-limit", "-1e3")])
def test_a_negative_value_is_the_values_error(option, value, tiny, tmp_path):
    """argparse takes '-1e9' for an option (it reads only '-5' and '-0.5' as numbers), and the
    error was "expected one argument", not what is wrong with the value."""
    result = run_cli("sweep" if option == "--budgets" else "solve", tiny, option, value, cwd=tmp_path)
    assert_one_usage_line(result.stderr)
    assert result.returncode == 2 and f"argument {option}: " in result.stderr, result.stderr
    assert f"'{value.split(',')[0]}'" in result.stderr and "expected one argument" not in result.stderr, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [tiny.name]


def test_version_and_a_budget_of_minus_zero(tiny, tmp_path):
    version = run_cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and re.fullmatch(r"ruralreach \d+\.\d+\.\d+\S*\n", version.stdout), version
    result = run_cli("solve", tiny, "--budget=-0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "plans").iterdir()] == [f"{tiny.name}-0"]
    assert "$-" not in result.stdout


def test_time_limit_writes_best_plan_marked_time_limit(tmp_path):
    """A solve cut short still writes its plan, says time_limit and never claims optimality."""
    directory = small_instance(tmp_path / "hard", seed=2, zones=20000, centers=3, stations=40, candidates=3000,
                               budget=400e6, south=36.0, north=46.0, west=-104.0, east=-90.0)
    result = run_cli("solve", directory, "--time-limit", "0.2", "--mip-gap", "0", "--out", tmp_path / "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = read_plan(tmp_path / "p")
    assert plan.summary["status"] == "time_limit"
    assert "time_limit" in result.stdout and "NOT proven optimal" in result.stdout
    assert any(s["status"] == "time_limit" for s in plan.summary["stages"])
    assert plan.summary["cost"] <= plan.summary["budget"]
    assert plan.summary["same_day_population"] >= plan.summary["baseline_same_day_population"]
