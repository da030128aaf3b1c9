"""What a set of actions achieves: which zones are same-day and next-day, and what it costs.

This is the plain definition of coverage, independent of the optimization model: the plan files,
the baseline and the check of every solution are computed here, from the actions alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .actions import ACTIONS, KINDS, NONE
from .instance import Instance
from .reach import Reach


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
    return np.full(len(instance.sites), NONE, dtype=object)


def check_actions(instance: Instance, actions: np.ndarray) -> None:
    """Raise ValueError when an action is not one this kind of site may take."""
    kinds = instance.sites["kind"].to_numpy()
    for position, (kind, action) in enumerate(zip(kinds, actions)):
        if action != NONE and (action not in ACTIONS or ACTIONS[action].kind != kind):
            site_id = instance.sites["site_id"].iloc[position]
            raise ValueError(f"site {site_id!r} of kind {kind!r} cannot take action {action!r}")


def evaluate(instance: Instance, reach: Reach, actions: np.ndarray) -> Coverage:
    """Coverage and cost of taking ``actions`` (one per site, in site order)."""
    actions = np.asarray(actions, dtype=object)
    check_actions(instance, actions)
    kinds = instance.sites["kind"].to_numpy()
    holds_inventory = np.isin(kinds, [k.name for k in KINDS.values() if k.holds_inventory])
    delivers = np.isin(kinds, [k.name for k in KINDS.values() if k.delivers])
    site_cost = np.zeros(len(actions))
    for action in ACTIONS.values():
        chosen = actions == action.name
        holds_inventory |= chosen & action.holds_inventory
        delivers |= chosen & action.delivers
        site_cost[chosen] = instance.sites[action.cost_column].to_numpy()[chosen]
    return Coverage(
        same_day=reach.same_day @ holds_inventory.astype(np.int64) > 0,
        next_day=reach.next_day @ delivers.astype(np.int64) > 0,
        holds_inventory=holds_inventory,
        delivers=delivers,
        site_cost=site_cost,
    )
