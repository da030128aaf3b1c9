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

from .instance import Instance, Scenario

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
    """Zone x site reach, per tier, as boolean CSR matrices (rows: zones, columns: sites)."""

    same_day: sparse.csr_matrix
    next_day: sparse.csr_matrix


# Sites per k-d tree query: bounds the memory of the pairs found at once (a 100,000-zone instance
# has some 50 million pairs within next-day reach).
_SITES_PER_QUERY = 512


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
    """Reach of every site in both tiers, with ``travel_minutes.csv`` overriding the estimate.

    Sites are queried a chunk at a time and each chunk's reach kept as a sparse block, so memory
    holds the reach matrices and one chunk's pairs, never every pair's minutes at once.
    """
    zones, sites, scenario = instance.zones, instance.sites, instance.scenario
    n_zones, n_sites = len(zones), len(sites)
    limits = {"same_day": scenario.same_day_minutes, "next_day": scenario.next_day_minutes}
    longest = max(limits.values())
    overrides = _override_pairs(instance, np.arange(n_sites))
    listed = overrides["zone"].to_numpy() * n_sites + overrides["site"].to_numpy()
    zone_lat, zone_lon = zones["lat"].to_numpy(), zones["lon"].to_numpy()
    site_lat, site_lon = sites["lat"].to_numpy(), sites["lon"].to_numpy()
    radius = _chord(longest / 60.0 * scenario.speed_mph / scenario.circuity) + _SEARCH_MARGIN
    blocks = {tier: [] for tier in limits}
    zone_tree = cKDTree(unit_vectors(zone_lat, zone_lon)) if n_zones else None
    for first in range(0, n_sites, _SITES_PER_QUERY):
        chunk = np.arange(first, min(first + _SITES_PER_QUERY, n_sites))
        if zone_tree is None:
            zone, local = np.empty(0, np.int64), np.empty(0, np.int64)
        else:
            found = cKDTree(unit_vectors(site_lat[chunk], site_lon[chunk])).sparse_distance_matrix(
                zone_tree, radius, output_type="ndarray")
            zone, local = found["j"].astype(np.int64), found["i"].astype(np.int64)
        site = chunk[local]
        minutes = estimated_minutes(haversine_miles(zone_lat[zone], zone_lon[zone], site_lat[site],
                                                    site_lon[site]), scenario)
        if listed.size:
            minutes[np.isin(zone * n_sites + site, listed)] = np.inf  # the listed minutes decide
        for tier, limit in limits.items():
            within = minutes <= limit
            blocks[tier].append(sparse.csc_matrix(
                (np.ones(int(within.sum()), dtype=bool), (zone[within].astype(np.int32), local[within].astype(np.int32))),
                shape=(n_zones, chunk.size)))

    def tier_matrix(tier: str) -> sparse.csr_matrix:
        matrix = (sparse.hstack(blocks.pop(tier), format="csr") if blocks[tier]
                  else sparse.csr_matrix((n_zones, n_sites), dtype=bool))
        within = overrides[overrides["minutes"] <= limits[tier]]
        if len(within):
            matrix = matrix + sparse.csr_matrix(
                (np.ones(len(within), dtype=bool), (within["zone"].to_numpy(), within["site"].to_numpy())),
                shape=(n_zones, n_sites))
        matrix.sort_indices()
        return matrix

    return Reach(tier_matrix("same_day"), tier_matrix("next_day"))


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
