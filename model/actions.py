"""The one table of site kinds and the actions each may take.

Everything that needs to know what a kind of site is, which actions it may take, which cost column
pays for an action, or whether a site holds inventory (gives same-day reach) or delivers (gives
next-day reach) after its action, reads it here. Adding an action is one row in ``ACTIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NONE = "none"


@dataclass(frozen=True)
class Kind:
    """A kind of site as it stands before the plan."""

    name: str
    holds_inventory: bool  # an inventory site: zones within same-day minutes are same-day
    delivers: bool         # a delivery site: zones within next-day minutes are next-day
    words: str             # how a planner says it


@dataclass(frozen=True)
class Action:
    """Something the plan may do to a site of one kind, and what the site is afterwards."""

    name: str
    kind: str
    cost_column: str       # the sites.csv column that prices it
    holds_inventory: bool
    delivers: bool
    words: str             # one site after the action, as a planner says it
    plural: str            # several of them
    sweep_column: str      # its count's column in sweep.csv

    @property
    def gives_same_day(self) -> bool:
        """The action turns the site into an inventory site (it was not one)."""
        return self.holds_inventory and not KINDS[self.kind].holds_inventory

    @property
    def gives_next_day(self) -> bool:
        """The action turns the site into a delivery site (it was not one)."""
        return self.delivers and not KINDS[self.kind].delivers


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("center", holds_inventory=True, delivers=True, words="existing service center"),
    Kind("station", holds_inventory=False, delivers=True, words="existing delivery station"),
    Kind("candidate", holds_inventory=False, delivers=False, words="candidate site"),
)}

ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("upgrade", "station", "upgrade_cost", holds_inventory=True, delivers=True,
           words="station upgraded to service center", plural="stations upgraded to service centers",
           sweep_column="upgrades"),
    Action("open_station", "candidate", "station_cost", holds_inventory=False, delivers=True,
           words="new delivery station", plural="new delivery stations", sweep_column="new_stations"),
    Action("open_center", "candidate", "center_cost", holds_inventory=True, delivers=True,
           words="new service center", plural="new service centers", sweep_column="new_centers"),
)}

# Every action a plan may list for a site, "none" first.
ACTION_NAMES: tuple[str, ...] = (NONE, *ACTIONS)
COST_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(a.cost_column for a in ACTIONS.values()))


def already(kinds, quality: str) -> np.ndarray:
    """Per site, by its kind: whether it already ``holds_inventory`` or ``delivers`` (the
    ``quality``) before the plan."""
    return np.isin(np.asarray(kinds, dtype=object), [k.name for k in KINDS.values() if getattr(k, quality)])


def actions_of_kind(kind: str) -> tuple[Action, ...]:
    """The actions (besides none) a site of this kind may take."""
    return tuple(a for a in ACTIONS.values() if a.kind == kind)
