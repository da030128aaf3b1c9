"""Budget sensitivity sweeps: one instance, many budgets, one plan per budget.

A sweep is the solve pipeline with the budget varied and everything else done once: the instance
is read and validated once; each worker computes reach and reduces once, keeps one loaded HiGHS
model and changes only its budget row. The sorted budgets are dealt out in turn into *chains*,
one per worker (with two workers: the 1st, 3rd, 5th... budget, and the 2nd, 4th, 6th...); a chain
is solved in increasing budget order, each budget warm-started from the plan of the chain's
budget before it (a plan affordable at a lower budget is affordable at a higher one). Dealt out,
not cut into contiguous runs: solve times grow steeply with the budget, and on the national
instance a worker given the upper half of the budgets had most of the work. Chains run side by
side in local processes or on a Dask cluster.

A sweep directory holds one plan directory per budget (``budget-<budget>/``, the plan contract
of ``ruralreach solve``), ``sweep.csv`` (one row per budget) and ``sweep.png``. Each plan is
written atomically as it finishes, so an interrupted sweep resumes: a plan already on disk for the
same instance (sha256), scenario, budget and requested gap is kept, and only missing budgets are
solved. The chains depend only on the budgets and the number of workers, so a resumed sweep
gives the same plans as an uninterrupted one run with the same options.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
from collections import deque
from collections.abc import Collection
from concurrent.futures import FIRST_COMPLETED, CancelledError, Executor, Future, ProcessPoolExecutor, wait
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from tqdm import tqdm

from ruralreach.model.formulation import matrix_model
from ruralreach.model.instance import Instance, load_instance
from ruralreach.model.plan import (Plan, PlanPlaceError, check_own_directory, check_plan_place, found_a_plan,
                                   is_staging_of, plan_place, read_sites, remove_leftover, verify_plan, write_plan)
from ruralreach.solvers.highs import OPTIMAL, WAIT_STEP_SECONDS, HighsModel, SolveOptions

from .money import usd_short, usd_whole
from .pipeline import Prepared, prepare, solve_prepared
from .review import PLAN_DIR_PREFIX, SWEEP_FILE, figure_png, people_text, plan_dir_name, sweep_curve, sweep_table

PLOT_FILE = "sweep.png"


# ----------------------------------------------------------------------------- budgets


def default_sweep_dir(instance_dir: str | Path) -> Path:
    """``sweeps/<instance name>``; the name is the instance directory's, as in ``Instance.name``."""
    return Path("sweeps") / Path(instance_dir).resolve().name


def budget_chains(budgets: list[float], chains: int) -> list[list[float]]:
    """The sorted budgets dealt out in turn into ``chains`` chains, each in increasing order."""
    budgets = sorted(budgets)
    chains = max(1, min(chains, len(budgets)))
    return [budgets[c::chains] for c in range(chains)]


# ----------------------------------------------------------------------------- worker side

# What a worker keeps between budgets: the prepared instance (one per process, read only) and one
# loaded HiGHS model per thread (a HiGHS object is not shared between threads).
_prepared: dict[str, Prepared] = {}
_prepared_lock = threading.Lock()
_thread = threading.local()


def _worker_model(instance: Instance, options: SolveOptions) -> tuple[Prepared, HighsModel]:
    with _prepared_lock:
        prepared = _prepared.get(instance.sha256)
        if prepared is None:
            _prepared.clear()  # one instance at a time: a national instance is large
            prepared = _prepared[instance.sha256] = prepare(instance, options.time_limit)
    held = getattr(_thread, "held", None)
    if held is None or held[0] is not prepared or held[1] != options:
        held = _thread.held = (prepared, options, HighsModel(matrix_model(prepared.problem), options))
    return prepared, held[2]


def solve_budget(instance: Instance, budget: float, options: SolveOptions,
                 start_plan: tuple[np.ndarray, np.ndarray] | None = None,
                 start_cost_bound: tuple[float, float] | None = None) -> Plan:
    """Solve one budget of a sweep on this worker. ``start_plan``: the action and the phase of
    every site in a plan affordable at this budget (the previous budget's: phase budgets scale
    with the budget, so each cumulative budget only grows), used as the warm start;
    ``start_cost_bound``: (the previous budget, the cost bound its solve proved, USD)."""
    prepared, model = _worker_model(instance, options)
    problem = prepared.problem
    start = None
    if start_plan is not None:
        actions, phases = (np.asarray(values)[problem.option_site] for values in start_plan)
        start = (actions == problem.option_action) & (phases == problem.option_phase)
    return solve_prepared(prepared, budget, options, model=model, start=start, start_cost_bound=start_cost_bound)


# ----------------------------------------------------------------------------- driver


class _InProcess(Executor):
    """Runs each task as it is submitted, in this process: one worker needs no pool."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future


def _same(value):
    """The value itself, as a Dask task's result (see :func:`run_sweep`)."""
    return value


def _exit_on_interrupt() -> None:
    """Ctrl-C reaches every process of the terminal: a worker then stops at once and quietly (no
    traceback mid-solve); the sweep's own process reports the interrupt. A worker starts with
    Ctrl-C blocked (:class:`_WorkerPool`): one pressed while it started is heard here."""
    signal.signal(signal.SIGINT, lambda number, frame: os._exit(1))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


class _WorkerPool(ProcessPoolExecutor):
    """Local worker processes that start with Ctrl-C blocked until :func:`_exit_on_interrupt`
    has said what it does (a Ctrl-C while a worker imported its modules printed its traceback),
    and that end at once when the sweep is stopped (left alone, each finished its budget first,
    minutes on a national network, while the sweep's process waited for it to exit)."""

    def submit(self, fn, /, *args, **kwargs):
        # Processes are started by submit; a started process inherits this thread's signal mask.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def stop_now(self) -> None:
        """End every worker where it is (the plans finished are written by the sweep's process)."""
        terminate_workers = getattr(super(), "terminate_workers", None)
        if terminate_workers is not None:  # Python 3.14 and later say so in public
            terminate_workers()
            return
        # Before it, the pool's processes are only in a private attribute (the same from 3.8 to 3.13).
        for process in list((self._processes or {}).values()):
            process.terminate()
        self.shutdown(wait=False, cancel_futures=True)


def _kept_summary(plan_dir: Path, instance: Instance, budget: float, options: SolveOptions) -> dict | None:
    """The summary of a finished plan this sweep can keep (every file whole, the same instance,
    scenario, budget and gap), or None if it must be solved."""
    try:
        summary = verify_plan(plan_dir)
        same = (summary["instance"]["sha256"] == instance.sha256
                and summary["scenario"] == instance.scenario.with_budget(budget).to_dict()
                and summary["mip_gap_requested"] == options.mip_gap)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return summary if same else None


def check_sweep_place(out: Path) -> None:
    """Raise PlanPlaceError unless a sweep may be written at ``out``: it does not exist, or it is
    a directory holding only what a sweep writes (``sweep.csv``, ``sweep.png``, ``budget-*``
    plan directories, and the hidden staging of its writes)."""
    if not check_own_directory(out, "sweep directory"):
        return
    for entry in out.iterdir():
        if (entry.name in (SWEEP_FILE, PLOT_FILE) and entry.is_file()) or _is_staging(entry.name):
            continue
        if not entry.name.startswith(PLAN_DIR_PREFIX):
            raise PlanPlaceError(f"{out} holds {entry.name}, which a sweep does not write: a sweep is written only "
                                 "where nothing is, in an empty directory or over an earlier sweep")
        check_plan_place(entry)


def plan_actions(plan_dir: Path, instance: Instance) -> tuple[np.ndarray, np.ndarray]:
    """The action of every site in a written plan, in site order, and its phase's position (0
    without phases, -1 for no action)."""
    sites = read_sites(plan_dir)
    actions = sites["action"].to_numpy(dtype=object)
    position = {phase.name: t for t, phase in enumerate(instance.scenario.phases)}
    phases = (sites["phase"].map(position).fillna(-1).to_numpy(dtype=np.int64) if "phase" in sites
              else np.zeros(len(sites), dtype=np.int64))
    return actions, np.where(actions == "none", -1, phases)


def _is_staging(name: str) -> bool:
    """Whether ``name`` is what a sweep stages beside what it writes: a plan's staging, or a
    table's or a chart's (:func:`_write_atomically`); not anything a user might have named so."""
    return (is_staging_of(name, rf"{re.escape(PLAN_DIR_PREFIX)}[^/]+")
            or re.fullmatch(rf"\.(?:{re.escape(SWEEP_FILE)}|{re.escape(PLOT_FILE)})\.[0-9]+", name) is not None)


def _remove_staging_leftovers(out: Path) -> None:
    """A sweep killed while writing leaves hidden staging directories and files behind."""
    for path in out.iterdir():
        if _is_staging(path.name):
            remove_leftover(path)


class SchedulerAddressError(ValueError):
    """A Dask scheduler address Dask cannot read (``tcp://HOST:PORT`` is one it can)."""


def _cluster_threads(client) -> int:
    return max(1, sum(client.nthreads().values()))


def run_sweep(instance_dir: str | Path, budgets: list[float], options: SolveOptions, out: str | Path | None = None,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Solve ``instance_dir`` at every budget; write the plans, ``sweep.csv`` and ``sweep.png`` to
    ``out`` (default ``sweeps/<instance name>``) and return the sweep table.

    ``workers``: budget chains solved side by side (default: this machine's cores, or with
    ``scheduler`` the cluster's worker threads). ``scheduler``: a Dask scheduler address
    (``tcp://HOST:PORT``) to run the chains on instead of local processes.
    Raises InstanceError for a bad instance and PlanPlaceError for an ``out`` that holds what a
    sweep does not write (before anything is solved or written), PlanBusyError while another
    process writes the same sweep.
    """
    budgets = sorted(set(float(b) for b in budgets))
    if not budgets:
        raise ValueError("a sweep needs at least one budget")
    out = Path(out) if out is not None else default_sweep_dir(instance_dir)
    with plan_place(out, check=check_sweep_place):
        instance = load_instance(instance_dir)
        instance.check_budget(budgets[0])  # sites fixed by hand must fit the smallest budget
        kept = {b: s for b in budgets if (s := _kept_summary(out / plan_dir_name(b), instance, b, options))}
        with ExitStack() as stack:
            if scheduler is not None:
                from distributed import Client  # the optional extra "sweep"; the command checks for it

                try:
                    client = stack.enter_context(Client(scheduler))
                except ValueError as error:  # not an address at all; one that does not answer is an OSError
                    raise SchedulerAddressError(f"--scheduler {scheduler!r}: {error}") from None
                chains = budget_chains(budgets, workers or _cluster_threads(client))
                # Sent once, as a task that each budget's task names instead of carrying the
                # instance. A task, not scattered data: Dask computes it again when the worker
                # holding its result is lost, while scattered data is lost with the last worker
                # holding it (and Dask's memory manager drops the extra copies a broadcast makes).
                instance_ref = client.submit(_same, instance, pure=False)
                executor = client.get_executor(pure=False)
            else:
                chains = budget_chains(budgets, workers or os.cpu_count() or 1)
                instance_ref = instance
                busy = sum(any(b not in kept for b in chain) for chain in chains)
                # spawn, not fork: the parent may hold threads (progress bar, a notebook's HiGHS).
                executor = (_InProcess() if busy <= 1 else
                            _WorkerPool(busy, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_exit_on_interrupt))
            if out.exists():  # made by the first plan written: a sweep stopped before it leaves nothing
                _remove_staging_leftovers(out)
            # Each chain's missing budgets, each with the budget before it in the chain (its warm start).
            queues = [deque((b, chain[k - 1] if k else None) for k, b in enumerate(chain) if b not in kept)
                      for chain in chains]
            _solve_chains(executor, [q for q in queues if q], instance, instance_ref, options, out, kept,
                          len(budgets), progress)

        table = sweep_table(out, budgets)
        _write_atomically(out / SWEEP_FILE, lambda path: table.to_csv(path, index=False, lineterminator="\n"))
        png = figure_png(sweep_curve(table, scenario_budget=instance.scenario.budget,
                                     title=f"{instance.name}: people within reach by budget"))
        _write_atomically(out / PLOT_FILE, lambda path: Path(path).write_bytes(png))
    return table


def _solve_chains(executor: Executor, queues: list[deque], instance: Instance, instance_ref, options: SolveOptions,
                  out: Path, kept: dict[float, dict], total: int, progress: bool) -> None:
    """Keep one task per chain running; write each plan as it arrives and start the chain's next."""
    bar = tqdm(total=total, initial=len(kept), unit="budget", desc="sweep", disable=not progress, dynamic_ncols=True)
    running: dict[Future, tuple[float, deque]] = {}
    # Each plan's summary by budget, kept or solved now: the progress bar's best figures, and the
    # cost bound the next budget of its chain carries (from the plan on disk either way, so that a
    # sweep resumed gives the plans an uninterrupted one does).
    summaries = dict(kept)

    def start_next(queue: deque) -> None:
        budget, before = queue.popleft()
        start = None if before is None else plan_actions(out / plan_dir_name(before), instance)
        bound = None if before is None else _cost_bound(summaries[before])
        carried = None if bound is None else (before, bound)
        running[executor.submit(solve_budget, instance_ref, budget, options, start, carried)] = (budget, queue)

    bar.set_postfix_str(_best_figures(summaries.values()))
    try:
        for queue in queues:
            start_next(queue)
        while running:
            # In steps: a wait without end hears no Ctrl-C the kernel gave another thread (Dask's, the bar's).
            done, _ = wait(running, timeout=WAIT_STEP_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                budget, queue = running.pop(future)
                try:
                    plan = future.result()
                except Exception as error:  # a worker or the cluster lost: what was solved is kept
                    raise SweepIncomplete(budget, out, error) from error
                write_plan(plan, out / plan_dir_name(budget))
                summaries[budget] = plan.summary
                bar.update()
                bar.set_postfix_str(_best_figures(summaries.values()))
                if queue:
                    start_next(queue)
    except BaseException:
        # Finished plans are on disk; whatever is still solving is abandoned, not waited for.
        if isinstance(executor, _WorkerPool):
            executor.stop_now()
        else:
            executor.shutdown(wait=False)
        raise
    finally:
        bar.close()
    executor.shutdown(wait=True)


class SweepIncomplete(RuntimeError):
    """A budget could not be solved: its worker process died, or the Dask scheduler restarted or
    went away. The plans finished so far are on disk; rerunning the sweep solves the rest."""

    def __init__(self, budget: float, out: Path, error: BaseException):
        if isinstance(error, CancelledError):
            reason = "its task was cancelled (the Dask scheduler restarted or went away)"
        else:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        super().__init__(f"could not solve the budget {usd_whole(budget)}: {reason}; finished plans are kept in "
                         f"{out}: run the same command again to solve the rest")


def _cost_bound(summary: dict) -> float | None:
    """The cost bound (USD) a plan's solve proved (None: none, or no cost stage ran)."""
    return next((stage["bound"] for stage in summary["stages"] if stage["stage"] == "cost"), None)


def _best_figures(summaries: Collection[dict]) -> str:
    if not summaries:
        return ""
    # A budget whose plan found nothing takes no action: its figures are no one's best.
    found = [s for s in summaries if found_a_plan(s)]
    best = max(found, key=lambda s: (s["same_day_population"], s["next_day_population"], -s["budget"]), default=None)
    text = ("no plan meets every constraint yet" if best is None else
            f"best same-day {people_text(best['same_day_population'])} next-day {best['next_day_population']:,} "
            f"at {usd_short(best['budget'])}")
    not_proven = sum(s["status"] != OPTIMAL for s in summaries)
    return text + (f", {not_proven} not proven optimal" if not_proven else "")


def _write_atomically(path: Path, write) -> None:
    """``write(temporary path)``, then rename into place: a reader never sees half a file."""
    # Not mkstemp: its file is private (0600); this one gets the usual permissions.
    temporary = path.parent / f".{path.name}.{os.getpid()}"
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
