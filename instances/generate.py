"""Generate synthetic, US-like siting instances in the instance format.

Zones cluster around towns whose sizes follow a Zipf law, inside a latitude/longitude box;
existing service centers sit at the largest towns, existing stations at the next ones, candidates
at zones drawn at random. Costs vary around the per-action base costs. Everything follows from
the seed, so an instance is reproducible from its command line.

    python instances/generate.py OUT_DIR --zones 100000 --seed 1
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ruralreach.model.instance import Scenario, write_instance


@dataclass(frozen=True)
class GeneratorParameters:
    zones: int = 1000
    centers: int = 5
    stations: int = 20
    candidates: int = 100
    towns: int = 0  # 0: one town per 8 zones
    seed: int = 0
    south: float = 25.0  # the box the towns fall in (default: the contiguous US)
    north: float = 49.0
    west: float = -124.0
    east: float = -67.0
    town_spread_miles: float = 12.0
    station_cost: float = 20e6
    center_cost_factor: float = 1.6
    upgrade_cost_factor: float = 0.6
    cost_spread: float = 0.3  # costs vary uniformly within +-30% of their base
    budget: float = 4e9
    same_day_minutes: float = 90.0
    next_day_minutes: float = 180.0
    speed_mph: float = 50.0
    circuity: float = 1.3


def generate(p: GeneratorParameters) -> tuple[pd.DataFrame, pd.DataFrame, Scenario]:
    rng = np.random.default_rng(p.seed)
    n_towns = p.towns or max(1, p.zones // 8)
    town_lat = rng.uniform(p.south, p.north, n_towns)
    town_lon = rng.uniform(p.west, p.east, n_towns)
    town_weight = 1.0 / np.arange(1, n_towns + 1) ** 1.1
    town = rng.choice(n_towns, size=p.zones, p=town_weight / town_weight.sum())
    spread_degrees = p.town_spread_miles / 69.0
    lat = np.clip(town_lat[town] + rng.normal(0, spread_degrees, p.zones), -89.9, 89.9)
    lon = np.clip(town_lon[town] + rng.normal(0, spread_degrees, p.zones) / np.cos(np.radians(lat)), -179.9, 179.9)
    zones = pd.DataFrame({
        "zone_id": [f"Z{i:06d}" for i in range(p.zones)],
        "lat": lat.round(5), "lon": lon.round(5),
        "population": np.maximum(0, rng.lognormal(7.5, 1.2, p.zones)).astype(np.int64),
        "town": [f"T{t:05d}" for t in town],
    })

    # Existing sites at the largest towns, candidates at random zones of the rest.
    by_size = np.argsort(-np.bincount(town, weights=zones["population"], minlength=n_towns), kind="stable")
    n_existing = min(p.centers + p.stations, n_towns)
    existing = by_size[:n_existing]
    kinds = np.array(["center"] * min(p.centers, n_existing) + ["station"] * (n_existing - min(p.centers, n_existing)))
    candidate_zones = rng.choice(p.zones, size=min(p.candidates, p.zones), replace=False)
    price = rng.uniform(1 - p.cost_spread, 1 + p.cost_spread, n_existing + candidate_zones.size)

    def thousands(values):
        return np.round(values / 1e3) * 1e3

    sites = pd.DataFrame({
        "site_id": [f"E{i:05d}" for i in range(n_existing)] + [f"N{i:05d}" for i in range(candidate_zones.size)],
        "lat": np.concatenate([town_lat[existing], lat[candidate_zones]]).round(5),
        "lon": np.concatenate([town_lon[existing], lon[candidate_zones]]).round(5),
        "kind": np.concatenate([kinds, np.full(candidate_zones.size, "candidate")]),
    })
    is_station, is_candidate = sites["kind"] == "station", sites["kind"] == "candidate"
    sites["upgrade_cost"] = np.where(is_station, thousands(p.station_cost * p.upgrade_cost_factor * price), np.nan)
    sites["station_cost"] = np.where(is_candidate, thousands(p.station_cost * price), np.nan)
    sites["center_cost"] = np.where(is_candidate, thousands(p.station_cost * p.center_cost_factor * price), np.nan)
    for column in ("upgrade_cost", "station_cost", "center_cost"):
        sites[column] = sites[column].astype("Int64")  # whole dollars, blank where not applicable
    scenario = Scenario(budget=p.budget, same_day_minutes=p.same_day_minutes, next_day_minutes=p.next_day_minutes,
                        speed_mph=p.speed_mph, circuity=p.circuity, name=f"synthetic-{p.zones}-seed{p.seed}",
                        description="Synthetic US-like instance from instances/generate.py")
    return zones, sites, scenario


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    for f in fields(GeneratorParameters):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    write_instance(out, *generate(GeneratorParameters(**args)))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
