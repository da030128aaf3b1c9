"""The program's options on the national network, each solve against the plain LP (issue 13).

    python benchmarks/program.py [--time-limit S] [--only phases,floors,both] [--budget B] [--scratch DIR]

Three national runs, each a whole ``ruralreach solve`` process, one at a time:

phases  the bundled ``us-2026-program`` (two phases of $2B, next-day 90 minutes);
floors  ``us-2026`` at $4B with equity floors: every state's same-day share at least
        ``--floor`` (default 0.8, which binds: without floors Alaska and Wyoming stay below it);
both    ``us-2026-program`` with the same floors.

``--budget B`` runs all three at a total budget of B USD instead (phase budgets scaled in
proportion, as ``ruralreach solve --budget`` does), each against the plain LP at B.

The yardstick is the plain LP of issue 11 (benchmarks/family.py): the unreduced first-stage model
of the same network, reach limits and total budget, without phases or floors, built from arrays
and solved by HiGHS's default LP solver on one thread, in the same run. Target: each solve within
10x it. Prints each stage's seconds and gap, the status, and the verdict.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

from bench import load_note, table
from family import plain_lp, solve

from ruralreach.instances import bundled
from ruralreach.model.instance import Equity, load_instance, scenario_toml

RUNS = ("phases", "floors", "both")
TARGET = 10.0


def variant(source: Path, scratch: Path, name: str, *, phases: bool, floor: float | None,
            budget: float | None = None) -> Path:
    """A copy of ``source`` whose scenario keeps or drops its phases, adds state floors and, with a
    ``budget``, has that total budget."""
    out = scratch / (name if budget is None else f"{name}-{budget:.0f}")
    out.mkdir(parents=True, exist_ok=True)
    for data in ("zones.csv", "sites.csv"):
        if not (out / data).exists():
            shutil.copyfile(source / data, out / data)
    scenario = load_instance(source).scenario
    if budget is not None:
        scenario = scenario.with_budget(budget)
    if not phases:
        scenario = dataclasses.replace(scenario, phases=())
    if floor is not None:
        scenario = dataclasses.replace(scenario, equity=Equity("state", floor))
    (out / "scenario.toml").write_text(scenario_toml(scenario), encoding="utf-8")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(RUNS), help=f"comma-separated subset of {','.join(RUNS)}")
    parser.add_argument("--floor", type=float, default=0.8,
                        help="every state's same-day floor (default 0.8: above the share Alaska and Wyoming get "
                             "without floors, so it binds)")
    parser.add_argument("--time-limit", type=float, default=900.0, help="per solve, seconds (default 900)")
    parser.add_argument("--budget", type=float, default=None,
                        help="total budget in USD for every run (default: each instance's own, $4B)")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "ruralreach-program")
    args = parser.parse_args(argv)
    print(load_note())
    program, national = bundled("us-2026-program"), bundled("us-2026")

    def copy(source: Path, name: str, *, phases: bool, floor: float | None) -> Path:
        return variant(source, args.scratch, name, phases=phases, floor=floor, budget=args.budget)

    def as_given(source: Path, name: str, *, phases: bool) -> Path:
        """The bundled instance itself, or at another budget a copy of it."""
        return source if args.budget is None else copy(source, name, phases=phases, floor=None)

    # Each run's instance and its yardstick's, made only for the runs asked for.
    runs = {
        "phases": lambda: (as_given(program, "program", phases=True),
                           copy(program, "program-plain", phases=False, floor=None)),
        "floors": lambda: (copy(national, "floors", phases=False, floor=args.floor),
                           as_given(national, "national", phases=False)),
        "both": lambda: (copy(program, "program-floors", phases=True, floor=args.floor),
                         copy(program, "program-plain", phases=False, floor=None)),
    }
    rows = []
    for name in args.only.split(","):
        instance_dir, yardstick_dir = runs[name]()
        lp = plain_lp(yardstick_dir)
        result = solve(instance_dir, args.scratch / "plans" / name, args.time_limit, None)
        ratio = result["wall"] / lp["seconds"]
        stages = result["stages"]
        rows.append([name, instance_dir.name, f"{lp['seconds']:.1f}", f"{result['wall']:.1f}", f"{ratio:.1f}x",
                     " / ".join(f"{s['seconds']:.1f}" for s in stages),
                     " / ".join("n/a" if s["mip_gap"] is None else f"{s['mip_gap']:.0e}" for s in stages),
                     result["status"], f"{result['peak_mib']:.0f}", "met" if ratio <= TARGET else "MISSED"])
        print("  ".join(rows[-1]), flush=True)
    print()
    print(table(["run", "instance", "plain LP s", "solve s", "ratio", "stage s (same/next/cost)", "stage gaps",
                 "status", "peak MiB", f"<= {TARGET:g}x"], rows))
    print(load_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
