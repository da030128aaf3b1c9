"""Why a budget's cost stage is slow: its LP gap is the same-day LP's lead over the plan, priced at
the budget's dual.

    python benchmarks/cost_gap.py INSTANCE_DIR PLAN_OR_SWEEP_DIR [PLAN_OR_SWEEP_DIR ...]

For each plan of a one-phase instance (a plan directory, or each ``budget-*`` plan of a sweep
directory): the same-day LP relaxation of the reduced problem at the plan's budget, as the solver
builds it; its lead over the plan's same-day people; the budget row's dual, in people per $M; their
quotient, the gap it implies for the cost stage's LP (which keeps the plan's same-day people with
the least money), in $M and in requested gaps; and what the plan's cost stage did. Where a plan
spends its budget the quotient is about where the cost stage's LP bound sits, and the cost stages
that stop are where it is many requested gaps (benchmarks/README.md, "Why the cost stage stops
where it does").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ruralreach.model.formulation import budget_room, matrix_model
from ruralreach.model.instance import load_instance
from ruralreach.model.plan import read_summary
from ruralreach.pipeline import prepare
from ruralreach.review import SWEEP_FILE, read_sweep
from ruralreach.solvers.highs import HighsModel, SolveOptions
from ruralreach.solvers.lexicographic import plan_unit


def plan_dirs(paths: list[Path]) -> list[Path]:
    """Plan directories: each path itself, or a sweep's plans in budget order (as its
    ``sweep.csv`` lists them)."""
    found = []
    for path in paths:
        found.extend([path / d for d in read_sweep(path)["plan_dir"]] if (path / SWEEP_FILE).exists() else [path])
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance", type=Path)
    parser.add_argument("plans", type=Path, nargs="+", help="plan directories or sweep directories")
    args = parser.parse_args(argv)
    problem = prepare(load_instance(args.instance)).problem
    if problem.n_phases > 1:
        print("cost_gap: one-phase instances only (a phased plan has a budget row per phase)", file=sys.stderr)
        return 2
    print("| budget | same-day LP above the plan (people) | LP budget dual (people per $M) "
          "| the cost LP gap it implies | in requested gaps | the cost stage |")
    print("| --- | --- | --- | --- | --- | --- |")
    for directory in plan_dirs(args.plans):
        summary = read_summary(directory)  # the figures only: no need for the plan's tables
        at_budget = problem.with_budget(summary["budget"])
        model = HighsModel(matrix_model(at_budget), SolveOptions())
        model.reset(budget_room(at_budget))
        lp = model.relaxation("same_day", None)
        optimum = model.lp_optimum()
        if optimum is None:
            print(f"| {summary['budget'] / 1e9:.2f}B | the same-day LP: {lp.status} | | | | |")
            continue
        dual = abs(optimum.row_duals[model.matrix.budget_rows[0]]) / plan_unit(at_budget, "cost") * 1e6
        lead = lp.objective - summary["same_day_population"]
        quotient = lead / dual  # $M
        relative = quotient * 1e6 / summary["cost"]
        cost = next(stage for stage in summary["stages"] if stage["stage"] == "cost")
        if cost["status"] == "optimal":
            outcome = f"proven in {cost['seconds']:.1f} s"
        elif cost["bound"] is None:
            outcome = f"{cost['status']}, no bound"
        else:
            outcome = (f"{cost['status']} at {cost['mip_gap']:.1e}, bound "
                       f"${(cost['objective'] - cost['bound']) / 1e6:.1f}M below the plan")
        print(f"| ${summary['budget'] / 1e9:.2f}B | {lead:,.0f} | {dual:,.0f} | ${quotient:.1f}M ({relative:.1e}) "
              f"| {relative / summary['mip_gap_requested']:.0f} | {outcome} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
