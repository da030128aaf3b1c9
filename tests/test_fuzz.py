"""Hundreds of random corruptions of a valid tiny instance: cells, columns, types, rows, bytes,
truncation, encodings, the scenario. Each run of ``ruralreach solve`` must either exit 0 with a
plan the independent checker agrees with, or exit 2 with one line and nothing written.

Seeded and replayable: case N is ``pytest tests/test_fuzz.py -k "corruption and [N]"``, and its
corruptions are named in any failure. A third as many cases corrupt the same instance with
capacities (its plans' assignments are checked too). ``RURALREACH_FUZZ_CASES`` sets how many cases run (default
300). The cases run in this process, through ``ruralreach.cli.main``; a few run as a user runs the
command, in a child process.
"""

import os
import random
import shutil
from pathlib import Path

import pytest
from checker import capacitated, check_assignments, evaluate, read_raw
from conftest import run_cli, small_instance, with_capacity

from ruralreach.cli import main
from ruralreach.model.plan import read_plan

CASES = int(os.environ.get("RURALREACH_FUZZ_CASES", "300"))
FILES = ("zones.csv", "sites.csv", "scenario.toml", "travel_minutes.csv")
VALUES = ["", " ", "nan", "NaN", "inf", "-inf", "-1", "0", "-0", "1", "2.5", "1e3", "+7", "1e308", "1e-300",
          "1e16", str(2**53 + 1), str(2**63 - 1), str(2**64), "abc", "1,5", '"', '""', "\x00", "é", "90", "-90",
          "180", "-180", "90.0001", "station", "center", "candidate", "warehouse", "True", "  12  ", "0x10",
          "1_000", "Z000003", "E00001", "N00002", "action", "same_day"]
PLAN_COLUMNS = ["action", "cost", "same_day_gain", "same_day", "next_day", "nearest_inventory_site", "kind"]


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    directory = small_instance(tmp_path_factory.mktemp("valid") / "tiny", seed=7)
    # A travel_minutes.csv too, so that its corruptions are tried.
    (directory / "travel_minutes.csv").write_text("zone_id,site_id,minutes\nZ000001,E00000,12\nZ000002,N00001,200\n")
    return directory


@pytest.fixture(scope="module")
def valid_capacitated(valid, tmp_path_factory) -> Path:
    """The same instance with capacities that bind (and the scenario's demand rate)."""
    directory = tmp_path_factory.mktemp("capacitated") / "tiny"
    shutil.copytree(valid, directory)
    return with_capacity(directory, seed=7, share=0.1)


# ----------------------------------------------------------------------------- corruptions


def _rows(text: str) -> list[list[str]]:
    return [line.split(",") for line in text.split("\n") if line != ""]


def _text(rows: list[list[str]]) -> str:
    return "\n".join(",".join(row) for row in rows) + "\n"


def cell(rng, data: bytes) -> tuple[bytes, str]:
    rows = _rows(data.decode())
    r, c = rng.randrange(len(rows)), rng.randrange(len(rows[0]))
    if c < len(rows[r]):
        rows[r][c] = value = rng.choice(VALUES)
        return _text(rows).encode(), f"cell line {r + 1} column {c + 1} = {value!r}"
    return data, "no cell"


def column(rng, data: bytes) -> tuple[bytes, str]:
    rows = _rows(data.decode())
    c = rng.randrange(len(rows[0]))
    how = rng.choice(["drop", "duplicate", "rename", "add", "as text"])
    if how == "drop":
        rows = [row[:c] + row[c + 1:] for row in rows]
    elif how == "duplicate":
        rows = [row + row[c:c + 1] for row in rows]
    elif how == "rename":
        rows[0][c] = rng.choice(PLAN_COLUMNS + ["x", "", " lat", "LAT"])
    elif how == "add":
        rows = [rows[0] + [rng.choice(PLAN_COLUMNS + ["note"])]] + [row + [rng.choice(VALUES)] for row in rows[1:]]
    else:
        rows = [rows[0]] + [row[:c] + [f"n{row[c]}"] + row[c + 1:] if c < len(row) else row for row in rows[1:]]
    return _text(rows).encode(), f"column {c + 1} {how}"


def row(rng, data: bytes) -> tuple[bytes, str]:
    lines = data.decode().split("\n")
    r = rng.randrange(len(lines))
    how = rng.choice(["delete", "duplicate", "blank lines", "swap", "quoted line break", "CRLF"])
    if how == "delete":
        del lines[r]
    elif how == "duplicate":
        lines.insert(r, lines[r])
    elif how == "blank lines":
        lines[r:r] = ["", "  "]
    elif how == "swap":
        s = rng.randrange(len(lines))
        lines[r], lines[s] = lines[s], lines[r]
    elif how == "quoted line break":
        lines[r] = lines[r] + ',"a\nb"'
    else:
        return data.replace(b"\n", b"\r\n"), "CRLF line ends"
    return "\n".join(lines).encode(), f"row {r + 1} {how}"


def byte(rng, data: bytes) -> tuple[bytes, str]:
    at = rng.randrange(len(data))
    how = rng.choice(["flip", "insert", "delete"])
    new = bytes([rng.randrange(256)])
    changed = {"flip": data[:at] + new + data[at + 1:], "insert": data[:at] + new + data[at:],
               "delete": data[:at] + data[at + 1:]}[how]
    return changed, f"byte {at} {how} {new!r}"


def truncate(rng, data: bytes) -> tuple[bytes, str]:
    at = rng.randrange(len(data) + 1)
    return data[:at], f"cut at byte {at} of {len(data)}"


def encoding(rng, data: bytes) -> tuple[bytes, str]:
    how = rng.choice(["utf-16", "latin-1 accent", "utf-8 bom", "utf-8 accent", "empty"])
    text = data.decode()
    changed = {"utf-16": lambda: text.encode("utf-16"),
               "latin-1 accent": lambda: text.replace("0", "é", 1).encode("latin-1"),
               "utf-8 bom": lambda: b"\xef\xbb\xbf" + data,
               "utf-8 accent": lambda: text.replace("0", "é", 1).encode("utf-8"),
               "empty": lambda: b""}[how]()
    return changed, how


def scenario(rng, data: bytes) -> tuple[bytes, str]:
    lines = data.decode().splitlines()
    r = rng.randrange(len(lines))
    key = lines[r].split("=")[0].strip()
    how = rng.choice(["value", "drop", "garbage"])
    if how == "value":
        value = rng.choice(["0", "-1", "1e400", "nan", "inf", "1e16", '"90"', "true", "[1]", "0.0001", "1e300",
                            "10", "200", "5e7", "1e15"])
        lines[r] = f"{key} = {value}"
    elif how == "drop":
        del lines[r]
    else:
        lines[r] = lines[r][: rng.randrange(len(lines[r]) + 1)]
    return ("\n".join(lines) + "\n").encode(), f"{how} {lines[r] if how != 'drop' and r < len(lines) else key!r}"


CSV_CORRUPTIONS = (cell, cell, column, row, byte, truncate, encoding)


def corrupt(directory: Path, rng: random.Random) -> list[str]:
    """One to three corruptions of the instance in ``directory``; what was done, in words."""
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        name = rng.choice(FILES)
        path = directory / name
        data = path.read_bytes()
        if not data:
            continue
        how = rng.choice((scenario, byte, truncate, encoding) if name == "scenario.toml" else CSV_CORRUPTIONS)
        try:
            changed, words = how(rng, data)
        except (UnicodeDecodeError, UnicodeEncodeError):  # an earlier corruption made it binary
            changed, words = byte(rng, data)
        path.write_bytes(changed)
        done.append(f"{name}: {words}")
    return done


# ----------------------------------------------------------------------------- the runs


def check_outcome(status: int, stderr: str, instance: Path, out: Path, done: list[str]) -> None:
    why = f"corruptions {done}, stderr {stderr!r}"
    if status == 0:
        plan = read_plan(out)
        raw = read_raw(instance)
        check = evaluate(raw, dict(zip(plan.sites["site_id"], plan.sites["action"])))
        if capacitated(raw):
            check_assignments(raw, out)
            assert check["same_day_population"] == pytest.approx(plan.summary["same_day_population"], abs=0.01), why
        else:
            assert check["same_day_population"] == plan.summary["same_day_population"], why
        assert check["next_day_population"] == plan.summary["next_day_population"], why
        assert check["cost"] == pytest.approx(plan.summary["cost"], abs=0.01), why
        assert plan.summary["cost"] <= raw.scenario["budget"] + 0.01, why
    else:
        assert status == 2, why
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ruralreach: error: "), why
        assert "Traceback" not in stderr, why
        assert sorted(p.name for p in out.parent.iterdir()) == ["tiny"], why  # nothing written, nothing left


def prepared_case(valid: Path, tmp_path: Path, case: int) -> tuple[Path, list[str]]:
    instance = tmp_path / "tiny"
    shutil.copytree(valid, instance)
    return instance, corrupt(instance, random.Random(case))


@pytest.mark.parametrize("case", range(CASES))
def test_corruption(valid, tmp_path, capsys, case):
    instance, done = prepared_case(valid, tmp_path, case)
    out = tmp_path / "plan"
    status = main(["solve", str(instance), "--out", str(out)])
    check_outcome(status, capsys.readouterr().err, instance, out, done)


@pytest.mark.parametrize("case", range(CASES // 3))
def test_corruption_with_capacity(valid_capacitated, tmp_path, capsys, case):
    instance, done = prepared_case(valid_capacitated, tmp_path, 100_000 + case)
    out = tmp_path / "plan"
    status = main(["solve", str(instance), "--out", str(out)])
    check_outcome(status, capsys.readouterr().err, instance, out, done)


@pytest.mark.parametrize("case", [3, 17, 42, 101, 256])
def test_corruption_as_a_user_runs_it(valid, tmp_path, case):
    instance, done = prepared_case(valid, tmp_path, case)
    out = tmp_path / "plan"
    result = run_cli("solve", instance, "--out", out, cwd=tmp_path)
    check_outcome(result.returncode, result.stderr, instance, out, done)
