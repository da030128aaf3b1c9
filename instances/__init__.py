"""The instances that ship with ruralreach, and the scripts that build them.

``us-2026/`` is package data: :func:`bundled` finds it however ruralreach was installed (a source
checkout, an editable install or a wheel).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

NATIONAL = "us-2026"


def bundled(name: str = NATIONAL) -> Path:
    """The directory of a bundled instance."""
    return Path(str(files(__name__) / name))
