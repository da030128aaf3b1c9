"""An independent check of plans at national scale: the unreduced lexicographic MIP, built here
from the instance's raw files with numpy (no ruralreach code: no reach, reductions, merging or
fixing), solved stage by stage by HiGHS at gap 0, against the plans ruralreach wrote.

    python benchmarks/crosscheck.py INSTANCE_DIR PLAN_DIR [PLAN_DIR ...] [--time-limit S]
                                    [--feasibility-tolerance T]

Each plan's actions are evaluated here (people same-day and next-day, cost). Then the script
solves (1) the most same-day people; (2) keeping that, the most next-day people; (3) keeping both,
the least cost; and checks every plan against each optimum: its bound must hold (same-day and
next-day bounds at or above the optimum, the cost bound at or below it: a plan's later stages keep
floors no higher than the optima, so their optima are no worse), its same-day people must not
exceed the optimum, and a plan proven at gap 0 must equal every optimum (people exactly, cost to a
cent). Exit 0 when every check holds, 1 when one does not, 2 when a stage is not solved to
optimality within the time limit.

The model is the README's, written without any of ruralreach's reductions: a column per option
(upgrade a station; open a candidate as a delivery station or as a service center), a same-day and
a next-day column per zone, a row per zone and tier (reached by an existing site, or by an option
taken), one action per candidate, and the budget in thousands of USD. Instances with phases,
decisions, equity floors, capacities or travel_minutes.csv are outside it and refused.

``--feasibility-tolerance`` sets HiGHS's MIP and primal feasibility tolerances (default: HiGHS's
own): the README's benchmark section records what 1e-9 did.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import tomllib
from pathlib import Path

import highspy
import numpy as np
from scipy import sparse

EARTH_RADIUS_MILES = 3958.8
USD_UNIT = 1e3  # the budget row in thousands of USD


def read_csv(path: Path) -> list[dict]:
    """Rows as the instance contract reads them: spaces after a comma ignored (a quoted field
    after one included), blank lines skipped, every name and value stripped."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [{k.strip(): (v or "").strip() for k, v in row.items()}
                for row in csv.DictReader(f, skipinitialspace=True)]
    return [row for row in rows if any(row.values())]  # a line of spaces is a blank line


def minutes_from(lat: float, lon: float, zone_lat: np.ndarray, zone_lon: np.ndarray, scenario: dict) -> np.ndarray:
    """Minutes from a site to every zone: great-circle miles times circuity over speed."""
    h = (np.sin((zone_lat - lat) / 2) ** 2
         + np.cos(lat) * np.cos(zone_lat) * np.sin((zone_lon - lon) / 2) ** 2)
    miles = 2 * EARTH_RADIUS_MILES * np.arcsin(np.sqrt(np.minimum(1.0, h)))
    return miles * scenario["circuity"] / scenario["speed_mph"] * 60


def build(instance: Path):
    scenario = tomllib.loads((instance / "scenario.toml").read_text(encoding="utf-8-sig"))
    outside = [key for key in ("phases", "equity", "packages_per_person_per_day") if key in scenario]
    zones, sites = read_csv(instance / "zones.csv"), read_csv(instance / "sites.csv")
    if (instance / "travel_minutes.csv").exists():
        outside.append("travel_minutes.csv")
    if any(s.get("decision") for s in sites):
        outside.append("decisions")
    if any(s.get("capacity") for s in sites):
        outside.append("capacities")
    if outside:
        sys.exit(f"crosscheck: {instance}: outside this check's model: {', '.join(outside)}")
    people = np.array([int(z["population"]) for z in zones], dtype=float)
    zone_lat = np.radians([float(z["lat"]) for z in zones])
    zone_lon = np.radians([float(z["lon"]) for z in zones])
    same_day_given = np.zeros(len(zones), dtype=bool)
    next_day_given = np.zeros(len(zones), dtype=bool)
    options = []  # (site_id, action, cost in USD, same-day zones, next-day zones)
    for site in sites:
        minutes = minutes_from(np.radians(float(site["lat"])), np.radians(float(site["lon"])), zone_lat, zone_lon,
                               scenario)
        same_day = np.flatnonzero(minutes <= scenario["same_day_minutes"])
        next_day = np.flatnonzero(minutes <= scenario["next_day_minutes"])
        none = np.zeros(0, dtype=np.int64)
        if site["kind"] == "center":
            same_day_given[same_day] = True
            next_day_given[next_day] = True
        elif site["kind"] == "station":
            next_day_given[next_day] = True
            options.append((site["site_id"], "upgrade", float(site["upgrade_cost"]), same_day, none))
        else:
            options.append((site["site_id"], "open_station", float(site["station_cost"]), none, next_day))
            options.append((site["site_id"], "open_center", float(site["center_cost"]), same_day, next_day))
    return scenario, people, same_day_given, next_day_given, options


def reach_matrix(options: list, tier: int, n_zones: int) -> sparse.csr_matrix:
    rows = np.concatenate([o[tier] for o in options])
    columns = np.repeat(np.arange(len(options)), [len(o[tier]) for o in options])
    return sparse.csr_matrix((np.ones(rows.size), (rows, columns)), shape=(n_zones, len(options)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance", type=Path)
    parser.add_argument("plans", type=Path, nargs="+", metavar="plan")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="seconds per stage (default 3600)")
    parser.add_argument("--feasibility-tolerance", type=float, default=None)
    args = parser.parse_args(argv)

    began = time.perf_counter()
    scenario, people, same_day_given, next_day_given, options = build(args.instance)
    n_zones, n_options = len(people), len(options)
    same_day_reach, next_day_reach = reach_matrix(options, 3, n_zones), reach_matrix(options, 4, n_zones)
    cost = np.array([o[2] for o in options]) / USD_UNIT

    print(f"{args.instance.name}: {n_zones:,} zones, {n_options:,} options, built in "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    plans, verdict = [], 0
    for directory in args.plans:
        actions = {(s["site_id"], s["action"]) for s in read_csv(directory / "sites.csv")}
        x = np.array([(o[0], o[1]) in actions for o in options], dtype=float)
        summary = json.loads((directory / "plan.json").read_text())
        plans.append((directory, summary, {s["stage"]: s for s in summary["stages"]}))
        evaluated = (people @ np.minimum(1, same_day_given + same_day_reach @ x),
                     people @ np.minimum(1, next_day_given + next_day_reach @ x), cost @ x * USD_UNIT)
        written = (summary["same_day_population"], summary["next_day_population"], summary["cost"])
        recomputes = np.allclose(evaluated, written, rtol=0, atol=0.01)
        verdict = verdict or (0 if recomputes else 1)
        print(f"  plan {directory}: gap requested {summary['mip_gap_requested']:g}, status {summary['status']}; "
              f"evaluated here {evaluated[0]:,.0f} / {evaluated[1]:,.0f} / ${evaluated[2]:,.2f}, "
              f"plan.json {written[0]:,} / {written[1]:,} / ${written[2]:,.2f}"
              f"{'' if recomputes else ': FIGURES DIFFER'}", flush=True)

    # Columns: x (options), y (same-day per zone), z (next-day per zone).
    n = n_options + 2 * n_zones
    identity, empty = sparse.identity(n_zones, format="csr"), sparse.csr_matrix((n_zones, n_zones))
    candidates = {}
    for column, option in enumerate(options):
        candidates.setdefault(option[0], []).append(column)
    one_action = [columns for columns in candidates.values() if len(columns) > 1]
    one_action_rows = sparse.csr_matrix(
        (np.ones(sum(map(len, one_action))),
         (np.repeat(np.arange(len(one_action)), [len(c) for c in one_action]), np.concatenate(one_action))),
        shape=(len(one_action), n))
    A = sparse.vstack([sparse.hstack([-same_day_reach, identity, empty]),  # y_i <= given_i + sum a_io x_o
                       sparse.hstack([-next_day_reach, empty, identity]),  # z_j <= given_j + sum b_jo x_o
                       one_action_rows,
                       sparse.csr_matrix(np.concatenate([cost, np.zeros(2 * n_zones)])[None, :])]).tocsr()
    upper = np.concatenate([same_day_given, next_day_given, np.ones(len(one_action)),
                            [scenario["budget"] / USD_UNIT]]).astype(float)

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("time_limit", args.time_limit)
    if args.feasibility_tolerance is not None:
        h.setOptionValue("mip_feasibility_tolerance", args.feasibility_tolerance)
        h.setOptionValue("primal_feasibility_tolerance", args.feasibility_tolerance)
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
    h.addRows(A.shape[0], np.full(A.shape[0], -highspy.kHighsInf), upper, A.nnz, A.indptr.astype(np.int32),
              A.indices.astype(np.int32), A.data)

    zeros = np.zeros(n_zones)
    stages = (("same_day", np.concatenate([np.zeros(n_options), people, zeros]), highspy.ObjSense.kMaximize, 1.0),
              ("next_day", np.concatenate([np.zeros(n_options), zeros, people]), highspy.ObjSense.kMaximize, 1.0),
              ("cost", np.concatenate([cost, zeros, zeros]), highspy.ObjSense.kMinimize, USD_UNIT))
    for stage, objective, sense, unit in stages:
        h.changeColsCost(n, np.arange(n, dtype=np.int32), objective)
        h.changeObjectiveSense(sense)
        h.setOptionValue("mip_abs_gap", 0.5 if stage != "cost" else 0.0)  # whole people
        started = time.perf_counter()
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        optimum = h.getInfo().objective_function_value * unit
        print(f"  {stage:<9} unreduced HiGHS: {status} {optimum:,.2f} in {time.perf_counter() - started:.1f} s",
              flush=True)
        if status != "Optimal":
            return 2
        slack = 0.5 if stage != "cost" else 0.01
        for directory, summary, stage_of in plans:
            theirs = stage_of[stage]
            bound = theirs["bound"]  # None: the stage promised no bound
            checks = {"bound holds": bound is None or (bound >= optimum - slack if stage != "cost"
                                                       else bound <= optimum + slack)}
            if stage == "same_day":
                checks["plan within the optimum"] = theirs["objective"] <= optimum + slack
            if summary["mip_gap_requested"] == 0 and summary["status"] == "optimal":
                checks["equals the optimum"] = abs(theirs["objective"] - optimum) <= slack
            failed = [check for check, held in checks.items() if not held]
            verdict = verdict or (1 if failed else 0)
            promised = "no bound" if bound is None else f"bound {bound:,.2f} (gap {theirs['mip_gap']:.1e})"
            print(f"    {directory.name}: {theirs['objective']:,.2f}, {promised}, {theirs['status']}: "
                  f"{'FAILS ' + ', '.join(failed) if failed else ', '.join(checks)}", flush=True)
        if stage != "cost":  # keep this stage at its optimum (whole people: half a person of room)
            columns = np.flatnonzero(objective).astype(np.int32)
            h.addRow(round(optimum) - 0.5, highspy.kHighsInf, columns.size, columns, objective[columns])
    return verdict


if __name__ == "__main__":
    sys.exit(main())
