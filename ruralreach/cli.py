"""The ``ruralreach`` command.

Exit status: 0 when a plan was written (whatever its status), 2 for bad input or usage, 130 when
interrupted (Ctrl-C), 1 otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from ruralreach.instances import bundled, bundled_names, instance_path
from ruralreach.model.actions import ACTIONS
from ruralreach.model.formulation import FLOOR_SCALE, STAGES
from ruralreach.model.instance import Instance, InstanceError, load_instance
from ruralreach.model.plan import (Plan, PlanBusyError, PlanPlaceError, PlanReadError, floor_scale_of, floor_scale_text,
                                   is_plan, let_go_of_plan_places, not_a_plan_text, percent_text, plan_place,
                                   read_plan, read_summary, write_plan)
from ruralreach.solvers.highs import GUARD_GRACE_SECONDS, SolveOptions, ctrl_c_ignored, when_a_cancel_goes_unheard
from ruralreach.solvers.lexicographic import Progress

from .money import budget_label, parse_budgets, parse_usd, usd_millions, usd_whole
from .pipeline import prepare, solve_prepared
from .review import formatted, people_text, place_table

DEFAULT_INSTANCE = bundled()
# The exit status of a command stopped by Ctrl-C, as a shell reports a process ended by SIGINT.
INTERRUPTED = 130


def _argument(parse):
    """An argparse type from a parser that raises ValueError with the reason."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return convert


def _checked(convert, accept, what: str):
    """An argparse type: ``convert`` the text, and refuse it unless ``accept(value)``."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


def _plain_float(text: str) -> float:
    """A number as written in ASCII: float() also reads other scripts' digits ('５')."""
    if not text.isascii():
        raise ValueError(text)
    return float(text)


_positive_seconds = _checked(_plain_float, lambda v: 0 < v < math.inf, "a finite number of seconds > 0")
_gap = _checked(_plain_float, lambda v: 0 <= v < 1, "a relative gap in [0, 1)")
_positive_count = _checked(int, lambda v: v >= 1, "a whole number >= 1")


def add_solve_options(parser: argparse.ArgumentParser, time_limit_of: str) -> None:
    parser.add_argument("--mip-gap", type=_gap, default=1e-4, metavar="REL",
                        help="relative optimality gap each stage is solved to (default 1e-4; 0 proves "
                             "exact optimality)")
    parser.add_argument("--time-limit", type=_positive_seconds, default=None, metavar="SECONDS",
                        help=f"wall-clock limit for {time_limit_of}; the best plan found is written, "
                             "marked time_limit (default: none)")
    parser.add_argument("--log", action="store_true", help="show the HiGHS log")


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked for."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0,
                         help="show the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from ruralreach import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit(0)


class _Parser(argparse.ArgumentParser):
    """A usage error in one line, as every other error of the command (the usage is one --help
    away; argparse would print it first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")

    def exit(self, status=0, message=None):
        if status == 0:  # after --help or --version, whose text is the answer
            try:
                check_answer_written()
            except OSError as error:
                status, message = 1, f"{self.prog}: error: {one_line(str(error))}\n"
        super().exit(status, message)

    def parse_args(self, args=None, namespace=None):
        # An option no command has is the command's error, pointing to the command's usage
        # (argparse reports it from the top: "see ruralreach --help").
        parsed, extras = self.parse_known_args(_signed_values_attached(sys.argv[1:] if args is None else args),
                                               namespace)
        if extras:
            command = getattr(self, "commands", {}).get(getattr(parsed, "command", None), self)
            command.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


_SIGNED_VALUE = re.compile(r"-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _signed_values_attached(args: list[str]) -> list[str]:
    """``--budget -1e9`` as ``--budget=-1e9``: argparse takes a word that starts with '-' for an
    option unless it is a plain negative number ('-5', '-0.5'), so '-1e9', '-4B' or '-inf' got
    "expected one argument" instead of the value's own error."""
    attached: list[str] = []
    for position, word in enumerate(args):
        if word == "--":  # past the end of the options every word is itself
            return attached + list(args[position:])
        if attached and re.fullmatch(r"--[\w-]+", attached[-1]) and _SIGNED_VALUE.match(word):
            attached[-1] += f"={word}"
        else:
            attached.append(word)
    return attached


def one_line(text: str) -> str:
    """A message as one line, whatever the paths and values it quotes hold (a line break, say)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ruralreach",
        description="Plan which delivery stations to open and which to upgrade into service centers, "
                    "within a budget, to put the most people within same-day reach.",
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    solve = commands.add_parser(
        "solve", help="solve one instance and write its deployment plan",
        description="Solve an instance (most same-day population, then most next-day population, "
                    "then least cost) and write the plan directory.",
    )
    solve.add_argument("instance", nargs="?", type=instance_path, default=DEFAULT_INSTANCE, metavar="INSTANCE_DIR",
                       help=f"instance directory, or the name of a bundled instance ({', '.join(bundled_names())}; "
                            f"default: the national instance, {DEFAULT_INSTANCE.name})")
    solve.add_argument("--budget", type=_argument(parse_usd), default=None, metavar="USD",
                       help="budget in USD, overriding the scenario's (e.g. 4e9 or 4B)")
    solve.add_argument("--out", type=Path, default=None, metavar="PLAN_DIR",
                       help="plan directory (default: plans/<instance name>-<budget>)")
    add_solve_options(solve, "the whole command, from its start to the plan written")
    solve.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="print each stage's bound, best plan and gap to stderr as the solve goes "
                            "(default: when stderr is a terminal)")

    sweep = commands.add_parser(
        "sweep", help="solve one instance at many budgets and write a plan per budget, a table and a chart",
        description="Solve an instance at every budget of a range or list, reading and preparing it once. "
                    "Writes SWEEP_DIR/budget-<budget>/ (one plan each, as solve writes), SWEEP_DIR/sweep.csv "
                    "and SWEEP_DIR/sweep.png. Rerunning the same command keeps the finished plans and "
                    "solves only the missing budgets. --time-limit applies to each budget.",
    )
    sweep.add_argument("instance", nargs="?", type=instance_path, default=DEFAULT_INSTANCE, metavar="INSTANCE_DIR",
                       help=f"instance directory, or the name of a bundled instance ({', '.join(bundled_names())}; "
                            f"default: the national instance, {DEFAULT_INSTANCE.name})")
    sweep.add_argument("--budgets", type=_argument(parse_budgets), required=True, metavar="FROM:TO:STEP|A,B,...",
                       help="budgets in USD: a range FROM, FROM + STEP, ... up to TO, included where a step "
                            "lands on it (0.5e9:8e9:0.25e9, 500M:8B:250M; STEP of a cent or more) "
                            "or a list (1e9,2e9,4e9)")
    sweep.add_argument("--out", type=Path, default=None, metavar="SWEEP_DIR",
                       help="sweep directory (default: sweeps/<instance name>)")
    sweep.add_argument("--workers", type=_positive_count, default=None, metavar="N",
                       help="budget chains solved side by side, one process each (default: the number of "
                            "cores; with --scheduler, the cluster's worker threads)")
    sweep.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786 (default: local processes)")
    add_solve_options(sweep, "each budget's solve")

    report = commands.add_parser(
        "report", help="write a plan's shareable report page (PLAN_DIR/report.html)",
        description="Write PLAN_DIR/report.html: the headline table, the map, the sites in the plan and "
                    "coverage by state and density tier, as one self-contained page that opens offline.",
    )
    report.add_argument("plan_dir", type=Path, metavar="PLAN_DIR", help="a plan directory written by solve or sweep")

    place = commands.add_parser(
        "place", help="what a plan does for one place (a ZIP code, 'Town, ST' or 'Town')",
        description="Show the zones of a place (by ZIP code, or by town as 'North Pole, AK' or 'Milton'): their "
                    "same-day and next-day reach before and after the plan, the phase that brings it, and the "
                    "nearest inventory site.",
    )
    place.add_argument("plan_dir", type=Path, metavar="PLAN_DIR", help="a plan directory written by solve or sweep")
    place.add_argument("place", metavar="PLACE", help="a ZIP code, 'Town, ST' or 'Town'")
    parser.commands = commands.choices  # each command's parser, by name
    return parser


def gap_text(gap: float | None, requested: float | None = None) -> str:
    """A stage's gap as the summary and the progress lines show it (``n/a``: no bound); given the
    ``requested`` gap, with the digits that tell a gap above it from it (1.001e-04, not 1.00e-04)."""
    if gap is None or not math.isfinite(gap):
        return "n/a"
    digits = 2
    while requested is not None and gap > requested >= float(f"{gap:.{digits}e}") and digits < 8:
        digits += 1
    return f"{gap:.{digits}e}"


def stage_value_text(stage: str, value: float, *, phased: bool) -> str:
    """A stage's value or bound as the summary shows it: dollars for the cost stage; people for
    the others, whole unless capacities make them fractional, and phase-weighted with phases (the
    stage's objective sums the people after each phase times the phase's weight)."""
    if stage == STAGES[-1]:
        return usd_millions(value)
    people = people_text(int(value) if float(value).is_integer() else value)
    return f"{people} {'phase-weighted people' if phased else 'people'}"


def stage_line(stage: dict, summary: dict) -> str:
    """One stage of a plan (an entry of ``plan.json``'s ``stages``) as the summary shows it."""
    line = (f"{stage['stage']:<9} {stage['status']:<10} gap {gap_text(stage['mip_gap'], summary['mip_gap_requested'])} "
            f"(requested {summary['mip_gap_requested']:g})  {stage['seconds']:.2f} s")
    bound = stage.get("bound")
    if stage["status"] != "optimal" and bound is not None and math.isfinite(bound):
        # A stage left short of its gap: how far it may be from its optimum, in the planner's
        # units rather than as a ratio (a cost gap of 5e-3 at $7B is $35M).
        line += f"; bound {stage_value_text(stage['stage'], bound, phased='phases' in summary)}"
    return line


def format_summary(plan: Plan, plan_dir: Path | None = None, total_seconds: float | None = None) -> str:
    s = plan.summary
    total = max(s["total_population"], 1)

    def people(before, after) -> str:
        return (f"{people_text(before):>13} -> {people_text(after):>13} people  (+{people_text(after - before)}; "
                f"{after / total:.1%} of {s['total_population']:,})")

    counts = s["actions"]
    lines = [
        f"instance    {s['instance']['name']}: {s['zones']:,} zones, {s['sites']:,} sites",
        f"status      {s['status']}" + {"optimal": "", "infeasible": "  (no plan meets every constraint)"}.get(
            s["status"], "  (NOT proven optimal)" if plan.found
            else "  (no plan found in time: this one takes no action)"),
        f"same-day    {people(s['baseline_same_day_population'], s['same_day_population'])}",
        f"next-day    {people(s['baseline_next_day_population'], s['next_day_population'])}",
        f"cost        {usd_millions(s['cost'])} of {usd_millions(s['budget'])} budget",
        "actions     " + ", ".join(f"{counts[a.name]} {a.plural}" for a in ACTIONS.values()),
    ]
    for phase in s.get("phases", []):
        lines.append(f"  phase {phase['name']:<10} {usd_millions(phase['cost'])} of {usd_millions(phase['budget'])}; "
                     f"after it same-day {people_text(phase['same_day_population'])}, next-day {phase['next_day_population']:,}")
    equity = s.get("equity")
    if equity is not None:
        below = [g["group"] for g in equity["groups"] if not g["meets_floor"]]
        lines.append(f"equity      {equity['column']}: {len(equity['groups']) - len(below)} of {len(equity['groups'])} "
                     f"groups at or above their same-day floor" + (f" (below: {', '.join(below[:8])}"
                                                                     f"{', ...' if len(below) > 8 else ''})" if below else ""))
        scale = floor_scale_of(s)
        if scale is not None:
            lines.append(f"            no plan within the budget meets every floor: {floor_scale_text(scale)}")
        beyond = sorted((g for g in equity["groups"] if g["floor"] is not None and g.get("reachable_share", 1.0) < g["floor"]),
                        key=lambda g: g["reachable_share"])
        if beyond:
            lines.append(f"            {len(beyond)} group{'s' * (len(beyond) > 1)} below their floor at any budget "
                         "(the most any plan reaches: "
                         + ", ".join(f"{g['group']} {percent_text(g['reachable_share'], 1, math.ceil)}"
                                     for g in beyond[:8])
                         + (", ...)" if len(beyond) > 8 else ")"))
    lines.extend(f"  {stage_line(stage, s)}" for stage in s["stages"])
    seconds = f"solve {s['solve_seconds']:.2f} s"
    if total_seconds is not None:
        seconds += f", total {total_seconds:.2f} s"
    lines.append(f"seconds     {seconds}")
    if plan_dir is not None:
        lines.append(f"plan        {plan_dir}")
    return "\n".join(lines)


def format_yardsticks(plan: Plan) -> str:
    """The program's own yardsticks next to the plan's, phase by phase, as plan.json records
    them: those the instance can measure (small towns need their zones' town and state, square
    miles their land area). Empty where it measures none."""
    records = plan.summary.get("yardsticks", [])
    if not records:
        return ""
    phases = list(records[0]["plan"])
    lines = [f"{'program yardstick':<48}{'program':>19}{'due':>7}" + "".join(f"{p:>14}" for p in phases)
             + "  verdict"]
    for record in records:
        figures = "".join(f"{v:>14,.0f}" if float(v).is_integer() or abs(v) >= 10 else f"{v:>14,.2f}"
                          for v in record["plan"].values())
        lines.append(f"{record['yardstick']:<48}{record['program']:>19}{record['due']:>7}{figures}  "
                     f"{record['verdict'] or ''}")
    return "\n".join(lines)


def command_place(args: argparse.Namespace) -> int:
    if not is_plan(args.plan_dir):
        say_error(not_a_plan_text(args.plan_dir))
        return 2
    plan = read_plan(args.plan_dir)
    table = place_table(plan, args.place)
    if table.empty:
        say_error(f"no zone of {args.plan_dir} is {args.place!r} (try a ZIP code, 'Town, ST' or 'Town')")
        return 2
    print(formatted(table).to_string(index=False))
    people = table["population"].sum()
    same = table.loc[table["same_day"], "population"].sum()
    same_before = table.loc[table["same_day_before"], "population"].sum()
    nxt = table.loc[table["next_day"], "population"].sum()
    if "same_day_share" in table:  # capacities: a zone may be served in part
        same_day = (f"same-day {table['population'] @ table['same_day_share']:,.2f} served ({same:,} in zones "
                    f"served in full, {same_before:,} before the plan)")
    else:
        same_day = f"same-day {same:,} ({same - same_before:+,} by the plan)"
    print(f"{args.place}: {len(table)} zones, {people:,} people; {same_day}, "
          f"next-day {nxt:,} ({nxt - table.loc[table['next_day_before'], 'population'].sum():+,} by the plan)")
    check_answer_written()
    return 0


# What building and writing a plan and ending the process take, besides the solve: a constant and
# a time per zone and site row, a little above what they take on an idle machine (the national
# instance, a 20,000-zone and a 100,000-zone one). On a busy machine the share below stretches it.
# Kept larger, it is time a solve under a limit never gets (benchmarks/README.md, "The time kept
# for writing, measured again").
_WRITE_SECONDS, _WRITE_SECONDS_PER_ROW = 0.15, 1.2e-5
_LEAST_CPU_SHARE = 0.1  # below it, the guess of how long ending takes is too uncertain to stretch further
_IMPORTED = time.perf_counter()


def seconds_since_start() -> float:
    """How long this process has run, interpreter start-up included (Linux: from /proc; elsewhere,
    from when this module was imported)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in clock ticks after boot
        return max(0.0, float(Path("/proc/uptime").read_text().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


def solve_seconds_left(time_limit: float, instance: Instance) -> float:
    """A time limit is for the whole command, start-up, reading and writing included: the solve
    gets what is left of it after the time spent so far and the time ending the solve and writing
    the plan will take (longer on a machine busy with other work). With nothing left the solve
    still returns its start plan (the greedy plan), marked time_limit."""
    so_far = seconds_since_start()
    # The solve itself may end past its limit by its guard's grace (solvers/highs.py).
    ending = (GUARD_GRACE_SECONDS + _WRITE_SECONDS
              + _WRITE_SECONDS_PER_ROW * (len(instance.zones) + len(instance.sites)))
    # On a machine busy with other work this process gets a share of a core, and ending will take
    # as much longer as reading did: the share so far is the best guess of the share to come.
    share = min(1.0, max(_LEAST_CPU_SHARE, time.process_time() / so_far)) if so_far > 0 else 1.0
    return max(0.0, time_limit - so_far - ending / share)


def progress_line(step: Progress) -> str:
    """One step of a solve as it goes: seconds since the solve began, the stage, and its best
    plan, bound and gap so far."""

    def amount(value: float) -> str:
        if math.isnan(value):
            return "none yet"
        return usd_millions(value) if step.stage == "cost" else f"{value:,.0f}"

    gap = gap_text(step.gap)
    # The largest share of the equity floors one plan meets: as its search starts, then as it ends.
    if step.stage == FLOOR_SCALE and step.step == "searching":
        text = "no plan meets every floor: searching for the largest share of them one plan meets"
    elif step.stage == FLOOR_SCALE:
        share = {"value": step.value, "bound": step.bound, "status": step.step}
        text = f"{step.step}: {floor_scale_text(share)}, gap {gap}"
    elif step.step == "floor":
        kept = STAGES[STAGES.index(step.stage) - 1].replace("_", "-")
        text = f"keeps {kept} at {step.value:,.0f} or more: {step.decided:,} options decided"
    elif step.step == "bound":
        text = f"LP bound {amount(step.bound)}, best plan {amount(step.value)}"
    elif step.step == "plan":
        text = f"best plan {amount(step.value)}, bound {amount(step.bound)}, gap {gap}"
    elif step.step == "searching":
        held = "" if step.searched is None else f" (the search holds {amount(step.searched)}, not yet checked)"
        text = (f"searching: best plan {amount(step.value)}{held}, bound {amount(step.bound)}, gap {gap}, "
                f"{step.nodes:,} nodes")
    else:
        text = f"{step.step}: {amount(step.value)}, gap {gap}"
    return f"ruralreach: {step.seconds:8.1f} s  {step.stage:<9} {text}"


def _print_progress(step: Progress) -> None:
    print(progress_line(step), file=sys.stderr, flush=True)


def command_solve(args: argparse.Namespace) -> int:
    instance = load_instance(args.instance)
    if args.budget is not None:
        instance = instance.with_budget(args.budget)
    instance.check_budget()  # sites fixed by hand must fit: an input error, before any work
    options = SolveOptions(mip_gap=args.mip_gap, time_limit=args.time_limit, log=args.log)
    out = args.out or Path("plans") / f"{instance.name}-{budget_label(instance.scenario.budget)}"
    # Checked and held before the solve: a plan is never solved for nowhere.
    with plan_place(out), when_a_cancel_goes_unheard(lambda: _end_interrupted(say_interrupted)):
        def seconds_left() -> float | None:  # asked twice: preparing takes some of it
            return None if args.time_limit is None else solve_seconds_left(args.time_limit, instance)

        prepared = prepare(instance, seconds_left())
        options = dataclasses.replace(options, time_limit=seconds_left())
        show = sys.stderr.isatty() if args.progress is None else args.progress
        plan = solve_prepared(prepared, instance.scenario.budget, options, watch=_print_progress if show else None)
        write_plan(plan, out)
    with ctrl_c_ignored():  # the plan is written: Ctrl-C has nothing left to stop
        # The whole process, start-up included: the clock --time-limit bounds.
        print(format_summary(plan, out, seconds_since_start()))
        yardsticks = format_yardsticks(plan)
        if yardsticks:
            print(yardsticks)
    return 0


def command_sweep(args: argparse.Namespace) -> int:
    if args.scheduler is not None:
        try:
            import distributed  # noqa: F401  (only a Dask cluster needs it)
        except ImportError:
            say_error("--scheduler needs Dask: pip install 'ruralreach[sweep]'")
            return 2
        # A lost scheduler makes Dask log its reconnection attempts with tracebacks; the command
        # says in one line what it could not do.
        logging.disable(logging.ERROR)
    # Imported here: a sweep draws its chart with matplotlib, which solve does not need.
    from .sweep import SchedulerAddressError, SweepIncomplete, default_sweep_dir, run_sweep

    began = time.perf_counter()
    options = SolveOptions(mip_gap=args.mip_gap, time_limit=args.time_limit, log=args.log)
    out = args.out or default_sweep_dir(args.instance)
    kept = f"ruralreach: interrupted; finished plans are kept in {out}: run the same command again to solve the rest"
    # One worker solves in this process: ended there, the line starts below the progress bar.
    unheard = when_a_cancel_goes_unheard(lambda: _end_interrupted(lambda: print("\n" + kept, file=sys.stderr)))
    try:
        with unheard:
            table = run_sweep(args.instance, args.budgets, options, out=out, workers=args.workers,
                              scheduler=args.scheduler)
    except SweepIncomplete as error:
        say_error(str(error))
        return 1
    except SchedulerAddressError as error:
        say_error(str(error))
        return 2
    except KeyboardInterrupt:
        print(kept, file=sys.stderr)
        return INTERRUPTED
    lines = [f"{'budget':>16}  {'status':<10}  {'same-day':>13}  {'next-day':>13}  {'cost':>16}  {'gap':>8}"]
    for row in table.itertuples():
        lines.append(f"{usd_whole(row.budget):>16}  {row.status:<10}  {people_text(row.same_day_population):>13}  "
                     f"{row.next_day_population:>13,}  {usd_whole(row.cost):>16}  {row.mip_gap:>8.1e}")
    not_proven = table[table["status"] != "optimal"]
    if len(not_proven):
        lines.append(f"{len(not_proven)} of {len(table)} budgets NOT proven optimal (see status); "
                     "the stages that stopped short, and how far their optimum may be:")
        for budget, plan_dir in zip(not_proven["budget"], not_proven["plan_dir"]):
            summary = read_summary(Path(out) / plan_dir)
            lines.extend(f"{usd_whole(budget):>16}  {stage_line(stage, summary)}" for stage in summary["stages"]
                         if stage["status"] != "optimal")
            scale = floor_scale_of(summary)
            if scale is not None:
                lines.append(f"{usd_whole(budget):>16}  no plan meets every floor: {floor_scale_text(scale)}")
    lines.append(f"sweep       {out} (sweep.csv, sweep.png, {len(table)} plans), "
                 f"{time.perf_counter() - began:.1f} s")
    print("\n".join(lines))
    return 0


def command_report(args: argparse.Namespace) -> int:
    from .review import write_report

    print(write_report(args.plan_dir))
    return 0


class _Output:
    """stdout or stderr of a command whose output may go nowhere: a reader that leaves before it
    ends (``ruralreach solve --progress 2>&1 | head``), a full disk (``> /dev/full``), a stream
    closed before it started (``>&-``). What cannot be written is dropped and the command goes
    on, so that a plan is never lost to its own progress lines or summary. Where the output is the
    command's answer (``place``, ``--help``), :func:`check_answer_written` makes a loss the
    command's error."""

    def __init__(self, stream):
        # None: the stream was closed when the interpreter started.
        self._stream = stream if stream is not None else open(os.devnull, "w", encoding="utf-8")
        self.lost: OSError | None = None  # why output was dropped, unless its reader chose to leave

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as error:
            self._reader_gone(error)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as error:
            self._reader_gone(error)

    def _reader_gone(self, error: OSError) -> None:
        if not isinstance(error, BrokenPipeError) and self.lost is None:
            self.lost = error
        # Everything after, the interpreter's last flush at exit included, goes nowhere.
        nowhere = os.open(os.devnull, os.O_WRONLY)
        os.dup2(nowhere, self._stream.fileno())
        os.close(nowhere)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def check_answer_written() -> None:
    """Raise an OSError if stdout dropped what was written to it for any reason but its reader
    leaving (``| head``): a full disk, a device error. For the commands whose output is their
    answer, which exit 0 only when it was delivered."""
    sys.stdout.flush()  # a plain stream (main called inside another program) raises here itself
    lost = getattr(sys.stdout, "lost", None)
    if lost is not None:
        raise OSError(f"the answer could not be written to stdout: {lost.strerror or lost}")


def outputs_readers_may_leave() -> None:
    """Make stdout and stderr :class:`_Output` (for the command itself, not for ``main`` called
    inside another program)."""
    sys.stdout, sys.stderr = _Output(sys.stdout), _Output(sys.stderr)
    for stream in (sys.stdout, sys.stderr):  # a place name an ASCII terminal cannot show is escaped
        with suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")


def say_error(message: str) -> None:
    """An error of the command, in one line on stderr whatever the paths and values it quotes hold."""
    print(f"ruralreach: error: {one_line(message)}", file=sys.stderr)


def say_interrupted() -> None:
    print("ruralreach: interrupted; no plan written", file=sys.stderr)


def _end_interrupted(say: Callable[[], object]) -> None:
    """End the process at once on a Ctrl-C HiGHS does not hear (inside its presolve or a MIP's
    root LP, which can take minutes): ``say`` what was interrupted, exit 130. Nothing is left
    half-written: no file is written while HiGHS runs. The locks on the places held are let go
    of here, their files removed, as unwinding would have."""
    let_go_of_plan_places()
    say()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"ruralreach: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warn_in_one_line
            # Parsing is inside: a Ctrl-C can arrive while argparse still builds its patterns.
            args = build_parser().parse_args(argv)
            commands = {"solve": command_solve, "sweep": command_sweep, "report": command_report,
                        "place": command_place}
            return commands[args.command](args)
    except (InstanceError, PlanPlaceError, PlanReadError) as error:
        say_error(str(error))
        return 2
    except (PlanBusyError, OSError) as error:
        # Another writer of the same place; a disk that is full or gone; a scheduler that cannot be reached.
        say_error(str(error))
        return 1
    except KeyboardInterrupt:
        say_interrupted()
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
