"""Load and validate an instance directory (the instance contract).

An instance directory holds ``zones.csv``, ``sites.csv``, ``scenario.toml`` and, optionally,
``travel_minutes.csv``. Every problem found is reported as an :class:`InstanceError` naming the
file, the line (1 is the header row of a CSV) and the field, so a planner can fix the input
without reading code.

Extra columns in ``zones.csv`` and ``sites.csv`` are kept as text, exactly as written, so that
identifiers such as county FIPS codes keep their leading zeros when carried into a plan.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np
import pandas as pd

from .actions import ACTIONS, COST_COLUMNS, KINDS

ZONES_FILE = "zones.csv"
SITES_FILE = "sites.csv"
SCENARIO_FILE = "scenario.toml"
TRAVEL_FILE = "travel_minutes.csv"

ZONE_COLUMNS = ("zone_id", "lat", "lon", "population")
SITE_COLUMNS = ("site_id", "lat", "lon", "kind", *COST_COLUMNS)
TRAVEL_COLUMNS = ("zone_id", "site_id", "minutes")


class InstanceError(ValueError):
    """Bad input: which file, which line (CSV line number, header = 1), which field, and why."""

    def __init__(self, file: str | Path, line: int | None, field: str | None, message: str):
        self.file = str(file)
        self.line = line
        self.field = field
        self.message = message
        where = self.file
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Scenario:
    """The planning assumptions: budget (USD) and the reach limits of each tier."""

    budget: float
    same_day_minutes: float
    next_day_minutes: float
    speed_mph: float
    circuity: float
    name: str = ""
    description: str = ""

    def with_budget(self, budget: float) -> "Scenario":
        return Scenario(**{**asdict(self), "budget": float(budget)})

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Instance:
    """A validated instance: plain DataFrames plus the scenario.

    ``zones``: zone_id (str), lat, lon (float), population (int64), extra columns (str).
    ``sites``: site_id (str), lat, lon (float), kind (str), upgrade_cost, station_cost,
    center_cost (float, NaN where blank), extra columns (str).
    ``travel_minutes``: zone_id, site_id (str), minutes (float); empty when no file was given.
    """

    name: str  # the directory's name: safe in file names (the scenario may carry a longer name)
    directory: Path
    zones: pd.DataFrame
    sites: pd.DataFrame
    scenario: Scenario
    travel_minutes: pd.DataFrame
    sha256: str

    @property
    def zone_extra_columns(self) -> list[str]:
        return [c for c in self.zones.columns if c not in ZONE_COLUMNS]

    @property
    def site_extra_columns(self) -> list[str]:
        return [c for c in self.sites.columns if c not in SITE_COLUMNS]

    def with_budget(self, budget: float) -> "Instance":
        return Instance(
            self.name, self.directory, self.zones, self.sites,
            self.scenario.with_budget(budget), self.travel_minutes, self.sha256,
        )


def load_instance(directory: str | Path) -> Instance:
    """Read and validate an instance directory; raise InstanceError on the first problem."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InstanceError(directory, None, None, "instance directory not found")
    scenario = _read_scenario(directory / SCENARIO_FILE)
    zones = _read_zones(directory / ZONES_FILE)
    sites = _read_sites(directory / SITES_FILE)
    travel = _read_travel(directory / TRAVEL_FILE, zones, sites)
    return Instance(directory.resolve().name, directory, zones, sites, scenario, travel, _hash_inputs(directory))


def _hash_inputs(directory: Path) -> str:
    """SHA-256 over the input files (name and bytes), so a plan names exactly what it solved."""
    digest = hashlib.sha256()
    for name in (ZONES_FILE, SITES_FILE, SCENARIO_FILE, TRAVEL_FILE):
        path = directory / name
        if path.exists():
            digest.update(name.encode() + b"\0")
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


# ----------------------------------------------------------------------------- scenario

_SCENARIO_NUMBERS = ("budget", "same_day_minutes", "next_day_minutes", "speed_mph", "circuity")


def _read_scenario(path: Path) -> Scenario:
    if not path.exists():
        raise InstanceError(path, None, None, "file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InstanceError(path, getattr(error, "lineno", None), None, f"not valid TOML: {error}")

    def line_of(key: str) -> int | None:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.split("=")[0].strip() == key:
                return number
        return None

    values = {}
    for key in _SCENARIO_NUMBERS:
        if key not in data:
            raise InstanceError(path, None, key, "missing")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InstanceError(path, line_of(key), key, f"must be a finite number, got {value!r}")
        values[key] = float(value)
    for key in ("speed_mph", "circuity"):
        if values[key] <= 0:
            raise InstanceError(path, line_of(key), key, f"must be positive, got {values[key]:g}")
    for key in ("budget", "same_day_minutes", "next_day_minutes"):
        if values[key] < 0:
            raise InstanceError(path, line_of(key), key, f"must not be negative, got {values[key]:g}")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise InstanceError(path, line_of(key), key, "must be a string")
    return Scenario(**values, name=data.get("name", ""), description=data.get("description", ""))


# ----------------------------------------------------------------------------- tables


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.exists():
        raise InstanceError(path, None, None, "file not found")
    try:
        # Everything as text first: numbers are parsed below, column by column, so that a bad
        # value is reported with its line rather than silently becoming NaN or a float id.
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InstanceError(path, None, None, f"cannot be read as CSV: {error}")
    for column in required:
        if column not in table.columns:
            raise InstanceError(path, 1, column, "required column is missing")
    return table


def _line(position: int) -> int:
    """CSV line number of the row at this position (line 1 is the header)."""
    return position + 2


def _first_bad(mask: np.ndarray) -> int | None:
    positions = np.flatnonzero(mask)
    return int(positions[0]) if positions.size else None


def _parse_number(table: pd.DataFrame, column: str, path: Path, *, blank_allowed=False) -> pd.Series:
    text = table[column].str.strip()
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    bad = numbers.isna() & ~((text == "") & blank_allowed)
    bad |= np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan))
    position = _first_bad(bad.to_numpy())
    if position is not None:
        value = table[column].iloc[position]
        what = "is blank" if text.iloc[position] == "" else f"is not a finite number: {value!r}"
        raise InstanceError(path, _line(position), column, what)
    return numbers


def _check_ids(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    ids = table[column].str.strip()
    position = _first_bad((ids == "").to_numpy())
    if position is not None:
        raise InstanceError(path, _line(position), column, "is blank")
    position = _first_bad(ids.duplicated().to_numpy())
    if position is not None:
        first = int(np.flatnonzero((ids == ids.iloc[position]).to_numpy())[0])
        raise InstanceError(
            path, _line(position), column,
            f"duplicate id {ids.iloc[position]!r} (first on line {_line(first)})",
        )
    return ids


def _check_range(values: pd.Series, low: float, high: float, column: str, path: Path) -> None:
    position = _first_bad(((values < low) | (values > high)).to_numpy())
    if position is not None:
        raise InstanceError(
            path, _line(position), column, f"{values.iloc[position]:g} is outside [{low:g}, {high:g}]"
        )


def _check_not_negative(values: pd.Series, column: str, path: Path) -> None:
    position = _first_bad((values < 0).to_numpy())
    if position is not None:
        raise InstanceError(path, _line(position), column, f"must not be negative, got {values.iloc[position]:g}")


def _read_coordinates(table: pd.DataFrame, path: Path) -> None:
    table["lat"] = _parse_number(table, "lat", path)
    table["lon"] = _parse_number(table, "lon", path)
    _check_range(table["lat"], -90, 90, "lat", path)
    _check_range(table["lon"], -180, 180, "lon", path)


def _read_zones(path: Path) -> pd.DataFrame:
    zones = _read_csv(path, ZONE_COLUMNS)
    zones["zone_id"] = _check_ids(zones, "zone_id", path)
    _read_coordinates(zones, path)
    population = _parse_number(zones, "population", path)
    _check_not_negative(population, "population", path)
    position = _first_bad((population != np.floor(population)).to_numpy())
    if position is not None:
        raise InstanceError(path, _line(position), "population", f"must be a whole number, got {population.iloc[position]:g}")
    zones["population"] = population.astype(np.int64)
    return zones


def _read_sites(path: Path) -> pd.DataFrame:
    sites = _read_csv(path, SITE_COLUMNS)
    sites["site_id"] = _check_ids(sites, "site_id", path)
    _read_coordinates(sites, path)
    sites["kind"] = sites["kind"].str.strip()
    position = _first_bad((~sites["kind"].isin(list(KINDS))).to_numpy())
    if position is not None:
        raise InstanceError(
            path, _line(position), "kind",
            f"unknown kind {sites['kind'].iloc[position]!r} (expected one of {', '.join(KINDS)})",
        )
    for column in COST_COLUMNS:
        cost = _parse_number(sites, column, path, blank_allowed=True)
        _check_not_negative(cost, column, path)
        sites[column] = cost
    for action in ACTIONS.values():  # a site needs the price of every action its kind may take
        position = _first_bad(((sites["kind"] == action.kind) & sites[action.cost_column].isna()).to_numpy())
        if position is not None:
            raise InstanceError(path, _line(position), action.cost_column, f"is blank, but a {action.kind} needs it")
    return sites


def _read_travel(path: Path, zones: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame({"zone_id": pd.Series(dtype=str), "site_id": pd.Series(dtype=str),
                             "minutes": pd.Series(dtype=float)})
    travel = _read_csv(path, TRAVEL_COLUMNS)
    for column, known in (("zone_id", zones["zone_id"]), ("site_id", sites["site_id"])):
        travel[column] = travel[column].str.strip()
        position = _first_bad((~travel[column].isin(known)).to_numpy())
        if position is not None:
            raise InstanceError(path, _line(position), column, f"unknown id {travel[column].iloc[position]!r}")
    minutes = _parse_number(travel, "minutes", path)
    _check_not_negative(minutes, "minutes", path)
    position = _first_bad(travel.duplicated(["zone_id", "site_id"]).to_numpy())
    if position is not None:
        raise InstanceError(path, _line(position), "zone_id", "this zone and site pair is listed twice")
    return pd.DataFrame({"zone_id": travel["zone_id"], "site_id": travel["site_id"], "minutes": minutes})


def write_instance(directory: str | Path, zones: pd.DataFrame, sites: pd.DataFrame, scenario: Scenario,
                   travel_minutes: pd.DataFrame | None = None) -> Path:
    """Write an instance directory in the contract's format (generators and tests use this)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    zones.to_csv(directory / ZONES_FILE, index=False, lineterminator="\n")
    sites.to_csv(directory / SITES_FILE, index=False, lineterminator="\n")
    lines = [f"{key} = {json.dumps(value)}" for key, value in scenario.to_dict().items()
             if not (key in ("name", "description") and not value)]
    (directory / SCENARIO_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if travel_minutes is not None:
        travel_minutes.to_csv(directory / TRAVEL_FILE, index=False, lineterminator="\n")
    return directory
