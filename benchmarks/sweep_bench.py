"""A budget sweep against the same budgets solved one ``ruralreach solve`` at a time, in one run.

    python benchmarks/sweep_bench.py [INSTANCE_DIR] [--budgets 30] [--time-limit SECONDS] [--mip-gap REL]

Times, on the same machine in the same run:
- N separate ``ruralreach solve --budget B`` processes, one after another (a shell loop);
- ``ruralreach sweep`` over the same N budgets on one process (what preparing once, reusing one
  solver model and warm starts gain alone);
- ``ruralreach sweep`` with one process per core (all of it).

Budgets are 1/16, 2/16, ... of the scenario's budget (rounded to $1M), so N = 30 runs to just under
twice it. Default instance: ``instances/us-2026`` when present, else a generated 20,000-zone one.
Prints the times, the ratios, how many budgets were proven optimal, and the largest difference in
same-day population between the two ways (each within the requested gap of the optimum, so they
may differ by that much). ``--time-limit`` and ``--mip-gap`` go to every solve and sweep alike
(a time limit bounds the run where a few budgets take HiGHS many minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import load_note, run_process  # benchmarks/, this script's folder

from ruralreach.instances import bundled
from ruralreach.model.instance import load_instance
from ruralreach.money import budget_label
from ruralreach.review import read_sweep
from ruralreach.sweep import budget_chains

ROOT = Path(__file__).resolve().parents[1]

NATIONAL = bundled()
GENERATED = ["--zones", "20000", "--candidates", "3000", "--stations", "200", "--centers", "40"]


def ruralreach(*args) -> float:
    """Run the command as a user would (a fresh process); return its wall seconds."""
    run = run_process([sys.executable, "-m", "ruralreach", *args])
    if run.returncode != 0:
        raise RuntimeError(f"ruralreach {args[0]} failed ({run.returncode}):\n{run.stderr}")
    return run.wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance", nargs="?", type=Path, default=None,
                        help="instance directory (default: instances/us-2026 if present, else a generated one)")
    parser.add_argument("--budgets", type=int, default=30, help="how many budgets (default 30)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per budget (default: none)")
    parser.add_argument("--mip-gap", type=float, default=1e-4, help="relative gap per stage (default 1e-4)")
    parser.add_argument("--keep", action="store_true", help="keep the plans and sweeps (printed at the end)")
    args = parser.parse_args(argv)
    solve_options = ["--mip-gap", args.mip_gap] + (["--time-limit", args.time_limit] if args.time_limit else [])
    scratch = Path(tempfile.mkdtemp(prefix="sweep-bench-"))  # plans, sweeps, a generated instance
    instance_dir = args.instance or (NATIONAL if NATIONAL.is_dir() else scratch / "generated")
    if not instance_dir.is_dir():
        subprocess.run([sys.executable, "-m", "ruralreach.instances.generate", str(instance_dir), *GENERATED],
                       check=True, stdout=subprocess.DEVNULL)
    instance = load_instance(instance_dir)
    step = max(round(instance.scenario.budget / 16 / 1e6), 1) * 1e6
    budgets = [step * k for k in range(1, args.budgets + 1)]
    cores = os.cpu_count() or 1
    print(f"instance   {instance_dir} ({len(instance.zones):,} zones, {len(instance.sites):,} sites)")
    print(f"budgets    {len(budgets)}: ${budgets[0] / 1e6:,.0f}M to ${budgets[-1] / 1e6:,.0f}M, "
          f"step ${step / 1e6:,.0f}M; mip gap {args.mip_gap:g}; time limit per budget "
          f"{args.time_limit or 'none'}; {cores} cores", flush=True)
    print(load_note(), flush=True)

    separate, optimal, same_day, solo = 0.0, 0, {}, {}
    for budget in budgets:
        plan_dir = scratch / "plans" / budget_label(budget)
        seconds = ruralreach("solve", instance_dir, "--budget", budget_label(budget), "--out", plan_dir, *solve_options)
        separate += seconds
        solo[budget] = seconds
        summary = json.loads((plan_dir / "plan.json").read_text())
        same_day[budget] = summary["same_day_population"]
        optimal += summary["status"] == "optimal"
        print(f"  solve ${budget / 1e6:,.0f}M: {seconds:.1f} s, {summary['status']}", flush=True)
    text_budgets = ",".join(budget_label(b) for b in budgets)
    runs = [(f"{len(budgets)} x ruralreach solve, one after another", separate, optimal)]
    for workers in sorted({1, cores}):
        out = scratch / f"sweep-{workers}"
        seconds = ruralreach("sweep", instance_dir, "--budgets", text_budgets, "--out", out, "--workers", workers,
                             *solve_options)
        sweep = read_sweep(out)
        runs.append((f"ruralreach sweep --workers {workers}", seconds, int((sweep["status"] == "optimal").sum())))
        difference = max(abs(row.same_day_population - same_day[row.budget]) / max(same_day[row.budget], 1)
                         for row in sweep.itertuples())
        print(f"  sweep --workers {workers}: {seconds:.1f} s; largest same-day difference from the separate "
              f"solves {difference:.1e}", flush=True)
        # The yardstick: a sweep should cost little more than the sum of its hardest solves
        # (each worker's chain is a lower bound of its own: the busiest chain is the floor).
        chains = budget_chains(budgets, workers)
        busiest = max(sum(solo[b] for b in chain) for chain in chains)
        print(f"    its own solve seconds sum to {sweep['seconds'].sum():.1f} s; the busiest worker's budgets "
              f"took {busiest:.1f} s as separate solves", flush=True)

    hardest = sorted(solo.values(), reverse=True)
    print(f"\nhardest separate solves: {', '.join(f'{s:.1f}' for s in hardest[:5])} s; "
          f"the 5 hardest sum to {sum(hardest[:5]):.1f} s of {separate:.1f} s")
    print(load_note())
    print(f"{'run':<46} {'seconds':>9} {'per budget':>11} {'speed-up':>9} {'optimal':>8}")
    for name, seconds, proven in runs:
        print(f"{name:<46} {seconds:>9.1f} {seconds / len(budgets):>11.2f} {separate / seconds:>8.2f}x "
              f"{proven:>5}/{len(budgets)}")
    if args.keep:
        print(f"kept: {scratch}")
    else:
        shutil.rmtree(scratch)  # 3 x N plans: hundreds of MB on the national instance
    return 0


if __name__ == "__main__":
    sys.exit(main())
