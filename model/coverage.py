"""What a set of actions achieves: which zones are same-day and next-day, and what it costs.

This is the plain definition of coverage, independent of the optimization model: the plan files,
the baseline and the check of every solution are computed here, from the actions alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .actions import ACTIONS, NONE, already
from .capacity import serve
from .instance import Instance, usd_total
from .reach import Reach, rows_reaching


@dataclass(frozen=True)
class Coverage:
    same_day: np.ndarray   # bool per zone (with capacities: served in full)
    next_day: np.ndarray   # bool per zone
    holds_inventory: np.ndarray  # bool per site: center, upgraded station, service-center candidate
    delivers: np.ndarray   # bool per site: any open delivery site
    site_cost: np.ndarray  # USD per site, 0 where the action is "none"
    # With capacities: the share of each zone's same-day demand served, and the split (zones x
    # sites, packages a day). Without: the share is 1 where same-day, and there is no split.
    same_day_share: np.ndarray | None = None
    flows: sparse.csr_matrix | None = None

    @property
    def cost(self) -> float:
        return usd_total(self.site_cost[self.site_cost != 0])


def no_actions(instance: Instance) -> np.ndarray:
    return np.full(len(instance.sites), NONE, dtype=object)


def check_actions(instance: Instance, actions: np.ndarray) -> None:
    """Raise ValueError when an action is not one this kind of site may take."""
    kinds = instance.sites["kind"].to_numpy()
    for position, (kind, action) in enumerate(zip(kinds, actions)):
        if action != NONE and (action not in ACTIONS or ACTIONS[action].kind != kind):
            site_id = instance.sites["site_id"].iloc[position]
            raise ValueError(f"site {site_id!r} of kind {kind!r} cannot take action {action!r}")


def evaluate(instance: Instance, reach: Reach, actions: np.ndarray, equity_need: tuple | None = None) -> Coverage:
    """Coverage and cost of taking ``actions`` (one per site, in site order). With capacities,
    same-day demand is split among the inventory sites to serve the most people;
    ``equity_need`` (each zone's group, each group's floor in people) makes the split meet the
    equity floors first, as the plan's last phase must."""
    actions = np.asarray(actions, dtype=object)
    check_actions(instance, actions)
    kinds = instance.sites["kind"].to_numpy()
    holds_inventory, delivers = already(kinds, "holds_inventory"), already(kinds, "delivers")
    site_cost = np.zeros(len(actions))
    for action in ACTIONS.values():
        chosen = actions == action.name
        holds_inventory |= chosen & action.holds_inventory
        delivers |= chosen & action.delivers
        site_cost[chosen] = instance.sites[action.cost_column].to_numpy()[chosen]
    if instance.capacitated:
        group, need = equity_need if equity_need is not None else (None, None)
        service = serve(instance, reach, holds_inventory, group, need)
        return Coverage(service.full, rows_reaching(reach.next_day, delivers), holds_inventory, delivers,
                        site_cost, service.share, service.flows)
    same_day = rows_reaching(reach.same_day, holds_inventory)
    return Coverage(
        same_day=same_day,
        next_day=rows_reaching(reach.next_day, delivers),
        holds_inventory=holds_inventory,
        delivers=delivers,
        site_cost=site_cost,
        same_day_share=same_day.astype(float),
    )
