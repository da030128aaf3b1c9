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
import difflib
import hashlib
import io
import json
import math
import re
import tomllib
import warnings
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
# Optional sites.csv column: packages a day the site can deliver same-day once it holds inventory
# (blank: unlimited). With it, the scenario needs ``packages_per_person_per_day``.
CAPACITY_COLUMN, DEMAND_RATE = "capacity", "packages_per_person_per_day"
# The columns a plan writes (model/plan.py builds its tables in this order). An input column kept
# into the plan may not take one of these names: it would shadow the plan's own column.
PLAN_SITE_COLUMNS = ("site_id", "kind", "action", "cost", "phase", "lat", "lon", "same_day_gain", "same_day_load")
PLAN_ZONE_COLUMNS = ("zone_id", "population", "same_day", "next_day", "same_day_before", "next_day_before",
                     "same_day_phase", "next_day_phase", "same_day_share",
                     "nearest_inventory_site", "minutes_to_inventory", "lat", "lon")

# Populations are summed as doubles by the solver, which count whole people exactly only up to 2**53.
MAX_TOTAL_POPULATION = 2**53 - 1
# No cost or budget is larger than this: beyond it a figure is a typo. (Where plans could spend
# over $1e12 the model's money unit grows, as a double cannot tell a tenth of a cent apart there:
# `money_unit` in reduce.py; plans are checked against the budget exactly all the same.)
MAX_USD = 1e15
# What may pad a number in a CSV field: the ASCII whitespace Python's float() skips. str.strip()
# would also take control characters such as \x1c (a file separator) for space, and read "\x1c00"
# as 0 minutes where any other reader refuses it.
NUMBER_PADDING = " \t\n\r\x0b\x0c"
# The longest field a CSV file may hold, in characters (a C long on every platform).
LONGEST_FIELD = 2**31 - 1
# The longest number a CSV field may hold, in characters: a double's 17 digits, a sign, a point and
# an exponent fit several times over. Longer text is no number (and Decimal takes seconds on a
# megabyte of digits).
LONGEST_NUMBER = 100
# A number as written in a CSV file: ASCII digits, an optional sign, point and exponent.
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Ids are written back into every plan file and printed in tables: none may hold a character
# that ends a line or a string, or moves the cursor.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


# Where on the globe a coordinate may be: low and high, both allowed.
COORDINATE_RANGES = {"lat": (-90, 90), "lon": (-180, 180)}


def _where(file: str | Path, line: int | None, field: str | None) -> str:
    return (f"{file}" + (f", line {line}" if line is not None else "")
            + (f", field '{field}'" if field is not None else ""))


def quoted(text: str) -> str:
    """A field as an error message quotes it: cut short where it is long."""
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}... ({len(text):,} characters)"


class InstanceError(ValueError):
    """Bad input: which file, which line (as an editor counts it), which field, and why."""

    def __init__(self, file: str | Path, line: int | None, field: str | None, message: str):
        self.file = str(file)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(f"{_where(file, line, field)}: {message}")


class InstanceWarning(UserWarning):
    """Input read but perhaps not as meant (a key nothing reads): where, as InstanceError says it."""

    def __init__(self, file: str | Path, line: int | None, field: str | None, message: str):
        super().__init__(f"{_where(file, line, field)}: {message}")


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


# With capacities the people served are an LP's values, counted to its tolerance: a floor asking
# for fewer people than this cannot be told from none (HiGHS took floors of 3e-7 people as met by
# plans that served none of the group, and the solve ended in 'error').
LEAST_FLOOR_PEOPLE = 1e-3

# A double holds any decimal of up to this many significant digits.
DOUBLE_DIGITS = 15


def _usd(amount: float) -> decimal.Decimal:
    """An amount of USD as the decimal it was written as: the shortest one that gives its float
    (what was written, up to DOUBLE_DIGITS digits)."""
    return decimal.Decimal(repr(float(amount)))


def held_as_written(written: str, amount: float) -> bool:
    """Whether ``amount``, read from the text ``written``, is still the decimal written: money is
    held as doubles and added up as their shortest decimals (:func:`_usd`), which are the written
    ones up to DOUBLE_DIGITS significant digits; beyond, not always (cents from about $3.5e13,
    where a double's step is more than a cent)."""
    try:
        return decimal.Decimal(written.strip().replace("_", "")) == _usd(amount)
    except decimal.InvalidOperation:
        return False


def held_as_written_column(written: pd.Series, amounts: pd.Series) -> np.ndarray:
    """:func:`held_as_written` for each cell of a column (bool per row), checked one by one only
    where the text has more than DOUBLE_DIGITS significant digits (the rest always are)."""
    digits = written.str.replace(r"[eE].*$", "", regex=True).str.replace(r"\D", "", regex=True).str.lstrip("0")
    held = np.ones(len(written), dtype=bool)
    long = np.flatnonzero((digits.str.len() > DOUBLE_DIGITS).to_numpy())
    held[long] = [held_as_written(written.iloc[p], amounts.iloc[p]) for p in long]
    return held


def not_held(written: str) -> str:
    """What is wrong with an amount that is not :func:`held_as_written`."""
    return (f"{written.strip()} has more digits than ruralreach can add up exactly (money is held as "
            f"doubles: at most {DOUBLE_DIGITS} significant digits)")


def usd_decimal(amounts) -> decimal.Decimal:
    """USD amounts added up exactly as the decimals an instance writes them: $0.10 + $0.20 is
    $0.30, where binary floating point makes it 0.30000000000000004."""
    return sum(map(_usd, amounts), decimal.Decimal(0))


def usd_total(amounts) -> float:
    """:func:`usd_decimal` rounded once: a plan spending a budget to the cent shows that budget,
    not a hair above it."""
    return float(usd_decimal(amounts))


def within_budget(spent, budgets) -> bool:
    """Whether the amounts ``spent`` keep the ``budgets`` (USD), added and compared exactly as
    decimals (:func:`usd_decimal`)."""
    return usd_decimal(spent) <= usd_decimal(budgets)


def scaled_phase_budgets(budgets: list[float], budget: float) -> list[float]:
    """Phase budgets scaled in proportion (evenly when all are zero) to add up to ``budget``:
    each rounded down to the cent but the last with a share, which takes what is left, so that
    they add up to it exactly as decimals (:func:`usd_decimal`). Unchanged when they already do,
    so that a plan spending a phase's budget to the cent is not ruled out by a scaling by one."""
    total = usd_total(budgets)
    if total == budget:
        return list(budgets)
    shares = [b / total for b in budgets] if total > 0 else [1 / len(budgets)] * len(budgets)
    cents = [_usd(budget * share).quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_FLOOR) for share in shares]
    last = max(t for t, share in enumerate(shares) if share > 0)
    cents[last] = max(_usd(budget) - sum(cents[:last] + cents[last + 1:], decimal.Decimal(0)), decimal.Decimal(0))
    return [float(b) for b in cents]


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
    # Same-day packages a day per person of a zone's population: its demand on capacitated sites.
    packages_per_person_per_day: float | None = None

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
        budgets = scaled_phase_budgets([p.budget for p in self.phases], budget)
        return replace(self, budget=budget, phases=tuple(replace(p, budget=b) for p, b in zip(self.phases, budgets)))

    def in_one_phase(self) -> "Scenario":
        """The same scenario as one phase with the whole budget (the same without phases)."""
        return replace(self, phases=())

    def to_dict(self) -> dict:
        """The scenario as plan.json records it; the optional keys only where set."""
        data = {key: getattr(self, key) for key in ("budget", "same_day_minutes", "next_day_minutes", "speed_mph",
                                                    "circuity", "name", "description")}
        if self.phases:
            data["phases"] = [{"name": p.name, "budget": p.budget, "weight": p.weight} for p in self.phases]
        if self.equity is not None:
            data["equity"] = self.equity.to_dict()
        data.update({key: getattr(self, key) for key in (*ASSUMPTIONS, DEMAND_RATE) if getattr(self, key) is not None})
        return data


@dataclass(frozen=True)
class Instance:
    """A validated instance: plain DataFrames plus the scenario.

    ``zones``: zone_id (str), lat, lon (float), population (int64), extra columns (str).
    ``sites``: site_id (str), lat, lon (float), kind (str), upgrade_cost, station_cost,
    center_cost (float, NaN where blank), capacity (float, NaN where blank; only when given),
    extra columns (str).
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

    @property
    def capacity(self) -> np.ndarray:
        """Packages a day each site can deliver same-day once it holds inventory (inf: unlimited)."""
        if CAPACITY_COLUMN not in self.sites:
            return np.full(len(self.sites), np.inf)
        return self.sites[CAPACITY_COLUMN].fillna(np.inf).to_numpy(dtype=float)

    @property
    def capacitated(self) -> bool:
        """Whether some site has a capacity (then same-day service is a flow, not a reach)."""
        return bool(np.isfinite(self.capacity).any())

    def forced_cost(self) -> float:
        """USD the ``must:`` decisions spend whatever the plan."""
        return usd_total(self.forced_costs())

    def forced_costs(self) -> list[float]:
        """USD of each ``must:`` decision."""
        forced, _ = decided(self.sites)
        return [float(self.sites[ACTIONS[action].cost_column].iloc[k])
                for k, action in enumerate(forced) if action is not None]

    def check_budget(self, budget: float | None = None) -> None:
        """Raise InstanceError when the forced actions cost more than ``budget`` (default: the
        scenario's): no plan could keep it."""
        budget = self.scenario.budget if budget is None else budget
        forced = self.forced_costs()
        if not within_budget(forced, [budget]):
            raise InstanceError(self.directory / SITES_FILE, None, DECISION_COLUMN,
                                f"the must: decisions cost ${usd_total(forced):,.2f} in all, more than the budget "
                                f"${budget:,.2f}")

    def with_budget(self, budget: float) -> "Instance":
        return replace(self, scenario=self.scenario.with_budget(budget))

    def in_one_phase(self) -> "Instance":
        """The same instance as one phase with the whole budget: the plans of a phased rollout
        with every action moved to the last phase, which reach after it what they reached before."""
        return replace(self, scenario=self.scenario.in_one_phase())


def load_instance(directory: str | Path) -> Instance:
    """Read and validate an instance directory; raise InstanceError on the first problem. Input
    read but perhaps not as meant is an InstanceWarning, issued once the whole instance is read
    (an instance with an error says only that)."""
    said: list[InstanceWarning] = []
    instance = _read_instance(Path(directory), said)
    for warning in said:
        warnings.warn(warning, stacklevel=2)
    return instance


def _read_instance(directory: Path, said: list[InstanceWarning]) -> Instance:
    if not directory.is_dir():
        raise InstanceError(directory, None, None, "instance directory not found")
    scenario = _read_scenario(directory / SCENARIO_FILE, said)
    zones = _read_zones(directory / ZONES_FILE)
    if scenario.equity is not None:
        groups, group_people = _check_equity_groups(directory / SCENARIO_FILE, scenario.equity, zones)
    weights = [phase.weight for phase in scenario.phases]
    people = int(zones["population"].sum())
    if weights and sum(weights) * people > MAX_TOTAL_POPULATION:
        # The stages' objective is the weighted people over the phases, summed and compared exactly.
        heaviest = int(np.argmax(weights))
        raise InstanceError(directory / SCENARIO_FILE, None, f"phases[{heaviest + 1}].weight",
                            f"the phases' weights sum to {sum(weights):g}, and times the {people:,} people that is "
                            f"more than {MAX_TOTAL_POPULATION:,} weighted people, which cannot be counted exactly: "
                            "scale the weights down (only their ratios matter)")
    sites = _read_sites(directory / SITES_FILE)
    capacitated = CAPACITY_COLUMN in sites and sites[CAPACITY_COLUMN].notna().any()
    if capacitated and scenario.packages_per_person_per_day is None:
        raise InstanceError(directory / SCENARIO_FILE, None, DEMAND_RATE,
                            "missing: sites.csv gives capacities, which need each zone's same-day demand")
    if capacitated and scenario.equity is not None:
        _check_floors_countable(directory / SCENARIO_FILE, scenario.equity, groups, group_people)
    travel = _read_travel(directory / TRAVEL_FILE, zones, sites)
    return Instance(directory.resolve().name, directory, zones, sites, scenario, travel, _hash_inputs(directory))


def zone_groups(equity: Equity, zones: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The equity groups (sorted values of the equity column; a zone with a blank value is in
    none), each zone's group (-1 for none) and each group's population."""
    labels = zones[equity.column].astype(str).str.strip().to_numpy(dtype=object)
    names = sorted({label for label in labels if label})
    index = {name: k for k, name in enumerate(names)}
    group = np.array([index.get(label, -1) for label in labels], dtype=np.int64)
    population = zones["population"].to_numpy(dtype=float)
    return names, group, np.bincount(group[group >= 0], weights=population[group >= 0], minlength=len(names))


def _check_equity_groups(path: Path, equity: Equity, zones: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The equity column is a zones.csv column, and every group given a floor of its own is a
    value of it: a floor for a group no zone is in would hold nothing (a misspelt group).
    Returns the groups and their populations (:func:`zone_groups`)."""
    if equity.column not in zones.columns:
        raise InstanceError(path, None, "equity.column", f"zones.csv has no column {equity.column!r}")
    names, _, populations = zone_groups(equity, zones)
    known = set(names)
    for group, _ in equity.groups:
        if group not in known:
            raise InstanceError(path, None, f"equity.groups.{group}",
                                f"no zone is in group {group!r}: zones.csv's {equity.column!r} column never holds it")
    return names, populations


def _check_floors_countable(path: Path, equity: Equity, names: list[str], populations: np.ndarray) -> None:
    """With capacities, every positive floor must ask for at least LEAST_FLOOR_PEOPLE people."""
    for group, people in zip(names, populations):
        asked = equity.floor(group) * people
        if 0 < asked < LEAST_FLOOR_PEOPLE:
            field = f"equity.groups.{group}" if group in dict(equity.groups) else "equity.min_same_day_share"
            raise InstanceError(path, None, field,
                                f"with capacities, people served are counted to {LEAST_FLOOR_PEOPLE:g} of a person: "
                                f"the floor of group {group!r} asks for {asked:.3g} people; make it 0 or at least "
                                f"{LEAST_FLOOR_PEOPLE / people:.3g}")


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
# Every top-level key of scenario.toml this version reads.
SCENARIO_KEYS = frozenset({*_SCENARIO_NUMBERS, "name", "description", "phases", "equity", DEMAND_RATE, *ASSUMPTIONS})


class _WrittenFloat(float):
    """A TOML float that keeps the text it was written as (to tell whether money survives it)."""

    def __new__(cls, written: str):
        value = super().__new__(cls, written)
        value.written = written
        return value


def _toml_error_place(error: tomllib.TOMLDecodeError) -> tuple[int | None, None, str]:
    """The line, field and message of a TOML syntax error, in the form of every other input
    error (tomllib before Python 3.14 puts the line only in its message)."""
    if getattr(error, "lineno", None) is not None:
        return error.lineno, None, f"not valid TOML: {error.msg} (column {error.colno})"
    at = re.fullmatch(r"(?s)(.*) \(at line (\d+), column (\d+)\)", str(error))
    if at:
        return int(at[2]), None, f"not valid TOML: {at[1]} (column {at[3]})"
    return None, None, f"not valid TOML: {error}"


def _read_scenario(path: Path, said: list[InstanceWarning]) -> Scenario:
    """``scenario.toml``; what is read but perhaps not as meant is added to ``said``."""
    text = read_text(path)
    try:
        data = tomllib.loads(text, parse_float=_WrittenFloat)
    except tomllib.TOMLDecodeError as error:
        raise InstanceError(path, *_toml_error_place(error))
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

    def number(table: dict, key: str, where: str, line: int | None, *, money: bool = False) -> float:
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InstanceError(path, line, where, f"must be a finite number, got {value!r}")
        if money and isinstance(value, _WrittenFloat) and not held_as_written(value.written, float(value)):
            raise InstanceError(path, line, where, not_held(value.written))
        return float(value)

    def refuse(key: str, message: str) -> InstanceError:
        return InstanceError(path, line_of(key), key, message)

    values = {}
    for key in _SCENARIO_NUMBERS:
        if key not in data:
            if key == "budget" and "phases" in data:
                continue  # the phases' budgets add up to it
            raise InstanceError(path, None, key, "missing")
        values[key] = number(data, key, key, line_of(key), money=key == "budget")
    for key in ("speed_mph", "circuity"):
        if values[key] <= 0:
            raise refuse(key, f"must be positive, got {values[key]:g}")
    if values["circuity"] < 1:
        said.append(InstanceWarning(path, line_of("circuity"), "circuity",
                                    f"{values['circuity']:g} is below 1: roads shorter than the straight line "
                                    "between their ends (road miles per great-circle mile)"))
    for key in ("budget", "same_day_minutes", "next_day_minutes"):
        if values.get(key, 0.0) < 0:
            raise refuse(key, f"must not be negative, got {values[key]:g}")
    if values.get("budget", 0.0) > MAX_USD:
        raise refuse("budget", f"{values['budget']:g} is more than {MAX_USD:g} USD")
    if values["same_day_minutes"] > values["next_day_minutes"]:
        raise refuse("same_day_minutes", f"{values['same_day_minutes']:g} is more than next_day_minutes "
                                         f"({values['next_day_minutes']:g}): same-day reach cannot exceed next-day reach")
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise refuse(key, "must be a string")
    phases = _read_phases(path, data, line_of, number)
    if phases:
        total = usd_total(phase.budget for phase in phases)
        if "budget" in values and not math.isclose(values["budget"], total, rel_tol=1e-12, abs_tol=0.005):
            raise InstanceError(path, line_of("budget"), "budget",
                                f"is {values['budget']:,.2f}, but the phases' budgets add up to {total:,.2f}")
        values["budget"] = total
    equity = _read_equity(path, data, line_of, number)
    if DEMAND_RATE in data:
        values[DEMAND_RATE] = number(data, DEMAND_RATE, DEMAND_RATE, line_of(DEMAND_RATE))
        if values[DEMAND_RATE] <= 0:
            raise refuse(DEMAND_RATE, f"must be positive, got {values[DEMAND_RATE]:g}")
    assumptions = {}
    for key in ASSUMPTIONS:
        if key in data:
            assumptions[key] = number(data, key, key, line_of(key))
            if assumptions[key] < 0:
                raise InstanceError(path, line_of(key), key, f"must not be negative, got {assumptions[key]:g}")
    # A key nothing reads is let be (a newer ruralreach's, another tool's), but said: a misspelt
    # optional key would otherwise leave its default in force without a word.
    for key in sorted(data.keys() - SCENARIO_KEYS):
        meant = difflib.get_close_matches(key, SCENARIO_KEYS, n=1)
        said.append(InstanceWarning(path, line_of(key), key, "unknown key, ignored" +
                                    (f" (did you mean {meant[0]!r}?)" if meant else "")))
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
        budget = number(table, "budget", f"{where}.budget", line_of("budget", "phases", k), money=True)
        weight = number(table, "weight", f"{where}.weight", line_of("weight", "phases", k)) if "weight" in table else 1.0
        for key, value in (("budget", budget), ("weight", weight)):
            if value < 0:
                raise InstanceError(path, line_of(key, "phases", k), f"{where}.{key}",
                                    f"must not be negative, got {value:g}")
        if budget > MAX_USD:
            raise InstanceError(path, line_of("budget", "phases", k), f"{where}.budget",
                                f"{budget:g} is more than {MAX_USD:g} USD")
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


@dataclass(frozen=True)
class CsvTable:
    """A CSV file read as text: its rows, and the physical line each row starts on (blank lines
    and quoted line breaks counted), so an error names the line an editor shows. ``error_type``:
    the error its bad values raise (InstanceError, or a subclass for files that are not input)."""

    path: Path
    rows: pd.DataFrame
    lines: np.ndarray
    header_line: int
    error_type: type[InstanceError] = InstanceError

    def error(self, position: int, column: str | None, message: str) -> InstanceError:
        return self.error_type(self.path, int(self.lines[position]), column, message)

    def first_bad(self, mask, column: str, message) -> None:
        """Raise for the first row where ``mask`` holds; ``message(position)`` says why."""
        positions = np.flatnonzero(np.asarray(mask))
        if positions.size:
            raise self.error(int(positions[0]), column, message(int(positions[0])))


def read_text(path: Path, error: type[InstanceError] = InstanceError) -> str:
    """A file's text, strictly UTF-8 (a byte-order mark is allowed); ``error`` names the file,
    and the line of the first byte that is not UTF-8."""
    if not path.exists():
        raise error(path, None, None, "file not found")
    if not path.is_file():
        raise error(path, None, None, "is not a file")
    try:
        data = path.read_bytes()
    except OSError as problem:
        raise error(path, None, None, f"cannot be read: {problem.strerror}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        line = data[:problem.start].count(b"\n") + 1
        raise error(path, line, None,
                    f"byte 0x{data[problem.start]:02x} is not UTF-8 text (save the file as UTF-8)") from None


def read_csv_table(path: Path, required: tuple[str, ...], reserved: tuple[str, ...] = (), *,
                   error: type[InstanceError] = InstanceError, skip_initial_space: bool = True) -> CsvTable:
    """Every field as text: numbers are parsed column by column afterwards, so that a bad value
    is reported with its line rather than silently becoming NaN or a float id. ``reserved``:
    names a kept column may not take, because the plan writes a column of that name. ``error``:
    the error raised; ``skip_initial_space``: spaces after a comma are not part of the field
    (the input format says so; a plan is read as written). The csv module, not pd.read_csv:
    pandas' C reader fills a short row (a file cut off) with blanks, and turns a Ctrl-C that
    lands while it reads into a ParserError."""
    # Strict: a quote left open to the end of the file, or text after a closing quote, is an
    # error (an open quote in the last column once swallowed the rest of the file as one field).
    # A kept column may hold long text (a zone's outline as WKT), past the csv module's default
    # limit of 128 KiB a field; the limit is the module's, for the whole process, and only raised.
    csv.field_size_limit(max(csv.field_size_limit(), LONGEST_FIELD))
    reader = csv.reader(io.StringIO(read_text(path, error), newline=""), skipinitialspace=skip_initial_space,
                        strict=True)
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
                raise error(path, start, None,
                                    f"has {len(record)} fields, but the header has {len(header)}")
            else:
                rows.append(record)
                lines.append(start)
    except csv.Error as problem:
        raise error(path, start, None, f"cannot be read as CSV: {problem}") from None
    if header is None:
        raise error(path, None, None, "is empty: it needs a header row")
    for position, column in enumerate(header):
        if column.strip() == "":
            raise error(path, header_line, None, f"column {position + 1} of the header has no name")
        if column in header[:position]:
            raise error(path, header_line, column, "this column name appears twice")
        if column in reserved and column not in required:
            raise error(path, header_line, column,
                                "the plan writes a column of this name: rename the input column")
    for column in required:
        if column not in header:
            raise error(path, header_line, column, "required column is missing")
    return CsvTable(path, pd.DataFrame(rows, columns=header, dtype=str), np.asarray(lines, dtype=np.int64), header_line,
                  error)


def _require_rows(table: CsvTable, what: str) -> None:
    if table.rows.empty:
        raise InstanceError(table.path, None, None, f"has a header but no rows: an instance needs at least one {what}")


def parse_number(table: CsvTable, column: str, *, blank_allowed=False) -> pd.Series:
    """A column as floats (NaN where blank, if ``blank_allowed``); the table's error names the
    first value that is not a finite number."""
    text = table.rows[column].str.strip(NUMBER_PADDING)
    readable = (text != "") & (text.str.len() <= LONGEST_NUMBER)
    numbers = pd.to_numeric(text.where(readable, None), errors="coerce").astype(float)
    bad = numbers.isna() & ~((text == "") & blank_allowed)
    bad |= np.isinf(numbers.to_numpy(dtype=float, na_value=np.nan))
    table.first_bad(bad, column, lambda p: "is blank" if text.iloc[p] == "" else
                    f"is not a finite number: {quoted(table.rows[column].iloc[p])}")
    return numbers


def check_ids(table: CsvTable, column: str) -> pd.Series:
    ids = table.rows[column].str.strip()
    table.first_bad(ids == "", column, lambda p: "is blank")
    table.first_bad(ids.str.contains(CONTROL_CHARACTER), column,
                    lambda p: f"holds a control character: {quoted(ids.iloc[p])}")
    duplicated = ids.duplicated().to_numpy()

    def message(position: int) -> str:
        first = int(np.flatnonzero((ids == ids.iloc[position]).to_numpy())[0])
        return f"duplicate id {quoted(ids.iloc[position])} (first on line {table.lines[first]})"

    table.first_bad(duplicated, column, message)
    return ids


def check_range(table: CsvTable, values: pd.Series, low: float, high: float, column: str) -> None:
    table.first_bad((values < low) | (values > high), column,
                    lambda p: f"{values.iloc[p]:g} is outside [{low:g}, {high:g}]")


def check_not_negative(table: CsvTable, values: pd.Series, column: str) -> None:
    table.first_bad(values < 0, column, lambda p: f"must not be negative, got {values.iloc[p]:g}")


def _read_coordinates(table: CsvTable) -> None:
    for column, (low, high) in COORDINATE_RANGES.items():
        table.rows[column] = parse_number(table, column)
        check_range(table, table.rows[column], low, high, column)


def _parse_population(table: CsvTable) -> pd.Series:
    """Whole numbers of people, each and in total no more than a double counts exactly."""
    written = table.rows["population"].str.strip(NUMBER_PADDING)
    # Plain digits, as nearly every file writes them, are read as a column at once: up to 12 digits
    # a zone, the running total cannot overflow int64 below nine million zones.
    if len(written) < 9_000_000 and written.str.fullmatch(r"[0-9]{1,12}").all():
        counts = written.to_numpy(dtype=str).astype(np.int64)
        if not len(counts) or np.cumsum(counts)[-1] <= MAX_TOTAL_POPULATION:
            return pd.Series(counts, index=table.rows.index)
    counts = []  # anything else, or too many people: each value in turn, to name the first that is wrong
    for position, text in enumerate(written):
        # Decimal would also read what no other number of an instance may be written as: digit
        # groups (1_000), other scripts' digits, and control characters around the number.
        value = decimal.Decimal(text) if len(text) <= LONGEST_NUMBER and PLAIN_NUMBER.fullmatch(text) else None
        if value is None or not value.is_finite():
            raise table.error(position, "population",
                              "is blank" if text == "" else f"is not a finite number: {quoted(text)}")
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
    table = read_csv_table(path, ZONE_COLUMNS, reserved=PLAN_ZONE_COLUMNS)
    _require_rows(table, "zone")
    zones = table.rows
    zones["zone_id"] = check_ids(table, "zone_id")
    _read_coordinates(table)
    zones["population"] = _parse_population(table)
    return zones


def _read_sites(path: Path) -> pd.DataFrame:
    table = read_csv_table(path, SITE_COLUMNS, reserved=PLAN_SITE_COLUMNS)
    _require_rows(table, "site")
    sites = table.rows
    sites["site_id"] = check_ids(table, "site_id")
    _read_coordinates(table)
    sites["kind"] = sites["kind"].str.strip()
    table.first_bad(~sites["kind"].isin(list(KINDS)), "kind",
                    lambda p: f"unknown kind {quoted(sites['kind'].iloc[p])} (expected one of {', '.join(KINDS)})")
    for column in COST_COLUMNS:
        cost = parse_number(table, column, blank_allowed=True)
        check_not_negative(table, cost, column)
        table.first_bad(cost > MAX_USD, column, lambda p: f"{cost.iloc[p]:g} is more than {MAX_USD:g} USD")
        written = table.rows[column]
        table.first_bad(~held_as_written_column(written, cost), column, lambda p: not_held(written.iloc[p]))
        sites[column] = cost
    for action in ACTIONS.values():  # a site needs the price of every action its kind may take
        table.first_bad((sites["kind"] == action.kind) & sites[action.cost_column].isna(), action.cost_column,
                        lambda p: f"is blank, but a {action.kind} needs it")
    if DECISION_COLUMN in sites:
        sites[DECISION_COLUMN] = _check_decisions(table)
    if CAPACITY_COLUMN in sites:
        capacity = parse_number(table, CAPACITY_COLUMN, blank_allowed=True)
        check_not_negative(table, capacity, CAPACITY_COLUMN)
        sites[CAPACITY_COLUMN] = capacity
    return sites


def _check_decisions(table: CsvTable) -> pd.Series:
    """The ``decision`` column: blank (free), ``never`` (no action), or ``must:ACTION`` with an
    action the site's kind may take."""
    sites = table.rows
    decisions = sites[DECISION_COLUMN].str.strip()
    for position, (decision, kind) in enumerate(zip(decisions, sites["kind"])):
        if decision in ("", NEVER):
            continue
        action = decision.removeprefix(MUST_PREFIX) if decision.startswith(MUST_PREFIX) else None
        allowed = [a.name for a in actions_of_kind(kind)]
        if action not in allowed:
            expected = ", ".join(["blank", NEVER, *(MUST_PREFIX + a for a in allowed)])
            raise table.error(position, DECISION_COLUMN,
                              f"{quoted(decision)} is not a decision for a {kind} (expected one of {expected})")
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
    table = read_csv_table(path, TRAVEL_COLUMNS)
    travel = table.rows
    for column, known in (("zone_id", zones["zone_id"]), ("site_id", sites["site_id"])):
        travel[column] = travel[column].str.strip()
        table.first_bad(~travel[column].isin(known), column, lambda p: f"unknown id {quoted(travel[column].iloc[p])}")
    minutes = parse_number(table, "minutes")
    check_not_negative(table, minutes, "minutes")
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
