"""The instances that ship with ruralreach, and the scripts that build them.

``us-2026/`` (the national instance) and ``us-2026-program/`` (the same network read as the
program announced it: phased, with a shorter next-day promise) are package data: :func:`bundled`
finds them however ruralreach was installed (a source checkout, an editable install or a wheel).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

NATIONAL = "us-2026"


def bundled(name: str = NATIONAL) -> Path:
    """The directory of a bundled instance."""
    return Path(str(files(__name__) / name))


def bundled_names() -> list[str]:
    """The names of the bundled instances."""
    root = files(__name__)
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir() and (entry / "scenario.toml").is_file())


def instance_path(text: str | Path) -> Path:
    """An instance directory as a user names it: a path, or else the name of a bundled instance."""
    path = Path(text)
    if not path.exists() and str(text) in bundled_names():
        return bundled(str(text))
    return path


def run_builder(name: str, build: Callable[[], object], errors: tuple[type[Exception], ...]) -> None:
    """A builder's command: ``build()``, and an error it can explain (``errors``: options no
    instance can meet, a source that is not one, an --out it cannot write) as one line and exit
    status 2, as argparse says a bad option, instead of a traceback."""
    try:
        build()
    except errors as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(2)
