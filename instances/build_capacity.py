"""Build a capacitated variant of a national instance (default ``us-2026``): the same zones, sites
and scenario, with same-day capacities by a documented rule.

The rule (each figure a planner can change with an option):

- demand: ``packages_per_person_per_day`` = 18 / 365, the yardsticks' 18 parcels a US resident
  receives a year (about 6 billion US parcels over about 335 million people), all of it asked for
  same-day where same-day is on offer;
- capacity by what the site is after the plan, in same-day packages a day:

  - an existing service center: blank (unlimited). The existing centers serve the metros they
    were built for; the program's question is what its new rural inventory can ship.
  - a station upgraded to a service center: 25,000 (a delivery station's daily volume, which the
    upgrade's inventory feeds; public descriptions of delivery stations put them at thousands to
    tens of thousands of packages a day);
  - a candidate opened as a service center: 25,000 (a new site of the same size class).

A capacity is a site's as a service center (a candidate opened as a plain delivery station holds
no inventory and ships nothing same-day). With these figures capacity binds at the sites that reach
large populations (metro-adjacent stations and candidates: 25,000 packages a day serve about half
a million people) and never at small rural ones, whose whole same-day reach asks for less (the
model then treats them as unlimited). ``--center K`` gives the existing centers a capacity too.

Usage: ``python -m ruralreach.instances.build_capacity --out DIR [--source DIR]
[--center K] [--station 25000] [--candidate 25000] [--rate 0.0493]``. Not bundled:
the benchmark (``benchmarks/capacity.py``) builds it into a temporary directory.
"""

from __future__ import annotations

import argparse
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd

from ruralreach.instances import run_builder
from ruralreach.model.instance import CAPACITY_COLUMN, InstanceError, load_instance, scenario_toml

SOURCE = Path(__file__).resolve().parent / "us-2026"
PACKAGES_PER_PERSON_PER_DAY = 18 / 365
CAPACITY_BY_KIND: dict[str, float | None] = {"center": None, "station": 25_000.0, "candidate": 25_000.0}


def build(out_dir: Path, source: Path = SOURCE, capacity_by_kind: dict[str, float] | None = None,
          rate: float = PACKAGES_PER_PERSON_PER_DAY) -> Path:
    """Write ``source`` with capacities into ``out_dir`` (created if missing, once ``source`` has
    been read and checked: a source that is not an instance raises InstanceError, nothing written)."""
    capacity_by_kind = {**CAPACITY_BY_KIND, **(capacity_by_kind or {})}
    out_dir, source = Path(out_dir), Path(source)
    scenario = replace(load_instance(source).scenario, name=f"{source.name}-capacity",
                       description=f"{source.name} with same-day capacities (instances/build_capacity.py)",
                       packages_per_person_per_day=rate)
    sites = pd.read_csv(source / "sites.csv", dtype=str, keep_default_na=False)
    sites[CAPACITY_COLUMN] = [_capacity_text(capacity_by_kind[kind.strip()]) for kind in sites["kind"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / "zones.csv", out_dir / "zones.csv")
    sites.to_csv(out_dir / "sites.csv", index=False, lineterminator="\n")
    (out_dir / "scenario.toml").write_text(scenario_toml(scenario), encoding="utf-8", newline="\n")
    return out_dir


def _capacity_text(capacity: float | None) -> str:
    """As sites.csv states it: blank for unlimited, whole numbers without a decimal point, and any
    other number in full (a capacity of 0.4 packages a day is not 0)."""
    if capacity is None:
        return ""
    return f"{capacity:.0f}" if float(capacity).is_integer() else repr(float(capacity))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--source", type=Path, default=SOURCE, help="the instance to add capacities to")
    for kind, value in CAPACITY_BY_KIND.items():
        parser.add_argument(f"--{kind}", type=float, default=value,
                            help=f"capacity of a {kind} (packages a day; default {value or 'unlimited'})")
    parser.add_argument("--rate", type=float, default=PACKAGES_PER_PERSON_PER_DAY,
                        help="same-day packages a day per person")
    args = parser.parse_args(argv)
    capacity_by_kind = {kind: getattr(args, kind) for kind in CAPACITY_BY_KIND}
    # What the instance format refuses (README): a capacity below 0, a rate of 0 or less.
    for kind, value in capacity_by_kind.items():
        if value is not None and not (math.isfinite(value) and value >= 0):
            parser.error(f"--{kind} must be a finite number >= 0, got {value}")
    if not (math.isfinite(args.rate) and args.rate > 0):
        parser.error(f"--rate must be a finite number > 0, got {args.rate}")
    run_builder("build_capacity", lambda: build(args.out, args.source, capacity_by_kind, args.rate),
                (InstanceError, OSError))


if __name__ == "__main__":
    main()
