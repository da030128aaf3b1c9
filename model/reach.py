"""Travel minutes and sparse reach between zones and sites.

Travel minutes between a zone and a site are the great-circle (haversine) distance times the
scenario's circuity, divided by its speed, times 60, unless ``travel_minutes.csv`` lists the pair,
in which case the listed minutes are used. A zone is within a tier's reach of a site when the
minutes are at most that tier's limit.

Pairs are found with a k-d tree on unit vectors (chord length is monotone in great-circle
distance), so the work grows with the number of pairs in reach, never with zones x sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree

from model.instance import Instance, Scenario

EARTH_RADIUS_MILES = 3958.8
# The k-d tree prefilter searches slightly beyond the limit; the exact haversine decides.
_SEARCH_MARGIN = 1e-6


def haversine_miles(lat1, lon1, lat2, lon2):
    """Great-circle miles between points given in degrees (numpy-broadcasting)."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def estimated_minutes(miles, scenario: Scenario):
    return np.asarray(miles) * scenario.circuity / scenario.speed_mph * 60.0


def unit_vectors(lat, lon) -> np.ndarray:
    lat, lon = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


def _chord(miles: float) -> float:
    angle = min(miles / EARTH_RADIUS_MILES, np.pi)
    return 2 * np.sin(angle / 2)


@dataclass(frozen=True)
class Reach:
    """Zone x site reach, per tier, as boolean CSR matrices (rows: zones, columns: sites),
    plus the travel minutes of every pair within the longer of the two limits."""

    same_day: sparse.csr_matrix
    next_day: sparse.csr_matrix
    pairs: pd.DataFrame  # zone (int position), site (int position), minutes


def travel_pairs(instance: Instance, max_minutes: float, site_positions=None) -> pd.DataFrame:
    """Every (zone, site) pair within ``max_minutes``, with its minutes (overrides applied).

    ``site_positions`` restricts the search to those sites (positions in ``instance.sites``).
    """
    zones, sites, scenario = instance.zones, instance.sites, instance.scenario
    if site_positions is None:
        site_positions = np.arange(len(sites))
    site_positions = np.asarray(site_positions, dtype=np.int64)
    max_miles = max_minutes / 60.0 * scenario.speed_mph / scenario.circuity
    zone_index, site_index = np.empty(0, np.int64), np.empty(0, np.int64)
    if len(zones) and site_positions.size:
        zone_tree = cKDTree(unit_vectors(zones["lat"], zones["lon"]))
        site_tree = cKDTree(unit_vectors(sites["lat"].to_numpy()[site_positions],
                                         sites["lon"].to_numpy()[site_positions]))
        found = site_tree.sparse_distance_matrix(
            zone_tree, _chord(max_miles) + _SEARCH_MARGIN, output_type="ndarray"
        )
        site_index, zone_index = site_positions[found["i"]], found["j"].astype(np.int64)
    minutes = estimated_minutes(
        haversine_miles(zones["lat"].to_numpy()[zone_index], zones["lon"].to_numpy()[zone_index],
                        sites["lat"].to_numpy()[site_index], sites["lon"].to_numpy()[site_index]),
        scenario,
    )
    pairs = pd.DataFrame({"zone": zone_index, "site": site_index, "minutes": minutes})
    overrides = _override_pairs(instance, site_positions)
    if len(overrides):
        listed = pd.MultiIndex.from_frame(overrides[["zone", "site"]])
        pairs = pairs[~pd.MultiIndex.from_frame(pairs[["zone", "site"]]).isin(listed)]
        pairs = pd.concat([pairs, overrides], ignore_index=True)
    pairs = pairs[pairs["minutes"] <= max_minutes]
    return pairs.sort_values(["zone", "site"], kind="stable").reset_index(drop=True)


def _override_pairs(instance: Instance, site_positions: np.ndarray) -> pd.DataFrame:
    travel = instance.travel_minutes
    zone_position = pd.Series(np.arange(len(instance.zones)), index=instance.zones["zone_id"])
    site_position = pd.Series(np.arange(len(instance.sites)), index=instance.sites["site_id"])
    overrides = pd.DataFrame({
        "zone": zone_position.loc[travel["zone_id"]].to_numpy(dtype=np.int64),
        "site": site_position.loc[travel["site_id"]].to_numpy(dtype=np.int64),
        "minutes": travel["minutes"].to_numpy(dtype=float),
    })
    return overrides[overrides["site"].isin(site_positions)]


def compute_reach(instance: Instance) -> Reach:
    scenario = instance.scenario
    limit = max(scenario.same_day_minutes, scenario.next_day_minutes)
    pairs = travel_pairs(instance, limit)
    shape = (len(instance.zones), len(instance.sites))

    def tier(max_minutes: float) -> sparse.csr_matrix:
        within = pairs[pairs["minutes"] <= max_minutes]
        return sparse.csr_matrix(
            (np.ones(len(within), dtype=bool), (within["zone"].to_numpy(), within["site"].to_numpy())),
            shape=shape,
        )

    return Reach(tier(scenario.same_day_minutes), tier(scenario.next_day_minutes), pairs)


def nearest_sites(instance: Instance, site_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each zone, the nearest of the given sites in travel minutes (overrides applied) and its
    minutes; -1 and NaN where there is no such site."""
    n_zones = len(instance.zones)
    site_positions = np.asarray(site_positions, dtype=np.int64)
    nearest = np.full(n_zones, -1, dtype=np.int64)
    minutes = np.full(n_zones, np.nan)
    if n_zones == 0 or site_positions.size == 0:
        return nearest, minutes
    overrides = _override_pairs(instance, site_positions)
    # The nearest site by estimate that is not overridden is among the (overrides + 1) nearest.
    k = min(site_positions.size, 1 + int(overrides["zone"].value_counts().max() if len(overrides) else 0))
    zones, sites = instance.zones, instance.sites
    tree = cKDTree(unit_vectors(sites["lat"].to_numpy()[site_positions], sites["lon"].to_numpy()[site_positions]))
    _, found = tree.query(unit_vectors(zones["lat"], zones["lon"]), k=k)
    found = site_positions[np.asarray(found).reshape(n_zones, k)]
    zone_index = np.repeat(np.arange(n_zones), k)
    candidates = pd.DataFrame({
        "zone": zone_index,
        "site": found.ravel(),
        "minutes": estimated_minutes(haversine_miles(
            zones["lat"].to_numpy()[zone_index], zones["lon"].to_numpy()[zone_index],
            sites["lat"].to_numpy()[found.ravel()], sites["lon"].to_numpy()[found.ravel()]), instance.scenario),
    })
    if len(overrides):
        listed = pd.MultiIndex.from_frame(overrides[["zone", "site"]])
        candidates = candidates[~pd.MultiIndex.from_frame(candidates[["zone", "site"]]).isin(listed)]
        candidates = pd.concat([candidates, overrides], ignore_index=True)
    best = candidates.sort_values(["zone", "minutes", "site"], kind="stable").drop_duplicates("zone")
    nearest[best["zone"].to_numpy()] = best["site"].to_numpy()
    minutes[best["zone"].to_numpy()] = best["minutes"].to_numpy()
    return nearest, minutes
