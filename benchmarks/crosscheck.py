"""An independent check of plans at national scale: the unreduced lexicographic MIP, built here
from the instance's raw files with numpy (no ruralreach code: no reach, reductions, merging or
fixing), solved stage by stage by HiGHS at gap 0, against the plans ruralreach wrote.

    python benchmarks/crosscheck.py INSTANCE_DIR PLAN_DIR [PLAN_DIR ...] [--time-limit S]
                                    [--feasibility-tolerance T]

Each plan's actions are evaluated here (people same-day and next-day after each phase, cost per
phase) and must recompute the plan's figures, keep every phase's budget, every `never` and
`must:` decision and every equity floor. Then the script solves (1) the most same-day people;
(2) keeping that, the most next-day people; (3) keeping both, the least cost (people weighted by
phase, as the scenario says), and checks every plan against each optimum: its bound must hold
(same-day and next-day bounds at or above the optimum, the cost bound at or below it: a plan's
later stages keep floors no higher than the optima, so their optima are no worse), its same-day
people must not exceed the optimum, and a plan proven at gap 0 must equal every optimum (people
exactly, cost to a cent). When no plan meets the equity floors, every plan must say so
(`infeasible`), and the largest share of every floor one plan meets, solved here at gap 0, must lie
within each plan's `equity.max_feasible_scale` (its value at or below, its bound at or above).
A plan stopped by its time limit before it found one (`time_limit`, no stage value) must take no
action, and only the bounds it gives are checked.
Exit 0 when every check holds, 1 when one does not, 2 when a stage is not solved to optimality
within the time limit or a plan was solved at another budget than the instance's.

The model is the README's, written without any of ruralreach's reductions: a column per option
and phase (upgrade a station; open a candidate as a delivery station or as a service center), a
same-day and a next-day column per zone and phase, a row per zone, tier and phase (reached by an
existing site, or by an option taken in that phase or before), one action per site over the whole
plan (exactly one where it must act; none where it never may), one budget row per phase (spending
through it at most the budgets through it), one floor row per equity group over the last phase,
and money in thousands of USD. Plans are checked at the instance's own budget. Instances with
capacities or travel_minutes.csv are outside it and refused.

``--feasibility-tolerance`` sets HiGHS's MIP and primal feasibility tolerances (default: HiGHS's
own): the README's benchmark section records what 1e-9 did.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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


def phases_of(scenario: dict) -> list[dict]:
    """The scenario's phases (name, budget in USD, weight), or one phase with the whole budget."""
    if not scenario.get("phases"):
        return [{"name": "", "budget": float(scenario["budget"]), "weight": 1.0}]
    return [{"name": p["name"], "budget": float(p["budget"]), "weight": float(p.get("weight", 1.0))}
            for p in scenario["phases"]]


def equity_groups(scenario: dict, zones: list[dict]) -> list[tuple[str, float, np.ndarray]]:
    """Per equity group: its name, the people its floor asks for (share times its population),
    and its zones' positions. Zones with a blank value are in no group."""
    equity = scenario.get("equity")
    if not equity:
        return []
    members: dict[str, list[int]] = {}
    for position, zone in enumerate(zones):
        label = zone[equity["column"]].strip()
        if label:
            members.setdefault(label, []).append(position)
    floors = equity.get("groups", {})
    people = np.array([int(z["population"]) for z in zones], dtype=float)
    return [(group, float(floors.get(group, equity.get("min_same_day_share", 0.0))) * people[rows].sum(),
             np.array(rows)) for group, rows in members.items()]


def build(instance: Path):
    """The instance's raw files as arrays: the scenario, its phases, each zone's people and
    whether existing sites reach it (same-day, next-day), the options (site, action, cost, the
    zones it reaches same-day and next-day; the phase is a column index of its own), the sites
    that must act, and the equity groups."""
    scenario = tomllib.loads((instance / "scenario.toml").read_text(encoding="utf-8-sig"))
    outside = [key for key in ("packages_per_person_per_day",) if key in scenario]
    zones, sites = read_csv(instance / "zones.csv"), read_csv(instance / "sites.csv")
    if (instance / "travel_minutes.csv").exists():
        outside.append("travel_minutes.csv")
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
    must = set()
    for site in sites:
        minutes = minutes_from(np.radians(float(site["lat"])), np.radians(float(site["lon"])), zone_lat, zone_lon,
                               scenario)
        same_day = np.flatnonzero(minutes <= scenario["same_day_minutes"])
        next_day = np.flatnonzero(minutes <= scenario["next_day_minutes"])
        none = np.zeros(0, dtype=np.int64)
        decision = site.get("decision", "")
        if site["kind"] == "center":
            same_day_given[same_day] = True
            next_day_given[next_day] = True
            continue
        if site["kind"] == "station":
            next_day_given[next_day] = True
            actions = [("upgrade", float(site["upgrade_cost"]), same_day, none)]
        else:
            actions = [("open_station", float(site["station_cost"]), none, next_day),
                       ("open_center", float(site["center_cost"]), same_day, next_day)]
        if decision == "never":
            continue
        if decision.startswith("must:"):
            actions = [a for a in actions if a[0] == decision[len("must:"):]]
            must.add(site["site_id"])
        options += [(site["site_id"], *action) for action in actions]
    return (scenario, phases_of(scenario), zones, people, same_day_given, next_day_given, options, must,
            equity_groups(scenario, zones))


def reach_matrix(options: list, tier: int, n_zones: int) -> sparse.csr_matrix:
    rows = np.concatenate([o[tier] for o in options]) if options else np.zeros(0, dtype=np.int64)
    columns = np.repeat(np.arange(len(options)), [len(o[tier]) for o in options])
    return sparse.csr_matrix((np.ones(rows.size), (rows, columns)), shape=(n_zones, len(options)))


def judged(checks: dict[str, bool]) -> tuple[int, str]:
    """The verdict of named checks (1 when one fails) and the words that report them."""
    failed = [check for check, held in checks.items() if not held]
    return (1 if failed else 0), ("FAILS " + ", ".join(failed) if failed else ", ".join(checks))


def quiet_highs() -> highspy.Highs:
    """A HiGHS solver, without the banner it prints on stdout as it is created (the report is
    this script's stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def has_plan(summary: dict, stage_of: dict) -> bool:
    """Whether a plan holds a plan: not when no plan meets every constraint (``infeasible``) or
    none was found before the time limit (its stages then have no value)."""
    return summary["status"] != "infeasible" and stage_of["same_day"]["objective"] is not None


def read_actions(directory: Path, options: list, phases: list[dict]) -> tuple[np.ndarray, list[str]]:
    """A plan's actions as the x columns (phase by phase, option by option), and the actions that
    are no column (an action at a site that may not take it: a broken decision)."""
    column = {(o[0], o[1], t): t * len(options) + k for t in range(len(phases)) for k, o in enumerate(options)}
    names = [p["name"] for p in phases]
    x = np.zeros(len(phases) * len(options))
    broken = []
    for site in read_csv(directory / "sites.csv"):
        if site["action"] == "none":
            continue
        phase = site.get("phase", "")
        key = (site["site_id"], site["action"], names.index(phase) if phase in names else -1)
        if key in column:
            x[column[key]] = 1.0
        else:
            broken.append(f"{site['site_id']} {site['action']} {phase}".strip())
    return x, broken


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance", type=Path)
    parser.add_argument("plans", type=Path, nargs="+", metavar="plan")
    parser.add_argument("--time-limit", type=float, default=3600.0, help="seconds per stage (default 3600)")
    parser.add_argument("--feasibility-tolerance", type=float, default=None)
    args = parser.parse_args(argv)

    began = time.perf_counter()
    scenario, phases, zones, people, same_day_given, next_day_given, options, must, groups = build(args.instance)
    n_zones, n_options, n_phases = len(people), len(options), len(phases)
    same_day_reach, next_day_reach = reach_matrix(options, 3, n_zones), reach_matrix(options, 4, n_zones)
    cost = np.array([o[2] for o in options]) / USD_UNIT
    weight = np.array([p["weight"] for p in phases])
    budgets = np.cumsum([p["budget"] for p in phases])  # USD through each phase
    # Columns: x (an option taken in a phase; phase by phase), y (a zone same-day after a phase),
    # z (next-day after a phase): n_x + 2 * n_y.
    n_x, n_y = n_phases * n_options, n_phases * n_zones
    n = n_x + 2 * n_y

    def after_each_phase(x: np.ndarray, reach: sparse.csr_matrix, given: np.ndarray) -> np.ndarray:
        """Whether each zone is reached after each phase (phases x zones), for x as columns."""
        taken = np.cumsum(x.reshape(n_phases, n_options), axis=0)
        return np.minimum(1, given[None, :] + (reach @ taken.T).T) > 0.5

    print(f"{args.instance.name}: {n_zones:,} zones, {n_options:,} options, {n_phases} phase(s), "
          f"{len(must)} sites that must act, {len(groups)} equity groups; built in "
          f"{time.perf_counter() - began:.1f} s", flush=True)
    plans, verdict = [], 0
    for directory in args.plans:
        x, broken = read_actions(directory, options, phases)
        summary = json.loads((directory / "plan.json").read_text())
        if abs(summary["budget"] - budgets[-1]) > 0.01:
            print(f"crosscheck: {directory}: solved at ${summary['budget']:,.2f}, not at the instance's "
                  f"${budgets[-1]:,.2f}", file=sys.stderr)
            return 2
        plans.append((directory, summary, {s["stage"]: s for s in summary["stages"]}))
        same, following = after_each_phase(x, same_day_reach, same_day_given), after_each_phase(x, next_day_reach, next_day_given)
        spent = x.reshape(n_phases, n_options) @ cost * USD_UNIT
        evaluated = {"same_day_population": people @ same[-1], "next_day_population": people @ following[-1],
                     "cost": spent.sum()}
        checks = {"figures recompute": all(abs(evaluated[k] - summary[k]) <= 0.01 for k in evaluated)}
        for t, figures in enumerate(summary.get("phases", [])):
            checks["figures recompute"] &= (abs(figures["cost"] - spent[t]) <= 0.01
                                            and figures["same_day_population"] == people @ same[t]
                                            and figures["next_day_population"] == people @ following[t])
        stage_of = plans[-1][2]
        if not has_plan(summary, stage_of):  # none meets every constraint, or none was found in time
            checks["takes no action"] = not x.any()
        else:
            weighted = {"same_day": weight @ (same @ people), "next_day": weight @ (following @ people)}
            checks["figures recompute"] &= all(abs(stage_of[k]["objective"] - v) <= 0.01 for k, v in weighted.items())
            checks["budgets kept"] = bool(np.all(np.cumsum(spent) <= budgets + 0.01))
            acting = {o[0] for o, taken in zip(options * n_phases, x) if taken}
            checks["decisions kept"] = not broken and must <= acting
            checks["floors met"] = all(people[rows] @ same[-1][rows] >= need for _, need, rows in groups)
        failed, words = judged(checks)
        verdict = verdict or failed
        print(f"  plan {directory}: gap requested {summary['mip_gap_requested']:g}, status {summary['status']}; "
              f"evaluated here {evaluated['same_day_population']:,.0f} / {evaluated['next_day_population']:,.0f} / "
              f"${evaluated['cost']:,.2f}, plan.json {summary['same_day_population']:,} / "
              f"{summary['next_day_population']:,} / ${summary['cost']:,.2f}: {words}", flush=True)

    no_reach = sparse.csr_matrix((n_zones, n_options))
    rows = []
    for reach, tier in ((same_day_reach, 0), (next_day_reach, 1)):  # y_it <= given_i + sum over t' <= t
        for t in range(n_phases):
            x_part = sparse.hstack([-reach if s <= t else no_reach for s in range(n_phases)])
            zone_part = [sparse.csr_matrix((n_zones, n_y))] * 2
            zone_part[tier] = sparse.csr_matrix(
                (np.ones(n_zones), (np.arange(n_zones), t * n_zones + np.arange(n_zones))), shape=(n_zones, n_y))
            rows.append(sparse.hstack([x_part, *zone_part]))
    given = np.concatenate([np.tile(same_day_given, n_phases), np.tile(next_day_given, n_phases)]).astype(float)
    lower, upper = [np.full(2 * n_y, -highspy.kHighsInf)], [given]
    columns_of_site: dict[str, list[int]] = {}
    for t in range(n_phases):
        for k, option in enumerate(options):
            columns_of_site.setdefault(option[0], []).append(t * n_options + k)
    site_ids = list(columns_of_site)
    one_action = sparse.csr_matrix(
        (np.ones(n_x), (np.repeat(np.arange(len(site_ids)), [len(columns_of_site[s]) for s in site_ids]),
                        np.concatenate([columns_of_site[s] for s in site_ids]))), shape=(len(site_ids), n))
    rows.append(one_action)  # one action per site over the whole plan (exactly one where it must act)
    lower.append(np.array([1.0 if s in must else -highspy.kHighsInf for s in site_ids]))
    upper.append(np.ones(len(site_ids)))
    spend = sparse.csr_matrix(np.tril(np.ones((n_phases, n_phases))))  # budgets through each phase
    rows.append(sparse.hstack([sparse.kron(spend, sparse.csr_matrix(cost[None, :])), sparse.csr_matrix((n_phases, 2 * n_y))]))
    lower.append(np.full(n_phases, -highspy.kHighsInf))
    upper.append(budgets / USD_UNIT)
    floors = [(group, need, members) for group, need, members in groups if need > 0]
    if floors:  # each group's people same-day after the last phase
        last = n_x + (n_phases - 1) * n_zones
        rows.append(sparse.csr_matrix(
            (np.concatenate([people[m] for _, _, m in floors]),
             (np.repeat(np.arange(len(floors)), [len(m) for _, _, m in floors]),
              np.concatenate([last + m for _, _, m in floors]))), shape=(len(floors), n)))
        lower.append(np.array([need for _, need, _ in floors]))
        upper.append(np.full(len(floors), highspy.kHighsInf))
    A = sparse.vstack(rows).tocsr()
    lower, upper = np.concatenate(lower), np.concatenate(upper)

    h = quiet_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("time_limit", args.time_limit)
    if args.feasibility_tolerance is not None:
        h.setOptionValue("mip_feasibility_tolerance", args.feasibility_tolerance)
        h.setOptionValue("primal_feasibility_tolerance", args.feasibility_tolerance)
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
    h.addRows(A.shape[0], lower, upper, A.nnz, A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data)

    # Weighted people are whole when the weights are: then half a person is room enough to
    # keep a stage at its optimum, and an absolute gap of half a person proves it exact.
    whole = bool(np.all(weight == np.round(weight)))
    room = 0.5 if whole else 1e-6
    zeros = np.zeros(n_y)
    stages = (("same_day", np.concatenate([np.zeros(n_x), np.kron(weight, people), zeros]), highspy.ObjSense.kMaximize, 1.0),
              ("next_day", np.concatenate([np.zeros(n_x), zeros, np.kron(weight, people)]), highspy.ObjSense.kMaximize, 1.0),
              ("cost", np.concatenate([np.tile(cost, n_phases), zeros, zeros]), highspy.ObjSense.kMinimize, USD_UNIT))
    for stage, objective, sense, unit in stages:
        h.changeColsCost(n, np.arange(n, dtype=np.int32), objective)
        h.changeObjectiveSense(sense)
        h.setOptionValue("mip_abs_gap", room if stage != "cost" else 0.0)
        started = time.perf_counter()
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        print(f"  {stage:<9} unreduced HiGHS: {status}", end="", flush=True)
        if status == "Infeasible" and stage == "same_day":
            print(f" in {time.perf_counter() - started:.1f} s", flush=True)
            return verdict or check_infeasible(h, plans, floors, n)
        if status != "Optimal":
            print(flush=True)
            return 2
        optimum = h.getInfo().objective_function_value * unit
        print(f" {optimum:,.2f} in {time.perf_counter() - started:.1f} s", flush=True)
        slack = room if stage != "cost" else 0.01
        for directory, summary, stage_of in plans:
            if summary["status"] == "infeasible":
                print(f"    {directory.name}: FAILS: says no plan meets every floor, but one does", flush=True)
                verdict = 1
                continue
            if stage not in stage_of:  # stopped by its time limit before this stage
                print(f"    {directory.name}: no {stage} stage, {summary['status']}", flush=True)
                continue
            theirs = stage_of[stage]
            bound = theirs["bound"]  # None: the stage promised no bound
            checks = {"bound holds": bound is None or (bound >= optimum - slack if stage != "cost"
                                                       else bound <= optimum + slack)}
            if stage == "same_day" and has_plan(summary, stage_of):
                checks["plan within the optimum"] = theirs["objective"] <= optimum + slack
            if summary["mip_gap_requested"] == 0 and summary["status"] == "optimal":
                checks["equals the optimum"] = abs(theirs["objective"] - optimum) <= slack
            failed, words = judged(checks)
            verdict = verdict or failed
            promised = "no bound" if bound is None else f"bound {bound:,.2f} (gap {theirs['mip_gap']:.1e})"
            value = "no plan" if theirs["objective"] is None else f"{theirs['objective']:,.2f}"
            print(f"    {directory.name}: {value}, {promised}, {theirs['status']}: {words}", flush=True)
        if stage != "cost":  # keep this stage at its optimum
            columns = np.flatnonzero(objective).astype(np.int32)
            h.addRow((round(optimum) if whole else optimum) - room, highspy.kHighsInf, columns.size, columns,
                     objective[columns])
    return verdict


def check_infeasible(h: highspy.Highs, plans: list, floors: list, n: int) -> int:
    """No plan meets every floor: every plan must say so, and the largest share of every floor that
    one plan meets (a column of its own, maximized at gap 0) must lie within each plan's
    ``equity.max_feasible_scale`` (its value at or below it, its bound at or above)."""
    first = h.getNumRow() - len(floors)
    h.addCol(1.0, 0.0, 1.0, len(floors), np.arange(first, first + len(floors), dtype=np.int32),
             np.array([-need for _, need, _ in floors]))
    h.changeColsCost(n, np.arange(n, dtype=np.int32), np.zeros(n))
    h.changeRowsBounds(len(floors), np.arange(first, first + len(floors), dtype=np.int32), np.zeros(len(floors)),
                       np.full(len(floors), highspy.kHighsInf))
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.setOptionValue("mip_abs_gap", 0.0)
    started = time.perf_counter()
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    if status != "Optimal":
        print(f"  largest share of the floors: {status}", flush=True)
        return 2
    share = h.getInfo().objective_function_value
    print(f"  largest share of the floors, unreduced HiGHS: {share:.6f} in {time.perf_counter() - started:.1f} s",
          flush=True)
    verdict = 0
    for directory, summary, stage_of in plans:
        scale = summary.get("equity", {}).get("max_feasible_scale") or {}
        # A plan stopped by its time limit before it found one says only that: no share is owed.
        stopped = summary["status"] == "time_limit" and not has_plan(summary, stage_of)
        checks = {"says it has none": summary["status"] == "infeasible" or stopped,
                  "share's bound holds": scale.get("bound") is None or scale["bound"] >= share - 1e-6,
                  "share within the optimum": scale.get("value") is None or scale["value"] <= share + 1e-6}
        failed, words = judged(checks)
        verdict = verdict or failed
        print(f"    {directory.name}: status {summary['status']}, share {scale.get('value')}, "
              f"bound {scale.get('bound')}: {words}", flush=True)
    return verdict


if __name__ == "__main__":
    sys.exit(main())
