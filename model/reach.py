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
# The k-d tree searches slightly beyond the longest limit's chord, so no pair near it is missed.
_SEARCH_MARGIN = 1e-6
# The k-d tree's chords (on the unit sphere) and the haversine formula's (twice the square root
# of its term) agree to about 1e-15, the rounding of unit vectors and of the formula's terms; a
# pair whose chord is this close to a limit's (some 4e-6 miles) is decided by the formula. Arc
# grows with chord ever faster towards the antipode, but so does the rounding of the formula's
# arcsine, by the same factor: the margin holds everywhere.
_DECIDING_CHORD = 1e-9


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


def rows_reaching(matrix: sparse.csr_matrix, columns: np.ndarray) -> np.ndarray:
    """Per row of a CSR matrix, whether it has a nonzero entry in any of ``columns`` (bool per
    column): which zones a set of sites reaches. The same as ``matrix @ columns > 0``, without
    the product's copy of the matrix's data in a wider type (at 50 million pairs, 400 MB)."""
    hit = np.asarray(columns, dtype=bool)[matrix.indices] & (matrix.data != 0)
    starts = matrix.indptr[:-1]
    nonempty = np.diff(matrix.indptr) > 0
    reached = np.zeros(matrix.shape[0], dtype=bool)
    if nonempty.any():
        # Each segment runs from a nonempty row's start to the next's: its own entries alone.
        reached[nonempty] = np.logical_or.reduceat(hit, starts[nonempty])
    return reached


def row_sums(matrix: sparse.csr_matrix, weights: np.ndarray) -> np.ndarray:
    """Per row, the sum of its columns' ``weights`` (uint64, modulo 2**64): with random weights, a
    key that tells rows with other columns apart."""
    sums = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(weights[matrix.indices], dtype=np.uint64)])
    return sums[matrix.indptr[1:]] - sums[matrix.indptr[:-1]]


def entry_positions(indptr: np.ndarray, majors: np.ndarray) -> np.ndarray:
    """The places in a compressed matrix's index and data arrays of the entries of ``majors`` (its
    rows if CSR, columns if CSC), major by major, each in its stored order."""
    starts = indptr[majors]
    counts = indptr[np.asarray(majors) + 1] - starts
    # Each entry's place: its major's start, plus its rank within the major.
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())


def entries_of(matrix: sparse.csr_matrix | sparse.csc_matrix, majors: np.ndarray) -> np.ndarray:
    """The minor indices (columns if CSR, rows if CSC) of the entries of ``majors``, major by
    major, with repeats: ``matrix[majors].indices`` for CSR, without scipy's indexing."""
    return matrix.indices[entry_positions(matrix.indptr, majors)]


# Sites per k-d tree query: bounds the memory of the pairs found at once (a 100,000-zone instance
# has some 50 million pairs within next-day reach). Below 32,768: a site's place in its query is
# held as an int16.
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

    Sites are queried a chunk at a time, so memory holds the reach found so far and one chunk's
    pairs, never every pair's minutes at once. Great-circle distance grows with the chord, so a
    pair is within a limit when the k-d tree's chord is within the limit's chord; the haversine
    formula, which defines the minutes, decides only the pairs whose chord is too close to a
    limit's to tell (_DECIDING_CHORD).
    """
    zones, sites, scenario = instance.zones, instance.sites, instance.scenario
    n_zones, n_sites = len(zones), len(sites)
    limits = {"same_day": scenario.same_day_minutes, "next_day": scenario.next_day_minutes}
    chords = {tier: _chord(limit / 60.0 * scenario.speed_mph / scenario.circuity) for tier, limit in limits.items()}
    overrides = _override_pairs(instance, np.arange(n_sites))
    listed = overrides["zone"].to_numpy() * n_sites + overrides["site"].to_numpy()
    zone_lat, zone_lon = zones["lat"].to_numpy(), zones["lon"].to_numpy()
    site_lat, site_lon = sites["lat"].to_numpy(), sites["lon"].to_numpy()
    radius = max(chords.values()) + _SEARCH_MARGIN
    # Per tier, per chunk: each site's count of zones in reach, and those zones, site by site.
    counts = {tier: [] for tier in limits}
    reached = {tier: [] for tier in limits}
    zone_tree = cKDTree(unit_vectors(zone_lat, zone_lon)) if n_zones else None
    for first in range(0, n_sites, _SITES_PER_QUERY):
        chunk = np.arange(first, min(first + _SITES_PER_QUERY, n_sites))
        if zone_tree is None:
            zone, local, chord = np.empty(0, np.int32), np.empty(0, np.int16), np.empty(0)
        else:
            found = cKDTree(unit_vectors(site_lat[chunk], site_lon[chunk])).sparse_distance_matrix(
                zone_tree, radius, output_type="ndarray")
            zone, local, chord = found["j"].astype(np.int32), found["i"].astype(np.int16), found["v"]
        estimated = ~np.isin(zone * np.int64(n_sites) + chunk[local], listed) if listed.size else None
        for tier, limit in limits.items():
            within = chord <= chords[tier]
            unsure = np.flatnonzero(np.abs(chord - chords[tier]) <= _DECIDING_CHORD)
            if unsure.size:
                zone_u, site_u = zone[unsure], chunk[local[unsure]]
                within[unsure] = estimated_minutes(haversine_miles(
                    zone_lat[zone_u], zone_lon[zone_u], site_lat[site_u], site_lon[site_u]), scenario) <= limit
            if estimated is not None:
                within &= estimated  # the listed minutes decide
            within = np.flatnonzero(within)
            site_of = local[within]
            counts[tier].append(np.bincount(site_of, minlength=chunk.size))
            reached[tier].append(zone[within[np.argsort(site_of, kind="stable")]])

    def tier_matrix(tier: str) -> sparse.csr_matrix:
        # Built by columns (sites), as found, then turned into rows: the turn leaves each row's
        # sites in order, with no sort of the pairs.
        indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts.pop(tier) or [np.zeros(0, np.int64)]))))
        indices = np.concatenate(reached.pop(tier) or [np.zeros(0, np.int32)])
        matrix = sparse.csc_matrix((np.ones(indices.size, dtype=bool), indices, indptr),
                                   shape=(n_zones, n_sites)).tocsr()
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
