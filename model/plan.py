"""The deployment plan: what each site does, what each zone gets, and the summary (the plan contract).

A plan directory holds ``plan.json`` (the summary), ``sites.csv`` (every site once, with its
action) and ``zones.csv`` (every zone once, with its reach before and after); with capacities,
``assignments.csv`` (the same-day split: packages a day from each site to each zone, by phase);
``ruralreach report`` may add ``report.html``. ``plan.json`` records each CSV file's sha256 and rows
(``files``), so a damaged plan is told from a whole one.

Writing is safe whatever happens: a plan is written to a hidden directory beside its place and
swapped in with one atomic exchange (Linux ``renameat2``), so at every instant the place holds
one complete plan, the old or the new; a kill leaves at most a hidden ``.<name>.partial-*``
directory, removed by the next write. A writer holds the place's lock (a lock file in the
machine's temporary directory, ``ruralreach-locks/``), and a second writer of the same place is
refused. Only a place that
holds nothing, an empty directory, or an earlier plan (plan files and nothing else) is written:
anything else is refused before a byte is written.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .actions import ACTION_NAMES, ACTIONS, KINDS, NONE
from .coverage import Coverage, evaluate, no_actions
from .instance import (COORDINATE_RANGES, CsvTable, Instance, InstanceError, check_ids, check_not_negative, check_range,
                       parse_number, quoted, read_csv_table, read_text, usd_total)
from .reach import Reach, nearest_sites
from .reduce import equity_groups

PLAN_FILE, SITES_FILE, ZONES_FILE = "plan.json", "sites.csv", "zones.csv"
PLAN_FILES = (PLAN_FILE, SITES_FILE, ZONES_FILE)
ASSIGNMENTS_FILE = "assignments.csv"  # only with capacities
REPORT_FILE = "report.html"  # written into a plan directory by ``ruralreach report``
# Everything a plan directory may hold: a directory holding anything else is not a plan's to replace.
PLAN_DIR_FILES = (*PLAN_FILES, ASSIGNMENTS_FILE, REPORT_FILE)
ASSIGNMENT_COLUMNS = ("zone_id", "site_id", "phase", "packages_per_day")


class PlanPlaceError(ValueError):
    """A plan may not be written here: the place holds something that is not a plan, or cannot be written."""


class PlanBusyError(RuntimeError):
    """Another process is writing a plan to the same place."""


class PlanDamagedError(ValueError):
    """A plan directory whose files are not those that were written."""


class PlanReadError(InstanceError):
    """A plan file that cannot be read as the plan format says: which file, which line (as an
    editor counts it), which field (or ``plan.json``'s key), and why. Read with the instance's own
    readers, so its errors have the same shape."""


@dataclass(frozen=True)
class StageReport:
    """How one lexicographic stage went, in the plan's units (people, USD)."""

    stage: str
    status: str
    objective: float | None
    bound: float | None
    mip_gap: float | None
    seconds: float


@dataclass(frozen=True)
class Plan:
    summary: dict
    sites: pd.DataFrame
    zones: pd.DataFrame
    assignments: pd.DataFrame | None = None  # with capacities only

    @property
    def status(self) -> str:
        return self.summary["status"]

    @property
    def found(self) -> bool:
        """False for the plan written where none was found (:func:`found_a_plan`)."""
        return found_a_plan(self.summary)


def found_a_plan(summary: dict) -> bool:
    """Whether a plan.json's solve found its plan: False for the plan written where none was found
    (no plan meets every constraint, or none was found in time), which takes no action and whose
    stages state no value."""
    stages = summary["stages"]
    return not stages or any(stage["objective"] is not None for stage in stages)


def _finite(value):
    return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value


def build_plan(instance: Instance, reach: Reach, actions: np.ndarray, *, status: str,
               stages: list[StageReport], mip_gap: float, solve_seconds: float, solver: dict,
               phases: np.ndarray | None = None, floor_scale: dict | None = None,
               reachable_group_people: np.ndarray | None = None) -> Plan:
    """Expand the chosen actions into the three plan tables, recomputing coverage from scratch.

    ``phases``: the phase (position in the scenario's phases) of each site's action, -1 for none;
    only with a phased scenario. ``floor_scale``: when no plan meets the equity floors, the
    largest share of them one plan meets (``value``, ``bound``, ``status``, ``mip_gap``).
    ``reachable_group_people``: each equity group's people some plan puts within same-day reach
    at any budget (:meth:`CoveringProblem.reachable_group_people`), for its ``reachable_share``.
    """
    grouping = equity_groups(instance) if instance.scenario.equity is not None else None
    equity_need = None if grouping is None else grouping[1:]
    before = evaluate(instance, reach, no_actions(instance))
    after = evaluate(instance, reach, actions, equity_need)
    population = instance.zones["population"].to_numpy(dtype=np.int64)
    sites = _site_table(instance, reach, actions, after, population)
    zones = _zone_table(instance, before, after)
    counts = {action: int((sites["action"] == action).sum()) for action in ACTION_NAMES}
    served = functools.partial(_served, instance.capacitated, population)
    summary = {
        "status": status,
        "instance": {"name": instance.name, "sha256": instance.sha256, "directory": str(instance.directory)},
        "scenario": instance.scenario.to_dict(),
        "same_day_population": served(after),
        "next_day_population": int(population[after.next_day].sum()),
        "cost": after.cost,
        "budget": instance.scenario.budget,
        "baseline_same_day_population": served(before),
        "baseline_next_day_population": int(population[before.next_day].sum()),
        "total_population": int(population.sum()),
        "mip_gap_requested": mip_gap,
        "stages": [
            {"stage": s.stage, "status": s.status, "objective": _finite(s.objective),
             "bound": _finite(s.bound), "mip_gap": _finite(s.mip_gap), "seconds": s.seconds}
            for s in stages
        ],
        "solve_seconds": solve_seconds,
        "solver": solver,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "actions": counts,
        "zones": len(zones),
        "sites": len(sites),
    }
    after_phases = [after]
    if instance.scenario.phases:
        summary["phases"], after_phases = _phase_columns(instance, reach, actions, phases, before, after, sites, zones,
                                                         served)
    if instance.scenario.equity is not None:
        summary["equity"] = _equity_summary(instance, grouping, after.same_day_share, population, floor_scale,
                                            reachable_group_people)
    assignments = None
    if instance.capacitated:
        names = [p.name for p in instance.scenario.phases] or [""]
        assignments = _assignment_table(instance, after_phases, names)
    return Plan(summary, sites, zones, assignments)


def _served(capacitated: bool, population: np.ndarray, coverage: Coverage) -> int | float:
    """Same-day people: whole zones, or with capacities the people served (two decimals)."""
    if not capacitated:
        return int(population[coverage.same_day].sum())
    return round(float(population @ coverage.same_day_share), 2)


def _assignment_table(instance: Instance, after_phases: list[Coverage], names: list[str]) -> pd.DataFrame:
    """``assignments.csv``: the same-day split after each phase (packages a day > 0)."""
    zone_ids = instance.zones["zone_id"].to_numpy(dtype=object)
    site_ids = instance.sites["site_id"].to_numpy(dtype=object)
    parts = []
    for name, coverage in zip(names, after_phases):
        flows = coverage.flows.tocoo()
        order = np.lexsort((flows.col, flows.row))
        parts.append(pd.DataFrame({"zone_id": zone_ids[flows.row[order]], "site_id": site_ids[flows.col[order]],
                                   "phase": name, "packages_per_day": flows.data[order]}))
    return pd.concat(parts, ignore_index=True)[list(ASSIGNMENT_COLUMNS)]


def _phase_columns(instance, reach, actions, phases, before: Coverage, after: Coverage, sites, zones,
                   served) -> tuple[list[dict], list[Coverage]]:
    """Add the phase columns to the site and zone tables; the figures and coverage after each phase."""
    names = np.array([p.name for p in instance.scenario.phases], dtype=object)
    phases = np.asarray(phases, dtype=np.int64)
    sites.insert(sites.columns.get_loc("cost") + 1, "phase", np.where(phases >= 0, names[np.maximum(phases, 0)], ""))
    first = {"same_day": np.full(len(zones), "", dtype=object), "next_day": np.full(len(zones), "", dtype=object)}
    reached = {"same_day": before.same_day.copy(), "next_day": before.next_day.copy()}
    figures, coverages = [], []
    last = len(instance.scenario.phases) - 1
    for t, phase in enumerate(instance.scenario.phases):
        # The last phase is the plan itself (its split keeps the equity floors).
        coverage = after if t == last else evaluate(instance, reach, np.where(phases <= t, actions, NONE).astype(object))
        coverages.append(coverage)
        for tier in first:
            now = getattr(coverage, tier)
            first[tier][now & ~reached[tier]] = phase.name
            reached[tier] |= now
        spent = usd_total(coverage.site_cost[phases == t])
        figures.append({"name": phase.name, "budget": phase.budget, "cost": spent,
                        "same_day_population": served(coverage),
                        "next_day_population": int(zones["population"].to_numpy()[coverage.next_day].sum())})
    position = zones.columns.get_loc("next_day_before") + 1
    zones.insert(position, "same_day_phase", first["same_day"])
    zones.insert(position + 1, "next_day_phase", first["next_day"])
    return figures, coverages


def _equity_summary(instance, grouping, share: np.ndarray, population, floor_scale: dict | None,
                    reachable: np.ndarray | None) -> dict:
    """Each equity group's floor, population and achieved same-day share after the plan (with
    capacities, of the people served). ``grouping``: :func:`equity_groups` of the instance."""
    equity = instance.scenario.equity
    names, zone_group, floors = grouping
    grouped = zone_group >= 0
    people = np.bincount(zone_group[grouped], weights=population[grouped], minlength=len(names))
    reached = np.bincount(zone_group[grouped], weights=population[grouped] * share[grouped], minlength=len(names))
    whole = not instance.capacitated
    groups = [{"group": name, "floor": equity.floor(name), "population": int(total),
               "same_day_population": int(got) if whole else round(float(got), 2),
               "share": got / total if total else 1.0, "meets_floor": bool(got >= need)}
              for name, total, got, need in zip(names, people, reached, floors)]
    if reachable is not None:
        for group, total, most in zip(groups, people, reachable):
            group["reachable_share"] = min(1.0, most / total) if total else 1.0
    summary = {"column": equity.column, "min_same_day_share": equity.min_same_day_share, "groups": groups}
    if floor_scale is not None:
        summary["max_feasible_scale"] = floor_scale
    return summary


def floor_scale_of(summary: dict) -> dict | None:
    """A plan.json's ``equity.max_feasible_scale`` where it holds a share: the largest share of the
    equity floors one plan meets, written where no plan meets them all (None elsewhere)."""
    scale = summary.get("equity", {}).get("max_feasible_scale")
    return None if scale is None or scale["value"] is None else scale


def floor_scale_text(scale: dict) -> str:
    """``equity.max_feasible_scale`` in words; where the search stopped short of proof, how far
    above what it found the share may still be. The share a plan meets is rounded down and the
    bound up, so that neither promises more than was shown (99.997% is not "100.0%")."""
    value, bound = scale["value"], scale.get("bound")
    if scale["status"] != "optimal" and bound is None:
        bound = 1.0  # nothing proven: the share's own limit
    if scale["status"] == "optimal" or bound <= value:
        return f"floors feasible up to {percent_text(value, 1, math.floor)} of what was asked"
    # As many digits as they need to differ.
    digits = next((d for d in range(1, 6)
                   if percent_text(value, d, math.floor) != percent_text(bound, d, math.ceil)), 6)
    return (f"floors feasible up to {percent_text(value, digits, math.floor)} of what was asked "
            f"({scale['status']}: not proven, perhaps up to {percent_text(bound, digits, math.ceil)})")


def percent_text(share: float, digits: int, rounding) -> str:
    """``share`` as a percentage to ``digits`` decimals, rounded by ``rounding`` (math.floor or
    math.ceil; a share that is a whole number of those steps but for binary rounding is that)."""
    steps = share * 10 ** (digits + 2)
    whole = round(steps)
    steps = whole if abs(steps - whole) <= 1e-9 * max(1.0, abs(steps)) else rounding(steps)
    return f"{steps / 10 ** digits:.{digits}f}%"


def _site_table(instance, reach, actions, after: Coverage, population) -> pd.DataFrame:
    s = instance.sites
    # Population that is same-day only because of this site: zones no other inventory site reaches.
    inventory = np.flatnonzero(after.holds_inventory)
    reach_by_inventory = reach.same_day[:, inventory].tocsr()
    sole = np.flatnonzero(np.diff(reach_by_inventory.indptr) == 1)
    sole_site = inventory[reach_by_inventory.indices[reach_by_inventory.indptr[sole]]]
    gain = np.bincount(sole_site, weights=population[sole], minlength=len(s)).astype(np.int64)
    table = pd.DataFrame({
        "site_id": s["site_id"], "kind": s["kind"], "action": np.asarray(actions, dtype=object),
        "cost": after.site_cost, "lat": s["lat"], "lon": s["lon"],
    })
    for column in instance.site_extra_columns:
        table[column] = s[column]
    table["same_day_gain"] = gain
    if after.flows is not None:
        table["same_day_load"] = np.asarray(after.flows.sum(axis=0)).ravel()
    return table


def _zone_table(instance, before: Coverage, after: Coverage) -> pd.DataFrame:
    z = instance.zones
    nearest, minutes = nearest_sites(instance, np.flatnonzero(after.holds_inventory))
    site_ids = instance.sites["site_id"].to_numpy(dtype=object)
    table = pd.DataFrame({
        "zone_id": z["zone_id"], "population": z["population"],
        "same_day": after.same_day, "next_day": after.next_day,
        "same_day_before": before.same_day, "next_day_before": before.next_day,
        **({"same_day_share": after.same_day_share} if instance.capacitated else {}),
        "nearest_inventory_site": np.where(nearest >= 0, site_ids[np.maximum(nearest, 0)], ""),
        "minutes_to_inventory": np.round(minutes, 3),
        "lat": z["lat"], "lon": z["lon"],
    })
    for column in instance.zone_extra_columns:
        table[column] = z[column]
    return table


def write_plan(plan: Plan, directory: str | Path) -> Path:
    """Write the plan directory atomically: at every instant ``directory`` holds the old plan or
    the new one, complete. Raises PlanPlaceError where a plan may not be written (see
    :func:`check_plan_place`) and PlanBusyError while another process writes the same place."""
    directory = Path(os.path.abspath(directory))
    with plan_place(directory):
        directory.parent.mkdir(parents=True, exist_ok=True)
        _remove_partial(directory)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.partial-", dir=directory.parent))
        try:
            _shareable(staging, 0o777)
            files = {}
            tables = [(SITES_FILE, plan.sites), (ZONES_FILE, plan.zones)]
            if plan.assignments is not None:
                tables.append((ASSIGNMENTS_FILE, plan.assignments))
            for name, table in tables:
                data = table.to_csv(index=False, lineterminator="\n").encode("utf-8")
                _write_durably(staging / name, data)
                files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "rows": len(table)}
            summary = {**plan.summary, "files": files}
            _write_durably(staging / PLAN_FILE, (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
            _sync_directory(staging)
            _swap_into_place(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # the old plan, or the new one if never placed
    return directory


def add_to_plan(directory: str | Path, name: str, data: bytes) -> Path:
    """Write one more file of a plan directory (``report.html``) into a written plan: the file is
    complete or absent, and no plan being replaced meanwhile is written into (the place is held
    as for :func:`write_plan`). Returns its path."""
    if name in PLAN_FILES or name not in PLAN_DIR_FILES:
        raise ValueError(f"{name} is not a file to add to a plan")
    with plan_place(directory, check=check_plan_to_add_to) as place:
        if (place / name).is_dir() and not (place / name).is_symlink():
            raise PlanPlaceError(f"{place / name} is a directory: a plan's {name} is a file, and a directory of "
                                 "yours is not replaced")
        descriptor, staged = tempfile.mkstemp(prefix=f".{place.name}.partial-", dir=place.parent)
        os.close(descriptor)
        try:
            _shareable(Path(staged), 0o666)
            _write_durably(Path(staged), data)
            os.replace(staged, place / name)
        finally:
            Path(staged).unlink(missing_ok=True)
    return Path(directory) / name


def _shareable(path: Path, mode: int) -> None:
    """mkdtemp and mkstemp make private files; a plan is for sharing, as any new file."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(mode & ~umask)


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


@functools.cache
def _renameat2():
    """The C library's renameat2, or None where there is none (not Linux, an old glibc)."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    return renameat2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE). False where the
    system or the filesystem does not offer it."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    number = ctypes.get_errno()
    if number in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(number, os.strerror(number), str(b))


def _swap_into_place(staging: Path, directory: Path) -> None:
    """Put the plan in ``staging`` at ``directory``; what was there goes to ``staging``."""
    if not directory.exists():
        os.rename(staging, directory)
    elif not _exchange(staging, directory):
        # No atomic exchange here (not Linux, or a filesystem without it): two renames, and a
        # kill between them leaves the old plan in a hidden directory beside its place.
        retired = staging.with_name(staging.name + "-old")
        os.rename(directory, retired)
        os.rename(staging, directory)
        os.rename(retired, staging)
    _sync_directory(directory.parent)


# What tempfile.mkdtemp and mkstemp add to a prefix: 8 characters of these.
_STAGING_SUFFIX = r"\.partial-[a-z0-9_]{8}"


def is_staging_of(name: str, place: str) -> bool:
    """Whether ``name`` is the staging a writer of ``place`` makes beside it (a regular
    expression for ``place``, or its name), and nothing a user might have named otherwise."""
    return re.fullmatch(rf"\.{place}{_STAGING_SUFFIX}", name) is not None


def _remove_partial(directory: Path) -> None:
    """What a writer killed mid-write left beside ``directory``."""
    for path in directory.parent.iterdir():
        if is_staging_of(path.name, re.escape(directory.name)):
            remove_leftover(path)


def remove_leftover(path: Path) -> None:
    """Remove what a killed writer left: a staging directory or file."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def check_plan_place(directory: str | Path) -> None:
    """Raise PlanPlaceError unless a plan may be written at ``directory``: it does not exist, or it
    is an empty directory, or an earlier plan (``plan.json`` and only the files of a plan
    directory)."""
    directory = Path(os.path.abspath(directory))
    if not check_own_directory(directory, "plan directory"):
        return
    entries = sorted(directory.iterdir())
    names = [entry.name for entry in entries]
    # A plan's names that are not files (a directory named plan.json) are not a plan's either.
    others = [entry.name + ("" if entry.is_file() else "/") for entry in entries
              if entry.name not in PLAN_DIR_FILES or not entry.is_file()]
    if others or (names and PLAN_FILE not in names):
        raise PlanPlaceError(f"{directory} holds files that are not a plan's ({_some(others or names)}): a plan "
                             "is written only where nothing is, in an empty directory or over an earlier plan")


def check_plan_to_add_to(directory: str | Path) -> None:
    """Raise PlanPlaceError unless a file may be added to a plan at ``directory``: a directory of
    its own holding a plan (other files beside it are left as they are)."""
    directory = Path(os.path.abspath(directory))
    _refuse_symbolic_link(directory, "plan directory")
    if not is_plan(directory):
        raise PlanPlaceError(not_a_plan_text(directory))


def _refuse_symbolic_link(directory: Path, what: str) -> None:
    if directory.is_symlink():
        raise PlanPlaceError(f"{directory} is a symbolic link: name the {what} itself")


def check_own_directory(directory: Path, what: str) -> bool:
    """Refuse (PlanPlaceError) to write a ``what`` at a symbolic link, a file, or a directory that
    holds the current directory. Returns whether ``directory`` exists."""
    _refuse_symbolic_link(directory, what)
    if not directory.exists():
        return False
    if not directory.is_dir():
        raise PlanPlaceError(f"{directory} is a file, not a {what}")
    if directory == Path.cwd() or directory in Path.cwd().parents:
        raise PlanPlaceError(f"{directory} holds the current directory: a {what} needs a directory of its own")
    return True


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


# Places this process holds the lock of: a writer may write the place it holds again.
_held: dict[Path, _Lock] = {}


@contextmanager
def plan_place(directory: str | Path, check=check_plan_place):
    """Hold ``directory`` for writing: ``check`` it (raising PlanPlaceError), check that it can be
    written, and take its lock, refusing with PlanBusyError while another process holds it.
    Nested holds of the same place in one process are one hold. Nothing is created in the
    user's directories until something is written."""
    directory = Path(os.path.abspath(directory))
    if directory in _held:
        check(directory)
        yield directory
        return
    try:
        check(directory)
        _check_writable(directory)
    except OSError as error:  # a name the system refuses to look up (too long, say)
        raise PlanPlaceError(f"{directory} cannot be written: {error.strerror or error}") from None
    lock = _held[directory] = _lock(directory)
    try:
        check(directory)  # again, now that no other writer can change it
        yield directory
    finally:
        del _held[directory]
        lock.close()


def let_go_of_plan_places() -> None:
    """Let go of every place this process holds, lock files removed, for a process about to end
    without unwinding (``os._exit``): the process's end would let go of the locks, but leave
    their files."""
    for lock in _held.values():
        lock.close()
    _held.clear()


def _check_writable(directory: Path) -> None:
    """Raise PlanPlaceError unless ``directory`` can be made or replaced: its nearest existing
    ancestor is a directory this process may write."""
    existing = next(p for p in (directory.parent, *directory.parent.parents) if p.exists())
    if not existing.is_dir():
        raise PlanPlaceError(f"{directory} cannot be written: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PlanPlaceError(f"{directory} cannot be written: {existing} is not writable")
    # A plan is staged beside its place as .<name>.partial-<8 characters> (write_plan).
    try:
        longest = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):  # a file system that does not say: the probe below will
        longest = None
    if longest is not None and len(os.fsencode(f".{directory.name}.partial-12345678")) > longest:
        raise PlanPlaceError(f"{directory} cannot be written: its name is too long (at most "
                             f"{longest - len('..partial-12345678')} bytes here)")
    # The test is the write itself, made and taken back: os.access says yes to root everywhere,
    # /proc and /sys included, and a plan that cannot be staged failed only after its solve.
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{directory.name}.partial-", dir=existing))
    except OSError as error:
        raise PlanPlaceError(f"{directory} cannot be written: {existing}: {error.strerror}") from None


class _Lock:
    """An exclusive lock on a lock file, removed again when released."""

    def __init__(self, path: Path, descriptor: int):
        self.path, self.descriptor = path, descriptor

    def close(self) -> None:
        # Still ours: unlinked before the lock is let go. Another user's file, in the shared
        # (sticky) directory, stays; the next writer locks it as it is.
        with suppress(OSError):
            self.path.unlink()
        os.close(self.descriptor)


def _lock_file(directory: Path) -> Path:
    """The lock file of a place: in one directory of the machine's temporary directory, not beside
    the place, so that a writer killed while it solves leaves nothing in the user's directories."""
    locks = Path(tempfile.gettempdir()) / "ruralreach-locks"
    if not locks.is_dir():
        locks.mkdir(exist_ok=True)
        with suppress(PermissionError):  # made by another user, who shares it already
            locks.chmod(0o1777)  # every user's writers meet here, as in /tmp
    return locks / (hashlib.sha256(os.fsencode(directory)).hexdigest()[:32] + ".lock")


def _lock(directory: Path) -> _Lock:
    path = _lock_file(directory)
    while True:
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)  # flock needs no more than reading
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise PlanBusyError(f"{directory} is being written by another ruralreach; "
                                "run again when it is done") from None
        except BaseException:
            os.close(descriptor)
            raise
        # The writer before us may have removed the lock file between our open and our lock:
        # then ours is a lock on a file nobody else sees, and we try again.
        try:
            if os.stat(path).st_ino == os.fstat(descriptor).st_ino:
                return _Lock(path, descriptor)
        except FileNotFoundError:
            pass
        os.close(descriptor)


def is_plan(directory: str | Path) -> bool:
    """Whether ``directory`` holds every file of a plan."""
    return not plan_files_missing(directory)


def plan_files_missing(directory: str | Path) -> list[str]:
    """The files of a plan ``directory`` does not hold."""
    return [name for name in PLAN_FILES if not (Path(directory) / name).is_file()]


def not_a_plan_text(directory: str | Path) -> str:
    """Why ``directory`` is not a plan to read or add to, in one line."""
    missing = plan_files_missing(directory)
    return (f"{directory} is not a plan directory: {', '.join(missing)} missing (a plan has "
            f"{', '.join(PLAN_FILES)}, as solve writes them)")


def verify_plan(directory: str | Path) -> dict:
    """The summary of a whole plan. Raises PlanDamagedError (or OSError) naming what is wrong: a
    file missing, ``plan.json`` unreadable, a CSV file other than the one written (its sha256 in
    ``plan.json``; for plans written before files were recorded, its rows against the summary's
    counts)."""
    directory = Path(directory)
    for name in PLAN_FILES:
        if not (directory / name).is_file():
            raise PlanDamagedError(f"{directory / name} is missing")
    try:
        summary = read_summary(directory)
        recorded = summary.get("files")
        damaged = [name for name, read, count in ((SITES_FILE, read_sites, "sites"), (ZONES_FILE, read_zones, "zones"))
                   if not (hashlib.sha256((directory / name).read_bytes()).hexdigest() == recorded[name]["sha256"]
                           if recorded is not None else len(read(directory)) == summary[count])]
        if recorded is not None and ASSIGNMENTS_FILE in recorded:
            path = directory / ASSIGNMENTS_FILE
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != recorded[ASSIGNMENTS_FILE]["sha256"]:
                damaged.append(ASSIGNMENTS_FILE)
    except (ValueError, KeyError, TypeError, AttributeError) as error:  # pandas' ParserError is a ValueError
        raise PlanDamagedError(f"{directory} cannot be read as a plan: {error!r}") from None
    if damaged:
        raise PlanDamagedError(f"{directory / damaged[0]} is not the file that was written with the plan")
    return summary


# What the plan format (README) says ``plan.json`` holds, as far as readers rely on it: every
# required key with its type, and the optional parts' shapes where present. Keys beyond these are
# allowed (the format is extended with optional keys).
_NUMBER, _COUNT, _TEXT = {"type": "number"}, {"type": "integer", "minimum": 0}, {"type": "string"}
_MAYBE_NUMBER = {"type": ["number", "null"]}
PLAN_SCHEMA = {
    "type": "object",
    "required": ["status", "instance", "scenario", "same_day_population", "next_day_population", "cost", "budget",
                 "baseline_same_day_population", "baseline_next_day_population", "total_population",
                 "mip_gap_requested", "stages", "solve_seconds", "solver", "created", "actions", "zones", "sites"],
    "properties": {
        "status": {"enum": ["optimal", "time_limit", "infeasible", "error"]},
        "instance": {"type": "object", "required": ["name", "sha256"],
                     "properties": {"name": _TEXT, "sha256": _TEXT, "directory": _TEXT}},
        "scenario": {"type": "object", "required": ["same_day_minutes", "next_day_minutes", "speed_mph", "circuity"],
                     "properties": {key: _NUMBER for key in ("same_day_minutes", "next_day_minutes", "speed_mph",
                                                             "circuity", "budget")}},
        **{key: _NUMBER for key in ("same_day_population", "next_day_population", "cost", "budget",
                                    "baseline_same_day_population", "baseline_next_day_population",
                                    "total_population", "mip_gap_requested", "solve_seconds")},
        "stages": {"type": "array", "items": {
            "type": "object", "required": ["stage", "status", "objective", "bound", "mip_gap", "seconds"],
            "properties": {"stage": {"enum": ["same_day", "next_day", "cost"]}, "status": _TEXT,
                           "objective": _MAYBE_NUMBER, "bound": _MAYBE_NUMBER, "mip_gap": _MAYBE_NUMBER,
                           "seconds": _NUMBER}}},
        "solver": {"type": "object", "required": ["name"], "properties": {"name": _TEXT}},
        "created": _TEXT,
        "actions": {"type": "object", "required": list(ACTION_NAMES),
                    "properties": {name: _COUNT for name in ACTION_NAMES}},
        "zones": _COUNT,
        "sites": _COUNT,
        "files": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["sha256"], "properties": {"sha256": _TEXT, "rows": _COUNT}}},
        "phases": {"type": "array", "items": {
            "type": "object", "required": ["name", "budget", "cost", "same_day_population", "next_day_population"],
            "properties": {"name": _TEXT, "budget": _NUMBER, "cost": _NUMBER, "same_day_population": _NUMBER,
                           "next_day_population": _NUMBER}}},
        "equity": {"type": "object", "required": ["column", "groups"], "properties": {
            "column": _TEXT, "min_same_day_share": _MAYBE_NUMBER,
            "groups": {"type": "array", "items": {
                "type": "object",
                "required": ["group", "floor", "population", "same_day_population", "share", "meets_floor"],
                "properties": {"group": _TEXT, "floor": _MAYBE_NUMBER, "population": _NUMBER,
                               "same_day_population": _NUMBER, "share": _NUMBER,
                               "meets_floor": {"type": "boolean"}, "reachable_share": _NUMBER}}},
            "max_feasible_scale": {"type": "object", "required": ["value", "bound", "status"],
                                   "properties": {"value": _MAYBE_NUMBER, "bound": _MAYBE_NUMBER, "status": _TEXT,
                                                  "mip_gap": _MAYBE_NUMBER}}}},
        "yardsticks": {"type": "array", "items": {
            "type": "object", "required": ["yardstick", "plan"],
            "properties": {"yardstick": _TEXT, "plan": {"type": "object"}}}},
    },
}


def read_summary(directory: str | Path) -> dict:
    """The plan's ``plan.json``, checked against the plan format (``PLAN_SCHEMA``); PlanReadError
    names the line or the key where it is not."""
    import jsonschema  # only plan readers need it

    path = Path(directory) / PLAN_FILE
    try:
        summary = json.loads(read_text(path, PlanReadError))
    except json.JSONDecodeError as error:
        raise PlanReadError(path, error.lineno, None, f"is not JSON: {error.msg} (column {error.colno})") from None
    problem = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(PLAN_SCHEMA).iter_errors(summary))
    if problem is not None:
        key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem.absolute_path)
        raise PlanReadError(path, None, key.lstrip(".") or None, problem.message)
    return summary


def _read_table(path: Path, numbers: dict[str, bool], *, optional: dict[str, bool] | None = None,
                whole: tuple[str, ...] = (), flags: tuple[str, ...] = (), text: tuple[str, ...] = (),
                ids: tuple[str, ...] = (), non_negative: tuple[str, ...] = (),
                ranges: dict[str, tuple[float, float]] | None = None,
                choices: dict[str, tuple[str, ...]] | None = None) -> CsvTable:
    """A plan's CSV file, read as an instance's are (:func:`ruralreach.model.instance.read_csv_table`,
    but fields as written); then ``numbers`` (column -> whether a blank is allowed, read as NaN;
    ``optional`` the same for columns that may be absent) as numbers, the ``whole`` ones among
    them whole, the ``non_negative`` ones not negative, within their ``ranges`` (column -> low,
    high, both allowed), and ``flags`` as
    booleans (``True``/``False``); ``ids`` columns with no value twice, and text columns with
    ``choices`` one of those. Every column named, but for the optional ones, must be there.
    PlanReadError names the line and the field of the first value that is not what the format
    says."""
    table = read_csv_table(path, (*numbers, *whole, *flags, *text), error=PlanReadError, skip_initial_space=False)
    rows = table.rows
    numbers = {**numbers, **{c: blank for c, blank in (optional or {}).items() if c in rows}}
    for column, blank_allowed in numbers.items():
        values = parse_number(table, column, blank_allowed=blank_allowed)
        if column in whole:
            table.first_bad(values.notna() & (values % 1 != 0), column, lambda p: f"is not a whole number: {quoted(rows[column].iloc[p])}")
        if column in non_negative:
            check_not_negative(table, values, column)
        if column in (ranges or {}):
            check_range(table, values, *ranges[column], column)
        rows[column] = values
    for column in flags:
        table.first_bad(~rows[column].isin(["True", "False"]), column,
                        lambda p: f"is not True or False: {quoted(rows[column].iloc[p])}")
        rows[column] = rows[column] == "True"
    for column in ids:
        check_ids(table, column)
    for column, allowed in (choices or {}).items():
        table.first_bad(~rows[column].isin(allowed), column,
                        lambda p: f"{quoted(rows[column].iloc[p])} is not one of {', '.join(allowed)}")
    return table


def read_sites(directory: str | Path) -> pd.DataFrame:
    """The plan's ``sites.csv``: ids and kept columns as text, numbers as numbers (a blank
    capacity is unlimited: NaN)."""
    table = _read_table(Path(directory) / SITES_FILE, {"cost": False, "lat": False, "lon": False, "same_day_gain": False},
                        optional={"capacity": True, "same_day_load": False}, whole=("same_day_gain",),
                        text=("site_id", "kind", "action"), ids=("site_id",),
                        non_negative=("cost", "capacity"), ranges=COORDINATE_RANGES,
                        choices={"kind": tuple(KINDS), "action": ACTION_NAMES})
    sites = table.rows
    kind_of_action = {name: action.kind for name, action in ACTIONS.items()}
    table.first_bad((sites["action"] != NONE) & (sites["action"].map(kind_of_action) != sites["kind"]), "action",
                    lambda p: f"{sites['action'].iloc[p]!r} is not an action for a {sites['kind'].iloc[p]}")
    sites["same_day_gain"] = sites["same_day_gain"].astype(np.int64)
    return sites


def read_zones(directory: str | Path) -> pd.DataFrame:
    """The plan's ``zones.csv``: ids and kept columns as text, flags as booleans (blank minutes:
    no inventory site)."""
    zones = _read_table(Path(directory) / ZONES_FILE,
                        {"lat": False, "lon": False, "minutes_to_inventory": True, "population": False},
                        optional={"same_day_share": False}, whole=("population",),
                        flags=("same_day", "next_day", "same_day_before", "next_day_before"),
                        text=("zone_id", "nearest_inventory_site"), ids=("zone_id",),
                        non_negative=("population",), ranges=COORDINATE_RANGES).rows
    zones["population"] = zones["population"].astype(np.int64)
    return zones


def read_assignments(directory: str | Path) -> pd.DataFrame | None:
    """The plan's ``assignments.csv`` (None for a plan without capacities)."""
    path = Path(directory) / ASSIGNMENTS_FILE
    if not path.is_file():
        return None
    return _read_table(path, {"packages_per_day": False}, text=("zone_id", "site_id", "phase"),
                       non_negative=("packages_per_day",)).rows


def read_plan(directory: str | Path) -> Plan:
    """Read a plan directory back (ids and kept columns as text, as written)."""
    return Plan(read_summary(directory), read_sites(directory), read_zones(directory), read_assignments(directory))
