"""What a plan achieves, in the planner's measures: the headline table, and the program's own
yardsticks next to the plan's. Plain pandas (no plotting), so the command line can print them.

Optional zone columns of the national instance (``land_area_sq_mi``, ``small_town``, ``state``,
``primary_city``) are used where present and skipped where not.
"""

from __future__ import annotations

import pandas as pd

from model.plan import Plan

ACTION_WORDS = {
    "upgrade": "stations upgraded to service centers",
    "open_station": "new delivery stations",
    "open_center": "new service centers",
}

# ----------------------------------------------------------------------------- plan tables


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
    for action, words in ACTION_WORDS.items():
        plan_only(words, int(s["actions"][action]), "sites")
    plan_only("largest stage gap", largest_gap(s), "gap")
    plan_only("status", s["status"], "")
    table = pd.DataFrame(rows, columns=["measure", "before", "after", "change", "unit"]).set_index("measure")
    return table.astype(object).where(table.notna(), None)


# The program's stated outcomes (end of 2026), against which a national plan is read.
PROGRAM_YARDSTICKS = {
    "ZIP codes newly within same-day reach": "13,000+",
    "square miles newly within same-day reach": "1.2M",
    "small towns newly within same-day reach": "4,000+",
    "new and upgraded sites": "about 200",
    "people newly within same-day reach": "(not stated)",
}


def yardstick_table(plan: Plan) -> pd.DataFrame:
    """The program's yardsticks next to the plan's figures (rows the instance cannot measure,
    for want of a column, are left out)."""
    headline = headline_table(plan)
    change = headline["change"]
    measured = {
        "ZIP codes newly within same-day reach": change.get("zones (ZIP codes) within same-day reach"),
        "square miles newly within same-day reach": change.get("square miles within same-day reach"),
        "small towns newly within same-day reach": change.get("small towns within same-day reach"),
        "new and upgraded sites": sum(plan.summary["actions"][a] for a in ACTION_WORDS),
        "people newly within same-day reach": change.get("same-day population"),
    }
    rows = [(name, PROGRAM_YARDSTICKS[name], value) for name, value in measured.items() if value is not None]
    return pd.DataFrame(rows, columns=["yardstick", "program", "plan"]).set_index("yardstick")
