"""The deployment plan: what each site does, what each zone gets, and the summary (the plan contract).

A plan directory holds ``plan.json`` (the summary), ``sites.csv`` (every site once, with its
action) and ``zones.csv`` (every zone once, with its reach before and after). It is written to a
temporary directory and renamed into place, so a reader never sees half a plan.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .actions import ACTION_NAMES, NONE
from .coverage import Coverage, evaluate, no_actions
from .instance import Instance
from .reach import Reach, nearest_sites

PLAN_FILE, SITES_FILE, ZONES_FILE = "plan.json", "sites.csv", "zones.csv"
PLAN_FILES = (PLAN_FILE, SITES_FILE, ZONES_FILE)


@dataclass(frozen=True)
class StageReport:
    """How one lexicographic stage went, in the plan's units (people, USD)."""

    stage: str
    status: str
    objective: float | None
    bound: float | None
    mip_gap: float | None
    seconds: float


@dataclass(frozen=True)
class Plan:
    summary: dict
    sites: pd.DataFrame
    zones: pd.DataFrame

    @property
    def status(self) -> str:
        return self.summary["status"]


def _finite(value):
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def build_plan(instance: Instance, reach: Reach, actions: np.ndarray, *, status: str,
               stages: list[StageReport], mip_gap: float, solve_seconds: float, solver: dict,
               phases: np.ndarray | None = None, floor_scale: dict | None = None) -> Plan:
    """Expand the chosen actions into the three plan tables, recomputing coverage from scratch.

    ``phases``: the phase (position in the scenario's phases) of each site's action, -1 for none;
    only with a phased scenario. ``floor_scale``: when no plan meets the equity floors, the
    largest share of them one plan meets (``value``, ``bound``, ``status``, ``mip_gap``).
    """
    before = evaluate(instance, reach, no_actions(instance))
    after = evaluate(instance, reach, actions)
    population = instance.zones["population"].to_numpy(dtype=np.int64)
    sites = _site_table(instance, reach, actions, after, population)
    zones = _zone_table(instance, before, after)
    counts = {action: int((sites["action"] == action).sum()) for action in ACTION_NAMES}
    summary = {
        "status": status,
        "instance": {"name": instance.name, "sha256": instance.sha256, "directory": str(instance.directory)},
        "scenario": instance.scenario.to_dict(),
        "same_day_population": int(population[after.same_day].sum()),
        "next_day_population": int(population[after.next_day].sum()),
        "cost": after.cost,
        "budget": instance.scenario.budget,
        "baseline_same_day_population": int(population[before.same_day].sum()),
        "baseline_next_day_population": int(population[before.next_day].sum()),
        "total_population": int(population.sum()),
        "mip_gap_requested": mip_gap,
        "stages": [
            {"stage": s.stage, "status": s.status, "objective": _finite(s.objective),
             "bound": _finite(s.bound), "mip_gap": _finite(s.mip_gap), "seconds": s.seconds}
            for s in stages
        ],
        "solve_seconds": solve_seconds,
        "solver": solver,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "actions": counts,
        "zones": len(zones),
        "sites": len(sites),
    }
    if instance.scenario.phases:
        summary["phases"] = _phase_columns(instance, reach, actions, phases, before, sites, zones, population)
    if instance.scenario.equity is not None:
        summary["equity"] = _equity_summary(instance, after.same_day, population, floor_scale)
    return Plan(summary, sites, zones)


def _phase_columns(instance, reach, actions, phases, before: Coverage, sites, zones, population) -> list[dict]:
    """Add the phase columns to the site and zone tables; the figures after each phase."""
    names = np.array([p.name for p in instance.scenario.phases], dtype=object)
    phases = np.asarray(phases, dtype=np.int64)
    sites.insert(sites.columns.get_loc("cost") + 1, "phase", np.where(phases >= 0, names[np.maximum(phases, 0)], ""))
    first = {"same_day": np.full(len(zones), "", dtype=object), "next_day": np.full(len(zones), "", dtype=object)}
    reached = {"same_day": before.same_day.copy(), "next_day": before.next_day.copy()}
    figures = []
    for t, phase in enumerate(instance.scenario.phases):
        coverage = evaluate(instance, reach, np.where(phases <= t, actions, NONE).astype(object))
        for tier in first:
            now = getattr(coverage, tier)
            first[tier][now & ~reached[tier]] = phase.name
            reached[tier] |= now
        spent = float(coverage.site_cost[phases == t].sum())
        figures.append({"name": phase.name, "budget": phase.budget, "cost": spent,
                        "same_day_population": int(population[coverage.same_day].sum()),
                        "next_day_population": int(population[coverage.next_day].sum())})
    position = zones.columns.get_loc("next_day_before") + 1
    zones.insert(position, "same_day_phase", first["same_day"])
    zones.insert(position + 1, "next_day_phase", first["next_day"])
    return figures


def _equity_summary(instance, same_day: np.ndarray, population, floor_scale: dict | None) -> dict:
    """Each equity group's floor, population and achieved same-day share after the plan."""
    equity = instance.scenario.equity
    labels = instance.zones[equity.column].astype(str).str.strip()
    groups = []
    for group in sorted({label for label in labels if label}):
        members = (labels == group).to_numpy()
        people = int(population[members].sum())
        reached = int(population[members & same_day].sum())
        groups.append({"group": group, "floor": equity.floor(group), "population": people,
                       "same_day_population": reached, "share": reached / people if people else 1.0,
                       "meets_floor": reached >= equity.floor(group) * people})
    summary = {"column": equity.column, "min_same_day_share": equity.min_same_day_share, "groups": groups}
    if floor_scale is not None:
        summary["max_feasible_scale"] = floor_scale
    return summary


def _site_table(instance, reach, actions, after: Coverage, population) -> pd.DataFrame:
    s = instance.sites
    # Population that is same-day only because of this site: zones no other inventory site reaches.
    inventory = np.flatnonzero(after.holds_inventory)
    reach_by_inventory = reach.same_day[:, inventory].tocsr()
    sole = np.flatnonzero(np.diff(reach_by_inventory.indptr) == 1)
    sole_site = inventory[reach_by_inventory.indices[reach_by_inventory.indptr[sole]]]
    gain = np.bincount(sole_site, weights=population[sole], minlength=len(s)).astype(np.int64)
    table = pd.DataFrame({
        "site_id": s["site_id"], "kind": s["kind"], "action": np.asarray(actions, dtype=object),
        "cost": after.site_cost, "lat": s["lat"], "lon": s["lon"],
    })
    for column in instance.site_extra_columns:
        table[column] = s[column]
    table["same_day_gain"] = gain
    return table


def _zone_table(instance, before: Coverage, after: Coverage) -> pd.DataFrame:
    z = instance.zones
    nearest, minutes = nearest_sites(instance, np.flatnonzero(after.holds_inventory))
    site_ids = instance.sites["site_id"].to_numpy(dtype=object)
    table = pd.DataFrame({
        "zone_id": z["zone_id"], "population": z["population"],
        "same_day": after.same_day, "next_day": after.next_day,
        "same_day_before": before.same_day, "next_day_before": before.next_day,
        "nearest_inventory_site": np.where(nearest >= 0, site_ids[np.maximum(nearest, 0)], ""),
        "minutes_to_inventory": np.round(minutes, 3),
        "lat": z["lat"], "lon": z["lon"],
    })
    for column in instance.zone_extra_columns:
        table[column] = z[column]
    return table


def write_plan(plan: Plan, directory: str | Path) -> Path:
    """Write the plan directory atomically: complete, or not at all."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        # mkdtemp makes a private (0700) directory; a plan is for sharing, as any new directory.
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        (staging / PLAN_FILE).write_text(json.dumps(plan.summary, indent=2) + "\n", encoding="utf-8")
        plan.sites.to_csv(staging / SITES_FILE, index=False, lineterminator="\n")
        plan.zones.to_csv(staging / ZONES_FILE, index=False, lineterminator="\n")
        if directory.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old.", dir=directory.parent))
            os.replace(directory, retired / directory.name)
            os.replace(staging, directory)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def is_plan(directory: str | Path) -> bool:
    """Whether ``directory`` holds every file of a plan."""
    return all((Path(directory) / name).is_file() for name in PLAN_FILES)


def read_summary(directory: str | Path) -> dict:
    """The plan's ``plan.json``."""
    return json.loads((Path(directory) / PLAN_FILE).read_text(encoding="utf-8"))


def read_sites(directory: str | Path) -> pd.DataFrame:
    """The plan's ``sites.csv``: ids and kept columns as text, numbers as numbers."""
    sites = pd.read_csv(Path(directory) / SITES_FILE, dtype=str, keep_default_na=False)
    for column in ("cost", "lat", "lon"):
        sites[column] = pd.to_numeric(sites[column])
    sites["same_day_gain"] = pd.to_numeric(sites["same_day_gain"]).astype(np.int64)
    return sites


def read_zones(directory: str | Path) -> pd.DataFrame:
    """The plan's ``zones.csv``: ids and kept columns as text, flags as booleans."""
    zones = pd.read_csv(Path(directory) / ZONES_FILE, dtype=str, keep_default_na=False)
    for column in ("lat", "lon", "minutes_to_inventory"):
        zones[column] = pd.to_numeric(zones[column], errors="coerce")  # blank: no inventory site
    zones["population"] = pd.to_numeric(zones["population"]).astype(np.int64)
    for column in ("same_day", "next_day", "same_day_before", "next_day_before"):
        zones[column] = zones[column] == "True"
    return zones


def read_plan(directory: str | Path) -> Plan:
    """Read a plan directory back (ids and kept columns as text, as written)."""
    return Plan(read_summary(directory), read_sites(directory), read_zones(directory))
