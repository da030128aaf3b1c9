"""ruralreach's benchmark (issue 4): the national solve, scaling, and a peer (PySAL spopt).

    python benchmarks/bench.py [--quick] [--repeats N] [--only national,scaling,peers]

Prints plain-text tables. Sections:

national  The whole ``ruralreach solve`` process (read, validate, reach, reduce, build, solve,
          write) on instances/us-2026 at its $4B budget: median of --repeats runs at the default
          gap (target <= 10 s) and at --mip-gap 0 (target <= 120 s). Then each phase once,
          in-process; the reduced sizes; and the Pyomo statement and Pyomo's HiGHS interface
          against the array model and our HiGHS path (the measurement that chose the array path).
scaling   Synthetic instances of 3,000 / 10,000 / 33,000 / 100,000 zones (sites and budget scaled
          with the zones; generation not timed), each solved by a ``ruralreach solve`` process at
          the default gap: wall time, the child's peak memory, status and gaps. Target: 100,000
          zones <= 60 s and <= 2 GiB. --quick skips 100,000.
peers     spopt's MCLP (PuLP; HiGHS and CBC) against ruralreach on the single-tier problem spopt
          can express (same-day stage of the national instance, centers predefined, p = 200
          facilities added); see benchmarks/peers.py. Target: ruralreach >= 20x faster at equal
          objective. Needs the bench extra: pip install -e '.[bench]'.

Wall times are of whole processes (subprocess.Popen to os.wait4). Peak memory is the child's
largest resident set, ru_maxrss, as GNU time (/usr/bin/time -f %M) reads it from wait4 for that
one child; it includes processes the child waited for (CBC under PuLP). Solves run one at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ruralreach.instances import bundled

ROOT = Path(__file__).resolve().parents[1]

NATIONAL = bundled()
SECTIONS = ("national", "scaling", "peers")
SCALING_ZONES = (3_000, 10_000, 33_000, 100_000)
LOAD_WARNING = 1.2


# ----------------------------------------------------------------------------- processes


@dataclass
class Run:
    wall: float
    returncode: int
    stdout: str
    stderr: str
    peak_mib: float  # the child's ru_maxrss (KiB on Linux) in MiB


GNU_TIME = Path("/usr/bin/time")


def run_process(args: list, cwd: Path = ROOT) -> Run:
    """Run a child to the end: its wall seconds and its own peak resident memory.

    The peak is GNU time's %M (ru_maxrss from wait4) when /usr/bin/time exists. A child forked
    straight from this process would not do: Linux starts a child's ru_maxrss at the parent's
    resident size at fork, and this process holds the national model by the later sections."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".rss") as rss:
        command = [str(a) for a in args]
        if GNU_TIME.exists():
            command = [str(GNU_TIME), "-f", "%M", "-o", rss.name, *command]
        began = time.perf_counter()
        child = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - began
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak_kib = usage.ru_maxrss
        if GNU_TIME.exists():
            text = Path(rss.name).read_text().strip().splitlines()
            peak_kib = int(text[-1]) if text and text[-1].isdigit() else float("nan")
        return Run(wall, child.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                   peak_kib / 1024)


def ruralreach_solve(instance: Path, out: Path, *options) -> tuple[Run, dict]:
    """``ruralreach solve`` as a user runs it; the run and the plan summary it wrote."""
    run = run_process([sys.executable, "-m", "ruralreach", "solve", instance, "--out", out, *options])
    if run.returncode != 0:
        raise RuntimeError(f"ruralreach solve failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    return run, json.loads((out / "plan.json").read_text())


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    note = f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"
    return note + (f"  ** above {LOAD_WARNING}: other work was running **" if one > LOAD_WARNING else "")


def section(title: str) -> None:
    print()
    print(f"== {title}")
    print(load_note(), flush=True)


def table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A plain-text table; ``align``: one of l/r per column (default: first left, rest right)."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(header))]
    align = align or "l" + "r" * (len(header) - 1)
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "MISSED"


def gaps_of(summary: dict) -> str:
    return " / ".join("n/a" if s["mip_gap"] is None else f"{s['mip_gap']:.1e}" for s in summary["stages"])


def stage_seconds_of(summary: dict) -> str:
    return " / ".join(f"{s['seconds']:.1f}" for s in summary["stages"])


def statuses_of(summary: dict) -> str:
    return "/".join(s["status"] for s in summary["stages"])


# ----------------------------------------------------------------------------- machine


def machine() -> str:
    import highspy
    import numpy
    import pyomo
    import scipy

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.rstrip()
    except OSError:
        memory = "(free not available)"
    highs = f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
    def git(*args) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.rstrip()
        except OSError:
            return ""

    changed = git("status", "--porcelain", "--", "model", "solvers", "instances")
    lines = [
        f"code      ruralreach at commit {git('rev-parse', '--short', 'HEAD') or 'unknown'}"
        + (f"; uncommitted changes in: {', '.join(sorted({l[3:] for l in changed.splitlines()}))}" if changed else
           "; model/, solvers/, instances/ as committed"),
        f"machine   {platform.node()}: {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), CPU {cpu}",
        f"software  Python {platform.python_version()}, HiGHS {highs} (highspy), Pyomo {pyomo.__version__}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}, {platform.platform()}",
        "memory (free -h):",
        *("  " + line for line in memory.splitlines()),
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- national


def national(scratch: Path, repeats: int, exact_time_limit: float) -> None:
    section(f"national: `ruralreach solve instances/us-2026` (whole process), median of {repeats}")
    runs: dict[str, list[tuple[Run, dict]]] = {"default (1e-4)": [], "0": []}
    options = {"default (1e-4)": [], "0": ["--mip-gap", "0", "--time-limit", str(exact_time_limit)]}
    rows = []
    for label, extra in options.items():
        for k in range(repeats):
            run, summary = ruralreach_solve(NATIONAL, scratch / "national-plan", *extra)
            runs[label].append((run, summary))
            rows.append([label, k + 1, f"{run.wall:.2f}", f"{summary['solve_seconds']:.2f}", stage_seconds_of(summary),
                         summary["status"], gaps_of(summary), f"{summary['same_day_population']:,}",
                         f"{summary['next_day_population']:,}", f"${summary['cost'] / 1e6:,.1f}M",
                         f"{run.peak_mib:,.0f}"])
            print(f"  ... {label} run {k + 1}: {run.wall:.2f} s", file=sys.stderr, flush=True)
    print(table(["mip gap", "run", "wall s", "solve s", "stage s (same/next/cost)", "status",
                 "stage gaps (same/next/cost)", "same-day", "next-day", "cost", "peak MiB"], rows,
                "lrrrrlrrrrr"))
    default = statistics.median(r.wall for r, _ in runs["default (1e-4)"])
    exact = statistics.median(r.wall for r, _ in runs["0"])
    exact_status = ", ".join(sorted({s["status"] for _, s in runs["0"]}))
    print(f"median wall, default gap: {default:.2f} s  (target <= 10 s: {verdict(default, 10)})")
    print(f"median wall, --mip-gap 0: {exact:.2f} s, status {exact_status}  "
          f"(target <= 120 s: {verdict(exact, 120)}; --time-limit {exact_time_limit:g})")

    startup = statistics.median(
        run_process([sys.executable, "-c", "import ruralreach.cli"]).wall for _ in range(repeats))
    phases(scratch, startup)


def phase_times(instance_dir: Path, plan_dir: Path, time_limit: float | None = None) -> dict:
    """Run the product's pipeline once in this process (its own steps, not a copy), timing each
    step; with the peak resident memory so far after each, the reach's pair count and the result.
    bench.py runs this in a child (``--phases-of``) so the peaks are the pipeline's own."""
    import resource

    from ruralreach.model.instance import load_instance
    from ruralreach.model.plan import write_plan
    from ruralreach.pipeline import prepare, solve_prepared
    from ruralreach.review import yardstick_table
    from ruralreach.solvers.highs import SolveOptions

    options = SolveOptions(time_limit=time_limit)
    timings: list[tuple[str, float, float]] = []

    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def timed(label, function, *args, **kwargs):
        began = time.perf_counter()
        value = function(*args, **kwargs)
        timings.append((label, time.perf_counter() - began, peak()))
        return value

    instance = timed("load + validate (load_instance)", load_instance, instance_dir)
    prepared = prepare(instance)
    timings.append(("reach (compute_reach)", prepared.reach_seconds, peak()))
    timings.append(("reduce (reduce_problem)", prepared.reduce_seconds, peak()))
    plan = timed("solve (solve_prepared)", solve_prepared, prepared, instance.scenario.budget, options)
    for stage in plan.summary["stages"]:
        gap = "n/a" if stage["mip_gap"] is None else f"{stage['mip_gap']:.1e}"
        timings.append((f"  of which stage {stage['stage']} ({stage['status']}, gap {gap})", stage["seconds"], peak()))
    timed("plan write (write_plan)", write_plan, plan, plan_dir)
    timed("summary yardsticks (CLI output)", yardstick_table, plan)
    problem, reach = prepared.problem, prepared.reach
    return {"timings": timings, "zones": len(instance.zones), "sites": len(instance.sites),
            "pairs": int(max(reach.same_day.nnz, reach.next_day.nnz)), "same_day_pairs": int(reach.same_day.nnz),
            "options": problem.n_options, "same_day_rows": len(problem.same_day_population),
            "next_day_rows": len(problem.next_day_population),
            "summary": {k: plan.summary[k] for k in ("status", "same_day_population", "next_day_population", "cost")}}


def print_phases(instance_dir: Path, plan_dir: Path, startup: float | None, time_limit: float | None = None) -> None:
    """Time each phase once in a child process (in-process timing there) and print the table."""
    args = [sys.executable, Path(__file__).resolve(), "--phases-of", instance_dir, "--plan-out", plan_dir]
    if time_limit is not None:
        args += ["--phases-time-limit", str(time_limit)]
    run = run_process(args)
    if run.returncode != 0:
        raise RuntimeError(f"phase timing failed ({run.returncode}):\n{run.stderr}")
    report = json.loads(run.stdout.strip().splitlines()[-1])
    timings = ([("python start + imports (`python -c 'import ruralreach.cli'`, median)", startup, None)]
               if startup is not None else []) + [tuple(t) for t in report["timings"]]
    total = sum(seconds for label, seconds, _ in timings if not label.startswith("  "))
    print(table(["phase", "seconds", "share", "peak MiB so far"],
                [[label, f"{seconds:.3f}", f"{seconds / total:.0%}", "" if mib is None else f"{mib:,.0f}"]
                 for label, seconds, mib in timings]
                + [["total", f"{total:.3f}", "", f"{run.peak_mib:,.0f}"]]))
    s = report["summary"]
    print(f"{report['zones']:,} zones, {report['sites']:,} sites; {report['pairs']:,} zone-site pairs within the "
          f"next-day limit ({report['same_day_pairs']:,} within same-day); reduced to {report['options']:,} options, "
          f"{report['same_day_rows']:,} same-day rows, {report['next_day_rows']:,} next-day rows")
    print(f"result: same-day {s['same_day_population']:,}, next-day {s['next_day_population']:,}, "
          f"cost ${s['cost'] / 1e6:,.1f}M, status {s['status']}")


def phases(scratch: Path, startup: float) -> None:
    """Each phase once (in a child), then the sizes and the Pyomo measurement (in this process)."""
    from ruralreach.model.formulation import budget_room, build_model, matrix_model
    from ruralreach.model.instance import load_instance
    from ruralreach.model.reach import compute_reach
    from ruralreach.model.reduce import enumerate_options, reduce_problem
    from ruralreach.solvers.highs import HighsModel, SolveOptions, solve_stage_with_pyomo
    from ruralreach.solvers.lexicographic import solve_lexicographic

    section("national: each phase once, in-process (one child process; default gap 1e-4)")
    print_phases(NATIONAL, scratch / "phases-plan", startup)

    options = SolveOptions()
    instance = load_instance(NATIONAL)
    reach = compute_reach(instance)
    problem = reduce_problem(instance, reach)
    began = time.perf_counter()
    matrix = matrix_model(problem)
    array_build = time.perf_counter() - began
    began = time.perf_counter()
    model = HighsModel(matrix, options)
    array_load = time.perf_counter() - began
    began = time.perf_counter()
    solution = solve_lexicographic(problem, options, model=model)
    solve_seconds = time.perf_counter() - began

    # ---- sizes
    site, _, _, same_all, next_all = enumerate_options(instance, reach)
    plain = reduce_problem(instance, reach, merge=False, drop_dominated=False)
    plain_matrix = matrix_model(plain)
    print()
    print("reduced sizes (rows: zones the plan can change, unreached and already-reached zones dropped;"
          " options: (site, action) pairs)")
    print(table(
        ["", "enumerated", "merge=False, drop_dominated=False", "default (merge + dominance)"],
        [["zones", f"{len(instance.zones):,}", "", ""],
         ["same-day rows", f"{same_all.shape[0]:,}", f"{len(plain.same_day_population):,}",
          f"{len(problem.same_day_population):,}"],
         ["next-day rows", f"{next_all.shape[0]:,}", f"{len(plain.next_day_population):,}",
          f"{len(problem.next_day_population):,}"],
         ["options", f"{site.size:,}", f"{plain.n_options:,}", f"{problem.n_options:,}"],
         ["same-day cover nonzeros", f"{same_all.nnz:,}", f"{plain.same_day_cover.nnz:,}",
          f"{problem.same_day_cover.nnz:,}"],
         ["next-day cover nonzeros", f"{next_all.nnz:,}", f"{plain.next_day_cover.nnz:,}",
          f"{problem.next_day_cover.nnz:,}"],
         ["model columns x rows", "", f"{plain_matrix.n_columns:,} x {plain_matrix.A.shape[0]:,}",
          f"{matrix.n_columns:,} x {matrix.A.shape[0]:,}"],
         ["model nonzeros", "", f"{plain_matrix.A.nnz:,}", f"{matrix.A.nnz:,}"]]))

    # ---- Pyomo against the array path, same-day stage
    print()
    print("same-day stage: Pyomo statement + Pyomo's HiGHS interface vs matrix_model + our highspy path")

    def seconds_of(function, *args):
        began = time.perf_counter()
        value = function(*args)
        return value, time.perf_counter() - began

    rows = []
    for label, p in (("reduced (default)", problem), ("unreduced (merge=False, drop_dominated=False)", plain)):
        _, pyomo_build = seconds_of(build_model, p, "same_day")
        m, array_build = seconds_of(matrix_model, p)
        h, load = seconds_of(HighsModel, m, options)
        rows.append([label, f"{pyomo_build:.3f}", f"{array_build:.3f}", f"{load:.3f}",
                     f"{pyomo_build / (array_build + load):.0f}x"])
    print(table(["model build, same-day stage", "Pyomo build_model s", "matrix_model s", "HighsModel load s",
                 "Pyomo / (matrix_model + load)"], rows))

    pyomo = solve_stage_with_pyomo(problem, "same_day", {}, SolveOptions())
    fresh, load = seconds_of(HighsModel, matrix, options)
    fresh.reset(budget_room(problem))
    plain_mip = fresh.solve("same_day", None)
    ours = solution.stages[0]
    greedy_and_rest = solve_seconds - sum(s.seconds for s in solution.stages)
    rows = [
        ["Pyomo build_model + Pyomo HiGHS interface (one MIP)", f"{pyomo.build_seconds:.3f}",
         f"{pyomo.solve_seconds:.2f}", f"{pyomo.build_seconds + pyomo.solve_seconds:.2f}", f"{pyomo.objective:,.0f}"],
        ["matrix_model + HighsModel, one MIP (same algorithm, no Pyomo)", f"{array_build + load:.3f}",
         f"{plain_mip.seconds:.2f}", f"{array_build + load + plain_mip.seconds:.2f}", f"{plain_mip.objective:,.0f}"],
        ["matrix_model + HighsModel, our stage (greedy, LP, RINS, MIP if needed)", f"{array_build + array_load:.3f}",
         f"{ours.seconds + greedy_and_rest:.2f}", f"{array_build + array_load + ours.seconds + greedy_and_rest:.2f}",
         f"{ours.objective:,.0f}"],
    ]
    print(table(["same-day stage, reduced problem, gap 1e-4", "build+load s", "solve s", "total s", "same-day people"],
                rows))
    print("(build+load: Pyomo's is the model statement only, its HiGHS interface translates the model inside"
          " 'solve s'; ours is matrix_model plus loading both the MIP and the LP copy into HiGHS. Our stage's"
          " solve includes the greedy start, spent once for all three stages.)")


# ----------------------------------------------------------------------------- scaling


def scaling(scratch: Path, quick: bool, repeats: int, time_limit: float) -> None:
    sizes = [z for z in SCALING_ZONES if not (quick and z >= 100_000)]
    section(f"scaling: synthetic instances, `ruralreach solve --time-limit {time_limit:g}` (whole process), "
            f"median of {repeats}")
    print("generate.py --zones Z --centers Z/240 --stations Z/55 --candidates Z/8 --budget 4e9*Z/33000 --seed 1"
          " (generation not timed)")
    rows, results = [], {}
    for zones in sizes:
        directory = scratch / f"synthetic-{zones}"
        counts = {"centers": max(1, round(zones / 240)), "stations": round(zones / 55),
                  "candidates": round(zones / 8)}
        budget = 4e9 * zones / 33_000
        subprocess.run([sys.executable, "-m", "ruralreach.instances.generate", directory, "--zones", str(zones),
                        *(f"--{k}={v}" for k, v in counts.items()), "--budget", f"{budget:.0f}", "--seed", "1"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"  {zones:,} zones: {load_note()}", flush=True)
        runs = [ruralreach_solve(directory, scratch / "synthetic-plan", "--time-limit", str(time_limit))
                for _ in range(repeats)]
        wall = statistics.median(r.wall for r, _ in runs)
        peak = max(r.peak_mib for r, _ in runs)
        summary = runs[len(runs) // 2][1]
        statuses = ", ".join(sorted({s["status"] for _, s in runs}))
        results[zones] = (wall, peak)
        rows.append([f"{zones:,}", f"{counts['centers']} / {counts['stations']} / {counts['candidates']}",
                     f"${budget / 1e6:,.0f}M", f"{wall:.2f}", " ".join(f"{r.wall:.1f}" for r, _ in runs),
                     f"{statistics.median(s['solve_seconds'] for _, s in runs):.2f}", stage_seconds_of(summary),
                     f"{peak:,.0f}", statuses, gaps_of(summary)])
    print(table(["zones", "centers / stations / candidates", "budget", "wall s (median)", "each run s", "solve s",
                 "stage s (same/next/cost)", "peak MiB (max)", "status", "stage gaps (same/next/cost)"], rows,
                "lrrrrrrrll"))
    largest = sizes[-1]
    print()
    print(f"{largest:,} zones: each phase once, in-process (one child process), --time-limit {time_limit:g}")
    print_phases(scratch / f"synthetic-{largest}", scratch / "synthetic-phases-plan", None, time_limit)
    if 100_000 in results:
        wall, peak = results[100_000]
        print(f"100,000 zones: {wall:.2f} s (target <= 60 s: {verdict(wall, 60)}), peak {peak:,.0f} MiB = "
              f"{peak / 1024:.2f} GiB (target <= 2 GiB: {verdict(peak, 2048)})")
    print("peak MiB: the solve process's ru_maxrss, read by /usr/bin/time -f %M")


# ----------------------------------------------------------------------------- peers


def try_solve(instance: Path, out: Path, *options) -> tuple[Run, dict | None]:
    """``ruralreach solve`` that reports a failure instead of raising (the peer section goes on)."""
    run = run_process([sys.executable, "-m", "ruralreach", "solve", instance, "--out", out, *options])
    if run.returncode != 0:
        return run, None
    return run, json.loads((out / "plan.json").read_text())


def describe_failure(run: Run) -> str:
    last = [line for line in run.stderr.strip().splitlines() if line.strip()][-1:] or ["(no message)"]
    return f"FAILED (exit {run.returncode} after {run.wall:.1f} s): {last[0].strip()}"


def peers(scratch: Path, repeats: int, p: int, time_limit: float, solvers: str, zones_limit: int | None) -> None:
    from peers import write_single_tier_instance  # benchmarks/peers.py, next to this file

    section(f"peers: spopt MCLP vs ruralreach, same-day stage of us-2026, centers predefined, p = {p} added")
    directory = write_single_tier_instance(NATIONAL, scratch / f"single-tier-p{p}", p, zones_limit)
    zones = "zones.csv of us-2026" + (f" (first {zones_limit:,} zones only)" if zones_limit else "")
    print(f"instance {directory.name}: {zones}; 140 centers; the 600 stations and 4,000 candidates as"
          f" stations with upgrade_cost 1; budget {p}. Both at relative gap 1e-4, one thread, capped at"
          f" {time_limit:g} s of solving. spopt: p_facilities = 140 + {p}.")

    # 1. ruralreach, capped like spopt. A capped run is not repeated: its time is the cap.
    print(f"ruralreach solve --mip-gap 1e-4 --time-limit {time_limit:g}:")
    rr_runs = []
    for k in range(repeats):
        run, summary = try_solve(directory, scratch / "single-tier-plan", "--mip-gap", "1e-4",
                                 "--time-limit", str(time_limit))
        if summary is None:
            print(f"  run {k + 1}: {describe_failure(run)}")
            break
        rr_runs.append((run, summary))
        print(f"  run {k + 1}: {run.wall:.2f} s whole process, solve {summary['solve_seconds']:.2f} s, status "
              f"{summary['status']} ({statuses_of(summary)}), same-day {summary['same_day_population']:,}, stage gaps "
              f"{gaps_of(summary)}, upgrades {summary['actions']['upgrade']}, peak {run.peak_mib:,.0f} MiB", flush=True)
        if summary["status"] != "optimal":
            break
    rr_wall = statistics.median(r.wall for r, _ in rr_runs) if rr_runs else None
    rr = rr_runs[len(rr_runs) // 2][1] if rr_runs else None

    # 2. spopt, in its own process.
    section("peers: spopt (one process: dense cost matrix, MCLP.from_cost_matrix once, then each solver)")
    result_file = scratch / "spopt.json"
    run = run_process([sys.executable, ROOT / "benchmarks" / "peers.py", "spopt", directory, "--p", str(p),
                       "--solvers", solvers, "--gap", "1e-4", "--time-limit", str(time_limit), "--json", result_file])
    if run.returncode != 0:
        print(f"spopt process {describe_failure(run)}; peak {run.peak_mib:,.0f} MiB")
        print(run.stderr[-3000:])
        return
    spopt = json.loads(result_file.read_text())
    print(f"spopt {spopt['spopt']}, PuLP {spopt['pulp']}: {spopt['zones']:,} zones x {spopt['sites']:,} sites; "
          f"dense float64 cost matrix {spopt['matrix_bytes'] / 2**30:.2f} GiB ({spopt['reach_nonzeros']:,} pairs"
          f" within {spopt['radius_minutes']:g} min, {spopt['reach_nonzeros'] / (spopt['zones'] * spopt['sites']):.1%}"
          f" of the matrix); process wall {run.wall:.0f} s (spopt and PuLP imports {spopt['import_seconds']:.1f} s), peak"
          f" {run.peak_mib:,.0f} MiB")
    rows = []
    if rr is not None:
        rows.append(["ruralreach solve (whole process)", "", "", f"{rr['solve_seconds']:.1f}", "", "",
                     f"{rr_wall:.1f}", rr["status"], gaps_of(rr).split(" / ")[0], f"{rr['same_day_population']:,}",
                     ""])
    for solve in spopt["solves"]:
        handoff = solve["seconds"] - (solve["solver_seconds"] or 0.0)
        solve["total"] = spopt["matrix_seconds"] + spopt["build_seconds"] + solve["seconds"]
        solve["to_best"] = (None if solve["solver_seconds_to_best"] is None else
                            spopt["matrix_seconds"] + spopt["build_seconds"] + handoff
                            + solve["solver_seconds_to_best"])
        covered = solve["covered_population"]
        gap = "n/a" if solve["gap"] is None else f"{abs(solve['gap']):.1e}"
        rows.append([f"spopt MCLP, pulp {'HiGHS (highspy)' if solve['solver'] == 'highs' else 'PULP_CBC_CMD'}",
                     f"{spopt['matrix_seconds']:.1f}", f"{spopt['build_seconds']:.1f}", f"{solve['seconds']:.1f}",
                     "n/a" if solve["solver_seconds"] is None else f"{solve['solver_seconds']:.1f}",
                     "n/a" if solve["to_best"] is None else f"{solve['to_best']:.1f}", f"{solve['total']:.1f}",
                     solve["solver_status"] + (f" ({solve['error']})" if solve["error"] else ""), gap,
                     "n/a" if covered is None else f"{covered:,}",
                     "" if rr is None or covered is None else
                     f"{(covered - rr['same_day_population']) / rr['same_day_population']:+.1e}"])
    print(table(["", "cost matrix s", "model build s", "solve s", "in solver s", "to its best s", "total s",
                 "status", "gap", "same-day people", "vs ruralreach"], rows, "lrrrrrrllrr"))
    print("ruralreach: the whole `ruralreach solve` process (imports, read, validate, reach, reduce, solve, write);"
          " its solve s: the three stages. spopt: cost matrix + MCLP.from_cost_matrix + solve (PuLP's handoff to"
          " the solver, and the solver), without imports and CSV reading; in solver s: HiGHS's run time / CBC's"
          " wallclock from its log; to its best s: when the solver first held its final plan (from its log), plus"
          " matrix, build and handoff. gap: the solver's own relative gap (ruralreach: same-day stage).")
    for solve in spopt["solves"]:
        print(f"  {solve['solver']}: pulp status {solve['pulp_status']} ({solve['pulp_solution_status']}), objective"
              f" {solve['objective']}, bound {solve['bound']}, nodes {solve['nodes']}, facilities"
              f" {solve['facilities']} (predefined kept: {solve['predefined_kept']}), improving plans"
              f" (solver s, people): {', '.join(f'{t:.0f}: {v:,.0f}' for t, v in solve['incumbents']) or 'none logged'}")

    # 3. Equal objective: how long ruralreach takes to reach what spopt reached.
    reached = [s for s in spopt["solves"] if s["covered_population"] is not None]
    if not reached:
        print("spopt found no plan: no comparison at equal objective")
        return
    best = max(reached, key=lambda s: (s["covered_population"], -(s["to_best"] or s["total"])))
    best_time = best["to_best"] or best["total"]
    target = best["covered_population"]
    print(f"spopt's best: {target:,} people ({best['solver']}), reached after {best_time:.1f} s")
    if rr is not None and rr["status"] == "optimal" and all(s["gap"] is not None and abs(s["gap"]) <= 1e-4
                                                             for s in reached):
        equal = abs(rr["same_day_population"] - target) <= 1e-4 * target
        ratio = best_time / rr_wall
        print(f"both proven within 1e-4; objectives {'equal within 1e-4' if equal else 'NOT equal within 1e-4'}; "
              f"spopt {best_time:.1f} s vs ruralreach {rr_wall:.2f} s: {ratio:.0f}x "
              f"(target >= 20x: {'met' if ratio >= 20 and equal else 'MISSED'})")
        return
    # Not both proven: give ruralreach a twentieth of spopt's time and see whether it gets as far.
    limit = best_time / 20
    run, summary = try_solve(directory, scratch / "single-tier-plan-20x", "--mip-gap", "1e-4",
                             "--time-limit", f"{limit:.1f}")
    if summary is None:
        print(f"ruralreach with --time-limit {limit:.1f} (spopt's time / 20): {describe_failure(run)}")
        return
    got = summary["same_day_population"]
    ok = got >= target * (1 - 1e-4)
    print(f"ruralreach with --time-limit {limit:.1f} (spopt's time / 20): {run.wall:.1f} s whole process, same-day "
          f"{got:,} ({(got - target) / target:+.1e} vs spopt's best), status {summary['status']}, same-day gap "
          f"{gaps_of(summary).split(' / ')[0]}: ratio {best_time / run.wall:.0f}x at "
          f"{'an objective at least equal (within 1e-4)' if ok else 'a LOWER objective'} "
          f"(target >= 20x at equal objective: {'met' if ok and best_time / run.wall >= 20 else 'MISSED'})")


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100,000-zone scaling instance")
    parser.add_argument("--repeats", type=int, default=3, help="runs per timed process (median reported; default 3)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--exact-time-limit", type=float, default=900.0, help="--time-limit of the --mip-gap 0 runs")
    parser.add_argument("--scaling-time-limit", type=float, default=600.0, help="--time-limit of the scaling runs")
    parser.add_argument("--p", type=int, default=200, help="peers: facilities added to the predefined centers")
    parser.add_argument("--spopt-time-limit", type=float, default=1800.0, help="peers: spopt's solver time limit")
    parser.add_argument("--spopt-solvers", default="highs,cbc", help="peers: pulp solvers to try (highs, cbc)")
    parser.add_argument("--peers-zones-limit", type=int, default=None,
                        help="peers: the first N zones only (to try the section out; not the benchmark)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (instances, plans)")
    # What bench.py runs in a child to time the phases: prints one JSON line.
    parser.add_argument("--phases-of", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--plan-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--phases-time-limit", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phases_of is not None:
        print(json.dumps(phase_times(args.phases_of, args.plan_out, args.phases_time_limit)))
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    scratch = Path(tempfile.mkdtemp(prefix="ruralreach-bench-"))
    began = time.perf_counter()
    print(f"ruralreach benchmark: python benchmarks/bench.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print(machine())
    try:
        if "national" in only:
            national(scratch, args.repeats, args.exact_time_limit)
        if "scaling" in only:
            scaling(scratch, args.quick, args.repeats, args.scaling_time_limit)
        if "peers" in only:
            peers(scratch, args.repeats, args.p, args.spopt_time_limit, args.spopt_solvers, args.peers_zones_limit)
    finally:
        if args.keep:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(f"benchmark done in {time.perf_counter() - began:.0f} s; {load_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
