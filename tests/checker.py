"""An independent coverage checker: plain Python (csv, math, tomllib), no package code.

It reads the raw instance files and a set of actions, and recomputes from first principles which
zones are same-day and next-day and what the actions cost. Tests compare the solver's plans (and
the brute-force optimum) against it. With capacities, the people served same-day are the best
split of each zone's demand among the inventory sites in reach, found by an LP stated here from
scratch (solved by scipy's ``linprog``), and a plan's ``assignments.csv`` is checked row by row.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from fractions import Fraction
from pathlib import Path

from scipy.optimize import linprog


def people_of(zone: dict) -> int:
    """A zone's population: a whole number as the instance format allows it written (``1000``,
    ``1e3``, ``1000.0``)."""
    return int(Fraction(zone["population"].strip()))


R = 3958.8


def _minutes(zone, site, scenario, overrides):
    key = (zone["zone_id"], site["site_id"])
    if key in overrides:
        return overrides[key]
    la1, lo1, la2, lo2 = map(math.radians, (float(zone["lat"]), float(zone["lon"]),
                                            float(site["lat"]), float(site["lon"])))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    miles = 2 * R * math.asin(math.sqrt(min(1.0, h)))
    return miles * scenario["circuity"] / scenario["speed_mph"] * 60


@dataclass
class RawInstance:
    zones: list[dict]
    sites: list[dict]
    scenario: dict
    same_day: list[set]  # per zone: ids of sites within same-day minutes
    next_day: list[set]
    # Brute force meets one set of actions in many plans (the same actions in other phases, or
    # after an earlier phase): each set is evaluated, and its best split found, once.
    known: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def population(self) -> list[int]:
        return [people_of(z) for z in self.zones]

    @cached_property
    def exact_cost(self) -> dict[tuple[str, str], Fraction]:
        """(site_id, action) -> the action's cost exactly as the file writes it."""
        return {(site["site_id"], action): Fraction(site[column]) for site in self.sites
                for action, column in COST_COLUMN.items() if site.get(column, "").strip()}


def _read_rows(path: Path) -> list[dict]:
    """The rows of a CSV file as the instance contract reads them: UTF-8 (a byte-order mark
    allowed), spaces after a comma ignored, blank lines (also lines of spaces) skipped, ids and
    kinds without the surrounding spaces."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        records = [r for r in csv.reader(f, skipinitialspace=True) if r not in ([], [""])]  # blank lines
    rows = [dict(zip(records[0], record)) for record in records[1:]]
    for row in rows:
        for key in ("zone_id", "site_id", "kind"):
            if key in row:
                row[key] = row[key].strip()
    return rows


def read_raw(directory: Path) -> RawInstance:
    directory = Path(directory)
    zones = _read_rows(directory / "zones.csv")
    sites = _read_rows(directory / "sites.csv")
    scenario = tomllib.loads((directory / "scenario.toml").read_text(encoding="utf-8-sig"))
    overrides = {}
    if (directory / "travel_minutes.csv").exists():
        overrides = {(r["zone_id"], r["site_id"]): float(r["minutes"])
                     for r in _read_rows(directory / "travel_minutes.csv")}
    same_day, next_day = [], []
    for zone in zones:
        minutes = {s["site_id"]: _minutes(zone, s, scenario, overrides) for s in sites}
        same_day.append({k for k, v in minutes.items() if v <= scenario["same_day_minutes"]})
        next_day.append({k for k, v in minutes.items() if v <= scenario["next_day_minutes"]})
    return RawInstance(zones, sites, scenario, same_day, next_day)


COST_COLUMN = {"upgrade": "upgrade_cost", "open_station": "station_cost", "open_center": "center_cost"}
ACTIONS_OF_KIND = {"center": ["none"], "station": ["none", "upgrade"],
                   "candidate": ["none", "open_station", "open_center"]}


def capacity(site: dict) -> float | None:
    """A site's same-day capacity in packages a day (None: unlimited)."""
    text = site.get("capacity", "").strip()
    return float(text) if text else None


def capacitated(raw: RawInstance) -> bool:
    """Whether any site's capacity is given."""
    return any(capacity(site) is not None for site in raw.sites)


def holds_inventory(kind: str, action: str) -> bool:
    """Whether a site of ``kind`` holds inventory after ``action``."""
    return kind == "center" or action in ("upgrade", "open_center")


def demand(raw: RawInstance, zone: dict) -> float:
    return people_of(zone) * float(raw.scenario.get("packages_per_person_per_day", 0.0))


def best_split(raw: RawInstance, inventory: set, floors: dict | None = None, largest_share: bool = False):
    """The most people served same-day by ``inventory``: a zone within reach of an inventory site
    without capacity is served in full; the others' demand is split among the capacitated ones
    in reach. ``floors``: group -> (members, people needed). Returns (people served per zone) or
    None when no split meets the floors. Variables: one share per (zone, site) pair, one per zone.
    ``largest_share``: instead, the largest share (at most 1) of every floor one split meets."""
    found = _once(raw, ("split", frozenset(inventory), _key(floors), largest_share),
                  lambda: _best_split(raw, inventory, floors, largest_share))
    return list(found) if isinstance(found, list) else found


def _key(floors: dict | None) -> tuple:
    return tuple((tuple(members), need) for members, need in (floors or {}).values())


def _once(raw: RawInstance, key: tuple, compute):
    if key not in raw.known:
        raw.known[key] = compute()
    return raw.known[key]


def _best_split(raw: RawInstance, inventory: set, floors: dict | None, largest_share: bool):
    population = raw.population
    full = [any(capacity(site) is None for site in raw.sites if site["site_id"] in reach and
                site["site_id"] in inventory) for reach in raw.same_day]
    capped = {site["site_id"]: capacity(site) for site in raw.sites
              if site["site_id"] in inventory and capacity(site) is not None}
    pairs = [(z, s) for z, reach in enumerate(raw.same_day) if not full[z] for s in sorted(reach) if s in capped]
    zones = sorted({z for z, _ in pairs})
    column = {z: k for k, z in enumerate(zones)}
    n = len(zones) + len(pairs)
    rows, rhs = [], []
    for z in zones:  # served share <= shipped shares
        row = [0.0] * n
        row[column[z]] = 1.0
        for k, (zz, _) in enumerate(pairs):
            if zz == z:
                row[len(zones) + k] = -1.0
        rows.append(row)
        rhs.append(0.0)
    for site_id, limit in capped.items():  # packages shipped <= capacity
        row = [0.0] * n
        for k, (z, s) in enumerate(pairs):
            if s == site_id:
                row[len(zones) + k] = demand(raw, raw.zones[z])
        rows.append(row)
        rhs.append(limit)
    for members, need in (floors or {}).values():
        row = [0.0] * n
        for z in members:
            if z in column:
                row[column[z]] = -population[z]
        rows.append(row)
        rhs.append(-(need - sum(population[z] for z in members if full[z])))
    served = [float(p) if f else 0.0 for p, f in zip(population, full)]
    if largest_share:  # one more column, the share s: floor rows become -people + s * need <= fixed
        rows = [row + [0.0] for row in rows]
        for k, (members, need) in enumerate((floors or {}).values()):
            rows[len(zones) + len(capped) + k][-1] = need
            rhs[len(zones) + len(capped) + k] = sum(population[z] for z in members if full[z])
        result = linprog([0.0] * n + [-1.0], A_ub=rows, b_ub=rhs, bounds=(0, 1), method="highs")
        assert result.status == 0, result.message
        return result.x[-1]
    if n == 0:
        return None if any(need - sum(population[z] for z in m if full[z]) > 1e-9
                           for m, need in (floors or {}).values()) else served
    objective = [-population[z] for z in zones] + [0.0] * len(pairs)
    result = linprog(objective, A_ub=rows or None, b_ub=rhs or None, bounds=(0, 1), method="highs")
    if result.status == 2:
        return None
    assert result.status == 0, result.message
    for z in zones:
        served[z] = population[z] * min(1.0, result.x[column[z]])
    return served


def evaluate(raw: RawInstance, actions: dict[str, str], floors: dict | None = None) -> dict | None:
    """Coverage and cost of ``actions`` (site_id -> action; missing means none). With
    capacities, the same-day people are those of the best split (meeting ``floors``, else None)."""
    acted = frozenset((site, action) for site, action in actions.items() if action != "none")
    found = _once(raw, ("evaluate", acted, _key(floors)), lambda: _evaluate(raw, dict(acted), floors))
    return None if found is None else {k: list(v) if isinstance(v, list) else v for k, v in found.items()}


def _evaluate(raw: RawInstance, actions: dict[str, str], floors: dict | None) -> dict | None:
    inventory, delivering, cost = set(), set(), 0.0
    for site in raw.sites:
        action = actions.get(site["site_id"], "none")
        kind = site["kind"]
        assert action in ACTIONS_OF_KIND[kind], (site["site_id"], kind, action)
        if holds_inventory(kind, action):
            inventory.add(site["site_id"])
        if kind != "candidate" or action != "none":
            delivering.add(site["site_id"])
        if action != "none":
            cost += float(site[COST_COLUMN[action]])
    nxt = [bool(reach & delivering) for reach in raw.next_day]
    population = raw.population
    if capacitated(raw):
        served = best_split(raw, inventory, floors)
        if served is None:
            return None
        same = [s >= p * (1 - 1e-9) if p > 0 else bool(reach & inventory)
                for s, p, reach in zip(served, population, raw.same_day)]
        same_day_population = sum(served)
    else:
        same = [bool(reach & inventory) for reach in raw.same_day]
        served = [p if s else 0 for p, s in zip(population, same)]
        same_day_population = sum(served)
    return {
        "same_day": same, "next_day": nxt, "cost": cost, "served": served,
        "same_day_population": same_day_population,
        "next_day_population": sum(p for p, s in zip(population, nxt) if s),
    }


def phases_of(raw: RawInstance) -> list[dict]:
    """The scenario's phases (name, budget, weight), or one phase with the whole budget."""
    phases = raw.scenario.get("phases")
    if not phases:
        return [{"name": "", "budget": float(raw.scenario["budget"]), "weight": 1.0}]
    return [{"name": p["name"], "budget": float(p["budget"]), "weight": float(p.get("weight", 1.0))} for p in phases]


def equity_floors(raw: RawInstance) -> dict[str, tuple[float, int, list[int]]]:
    """Per equity group: its floor share, its population, and its zones' positions."""
    equity = raw.scenario.get("equity")
    if not equity:
        return {}
    groups: dict[str, list[int]] = {}
    for position, zone in enumerate(raw.zones):
        label = zone[equity["column"]].strip()
        if label:
            groups.setdefault(label, []).append(position)
    floors = equity.get("groups", {})
    return {group: (float(floors.get(group, equity.get("min_same_day_share", 0.0))),
                    sum(raw.population[k] for k in members), members)
            for group, members in groups.items()}


def phased_outcome(raw: RawInstance, plan: dict[str, tuple[str, int]]) -> dict:
    """What a phased plan (site_id -> (action, phase position)) achieves and whether it keeps
    every rule: per phase, the coverage after it and its spending; the weighted objectives."""
    phases = phases_of(raw)
    after = [evaluate(raw, {s: a for s, (a, t) in plan.items() if t <= k}) for k in range(len(phases))]
    floors = {group: (members, floor * people) for group, (floor, people, members) in equity_floors(raw).items()}
    if floors and capacitated(raw):
        # The split after the last phase must meet the floors, if any split does.
        kept = evaluate(raw, {s: a for s, (a, t) in plan.items()}, floors)
        after[-1] = kept if kept is not None else after[-1]
    # Money is compared exactly, as the files write it in decimal (0.1 + 0.2 == 0.3 here).
    spent = [Fraction(0)] * len(phases)
    for site in raw.sites:
        action, t = plan.get(site["site_id"], ("none", -1))
        if action != "none":
            spent[t] += raw.exact_cost[site["site_id"], action]
    budgets = [Fraction(repr(p["budget"])) for p in phases]  # as written (repr: the shortest decimal)
    budgets_kept = all(sum(spent[:k + 1]) <= sum(budgets[:k + 1]) for k in range(len(phases)))
    spent = [float(s) for s in spent]
    decisions_kept = True
    for site in raw.sites:
        decision = site.get("decision", "").strip()
        action = plan.get(site["site_id"], ("none", -1))[0]
        if decision == "never" and action != "none" or decision.startswith("must:") and action != decision[5:]:
            decisions_kept = False
    served = after[-1]["served"]
    shares = {}
    for group, (floor, people, members) in equity_floors(raw).items():
        reached = sum(served[k] for k in members)
        shares[group] = (reached, floor * people)
    return {
        "phases": after, "spent": spent, "budgets_kept": budgets_kept, "decisions_kept": decisions_kept,
        "floors_met": all(reached >= need * (1 - 1e-9) for reached, need in shares.values()), "groups": shares,
        "same_day": sum(p["weight"] * a["same_day_population"] for p, a in zip(phases, after)),
        "next_day": sum(p["weight"] * a["next_day_population"] for p, a in zip(phases, after)),
        "cost": sum(spent),
    }


def every_plan(raw: RawInstance):
    """Every plan: each site takes one of its kind's actions in one phase, or none."""
    phases = range(len(phases_of(raw)))
    choices = [[(site["site_id"], ("none", -1))] + [(site["site_id"], (a, t)) for a in ACTIONS_OF_KIND[site["kind"]][1:]
                                                   for t in phases]
               for site in raw.sites]
    for combination in itertools.product(*choices):
        yield dict(combination)


def brute_force(raw: RawInstance):
    """The lexicographic optimum (weighted same-day, weighted next-day, -cost) over every plan
    that keeps the budgets, the decisions and the equity floors; None when there is none."""
    best = None
    for plan in every_plan(raw):
        outcome = phased_outcome(raw, plan)
        if not (outcome["budgets_kept"] and outcome["decisions_kept"] and outcome["floors_met"]):
            continue
        key = (outcome["same_day"], outcome["next_day"], -outcome["cost"])
        if best is None or key > best:
            best = key
    return None if best is None else (best[0], best[1], -best[2])


def reachable_shares(raw: RawInstance) -> dict[str, float]:
    """Per equity group: the share of its people within same-day reach of a site that holds, or
    by an action its decision allows could hold, inventory (the most any plan reaches)."""
    def may_hold(site: dict) -> bool:
        decision = site.get("decision", "").strip()
        allowed = ["none"] if decision == "never" else [decision[5:]] if decision.startswith("must:") else ACTIONS_OF_KIND[site["kind"]]
        return any(holds_inventory(site["kind"], action) for action in allowed)

    able = {site["site_id"] for site in raw.sites if may_hold(site)}
    population = raw.population
    return {group: sum(population[k] for k in members if raw.same_day[k] & able) / people if people else 1.0
            for group, (_, people, members) in equity_floors(raw).items()}


def max_floor_share(raw: RawInstance) -> float:
    """The largest share of every equity floor one plan meets (keeping budgets and decisions)."""
    with_capacity = capacitated(raw)
    floors = {group: (members, floor * people) for group, (floor, people, members) in equity_floors(raw).items()}
    best = 0.0
    for plan in every_plan(raw):
        outcome = phased_outcome(raw, plan)
        if outcome["budgets_kept"] and outcome["decisions_kept"]:
            if with_capacity:  # the split that favours the floors, not the most people
                inventory = {site["site_id"] for site in raw.sites
                             if holds_inventory(site["kind"], plan.get(site["site_id"], ("none",))[0])}
                best = max(best, best_split(raw, inventory, {g: f for g, f in floors.items() if f[1] > 0},
                                            largest_share=True))
                continue
            shares = [reached / need for reached, need in outcome["groups"].values() if need > 0]
            best = max(best, min([1.0, *shares]))
    return best


def check_assignments(raw: RawInstance, directory: Path) -> dict:
    """Check a capacitated plan's ``assignments.csv`` against the instance, row by row: each
    site holds inventory after the row's phase and is within same-day reach of the zone, no site
    ships more than its capacity in a phase and no zone gets more than its demand; then recompute
    each zone's share, each site's load and the populations, and compare them with the plan's
    other files. Returns the recomputed figures."""
    directory = Path(directory)
    summary = json.loads((directory / "plan.json").read_text())
    sites = {row["site_id"]: row for row in _read_rows(directory / "sites.csv")}
    zones = _read_rows(directory / "zones.csv")
    names = [p["name"] for p in phases_of(raw)]
    position = {z["zone_id"]: k for k, z in enumerate(raw.zones)}
    raw_sites = {s["site_id"]: s for s in raw.sites}
    shipped = [[0.0] * len(raw.zones) for _ in names]
    load = [dict() for _ in names]
    for row in _read_rows(directory / "assignments.csv"):
        t, zone, site = names.index(row["phase"]), position[row["zone_id"]], row["site_id"]
        packages = float(row["packages_per_day"])
        assert packages > 0, row
        plan_site = sites[site]
        action_phase = names.index(plan_site.get("phase", "")) if plan_site["action"] != "none" else -1
        holds = holds_inventory(plan_site["kind"], plan_site["action"] if action_phase <= t else "none")
        assert holds, f"{site} ships in phase {row['phase']!r} but holds no inventory then"
        assert site in raw.same_day[zone], f"{site} is not within same-day reach of {row['zone_id']}"
        shipped[t][zone] += packages
        load[t][site] = load[t].get(site, 0.0) + packages
    for t in range(len(names)):
        for site, packages in load[t].items():
            limit = capacity(raw_sites[site])
            assert limit is None or packages <= limit * (1 + 1e-9) + 1e-9, (site, packages, limit)
        for zone, packages in enumerate(shipped[t]):
            assert packages <= demand(raw, raw.zones[zone]) * (1 + 1e-9) + 1e-9, (raw.zones[zone]["zone_id"], packages)
    population = raw.population
    share = [[min(1.0, s / demand(raw, z)) if demand(raw, z) > 0 else 1.0 for s, z in zip(shipped[t], raw.zones)]
             for t in range(len(names))]
    served = [sum(p * s for p, s, z in zip(population, share[t], raw.zones) if demand(raw, z) > 0)
              for t in range(len(names))]
    assert abs(served[-1] - summary["same_day_population"]) <= 0.01 + 1e-9 * served[-1], (served[-1], summary)
    for figures, value in zip(summary.get("phases", []), served):
        assert abs(value - figures["same_day_population"]) <= 0.01 + 1e-9 * value
    for zone, row in zip(raw.zones, zones):
        k = position[row["zone_id"]]
        if demand(raw, zone) > 0:
            assert abs(float(row["same_day_share"]) - share[-1][k]) <= 1e-9, row
            assert (row["same_day"] == "True") == (share[-1][k] >= 1 - 1e-9), row
    for site_id, row in sites.items():
        assert abs(float(row["same_day_load"] or 0) - load[-1].get(site_id, 0.0)) <= 1e-6 * (1 + load[-1].get(site_id, 0.0))
    return {"served": served, "share": share[-1], "load": load[-1]}
