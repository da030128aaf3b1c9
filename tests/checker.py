"""An independent coverage checker: plain Python (csv, math, tomllib), no package code.

It reads the raw instance files and a set of actions, and recomputes from first principles which
zones are same-day and next-day and what the actions cost. Tests compare the solver's plans (and
the brute-force optimum) against it.
"""

from __future__ import annotations

import csv
import itertools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

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


def evaluate(raw: RawInstance, actions: dict[str, str]) -> dict:
    """Coverage and cost of ``actions`` (site_id -> action; missing means none)."""
    inventory, delivering, cost = set(), set(), 0.0
    for site in raw.sites:
        action = actions.get(site["site_id"], "none")
        kind = site["kind"]
        assert action in ACTIONS_OF_KIND[kind], (site["site_id"], kind, action)
        if kind == "center" or action in ("upgrade", "open_center"):
            inventory.add(site["site_id"])
        if kind != "candidate" or action != "none":
            delivering.add(site["site_id"])
        if action != "none":
            cost += float(site[COST_COLUMN[action]])
    same = [bool(reach & inventory) for reach in raw.same_day]
    nxt = [bool(reach & delivering) for reach in raw.next_day]
    population = [int(float(z["population"])) for z in raw.zones]
    return {
        "same_day": same, "next_day": nxt, "cost": cost,
        "same_day_population": sum(p for p, s in zip(population, same) if s),
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
                    sum(int(raw.zones[k]["population"]) for k in members), members)
            for group, members in groups.items()}


def phased_outcome(raw: RawInstance, plan: dict[str, tuple[str, int]]) -> dict:
    """What a phased plan (site_id -> (action, phase position)) achieves and whether it keeps
    every rule: per phase, the coverage after it and its spending; the weighted objectives."""
    phases = phases_of(raw)
    after = [evaluate(raw, {s: a for s, (a, t) in plan.items() if t <= k}) for k in range(len(phases))]
    spent = [0.0] * len(phases)
    for site in raw.sites:
        action, t = plan.get(site["site_id"], ("none", -1))
        if action != "none":
            spent[t] += float(site[COST_COLUMN[action]])
    budgets_kept = all(sum(spent[:k + 1]) <= sum(p["budget"] for p in phases[:k + 1]) for k in range(len(phases)))
    decisions_kept = True
    for site in raw.sites:
        decision = site.get("decision", "").strip()
        action = plan.get(site["site_id"], ("none", -1))[0]
        if decision == "never" and action != "none" or decision.startswith("must:") and action != decision[5:]:
            decisions_kept = False
    same_day = after[-1]["same_day"]
    shares = {}
    for group, (floor, people, members) in equity_floors(raw).items():
        reached = sum(int(raw.zones[k]["population"]) for k in members if same_day[k])
        shares[group] = (reached, floor * people)
    return {
        "phases": after, "spent": spent, "budgets_kept": budgets_kept, "decisions_kept": decisions_kept,
        "floors_met": all(reached >= need for reached, need in shares.values()), "groups": shares,
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


def max_floor_share(raw: RawInstance) -> float:
    """The largest share of every equity floor one plan meets (keeping budgets and decisions)."""
    best = 0.0
    for plan in every_plan(raw):
        outcome = phased_outcome(raw, plan)
        if outcome["budgets_kept"] and outcome["decisions_kept"]:
            shares = [reached / need for reached, need in outcome["groups"].values() if need > 0]
            best = max(best, min([1.0, *shares]))
    return best
