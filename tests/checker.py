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


def evaluate(raw: RawInstance, actions: dict[str, str]) -> dict:
    """Coverage and cost of ``actions`` (site_id -> action; missing means none)."""
    inventory, delivering, cost = set(), set(), 0.0
    for site in raw.sites:
        action = actions.get(site["site_id"], "none")
        kind = site["kind"]
        allowed = {"center": {"none"}, "station": {"none", "upgrade"},
                   "candidate": {"none", "open_station", "open_center"}}[kind]
        assert action in allowed, (site["site_id"], kind, action)
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


def brute_force(raw: RawInstance) -> tuple[int, int, float]:
    """The lexicographic optimum (same-day, next-day, -cost) over every action combination."""
    choices = []
    for site in raw.sites:
        options = {"center": ["none"], "station": ["none", "upgrade"],
                   "candidate": ["none", "open_station", "open_center"]}[site["kind"]]
        choices.append([(site["site_id"], a) for a in options])
    best = None
    budget = raw.scenario["budget"]
    for combination in itertools.product(*choices):
        actions = dict(combination)
        cost = sum(float(s[COST_COLUMN[actions[s["site_id"]]]]) for s in raw.sites
                   if actions[s["site_id"]] != "none")
        if cost > budget:
            continue
        result = evaluate(raw, actions)
        key = (result["same_day_population"], result["next_day_population"], -result["cost"])
        if best is None or key > best:
            best = key
    return best[0], best[1], -best[2]
