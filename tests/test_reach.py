"""Reach against the definition, pair by pair: every zone x site pair's minutes by the haversine
formula (or the listed minutes), compared with each tier's limit, with no k-d tree and no chord."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from ruralreach.model.instance import load_instance
from ruralreach.model.reach import compute_reach, estimated_minutes, haversine_miles, rows_reaching

from conftest import small_instance


def every_pair_minutes(instance) -> np.ndarray:
    """Zones x sites minutes, dense: the formula for every pair, then the listed minutes."""
    zones, sites = instance.zones, instance.sites
    minutes = estimated_minutes(haversine_miles(zones["lat"].to_numpy()[:, None], zones["lon"].to_numpy()[:, None],
                                                sites["lat"].to_numpy()[None, :], sites["lon"].to_numpy()[None, :]),
                                instance.scenario)
    zone_at = {zone: i for i, zone in enumerate(zones["zone_id"])}
    site_at = {site: j for j, site in enumerate(sites["site_id"])}
    for zone, site, listed in instance.travel_minutes[["zone_id", "site_id", "minutes"]].itertuples(index=False):
        minutes[zone_at[zone], site_at[site]] = listed
    return minutes


def assert_reach_is(instance, minutes: np.ndarray) -> None:
    reach = compute_reach(instance)
    scenario = instance.scenario
    for matrix, limit in ((reach.same_day, scenario.same_day_minutes), (reach.next_day, scenario.next_day_minutes)):
        assert matrix.has_sorted_indices
        np.testing.assert_array_equal(matrix.toarray(), minutes <= limit)


def placed(instance, zones: np.ndarray, sites: np.ndarray, **scenario):
    """``instance`` with its zones and sites moved to the (lat, lon) rows given, and its
    scenario's fields replaced."""
    new_zones = instance.zones.iloc[np.arange(len(zones)) % len(instance.zones)].reset_index(drop=True)
    new_zones["zone_id"] = [f"Z{i}" for i in range(len(zones))]
    new_sites = instance.sites.iloc[np.arange(len(sites)) % len(instance.sites)].reset_index(drop=True)
    new_sites["site_id"] = [f"S{j}" for j in range(len(sites))]
    new_zones["lat"], new_zones["lon"] = zones[:, 0], zones[:, 1]
    new_sites["lat"], new_sites["lon"] = sites[:, 0], sites[:, 1]
    return dataclasses.replace(instance, zones=new_zones, sites=new_sites,
                               scenario=dataclasses.replace(instance.scenario, **scenario))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return load_instance(small_instance(tmp_path_factory.mktemp("reach") / "instance", seed=5))


@pytest.mark.parametrize("seed", range(4))
def test_reach_over_the_whole_globe_matches_every_pair(base, seed):
    # Points anywhere (antipodes, poles, the date line, the same point twice) and limits from a
    # few miles to half the globe, with some pairs' minutes listed.
    rng = np.random.default_rng(seed)

    def points(n):
        lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
        lon = rng.uniform(-180, 180, n)
        lat[:3], lon[:3] = (90.0, -90.0, 0.0), (0.0, 45.0, 180.0)
        return np.column_stack((lat, lon))

    zones, sites = points(300), points(1100)  # three chunks of sites
    sites[10:20] = zones[:10]
    sites[20:30] = np.column_stack((-zones[:10, 0], zones[:10, 1] - 180.0))  # antipodes
    same_day, next_day = np.sort(rng.choice([60.0, 600.0, 6000.0, 15000.0], 2, replace=False))
    instance = placed(base, zones, sites, same_day_minutes=same_day, next_day_minutes=next_day,
                      speed_mph=rng.uniform(20, 70), circuity=rng.uniform(1.0, 1.6))
    listed = rng.choice(300 * 1100, 200, replace=False)
    instance = dataclasses.replace(instance, travel_minutes=pd.DataFrame({
        "zone_id": instance.zones["zone_id"].to_numpy()[listed // 1100],
        "site_id": instance.sites["site_id"].to_numpy()[listed % 1100],
        "minutes": rng.choice([0.0, same_day, next_day, next_day + 1, 1e9], 200),
    }))
    assert_reach_is(instance, every_pair_minutes(instance))


@pytest.mark.parametrize("limit_pair", range(6))
def test_a_pair_exactly_at_a_limit_is_within_it_and_a_hair_less_is_not(base, limit_pair):
    # The limit is the formula's minutes of one pair, to the last bit: that pair is in reach and,
    # with the limit one floating-point step lower, out of it. Distances from a few feet to
    # across the globe, where the chord alone would decide either way half the time.
    rng = np.random.default_rng(limit_pair)
    zones = np.column_stack((rng.uniform(-60, 60, 40), rng.uniform(-180, 180, 40)))
    step = [1e-5, 0.01, 1.0, 10.0, 60.0, 170.0][limit_pair]
    sites = zones[rng.permutation(40)] + rng.uniform(-step, step, (40, 2))
    sites[:, 0] = np.clip(sites[:, 0], -90, 90)
    instance = placed(base, zones, sites, speed_mph=50.0, circuity=1.3)
    minutes = every_pair_minutes(instance)
    for zone, site in rng.integers(0, 40, (5, 2)):
        exact = float(minutes[zone, site])
        for limit in (exact, np.nextafter(exact, -np.inf)):
            for tiers in (dict(same_day_minutes=limit, next_day_minutes=max(limit, 1.0) * 4),
                          dict(same_day_minutes=limit / 4, next_day_minutes=limit)):
                at = dataclasses.replace(instance, scenario=dataclasses.replace(instance.scenario, **tiers))
                assert_reach_is(at, minutes)


@pytest.mark.parametrize("seed", range(6))
def test_rows_reaching_is_the_product_with_the_columns(seed):
    # Empty rows first, last and between, explicit zeros, no columns at all, no entries at all.
    rng = np.random.default_rng(seed)
    rows, columns = int(rng.integers(1, 40)), int(rng.integers(0, 12))
    dense = (rng.random((rows, columns)) < [0.0, 0.05, 0.3, 0.9, 0.3, 0.1][seed]).astype(np.int8)
    dense[rng.random(rows) < 0.3] = 0
    matrix = sparse.csr_matrix(dense)
    if matrix.nnz:
        matrix.data[rng.random(matrix.nnz) < 0.2] = 0  # stored, but zero
    chosen = rng.random(columns) < 0.4
    np.testing.assert_array_equal(rows_reaching(matrix, chosen), (matrix.toarray() @ chosen.astype(int)) > 0)
