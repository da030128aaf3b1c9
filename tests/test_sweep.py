"""Budget sweeps: the budget syntax, the sweep directory, monotone curves, resuming after a kill,
and a real Dask cluster giving the same plans as local processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed
import numpy as np
import pandas as pd
import pytest
from checker import brute_force, evaluate, read_raw
from conftest import assert_one_usage_line, run_cli, small_instance

from ruralreach.model.plan import read_plan, verify_plan
from ruralreach.solvers.highs import SolveOptions
from ruralreach.money import parse_budgets
from ruralreach.review import SWEEP_COLUMNS, read_sweep, sweep_curve
from ruralreach.sweep import run_sweep

# Enough budgets, each taking a noticeable fraction of a second, to kill a sweep half way.
MID_BUDGETS = [b * 1e6 for b in range(50, 1050, 50)]
TIMING_FIELDS = ("created", "solve_seconds")


@pytest.fixture(scope="module")
def mid(tmp_path_factory) -> Path:
    return small_instance(tmp_path_factory.mktemp("mid") / "mid", seed=3, zones=2000, centers=3, stations=20,
                          candidates=200, budget=400e6, south=36.0, north=46.0, west=-104.0, east=-90.0)


@pytest.fixture(scope="module")
def mid_reference(mid, tmp_path_factory) -> Path:
    """An uninterrupted sweep on two local processes."""
    out = tmp_path_factory.mktemp("reference") / "sweep"
    run_sweep(mid, MID_BUDGETS, SolveOptions(), out=out, workers=2, progress=False)
    return out



def plan_without_timing(plan_dir: Path) -> dict:
    summary = json.loads((plan_dir / "plan.json").read_text())
    for field in TIMING_FIELDS:
        summary.pop(field)
    for stage in summary["stages"]:
        stage.pop("seconds")
    return summary


def assert_same_plans(sweep_dir: Path, reference: Path, budgets) -> None:
    for name in read_sweep(reference)["plan_dir"]:
        for file in ("sites.csv", "zones.csv"):
            assert (sweep_dir / name / file).read_bytes() == (reference / name / file).read_bytes(), (name, file)
        assert plan_without_timing(sweep_dir / name) == plan_without_timing(reference / name), name
    assert len(read_sweep(sweep_dir)) == len(budgets)


# ----------------------------------------------------------------------------- budgets


def test_budget_ranges_and_lists():
    assert parse_budgets("0.5e9:8e9:0.25e9") == [0.5e9 + k * 0.25e9 for k in range(31)]
    assert parse_budgets("500M:8B:250M") == parse_budgets("0.5e9:8e9:0.25e9")
    assert parse_budgets("0.1:0.3:0.1") == [0.1, 0.2, 0.3]  # the end survives float steps
    assert parse_budgets("1e9:2e9:0.3e9") == [1e9, 1.3e9, 1.6e9, 1.9e9]
    assert parse_budgets("4e9, 1e9,2B,$1000M") == [1e9, 2e9, 4e9]
    assert parse_budgets("7e8:7e8:1e8") == [7e8]


@pytest.mark.parametrize("text", ["lots", "1e9:5e8:1e8", "1e9:2e9:0", "1e9:2e9", "1:2:3:4", "-1e9,2e9", ",",
                                  "0:8e9:1", "0:1e15:1e-300", "0:1:5e-324", "0:0.05:0.001"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(ValueError):
        parse_budgets(text)


# ----------------------------------------------------------------------------- the sweep


@pytest.mark.parametrize("seed", [1, 7])
def test_same_day_never_falls_and_each_budget_is_optimal(seed, tmp_path):
    """Exact solves (gap 0) on tiny instances: each budget matches brute force, and the same-day
    curve never falls as the budget rises."""
    directory = small_instance(tmp_path / "tiny", seed=seed)
    budgets = [b * 1e6 for b in range(0, 130, 10)]
    table = run_sweep(directory, budgets, SolveOptions(mip_gap=0), out=tmp_path / "sweep", workers=1, progress=False)
    assert (table["status"] == "optimal").all()
    assert np.all(np.diff(table["same_day_population"]) >= 0)
    raw = read_raw(directory)
    for row in table.itertuples():
        plan = read_plan(tmp_path / "sweep" / row.plan_dir)
        check = evaluate(raw, dict(zip(plan.sites["site_id"], plan.sites["action"])))
        assert (check["same_day_population"], check["next_day_population"]) == \
            (row.same_day_population, row.next_day_population)
        assert check["cost"] == pytest.approx(row.cost) and row.cost <= row.budget
        if row.budget in (0, 30e6, 60e6, 120e6):
            raw.scenario["budget"] = row.budget
            assert brute_force(raw) == pytest.approx((row.same_day_population, row.next_day_population, row.cost))


def test_sweep_directory_contract(tiny, tmp_path):
    out = tmp_path / "sweep"
    table = run_sweep(tiny, [40e6, 20e6, 60e6], SolveOptions(), out=out, workers=1, progress=False)
    csv = pd.read_csv(out / "sweep.csv")
    assert list(csv.columns) == list(SWEEP_COLUMNS)
    assert list(csv["budget"]) == [20e6, 40e6, 60e6]
    for row in csv.itertuples():  # each stage's bound, as its plan states it
        stages = read_plan(out / row.plan_dir).summary["stages"]
        assert [getattr(row, f"{stage['stage']}_bound") for stage in stages] == [stage["bound"] for stage in stages]
    # One chain at the default gap: each budget starts from the plan before, so it cannot fall.
    assert csv["same_day_population"].is_monotonic_increasing
    pd.testing.assert_frame_equal(csv, read_sweep(out))
    pd.testing.assert_frame_equal(csv, table, check_dtype=False)
    assert sorted(p.name for p in out.iterdir()) == [
        "budget-20000000", "budget-40000000", "budget-60000000", "sweep.csv", "sweep.png"]
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for row in csv.itertuples():
        plan = read_plan(out / row.plan_dir)
        s = plan.summary
        assert s["budget"] == row.budget and s["scenario"]["budget"] == row.budget and s["status"] == row.status
        assert (s["same_day_population"], s["next_day_population"], s["cost"]) == \
            (row.same_day_population, row.next_day_population, row.cost)
        assert row.mip_gap == max(stage["mip_gap"] for stage in s["stages"]) and row.mip_gap <= 1e-4
        assert (row.upgrades, row.new_stations, row.new_centers) == \
            (s["actions"]["upgrade"], s["actions"]["open_station"], s["actions"]["open_center"])
        assert row.baseline_same_day_population == s["baseline_same_day_population"]


def test_rerun_keeps_matching_plans_and_solves_the_rest(tiny, tmp_path):
    out = tmp_path / "sweep"
    run_sweep(tiny, [20e6, 40e6], SolveOptions(), out=out, workers=1, progress=False)
    first = {d: (out / d / "plan.json").read_text() for d in ("budget-20000000", "budget-40000000")}
    (out / ".budget-40000000.partial-k2_9zq0a").mkdir()  # what a kill during write_plan leaves
    (out / ".sweep.csv.4242").write_text("budget\n")  # and during the table's write
    run_sweep(tiny, [20e6, 40e6, 60e6], SolveOptions(), out=out, workers=1, progress=False)
    assert all((out / d / "plan.json").read_text() == text for d, text in first.items())
    assert (out / "budget-60000000").is_dir() and not (out / ".budget-40000000.partial-k2_9zq0a").exists()
    assert not (out / ".sweep.csv.4242").exists()
    assert len(read_sweep(out)) == 3
    # Another requested gap is another plan: nothing is kept.
    run_sweep(tiny, [20e6, 40e6], SolveOptions(mip_gap=0), out=out, workers=1, progress=False)
    for d in first:
        assert json.loads((out / d / "plan.json").read_text())["mip_gap_requested"] == 0
    assert list(read_sweep(out)["budget"]) == [20e6, 40e6]


def test_a_resumed_sweep_past_the_budget_that_reaches_everyone_gives_the_same_plans(tiny, tmp_path):
    """From $60M tiny's plans reach everyone, and each budget after carries the cost bound of the
    one before: read from the plan kept on disk when a sweep resumes, so that it gives the plans
    and bounds of a sweep that ran through."""
    budgets = [60e6, 80e6, 100e6]
    reference = tmp_path / "through"
    run_sweep(tiny, budgets, SolveOptions(), out=reference, workers=1, progress=False)
    resumed = tmp_path / "resumed"
    run_sweep(tiny, budgets[:2], SolveOptions(), out=resumed, workers=1, progress=False)
    run_sweep(tiny, budgets, SolveOptions(), out=resumed, workers=1, progress=False)
    assert_same_plans(resumed, reference, budgets)
    raw = read_raw(tiny)
    for name in read_sweep(reference)["plan_dir"]:
        summary = read_plan(reference / name).summary
        assert summary["status"] == "optimal"
        raw.scenario["budget"] = summary["budget"]
        assert brute_force(raw)[2] >= next(s["bound"] for s in summary["stages"] if s["stage"] == "cost") - 1e-6


def test_time_limited_budgets_are_marked_not_optimal(tmp_path):
    directory = small_instance(tmp_path / "hard", seed=2, zones=20000, centers=3, stations=40, candidates=3000,
                               budget=400e6, south=36.0, north=46.0, west=-104.0, east=-90.0)
    table = run_sweep(directory, [300e6, 400e6], SolveOptions(mip_gap=0, time_limit=0.2), out=tmp_path / "sweep",
                      workers=1, progress=False)
    assert (table["status"] == "time_limit").all()
    assert (table["cost"] <= table["budget"]).all()
    # The chart sweep.png is drawn from: both budgets circled on both curves, both bars hatched.
    top, bottom = sweep_curve(table, scenario_budget=400e6).axes
    legend = [text.get_text() for text in top.get_legend().get_texts()]
    assert "not proven optimal (time_limit)" in legend and "scenario budget $400M" in legend
    rings = [c for c in top.collections if len(c.get_offsets()) and (c.get_facecolors().size == 0
                                                                   or not c.get_facecolors()[:, 3].any())]
    assert [len(c.get_offsets()) for c in rings] == [2, 2]
    assert sum(bool(bar.get_hatch()) for bar in bottom.patches) == 2

    # The command's closing table names, under it, every stage each such budget left short of its
    # gap, with the bound its plan states (in people or dollars) where the stage found one.
    result = run_cli("sweep", directory, "--budgets", "300e6,400e6", "--mip-gap", "0", "--time-limit", "0.2",
                     "--workers", "1", "--out", tmp_path / "cli-sweep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = result.stdout.split("budgets NOT proven optimal")[1].splitlines()[1:-1]
    expected = []
    for budget, name in zip(*read_sweep(tmp_path / "cli-sweep")[["budget", "plan_dir"]].T.to_numpy()):
        summary = read_plan(tmp_path / "cli-sweep" / name).summary
        for stage in summary["stages"]:
            if stage["status"] != "optimal":
                expected.append((f"${budget:,.0f}", stage["stage"], stage["status"], stage["bound"]))
    assert len(listed) == len(expected) >= 2
    for line, (budget, stage, status, bound) in zip(listed, expected):
        assert line.split()[:3] == [budget, stage, status]
        assert ("; bound " in line) == (bound is not None)
        if stage == "cost" and bound is not None:
            assert line.endswith(f"; bound ${bound / 1e6:,.1f}M")
        elif bound is not None:
            people = f"{int(bound):,}" if float(bound).is_integer() else f"{bound:,.2f}"
            assert line.endswith(f"; bound {people} people")


# ----------------------------------------------------------------------------- resuming and clusters


def test_killed_sweep_resumes_to_the_same_plans(mid, mid_reference, tmp_path):
    out = tmp_path / "sweep"
    args = ("sweep", mid, "--budgets", ",".join(f"{b:.0f}" for b in MID_BUDGETS), "--out", out, "--workers", 2)
    # Its own session, so the kill reaches the worker processes too.
    sweep = subprocess.Popen([sys.executable, "-m", "ruralreach", *map(str, args)], cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("budget-*")) and sweep.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    finished = sorted(out.glob("budget-*"))
    assert finished and len(finished) < len(MID_BUDGETS) and not (out / "sweep.csv").exists()
    kept = {d.name: (d / "plan.json").read_text() for d in finished}

    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert all((out / name / "plan.json").read_text() == text for name, text in kept.items())
    assert_same_plans(out, mid_reference, MID_BUDGETS)


def test_dask_cluster_gives_the_same_plans(mid, mid_reference, tmp_path):
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        # No --workers: one chain per worker thread of the cluster, two, as in the reference.
        table = run_sweep(mid, MID_BUDGETS, SolveOptions(), out=tmp_path / "sweep",
                          scheduler=cluster.scheduler_address, progress=False)
    assert len(table) == len(MID_BUDGETS)
    assert_same_plans(tmp_path / "sweep", mid_reference, MID_BUDGETS)


def sweep_command(mid, out, scheduler) -> list[str]:
    budgets = ",".join(f"{b:.0f}" for b in MID_BUDGETS)
    return [sys.executable, "-m", "ruralreach", "sweep", str(mid), "--budgets", budgets, "--out", str(out),
            "--scheduler", scheduler]


def wait_for_a_plan(out: Path, sweep: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not list(out.glob("budget-*")) and sweep.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sweep.poll() is None, "the sweep ended before the fault"


def disturbed_dask_sweep(mid, out: Path, disturb) -> tuple[int, str]:
    """Run the sweep command on a local Dask cluster of two worker processes and, once its first
    plan is written, ``disturb(cluster, sweep)``; the command's exit status and stderr."""
    # stderr goes to a file, not a pipe this process reads only at the end: a full pipe would stop
    # the sweep. A sweep that does not end is made to print where it is stuck (faulthandler on SIGABRT).
    stderr_path = out.parent / f"{out.name}-stderr.txt"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, open(stderr_path, "w") as stderr:
        sweep = subprocess.Popen(sweep_command(mid, out, cluster.scheduler_address), cwd=out.parent,
                                 stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "PYTHONFAULTHANDLER": "1"})
        try:
            wait_for_a_plan(out, sweep)
            disturb(cluster, sweep)
            sweep.wait(timeout=300)
        except subprocess.TimeoutExpired:
            sweep.send_signal(signal.SIGABRT)
            sweep.wait()
            pytest.fail(f"the sweep did not end:\n{stderr_path.read_text()}")
    return sweep.returncode, stderr_path.read_text()


def worker_processes(cluster) -> list[int]:
    """The process ids of a LocalCluster's worker processes."""
    return [nanny.process.process.pid for nanny in cluster.workers.values()]


def kill_a_worker(cluster, sweep) -> None:
    os.kill(worker_processes(cluster)[0], signal.SIGKILL)


def test_a_dask_worker_killed_mid_sweep(mid, mid_reference, tmp_path):
    """Dask solves the killed worker's budget again elsewhere: the sweep finishes with the plans
    of an undisturbed one."""
    status, stderr = disturbed_dask_sweep(mid, tmp_path / "sweep", kill_a_worker)
    assert status == 0, stderr
    assert_same_plans(tmp_path / "sweep", mid_reference, MID_BUDGETS)


def kill_every_worker(cluster, sweep) -> None:
    for pid in worker_processes(cluster):
        os.kill(pid, signal.SIGKILL)


def test_every_dask_worker_killed_mid_sweep(mid, mid_reference, tmp_path):
    """With every worker killed at once (their nannies start new ones), nothing the cluster held
    survives, the instance sent to it included: Dask computes it again, and the sweep finishes
    with the plans of an undisturbed one. (Sent as scattered data, the instance was lost for good
    and the sweep stopped with "task cancelled".)"""
    status, stderr = disturbed_dask_sweep(mid, tmp_path / "sweep", kill_every_worker)
    assert status == 0, stderr
    assert_same_plans(tmp_path / "sweep", mid_reference, MID_BUDGETS)


def interrupt_with_the_workers_paused(cluster, sweep) -> None:
    """Ctrl-C while budgets are still solving, for certain: the workers are stopped first (so the
    sweep cannot finish meanwhile however late this process sees the first plan), and the sweep
    must end without waiting for them."""
    workers = worker_processes(cluster)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        assert sweep.poll() is None, "the sweep ended before the fault"
        sweep.send_signal(signal.SIGINT)
        sweep.wait(timeout=60)
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)


def test_ctrl_c_on_a_dask_sweep(mid, tmp_path):
    out = tmp_path / "sweep"
    status, stderr = disturbed_dask_sweep(mid, out, interrupt_with_the_workers_paused)
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("sweep:")]
    assert status == 130 and len(lines) == 1 and lines[0].startswith("ruralreach: interrupted"), stderr
    kept = list(out.iterdir())
    assert len(kept) < len(MID_BUDGETS) and all(p.name.startswith("budget-") and verify_plan(p) for p in kept)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dask_scheduler_restarted_mid_sweep(mid, mid_reference, tmp_path):
    """The sweep says in one line which budget it could not solve and keeps what it finished; run
    again on the restarted cluster, it ends with the plans of an undisturbed sweep."""
    out, port = tmp_path / "sweep", _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))

    def start(*args):
        return subprocess.Popen([dask, *args, "--no-dashboard"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    def start_workers():
        workers = start("worker", address, "--nworkers", "2", "--nthreads", "1")
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        return workers

    scheduler = start("scheduler", "--host", "127.0.0.1", "--port", str(port))
    workers = start_workers()
    try:
        sweep = subprocess.Popen(sweep_command(mid, out, address), cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        wait_for_a_plan(out, sweep)
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait()
        scheduler = start("scheduler", "--host", "127.0.0.1", "--port", str(port))
        _, stderr = sweep.communicate(timeout=300)
        if sweep.returncode != 0:
            lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("sweep:")]
            assert sweep.returncode == 1 and len(lines) == 1, stderr
            assert lines[0].startswith("ruralreach: error: could not solve the budget $"), stderr
            assert "run the same command again" in lines[0]
        assert all(verify_plan(plan) for plan in out.glob("budget-*"))  # what was kept is whole
        # Workers of a lost scheduler shut down: the operator starts them again.
        os.killpg(workers.pid, signal.SIGKILL)
        workers.wait()
        workers = start_workers()
        result = subprocess.run(sweep_command(mid, out, address), cwd=tmp_path, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr
        assert_same_plans(out, mid_reference, MID_BUDGETS)
    finally:
        for group in (scheduler, workers):
            os.killpg(group.pid, signal.SIGKILL)
            group.wait()


# ----------------------------------------------------------------------------- the command


def test_sweep_command(tiny, tmp_path):
    result = run_cli("sweep", tiny, "--budgets", "20M:60M:20M", "--workers", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "sweeps" / "tiny"
    assert list(read_sweep(out)["budget"]) == [20e6, 40e6, 60e6]
    assert "sweeps/tiny" in result.stdout
    # One printed row per budget: its dollars and its status, as in sweep.csv.
    printed = {row.split()[0]: row.split()[1] for row in result.stdout.splitlines() if row.strip().startswith("$")}
    assert printed == {f"${b:,.0f}": status for b, status in zip(read_sweep(out)["budget"], read_sweep(out)["status"])}
    assert set(printed.values()) == {"optimal"}
    assert "budget" in result.stderr  # the progress bar
    help_text = run_cli("sweep", "--help", cwd=tmp_path).stdout
    for option in ("--budgets", "--out", "--workers", "--scheduler", "--mip-gap", "--time-limit", "INSTANCE_DIR"):
        assert option in help_text


@pytest.mark.parametrize("args", [["--budgets", "lots"], ["--budgets", "2e9:1e9:1e8"], [],
                                  ["--budgets", "1e9", "--workers", "0"], ["--budgets", "1e9", "--nonsense"]])
def test_sweep_usage_errors_exit_2(args, tiny, tmp_path):
    result = run_cli("sweep", tiny, *args, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_usage_line(result.stderr)
    assert not (tmp_path / "sweeps").exists()


def test_sweep_of_a_missing_instance_exits_2(tmp_path):
    result = run_cli("sweep", tmp_path / "nowhere", "--budgets", "1e9", cwd=tmp_path)
    assert result.returncode == 2 and "instance directory not found" in result.stderr
    assert not (tmp_path / "sweeps").exists()
