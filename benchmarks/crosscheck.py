"""An independent check of plans at national scale: the unreduced lexicographic MIP, built here
from the instance's raw files with numpy (no ruralreach code: no reach, reductions, merging or
fixing), solved stage by stage by HiGHS at gap 0, against the plans ruralreach wrote.

    python benchmarks/crosscheck.py INSTANCE_DIR PLAN_DIR [PLAN_DIR ...] [--time-limit S]
                                    [--feasibility-tolerance T]

Each plan's actions are evaluated here (people same-day, or served same-day with capacities,
and next-day after each phase; cost per phase) and must recompute the plan's figures, keep every
phase's budget, every `never` and `must:` decision and every equity floor. Then the script
solves (1) the most same-day people; (2) keeping that, the most next-day people; (3) keeping
both, the least cost (people weighted by phase, as the scenario says), and checks every plan
against each optimum: its bound must hold (same-day and next-day bounds at or above the optimum,
the cost bound at or below it: a plan's later stages keep floors no higher than the optima, so
their optima are no worse), its same-day people must not exceed the optimum, and a plan proven
at gap 0 must equal every optimum (people exactly, cost to a cent; people served with capacities
to 1e-6 of them). When no plan meets the equity floors, every plan must say so
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
and money in thousands of USD. With capacities (README, "capacity"), the same-day column of a
zone and phase is the share of its demand served, reached in full by an inventory site without a
capacity or by what the sites with one ship: a column per (zone, site within same-day reach,
phase) for the share of the zone's demand the site ships, a row per site and phase holding its
shipments to its capacity times whether it is open by then, and a row per zone and phase serving
it only within reach of an inventory site open by then; each plan's best split is this model's LP
with the plan's actions fixed. (The textbook strong form, a row per zone and site, gave the same
LP bound on a four-state region, and its LP took 315 s there: benchmarks/README.md.) Plans are
checked at the instance's own budget. Instances with travel_minutes.csv are outside it and
refused.

``--feasibility-tolerance`` sets HiGHS's MIP and primal feasibility tolerances (default: HiGHS's
own): benchmarks/README.md records what 1e-9 did.

``--promises`` checks what each plan promises instead, stage by stage (README: "a bound is a
promise ... given the floors the plan kept"): the same unreduced model keeps each earlier people
stage at the value the plan's own stage recorded, and HiGHS is asked for any plan that beats the
stage's bound (its first such plan ends the search). "Infeasible" proves the bound; a plan it finds is
evaluated here and fails the bound only if it keeps the floors, the budgets and the equity floors
exactly. Where a later stage's exact optimum takes far longer than the time limit nationally,
this question is often answered in minutes. The figures are checked as above either way.
"""

from __future__ import annotations

import argparse
import csv
import decimal
import json
import math
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
FEASIBLE = highspy.SolutionStatus.kSolutionStatusFeasible  # HiGHS holds a plan (its primal solution)


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
    people = np.array([people_of(z) for z in zones], dtype=float)
    return [(group, float(floors.get(group, equity.get("min_same_day_share", 0.0))) * people[rows].sum(),
             np.array(rows)) for group, rows in members.items()]


def people_of(zone: dict) -> int:
    """A zone's population: a whole number as the instance format allows it written (``1000``,
    ``1e3``, ``1000.0``)."""
    return int(decimal.Decimal(zone["population"].strip()))


def build(instance: Path):
    """The instance's raw files as arrays: the scenario, its phases, each zone's people and
    whether existing sites reach it (same-day, next-day; with capacities, same-day only through
    an existing center without one), the options (site, action, cost, the zones it reaches
    same-day and next-day, its same-day capacity in packages a day or None for none; the phase is
    a column index of its own), the existing centers with a capacity (site, capacity, the zones
    they reach same-day), each zone's same-day demand in packages a day, the sites that must act,
    and the equity groups."""
    scenario = tomllib.loads((instance / "scenario.toml").read_text(encoding="utf-8-sig"))
    zones, sites = read_csv(instance / "zones.csv"), read_csv(instance / "sites.csv")
    if (instance / "travel_minutes.csv").exists():
        sys.exit(f"crosscheck: {instance}: outside this check's model: travel_minutes.csv")
    people = np.array([people_of(z) for z in zones], dtype=float)
    demand = people * float(scenario.get("packages_per_person_per_day", 0.0))
    zone_lat = np.radians([float(z["lat"]) for z in zones])
    zone_lon = np.radians([float(z["lon"]) for z in zones])
    same_day_given = np.zeros(len(zones), dtype=bool)
    next_day_given = np.zeros(len(zones), dtype=bool)
    options = []  # (site_id, action, cost in USD, same-day zones, next-day zones, capacity or None)
    existing_suppliers = []  # (site_id, capacity, same-day zones)
    must = set()
    for site in sites:
        minutes = minutes_from(np.radians(float(site["lat"])), np.radians(float(site["lon"])), zone_lat, zone_lon,
                               scenario)
        same_day = np.flatnonzero(minutes <= scenario["same_day_minutes"])
        next_day = np.flatnonzero(minutes <= scenario["next_day_minutes"])
        none = np.zeros(0, dtype=np.int64)
        capacity = float(site["capacity"]) if site.get("capacity") else None  # as an inventory site
        decision = site.get("decision", "")
        if site["kind"] == "center":
            if capacity is None:
                same_day_given[same_day] = True
            else:
                existing_suppliers.append((site["site_id"], capacity, same_day))
            next_day_given[next_day] = True
            continue
        if site["kind"] == "station":
            next_day_given[next_day] = True
            actions = [("upgrade", float(site["upgrade_cost"]), same_day, none, capacity)]
        else:  # a candidate opened as a plain delivery station holds no inventory
            actions = [("open_station", float(site["station_cost"]), none, next_day, None),
                       ("open_center", float(site["center_cost"]), same_day, next_day, capacity)]
        if decision == "never":
            continue
        if decision.startswith("must:"):
            actions = [a for a in actions if a[0] == decision[len("must:"):]]
            must.add(site["site_id"])
        options += [(site["site_id"], *action) for action in actions]
    return (scenario, phases_of(scenario), zones, people, same_day_given, next_day_given, options, existing_suppliers,
            demand, must, equity_groups(scenario, zones))


def reach_matrix(options: list, tier: int, n_zones: int) -> sparse.csr_matrix:
    rows = np.concatenate([o[tier] for o in options]) if options else np.zeros(0, dtype=np.int64)
    columns = np.repeat(np.arange(len(options)), [len(o[tier]) for o in options])
    return sparse.csr_matrix((np.ones(rows.size), (rows, columns)), shape=(n_zones, len(options)))


def judged(checks: dict[str, bool]) -> tuple[int, str]:
    """The verdict of named checks (1 when one fails) and the words that report them."""
    failed = [check for check, held in checks.items() if not held]
    return (1 if failed else 0), ("FAILS " + ", ".join(failed) if failed else ", ".join(checks))


def quiet_highs() -> highspy.Highs:
    """A silent HiGHS solver on one thread, without even the banner it prints on stdout as it is
    created (the report is this script's stdout)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    return h


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
    parser.add_argument("--write-models", type=Path, metavar="DIR",
                        help="write each stage's MIP, as it is about to be solved, to DIR/STAGE.mps")
    parser.add_argument("--promises", action="store_true",
                        help="check each plan's stage bounds directly, under the floors the plan kept: "
                             "ask for a plan that beats a bound (see below) instead of solving every optimum")
    args = parser.parse_args(argv)

    began = time.perf_counter()
    (scenario, phases, zones, people, same_day_given, next_day_given, options, existing_suppliers, demand, must,
     groups) = build(args.instance)
    n_zones, n_options, n_phases = len(people), len(options), len(phases)
    # With capacities, an inventory site with one reaches a zone same-day only by what it ships.
    inventory_reach = reach_matrix(options, 3, n_zones)  # with a capacity or not
    same_day_reach = inventory_reach @ sparse.diags(np.array([o[5] is None for o in options], dtype=float))
    same_day_reach.eliminate_zeros()
    next_day_reach = reach_matrix(options, 4, n_zones)
    # Suppliers: the options with a capacity and the existing centers with one (option -1).
    suppliers = ([(k, o[5], o[3]) for k, o in enumerate(options) if o[5] is not None]
                 + [(-1, capacity, reach) for _, capacity, reach in existing_suppliers])
    capacitated = bool(suppliers)
    supplier_option = np.array([s[0] for s in suppliers], dtype=np.int64)
    supplier_capacity = np.array([s[1] for s in suppliers], dtype=float)
    pair_zone = np.concatenate([s[2] for s in suppliers]) if suppliers else np.zeros(0, dtype=np.int64)
    pair_supplier = np.repeat(np.arange(len(suppliers)), [len(s[2]) for s in suppliers])
    n_pairs = pair_zone.size
    cost = np.array([o[2] for o in options]) / USD_UNIT
    weight = np.array([p["weight"] for p in phases])
    budgets = np.cumsum([p["budget"] for p in phases])  # USD through each phase
    # Columns: x (an option taken in a phase; phase by phase), y (a zone's share served same-day
    # after a phase: 0 or 1 without capacities), z (a zone next-day after a phase), g (the share of
    # a zone's demand a supplier ships it in a phase, a column per pair within same-day reach).
    n_x, n_y, n_g = n_phases * n_options, n_phases * n_zones, n_phases * n_pairs
    y0, z0, g0 = n_x, n_x + n_y, n_x + 2 * n_y
    n = n_x + 2 * n_y + n_g

    def through(t: int, row: np.ndarray, option: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Entries (row, x column) for each (row, option) pair, the option taken in any phase up to t."""
        return np.tile(row, t + 1), (np.arange(t + 1)[:, None] * n_options + option[None, :]).ravel()

    rows = Rows()
    blocks: dict[str, list[np.ndarray]] = {}
    for tier, reach, given, first in (("same_day", same_day_reach.tocoo(), same_day_given, y0),
                                      ("next_day", next_day_reach.tocoo(), next_day_given, z0)):
        for t in range(n_phases):  # a zone reached by an existing site, by an option taken by t, or by shipments
            row, column = through(t, reach.row, reach.col)
            entries = [(np.arange(n_zones), first + t * n_zones + np.arange(n_zones), 1.0), (row, column, -1.0)]
            if tier == "same_day":
                entries.append((pair_zone, g0 + t * n_pairs + np.arange(n_pairs), -1.0))
            blocks.setdefault(tier, []).append(rows.add(entries, np.full(n_zones, -highspy.kHighsInf), given))
    supplying = np.flatnonzero(supplier_option >= 0)
    any_inventory = inventory_reach.tocoo()
    by_existing = same_day_given.copy()
    for _, _, reach in existing_suppliers:
        by_existing[reach] = True
    for t in range(n_phases if capacitated else 0):
        # Served only within reach of an inventory site open by then (the README's "within reach"
        # rows: without them the LP serves a zone through a sliver of a site's capacity).
        row, column = through(t, any_inventory.row, any_inventory.col)
        blocks.setdefault("within_reach", []).append(rows.add(
            [(np.arange(n_zones), y0 + t * n_zones + np.arange(n_zones), 1.0), (row, column, -1.0)],
            np.full(n_zones, -highspy.kHighsInf), by_existing.astype(float)))
        # What a site ships in the phase, at most its capacity (none from a site not open by then).
        row, column = through(t, supplying, supplier_option[supplying])
        blocks.setdefault("capacity", []).append(rows.add(
            [(pair_supplier, g0 + t * n_pairs + np.arange(n_pairs), demand[pair_zone]),
             (row, column, -np.tile(supplier_capacity[supplying], t + 1))],
            np.full(len(suppliers), -highspy.kHighsInf), np.where(supplier_option >= 0, 0.0, supplier_capacity)))
    site_ids = list(dict.fromkeys(o[0] for o in options))
    position = {site: k for k, site in enumerate(site_ids)}
    site_of_option = np.array([position[o[0]] for o in options], dtype=np.int64)
    rows.add([(np.tile(site_of_option, n_phases), np.arange(n_x), 1.0)],  # one action per site over the plan
             np.array([1.0 if s in must else -highspy.kHighsInf for s in site_ids]), np.ones(len(site_ids)))
    for t in range(n_phases):  # spending through each phase at most the budgets through it
        row, column = through(t, np.zeros(n_options, dtype=np.int64), np.arange(n_options))
        rows.add([(row, column, np.tile(cost, t + 1))], [-highspy.kHighsInf], [budgets[t] / USD_UNIT])
    floors = [(group, need, members) for group, need, members in groups if need > 0]
    last = y0 + (n_phases - 1) * n_zones
    blocks["floors"] = [rows.add(  # each group's people same-day after the last phase (the last rows)
        [(np.repeat(np.arange(len(floors)), [len(m) for _, _, m in floors]),
          np.concatenate([last + m for _, _, m in floors]) if floors else np.zeros(0, dtype=np.int64),
          np.concatenate([people[m] for _, _, m in floors]) if floors else np.zeros(0))],
        np.array([need for _, need, _ in floors]), np.full(len(floors), highspy.kHighsInf))]
    A, lower, upper = rows.matrix(n)
    same_day_objective = np.zeros(n)
    same_day_objective[y0:z0] = np.kron(weight, people)
    served_objective = np.zeros(n)
    served_objective[y0:z0] = np.tile(people, n_phases)

    def after_each_phase(x: np.ndarray, reach: sparse.csr_matrix, given: np.ndarray) -> np.ndarray:
        """Whether each zone is reached after each phase (phases x zones), for x as columns."""
        taken = np.cumsum(x.reshape(n_phases, n_options), axis=0)
        return np.minimum(1, given[None, :] + (reach @ taken.T).T) > 0.5

    def served_by(x: np.ndarray) -> tuple[np.ndarray, bool]:
        """The people a plan serves same-day in each zone after each phase (phases x zones), and
        whether that meets every floor. With capacities, the best split of each phase (the last
        one's meeting the floors, if any split does): an LP over the shipments, x fixed."""
        if not capacitated:
            served = after_each_phase(x, same_day_reach, same_day_given) * people
            # A floor is met to 1e-9 of itself (the README's instance format: 0.3 x 10 people
            # is 3.0000000000000004 in binary floating point, and 3 people meet it).
            return served, all(served[-1][members].sum() >= need * (1 - 1e-9) for _, need, members in floors)
        for with_floors in (True, False):
            selected = np.concatenate(blocks["same_day"] + blocks["within_reach"] + blocks["capacity"]
                                      + (blocks["floors"] if with_floors else []))
            split = quiet_highs()
            column_lower, column_upper = np.zeros(n), np.ones(n)
            column_lower[:n_x] = column_upper[:n_x] = x
            split.addVars(n, column_lower, column_upper)
            part = A[selected]
            split.addRows(part.shape[0], lower[selected], upper[selected], part.nnz, part.indptr.astype(np.int32),
                          part.indices.astype(np.int32), part.data)
            # People served after each phase, whatever its weight (a phase of weight 0 serves people too).
            split.changeColsCost(n, np.arange(n, dtype=np.int32), served_objective)
            split.changeObjectiveSense(highspy.ObjSense.kMaximize)
            split.run()
            if split.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                share = np.minimum(1.0, np.asarray(split.getSolution().col_value)[y0:z0]).reshape(n_phases, n_zones)
                return share * people, with_floors
        raise RuntimeError("no split of the plan's shipments")

    # Populations are whole people without capacities; with them, people served are an LP's
    # value, compared to (a multiple of) HiGHS's feasibility tolerance on the shares.
    tolerance = 1e-6 if capacitated else 0.0

    def close(value: float, reference: float) -> bool:
        return abs(value - reference) <= 0.01 + tolerance * abs(reference)

    def evaluate(x: np.ndarray) -> dict:
        """A plan's figures, from its actions (x as columns): the people served same-day and
        reached next-day in each zone after each phase, the USD spent in each phase, whether it
        keeps every budget and meets every equity floor, and each stage's value (people weighted
        by phase; USD)."""
        served, floors_met = served_by(x)
        following = after_each_phase(x, next_day_reach, next_day_given)
        spent = x.reshape(n_phases, n_options) @ cost * USD_UNIT
        return {"served": served, "following": following, "spent": spent, "floors_met": floors_met,
                "budgets_kept": bool(np.all(np.cumsum(spent) <= budgets + 0.01)),
                "same_day": weight @ served.sum(axis=1), "next_day": weight @ (following @ people),
                "cost": spent.sum()}

    print(f"{args.instance.name}: {n_zones:,} zones, {n_options:,} options, {n_phases} phase(s), "
          f"{len(must)} sites that must act, {len(groups)} equity groups, {len(suppliers):,} sites with a capacity "
          f"({n_pairs:,} zones they may ship to); built in {time.perf_counter() - began:.1f} s", flush=True)
    plans, verdict = [], 0
    for directory in args.plans:
        x, broken = read_actions(directory, options, phases)
        summary = json.loads((directory / "plan.json").read_text())
        if abs(summary["budget"] - budgets[-1]) > 0.01:
            print(f"crosscheck: {directory}: solved at ${summary['budget']:,.2f}, not at the instance's "
                  f"${budgets[-1]:,.2f}", file=sys.stderr)
            return 2
        plans.append((directory, summary, {s["stage"]: s for s in summary["stages"]}))
        figures_here = evaluate(x)
        served, following, spent = figures_here["served"], figures_here["following"], figures_here["spent"]
        evaluated = {"same_day_population": served[-1].sum(), "next_day_population": people @ following[-1],
                     "cost": figures_here["cost"]}
        checks = {"figures recompute": all(close(summary[k], evaluated[k]) for k in evaluated)}
        for t, figures in enumerate(summary.get("phases", [])):
            checks["figures recompute"] &= (close(figures["cost"], spent[t])
                                            and close(figures["same_day_population"], served[t].sum())
                                            and close(figures["next_day_population"], people @ following[t]))
        stage_of = plans[-1][2]
        if not has_plan(summary, stage_of):  # none meets every constraint, or none was found in time
            checks["takes no action"] = not x.any()
        else:
            # (A plan stopped by its time limit, or in error, may lack the later stages.)
            checks["figures recompute"] &= all(close(stage_of[k]["objective"], figures_here[k])
                                               for k in ("same_day", "next_day")
                                               if k in stage_of and stage_of[k]["objective"] is not None)
            checks["budgets kept"] = figures_here["budgets_kept"]
            acting = {o[0] for o, taken in zip(options * n_phases, x) if taken}
            checks["decisions kept"] = not broken and must <= acting
            checks["floors met"] = figures_here["floors_met"]
        failed, words = judged(checks)
        verdict = verdict or failed
        print(f"  plan {directory}: gap requested {summary['mip_gap_requested']:g}, status {summary['status']}; "
              f"evaluated here {evaluated['same_day_population']:,.2f} / {evaluated['next_day_population']:,.0f} / "
              f"${evaluated['cost']:,.2f}, plan.json {summary['same_day_population']:,} / "
              f"{summary['next_day_population']:,} / ${summary['cost']:,.2f}: {words}", flush=True)

    def unreduced() -> highspy.Highs:
        h = quiet_highs()
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("time_limit", args.time_limit)
        if args.feasibility_tolerance is not None:
            h.setOptionValue("mip_feasibility_tolerance", args.feasibility_tolerance)
            h.setOptionValue("primal_feasibility_tolerance", args.feasibility_tolerance)
        h.addVars(n, np.zeros(n), np.ones(n))
        # x, y (whole zones, without capacities; shares with them) and z.
        integer = np.concatenate([np.arange(n_x), np.arange(z0 if capacitated else y0, g0)]).astype(np.int32)
        h.changeColsIntegrality(integer.size, integer,
                                np.full(integer.size, highspy.HighsVarType.kInteger, dtype=np.uint8))
        h.addRows(A.shape[0], lower, upper, A.nnz, A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data)
        return h

    # Weighted people are whole when the weights are (and, same-day, when there is no capacity):
    # then half a person is room enough to keep a stage at its optimum, and an absolute gap of
    # half a person proves it exact.
    whole_weights = bool(np.all(weight == np.round(weight)))
    next_day_objective = np.zeros(n)
    next_day_objective[z0:g0] = np.kron(weight, people)
    cost_objective = np.zeros(n)
    cost_objective[:n_x] = np.tile(cost, n_phases)
    stages = (("same_day", same_day_objective, highspy.ObjSense.kMaximize, 1.0, whole_weights and not capacitated),
              ("next_day", next_day_objective, highspy.ObjSense.kMaximize, 1.0, whole_weights),
              ("cost", cost_objective, highspy.ObjSense.kMinimize, USD_UNIT, False))
    if args.promises:
        return verdict or check_promises(unreduced, stages, plans, evaluate, tolerance, n_x)
    h = unreduced()
    for stage, objective, sense, unit, whole in stages:
        h.changeColsCost(n, np.arange(n, dtype=np.int32), objective)
        h.changeObjectiveSense(sense)
        h.setOptionValue("mip_abs_gap", 0.5 if whole else 0.0)
        if args.write_models is not None:
            args.write_models.mkdir(parents=True, exist_ok=True)
            h.writeModel(str(args.write_models / f"{stage}.mps"))
        started = time.perf_counter()
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        if status in ("Infeasible", "Solve error"):
            # HiGHS's presolve has called a feasible capacitated MIP infeasible (a tiny phased
            # instance's next-day stage), and a phased one's optimum infeasible once restored
            # ("Solve error": 8 rows off by up to 1 after postsolve): the answer is the one
            # without it.
            h.clearSolver()
            h.setOptionValue("presolve", "off")
            h.run()
            h.setOptionValue("presolve", "choose")
            status = h.modelStatusToString(h.getModelStatus())
        print(f"  {stage:<9} unreduced HiGHS: {status}", end="", flush=True)
        if status == "Infeasible" and stage == "same_day":
            print(f" in {time.perf_counter() - started:.1f} s", flush=True)
            return verdict or check_infeasible(h, plans, floors, n)
        if status != "Optimal":
            # What the search found still checks the plans; the later stages, which need this
            # one's optimum for their floor, are not checked.
            info = h.getInfo()
            found = info.objective_function_value * unit if info.primal_solution_status == FEASIBLE else None
            ceiling = info.mip_dual_bound * unit if math.isfinite(info.mip_dual_bound) else None
            print(f"; HiGHS's best plan {'none' if found is None else f'{found:,.2f}'}, its bound "
                  f"{'none' if ceiling is None else f'{ceiling:,.2f}'}; the later stages are not checked", flush=True)
            reference = next((value for value in (found, ceiling) if value is not None), 0.0)
            return check_plans(stage, plans, found, ceiling, room_of(stage, whole, tolerance, reference),
                               proven=False) or verdict or 2
        optimum = h.getInfo().objective_function_value * unit
        if stage == "cost":  # the plan's own cost: an option taken to within the integrality tolerance costs less
            optimum = cost @ np.round(h.getSolution().col_value[:n_x]).reshape(n_phases, n_options).sum(axis=0) * unit
        print(f" {optimum:,.2f} in {time.perf_counter() - started:.1f} s", flush=True)
        room = room_of(stage, whole, tolerance, optimum)
        verdict = check_plans(stage, plans, optimum, optimum, room, proven=True) or verdict
        if stage != "cost":  # keep this stage at its optimum
            columns = np.flatnonzero(objective).astype(np.int32)
            h.addRow((round(optimum) if whole else optimum) - room, highspy.kHighsInf, columns.size, columns,
                     objective[columns])
    return verdict


class Rows:
    """A constraint matrix built a block of rows at a time: lower <= A v <= upper."""

    def __init__(self):
        self.rows: list[np.ndarray] = []
        self.columns: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.count = 0

    def add(self, entries: list[tuple], lower, upper) -> np.ndarray:
        """A block of len(lower) rows; ``entries`` are (rows within the block, columns, values)
        arrays of coefficients. Returns the block's row numbers."""
        for row, column, value in entries:
            row = np.asarray(row, dtype=np.int64)
            self.rows.append(self.count + row)
            self.columns.append(np.asarray(column, dtype=np.int64))
            self.values.append(np.broadcast_to(np.asarray(value, dtype=float), row.shape))
        self.lower.append(np.asarray(lower, dtype=float))
        self.upper.append(np.asarray(upper, dtype=float))
        numbers = np.arange(self.count, self.count + len(self.lower[-1]))
        self.count += len(self.lower[-1])
        return numbers

    def matrix(self, n: int) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
        A = sparse.csr_matrix((np.concatenate(self.values), (np.concatenate(self.rows), np.concatenate(self.columns))),
                              shape=(self.count, n))
        return A, np.concatenate(self.lower), np.concatenate(self.upper)


def room_of(stage: str, whole: bool, tolerance: float, reference: float) -> float:
    """Room to keep a stage at a value, and to compare plans with it: half a person where the
    stage's people are whole, a cent for cost, else HiGHS's tolerance on a value of ``reference``."""
    return 0.5 if whole else (0.01 if stage == "cost" else 1e-6 + tolerance * abs(reference))


def check_plans(stage: str, plans: list, found: float | None, ceiling: float | None, room: float, *,
                proven: bool) -> int:
    """Each plan's figures for a stage against the unreduced MIP's: ``found``, the value of a
    plan it found, and ``ceiling``, its bound (each None where it has none; both the optimum when
    ``proven``). A plan's promised bound must not be beaten by the plan found, its same-day figure
    must not beat the ceiling, and an exact plan must equal a proven optimum; a plan saying no plan
    meets every floor is refuted by the plan found. Prints a line per plan; returns 1 when a check
    fails, else 0."""
    maximize = stage != "cost"
    verdict = 0
    for directory, summary, stage_of in plans:
        if summary["status"] == "infeasible":
            if found is not None:
                print(f"    {directory.name}: FAILS: says no plan meets every floor, but one does", flush=True)
                verdict = 1
            continue
        if stage not in stage_of:  # stopped by its time limit before this stage
            print(f"    {directory.name}: no {stage} stage, {summary['status']}", flush=True)
            continue
        theirs = stage_of[stage]
        bound = theirs["bound"]  # None: the stage promised no bound
        checks = {}
        if found is not None:
            checks["bound holds" if proven else "bound holds against HiGHS's plan"] = bound is None or (
                bound >= found - room if maximize else bound <= found + room)
        if stage == "same_day" and has_plan(summary, stage_of) and ceiling is not None:
            checks["plan within the optimum" if proven else "plan within HiGHS's bound"] = (
                theirs["objective"] <= ceiling + room)
        if proven and summary["mip_gap_requested"] == 0 and summary["status"] == "optimal":
            checks["equals the optimum"] = abs(theirs["objective"] - found) <= room
        failed, words = judged(checks)
        verdict = verdict or failed
        gap = "n/a" if theirs["mip_gap"] is None else f"{theirs['mip_gap']:.1e}"  # none against a value of 0
        promised = "no bound" if bound is None else f"bound {bound:,.2f} (gap {gap})"
        value = "no plan" if theirs["objective"] is None else f"{theirs['objective']:,.2f}"
        print(f"    {directory.name}: {value}, {promised}, {theirs['status']}: {words or 'nothing checked'}", flush=True)
    return verdict


def check_promises(unreduced, stages: tuple, plans: list, evaluate, tolerance: float, n_x: int) -> int:
    """``--promises``: each plan's stage bounds checked as the README states them, against the
    floors the plan kept (each earlier people stage at the value the plan's stage recorded), not
    against the optima: for each stage with a bound, the unreduced MIP keeping those floors is asked
    for any plan that beats the bound (by a person, or a cent), searched with the stage's objective
    and stopped at the first plan it finds. "Infeasible" proves the bound; a plan HiGHS finds is
    evaluated exactly here (its actions rounded) and, if it keeps the floors, the budgets and the
    equity floors and beats the bound, the bound FAILS; anything else (a time limit, a plan beating
    it only within HiGHS's tolerances) is unknown. Returns 1 when a bound fails, 2 when one is
    unknown, else 0."""
    verdict = 0
    for directory, summary, stage_of in plans:
        if not has_plan(summary, stage_of):
            continue
        kept = []  # (stage, objective, the least value keeping the one the plan's stage recorded)
        for stage, objective, sense, unit, whole in stages:
            theirs = stage_of.get(stage)
            if theirs is None or theirs["objective"] is None:
                break
            maximize = sense == highspy.ObjSense.kMaximize
            bound = theirs["bound"]
            started = time.perf_counter()
            if bound is None or not math.isfinite(bound):
                words, failed = "no bound", 0
            else:
                h = unreduced()
                for _, floor_objective, least in kept:
                    columns = np.flatnonzero(floor_objective).astype(np.int32)
                    h.addRow(least, highspy.kHighsInf, columns.size, columns, floor_objective[columns])
                columns = np.flatnonzero(objective).astype(np.int32)
                beat = room_of(stage, whole, tolerance, bound)
                if maximize:
                    h.addRow(bound + beat, highspy.kHighsInf, columns.size, columns, objective[columns])
                else:
                    h.addRow(-highspy.kHighsInf, (bound - beat) / unit, columns.size, columns, objective[columns])
                # The stage's own objective guides the search (with none, HiGHS did not settle in 300 s
                # what it proves in 12 s as an optimum); the first plan it finds ends it.
                h.changeColsCost(h.getNumCol(), np.arange(h.getNumCol(), dtype=np.int32), objective)
                h.changeObjectiveSense(sense)
                h.setOptionValue("mip_max_improving_sols", 1)
                h.run()
                status = h.modelStatusToString(h.getModelStatus())
                if status == "Infeasible":
                    words, failed = "holds: no plan keeping the floors beats it", 0
                elif h.getInfo().primal_solution_status == FEASIBLE:  # a plan that may beat it
                    x = np.round(np.asarray(h.getSolution().col_value)[:n_x])
                    figures = evaluate(x)
                    keeps = (figures["budgets_kept"] and figures["floors_met"]
                             and all(figures[kept_stage] >= least for kept_stage, _, least in kept))
                    beats = figures[stage] >= bound + beat if maximize else figures[stage] <= bound - beat
                    if keeps and beats:
                        words, failed = f"FAILS: a plan keeping the floors reaches {figures[stage]:,.2f}", 1
                    else:
                        words, failed = "unknown: HiGHS's plan beats it only within its tolerances", 2
                else:
                    words, failed = f"unknown: {status}", 2
            verdict = 1 if 1 in (verdict, failed) else max(verdict, failed)
            print(f"    {directory.name} {stage}: {theirs['objective']:,.2f}, bound "
                  f"{'none' if bound is None else f'{bound:,.2f}'}: {words} ({time.perf_counter() - started:.1f} s)",
                  flush=True)
            if stage != "cost":
                value = theirs["objective"]
                kept.append((stage, objective, value - (0.5 if whole else 1e-9 * abs(value))))
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
