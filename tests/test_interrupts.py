"""Ctrl-C at any moment: one line, exit status 130, no plan and nothing else left behind (or, when
the plan was already written, exit status 0 and the whole plan). Real solves in child processes,
interrupted as a terminal does: SIGINT to the whole process group. And time limits: what is not
a number of seconds is refused, and a limit bounds the whole command."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, small_instance

from ruralreach.model.plan import _lock_file, is_plan, read_plan, verify_plan
from ruralreach.solvers import highs


@pytest.fixture(scope="module")
def hard(tmp_path_factory) -> Path:
    """An instance whose exact solve keeps HiGHS busy for many seconds at budgets of $700M and more."""
    return small_instance(tmp_path_factory.mktemp("hard") / "hard", seed=2, zones=20000, centers=3, stations=40,
                          candidates=3000, budget=400e6, south=36.0, north=46.0, west=-104.0, east=-90.0)


def interrupt(args, cwd: Path, *, after: float = 0.0, when_printed: str | None = None) -> subprocess.CompletedProcess:
    """Run the command, and press Ctrl-C ``after`` seconds from its start, or from when it prints
    ``when_printed`` on stdout."""
    command = [sys.executable, "-m", "ruralreach", *map(str, args)]
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    printed = []
    if when_printed is not None:
        for line in child.stdout:
            printed.append(line)
            if when_printed in line:
                break
    time.sleep(after)
    os.killpg(child.pid, signal.SIGINT)
    stdout, stderr = child.communicate(timeout=120)
    return subprocess.CompletedProcess(command, child.returncode, "".join(printed) + stdout, stderr)


def assert_interrupted(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr and "terminate called" not in result.stderr
    # The progress bar of a sweep aside, one line.
    lines = [line for line in result.stderr.splitlines() if not line.startswith("sweep:") and line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ruralreach: interrupted"), result.stderr


def test_ctrl_c_while_highs_solves(hard, tmp_path):
    result = interrupt(["solve", hard, "--mip-gap", "0", "--budget", "800M", "--out", tmp_path / "plan", "--log"],
                       tmp_path, after=0.3, when_printed="Running HiGHS")
    assert_interrupted(result)
    assert list(tmp_path.iterdir()) == []  # no plan, no staging directory


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_while_a_sweep_solves(hard, tmp_path, workers):
    out = tmp_path / "sweep"
    result = interrupt(["sweep", hard, "--budgets", "700M,800M", "--mip-gap", "0", "--workers", workers,
                        "--out", out, "--log"], tmp_path, after=0.3, when_printed="Running HiGHS")
    assert_interrupted(result)
    assert "run the same command again" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] in ([], ["sweep"])  # made by its first plan
    # Only finished plans, nothing half written.
    assert not out.exists() or all(p.name.startswith("budget-") and is_plan(p) for p in out.iterdir())
    assert not out.exists() or list(out.iterdir())


@pytest.mark.parametrize("after", [0.6, 1.0, 1.4, 1.8])
def test_ctrl_c_while_a_sweeps_workers_start(hard, tmp_path, after):
    """Workers still importing their modules when Ctrl-C reaches the whole terminal: one line, no
    worker's traceback."""
    out = tmp_path / "sweep"
    result = interrupt(["sweep", hard, "--budgets", "700M,800M", "--mip-gap", "0", "--workers", "2", "--out", out],
                       tmp_path, after=after)
    if result.returncode != 0:
        assert_interrupted(result)
        assert not out.exists() or list(out.iterdir())  # no sweep directory without a plan


def test_ctrl_c_to_a_sweeps_own_process_ends_its_workers_at_once(hard, tmp_path):
    """SIGINT to the sweep's process alone (``kill -INT``): its workers, which the signal does not
    reach, are ended with it, not waited for until they finish their budgets."""
    command = [sys.executable, "-m", "ruralreach", "sweep", str(hard), "--budgets", "700M,800M", "--mip-gap", "0",
               "--workers", "2", "--out", str(tmp_path / "sweep"), "--log"]
    child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in child.stdout:  # a worker is solving
        if "Running HiGHS" in line:
            break
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    began = time.monotonic()
    stdout, stderr = child.communicate(timeout=120)
    assert time.monotonic() - began < 5.0, stderr  # the exact solves take much longer
    assert_interrupted(subprocess.CompletedProcess(command, child.returncode, stdout, stderr))


# The command, run with a thread of its own that, once the file named first exists, stops the
# worker processes (so that no budget can finish meanwhile), writes their ids to that file's
# ".workers" twin and sends itself Ctrl-C: the kernel gives a process's signal to any of its
# threads, and Dask's and the progress bar's threads are as likely to get it as the main one.
CTRL_C_TO_ANOTHER_THREAD = """
import multiprocessing, os, signal, sys, threading, time
from pathlib import Path
from ruralreach.__main__ import run

def press_when_asked(trigger):
    while not trigger.exists():
        time.sleep(0.01)
    workers = [child.pid for child in multiprocessing.active_children()]
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    trigger.with_suffix(".workers").write_text(" ".join(map(str, workers)))
    signal.pthread_kill(threading.get_ident(), signal.SIGINT)

threading.Thread(target=press_when_asked, args=(Path(sys.argv[1]),), daemon=True).start()
sys.argv = ["ruralreach", *sys.argv[2:]]
sys.exit(run())
"""


def test_ctrl_c_that_reaches_another_thread_of_a_sweep(hard, tmp_path):
    """The sweep's main thread, waiting for its workers, hears a Ctrl-C the kernel gave to another
    of its threads (it heard it only once a budget finished: never, with its workers stopped)."""
    trigger, stderr_path = tmp_path / "press", tmp_path / "stderr.txt"
    command = [sys.executable, "-c", CTRL_C_TO_ANOTHER_THREAD, str(trigger), "sweep", str(hard), "--budgets",
               "700M,800M", "--mip-gap", "0", "--workers", "2", "--out", str(tmp_path / "sweep"), "--log"]
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        for line in child.stdout:  # a worker is solving
            if "Running HiGHS" in line:
                break
        trigger.touch()
        heard = time.monotonic() + 10.0
        while "ruralreach: interrupted" not in stderr_path.read_text() and time.monotonic() < heard:
            time.sleep(0.05)
        assert "ruralreach: interrupted" in stderr_path.read_text(), "the sweep did not hear Ctrl-C"
    finally:
        workers = trigger.with_suffix(".workers")
        while child.poll() is None and not workers.exists():
            time.sleep(0.01)
        # Unheard, the sweep and its workers (which hold its stdout) are ended here.
        unheard = "ruralreach: interrupted" not in stderr_path.read_text()
        for pid in map(int, workers.read_text().split() if workers.exists() else []):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL if unheard else signal.SIGCONT)
        if unheard:
            child.kill()
        child.communicate(timeout=120)
    assert_interrupted(subprocess.CompletedProcess(command, child.returncode, "", stderr_path.read_text()))


@pytest.mark.parametrize("after", [0.15, 0.4, 0.7, 1.0, 1.3, 1.6])
def test_ctrl_c_at_any_moment_of_a_solve(tiny, tmp_path, after):
    """From loading the modules to writing the plan: either interrupted with nothing written, or
    finished with the whole plan."""
    out = tmp_path / "plans" / "plan"
    result = interrupt(["solve", tiny, "--out", out], tmp_path, after=after)
    if result.returncode == 0:
        assert read_plan(out).summary["status"] == "optimal"
        assert [p.name for p in out.parent.iterdir()] == ["plan"]
    else:
        assert_interrupted(result)
        assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no staging directory either
    assert sorted(p.name for p in tmp_path.iterdir()) in (["tiny"], ["plans", "tiny"])


# A run HiGHS 1.16 does not hear a cancel in for minutes: a multi-dimensional knapsack's presolve,
# heuristics and root LP make no interrupt check. Ctrl-C arrives two seconds into the run.
UNHEARD = """
import os, signal, sys, threading
import highspy, numpy as np
from scipy import sparse
from ruralreach import cli
from ruralreach.model import plan
from ruralreach.solvers import highs

n, m, k = 20000, 2000, 6
rng = np.random.default_rng(2)
rows = np.sort(rng.integers(0, m, (n, k)), axis=1).ravel()
A = sparse.csc_matrix((np.round(rng.random(n * k) * 100) + 1, rows, np.arange(0, n * k + 1, k)), shape=(m, n))
A.sum_duplicates()
h = highspy.Highs()
h.setOptionValue("output_flag", False)
h.setOptionValue("threads", 1)
h.passModel(n, m, A.nnz, int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMaximize), 0.0,
            rng.integers(1, 100, n).astype(float), np.zeros(n), np.ones(n), np.full(m, -highspy.kHighsInf),
            0.3 * np.asarray(A.sum(axis=1)).ravel(), A.indptr.astype(np.int32), A.indices.astype(np.int32),
            A.data, np.ones(n, dtype=np.int32))
signal.signal(signal.SIGINT, signal.default_int_handler)  # as the command does: a parent may ignore it
threading.Timer(2.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
if sys.argv[1] == "command":  # holding a plan's place, as the command does
    end = lambda: cli._end_interrupted(cli.say_interrupted)
    with plan.plan_place(sys.argv[2]), highs.when_a_cancel_goes_unheard(end):
        try:
            highs._run_guarded(h, None)
        except KeyboardInterrupt:
            sys.exit("HiGHS heard the cancel")
else:  # Python with no policy: the wait goes on, and a warning says why (this child then ends)
    import time, warnings
    def shown(message, category, *args, **kwargs):
        print(f"{category.__name__}: {message}", file=sys.stderr, flush=True)
        os._exit(0)
    warnings.showwarning = shown
    if sys.argv[1] == "held down":  # Ctrl-C again every few milliseconds after the first
        def press():
            while True:
                time.sleep(0.003)
                os.kill(os.getpid(), signal.SIGINT)
        threading.Timer(2.05, press).start()
    try:
        highs._run_guarded(h, None)
    except KeyboardInterrupt:
        print("the wait ended with HiGHS still running", file=sys.stderr, flush=True)
        os._exit(3)
"""


def test_ctrl_c_that_highs_does_not_hear_ends_the_command_at_once(tmp_path):
    """Ctrl-C inside a MIP's presolve or root LP, where HiGHS makes no interrupt check (minutes on
    the capacitated national network): the command's policy ends the process a second after
    the cancel (the command waited for the root LP before), with its one line and status 130, and
    the lock file of the plan's place removed, as unwinding would have."""
    out = tmp_path / "plan"
    began = time.monotonic()
    result = subprocess.run([sys.executable, "-c", UNHEARD, "command", out], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 130, result.stderr
    assert result.stderr == "ruralreach: interrupted; no plan written\n"
    assert time.monotonic() - began < 2.0 + highs.CANCEL_PATIENCE_SECONDS + 20  # start-up and building, with room
    assert not _lock_file(out).exists() and not out.exists()


def test_ctrl_c_that_highs_does_not_hear_is_waited_for_in_python_with_a_warning(tmp_path):
    """Called from Python (a notebook), the same Ctrl-C waits for HiGHS, and a warning says why,
    a second after the cancel."""
    result = subprocess.run([sys.executable, "-c", UNHEARD, "python"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ("RuntimeWarning: HiGHS is in its presolve or a MIP's root LP, where it hears no cancel: "
                             "waiting for it to stop (another Ctrl-C does not stop it sooner; restarting "
                             "the kernel or ending the process does)\n")


def test_ctrl_c_held_down_waits_for_highs_all_the_same(tmp_path):
    """Every Ctrl-C after the first arrives while HiGHS is being stopped. None may end the wait
    (Python 3.11's Thread.join, interrupted, took the thread for ended), or the process ends with
    HiGHS running, which aborts it (std::terminate)."""
    result = subprocess.run([sys.executable, "-c", UNHEARD, "held down"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("RuntimeWarning: HiGHS is in its presolve or a MIP's root LP")


@pytest.mark.parametrize("limit", ["inf", "nan", "-1"])
def test_time_limits_that_are_no_number_of_seconds(limit, tiny, tmp_path):
    result = run_cli("solve", tiny, "--time-limit", limit, "--out", tmp_path / "p", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"ruralreach solve: error: argument --time-limit: must be a finite number of seconds > 0, "
                             f"got {limit!r} (see ruralreach solve --help)\n")
    assert not (tmp_path / "p").exists()


def test_a_time_limit_longer_than_any_solve(tiny, tmp_path):
    result = run_cli("solve", tiny, "--time-limit", "1e10", "--out", tmp_path / "p", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_plan(tmp_path / "p").summary["status"] == "optimal"


def hard_solve(hard: Path, tmp_path: Path, limit: float) -> list[str]:
    """The command of an exact solve of ``hard`` that the time limit stops, with progress lines."""
    return [sys.executable, "-m", "ruralreach", "solve", str(hard), "--mip-gap", "0", "--budget", "800M",
            "--time-limit", str(limit), "--out", str(tmp_path / "p"), "--progress"]


@pytest.mark.parametrize("limit", [6, 10])
def test_a_time_limit_bounds_the_whole_command(hard, tmp_path, limit):
    """From process start to exit, reading and writing included, within the limit and a second
    (two here: tests run beside other tests, where writing the plan can take longer than the time
    the command keeps for it); the plan is the best found, marked time_limit. (At this budget the
    exact solve alone takes several times the limit.) Start-up, reading the instance and its
    reach are not cut short: they take 4-5 s on an idle 2-core machine and more with other tests
    beside them, so where they take the whole limit, the command must end soon after them."""
    began = time.monotonic()
    child = subprocess.Popen(hard_solve(hard, tmp_path, limit), cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    # Each progress line gives the seconds since the solve began: when it arrives, less those, is
    # when the solve began.
    solve_began, stderr = None, []
    for line in child.stderr:
        stderr.append(line)
        if solve_began is None and line.startswith("ruralreach:"):
            solve_began = time.monotonic() - began - float(line.split()[1])
    child.wait(timeout=120)
    seconds = time.monotonic() - began
    assert child.returncode == 0, "".join(stderr)
    assert solve_began is not None
    assert seconds <= max(limit, solve_began) + 2, (seconds, solve_began)
    plan = read_plan(tmp_path / "p")
    assert plan.summary["status"] == "time_limit"
    assert plan.summary["cost"] <= plan.summary["budget"]


def test_a_reader_that_leaves_early_does_not_stop_the_solve(hard, tmp_path):
    """``ruralreach solve --progress 2>&1 | head -1``: the reader closes the pipe after the first
    progress line while the solve goes on printing; the solve still ends with its whole plan and
    exit status 0 (it ended with exit status 1 and no plan while progress lines raised BrokenPipeError)."""
    child = subprocess.Popen(hard_solve(hard, tmp_path, 8), cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    first = child.stdout.readline()
    child.stdout.close()  # the reader leaves
    assert child.wait(timeout=120) == 0
    assert first.startswith("ruralreach:"), first
    plan = read_plan(tmp_path / "p")
    assert plan.summary["status"] == "time_limit" and len(plan.zones) == 20000


@pytest.mark.parametrize("command", ["solve", "sweep"])
@pytest.mark.parametrize("output", ["stdout closed", "stderr closed", "stdout full", "stderr full"])
def test_output_that_goes_nowhere_does_not_stop_the_command(command, output, tiny, tmp_path):
    """A stream closed before the command starts (``>&-``, ``2>&-``) or a full disk behind it
    (``>/dev/full``): what cannot be written is dropped, and the plans are written all the same
    (a closed stream ended the command with a traceback and exit status 120, a full one with 1)."""
    stream, what = output.split()
    fd = {"stdout": 1, "stderr": 2}[stream]
    args = (["solve", tiny, "--out", tmp_path / "p", "--progress"] if command == "solve" else
            ["sweep", tiny, "--budgets", "10M,20M", "--workers", "2", "--out", tmp_path / "s"])
    full = open("/dev/full", "w") if what == "full" else None
    try:
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, stream: full or subprocess.DEVNULL}
        result = subprocess.run([sys.executable, "-m", "ruralreach", *map(str, args)], cwd=tmp_path, text=True,
                                timeout=300, preexec_fn=(lambda: os.close(fd)) if what == "closed" else None,
                                **streams)
    finally:
        if full:
            full.close()
    heard = result.stderr if stream == "stdout" else result.stdout
    assert result.returncode == 0, heard
    assert "Traceback" not in heard
    plans = ([tmp_path / "p"] if command == "solve" else
             [tmp_path / "s" / d for d in ("budget-10000000", "budget-20000000")])
    assert all(verify_plan(plan) for plan in plans)


@pytest.mark.parametrize("args", [["place", "p", "Z000003"], ["--help"], ["solve", "--help"], ["--version"]])
def test_an_answer_that_cannot_be_written_is_an_error(args, tiny, tmp_path):
    """Where the output is the command's answer, a full disk behind it is exit status 1 with the
    reason, not exit 0 with nothing written (a reader that leaves, ``| head``, is not an error)."""
    if args[0] == "place":
        assert run_cli("solve", tiny, "--out", tmp_path / "p", cwd=tmp_path).returncode == 0
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "ruralreach", *args], cwd=tmp_path, text=True, timeout=300,
                                stdout=full, stderr=subprocess.PIPE)
    assert result.returncode == 1, result.stderr
    assert result.stderr == "ruralreach{}: error: the answer could not be written to stdout: No space left on " \
                            "device\n".format(" solve" if args[:2] == ["solve", "--help"] else ""), result.stderr
    delivered = subprocess.run([sys.executable, "-m", "ruralreach", *args], cwd=tmp_path, text=True, timeout=300,
                               capture_output=True)
    assert delivered.returncode == 0 and delivered.stdout and not delivered.stderr, delivered
