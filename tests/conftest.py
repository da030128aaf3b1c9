import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from ruralreach.instances.generate import GeneratorParameters, generate
from ruralreach.model.instance import write_instance
from ruralreach.model.reduce import CoveringProblem


def plans(problem):
    """Every choice of a covering problem with at most one option per site (brute force: small
    problems only)."""
    for chosen in itertools.product([False, True], repeat=problem.n_options):
        chosen = np.array(chosen, dtype=bool)
        if np.unique(problem.option_site[chosen]).size == chosen.sum():
            yield chosen


def every_choice(problem):
    """Every set of a covering problem's options, whatever its sites (brute force: small problems
    only)."""
    for chosen in itertools.product([False, True], repeat=problem.n_options):
        yield np.array(chosen, dtype=bool)


def upgrades_problem(same_day_cover, same_day_population, next_day_cover=None, next_day_population=None, *,
                     budget: float, same_day_fixed: float = 0) -> CoveringProblem:
    """A covering problem written by hand: one upgrade per site, each costing $1M, reaching the
    rows their columns of the cover matrices (rows x options, 0/1) say."""
    same = sparse.csr_matrix(np.asarray(same_day_cover, dtype=np.int8))
    n = same.shape[1]
    nxt = sparse.csr_matrix((0, n), dtype=np.int8) if next_day_cover is None else sparse.csr_matrix(
        np.asarray(next_day_cover, dtype=np.int8))
    return CoveringProblem(option_site=np.arange(n), option_action=np.full(n, "upgrade", dtype=object),
                           option_cost=np.full(n, 1e6), budget=budget,
                           same_day_population=np.asarray(same_day_population), same_day_cover=same,
                           next_day_population=np.asarray([] if next_day_population is None else next_day_population,
                                                          dtype=np.int64),
                           next_day_cover=nxt, same_day_fixed=same_day_fixed, next_day_fixed=0)


# A region of about 300 x 250 miles: small enough that reach limits matter both ways.
SMALL_REGION = dict(south=40.0, north=44.0, west=-100.0, east=-95.0)


def small_instance(directory: Path, *, seed: int, zones: int = 40, centers: int = 1, stations: int = 3,
                   candidates: int = 4, budget: float = 60e6, **overrides) -> Path:
    """A tiny random instance written to ``directory`` (small enough to enumerate every plan)."""
    params = GeneratorParameters(zones=zones, centers=centers, stations=stations, candidates=candidates,
                                 seed=seed, budget=budget,
                                 **{"towns": max(2, zones // 5), **SMALL_REGION, **overrides})
    return write_instance(directory, *generate(params))


def with_capacity(directory: Path, *, seed: int, share: float = 0.25, rate: float = 0.05,
                  blank: float = 0.2) -> Path:
    """Give an instance capacities that bind: each site (a share ``blank`` left unlimited) ships at
    most ``share`` x 0.3-1.5 of all zones' same-day demand, at ``rate`` packages a day a person."""
    directory = Path(directory)
    sites = pd.read_csv(directory / "sites.csv", dtype=str, keep_default_na=False)
    population = pd.read_csv(directory / "zones.csv")["population"].sum()
    rng = np.random.default_rng(seed)
    sites["capacity"] = [f"{population * rate * share * rng.uniform(0.3, 1.5):.1f}" if rng.random() >= blank else ""
                         for _ in range(len(sites))]
    sites.to_csv(directory / "sites.csv", index=False, lineterminator="\n")
    scenario = (directory / "scenario.toml").read_text(encoding="utf-8")
    (directory / "scenario.toml").write_text(f"packages_per_person_per_day = {rate}\n" + scenario, encoding="utf-8")
    return directory


@pytest.fixture
def tiny(tmp_path) -> Path:
    return small_instance(tmp_path / "tiny", seed=7)


def run_cli(*args, cwd, timeout: float = 600) -> subprocess.CompletedProcess:
    """The ruralreach command as a user runs it, in a child process started in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "ruralreach", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)


def assert_one_usage_line(stderr: str) -> None:
    """A usage error is one line, as every other error, with where the usage is."""
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ruralreach") and ": error: " in lines[0], stderr
    assert lines[0].endswith(" --help)"), stderr
