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
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .actions import ACTIONS, COST_COLUMNS, KINDS, actions_of_kind

ZONES_FILE = "zones.csv"
SITES_FILE = "sites.csv"
SCENARIO_FILE = "scenario.toml"
TRAVEL_FILE = "travel_minutes.csv"

ZONE_COLUMNS = ("zone_id", "lat", "lon", "population")
SITE_COLUMNS = ("site_id", "lat", "lon", "kind", *COST_COLUMNS)
TRAVEL_COLUMNS = ("zone_id", "site_id", "minutes")
# Optional sites.csv column: sites fixed by hand.
DECISION_COLUMN, NEVER, MUST_PREFIX = "decision", "never", "must:"


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


# Defaults of the scenario's optional assumptions, used only to read a plan against the program's
# yardsticks (README, "The program's yardsticks", gives the reasoning and sources):
ASSUMPTIONS = {
    # Parcels a carrier of this size delivers per US resident a year: about 6 billion US parcels
    # a year over about 335 million people.
    "packages_per_person_per_year": 18.0,
    # Promised delivery time, in days, of a zone with same-day reach, with next-day reach only,
    # and with neither (ground delivery, typically two to five days).
    "same_day_promise_days": 0.5,
    "next_day_promise_days": 1.0,
    "other_promise_days": 3.0,
}


@dataclass(frozen=True)
class Phase:
    """One phase of a rollout: its name, the money it brings, and the weight of the people in
    reach after it in the objective."""

    name: str
    budget: float
    weight: float = 1.0


@dataclass(frozen=True)
class Equity:
    """Same-day floors per group of zones: after the plan, each group's same-day population is at
    least its floor times the group's population. Groups are the values of a zones.csv column
    (zones with a blank value are in no group)."""

    column: str
    min_same_day_share: float = 0.0
    groups: tuple[tuple[str, float], ...] = ()  # (group, floor) where it differs from the default

    def floor(self, group: str) -> float:
        return dict(self.groups).get(group, self.min_same_day_share)

    def to_dict(self) -> dict:
        return {"column": self.column, "min_same_day_share": self.min_same_day_share, "groups": dict(self.groups)}


@dataclass(frozen=True)
class Scenario:
    """The planning assumptions: budget (USD) and the reach limits of each tier; optionally a
    phased rollout (``phases``, whose budgets add up to ``budget``) and equity floors."""

    budget: float
    same_day_minutes: float
    next_day_minutes: float
    speed_mph: float
    circuity: float
    name: str = ""
    description: str = ""
    phases: tuple[Phase, ...] = ()
    equity: Equity | None = None
    # The assumptions behind the program's packages and delivery-time yardsticks (None: the
    # documented default in ASSUMPTIONS).
    packages_per_person_per_year: float | None = None
    same_day_promise_days: float | None = None
    next_day_promise_days: float | None = None
    other_promise_days: float | None = None

    def assumption(self, key: str) -> float:
        value = getattr(self, key)
        return ASSUMPTIONS[key] if value is None else value

    @property
    def rollout(self) -> tuple[Phase, ...]:
        """The phases of the plan: the scenario's, or one unnamed phase with the whole budget."""
        return self.phases or (Phase("", self.budget),)

    def with_budget(self, budget: float) -> "Scenario":
        """The same scenario at another budget; phase budgets scale in proportion (evenly when
        they are all zero) and add up to ``budget`` exactly."""
        budget = float(budget)
        if not self.phases:
            return replace(self, budget=budget)
        total = math.fsum(p.budget for p in self.phases)
        shares = ([p.budget / total for p in self.phases] if total > 0
                  else [1 / len(self.phases)] * len(self.phases))
        budgets = [budget * share for share in shares[:-1]]
        budgets.append(max(0.0, budget - math.fsum(budgets)))
        return replace(self, budget=budget, phases=tuple(replace(p, budget=b) for p, b in zip(self.phases, budgets)))

    def to_dict(self) -> dict:
        """The scenario as plan.json records it; the optional keys only where set."""
        data = {key: getattr(self, key) for key in ("budget", "same_day_minutes", "next_day_minutes", "speed_mph",
                                                    "circuity", "name", "description")}
        if self.phases:
            data["phases"] = [{"name": p.name, "budget": p.budget, "weight": p.weight} for p in self.phases]
        if self.equity is not None:
            data["equity"] = self.equity.to_dict()
        data.update({key: getattr(self, key) for key in ASSUMPTIONS if getattr(self, key) is not None})
        return data


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

    def forced_cost(self) -> float:
        """USD the ``must:`` decisions spend whatever the plan."""
        forced, _ = decided(self.sites)
        return math.fsum(float(self.sites[ACTIONS[action].cost_column].iloc[k])
                         for k, action in enumerate(forced) if action is not None)

    def check_budget(self, budget: float | None = None) -> None:
        """Raise InstanceError when the forced actions cost more than ``budget`` (default: the
        scenario's): no plan could keep it."""
        budget = self.scenario.budget if budget is None else budget
        forced = self.forced_cost()
        if forced > budget:
            raise InstanceError(self.directory / SITES_FILE, None, DECISION_COLUMN,
                                f"the must: decisions cost ${forced:,.0f} in all, more than the budget ${budget:,.0f}")

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
    if scenario.equity is not None and scenario.equity.column not in zones.columns:
        raise InstanceError(directory / SCENARIO_FILE, None, "equity.column",
                            f"zones.csv has no column {scenario.equity.column!r}")
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
    lines = text.splitlines()

    def line_of(key: str, table: str | None = None, occurrence: int = 0) -> int | None:
        """The line of ``key``, within the ``occurrence``-th ``[table]``/``[[table]]`` if given."""
        inside, seen = table is None, -1
        for number, line in enumerate(lines, start=1):
            header = line.strip()
            if header.startswith("["):
                name = header.strip("[]").strip()
                if name == table:
                    seen += 1
                inside = table is not None and name == table and seen == occurrence
                continue
            if inside and line.split("=")[0].strip() == key:
                return number
        return None

    def number(table: dict, key: str, where: str, line: int | None) -> float:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InstanceError(path, line, where, f"must be a finite number, got {value!r}")
        return float(value)

    values = {}
    for key in _SCENARIO_NUMBERS:
        if key not in data:
            if key == "budget" and "phases" in data:
                continue  # the phases' budgets add up to it
            raise InstanceError(path, None, key, "missing")
        values[key] = number(data, key, key, line_of(key))
    for key in ("speed_mph", "circuity"):
        if values[key] <= 0:
            raise InstanceError(path, line_of(key), key, f"must be positive, got {values[key]:g}")
    for key in ("budget", "same_day_minutes", "next_day_minutes"):
        if values.get(key, 0.0) < 0:
            raise InstanceError(path, line_of(key), key, f"must not be negative, got {values[key]:g}")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise InstanceError(path, line_of(key), key, "must be a string")
    phases = _read_phases(path, data, line_of, number)
    if phases:
        total = math.fsum(phase.budget for phase in phases)
        if "budget" in values and not math.isclose(values["budget"], total, rel_tol=1e-12, abs_tol=0.005):
            raise InstanceError(path, line_of("budget"), "budget",
                                f"is {values['budget']:,.2f}, but the phases' budgets add up to {total:,.2f}")
        values["budget"] = total
    equity = _read_equity(path, data, line_of, number)
    assumptions = {}
    for key in ASSUMPTIONS:
        if key in data:
            assumptions[key] = number(data, key, key, line_of(key))
            if assumptions[key] < 0:
                raise InstanceError(path, line_of(key), key, f"must not be negative, got {assumptions[key]:g}")
    return Scenario(**values, name=data.get("name", ""), description=data.get("description", ""),
                    phases=phases, equity=equity, **assumptions)


def _read_phases(path: Path, data: dict, line_of, number) -> tuple[Phase, ...]:
    """``[[phases]]`` tables: ``name`` (unique text), ``budget`` (USD >= 0), ``weight`` (>= 0, default 1)."""
    if "phases" not in data:
        return ()
    tables = data["phases"]
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise InstanceError(path, line_of("phases"), "phases", "must be one or more [[phases]] tables")
    phases = []
    for k, table in enumerate(tables):
        where = f"phases[{k + 1}]"
        for key in table:
            if key not in ("name", "budget", "weight"):
                raise InstanceError(path, line_of(key, "phases", k), f"{where}.{key}",
                                    "unknown key (a phase has name, budget and weight)")
        for key in ("name", "budget"):
            if key not in table:
                raise InstanceError(path, None, f"{where}.{key}", "missing")
        name = table["name"]
        if not isinstance(name, str) or not name.strip():
            raise InstanceError(path, line_of("name", "phases", k), f"{where}.name", "must be a non-blank string")
        if name in (p.name for p in phases):
            raise InstanceError(path, line_of("name", "phases", k), f"{where}.name", f"phase {name!r} is named twice")
        budget = number(table, "budget", f"{where}.budget", line_of("budget", "phases", k))
        weight = number(table, "weight", f"{where}.weight", line_of("weight", "phases", k)) if "weight" in table else 1.0
        for key, value in (("budget", budget), ("weight", weight)):
            if value < 0:
                raise InstanceError(path, line_of(key, "phases", k), f"{where}.{key}",
                                    f"must not be negative, got {value:g}")
        phases.append(Phase(name, budget, weight))
    return tuple(phases)


def _read_equity(path: Path, data: dict, line_of, number) -> Equity | None:
    """``[equity]``: ``column`` (a zones.csv column), ``min_same_day_share`` in [0, 1], and an
    optional ``[equity.groups]`` table of per-group floors in [0, 1]."""
    if "equity" not in data:
        return None
    table = data["equity"]
    if not isinstance(table, dict):
        raise InstanceError(path, line_of("equity"), "equity", "must be an [equity] table")
    for key in table:
        if key not in ("column", "min_same_day_share", "groups"):
            raise InstanceError(path, line_of(key, "equity"), f"equity.{key}",
                                "unknown key (equity has column, min_same_day_share and groups)")
    column = table.get("column")
    if not isinstance(column, str) or not column.strip():
        raise InstanceError(path, line_of("column", "equity"), "equity.column", "must name a zones.csv column")
    shares = {}
    if "min_same_day_share" in table:
        shares["min_same_day_share"] = (number(table, "min_same_day_share", "equity.min_same_day_share",
                                               line_of("min_same_day_share", "equity")),
                                        line_of("min_same_day_share", "equity"))
    groups = table.get("groups", {})
    if not isinstance(groups, dict):
        raise InstanceError(path, line_of("groups", "equity"), "equity.groups", "must be an [equity.groups] table")
    for group in groups:
        shares[f"groups.{group}"] = (number(groups, group, f"equity.groups.{group}", line_of(group, "equity.groups")),
                                     line_of(group, "equity.groups"))
    for where, (share, line) in shares.items():
        if not 0 <= share <= 1:
            raise InstanceError(path, line, f"equity.{where}", f"must be a share in [0, 1], got {share:g}")
    return Equity(column.strip(), shares.get("min_same_day_share", (0.0, None))[0],
                  tuple((str(g), float(v)) for g, v in groups.items()))


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
    if DECISION_COLUMN in sites:
        sites[DECISION_COLUMN] = _check_decisions(sites, path)
    return sites


def _check_decisions(sites: pd.DataFrame, path: Path) -> pd.Series:
    """The ``decision`` column: blank (free), ``never`` (no action), or ``must:ACTION`` with an
    action the site's kind may take."""
    decisions = sites[DECISION_COLUMN].str.strip()
    for position, (decision, kind) in enumerate(zip(decisions, sites["kind"])):
        if decision in ("", NEVER):
            continue
        action = decision.removeprefix(MUST_PREFIX) if decision.startswith(MUST_PREFIX) else None
        allowed = [a.name for a in actions_of_kind(kind)]
        if action not in allowed:
            expected = ", ".join(["blank", NEVER, *(MUST_PREFIX + a for a in allowed)])
            raise InstanceError(path, _line(position), DECISION_COLUMN,
                                f"{decision!r} is not a decision for a {kind} (expected one of {expected})")
    return decisions


def decided(sites: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per site: the action a ``must:`` decision forces (None where none), and whether ``never``
    rules out every action."""
    decisions = sites[DECISION_COLUMN] if DECISION_COLUMN in sites else pd.Series("", index=sites.index)
    forced = np.array([d.removeprefix(MUST_PREFIX) if d.startswith(MUST_PREFIX) else None for d in decisions],
                      dtype=object)
    return forced, (decisions == NEVER).to_numpy()


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
    (directory / SCENARIO_FILE).write_text(scenario_toml(scenario), encoding="utf-8")
    if travel_minutes is not None:
        travel_minutes.to_csv(directory / TRAVEL_FILE, index=False, lineterminator="\n")
    return directory


def scenario_toml(scenario: Scenario) -> str:
    """``scenario.toml`` text for a scenario (JSON strings and numbers are valid TOML values)."""
    data = scenario.to_dict()
    phases, equity = data.pop("phases", []), data.pop("equity", None)
    lines = [f"{key} = {json.dumps(value)}" for key, value in data.items()
             if not (key in ("name", "description") and not value)]
    for phase in phases:
        lines += ["", "[[phases]]", *(f"{key} = {json.dumps(value)}" for key, value in phase.items())]
    if equity is not None:
        groups = equity.pop("groups")
        lines += ["", "[equity]", *(f"{key} = {json.dumps(value)}" for key, value in equity.items())]
        if groups:
            lines += ["", "[equity.groups]", *(f"{json.dumps(group)} = {json.dumps(floor)}"
                                               for group, floor in groups.items())]
    return "\n".join(lines) + "\n"
