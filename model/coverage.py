"""What a set of actions achieves: which zones are same-day and next-day, and what it costs.

This is the plain definition of coverage, independent of the optimization model: the plan files,
the baseline and the check of every solution are computed here, from the actions alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.instance import Instance
from model.reach import Reach

ACTIONS = ("none", "upgrade", "open_station", "open_center")
# The cost column each action is paid from.
ACTION_COST_COLUMN = {"upgrade": "upgrade_cost", "open_station": "station_cost", "open_center": "center_cost"}
# The actions each kind of site may take besides "none".
KIND_ACTIONS = {"center": (), "station": ("upgrade",), "candidate": ("open_station", "open_center")}


@dataclass(frozen=True)
class Coverage:
    same_day: np.ndarray   # bool per zone
    next_day: np.ndarray   # bool per zone
    holds_inventory: np.ndarray  # bool per site: center, upgraded station, service-center candidate
    delivers: np.ndarray   # bool per site: any open delivery site
    site_cost: np.ndarray  # USD per site, 0 where the action is "none"

    @property
    def cost(self) -> float:
        return float(self.site_cost.sum())


def no_actions(instance: Instance) -> np.ndarray:
    return np.full(len(instance.sites), "none", dtype=object)


def check_actions(instance: Instance, actions: np.ndarray) -> None:
    """Raise ValueError when an action is not one this kind of site may take."""
    kinds = instance.sites["kind"].to_numpy()
    for position, (kind, action) in enumerate(zip(kinds, actions)):
        if action != "none" and action not in KIND_ACTIONS[kind]:
            site_id = instance.sites["site_id"].iloc[position]
            raise ValueError(f"site {site_id!r} of kind {kind!r} cannot take action {action!r}")


def evaluate(instance: Instance, reach: Reach, actions: np.ndarray) -> Coverage:
    """Coverage and cost of taking ``actions`` (one per site, in site order)."""
    actions = np.asarray(actions, dtype=object)
    check_actions(instance, actions)
    kinds = instance.sites["kind"].to_numpy()
    holds_inventory = (kinds == "center") | (actions == "upgrade") | (actions == "open_center")
    delivers = (kinds != "candidate") | (actions != "none")
    site_cost = np.zeros(len(actions))
    for action, column in ACTION_COST_COLUMN.items():
        chosen = actions == action
        site_cost[chosen] = instance.sites[column].to_numpy()[chosen]
    return Coverage(
        same_day=reach.same_day @ holds_inventory.astype(np.int64) > 0,
        next_day=reach.next_day @ delivers.astype(np.int64) > 0,
        holds_inventory=holds_inventory,
        delivers=delivers,
        site_cost=site_cost,
    )
