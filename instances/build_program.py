"""Build ``instances/us-2026-program``: the national network read as the program announced it.

The program is phased (4,000+ small towns with same/next-day service by end of 2025; 13,000+ ZIP
codes and 1.2M square miles by end of 2026, from the same $4B) and says that small towns gain
same/next-day service they lacked. ``us-2026`` gives 99.6% of people next-day reach before any
action, because its next-day promise reaches 180 minutes from any delivery site. This instance
keeps the same zones and sites, byte for byte, and changes the scenario only:

- ``next_day_minutes = 90``: a next-day promise is as far as a delivery station's daily van
  routes reach, the same distance a service center's same-day routes reach (``same_day_minutes``
  is 90 in both). At 90 minutes 4,985 small towns have neither same-day nor next-day reach before
  any action, which fits the program's 4,000+.
- two phases, 2025 and 2026, of $2B each: the program states $4B by end of 2026 and no split, so
  the money is spread evenly; weights 1 (a person reached in 2025 counts once for 2025 and once
  for 2026).
- the yardsticks' assumptions at their documented defaults, written out so a planner sees them.

Usage: ``python -m ruralreach.instances.build_program [--out DIR]``
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

from ruralreach.instances import run_builder
from ruralreach.model.instance import ASSUMPTIONS, Phase, load_instance, scenario_toml

SOURCE = Path(__file__).resolve().parent / "us-2026"
DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "us-2026-program"
NEXT_DAY_MINUTES = 90
PHASES = (Phase("2025", 2_000_000_000), Phase("2026", 2_000_000_000))
DATA_FILES = ("zones.csv", "sites.csv")


def build(out_dir: Path = DEFAULT_OUT_DIR, source: Path = SOURCE) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        shutil.copyfile(source / name, out_dir / name)
    scenario = replace(
        load_instance(source).scenario,
        name="us-2026-program",
        description="The national network of us-2026, with a next-day promise as far as a station's daily "
                    "routes reach and the program's two phases (2025, 2026).",
        next_day_minutes=float(NEXT_DAY_MINUTES),
        phases=PHASES,
        **ASSUMPTIONS,
    )
    (out_dir / "scenario.toml").write_text(scenario_toml(scenario), encoding="utf-8", newline="\n")
    (out_dir / "README.md").write_text(README, encoding="utf-8", newline="\n")


README = f"""# us-2026-program

The zones and sites of `us-2026` (the same files, byte for byte), with the scenario read as the
program announced it. Built by `python -m ruralreach.instances.build_program`; every choice is in
that script's docstring:

- `next_day_minutes = {NEXT_DAY_MINUTES}`: a next-day promise reaches as far as a delivery station's daily
  van routes, as far as a service center's same-day routes; `us-2026`'s 180 minutes give 99.6% of
  people next-day reach before any action, which contradicts the program's 4,000+ small towns
  that lack it.
- phases 2025 and 2026 of $2B each (the program states $4B by end of 2026 and no split).
- the assumptions behind the packages and promised-days yardsticks, at their defaults.

Solve it with `ruralreach solve us-2026-program` (a bundled instance is found by name).
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT_DIR, help="output directory")
    out = parser.parse_args(argv).out
    run_builder("build_program", lambda: build(out), (OSError,))


if __name__ == "__main__":
    main()
