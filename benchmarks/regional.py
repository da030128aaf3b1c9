"""Regional instances cut from a national one, with the program's options, for checks at a scale
between the tests' tiny instances (where every plan is enumerated) and the nation (where the
unreduced MIP takes hours at gap 0).

    python benchmarks/regional.py OUT_DIR --states MT,WY,ND,SD [--source us-2026-program]
        [--budget USD] [--phases 0.4,0.6] [--floor SHARE] [--county-floors]
        [--decisions N] [--seed S]

Keeps the zones and sites of the given states, and the source's reach limits, costs and
capacities (for capacities, cut from a directory ``ruralreach.instances.build_capacity`` wrote,
or give the region its own with it afterwards: ``--source DIR --out DIR-k5 --station 5000
--candidate 5000``, the capacitated regions of benchmarks/README.md). The budget (default: the
source's, scaled by the region's share of the national population) is split into phases by ``--phases`` (shares,
in order, named 2025, 2026, ...; ``--phases 1`` for none). ``--floor`` sets every state's same-day floor (``--county-floors``: every county's, by
``county_fips``, instead); ``--decisions N`` marks N random stations ``must:upgrade``, N random
candidates ``must:open_station`` and N others ``never`` (seeded by ``--seed``). Writes the instance
directory; then, for example::

    ruralreach solve OUT_DIR --mip-gap 0 --out OUT_DIR-exact
    ruralreach solve OUT_DIR --out OUT_DIR-default
    python benchmarks/crosscheck.py OUT_DIR OUT_DIR-exact OUT_DIR-default
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from ruralreach.instances import bundled
from ruralreach.model.instance import Equity, Phase, load_instance, write_instance


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--states", required=True, help="comma-separated state codes")
    parser.add_argument("--source", default="us-2026-program", help="a bundled instance's name or a directory")
    parser.add_argument("--budget", type=float, help="USD (default: the source's, by population share)")
    parser.add_argument("--phases", default="0.5,0.5", help="the budget's shares by phase (default 0.5,0.5)")
    parser.add_argument("--floor", type=float, help="every state's same-day floor (share of its people)")
    parser.add_argument("--county-floors", action="store_true", help="the floor per county instead of per state")
    parser.add_argument("--decisions", type=int, default=0, help="sites of each decision kind (default 0)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    source = Path(args.source) if Path(args.source).is_dir() else bundled(args.source)
    national = load_instance(source)
    states = {s.strip() for s in args.states.split(",")}
    zones = national.zones[national.zones["state"].isin(states)].reset_index(drop=True)
    sites = national.sites[national.sites["state"].isin(states)].reset_index(drop=True)
    if zones.empty:
        sys.exit(f"regional: no zone in {', '.join(sorted(states))}")
    scenario = national.scenario
    budget = (args.budget if args.budget is not None
              else scenario.budget * zones["population"].sum() / national.zones["population"].sum())
    shares = [float(s) for s in args.phases.split(",")]
    phases = (() if len(shares) == 1 else
              tuple(Phase(str(2025 + k), budget * share / sum(shares)) for k, share in enumerate(shares)))
    equity = None
    if args.floor is not None:
        equity = Equity("county_fips" if args.county_floors else "state", args.floor)
    scenario = dataclasses.replace(scenario, budget=budget, phases=phases, equity=equity,
                                   name=args.out.name, description=f"{', '.join(sorted(states))}, cut from {source.name}")
    if phases:  # the budgets as written must add up to the budget exactly
        scenario = scenario.with_budget(budget)
    sites = sites.drop(columns="decision", errors="ignore")  # the source's own, if any: ours replace them
    if args.decisions:
        rng = np.random.default_rng(args.seed)
        decision = np.full(len(sites), "", dtype=object)
        stations = np.flatnonzero(sites["kind"] == "station")
        candidates = np.flatnonzero(sites["kind"] == "candidate")
        k = args.decisions
        decision[rng.choice(stations, size=min(k, stations.size), replace=False)] = "must:upgrade"
        chosen = rng.choice(candidates, size=min(2 * k, candidates.size), replace=False)
        decision[chosen[:k]] = "must:open_station"
        decision[chosen[k:]] = "never"
        sites["decision"] = decision
    write_instance(args.out, zones, sites, scenario)
    print(f"{args.out}: {len(zones):,} zones, {len(sites):,} sites, budget ${budget:,.0f}"
          f"{f', {len(phases)} phases' if phases else ''}{', floors' if equity else ''}"
          f"{f', {args.decisions} of each decision' if args.decisions else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
