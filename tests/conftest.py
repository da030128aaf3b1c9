import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ruralreach.instances.generate import GeneratorParameters, generate
from ruralreach.model.instance import write_instance


def plans(problem):
    """Every choice of a covering problem with at most one option per site (brute force: small
    problems only)."""
    for chosen in itertools.product([False, True], repeat=problem.n_options):
        chosen = np.array(chosen, dtype=bool)
        if np.unique(problem.option_site[chosen]).size == chosen.sum():
            yield chosen


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
