"""Every kind of bad input stops with exit status 2, one message naming file, line and field, no
traceback, and no plan directory; input that is read but perhaps not as meant is said in a warning."""


import pytest
from conftest import run_cli, with_capacity

from ruralreach.model.instance import PLAN_SITE_COLUMNS, PLAN_ZONE_COLUMNS, InstanceWarning, load_instance
from ruralreach.model.plan import read_plan



def edit_csv(path, line, column, value):
    """Set one field of a CSV file (line 1 is the header)."""
    rows = path.read_text().splitlines()
    header = rows[0].split(",")
    values = rows[line - 1].split(",")
    values[header.index(column)] = value
    rows[line - 1] = ",".join(values)
    path.write_text("\n".join(rows) + "\n")


def drop_column(path, column):
    rows = [r.split(",") for r in path.read_text().splitlines()]
    index = rows[0].index(column)
    path.write_text("\n".join(",".join(r[:index] + r[index + 1:]) for r in rows) + "\n")


def first_line_of_kind(path, kind):
    rows = path.read_text().splitlines()
    index = rows[0].split(",").index("kind")
    return next(n for n, row in enumerate(rows, start=1) if row.split(",")[index] == kind)


def set_scenario(path, key, value):
    lines = [f"{key} = {value}" if line.split("=")[0].strip() == key else line
             for line in path.read_text().splitlines()]
    path.write_text("\n".join(lines) + "\n")


def add_column(path, column, value):
    rows = path.read_text().splitlines()
    path.write_text("\n".join([rows[0] + f",{column}"] + [row + f",{value}" for row in rows[1:]]) + "\n")


def insert_lines(path, after, text):
    """Insert ``text`` (whole lines) after physical line ``after``."""
    rows = path.read_text().splitlines(keepends=True)
    path.write_text("".join(rows[:after]) + text + "".join(rows[after:]))


def replace_file_with_directory(path):
    path.unlink()
    path.mkdir()



def _zones(d): return d / "zones.csv"
def _sites(d): return d / "sites.csv"
def _scenario(d): return d / "scenario.toml"


# Each case: (name, how to break the instance, file, line or None, field or None, words in message)
CASES = [
    ("missing zones file", lambda d: _zones(d).unlink(), "zones.csv", None, None, "not found"),
    ("missing sites file", lambda d: _sites(d).unlink(), "sites.csv", None, None, "not found"),
    ("missing scenario", lambda d: _scenario(d).unlink(), "scenario.toml", None, None, "not found"),
    ("missing zone column", lambda d: drop_column(_zones(d), "population"), "zones.csv", 1, "population", "missing"),
    ("missing site column", lambda d: drop_column(_sites(d), "center_cost"), "sites.csv", 1, "center_cost", "missing"),
    ("duplicate zone id", lambda d: edit_csv(_zones(d), 5, "zone_id", "Z000001"), "zones.csv", 5, "zone_id", "duplicate"),
    ("duplicate site id", lambda d: edit_csv(_sites(d), 4, "site_id", "E00000"), "sites.csv", 4, "site_id", "duplicate"),
    ("zone id with a NUL", lambda d: edit_csv(_zones(d), 5, "zone_id", "Z0\x0001"), "zones.csv", 5, "zone_id",
     "control character"),
    ("site id with a tab", lambda d: edit_csv(_sites(d), 4, "site_id", "E0\t1"), "sites.csv", 4, "site_id",
     "control character"),
    ("non-numeric lat", lambda d: edit_csv(_zones(d), 7, "lat", "north"), "zones.csv", 7, "lat", "not a finite number"),
    ("NaN lon", lambda d: edit_csv(_zones(d), 8, "lon", "NaN"), "zones.csv", 8, "lon", "not a finite number"),
    ("blank site lat", lambda d: edit_csv(_sites(d), 3, "lat", ""), "sites.csv", 3, "lat", "blank"),
    ("latitude out of range", lambda d: edit_csv(_zones(d), 6, "lat", "91"), "zones.csv", 6, "lat", "outside"),
    ("longitude out of range", lambda d: edit_csv(_sites(d), 2, "lon", "-180.5"), "sites.csv", 2, "lon", "outside"),
    ("negative population", lambda d: edit_csv(_zones(d), 9, "population", "-3"), "zones.csv", 9, "population", "negative"),
    ("fractional population", lambda d: edit_csv(_zones(d), 9, "population", "2.5"), "zones.csv", 9, "population", "whole"),
    ("negative cost", lambda d: edit_csv(_sites(d), first_line_of_kind(_sites(d), "candidate"), "station_cost", "-1"),
     "sites.csv", "candidate", "station_cost", "negative"),
    ("unknown kind", lambda d: edit_csv(_sites(d), 3, "kind", "warehouse"), "sites.csv", 3, "kind", "unknown kind"),
    ("missing upgrade cost", lambda d: edit_csv(_sites(d), first_line_of_kind(_sites(d), "station"), "upgrade_cost", ""),
     "sites.csv", "station", "upgrade_cost", "a station needs it"),
    ("missing center cost", lambda d: edit_csv(_sites(d), first_line_of_kind(_sites(d), "candidate"), "center_cost", ""),
     "sites.csv", "candidate", "center_cost", "a candidate needs it"),
    ("zero speed", lambda d: set_scenario(_scenario(d), "speed_mph", "0"), "scenario.toml", 4, "speed_mph", "positive"),
    ("negative circuity", lambda d: set_scenario(_scenario(d), "circuity", "-1.3"), "scenario.toml", 5, "circuity", "positive"),
    ("negative budget", lambda d: set_scenario(_scenario(d), "budget", "-5"), "scenario.toml", 1, "budget", "negative"),
    ("text budget", lambda d: set_scenario(_scenario(d), "budget", '"lots"'), "scenario.toml", 1, "budget", "number"),
    ("missing scenario key", lambda d: _scenario(d).write_text(
        "\n".join(l for l in _scenario(d).read_text().splitlines() if not l.startswith("circuity")) + "\n"),
     "scenario.toml", None, "circuity", "missing"),
    ("unknown zone in travel minutes", lambda d: (d / "travel_minutes.csv").write_text(
        "zone_id,site_id,minutes\nZ000001,E00000,12\nNOPE,E00000,5\n"), "travel_minutes.csv", 3, "zone_id", "unknown id"),
    ("unknown site in travel minutes", lambda d: (d / "travel_minutes.csv").write_text(
        "zone_id,site_id,minutes\nZ000001,E99999,12\n"), "travel_minutes.csv", 2, "site_id", "unknown id"),
    # str.strip() takes a control character for space: "\x1c00" once read as 0 minutes.
    ("a control character before travel minutes", lambda d: (d / "travel_minutes.csv").write_text(
        "zone_id,site_id,minutes\nZ000001,E00000,\x1c00\n"), "travel_minutes.csv", 2, "minutes", "not a finite number"),
    ("a control character after a population", lambda d: edit_csv(_zones(d), 6, "population", "120\x1f"),
     "zones.csv", 6, "population", "not a finite number"),
    # Python's Decimal reads both, as 1000 and 12; no other number of an instance may be written so.
    ("a population in digit groups", lambda d: edit_csv(_zones(d), 6, "population", "1_000"),
     "zones.csv", 6, "population", "not a finite number"),
    ("a population in full-width digits", lambda d: edit_csv(_zones(d), 6, "population", "\uff11\uff12"),
     "zones.csv", 6, "population", "not a finite number"),
    # A megabyte of digits: no number (Decimal would take seconds, int() refuses it), and quoted short.
    ("a population of a million digits", lambda d: edit_csv(_zones(d), 6, "population", "1" * 1_000_000),
     "zones.csv", 6, "population", "is not a finite number: '1111111111111111111111111111111111111111'... "
                                   "(1,000,000 characters)"),
    ("a cost of a million digits", lambda d: edit_csv(_sites(d), first_line_of_kind(_sites(d), "station"),
                                                      "upgrade_cost", "9" * 1_000_000),
     "sites.csv", "station", "upgrade_cost", "(1,000,000 characters)"),
    ("negative travel minutes", lambda d: (d / "travel_minutes.csv").write_text(
        "zone_id,site_id,minutes\nZ000001,E00000,-12\n"), "travel_minutes.csv", 2, "minutes", "negative"),
    # Kept input columns may not shadow a plan column.
    ("site column named like a plan column", lambda d: add_column(_sites(d), "action", "upgrade"),
     "sites.csv", 1, "action", "the plan writes a column of this name"),
    ("zone column named like a plan column", lambda d: add_column(_zones(d), "same_day", "True"),
     "zones.csv", 1, "same_day", "the plan writes a column of this name"),
    # Numbers that cannot be held exactly, or are not plausible money.
    ("population beyond int64", lambda d: edit_csv(_zones(d), 4, "population", str(2**63 - 1)),
     "zones.csv", 4, "population", "cannot be counted exactly"),
    ("population beyond 2**53", lambda d: edit_csv(_zones(d), 4, "population", str(2**53 + 1)),
     "zones.csv", 4, "population", "cannot be counted exactly"),
    ("population total beyond 2**53", lambda d: [edit_csv(_zones(d), line, "population", str(2**52))
                                                 for line in (3, 5)],
     "zones.csv", 5, "population", "cannot be counted exactly"),
    ("absurd cost", lambda d: edit_csv(_sites(d), first_line_of_kind(_sites(d), "station"), "upgrade_cost", "1e16"),
     "sites.csv", "station", "upgrade_cost", "more than 1e+15 USD"),
    ("absurd budget", lambda d: set_scenario(_scenario(d), "budget", "1e300"), "scenario.toml", 1, "budget",
     "more than 1e+15 USD"),
    # Money past a double's digits: $215,697,932,767,301.48 is held as ...301.47, and a plan that
    # spends it to the cent would be refused (and its stage's bound with it).
    ("a cost with more digits than a double", lambda d: edit_csv(_sites(d), first_line_of_kind(_sites(d), "station"),
                                                                 "upgrade_cost", "215697932767301.48"),
     "sites.csv", "station", "upgrade_cost", "more digits than ruralreach can add up exactly"),
    ("a budget with more digits than a double", lambda d: set_scenario(_scenario(d), "budget", "215697932767301.48"),
     "scenario.toml", 1, "budget", "more digits than ruralreach can add up exactly"),
    ("same-day reach beyond next-day", lambda d: set_scenario(_scenario(d), "same_day_minutes", "200"),
     "scenario.toml", 2, "same_day_minutes", "cannot exceed next-day"),
    # A syntax error is placed as every other error is (tomllib before 3.14 said its line only
    # inside its message).
    ("TOML that does not parse", lambda d: set_scenario(_scenario(d), "same_day_minutes", "9 0"),
     "scenario.toml", 2, None, "not valid TOML: Expected newline or end of document after a statement (column"),
    # The file itself.
    ("header-only sites", lambda d: _sites(d).write_text(_sites(d).read_text().splitlines()[0] + "\n"),
     "sites.csv", None, None, "no rows"),
    ("empty zones", lambda d: _zones(d).write_text(""), "zones.csv", None, None, "empty"),
    ("a directory where sites.csv belongs", lambda d: replace_file_with_directory(_sites(d)),
     "sites.csv", None, None, "is not a file"),
    ("a directory where scenario.toml belongs", lambda d: replace_file_with_directory(_scenario(d)),
     "scenario.toml", None, None, "is not a file"),
    ("duplicate column name", lambda d: add_column(_zones(d), "town", "T1"), "zones.csv", 1, "town", "appears twice"),
    ("unnamed column", lambda d: add_column(_zones(d), "", "x"), "zones.csv", 1, None, "has no name"),
    ("a row with too many fields", lambda d: edit_csv(_zones(d), 6, "town", "T1,extra"), "zones.csv", 6, None,
     "has 6 fields, but the header has 5"),
    ("a Latin-1 byte", lambda d: _zones(d).write_bytes(_zones(d).read_bytes().replace(b"T00004", b"T\xe9", 1)),
     "zones.csv", 3, None, "not UTF-8"),
    # A quote left open runs to the end of the file: the line it opens on is named, not the
    # last (when it opened in the last column, the rest of the file was once read as one field).
    ("a quote left open in the last column", lambda d: edit_csv(_zones(d), 4, "town", '"T1'),
     "zones.csv", 4, None, "cannot be read as CSV: unexpected end of data"),
    ("text after a closing quote", lambda d: edit_csv(_zones(d), 4, "town", '"T1"x'),
     "zones.csv", 4, None, "cannot be read as CSV"),
    # Line numbers are the lines an editor shows: blank lines and quoted line breaks count.
    ("a bad value after blank lines", lambda d: (insert_lines(_zones(d), 2, "\n\n"),
                                                 edit_csv(_zones(d), 9, "lat", "north")),
     "zones.csv", 9, "lat", "not a finite number"),
    ("a bad value after a quoted line break", lambda d: (edit_csv(_zones(d), 3, "town", '"two\nlines"'),
                                                         edit_csv(_zones(d), 8, "lat", "north")),
     "zones.csv", 8, "lat", "not a finite number"),
]


@pytest.mark.parametrize("name,breaks,file,line,field,words", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_reported_and_nothing_is_written(name, breaks, file, line, field, words, tiny, tmp_path):
    if isinstance(line, str):  # the first line of a site of that kind
        line = first_line_of_kind(tiny / "sites.csv", line)
    breaks(tiny)
    out = tmp_path / "plan"
    result = run_cli("solve", tiny, "--out", out, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip()
    assert "Traceback" not in result.stderr
    assert len(message.splitlines()) == 1
    assert file in message and words in message
    if line is not None:
        assert f"line {line}" in message
    if field is not None:
        assert f"field '{field}'" in message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no half plan, no temp dir


def test_missing_instance_directory(tmp_path):
    result = run_cli("solve", tmp_path / "nowhere", cwd=tmp_path)
    assert result.returncode == 2
    assert "instance directory not found" in result.stderr
    assert not (tmp_path / "plans").exists()


def test_the_reserved_names_are_the_plan_columns(tiny, tmp_path):
    """The names a kept column may not take are exactly the columns the plan writes besides the
    kept ones (a phased plan with capacities writes all of them), so the rule keeps up with the
    plan format."""
    with_capacity(tiny, seed=1)
    text = (tiny / "scenario.toml").read_text()
    budget = [line for line in text.splitlines() if line.startswith("budget")][0]
    (tiny / "scenario.toml").write_text(text.replace(budget, "") + "\n[[phases]]\nname = 'a'\nbudget = 3e7\n"
                                        "\n[[phases]]\nname = 'b'\nbudget = 3e7\n")
    assert run_cli("solve", tiny, "--out", tmp_path / "plan", cwd=tmp_path).returncode == 0
    plan, instance = read_plan(tmp_path / "plan"), load_instance(tiny)
    assert [c for c in plan.sites.columns if c not in instance.site_extra_columns] == list(PLAN_SITE_COLUMNS)
    assert [c for c in plan.zones.columns if c not in instance.zone_extra_columns] == list(PLAN_ZONE_COLUMNS)


def test_a_kept_column_of_long_text_is_kept(tiny, tmp_path):
    """A kept column may hold text longer than the csv module's default limit of a field (128 KiB):
    a zone's outline as WKT runs to megabytes. It solves, and the plan keeps it whole."""
    outline = "POLYGON((" + ", ".join(f"{i % 180 - 90}.5 {i % 90}.25" for i in range(30_000)) + "))"
    assert len(outline) > 2 * 131_072
    add_column(tiny / "zones.csv", "outline", f'"{outline}"')
    result = run_cli("solve", tiny, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (read_plan(tmp_path / "plan").zones["outline"] == outline).all()


def test_a_scenario_key_nothing_reads_is_solved_with_a_warning(tiny, tmp_path):
    """A key this version does not read (another tool's, a newer version's) is no error, but is
    said, with the key it was likely meant to be: a misspelt optional key leaves its default on."""
    with (tiny / "scenario.toml").open("a") as scenario:
        scenario.write("packages_per_person_per_yr = 20\n")
    line = (tiny / "scenario.toml").read_text().splitlines().index("packages_per_person_per_yr = 20") + 1
    result = run_cli("solve", tiny, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"ruralreach: warning: {tiny / 'scenario.toml'}, line {line}, field 'packages_per_person_per_yr': "
        "unknown key, ignored (did you mean 'packages_per_person_per_year'?)")
    with pytest.warns(InstanceWarning, match="packages_per_person_per_yr"):
        assert load_instance(tiny).scenario.packages_per_person_per_year is None  # the default is in force
    edit_csv(tiny / "zones.csv", 3, "population", "-1")  # with an error as well, the error alone is said
    result = run_cli("solve", tiny, "--out", tmp_path / "other", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "population" in result.stderr, result.stderr


def test_a_circuity_below_one_is_solved_with_a_warning(tiny, tmp_path):
    """Roads shorter than the straight line are no error (the minutes are still defined) but
    likely not meant: the command says so, in one line, and solves."""
    set_scenario(tiny / "scenario.toml", "circuity", "0.5")
    line = (tiny / "scenario.toml").read_text().splitlines().index("circuity = 0.5") + 1
    result = run_cli("solve", tiny, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith(
        f"ruralreach: warning: {tiny / 'scenario.toml'}, line {line}, field 'circuity': 0.5 is below 1")
