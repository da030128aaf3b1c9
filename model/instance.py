"""Load and validate an instance directory (the instance contract).

An instance directory holds ``zones.csv``, ``sites.csv``, ``scenario.toml`` and, optionally,
``travel_minutes.csv``. Every problem found is reported as an :class:`InstanceError` naming the
file, the line (as an editor counts it: blank lines and line breaks inside quoted fields count)
and the field, so a planner can fix the input without reading code.

Extra columns in ``zones.csv`` and ``sites.csv`` are kept as text, exactly as written, so that
identifiers such as county FIPS codes keep their leading zeros when carried into a plan. A kept
column may not take the name of a column the plan writes (it would shadow it).
"""

from __future__ import annotations

import csv
import decimal
import hashlib
import io
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
# The columns a plan writes (model/plan.py builds its tables in this order). An input column kept
# into the plan may not take one of these names: it would shadow the plan's own column.
PLAN_SITE_COLUMNS = ("site_id", "kind", "action", "cost", "lat", "lon", "same_day_gain")
PLAN_ZONE_COLUMNS = ("zone_id", "population", "same_day", "next_day", "same_day_before", "next_day_before",
                     "nearest_inventory_site", "minutes_to_inventory", "lat", "lon")

# Populations are summed as doubles by the solver, which count whole people exactly only up to 2**53.
MAX_TOTAL_POPULATION = 2**53 - 1
# No cost or budget is larger than this: beyond it a figure is a typo, and the solver's money
# tolerances (fractions of a cent, in $M) would no longer hold.
MAX_USD = 1e15


class InstanceError(ValueError):
    """Bad input: which file, which line (as an editor counts it), which field, and why."""

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
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InstanceError(path, getattr(error, "lineno", None), None, f"not valid TOML: {error}")

    def line_of(key: str) -> int | None:
        for number, line in enumerate(text.splitlines(), start=1):
            if line.split("=")[0].strip() == key:
                return number
        return None

    def refuse(key: str, message: str) -> InstanceError:
        return InstanceError(path, line_of(key), key, message)

    values = {}
    for key in _SCENARIO_NUMBERS:
        if key not in data:
            raise InstanceError(path, None, key, "missing")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise refuse(key, f"must be a finite number, got {value!r}")
        values[key] = float(value)
    for key in ("speed_mph", "circuity"):
        if values[key] <= 0:
            raise refuse(key, f"must be positive, got {values[key]:g}")
    for key in ("budget", "same_day_minutes", "next_day_minutes"):
        if values[key] < 0:
            raise refuse(key, f"must not be negative, got {values[key]:g}")
    if values["budget"] > MAX_USD:
        raise refuse("budget", f"{values['budget']:g} is more than {MAX_USD:g} USD")
    if values["same_day_minutes"] > values["next_day_minutes"]:
        raise refuse("same_day_minutes", f"{values['same_day_minutes']:g} is more than next_day_minutes "
                                         f"({values['next_day_minutes']:g}): same-day reach cannot exceed next-day reach")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise refuse(key, "must be a string")
    return Scenario(**values, name=data.get("name", ""), description=data.get("description", ""))


# ----------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Table:
    """A CSV file read as text: its rows, and the physical line each row starts on (blank lines
    and quoted line breaks counted), so an error names the line an editor shows."""

    path: Path
    rows: pd.DataFrame
    lines: np.ndarray
    header_line: int

    def error(self, position: int, column: str | None, message: str) -> InstanceError:
        return InstanceError(self.path, int(self.lines[position]), column, message)

    def first_bad(self, mask, column: str, message) -> None:
        """Raise for the first row where ``mask`` holds; ``message(position)`` says why."""
        positions = np.flatnonzero(np.asarray(mask))
        if positions.size:
            raise self.error(int(positions[0]), column, message(int(positions[0])))


def _read_text(path: Path) -> str:
    """A file's text, strictly UTF-8 (a byte-order mark is allowed)."""
    if not path.exists():
        raise InstanceError(path, None, None, "file not found")
    if not path.is_file():
        raise InstanceError(path, None, None, "is not a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InstanceError(path, None, None, f"cannot be read: {error.strerror}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise InstanceError(path, line, None,
                            f"byte 0x{data[error.start]:02x} is not UTF-8 text (save the file as UTF-8)")


def _read_csv(path: Path, required: tuple[str, ...], reserved: tuple[str, ...] = ()) -> _Table:
    """Every field as text: numbers are parsed column by column afterwards, so that a bad value
    is reported with its line rather than silently becoming NaN or a float id. ``reserved``:
    names a kept column may not take, because the plan writes a column of that name."""
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), skipinitialspace=True)
    header, header_line, rows, lines = None, None, [], []
    try:
        while True:
            start = reader.line_num + 1
            record = next(reader, None)
            if record is None:
                break
            if not record or record == [""]:  # a blank line
                continue
            if header is None:
                header, header_line = record, start
            elif len(record) != len(header):
                raise InstanceError(path, start, None,
                                    f"has {len(record)} fields, but the header has {len(header)}")
            else:
                rows.append(record)
                lines.append(start)
    except csv.Error as error:
        raise InstanceError(path, reader.line_num, None, f"cannot be read as CSV: {error}")
    if header is None:
        raise InstanceError(path, None, None, "is empty: it needs a header row")
    for position, column in enumerate(header):
        if column.strip() == "":
            raise InstanceError(path, header_line, None, f"column {position + 1} of the header has no name")
        if column in header[:position]:
            raise InstanceError(path, header_line, column, "this column name appears twice")
        if column in reserved and column not in required:
            raise InstanceError(path, header_line, column,
                                "the plan writes a column of this name: rename the input column")
    for column in required:
        if column not in header:
            raise InstanceError(path, header_line, column, "required column is missing")
    return _Table(path, pd.DataFrame(rows, columns=header, dtype=str), np.asarray(lines, dtype=np.int64), header_line)


def _require_rows(table: _Table, what: str) -> None:
    if table.rows.empty:
        raise InstanceError(table.path, None, None, f"has a header but no rows: an instance needs at least one {what}")


def _parse_number(table: _Table, column: str, *, blank_allowed=False) -> pd.Series:
    text = table.rows[column].str.strip()
    numbers = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    bad = numbers.isna() & ~((text == "") & blank_allowed)
    bad |= np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan))
    table.first_bad(bad, column, lambda p: "is blank" if text.iloc[p] == "" else
                    f"is not a finite number: {table.rows[column].iloc[p]!r}")
    return numbers


def _check_ids(table: _Table, column: str) -> pd.Series:
    ids = table.rows[column].str.strip()
    table.first_bad(ids == "", column, lambda p: "is blank")
    duplicated = ids.duplicated().to_numpy()

    def message(position: int) -> str:
        first = int(np.flatnonzero((ids == ids.iloc[position]).to_numpy())[0])
        return f"duplicate id {ids.iloc[position]!r} (first on line {table.lines[first]})"

    table.first_bad(duplicated, column, message)
    return ids


def _check_range(table: _Table, values: pd.Series, low: float, high: float, column: str) -> None:
    table.first_bad((values < low) | (values > high), column,
                    lambda p: f"{values.iloc[p]:g} is outside [{low:g}, {high:g}]")


def _read_coordinates(table: _Table) -> None:
    table.rows["lat"] = _parse_number(table, "lat")
    table.rows["lon"] = _parse_number(table, "lon")
    _check_range(table, table.rows["lat"], -90, 90, "lat")
    _check_range(table, table.rows["lon"], -180, 180, "lon")


def _parse_population(table: _Table) -> pd.Series:
    """Whole numbers of people, each and in total no more than a double counts exactly."""
    counts = []
    for position, text in enumerate(table.rows["population"].str.strip()):
        try:
            value = decimal.Decimal(text)
        except decimal.InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            raise table.error(position, "population",
                              "is blank" if text == "" else f"is not a finite number: {text!r}")
        if value < 0:
            raise table.error(position, "population", f"must not be negative, got {text}")
        if value != value.to_integral_value():
            raise table.error(position, "population", f"must be a whole number, got {text}")
        counts.append(int(value))
    total = 0
    for position, count in enumerate(counts):
        total += count
        if total > MAX_TOTAL_POPULATION:
            raise table.error(position, "population",
                              f"the population reaches {total:,} here: more than {MAX_TOTAL_POPULATION:,} "
                              "people in all cannot be counted exactly")
    return pd.Series(np.asarray(counts, dtype=np.int64), index=table.rows.index)


def _read_zones(path: Path) -> pd.DataFrame:
    table = _read_csv(path, ZONE_COLUMNS, reserved=PLAN_ZONE_COLUMNS)
    _require_rows(table, "zone")
    zones = table.rows
    zones["zone_id"] = _check_ids(table, "zone_id")
    _read_coordinates(table)
    zones["population"] = _parse_population(table)
    return zones


def _read_sites(path: Path) -> pd.DataFrame:
    table = _read_csv(path, SITE_COLUMNS, reserved=PLAN_SITE_COLUMNS)
    _require_rows(table, "site")
    sites = table.rows
    sites["site_id"] = _check_ids(table, "site_id")
    _read_coordinates(table)
    sites["kind"] = sites["kind"].str.strip()
    table.first_bad(~sites["kind"].isin(list(KINDS)), "kind",
                    lambda p: f"unknown kind {sites['kind'].iloc[p]!r} (expected one of {', '.join(KINDS)})")
    for column in COST_COLUMNS:
        cost = _parse_number(table, column, blank_allowed=True)
        table.first_bad(cost < 0, column, lambda p: f"must not be negative, got {cost.iloc[p]:g}")
        table.first_bad(cost > MAX_USD, column, lambda p: f"{cost.iloc[p]:g} is more than {MAX_USD:g} USD")
        sites[column] = cost
    for action in ACTIONS.values():  # a site needs the price of every action its kind may take
        table.first_bad((sites["kind"] == action.kind) & sites[action.cost_column].isna(), action.cost_column,
                        lambda p: f"is blank, but a {action.kind} needs it")
    return sites


def _read_travel(path: Path, zones: pd.DataFrame, sites: pd.DataFrame) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame({"zone_id": pd.Series(dtype=str), "site_id": pd.Series(dtype=str),
                             "minutes": pd.Series(dtype=float)})
    table = _read_csv(path, TRAVEL_COLUMNS)
    travel = table.rows
    for column, known in (("zone_id", zones["zone_id"]), ("site_id", sites["site_id"])):
        travel[column] = travel[column].str.strip()
        table.first_bad(~travel[column].isin(known), column, lambda p: f"unknown id {travel[column].iloc[p]!r}")
    minutes = _parse_number(table, "minutes")
    table.first_bad(minutes < 0, "minutes", lambda p: f"must not be negative, got {minutes.iloc[p]:g}")
    table.first_bad(travel.duplicated(["zone_id", "site_id"]), "zone_id",
                    lambda p: "this zone and site pair is listed twice")
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
