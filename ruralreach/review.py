"""Reviewing a plan or a budget sweep: the headline table and the program's yardsticks, tables,
figures, and a shareable HTML page.

Plain functions, data in and a DataFrame or a matplotlib Figure out, so the notebooks in
``notebooks/`` stay thin and ``ruralreach report`` draws exactly what they show. Figures are built
on :class:`matplotlib.figure.Figure` directly, never through pyplot: nothing global is touched,
PNGs are rendered with Agg outside a notebook, and a notebook shows the returned Figure inline.
matplotlib is imported by the functions that draw, so the command line's tables do not pay for it.

Tables hold plain numbers so they can be checked and reused; :func:`formatted` turns any of them
into text (thousands separators, $M, percentages) for display.

Optional zone columns of the national instance (``state``, ``primary_city``, ``land_area_sq_mi``,
``urbanicity_tier``, ``small_town``) are used where present and skipped where not.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ruralreach.model.actions import ACTIONS, KINDS, already
from ruralreach.model.formulation import STAGES
from ruralreach.model.instance import ASSUMPTIONS
from ruralreach.model.plan import (REPORT_FILE, Plan, add_to_plan, check_plan_to_add_to, floor_scale_of,
                                   floor_scale_text, is_plan, percent_text, plan_place, read_plan, read_sites,
                                   read_summary)

from .money import budget_label, usd_millions, usd_short

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TOTAL = "total"
# Density tiers of the national instance, sparsest first; any other value sorts after them.
TIER_ORDER = ("rural", "suburban", "urban", "dense_urban")
SWEEP_FILE = "sweep.csv"
SWEEP_COLUMNS = (
    "budget", "status", "same_day_population", "next_day_population", "cost", "mip_gap", "seconds",
    *(a.sweep_column for a in ACTIONS.values()), "plan_dir",
    "baseline_same_day_population", "baseline_next_day_population",
    *(f"{stage}_bound" for stage in STAGES),
    "floor_share", "floor_share_bound",
)


# ----------------------------------------------------------------------------- plan tables


def people_text(people) -> str:
    """People as a plan counts them: whole, or with capacities the people served (two decimals)."""
    return f"{people:,}" if isinstance(people, (int, np.integer)) else f"{people:,.2f}"


def largest_gap(summary: dict) -> float | None:
    gaps = [s["mip_gap"] for s in summary.get("stages", []) if s.get("mip_gap") is not None]
    return max(gaps) if gaps else None


def _small_towns(zones: pd.DataFrame, reached: pd.Series) -> int:
    """Distinct towns, (state, primary_city), among the small-town zones that ``reached`` marks."""
    key = [c for c in ("state", "primary_city") if c in zones]
    towns = zones.loc[reached & (zones["small_town"] == "True"), key]
    return len(towns.drop_duplicates())


def headline_table(plan: Plan) -> pd.DataFrame:
    """The plan in one table: each measure before any action and after the plan, and the change.

    Rows: same-day and next-day population and their share of all people; zones (ZIP codes in the
    national instance) within same-day reach; square miles within same-day reach (sum of
    ``land_area_sq_mi``, where the instance has it); small towns within same-day reach (distinct
    (state, primary_city) among ``small_town`` zones, where present); total population; cost and
    budget; sites by action; the largest stage gap; status. ``unit`` says how to read each row.
    Plan-only rows (budget, sites by action, gap, status) have no before or change.
    """
    s, zones = plan.summary, plan.zones
    total = s["total_population"]
    rows = []

    def compare(measure, before, after, unit):
        rows.append((measure, before, after, after - before, unit))

    def plan_only(measure, after, unit):
        rows.append((measure, None, after, None, unit))

    for tier in ("same_day", "next_day"):
        words = tier.replace("_", "-")
        before, after = s[f"baseline_{tier}_population"], s[f"{tier}_population"]
        compare(f"{words} population", before, after, "people")
        compare(f"{words} share of population", before / max(total, 1), after / max(total, 1), "share")
    before, after = zones["same_day_before"], zones["same_day"]
    compare("zones (ZIP codes) within same-day reach", int(before.sum()), int(after.sum()), "zones")
    if "land_area_sq_mi" in zones:
        area = pd.to_numeric(zones["land_area_sq_mi"], errors="coerce").fillna(0.0)
        compare("square miles within same-day reach", float(area[before].sum()), float(area[after].sum()), "sq mi")
    if {"small_town", "primary_city"} <= set(zones.columns):
        compare("small towns within same-day reach", _small_towns(zones, before), _small_towns(zones, after), "towns")
    compare("total population", total, total, "people")
    compare("cost", 0.0, float(s["cost"]), "USD")
    plan_only("budget", float(s["budget"]), "USD")
    for action in ACTIONS.values():
        plan_only(action.plural, int(s["actions"][action.name]), "sites")
    plan_only("largest stage gap", largest_gap(s), "gap")
    plan_only("status", s["status"], "")
    table = pd.DataFrame(rows, columns=["measure", "before", "after", "change", "unit"]).set_index("measure")
    return table.astype(object).where(table.notna(), None)


@dataclass(frozen=True)
class Yardstick:
    """One of the program's stated outcomes: what it promised, and by which phase."""

    name: str
    program: str          # as the program states it
    target: float | None  # the figure a plan must reach (None: not stated)
    due: str              # "first" or "last" phase
    at_least: bool = True  # reach at least ``target`` (else at most)


# The program's stated outcomes: 4,000+ small towns by end of 2025 (the first phase); 13,000+ ZIP
# codes and 1.2M square miles by end of 2026 (the last); about 200 sites, the rural network
# tripled, a billion more packages a year arriving faster, average delivery times cut in half.
PROGRAM_YARDSTICKS = (
    Yardstick("small towns newly within same/next-day reach", "4,000+", 4000, "first"),
    Yardstick("small towns newly within same-day reach", "4,000+", 4000, "first"),
    Yardstick("ZIP codes newly within same-day reach", "13,000+", 13000, "last"),
    Yardstick("square miles newly within same-day reach", "1.2M", 1.2e6, "last"),
    Yardstick("new and upgraded sites", "about 200", None, "last"),
    Yardstick("rural delivery sites, after / before", "tripled (3x)", 3.0, "last"),
    Yardstick("packages a year arriving faster", "1 billion more", 1e9, "last"),
    Yardstick("average promised delivery days, after / before", "cut in half (0.5x)", 0.5, "last", at_least=False),
    Yardstick("people newly within same-day reach", "(not stated)", None, "last"),
)
# Places the program names (from Milton, Florida to North Pole, Alaska).
PROGRAM_PLACES = ("Milton, FL", "North Pole, AK")


def phase_names(plan: Plan) -> list[str]:
    """The plan's phases in order, or ["plan"] for a plan without phases."""
    return [p["name"] for p in plan.summary.get("phases", [])] or ["plan"]


def _reached_after(plan: Plan, tier: str, phase: int) -> pd.Series:
    """Zones within the tier's reach after the phase at position ``phase``."""
    zones = plan.zones
    if f"{tier}_phase" not in zones:
        return zones[tier]
    names = set(phase_names(plan)[:phase + 1])
    return zones[f"{tier}_before"] | zones[f"{tier}_phase"].isin(names)


def _promise_days(plan: Plan, same_day: pd.Series, next_day: pd.Series) -> pd.Series:
    scenario = plan.summary["scenario"]
    days = {key: scenario.get(key, ASSUMPTIONS[key]) for key in ASSUMPTIONS}
    return pd.Series(np.where(same_day, days["same_day_promise_days"],
                              np.where(next_day, days["next_day_promise_days"], days["other_promise_days"])),
                     index=same_day.index)


def _rural_sites(sites: pd.DataFrame, acted: pd.Series) -> tuple[int, int]:
    """Rural delivery sites before the plan and after its actions in ``acted`` (the ``segment``
    column says which sites are rural; without it every site counts)."""
    rural = sites["segment"] == "rural" if "segment" in sites else pd.Series(True, index=sites.index)
    existing = sites["kind"] != "candidate"
    return int((rural & existing).sum()), int((rural & (existing | acted)).sum())


def yardstick_values(plan: Plan, phase: int) -> dict[str, float | None]:
    """Each yardstick's figure for the plan after the phase at position ``phase`` (None where the
    instance cannot measure it, for want of a column)."""
    zones, sites, summary = plan.zones, plan.sites, plan.summary
    same_before, next_before = zones["same_day_before"], zones["next_day_before"]
    same_after, next_after = _reached_after(plan, "same_day", phase), _reached_after(plan, "next_day", phase)
    newly = same_after & ~same_before
    acted = sites["action"] != "none"
    if "phase" in sites:
        acted &= sites["phase"].isin(phase_names(plan)[:phase + 1])
    people = zones["population"]
    values: dict[str, float | None] = {name: None for name in (y.name for y in PROGRAM_YARDSTICKS)}
    if {"small_town", "primary_city"} <= set(zones.columns):
        either_before, either_after = same_before | next_before, same_after | next_after
        values["small towns newly within same/next-day reach"] = (
            _small_towns(zones, either_after) - _small_towns(zones, either_before))
        values["small towns newly within same-day reach"] = _small_towns(zones, same_after) - _small_towns(zones, same_before)
    values["ZIP codes newly within same-day reach"] = int(newly.sum())
    if "land_area_sq_mi" in zones:
        area = pd.to_numeric(zones["land_area_sq_mi"], errors="coerce").fillna(0.0)
        values["square miles newly within same-day reach"] = float(area[newly].sum())
    values["new and upgraded sites"] = int(acted.sum())
    before, after = _rural_sites(sites, acted & (sites["kind"] == "candidate"))
    values["rural delivery sites, after / before"] = after / before if before else None
    days_before, days_after = _promise_days(plan, same_before, next_before), _promise_days(plan, same_after, next_after)
    per_person = summary["scenario"].get("packages_per_person_per_year", ASSUMPTIONS["packages_per_person_per_year"])
    values["packages a year arriving faster"] = float(people[days_after < days_before].sum() * per_person)
    total = max(int(people.sum()), 1)
    average_before = float((people * days_before).sum()) / total
    values["average promised delivery days, after / before"] = (
        float((people * days_after).sum()) / total / average_before if average_before else None)
    values["people newly within same-day reach"] = int(people[newly].sum())
    return values


def yardstick_table(plan: Plan) -> pd.DataFrame:
    """The program's yardsticks next to the plan's figures, phase by phase (cumulative: the plan
    after each phase), with a verdict at the phase each is due. Rows the instance cannot measure
    are left out, and all of them where no plan was found (there is nothing to measure against the
    program). ``verdict``: met, short, or blank where the program states no figure."""
    names = phase_names(plan)
    per_phase = [yardstick_values(plan, k) for k in range(len(names))] if plan.found else []
    rows = []
    for yardstick in PROGRAM_YARDSTICKS if per_phase else ():
        figures = [values[yardstick.name] for values in per_phase]
        if any(f is None for f in figures):
            continue
        due = 0 if yardstick.due == "first" else len(names) - 1
        value = figures[due]
        verdict = "" if yardstick.target is None else (
            "met" if (value >= yardstick.target if yardstick.at_least else value <= yardstick.target) else "short")
        rows.append((yardstick.name, yardstick.program, names[due], *figures, verdict))
    table = pd.DataFrame(rows, columns=["yardstick", "program", "due", *names, "verdict"]).set_index("yardstick")
    return table


def yardstick_records(plan: Plan) -> list[dict]:
    """:func:`yardstick_table` as plan.json records it: one entry per yardstick, with the plan's
    figure after each phase."""
    table = yardstick_table(plan)
    phases = [c for c in table.columns if c not in ("program", "due", "verdict")]
    return [{"yardstick": name, "program": row["program"], "due": row["due"],
             "plan": {phase: float(row[phase]) for phase in phases}, "verdict": row["verdict"] or None}
            for name, row in table.iterrows()]


def phase_table(plan: Plan) -> pd.DataFrame:
    """Coverage and spending after each phase (one row per phase, and the start before any),
    for a plan with phases; an empty table otherwise."""
    s = plan.summary
    rows = [("before the plan", None, None, s["baseline_same_day_population"], s["baseline_next_day_population"])]
    rows += [(p["name"], p["budget"], p["cost"], p["same_day_population"], p["next_day_population"])
             for p in s.get("phases", [])]
    if len(rows) == 1:
        return pd.DataFrame(columns=["budget", "cost", "same_day_population", "next_day_population"])
    table = pd.DataFrame(rows, columns=["phase", "budget", "cost", "same_day_population",
                                        "next_day_population"]).set_index("phase")
    for tier in ("same_day", "next_day"):
        table[f"new_{tier}"] = table[f"{tier}_population"].diff()
    return table


def equity_table(plan: Plan, near: float = 0.05) -> pd.DataFrame:
    """Each equity group's floor and achieved same-day share, the groups furthest below their
    floor first; ``standing`` says below, near (within ``near`` of it) or above;
    ``reachable_share`` the most any plan reaches at any budget."""
    equity = plan.summary.get("equity")
    if equity is None:
        return pd.DataFrame(columns=["floor", "population", "same_day_population", "share", "standing"])
    table = pd.DataFrame(equity["groups"]).set_index("group")
    margin = table["share"] - table["floor"]
    table["standing"] = np.where(~table["meets_floor"], "below", np.where(margin <= near, "near", "above"))
    table = table.loc[margin.sort_values(kind="stable").index]
    table.index.name = equity["column"]
    reachable = ["reachable_share"] if "reachable_share" in table else []  # plans before it lack it
    return table[["floor", "population", "same_day_population", "share", "standing", *reachable]]


def capacity_table(plan: Plan, near: float = 0.1) -> pd.DataFrame:
    """Each inventory site with a capacity after the plan: its same-day load against its
    capacity, the fullest first; ``standing`` says full (at capacity), near (within ``near``) or
    room. Empty for a plan without capacities."""
    columns = ["site_id", "kind", "action", "capacity", "same_day_load", "load_share", "standing"]
    sites = plan.sites
    if "same_day_load" not in sites or "capacity" not in sites:
        return pd.DataFrame(columns=columns)
    inventory = already(sites["kind"], "holds_inventory") | sites["action"].isin(
        [a.name for a in ACTIONS.values() if a.holds_inventory])
    table = sites[inventory & sites["capacity"].notna()].copy()
    place = [c for c in ("primary_city", "state") if c in table]
    table["load_share"] = np.where(table["capacity"] > 0, table["same_day_load"] / table["capacity"].where(
        table["capacity"] > 0, 1.0), 1.0)
    table["standing"] = np.where(table["load_share"] >= 1 - 1e-9, "full",
                                 np.where(table["load_share"] >= 1 - near, "near", "room"))
    table = table.sort_values(["load_share", "site_id"], ascending=[False, True], kind="stable")
    return table[["site_id", *place, *columns[1:]]].reset_index(drop=True)


def partly_served_table(plan: Plan) -> pd.DataFrame:
    """Zones whose same-day demand is only partly served (capacity ran out), the most people left
    unserved first. Empty for a plan without capacities."""
    zones = plan.zones
    columns = ["zone_id", "population", "same_day_share", "served_population", "unserved_population"]
    if "same_day_share" not in zones:
        return pd.DataFrame(columns=columns)
    partly = zones[(zones["same_day_share"] > 0) & ~zones["same_day"]].copy()
    place = [c for c in ("primary_city", "state") if c in partly]
    partly["served_population"] = partly["population"] * partly["same_day_share"]
    partly["unserved_population"] = partly["population"] - partly["served_population"]
    partly = partly.sort_values(["unserved_population", "zone_id"], ascending=[False, True], kind="stable")
    return partly[["zone_id", *place, *columns[1:]]].reset_index(drop=True)


def place_table(plan: Plan, place: str) -> pd.DataFrame:
    """What the plan does for a place: its zones (by ZIP code, or by town as "Town, ST" or
    "Town"), their reach before and after (with capacities, the share of each zone's same-day
    demand served), the phase that brings it, and the nearest inventory site. Empty when no zone
    matches."""
    zones = plan.zones
    text = place.strip()
    city, _, state = (part.strip() for part in text.partition(","))
    match = zones["zone_id"] == text
    if "primary_city" in zones and city:  # ", NH" names no town (not the zones without one)
        named = zones["primary_city"].str.casefold() == city.casefold()
        if state and "state" in zones:
            named &= zones["state"].str.casefold() == state.casefold()
        match |= named
    columns = [c for c in ("zone_id", "primary_city", "state", "population", "same_day_before", "same_day",
                           "same_day_share", "same_day_phase", "next_day_before", "next_day", "next_day_phase",
                           "nearest_inventory_site", "minutes_to_inventory") if c in zones]
    return zones.loc[match, columns].reset_index(drop=True)


def sites_table(plan: Plan) -> pd.DataFrame:
    """The sites the plan acts on, the ones that add the most same-day people first.

    Columns (besides the site's id, kind, action, cost, and town and state where present):

    - ``same_day_gain``: people same-day only because of this site (no other inventory site of
      the plan reaches their zone); the sort key. Zero for a new delivery station, which holds no
      inventory; it serves next-day.
    - ``new_same_day_population``: people in zones that become same-day with the plan and whose
      nearest inventory site is this one. Such a zone has no existing inventory site in reach, so
      its nearest one is new and in reach: over all sites, without capacities, this adds up to the
      plan's same-day gain (with them the gain also counts zones served in part, and zones served by
      capacity an existing center no longer spends).
    - ``nearest_zones``, ``nearest_population``: zones (and their people) whose nearest inventory
      site is this one, whatever their reach.

    The plan does not keep reach distances, so "newly same-day within reach of the site" is
    approximated by "newly same-day and nearest to the site".
    """
    zones, sites = plan.zones, plan.sites
    newly = zones["same_day"] & ~zones["same_day_before"]
    by_site = zones.groupby("nearest_inventory_site")
    nearest = pd.DataFrame({
        "new_same_day_population": zones["population"].where(newly, 0).groupby(zones["nearest_inventory_site"]).sum(),
        "nearest_zones": by_site.size(),
        "nearest_population": by_site["population"].sum(),
    })
    acted = sites[sites["action"] != "none"]
    place = [c for c in ("primary_city", "state") if c in sites]
    table = acted[["site_id", "kind", "action", "cost", *place, "same_day_gain"]].join(nearest, on="site_id")
    counts = ["new_same_day_population", "nearest_zones", "nearest_population"]
    table[counts] = table[counts].fillna(0).astype(np.int64)
    table = table.sort_values(["same_day_gain", "new_same_day_population", "site_id"],
                              ascending=[False, False, True], kind="stable")
    return table.reset_index(drop=True)


def coverage_by(plan: Plan, column: str) -> pd.DataFrame:
    """Same-day and next-day population before and after the plan, and their shares, per value of
    a zone column (``state``, ``urbanicity_tier``, ...), with a ``total`` row equal to the plan's
    totals. Raises KeyError when the instance has no such zone column."""
    zones = plan.zones
    if column not in zones:
        raise KeyError(f"the plan's zones have no {column!r} column")
    people = zones["population"]
    groups = zones[column].replace("", "(blank)")
    data = pd.DataFrame({"zones": 1, "population": people})
    for tier in ("same_day", "next_day"):
        data[f"{tier}_before"] = people.where(zones[f"{tier}_before"], 0)
        data[f"{tier}_after"] = people.where(zones[tier], 0)
    table = data.groupby(groups).sum()
    order = sorted(table.index, key=lambda v: (TIER_ORDER.index(v) if v in TIER_ORDER else len(TIER_ORDER), v))
    table = table.loc[order]
    table.loc[TOTAL] = data.sum()
    table = table.astype(np.int64)
    for tier in ("same_day", "next_day"):
        table[f"new_{tier}"] = table[f"{tier}_after"] - table[f"{tier}_before"]
        for when in ("before", "after"):
            table[f"{tier}_share_{when}"] = table[f"{tier}_{when}"] / table["population"].where(table["population"] > 0)
    columns = ["zones", "population"]
    for tier in ("same_day", "next_day"):
        columns += [f"{tier}_before", f"{tier}_after", f"new_{tier}", f"{tier}_share_before", f"{tier}_share_after"]
    table.index.name = column
    return table[columns]


# ----------------------------------------------------------------------------- formatting


def _number(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)) or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"  # ratios keep two decimals


_FORMATS = {
    "usd": usd_millions,
    "share": lambda v: f"{v:.1%}",
    "share_at_most": lambda v: percent_text(v, 1, math.ceil),  # an upper limit, never shown below the truth
    "points": lambda v: f"{v * 100:+.1f} pp",  # a change of share, in percentage points
    "whole": lambda v: f"{v:,.0f}",
    "gap": lambda v: f"{v:.2e}",
    "seconds": lambda v: f"{v:,.1f}",
    "number": _number,
}
_UNIT_FORMATS = {"USD": "usd", "share": "share", "gap": "gap", "sq mi": "whole"}


def _column_format(name: str) -> str:
    if name == "reachable_share":
        return "share_at_most"
    if name in ("cost", "budget") or name.endswith(("_cost", "_budget")):
        return "usd"
    for word in ("share", "gap", "seconds"):
        if word in name:
            return word
    return "whole" if name.endswith("per_100m") else "number"


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The same table as text for people: $M for money, percentages for shares, thousands
    separators for counts, blank where there is no value. A ``unit`` column, as in
    :func:`headline_table`, sets the format row by row; there a change of share is shown in
    percentage points."""

    def show(value, kind):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return ""
        if isinstance(value, str):
            return value
        return _FORMATS[kind](value)

    text = table.astype(object).copy()
    for column in table.columns:
        if column == "unit":
            continue
        if "unit" in table:
            kinds = table["unit"].map(lambda u: _UNIT_FORMATS.get(u, "number"))
            if column == "change":
                kinds = kinds.replace("share", "points")
        else:
            kinds = pd.Series(_column_format(str(column)), index=table.index)
        text[column] = [show(v, k) for v, k in zip(table[column], kinds)]
    return text


# ----------------------------------------------------------------------------- the map

# Zone shading, drawn in this order so the news sits on top.
ZONE_CLASSES = (
    ("not reached", "#a9a9a9"),
    ("next-day only", "#f9d9a6"),
    ("same-day already", "#6f9fcf"),
    ("newly same-day", "#1b9e4b"),
)
# Sites by action: marker, fill, size; existing service centers are drawn for context.
SITE_MARKERS = {
    KINDS["center"].words: ("o", "#1a1a1a", 14),
    ACTIONS["upgrade"].words: ("^", "#ff7f0e", 46),
    ACTIONS["open_center"].words: ("*", "#d62728", 110),
    ACTIONS["open_station"].words: ("s", "#ffffff", 30),
}
# (south, north, west, east) boxes of the US panels; Alaska also takes the Aleutians past 180.
US_BOXES = {
    "contiguous": (24.0, 50.0, -125.5, -66.0),
    "alaska": (51.0, 72.0, -190.0, -129.0),
    "hawaii": (18.0, 23.0, -161.0, -154.0),
}
# Albers equal-area conic (standard parallels, origin latitude, central meridian) per panel:
# the usual US atlas projections, so the country has its familiar shape.
ALBERS = {
    "contiguous": (29.5, 45.5, 37.5, -96.0),
    "alaska": (55.0, 65.0, 50.0, -154.0),
    "hawaii": (8.0, 18.0, 3.0, -157.0),
}


def _albers(lat, lon, parallels):
    lat1, lat2, lat0, lon0 = np.radians(parallels)
    lat, lon = np.radians(np.asarray(lat, dtype=float)), np.radians(np.asarray(lon, dtype=float))
    n = (np.sin(lat1) + np.sin(lat2)) / 2
    c = np.cos(lat1) ** 2 + 2 * n * np.sin(lat1)
    rho = np.sqrt(c - 2 * n * np.sin(lat)) / n
    rho0 = np.sqrt(c - 2 * n * np.sin(lat0)) / n
    theta = n * (lon - lon0)
    return rho * np.sin(theta), rho0 - rho * np.cos(theta)


def _zone_class(zones: pd.DataFrame) -> np.ndarray:
    classes = np.full(len(zones), ZONE_CLASSES[0][0], dtype=object)
    classes[zones["next_day"].to_numpy()] = "next-day only"
    classes[zones["same_day_before"].to_numpy()] = "same-day already"
    classes[(zones["same_day"] & ~zones["same_day_before"]).to_numpy()] = "newly same-day"
    return classes


def _site_class(sites: pd.DataFrame) -> np.ndarray:
    classes = np.full(len(sites), "", dtype=object)
    classes[((sites["kind"] == "center") & (sites["action"] == "none")).to_numpy()] = KINDS["center"].words
    for action in ACTIONS.values():
        classes[(sites["action"] == action.name).to_numpy()] = action.words
    return classes


def _wrap_alaska(lon: np.ndarray) -> np.ndarray:
    return np.where(lon > 0, lon - 360.0, lon)  # the western Aleutians lie past 180 degrees


def _in_box(frame: pd.DataFrame, panel: str) -> np.ndarray:
    south, north, west, east = US_BOXES[panel]
    lat, lon = frame["lat"].to_numpy(), frame["lon"].to_numpy()
    lon = _wrap_alaska(lon) if panel == "alaska" else lon
    return (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)


def _us_panels(zones: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """Which zones fall in each US panel, or None when the instance is not laid out like the US
    (some zone outside the three boxes, or no zone in Alaska or Hawaii)."""
    panels = {name: _in_box(zones, name) for name in US_BOXES}
    inside = np.logical_or.reduce(list(panels.values()))
    if not inside.all() or not panels["contiguous"].any() or not (panels["alaska"].any() or panels["hawaii"].any()):
        return None
    return panels


def _draw(ax, zones, zone_class, sites, site_class, project, scale=1.0):
    """Zones as points shaded by reach, then the sites, on one panel."""
    x, y = project(zones["lat"].to_numpy(), zones["lon"].to_numpy())
    for name, colour in ZONE_CLASSES:
        chosen = zone_class == name
        ax.scatter(x[chosen], y[chosen], s=2.2 * scale, c=colour, linewidths=0, rasterized=True)
    sx, sy = project(sites["lat"].to_numpy(), sites["lon"].to_numpy())
    for name, (marker, colour, size) in SITE_MARKERS.items():
        chosen = site_class == name
        ax.scatter(sx[chosen], sy[chosen], s=size * scale, marker=marker, c=colour,
                   edgecolors="#1a1a1a", linewidths=0.6, zorder=3)


def coverage_map(plan: Plan) -> Figure:
    """Zones as points shaded by reach before and after the plan, and the sites it acts on.

    An instance laid out like the US gets the contiguous states with Alaska and Hawaii insets,
    each in its usual Albers equal-area projection; any other instance gets one panel of its
    extent in longitude and latitude.
    """
    from matplotlib.figure import Figure

    zones, sites, s = plan.zones, plan.sites, plan.summary
    zone_class, site_class = _zone_class(zones), _site_class(sites)
    panels = _us_panels(zones)
    figure = Figure(figsize=(14, 8.2), dpi=100, layout="none")
    if panels is None:
        ax = figure.add_axes((0.06, 0.07, 0.64, 0.83))
        _draw(ax, zones, zone_class, sites, site_class, lambda lat, lon: (lon, lat), scale=4.0)
        ax.set_aspect(1 / max(math.cos(math.radians(zones["lat"].mean() if len(zones) else 0.0)), 0.1))
        ax.set_anchor("E")  # next to the legend, however narrow the extent
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
    else:
        frames = {"contiguous": (0.0, 0.08, 0.7, 0.84), "alaska": (0.01, 0.02, 0.19, 0.26),
                  "hawaii": (0.21, 0.02, 0.12, 0.12)}
        for name, rect in frames.items():
            ax = figure.add_axes(rect)
            wrap = _wrap_alaska if name == "alaska" else (lambda lon: lon)
            in_zones, in_sites = panels[name], _in_box(sites, name)
            _draw(ax, zones[in_zones], zone_class[in_zones], sites[in_sites], site_class[in_sites],
                  lambda lat, lon, n=name, w=wrap: _albers(lat, w(lon), ALBERS[n]))
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            # The insets get a light frame so they read as separate, rescaled panels.
            for spine in ax.spines.values():
                spine.set_visible(name != "contiguous")
                spine.set_color("#b0b0b0")
    _legend(figure, zones, zone_class, site_class)
    gap = largest_gap(s)
    figure.suptitle(
        f"{s['instance']['name']}: same-day reach with a {usd_millions(s['budget'])} budget "
        f"({s['status']}{'' if gap is None else f', gap {gap:.1e}'})", x=0.02, ha="left", fontsize=14)
    return figure


def _legend(figure, zones, zone_class, site_class):
    from matplotlib.lines import Line2D

    people = zones["population"].to_numpy()
    handles = []
    for name, colour in ZONE_CLASSES:
        chosen = zone_class == name
        label = f"{name}\n{chosen.sum():,} zones, {people[chosen].sum():,} people"
        handles.append(Line2D([], [], ls="", marker="o", ms=8, mfc=colour, mec="none", label=label))
    for name, (marker, colour, size) in SITE_MARKERS.items():
        handles.append(Line2D([], [], ls="", marker=marker, ms=math.sqrt(size) * 1.1, mfc=colour, mec="#1a1a1a",
                              label=f"{name} ({(site_class == name).sum():,})"))
    figure.legend(handles=handles, loc="center left", bbox_to_anchor=(0.71, 0.5), frameon=False,
                  fontsize=10.5, labelspacing=1.1, title="zones by reach, sites by action",
                  title_fontproperties={"weight": "bold", "size": 11})


# ----------------------------------------------------------------------------- sweeps


PLAN_DIR_PREFIX = "budget-"


def plan_dir_name(budget: float) -> str:
    """A sweep's plan directory for one budget, relative to the sweep directory."""
    return f"{PLAN_DIR_PREFIX}{budget_label(budget)}"


def sweep_table(sweep_dir: str | Path, budgets: list[float]) -> pd.DataFrame:
    """One row per budget, sorted by budget, from the plans written in ``sweep_dir``."""
    rows = []
    for budget in sorted(budgets):
        name = plan_dir_name(budget)
        s = read_summary(Path(sweep_dir) / name)
        # A stage with no gap (stopped before it found a solution) proves nothing: gap infinite.
        gaps = [math.inf if stage["mip_gap"] is None else stage["mip_gap"] for stage in s["stages"]]
        rows.append({
            "budget": s["budget"], "status": s["status"],
            "same_day_population": s["same_day_population"], "next_day_population": s["next_day_population"],
            "cost": s["cost"], "mip_gap": max(gaps, default=math.inf), "seconds": s["solve_seconds"],
            **{a.sweep_column: s["actions"][a.name] for a in ACTIONS.values()}, "plan_dir": name,
            "baseline_same_day_population": s["baseline_same_day_population"],
            "baseline_next_day_population": s["baseline_next_day_population"],
            # Each stage's proven bound (blank: none found), so that a budget a time limit stopped
            # says in people and dollars how much better a plan might be, as its summary does.
            **{f"{stage['stage']}_bound": math.nan if stage["bound"] is None else stage["bound"]
               for stage in s["stages"]},
            # Where no plan meets the equity floors: the largest share of them one plan meets.
            **_floor_share_columns(floor_scale_of(s)),
        })
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def _floor_share_columns(scale: dict | None) -> dict[str, float]:
    """A sweep row's ``floor_share`` and ``floor_share_bound`` (blank where the budget's plan
    meets the floors, or holds no such share)."""
    if scale is None:
        return {"floor_share": math.nan, "floor_share_bound": math.nan}
    bound = scale.get("bound")
    return {"floor_share": scale["value"], "floor_share_bound": math.nan if bound is None else bound}


def read_sweep(sweep_dir: str | Path) -> pd.DataFrame:
    """The sweep table of a sweep directory (``plan_dir`` is relative to it)."""
    return pd.read_csv(Path(sweep_dir) / SWEEP_FILE)


def _sweep_of(sweep: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A sweep table (as :func:`read_sweep` reads it), by budget."""
    table = sweep if isinstance(sweep, pd.DataFrame) else read_sweep(sweep)
    return table.sort_values("budget", kind="stable").reset_index(drop=True)


def sweep_marginal_table(sweep: str | Path | pd.DataFrame) -> pd.DataFrame:
    """For each budget of a sweep: its same-day and next-day population, the people it adds over
    the next smaller budget, and those per extra $100M.

    The smallest budget is compared with no action at all ($0 and the baseline populations), which
    is exactly the plan a $0 budget gets. A budget whose plan was not proven optimal (see
    ``status``) may add fewer people than it could, or even fewer than a smaller budget.
    """
    sweep = _sweep_of(sweep)
    table = sweep[["budget", "status"]].copy()
    first_is_zero = bool(len(sweep)) and sweep["budget"].iloc[0] == 0
    table["previous_budget"] = sweep["budget"].shift(1, fill_value=np.nan if first_is_zero else 0.0)
    step = (table["budget"] - table["previous_budget"]).where(lambda d: d > 0)
    for tier in ("same_day", "next_day"):
        population = sweep[f"{tier}_population"]
        previous = population.shift(1)
        if not first_is_zero and len(sweep):
            previous.iloc[0] = sweep[f"baseline_{tier}_population"].iloc[0]
        table[f"{tier}_population"] = population
        table[f"new_{tier}"] = population - previous
        table[f"{tier}_per_100m"] = table[f"new_{tier}"] / step * 1e8
    table["cost"] = sweep["cost"]
    return table[["budget", "previous_budget", "status", "same_day_population", "new_same_day", "same_day_per_100m",
                  "next_day_population", "new_next_day", "next_day_per_100m", "cost"]]


def _people_axis(values):
    from matplotlib.ticker import FuncFormatter

    if len(values) and np.nanmax(np.abs(values)) >= 1e6:
        return FuncFormatter(lambda v, _: f"{v / 1e6:,.1f}M")
    return FuncFormatter(lambda v, _: f"{v:,.0f}")


def sweep_curve(sweep: str | Path | pd.DataFrame, scenario_budget: float | None = None, title: str | None = None) -> Figure:
    """Coverage against budget (top) and same-day people added per extra $100M (bottom), from a
    sweep directory or its table; ``scenario_budget`` is marked when given.

    Budgets whose plan was not proven optimal (``time_limit``, ``infeasible``, ``error``) are
    circled in red on the curve and hatched in the bars: their coverage is a lower bound.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    sweep = _sweep_of(sweep)
    marginal = sweep_marginal_table(sweep)
    figure = Figure(figsize=(10, 7.5), dpi=100, layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    budgets = sweep["budget"].to_numpy(dtype=float)
    not_optimal = (sweep["status"] != "optimal").to_numpy()
    colours = {"same_day": "#1b9e4b", "next_day": "#e08a1e"}
    # A $0 budget is the plan with no action, so the curve starts from the baseline at $0.
    from_zero = len(sweep) > 0 and budgets[0] > 0
    for tier, colour in colours.items():
        words = tier.replace("_", "-")
        population = sweep[f"{tier}_population"].to_numpy(dtype=float)
        baseline = sweep[f"baseline_{tier}_population"].iloc[0] if len(sweep) else np.nan
        top.axhline(baseline, color=colour, ls=":", lw=1.2, label=f"{words} before any action")
        x, y = (np.r_[0.0, budgets], np.r_[baseline, population]) if from_zero else (budgets, population)
        top.plot(x, y, "-o", color=colour, ms=5, label=f"{words} population")
        top.scatter(budgets[not_optimal], population[not_optimal], s=150, facecolors="none",
                    edgecolors="#d62728", linewidths=1.8, zorder=3)
    if not_optimal.any():
        statuses = ", ".join(sorted(set(sweep.loc[not_optimal, "status"])))
        top.scatter([], [], s=150, facecolors="none", edgecolors="#d62728", linewidths=1.8,
                    label=f"not proven optimal ({statuses})")
    if scenario_budget is not None:
        label = f"scenario budget {usd_short(scenario_budget)}"
        if len(budgets) and scenario_budget <= budgets.max():
            for axes in (top, bottom):
                axes.axvline(scenario_budget, color="grey", ls="--", lw=1, label=label if axes is top else None)
        else:  # a line far beyond the swept budgets would squeeze the curve: name it only
            top.plot([], [], " ", label=f"{label} (beyond the budgets swept)")
    top.set_ylabel("people")
    top.yaxis.set_major_formatter(_people_axis(sweep["same_day_population"].to_numpy(dtype=float)))
    top.set_title(title or "People within reach by budget")
    top.legend(loc="lower right", fontsize=9)
    top.grid(alpha=0.3)

    per_100m = marginal["same_day_per_100m"].to_numpy(dtype=float)
    left = marginal["previous_budget"].to_numpy(dtype=float)
    drawn = ~np.isnan(left)
    bars = bottom.bar(left[drawn], per_100m[drawn], width=(budgets - left)[drawn], align="edge",
                      color=colours["same_day"], alpha=0.75, edgecolor="white")
    for bar, hatched in zip(bars, not_optimal[drawn]):
        if hatched:
            bar.set_hatch("//")
            bar.set_edgecolor("#d62728")
            bar.set_label("ends at a budget not proven optimal")
    if (not_optimal[drawn]).any():
        bottom.legend(handles=[b for b in bars if b.get_hatch()][:1], loc="upper right", fontsize=9)
    bottom.set_ylabel("same-day people\nper extra $100M")
    bottom.yaxis.set_major_formatter(_people_axis(per_100m[drawn] if drawn.any() else per_100m))
    bottom.set_xlabel("budget")
    bottom.xaxis.set_major_formatter(FuncFormatter(lambda v, _: usd_short(v)))
    bottom.set_title("What each extra $100M buys (from the next smaller budget)")
    bottom.grid(alpha=0.3, axis="y")
    return figure


def sites_entering(sweep_dir: str | Path) -> pd.DataFrame:
    """Which sites enter the plan as the budget grows.

    One row per site that has an action at some budget of the sweep: the smallest such budget
    (``first_budget``) and its action there, in how many of the sweep's plans it has an action,
    and its action at the largest budget. Plans of different budgets are each optimal on their
    own, not nested, so a site can leave again or change action.
    """
    sweep = _sweep_of(sweep_dir)
    # plan_dir is relative to the sweep directory, and empty for a budget with no plan written.
    plans = [(budget, Path(sweep_dir) / name) for budget, name in zip(sweep["budget"], sweep["plan_dir"])
             if isinstance(name, str) and name]
    frames = [read_sites(plan_dir).assign(budget=budget) for budget, plan_dir in plans if is_plan(plan_dir)]
    place = [c for c in ("primary_city", "state") if frames and c in frames[0]]
    columns = ["site_id", "kind", *place, "first_budget", "first_action", "plans", "action_at_largest_budget"]
    if not frames:
        return pd.DataFrame(columns=columns)
    every = pd.concat(frames, ignore_index=True)
    acted = every[every["action"] != "none"]
    first = acted.drop_duplicates("site_id").rename(columns={"budget": "first_budget", "action": "first_action"})
    largest = every[every["budget"] == sweep["budget"].max()].set_index("site_id")["action"]
    first["plans"] = first["site_id"].map(acted["site_id"].value_counts())
    first["action_at_largest_budget"] = first["site_id"].map(largest).fillna("none")
    return first.sort_values(["first_budget", "site_id"], kind="stable")[columns].reset_index(drop=True)


# ----------------------------------------------------------------------------- the HTML report

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1320px; padding: 0 1.5em; color: #1a1a1a; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .warning { background: #fde8e8; border: 1px solid #d62728; padding: 0.6em 1em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; }
td { text-align: right; font-variant-numeric: tabular-nums; } th { text-align: left; background: #f4f4f4; }
tbody th { background: none; font-weight: normal; } img { max-width: 100%; height: auto; }
.scroll { max-height: 36em; max-width: 100%; overflow: auto; display: inline-block; }
"""


def figure_png(figure: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white", bbox_inches="tight", pad_inches=0.2)
    return buffer.getvalue()


def _img(figure: Figure, alt: str) -> str:
    data = base64.b64encode(figure_png(figure)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _table_html(table: pd.DataFrame, index: bool = True, index_names: bool = True) -> str:
    return formatted(table).to_html(index=index, index_names=index_names, escape=True, border=0)


def report_html(plan: Plan) -> str:
    """The report page of a plan: one self-contained HTML document (inline CSS, images as data
    URIs, no scripts or links), so it can be mailed and opened offline."""
    s = plan.summary
    name = html.escape(s["instance"]["name"])
    scenario = s["scenario"]
    parts = [
        f"<h1>Deployment plan: {name}, budget {usd_millions(s['budget'])}</h1>",
        f'<p class="meta">Status <b>{html.escape(s["status"])}</b>. Same-day reach {scenario["same_day_minutes"]:g} '
        f'minutes, next-day {scenario["next_day_minutes"]:g} minutes from a site, at {scenario["speed_mph"]:g} mph '
        f'with circuity {scenario["circuity"]:g}. Solved by {html.escape(s["solver"]["name"])} '
        f'{html.escape(str(s["solver"].get("version", "")))} in {s["solve_seconds"]:,.1f} s; created '
        f'{html.escape(s["created"])}. Instance SHA-256 <code>{html.escape(s["instance"]["sha256"][:16])}…</code></p>',
    ]
    if s["status"] == "infeasible":
        parts.append('<p class="warning">No plan within the budget meets every constraint (status <b>infeasible</b>): '
                     "this plan takes no action and is not one to carry out.</p>")
    elif not plan.found:
        parts.append(f'<p class="warning">No plan was found in time (status {html.escape(s["status"])}): '
                     "this plan takes no action and is not one to carry out.</p>")
    elif s["status"] != "optimal":
        parts.append(f'<p class="warning">This plan is <b>not proven optimal</b> (status {html.escape(s["status"])}): '
                     f"a better plan within the same budget may exist.</p>")
    parts += ["<h2>Headline</h2>", _table_html(headline_table(plan), index_names=False)]
    yardsticks = yardstick_table(plan)
    if len(yardsticks):
        parts += ["<h2>The program's yardsticks</h2>",
                  "<p>The program's stated outcomes next to the plan's figures after each phase; the verdict is "
                  "taken at the phase each outcome is due.</p>", _table_html(yardsticks)]
    phases = phase_table(plan)
    if len(phases):
        parts += ["<h2>Phases</h2>", _table_html(phases)]
    equity = equity_table(plan)
    if len(equity):
        scale = floor_scale_of(plan.summary)
        note = ("" if scale is None else
                f'<p class="warning">No plan within the budget meets every floor: '
                f'{html.escape(floor_scale_text(scale))}.</p>')
        parts += ["<h2>Equity floors</h2>", note, f'<div class="scroll">{_table_html(equity)}</div>']
    places = pd.concat([place_table(plan, place) for place in PROGRAM_PLACES], ignore_index=True)
    if len(places):
        parts += ["<h2>Places the program names</h2>", _table_html(places, index=False)]
    loads = capacity_table(plan)
    if len(loads):
        partly = partly_served_table(plan)
        parts += ["<h2>Capacity</h2>",
                  f"<p>Same-day packages a day each inventory site ships against its capacity, the fullest "
                  f"first. {int((loads['standing'] == 'full').sum())} of {len(loads)} sites with a capacity are "
                  f"full; {len(partly)} zones are only partly served.</p>",
                  f'<div class="scroll">{_table_html(loads, index=False)}</div>']
        if len(partly):
            parts += ["<h3>Zones only partly served</h3>",
                      f'<div class="scroll">{_table_html(partly.head(200), index=False)}</div>']
    parts += ["<h2>Map</h2>", _img(coverage_map(plan), "map of zones by reach and sites by action")]
    parts += ["<h2>Sites in the plan</h2>",
              "<p><b>same_day_gain</b>: people same-day only because of this site. <b>new_same_day_population</b>: "
              "people in zones that become same-day and whose nearest inventory site is this one. "
              "<b>nearest_zones</b>, <b>nearest_population</b>: zones whose nearest inventory site is this one.</p>",
              f'<div class="scroll">{_table_html(sites_table(plan), index=False)}</div>']
    for column, title in (("state", "Coverage by state"), ("urbanicity_tier", "Coverage by density tier")):
        if column in plan.zones:
            parts += [f"<h2>{title}</h2>", f'<div class="scroll">{_table_html(coverage_by(plan, column))}</div>']
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>ruralreach plan: {name}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def write_report(plan_dir: str | Path) -> Path:
    """Write ``PLAN_DIR/report.html`` (see :func:`report_html`) and return its path. The plan's
    place is held from the plan's read to the report's write: a plan written meanwhile would
    get the report of the one it replaced."""
    with plan_place(plan_dir, check=check_plan_to_add_to):
        return add_to_plan(plan_dir, REPORT_FILE, report_html(read_plan(plan_dir)).encode("utf-8"))
