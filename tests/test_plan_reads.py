"""Reading a plan back (report, place, notebooks, other tools' plans): a plan whose files are not
what the plan format says stops with one line naming the file, the line and the field (or key),
exit status 2, and nothing written; a plan extended with keys and columns of its own reads."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli, small_instance, with_capacity
from ruralreach.model.plan import PlanReadError, read_plan


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    """A capacitated tiny instance's plan (so it has assignments.csv too)."""
    root = tmp_path_factory.mktemp("reads")
    instance = with_capacity(small_instance(root / "tiny", seed=3), seed=3)
    result = run_cli("solve", instance, "--out", root / "plan", cwd=root)
    assert result.returncode == 0, result.stderr
    assert (root / "plan" / "assignments.csv").is_file()
    return root / "plan"


def edit_json(edit):
    def damage(plan: Path) -> None:
        summary = json.loads((plan / "plan.json").read_text())
        summary = edit(summary)
        (plan / "plan.json").write_text(json.dumps(summary))
    return damage


def edit_csv(name: str, edit):
    def damage(plan: Path) -> None:
        lines = (plan / name).read_text().splitlines(keepends=True)
        (plan / name).write_text("".join(edit(lines)))
    return damage


def set_cell(row: int, column: str, value: str):
    """Row ``row`` of the data (1 is the first after the header), field ``column``, becomes ``value``."""
    def edit(lines):
        header = lines[0].rstrip("\n").split(",")
        fields = lines[row].rstrip("\n").split(",")
        fields[header.index(column)] = value
        lines[row] = ",".join(fields) + "\n"
        return lines
    return edit


def without_column(column: str):
    def edit(lines):
        position = lines[0].rstrip("\n").split(",").index(column)
        return [",".join(f for i, f in enumerate(line.rstrip("\n").split(",")) if i != position) + "\n"
                for line in lines]
    return edit


def renamed_column(column: str, name: str):
    def edit(lines):
        lines[0] = ",".join(name if field == column else field for field in lines[0].rstrip("\n").split(",")) + "\n"
        return lines
    return edit


def cut_off(plan: Path, name: str) -> None:
    text = (plan / name).read_bytes()
    (plan / name).write_bytes(text[:len(text) * 2 // 3])


def write_bytes(name: str, data: bytes):
    def damage(plan: Path) -> None:
        (plan / name).write_bytes(data)
    return damage


def the_stage_bound_as_text(summary):
    summary["stages"][1]["bound"] = "about a million"
    return summary


# (what is wrong, how to do it, what the one line must name besides the file)
DAMAGES = [
    ("plan.json cut off", lambda plan: cut_off(plan, "plan.json"), ("plan.json", "line ", "is not JSON")),
    ("plan.json not UTF-8", write_bytes("plan.json", b'{"status": "opt\xe9mal"}'), ("plan.json", "UTF-8")),
    ("plan.json a list", write_bytes("plan.json", b"[1, 2]"), ("plan.json", "is not of type 'object'")),
    ("a required key missing", edit_json(lambda s: {k: v for k, v in s.items() if k != "stages"}),
     ("plan.json", "'stages' is a required property")),
    ("a stage's bound as text", edit_json(the_stage_bound_as_text),
     ("plan.json", "field 'stages[1].bound'", "'about a million' is not of type")),
    ("an unknown status", edit_json(lambda s: {**s, "status": "done"}), ("plan.json", "field 'status'", "'done'")),
    ("zones.csv cut off", lambda plan: cut_off(plan, "zones.csv"), ("zones.csv", "line ", "but the header has")),
    ("a population not whole", edit_csv("zones.csv", set_cell(3, "population", "12.5")),
     ("zones.csv", "line 4", "field 'population'", "is not a whole number: '12.5'")),
    ("a flag that is not True or False", edit_csv("zones.csv", set_cell(2, "same_day", "yes")),
     ("zones.csv", "line 3", "field 'same_day'", "is not True or False: 'yes'")),
    ("a column missing", edit_csv("zones.csv", without_column("lat")),
     ("zones.csv", "line 1", "field 'lat'", "required column is missing")),
    ("a column named twice", edit_csv("zones.csv", renamed_column("lon", "lat")),
     ("zones.csv", "line 1", "field 'lat'", "this column name appears twice")),
    ("a cost that is not a number", edit_csv("sites.csv", set_cell(1, "cost", "lots")),
     ("sites.csv", "line 2", "field 'cost'", "is not a finite number: 'lots'")),
    ("sites.csv empty", write_bytes("sites.csv", b""), ("sites.csv", "is empty")),
    ("a shipment that is not a number", edit_csv("assignments.csv", set_cell(1, "packages_per_day", "-")),
     ("assignments.csv", "line 2", "field 'packages_per_day'")),
    # Values of the right type that the format does not hold.
    ("an unknown action", edit_csv("sites.csv", set_cell(1, "action", "upgradf")),
     ("sites.csv", "line 2", "field 'action'", "'upgradf' is not one of none, upgrade")),
    ("an unknown kind", edit_csv("sites.csv", set_cell(2, "kind", "depot")),
     ("sites.csv", "line 3", "field 'kind'", "'depot' is not one of center, station, candidate")),
    ("an action the site's kind cannot take",
     edit_csv("sites.csv", lambda lines: set_cell(1, "action", "upgrade")(set_cell(1, "kind", "center")(lines))),
     ("sites.csv", "line 2", "field 'action'", "'upgrade' is not an action for a center")),
    ("a negative cost", edit_csv("sites.csv", set_cell(1, "cost", "-5")),
     ("sites.csv", "line 2", "field 'cost'", "must not be negative, got -5")),
    ("a latitude past the pole", edit_csv("zones.csv", set_cell(2, "lat", "91")),
     ("zones.csv", "line 3", "field 'lat'", "outside [-90, 90]")),
    ("a zone listed twice", edit_csv("zones.csv", lambda lines: [*lines[:2], lines[1], *lines[2:]]),
     ("zones.csv", "line 3", "field 'zone_id'", "duplicate id")),
    ("a negative shipment", edit_csv("assignments.csv", set_cell(1, "packages_per_day", "-1")),
     ("assignments.csv", "line 2", "field 'packages_per_day'", "must not be negative, got -1")),
]


@pytest.mark.parametrize("what, damage, named", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_a_damaged_plan_is_named_and_nothing_is_written(solved, tmp_path, what, damage, named):
    plan = tmp_path / "plan"
    shutil.copytree(solved, plan)
    damage(plan)
    before = sorted(p.name for p in plan.iterdir())
    with pytest.raises(PlanReadError) as raised:
        read_plan(plan)
    for part in named:
        assert part in str(raised.value), (what, str(raised.value))
    result = run_cli("report", plan, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"ruralreach: error: {raised.value}", result.stderr
    assert sorted(p.name for p in plan.iterdir()) == before  # no report.html


def test_place_names_a_damaged_plan_too(solved, tmp_path):
    plan = tmp_path / "plan"
    shutil.copytree(solved, plan)
    zone = read_plan(plan).zones["zone_id"].iloc[0]
    edit_csv("zones.csv", set_cell(4, "next_day_before", "maybe"))(plan)
    result = run_cli("place", plan, zone, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"ruralreach: error: {plan / 'zones.csv'}, line 5, field 'next_day_before': "
                                     "is not True or False: 'maybe'")


def test_a_plan_extended_with_its_own_keys_and_columns_reads(solved, tmp_path):
    """The format is extended with optional keys and columns: another tool's additions are kept."""
    plan = tmp_path / "plan"
    shutil.copytree(solved, plan)
    edit_json(lambda s: {**s, "reviewed_by": {"name": "a planner"}})(plan)
    edit_csv("sites.csv", lambda lines: [lines[0].rstrip("\n") + ",note\n"] +
             [line.rstrip("\n") + ",ok\n" for line in lines[1:]])(plan)
    whole = read_plan(plan)
    assert whole.summary["reviewed_by"] == {"name": "a planner"}
    assert (whole.sites["note"] == "ok").all()
    assert whole.zones["population"].sum() == read_plan(solved).zones["population"].sum()
    result = run_cli("report", plan, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (plan / "report.html").is_file()
