"""The peer comparison of ``benchmarks/bench.py``: PySAL ``spopt``'s MCLP on the single-tier problem
it can express, next to ruralreach on the same problem.

The problem: the same-day stage of the national instance with a facility count instead of a
budget (spopt's MCLP takes no costs). The 140 existing centers are predefined facilities; every
station and candidate may become one more inventory-holding facility; p of them are added.

- ruralreach sees it as an instance (:func:`write_single_tier_instance`): the centers as they
  are, every station and candidate as kind ``station`` with ``upgrade_cost = 1``, budget = p. The
  next-day stage cannot change anything (every site already delivers) and the cost stage only
  picks, among the same-day optima, one with the fewest upgrades.
- spopt sees it the way a spopt user builds it (:func:`run_spopt`, run in its own process by
  ``python benchmarks/peers.py spopt ...`` so that its peak memory is its own): a dense zones x
  sites matrix of travel minutes (haversine miles, R = 3958.8, x circuity / speed x 60), the
  zone populations as weights, a 90-minute service radius, the centers as
  ``predefined_facilities_arr`` and ``p_facilities = centers + p`` (spopt's p counts the
  predefined facilities too, and its facility row is an equality: with thousands of sites to
  spare, "exactly 340" and ruralreach's "at most 200 upgrades" have the same optimum).

Run alone (what bench.py runs, printing a JSON result):

    python benchmarks/peers.py spopt instances/us-2026 --p 200 --solvers highs,cbc \
        --gap 1e-4 --time-limit 1800 --json OUT.json [--zones-limit N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

_STARTED = time.perf_counter()


def write_single_tier_instance(national: Path, out: Path, p: int, zones_limit: int | None = None) -> Path:
    """The ruralreach instance of the single-tier problem: zones as they are; centers kept;
    every station and candidate a ``station`` whose upgrade costs 1; budget p."""
    from ruralreach.model.instance import Scenario, load_instance, write_instance

    source = load_instance(national)
    zones = pd.read_csv(national / "zones.csv", dtype=str, keep_default_na=False)
    if zones_limit:
        zones = zones.iloc[:zones_limit]
    sites = source.sites[["site_id", "lat", "lon", "kind"]].copy()
    upgradable = sites["kind"] != "center"
    sites.loc[upgradable, "kind"] = "station"
    sites["upgrade_cost"] = np.where(upgradable, "1", "")
    sites["station_cost"] = ""
    sites["center_cost"] = ""
    scenario = source.scenario
    single = Scenario(budget=float(p), same_day_minutes=scenario.same_day_minutes,
                      next_day_minutes=scenario.next_day_minutes, speed_mph=scenario.speed_mph,
                      circuity=scenario.circuity, name=f"{source.name}-single-tier-p{p}",
                      description="Same-day stage of the national instance as an MCLP: centers predefined, "
                                  "every other site an upgrade costing 1, budget = p")
    return write_instance(out, zones, sites, single)


def travel_minutes_matrix(zone_lat, zone_lon, site_lat, site_lon, circuity: float, speed_mph: float) -> np.ndarray:
    """Dense zones x sites travel minutes, as a spopt user builds them: one broadcast array."""
    from ruralreach.model.reach import haversine_miles

    miles = haversine_miles(np.asarray(zone_lat, dtype=float)[:, None], np.asarray(zone_lon, dtype=float)[:, None],
                            np.asarray(site_lat, dtype=float)[None, :], np.asarray(site_lon, dtype=float)[None, :])
    miles *= circuity / speed_mph * 60.0
    return miles


def _cbc_log(path: Path) -> dict:
    """What CBC's log says: how it ended, its objective, bound, times and each improving plan."""
    text = path.read_text(errors="replace") if path.exists() else ""
    found = {}
    result = re.search(r"Result - (.+)", text)
    found["result"] = result.group(1).strip() if result else "unknown"
    for key, pattern in (("objective", r"Objective value:\s+(-?[0-9.eE+-]+)"),
                         ("bound", r"(?:Lower|Upper) bound:\s+(-?[0-9.eE+-]+)"),
                         ("gap", r"Gap:\s+(-?[0-9.eE+-]+)"),
                         ("nodes", r"Enumerated nodes:\s+([0-9]+)"),
                         ("wall", r"Wallclock seconds\):\s+([0-9.]+)")):
        match = re.search(pattern, text)
        found[key] = float(match.group(1)) if match else None
    if found["gap"] is None and found["result"].startswith("Optimal"):
        found["gap"] = 0.0  # CBC prints no gap when it proves its ratio gap
    found["incumbents"] = [(float(t), abs(float(v))) for v, t in
                           re.findall(r"Integer solution of (-?[0-9.eE+-]+) found.*?\(([0-9.]+) seconds\)", text)]
    return found


def _highs_incumbents(path: Path) -> list[tuple[float, float]]:
    """(seconds, objective) of each improving plan in a HiGHS MIP log: the rows whose first
    column names the heuristic or search that found it."""
    incumbents = []
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) == 13 and len(tokens[0]) == 1 and tokens[0].isalpha() and tokens[-1].endswith("s"):
            try:
                incumbents.append((float(tokens[-1][:-1]), abs(float(tokens[6]))))
            except ValueError:
                pass
    return incumbents


def run_spopt(instance_dir: Path, p: int, solver_names: list[str], gap: float, time_limit: float,
              zones_limit: int | None = None) -> dict:
    """Build spopt's MCLP from a dense cost matrix once, solve it with each solver, and report
    times (cost matrix, model build, each solve), objective, bound and the population the chosen
    facilities cover (recomputed from the matrix, not taken from the solver)."""
    import pulp
    import spopt
    import tomllib
    from spopt.locate import MCLP

    out: dict = {"spopt": spopt.__version__, "pulp": pulp.__version__,
                 "import_seconds": time.perf_counter() - _STARTED}
    zones = pd.read_csv(instance_dir / "zones.csv", dtype={"zone_id": str})
    if zones_limit:
        zones = zones.iloc[:zones_limit]
    sites = pd.read_csv(instance_dir / "sites.csv", dtype={"site_id": str})
    scenario = tomllib.loads((instance_dir / "scenario.toml").read_text())
    radius = float(scenario["same_day_minutes"])
    predefined = (sites["kind"] == "center").to_numpy().astype(int)
    out.update(zones=len(zones), sites=len(sites), predefined=int(predefined.sum()), p_new=p,
               p_facilities=int(predefined.sum()) + p, radius_minutes=radius)

    began = time.perf_counter()
    cost = travel_minutes_matrix(zones["lat"], zones["lon"], sites["lat"], sites["lon"],
                                 float(scenario["circuity"]), float(scenario["speed_mph"]))
    out["matrix_seconds"] = time.perf_counter() - began
    out["matrix_bytes"] = int(cost.nbytes)
    weights = zones["population"].to_numpy(dtype=float)
    reach = cost <= radius
    out["reach_nonzeros"] = int(reach.sum())
    print(f"cost matrix {cost.shape} ({cost.nbytes / 2**30:.2f} GiB) in {out['matrix_seconds']:.1f} s; "
          f"building the MCLP", file=sys.stderr, flush=True)

    began = time.perf_counter()
    mclp = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=out["p_facilities"],
                                 predefined_facilities_arr=predefined, name="mclp")
    out["build_seconds"] = time.perf_counter() - began
    print(f"MCLP built in {out['build_seconds']:.1f} s", file=sys.stderr, flush=True)

    out["solves"] = []
    for name in solver_names:
        log = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log")[1])
        if name == "highs":
            # The log goes to a file only (msg=False stays quiet): it tells when each plan was found.
            solver = pulp.HiGHS(msg=False, gapRel=gap, timeLimit=time_limit, threads=1, log_file=str(log),
                                output_flag=True, log_to_console=False)
        elif name == "cbc":
            solver = pulp.PULP_CBC_CMD(msg=False, gapRel=gap, timeLimit=time_limit, threads=1, logPath=str(log),
                                       timeMode="elapsed")
        else:
            raise ValueError(f"unknown solver {name!r}")
        for variable in mclp.problem.variables():
            variable.varValue = None
        result: dict = {"solver": name}
        began = time.perf_counter()
        try:
            mclp.solve(solver, results=False)
            result["error"] = None
        except Exception as error:  # spopt raises when pulp reports no solution
            result["error"] = f"{type(error).__name__}: {error}"
        result["seconds"] = time.perf_counter() - began
        result["pulp_status"] = pulp.LpStatus.get(mclp.problem.status, str(mclp.problem.status))
        result["pulp_solution_status"] = pulp.LpSolution.get(mclp.problem.sol_status, str(mclp.problem.sol_status))
        objective = pulp.value(mclp.problem.objective)
        result["objective"] = None if objective is None else float(objective)
        if name == "highs":
            h = mclp.problem.solverModel
            info = h.getInfo()
            result["solver_status"] = h.modelStatusToString(h.getModelStatus())
            result["solver_seconds"] = h.getRunTime()
            result["bound"] = abs(info.mip_dual_bound)
            result["gap"] = info.mip_gap
            result["nodes"] = info.mip_node_count
            result["incumbents"] = _highs_incumbents(log)
        else:
            cbc = _cbc_log(log)
            result["solver_status"] = cbc["result"]
            result["solver_seconds"] = cbc["wall"]
            result["bound"] = None if cbc["bound"] is None else abs(cbc["bound"])
            result["gap"] = cbc["gap"]
            result["nodes"] = cbc["nodes"]
            result["incumbents"] = cbc["incumbents"]
        log.unlink(missing_ok=True)
        chosen = np.array([(v.varValue or 0) > 0.5 for v in mclp.fac_vars])
        result["facilities"] = int(chosen.sum())
        result["predefined_kept"] = bool(chosen[predefined == 1].all())
        result["covered_population"] = int(weights[reach[:, chosen].any(axis=1)].sum()) if chosen.any() else None
        # When the solver first held a plan as good as its last: its time to the objective it reports.
        best = result["objective"]
        reached = [t for t, v in result["incumbents"] if best is not None and v >= best * (1 - 1e-6)]  # logs round
        result["solver_seconds_to_best"] = min(reached) if reached else None
        # The gap from the solver's bound and objective (CBC's log rounds its own to two decimals).
        result["solver_gap"] = result["gap"]
        result["gap"] = (abs(result["bound"] - best) / abs(best)
                         if best and result["bound"] is not None else result["gap"])
        out["solves"].append(result)
        print(f"{name}: {result['solver_status']} in {result['seconds']:.1f} s, objective {result['objective']}",
              file=sys.stderr, flush=True)
    import resource

    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="spopt MCLP on the single-tier problem (bench.py runs this)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("spopt", help="build and solve spopt's MCLP, write a JSON result")
    run.add_argument("instance", type=Path, help="the single-tier instance directory (write_single_tier_instance)")
    run.add_argument("--p", type=int, default=200, help="facilities to add to the predefined ones")
    run.add_argument("--solvers", default="highs,cbc", help="comma-separated: highs (pulp.HiGHS), cbc (PULP_CBC_CMD)")
    run.add_argument("--gap", type=float, default=1e-4)
    run.add_argument("--time-limit", type=float, default=1800.0)
    run.add_argument("--zones-limit", type=int, default=None, help="first N zones only (for trying it out)")
    run.add_argument("--json", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run_spopt(args.instance, args.p, [s for s in args.solvers.split(",") if s], args.gap, args.time_limit,
                       args.zones_limit)
    args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
