"""Capacity: same-day service only as far as an inventory site can ship it. The solver against
brute force over every plan with the best split of each found by the checker's own LP (alone and
with phases, equity floors and sites fixed by hand), every assignment checked independently, the
input errors, and capacity that never binds changing nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from checker import brute_force, check_assignments, phased_outcome, reachable_shares, read_raw
from conftest import run_cli, small_instance, with_capacity
from test_program import check_largest_feasible_share, plan_of, program_instance, random_decisions

from ruralreach import review
from ruralreach.instances import build_capacity
from ruralreach.model.capacity import LEAST_SHARE_SHIPPED
from ruralreach.model.instance import Equity, Phase, load_instance
from ruralreach.model.plan import read_plan, write_plan
from ruralreach.model.reach import compute_reach
from ruralreach.model.reduce import reduce_problem
from ruralreach.pipeline import solve_instance
from ruralreach.solvers.highs import SolveOptions

EXACT = SolveOptions(mip_gap=0.0)


def check_capacitated(directory: Path, tmp_path: Path) -> dict:
    """Solve exactly; the plan keeps every rule, its assignments check, its figures recompute
    from them, and it is the brute-force optimum."""
    raw = read_raw(directory)
    plan = solve_instance(load_instance(directory), EXACT)
    write_plan(plan, tmp_path / "plan")
    best = brute_force(raw)
    summary = plan.summary
    if best is None:
        assert summary["status"] == "infeasible"
        return summary
    assert summary["status"] == "optimal"
    outcome = phased_outcome(raw, plan_of(plan))
    assert outcome["budgets_kept"] and outcome["decisions_kept"] and outcome["floors_met"]
    assert outcome["same_day"] == pytest.approx(best[0], rel=1e-7)
    assert outcome["next_day"] == best[1]
    assert outcome["cost"] == pytest.approx(best[2])
    figures = check_assignments(raw, tmp_path / "plan")
    assert figures["served"][-1] == pytest.approx(outcome["phases"][-1]["same_day_population"], rel=1e-7)
    stage = summary["stages"][0]
    assert stage["objective"] == pytest.approx(best[0], rel=1e-7) and stage["bound"] >= best[0] * (1 - 1e-7)
    return summary


def binds(summary: dict, directory: Path) -> bool:
    """Whether some capacity binds in the plan: a site ships its capacity."""
    plan = read_plan(directory)
    sites = plan.sites.dropna(subset=["capacity"])
    return bool(((sites["same_day_load"] >= sites["capacity"] * (1 - 1e-9)) & (sites["capacity"] > 0)).any())


@pytest.mark.parametrize("seed", range(4))
def test_capacity_matches_brute_force(seed, tmp_path):
    directory = with_capacity(program_instance(tmp_path / "i", seed=seed), seed=seed, share=0.05)
    summary = check_capacitated(directory, tmp_path)
    assert binds(summary, tmp_path / "plan")
    # Fractional service is reported with two decimals.
    assert summary["same_day_population"] == round(summary["same_day_population"], 2)


@pytest.mark.parametrize("seed", range(2))
def test_capacity_with_phases_matches_brute_force(seed, tmp_path):
    phases = [Phase("2025", 20e6), Phase("2026", 30e6, 1.5)]
    directory = with_capacity(program_instance(tmp_path / "i", seed=seed, phases=phases, stations=2, candidates=2),
                              seed=seed, share=0.2)
    summary = check_capacitated(directory, tmp_path)
    assignments = pd.read_csv(tmp_path / "plan" / "assignments.csv", dtype=str, keep_default_na=False)
    assert set(assignments["phase"]) <= {"2025", "2026"} and "2026" in set(assignments["phase"])
    assert [p["name"] for p in summary["phases"]] == ["2025", "2026"]


@pytest.mark.parametrize("seed", range(2))
def test_capacity_with_equity_floors_matches_brute_force(seed, tmp_path):
    # Floors on the people served, not the people in reach.
    directory = with_capacity(program_instance(tmp_path / "i", seed=seed, budget=40e6,
                                               equity=Equity("region", 0.3, (("west", 0.4),))),
                              seed=seed, share=0.2)
    summary = check_capacitated(directory, tmp_path)
    if summary["status"] == "optimal":
        for group in summary["equity"]["groups"]:
            assert group["share"] >= group["floor"] * (1 - 1e-9)


def test_capacity_with_everything_matches_brute_force(tmp_path):
    phases = [Phase("first", 25e6), Phase("second", 25e6)]
    directory = with_capacity(program_instance(tmp_path / "i", seed=5, phases=phases, stations=2, candidates=2,
                                               equity=Equity("region", 0.2), decisions=_one_never(1)),
                              seed=5, share=0.2)
    check_capacitated(directory, tmp_path)


def test_capacity_with_sites_fixed_by_hand_matches_brute_force(tmp_path):
    directory = with_capacity(program_instance(tmp_path / "i", seed=2, decisions=random_decisions(2)), seed=2,
                              share=0.2)
    check_capacitated(directory, tmp_path)


def _one_never(position: int):
    def decide(sites: pd.DataFrame) -> list[str]:
        decision = [""] * len(sites)
        decision[list(sites.index[sites["kind"] == "candidate"])[position]] = "never"
        return decision
    return decide


def test_capacity_that_never_binds_changes_nothing(tmp_path):
    plain = small_instance(tmp_path / "plain", seed=3, zones=200, candidates=12, budget=60e6)
    roomy = with_capacity(small_instance(tmp_path / "roomy", seed=3, zones=200, candidates=12, budget=60e6),
                          seed=3, share=2.0)
    plans = [solve_instance(load_instance(d), SolveOptions()) for d in (plain, roomy)]
    assert list(plans[0].sites["action"]) == list(plans[1].sites["action"])
    assert plans[1].summary["same_day_population"] == plans[0].summary["same_day_population"]
    assert plans[1].assignments is not None and plans[0].assignments is None
    # Every zone same-day is shipped in full, from a site within reach.
    write_plan(plans[1], tmp_path / "plan")
    check_assignments(read_raw(roomy), tmp_path / "plan")


def test_the_command_writes_and_prints_a_capacitated_plan(tmp_path):
    directory = with_capacity(program_instance(tmp_path / "i", seed=1), seed=1, share=0.2)
    result = run_cli("solve", directory, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    plan = read_plan(tmp_path / "plan")
    assert {"capacity", "same_day_load"} <= set(plan.sites.columns)
    assert "same_day_share" in plan.zones.columns and plan.assignments is not None
    check_assignments(read_raw(directory), tmp_path / "plan")
    served = plan.summary["same_day_population"]
    assert f"{served:,.2f}" in result.stdout


@pytest.mark.parametrize("capacity, field, message", [
    ("-5", "capacity", "must not be negative"),
    ("lots", "capacity", "not a finite number"),
])
def test_bad_capacity_is_an_input_error(capacity, field, message, tmp_path):
    directory = with_capacity(small_instance(tmp_path / "i", seed=1), seed=1)
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    sites.loc[2, "capacity"] = capacity
    sites.to_csv(directory / "sites.csv", index=False, lineterminator="\n")
    result = run_cli("solve", directory, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 2
    assert "sites.csv, line 4, field 'capacity'" in result.stderr and message in result.stderr
    assert not (tmp_path / "plan").exists()


@pytest.mark.parametrize("rate, message", [(None, "missing"), ("0", "must be positive"), ('"x"', "finite number")])
def test_demand_rate_is_required_and_positive(rate, message, tmp_path):
    directory = with_capacity(small_instance(tmp_path / "i", seed=1), seed=1)
    lines = [line for line in (directory / "scenario.toml").read_text().splitlines()
             if not line.startswith("packages_per_person_per_day")]
    if rate is not None:
        lines.insert(0, f"packages_per_person_per_day = {rate}")
    (directory / "scenario.toml").write_text("\n".join(lines) + "\n")
    result = run_cli("solve", directory, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 2
    assert "scenario.toml" in result.stderr and "packages_per_person_per_day" in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "plan").exists()


def test_review_shows_each_site_load_and_the_zones_partly_served(tmp_path):
    directory = with_capacity(program_instance(tmp_path / "i", seed=0), seed=0, share=0.05)
    result = run_cli("solve", directory, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    figures = check_assignments(read_raw(directory), tmp_path / "plan")
    plan = read_plan(tmp_path / "plan")
    loads = review.capacity_table(plan)
    assert len(loads) and (loads["standing"] == "full").any()
    for site, load in zip(loads["site_id"], loads["same_day_load"]):
        assert load == pytest.approx(figures["load"].get(site, 0.0), abs=1e-6)
    partly = review.partly_served_table(plan)
    zones = plan.zones.set_index("zone_id")
    assert all(0 < zones.loc[z, "same_day_share"] < 1 for z in partly["zone_id"])
    assert len(partly) == int(((zones["same_day_share"] > 0) & ~zones["same_day"]).sum())
    result = run_cli("report", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "plan" / "report.html").read_text()
    assert "<h2>Capacity</h2>" in page and loads["site_id"].iloc[0] in page
    # `place` counts a zone served in part by the people served, as the checker does.
    zone = partly["zone_id"].iloc[0]
    result = run_cli("place", tmp_path / "plan", zone, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    share = figures["share"][[z["zone_id"] for z in read_raw(directory).zones].index(zone)]
    served = re.search(r"same-day ([0-9,.]+) served \(0 in zones served in full", result.stdout)
    people = zones.loc[zone, "population"]
    assert served and float(served[1].replace(",", "")) == pytest.approx(people * share, abs=0.01)
    # A plan without capacities has neither table.
    plain = solve_instance(load_instance(program_instance(tmp_path / "p", seed=0)), SolveOptions())
    assert review.capacity_table(plain).empty and review.partly_served_table(plain).empty


def test_a_capacitated_sweep_writes_checked_plans(tmp_path):
    directory = with_capacity(program_instance(tmp_path / "i", seed=0), seed=0, share=0.05)
    result = run_cli("sweep", directory, "--budgets", "20e6,40e6", "--mip-gap", "0", "--out", tmp_path / "sweep",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sweep = pd.read_csv(tmp_path / "sweep" / "sweep.csv")
    raw = read_raw(directory)
    for budget, plan_dir in zip(sweep["budget"], sweep["plan_dir"]):
        figures = check_assignments(raw, tmp_path / "sweep" / plan_dir)
        single = solve_instance(load_instance(directory).with_budget(budget), EXACT)
        assert figures["served"][-1] == pytest.approx(single.summary["same_day_population"], rel=1e-7)


def test_the_capacitated_variant_follows_its_documented_rule(tmp_path):
    source = small_instance(tmp_path / "source", seed=4)
    out = build_capacity.build(tmp_path / "variant", source)
    instance = load_instance(out)
    capacity = dict(zip(instance.sites["kind"], instance.capacity))
    assert capacity["station"] == build_capacity.CAPACITY_BY_KIND["station"] == 25_000
    assert capacity["candidate"] == build_capacity.CAPACITY_BY_KIND["candidate"]
    assert capacity["center"] == float("inf")  # blank: existing centers are not limited
    assert instance.scenario.packages_per_person_per_day == pytest.approx(18 / 365)
    assert (out / "zones.csv").read_bytes() == (source / "zones.csv").read_bytes()
    # Capacities that are not whole are written in full.
    fractional = load_instance(build_capacity.build(tmp_path / "fractional", source,
                                                    {"station": 0.4, "candidate": 1234.5678901234, "center": 7.0}))
    capacity = dict(zip(fractional.sites["kind"], fractional.capacity))
    assert (capacity["station"], capacity["candidate"], capacity["center"]) == (0.4, 1234.5678901234, 7.0)


@pytest.mark.parametrize("options, words", [
    (["--source", "missing"], "missing: instance directory not found"),
    (["--station", "-5"], "--station must be a finite number >= 0"),
    (["--center", "nan"], "--center must be a finite number >= 0"),
    (["--rate", "0"], "--rate must be a finite number > 0"),
])
def test_a_variant_the_options_cannot_give_is_refused_and_nothing_written(tmp_path, options, words):
    source = small_instance(tmp_path / "source", seed=4)
    built = subprocess.run([sys.executable, "-m", "ruralreach.instances.build_capacity", "--out", "variant",
                            "--source", source, *options], capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 2 and words in built.stderr.splitlines()[-1], built.stderr
    assert "Traceback" not in built.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source"]


def test_a_capacity_above_what_is_left_to_serve_never_binds(tmp_path):
    # Each station and candidate can ship exactly what the zones in its reach ask for, less the
    # zones the existing (unlimited) center serves anyway: it never binds, the model needs no
    # split, and the plan's assignments still keep every capacity.
    directory = program_instance(tmp_path / "i", seed=3, budget=80e6)
    raw = read_raw(directory)
    served = [any(s["kind"] == "center" and s["site_id"] in reach for s in raw.sites) for reach in raw.same_day]
    rate = 0.05
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    sites["capacity"] = [
        "" if kind == "center" else
        f"{sum(int(z['population']) * rate for z, r, done in zip(raw.zones, raw.same_day, served) if sid in r and not done) + 1e-3:.4f}"
        for sid, kind in zip(sites["site_id"], sites["kind"])]
    sites.to_csv(directory / "sites.csv", index=False, lineterminator="\n")
    (directory / "scenario.toml").write_text(f"packages_per_person_per_day = {rate}\n"
                                             + (directory / "scenario.toml").read_text())
    instance = load_instance(directory)
    assert not reduce_problem(instance, compute_reach(instance)).capacitated
    check_capacitated(directory, tmp_path)


def test_capacitated_floors_no_plan_meets_give_the_largest_feasible_share(tmp_path):
    check_largest_feasible_share(with_capacity(program_instance(tmp_path / "i", seed=1, budget=15e6,
                                                                equity=Equity("region", 0.9)), seed=1, share=0.05),
                                 tmp_path)


def test_a_site_with_no_capacity_ships_nothing(tmp_path):
    directory = with_capacity(program_instance(tmp_path / "i", seed=2), seed=2, share=0.05)
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    sites.loc[sites["kind"] != "candidate", "capacity"] = "0"  # the center and every station
    sites.to_csv(directory / "sites.csv", index=False, lineterminator="\n")
    summary = check_capacitated(directory, tmp_path)
    assert summary["baseline_same_day_population"] == 0
    plan = read_plan(tmp_path / "plan")
    assert (plan.assignments["site_id"].map(plan.sites.set_index("site_id")["kind"]) == "candidate").all()


@pytest.mark.parametrize("people", [0.5, 2e-6, 1e-14])
def test_a_capacity_that_serves_a_sliver_of_a_person(people, tmp_path):
    # The existing sites can ship what `people` people ask for a day. Half a person is served as
    # brute force finds; under a millionth of a zone's demand (LEAST_SHARE_SHIPPED, 2e-6 people
    # here against zones of hundreds) a site ships none of it, as at capacity 0: its load
    # coefficient would be past what HiGHS can scale (1e-12 packages a day ended the command in a
    # traceback; 1e-6 in 'error').
    directory = with_capacity(program_instance(tmp_path / "i", seed=2), seed=2, share=0.05)
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    existing = sites["kind"] != "candidate"
    sites.loc[existing, "capacity"] = f"{people * 0.05:.3g}"
    sites.to_csv(directory / "sites.csv", index=False, lineterminator="\n")
    result = run_cli("solve", directory, "--out", tmp_path / "cli", "--mip-gap", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    smallest = pd.read_csv(directory / "zones.csv")["population"].loc[lambda p: p > 0].min()
    if people >= LEAST_SHARE_SHIPPED * smallest:
        summary = check_capacitated(directory, tmp_path)
        assert summary["baseline_same_day_population"] == pytest.approx(people * (sites["kind"] == "center").sum())
    else:
        sites.loc[existing, "capacity"] = "0"
        sites.to_csv(directory / "sites.csv", index=False, lineterminator="\n")
        summary = check_capacitated(directory, tmp_path)
        assert summary["baseline_same_day_population"] == 0
    cli = read_plan(tmp_path / "cli").summary
    assert cli["status"] == "optimal"
    assert cli["same_day_population"] == pytest.approx(summary["same_day_population"], abs=1e-6)


def test_a_floor_no_plan_reaches_is_infeasible_however_small(tmp_path):
    # Some towns are in no site's same-day reach, so any floor above 0 is met by no plan and
    # none of it (the largest share is 0). A share of 1e-14 was once reported optimal with those
    # towns' floors missed in plan.json; a floor under LEAST_FLOOR_PEOPLE is now an input error,
    # and a small one above it (1e-6 of each town: hundredths of a person) is infeasible. (The
    # checker's own LP of the largest share is lenient at this scale: not used.)
    for share in (1e-14, 1e-6):
        directory = with_capacity(program_instance(tmp_path / f"i{share}", seed=1, budget=15e6,
                                                   equity=Equity("town", share)), seed=1, share=0.05)
        result = run_cli("solve", directory, "--mip-gap", "0", "--out", tmp_path / f"plan{share}", cwd=tmp_path)
        if share < 1e-9:
            assert result.returncode == 2 and "field 'equity.min_same_day_share'" in result.stderr, result.stderr
            assert not (tmp_path / f"plan{share}").exists()
            continue
        raw = read_raw(directory)
        assert brute_force(raw) is None and min(reachable_shares(raw).values()) == 0
        assert result.returncode == 0, result.stderr
        plan = read_plan(tmp_path / f"plan{share}")
        assert plan.summary["status"] == "infeasible" and (plan.sites["action"] == "none").all()
        assert plan.summary["equity"]["max_feasible_scale"]["value"] == 0
        assert "floors feasible up to 0.0% of what was asked" in result.stdout
