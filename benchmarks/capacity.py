"""Capacity on the national network, each solve against the plain LP (issue 14).

    python benchmarks/capacity.py [--time-limit S] [--only plain,roomy,capacity] [--scratch DIR]
                                  [--center K] [--station K] [--candidate K]

Three national runs, each a whole ``ruralreach solve`` process, one at a time:

plain     the bundled ``us-2026`` at $4B, without capacities;
roomy     the same with a capacity on every site that no plan can reach (1e12 packages a day):
          capacity that never binds should cost (almost) nothing;
capacity  the capacitated variant built by ``instances/build_capacity.py`` (its documented rule,
          or the capacities given here).

The yardstick is the plain LP of issue 11 (benchmarks/family.py): the unreduced first-stage model
of ``us-2026`` without capacities, built from arrays and solved by HiGHS's default LP solver on one
thread, in the same run. Targets: ``capacity`` within 20x it; ``roomy`` within 10% of ``plain``.
Prints the problem's sizes (options, same-day rows, suppliers and supply pairs after the
reductions), each stage's seconds and gap, the status and the verdicts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from bench import load_note, table
from family import plain_lp, solve

from ruralreach.instances import build_capacity, bundled
from ruralreach.model.instance import load_instance
from ruralreach.model.reach import compute_reach
from ruralreach.model.reduce import reduce_problem

RUNS = ("plain", "roomy", "capacity")
TARGET = 20.0
NEVER_BINDS = 1e12


def sizes(instance_dir: Path) -> str:
    instance = load_instance(instance_dir)
    problem = reduce_problem(instance, compute_reach(instance))
    return (f"{problem.n_options:,} / {len(problem.same_day_population):,} / {len(problem.supply_option):,} / "
            f"{problem.supply_cover.nnz:,}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    parser.add_argument("--time-limit", type=float, default=900.0, help="per solve, seconds (default 900)")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "ruralreach-capacity")
    for kind, value in build_capacity.CAPACITY_BY_KIND.items():
        parser.add_argument(f"--{kind}", type=float, default=value,
                            help=f"capacity of a {kind} (packages a day; default {value or 'unlimited'})")
    args = parser.parse_args(argv)
    print(load_note())
    national = bundled("us-2026")
    capacities = {kind: getattr(args, kind) for kind in build_capacity.CAPACITY_BY_KIND}
    runs = {
        "plain": national,
        "roomy": build_capacity.build(args.scratch / "roomy", national, {k: NEVER_BINDS for k in capacities}),
        "capacity": build_capacity.build(args.scratch / "capacity", national, capacities),
    }
    lp = plain_lp(national)
    print(f"plain LP of us-2026 at $4B: {lp['seconds']:.1f} s")
    rows, walls = [], {}
    for name in args.only.split(","):
        instance_dir = runs[name]
        result = solve(instance_dir, args.scratch / "plans" / name, args.time_limit, None)
        walls[name] = result["wall"]
        ratio = result["wall"] / lp["seconds"]
        stages = result["stages"]
        verdict = {"capacity": "met" if ratio <= TARGET else "MISSED",
                   "roomy": ("met" if "plain" in walls and result["wall"] <= 1.1 * walls["plain"] else
                             "MISSED" if "plain" in walls else "n/a")}.get(name, "")
        rows.append([name, sizes(instance_dir), f"{lp['seconds']:.1f}", f"{result['wall']:.1f}", f"{ratio:.1f}x",
                     " / ".join(f"{s['seconds']:.1f}" for s in stages),
                     " / ".join("n/a" if s["mip_gap"] is None else f"{s['mip_gap']:.0e}" for s in stages),
                     result["status"], f"{result.get('same_day', float('nan')):,.2f}", f"{result['peak_mib']:.0f}",
                     verdict])
        print("  ".join(rows[-1]), flush=True)
    print()
    print(table(["run", "options / same-day rows / suppliers / pairs", "plain LP s", "solve s", "ratio",
                 "stage s (same/next/cost)", "stage gaps", "status", "same-day people", "peak MiB", "verdict"], rows))
    print(load_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
