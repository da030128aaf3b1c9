"""Dollars in and out: the one parser of amounts and budget lists, and the one set of formatters.

Amounts are written as ``4e9``, ``4000000000``, ``4B``, ``500M``, ``$2.5b``. Budgets are plain
floats in USD everywhere else in ruralreach.
"""

from __future__ import annotations

import decimal
import math
import re

from ruralreach.model.instance import MAX_USD, held_as_written, not_held

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}
# A typo such as 0:8e9:1 would otherwise ask for eight billion plans.
MAX_BUDGETS = 10_000


def parse_usd(text: str) -> float:
    """A dollar amount >= 0; raises ValueError naming the text otherwise."""
    match = re.fullmatch(r"\$?\s*([0-9.eE+_-]+)\s*([kKmMbB]?)", text.strip())
    try:
        value = float(match.group(1)) * _SUFFIX[match.group(2).lower()] if match else None
    except ValueError:
        value = None
    if value is None or value < 0 or not math.isfinite(value):
        raise ValueError(f"not a dollar amount >= 0: {text!r} (try 4e9 or 4B)")
    if value > MAX_USD:
        raise ValueError(f"{text!r} is more than {MAX_USD:g} USD")
    written = decimal.Decimal(match.group(1).replace("_", "")) * decimal.Decimal(int(_SUFFIX[match.group(2).lower()]))
    if not held_as_written(str(written), value):
        raise ValueError(not_held(text))
    return value + 0.0  # -0 is 0


def parse_budgets(text: str) -> list[float]:
    """Budgets from ``FROM:TO:STEP`` (FROM, FROM + STEP, ... up to TO, included where a step lands
    on it) or a list ``A,B,C``, each in the syntax of
    :func:`parse_usd` (``500M:8B:250M``, ``1e9,2e9,4e9``); sorted, without repeats. Raises
    ValueError saying what is wrong."""
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"a budget range is FROM:TO:STEP, got {text!r}")
        start, end, step = (parse_usd(part) for part in parts)
        if step < 0.01 or end < start:
            raise ValueError(f"a budget range needs STEP of a cent or more and TO >= FROM, got {text!r}")
        # The tolerance keeps TO when float steps land a hair short of it (0.1:0.3:0.1).
        count = math.floor((end - start) / step + 1e-9) + 1
        if count > MAX_BUDGETS:
            raise ValueError(f"{text!r} gives {count:,} budgets, more than {MAX_BUDGETS:,}")
        # Budgets are money: rounding to cents removes float dust such as 0.30000000000000004.
        budgets = [round(start + k * step, 2) for k in range(count)]
    else:
        budgets = [parse_usd(part) for part in text.split(",") if part.strip()]
    budgets = sorted(set(budgets))
    if not budgets:
        raise ValueError(f"no budgets in {text!r}")
    if len(budgets) > MAX_BUDGETS:
        raise ValueError(f"{len(budgets):,} budgets, more than {MAX_BUDGETS:,}")
    return budgets


def budget_label(budget: float) -> str:
    """A budget as it appears in file names: whole dollars, or the shortest text that reads back
    as the same budget (no two budgets share a plan's directory)."""
    return f"{budget:.0f}" if float(budget).is_integer() else repr(float(budget))


def usd_millions(value: float) -> str:
    """``$3,999.9M``: costs and budgets in tables and summaries; under a million, every dollar
    (``$200``, ``$12.50``), which tenths of a million would show as nothing."""
    if 0 < abs(value) < 1e6:
        return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"
    return f"${value / 1e6:,.1f}M"


def usd_short(value: float) -> str:
    """``$4B``, ``$2.75B``, ``$500M``: budgets on chart axes and in progress lines."""
    for unit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= unit:
            return f"${value / unit:,.4g}{suffix}"
    return f"${value:,.0f}"


def usd_whole(value: float) -> str:
    """``$4,000,000,000``: every dollar (and cent, where there are any), where exact amounts are
    compared."""
    return f"${value:,.0f}" if float(value).is_integer() else f"${value:,.2f}"
