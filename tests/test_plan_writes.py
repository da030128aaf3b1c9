"""Nothing is lost, whatever the user does: where a plan or a sweep may be written, atomic
replacement, a second writer, and damaged plans in a sweep."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli, small_instance

from ruralreach.model.instance import load_instance
from ruralreach.model.plan import PLAN_FILES, PlanDamagedError, plan_place, read_plan, verify_plan, write_plan
from ruralreach.review import read_sweep
from ruralreach.solvers.highs import SolveOptions
from ruralreach.sweep import run_sweep


def snapshot(directory: Path) -> dict:
    """Every file below ``directory`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def assert_refused(result, *words) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert all(word in result.stderr for word in words), result.stderr
    assert result.stdout == ""  # refused before any solve


@pytest.fixture
def someones_files(tmp_path) -> Path:
    directory = tmp_path / "thesis"
    (directory / "chapters").mkdir(parents=True)
    (directory / "draft.tex").write_text("years of work")
    (directory / "chapters" / "one.tex").write_text("more")
    return directory


# ----------------------------------------------------------------------------- where a plan may go


def test_out_at_someones_files_is_refused_and_nothing_is_touched(tiny, tmp_path, someones_files):
    before = snapshot(tmp_path)
    assert_refused(run_cli("solve", tiny, "--out", someones_files, cwd=tmp_path), "thesis", "not a plan's")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("directory_named", ["plan.json", "sites.csv"])
def test_out_whose_plan_names_are_directories_is_refused(directory_named, tiny, tmp_path):
    """A directory named like a plan's file (next to a real plan.json, or as plan.json itself)
    holds someone's files, not a plan: nothing in it is replaced, for a plan or a sweep's plan."""
    for out in (tmp_path / "plan", tmp_path / "sweep" / "budget-20000000"):
        (out / directory_named).mkdir(parents=True)
        (out / directory_named / "keep.txt").write_text("mine")
        if directory_named != "plan.json":
            (out / "plan.json").write_text("{}")
    before = snapshot(tmp_path)
    assert_refused(run_cli("solve", tiny, "--out", tmp_path / "plan", cwd=tmp_path), f"{directory_named}/", "not a plan's")
    assert_refused(run_cli("sweep", tiny, "--budgets", "20M,40M", "--out", tmp_path / "sweep", cwd=tmp_path),
                   "not a plan's")
    assert snapshot(tmp_path) == before


def test_out_at_the_instance_directory_is_refused(tiny, tmp_path):
    before = snapshot(tmp_path)
    assert_refused(run_cli("solve", tiny, "--out", tiny, cwd=tmp_path), "not a plan's")
    assert snapshot(tmp_path) == before and load_instance(tiny)


def test_out_at_a_file_is_refused(tiny, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    assert_refused(run_cli("solve", tiny, "--out", tmp_path / "notes.txt", cwd=tmp_path), "is a file")
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_out_at_the_current_directory_is_refused(tiny, tmp_path):
    before = snapshot(tmp_path)
    assert_refused(run_cli("solve", tiny, "--out", ".", cwd=tmp_path), "current directory")
    assert snapshot(tmp_path) == before


def test_out_that_cannot_be_written_is_refused_before_solving(tiny, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    assert_refused(run_cli("solve", tiny, "--out", tmp_path / "notes.txt" / "plan", cwd=tmp_path), "cannot be written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "tiny"]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc file system here")
def test_out_where_nothing_can_be_made_is_refused_before_solving(tiny, tmp_path):
    # /proc takes no new file, even from root, for whom os.access says yes to everything: the
    # plan once failed only after the whole solve (exit 1).
    assert_refused(run_cli("solve", tiny, "--out", "/proc/ruralreach-plan", cwd=tmp_path), "cannot be written")


def test_out_whose_name_is_too_long_to_stage_is_refused_before_solving(tiny, tmp_path):
    # The file system takes the name (255 bytes here), but not the hidden staging name beside it.
    out = tmp_path / ("p" * 240)
    assert_refused(run_cli("solve", tiny, "--out", out, cwd=tmp_path), "cannot be written", "name is too long")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny"]


def test_out_at_a_symbolic_link_is_refused(tiny, tmp_path, someones_files):
    (tmp_path / "link").symlink_to(someones_files)
    before = snapshot(tmp_path)
    assert_refused(run_cli("solve", tiny, "--out", tmp_path / "link", cwd=tmp_path), "symbolic link")
    assert snapshot(tmp_path) == before


def test_out_may_be_new_an_empty_directory_or_an_earlier_plan(tiny, tmp_path):
    out = tmp_path / "deep" / "er" / "plan"
    assert run_cli("solve", tiny, "--out", out, "--budget", "20M", cwd=tmp_path).returncode == 0
    assert run_cli("report", out, cwd=tmp_path).returncode == 0  # a plan directory may hold its report
    result = run_cli("solve", tiny, "--out", out, "--budget", "40M", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_plan(out).summary["budget"] == 40e6
    assert sorted(p.name for p in out.iterdir()) == sorted(PLAN_FILES)  # the old plan's report went with it
    assert [p.name for p in out.parent.iterdir()] == ["plan"]  # no staging directory, no lock file
    (tmp_path / "empty").mkdir()
    assert run_cli("solve", tiny, "--out", tmp_path / "empty", cwd=tmp_path).returncode == 0
    assert verify_plan(tmp_path / "empty")


def test_sweep_out_at_someones_files_is_refused(tiny, tmp_path, someones_files):
    before = snapshot(tmp_path)
    assert_refused(run_cli("sweep", tiny, "--budgets", "20M,40M", "--out", someones_files, cwd=tmp_path),
                   "which a sweep does not write")
    # A budget-* directory holding what a plan does not hold is not a sweep's either.
    (tmp_path / "sweep" / "budget-20000000").mkdir(parents=True)
    (tmp_path / "sweep" / "budget-20000000" / "mine.txt").write_text("mine")
    before = snapshot(tmp_path)
    assert_refused(run_cli("sweep", tiny, "--budgets", "20M,40M", "--out", tmp_path / "sweep", cwd=tmp_path),
                   "not a plan's")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", [".sweep.csv.bak", ".sweep.png.old", ".budget-notes.txt", ".budget-1.partial-mine"])
def test_sweep_out_with_hidden_files_named_like_its_staging_is_refused(name, tiny, tmp_path):
    """Only what a sweep stages itself is its own, to keep or remove: a hidden file of the user's
    that starts like it is the user's."""
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / name).write_text("mine")
    before = snapshot(tmp_path)
    assert_refused(run_cli("sweep", tiny, "--budgets", "20M", "--out", tmp_path / "sweep", cwd=tmp_path),
                   name, "which a sweep does not write")
    assert snapshot(tmp_path) == before


def test_a_solve_removes_its_own_leftover_staging_and_nothing_named_like_it(tiny, tmp_path):
    (tmp_path / ".plan.partial-mine").write_text("mine")  # the user's
    (tmp_path / ".plan.partial-ab_12xyz").mkdir()  # what a writer killed mid-write leaves
    result = run_cli("solve", tiny, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "tiny") == [".plan.partial-mine", "plan"]


# ----------------------------------------------------------------------------- writers


def test_a_second_writer_of_the_same_plan_is_refused(tmp_path):
    """The first writer holds the place from before its solve to its write; the second says so
    and leaves the first plan whole."""
    hard = small_instance(tmp_path / "hard", seed=2, zones=20000, centers=3, stations=40, candidates=3000,
                          budget=400e6, south=36.0, north=46.0, west=-104.0, east=-90.0)
    out = tmp_path / "plans" / "p"
    # At this budget the exact solve takes several times its limit, so the first writer is still
    # solving when it is paused; paused, it holds the place for as long as the second writer
    # takes, however slow the machine. Resumed past its limit, it writes its best plan.
    first = subprocess.Popen([sys.executable, "-m", "ruralreach", "solve", hard, "--out", out, "--mip-gap", "0",
                              "--budget", "800M", "--time-limit", "10", "--log"], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in first.stdout:  # the first writer is solving
        if "Running HiGHS" in line:
            break
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = run_cli("solve", hard, "--out", out, cwd=tmp_path)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 1 and "being written by another ruralreach" in second.stderr, second.stderr
    first.stdout.read()
    assert first.wait(timeout=120) == 0, first.stderr.read()
    assert verify_plan(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["p"]


def test_a_report_waits_for_no_writer(tiny, tmp_path):
    """report.html goes into the plan that is there, whole: not while another process writes it."""
    out = tmp_path / "plan"
    assert run_cli("solve", tiny, "--out", out, cwd=tmp_path).returncode == 0
    with plan_place(out):
        busy = run_cli("report", out, cwd=tmp_path)
    assert busy.returncode == 1 and "being written by another ruralreach" in busy.stderr, busy.stderr
    assert not (out / "report.html").exists()
    assert run_cli("report", out, cwd=tmp_path).returncode == 0
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir() if p.name != "tiny"] == ["plan"]  # no staging file, no lock


def test_a_solve_killed_while_it_solves_leaves_nothing(tmp_path):
    hard = small_instance(tmp_path / "hard", seed=2, zones=20000, centers=3, stations=40, candidates=3000,
                          budget=400e6, south=36.0, north=46.0, west=-104.0, east=-90.0)
    solve = subprocess.Popen([sys.executable, "-m", "ruralreach", "solve", hard, "--out", tmp_path / "plans" / "p",
                              "--mip-gap", "0", "--log"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    for line in solve.stdout:
        if "Running HiGHS" in line:
            break
    solve.kill()
    solve.wait()
    assert [p.name for p in tmp_path.iterdir()] == ["hard"]


READER = """
import os, sys, time
out, names, stop = sys.argv[1], {"plan.json", "sites.csv", "zones.csv"}, time.monotonic() + 60
print("looking", flush=True)
looks = 0
while not os.path.exists(out + ".done") and time.monotonic() < stop:
    # As read_plan looks: each file by its path.
    missing = [name for name in names if not os.path.isfile(os.path.join(out, name))]
    if missing:
        print("missing", missing); sys.exit(1)
    looks += 1
print(looks)
"""


def test_a_reader_always_finds_one_whole_plan(tiny, tmp_path):
    """While a plan is replaced again and again, another process looking for its files, as
    read_plan does, never finds one missing."""
    out = tmp_path / "plan"
    assert run_cli("solve", tiny, "--out", out, cwd=tmp_path).returncode == 0
    reader = subprocess.Popen([sys.executable, "-c", READER, str(out)], stdout=subprocess.PIPE, text=True)
    assert reader.stdout.readline() == "looking\n"
    plan = read_plan(out)
    for _ in range(300):
        write_plan(plan, out)
    Path(str(out) + ".done").touch()
    stdout, _ = reader.communicate(timeout=120)
    assert reader.returncode == 0, stdout
    assert int(stdout) > 300


# ----------------------------------------------------------------------------- damaged plans


@pytest.mark.parametrize("file", ["sites.csv", "zones.csv"])
@pytest.mark.parametrize("recorded", [True, False], ids=["files recorded", "plan written before files were recorded"])
def test_a_sweep_solves_again_a_plan_cut_short(tiny, tmp_path, file, recorded):
    out = tmp_path / "sweep"
    run_sweep(tiny, [20e6, 40e6], SolveOptions(), out=out, workers=1, progress=False)
    whole = {name: (out / "budget-40000000" / name).read_bytes() for name in ("sites.csv", "zones.csv")}
    damaged = out / "budget-40000000"
    if not recorded:
        summary = json.loads((damaged / "plan.json").read_text())
        del summary["files"]
        (damaged / "plan.json").write_text(json.dumps(summary))
    data = (damaged / file).read_bytes()
    (damaged / file).write_bytes(data[:data.rindex(b"\n", 0, len(data) // 2) + 1])  # whole rows, half of them
    with pytest.raises(PlanDamagedError, match=file):
        verify_plan(damaged)
    run_sweep(tiny, [20e6, 40e6], SolveOptions(), out=out, workers=1, progress=False)
    assert verify_plan(damaged)["files"][file]["rows"] == len(read_plan(damaged).sites if file == "sites.csv"
                                                              else read_plan(damaged).zones)
    assert {name: (damaged / name).read_bytes() for name in whole} == whole
    assert len(read_sweep(out)) == 2
