import subprocess
import sys
from pathlib import Path

import pytest

from ruralreach.instances.generate import GeneratorParameters, generate
from ruralreach.model.instance import write_instance

# A region of about 300 x 250 miles: small enough that reach limits matter both ways.
SMALL_REGION = dict(south=40.0, north=44.0, west=-100.0, east=-95.0)


def small_instance(directory: Path, *, seed: int, zones: int = 40, centers: int = 1, stations: int = 3,
                   candidates: int = 4, budget: float = 60e6, **overrides) -> Path:
    """A tiny random instance written to ``directory`` (small enough to enumerate every plan)."""
    params = GeneratorParameters(zones=zones, centers=centers, stations=stations, candidates=candidates,
                                 seed=seed, budget=budget,
                                 **{"towns": max(2, zones // 5), **SMALL_REGION, **overrides})
    return write_instance(directory, *generate(params))


@pytest.fixture
def tiny(tmp_path) -> Path:
    return small_instance(tmp_path / "tiny", seed=7)


def run_cli(*args, cwd, timeout: float = 600) -> subprocess.CompletedProcess:
    """The ruralreach command as a user runs it, in a child process started in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "ruralreach", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout)
