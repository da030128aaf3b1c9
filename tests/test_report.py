"""Reviewing plans: the report functions' numbers, both notebooks run top to bottom, the
``ruralreach report`` command, and the HTML page opened in a real headless browser."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, small_instance

from ruralreach import review
from ruralreach.model.instance import load_instance
from ruralreach.model.plan import Plan, read_plan, write_plan
from ruralreach.money import budget_label
from ruralreach.pipeline import prepare, solve_prepared
from ruralreach.solvers.highs import SolveOptions
from ruralreach.sweep import run_sweep

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
BUDGETS = (0.0, 20e6, 40e6, 80e6)
PLAN_BUDGET = 40e6
STATES = ("IA", "KS", "NE")


def add_national_columns(instance_dir: Path) -> None:
    """Give a generated instance the optional zone columns of the national one."""
    zones = pd.read_csv(instance_dir / "zones.csv", dtype=str, keep_default_na=False)
    rng = np.random.default_rng(3)
    lon = zones["lon"].astype(float)
    zones["state"] = np.array(STATES)[np.digitize(lon, np.quantile(lon, [1 / 3, 2 / 3]))]
    zones["primary_city"] = "Town " + zones["town"]
    zones["land_area_sq_mi"] = rng.uniform(5, 400, len(zones)).round(3).astype(str)
    population = zones["population"].astype(int)
    zones["urbanicity_tier"] = np.array(["rural", "suburban", "urban"])[np.digitize(population, [1000, 4000])]
    zones["small_town"] = np.where(population < 3000, "True", "False")
    zones.to_csv(instance_dir / "zones.csv", index=False, lineterminator="\n")


def write_sweep(instance_dir: Path, sweep_dir: Path) -> Path:
    """A sweep directory as ``ruralreach sweep`` writes it: one plan per budget and sweep.csv."""
    run_sweep(instance_dir, list(BUDGETS), SolveOptions(mip_gap=0.0), out=sweep_dir, workers=1, progress=False)
    return sweep_dir


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    instance_dir = small_instance(root / "plains", seed=11, zones=80, centers=1, stations=4, candidates=8,
                                  budget=PLAN_BUDGET)
    add_national_columns(instance_dir)
    return write_sweep(instance_dir, root / "sweep")


@pytest.fixture(scope="module")
def plan_dir(sweep_dir) -> Path:
    return sweep_dir / f"budget-{budget_label(PLAN_BUDGET)}"


@pytest.fixture(scope="module")
def plan(plan_dir) -> Plan:
    return read_plan(plan_dir)


def test_the_review_plan_gains_something(plan):
    """The fixture plan has newly same-day zones, sites with actions and zones left out, so the
    checks below are not vacuous."""
    s, zones = plan.summary, plan.zones
    assert s["status"] == "optimal"
    assert s["same_day_population"] > s["baseline_same_day_population"] > 0
    assert (plan.sites["action"] != "none").sum() >= 2
    assert (~zones["same_day"]).any() and (zones["small_town"] == "True").any()


def test_headline_agrees_with_plan_json(plan, plan_dir):
    summary = json.loads((plan_dir / "plan.json").read_text())
    zones = pd.read_csv(plan_dir / "zones.csv", dtype=str, keep_default_na=False)
    same_day, before = zones["same_day"] == "True", zones["same_day_before"] == "True"
    table = review.headline_table(plan)
    row = table.to_dict("index")

    def check(measure, expected_before, expected_after):
        assert (row[measure]["before"], row[measure]["after"]) == (expected_before, expected_after), measure
        if expected_before is not None:
            assert row[measure]["change"] == pytest.approx(expected_after - expected_before)

    check("same-day population", summary["baseline_same_day_population"], summary["same_day_population"])
    check("next-day population", summary["baseline_next_day_population"], summary["next_day_population"])
    total = summary["total_population"]
    assert row["same-day share of population"]["after"] == pytest.approx(summary["same_day_population"] / total)
    check("zones (ZIP codes) within same-day reach", int(before.sum()), int(same_day.sum()))
    area = zones["land_area_sq_mi"].astype(float)
    assert row["square miles within same-day reach"]["after"] == pytest.approx(area[same_day].sum())
    assert row["square miles within same-day reach"]["before"] == pytest.approx(area[before].sum())
    small = zones["small_town"] == "True"
    towns = {(r.state, r.primary_city) for r in zones[small & same_day].itertuples()}
    towns_before = {(r.state, r.primary_city) for r in zones[small & before].itertuples()}
    check("small towns within same-day reach", len(towns_before), len(towns))
    check("cost", 0.0, summary["cost"])
    check("budget", None, summary["budget"])
    check("stations upgraded to service centers", None, summary["actions"]["upgrade"])
    check("new delivery stations", None, summary["actions"]["open_station"])
    check("new service centers", None, summary["actions"]["open_center"])
    check("largest stage gap", None, max(s["mip_gap"] for s in summary["stages"] if s["mip_gap"] is not None))
    check("status", None, summary["status"])
    shown = review.formatted(table)
    assert shown.loc["same-day population", "after"] == f"{summary['same_day_population']:,}"
    assert shown.loc["budget", "after"] == f"${summary['budget'] / 1e6:,.1f}M"


@pytest.mark.parametrize("column", ["state", "urbanicity_tier"])
def test_coverage_by_sums_to_the_plan_totals(plan, column):
    table = review.coverage_by(plan, column)
    s = plan.summary
    groups, total = table.drop(index="total"), table.loc["total"]
    assert set(groups.index) == set(plan.zones[column])
    expected = {"zones": len(plan.zones), "population": s["total_population"],
                "same_day_before": s["baseline_same_day_population"], "same_day_after": s["same_day_population"],
                "next_day_before": s["baseline_next_day_population"], "next_day_after": s["next_day_population"]}
    for name, value in expected.items():
        assert groups[name].sum() == value == total[name], name
    assert total["same_day_share_after"] == pytest.approx(s["same_day_population"] / s["total_population"])
    assert ((table["same_day_share_before"] <= table["same_day_share_after"])
            & (table["same_day_share_after"] <= 1)).all()
    if column == "urbanicity_tier":  # sparsest first, as a planner reads them
        assert list(groups.index) == [t for t in review.TIER_ORDER if t in set(groups.index)]


def test_sites_table_lists_the_sites_with_an_action_by_same_day_gain(plan):
    table = review.sites_table(plan)
    acted = plan.sites[plan.sites["action"] != "none"]
    assert sorted(table["site_id"]) == sorted(acted["site_id"])
    assert table["same_day_gain"].is_monotonic_decreasing
    # Each newly same-day zone is credited to its nearest inventory site, which is a new one.
    s = plan.summary
    assert table["new_same_day_population"].sum() == s["same_day_population"] - s["baseline_same_day_population"]
    nearest = plan.zones["nearest_inventory_site"].value_counts()
    for row in table.itertuples():
        assert row.nearest_zones == nearest.get(row.site_id, 0)
        assert row.same_day_gain <= row.new_same_day_population <= row.nearest_population


def test_instance_without_national_columns_degrades(tiny, tmp_path):
    """A generated instance lacks state, tier, land area and small towns: those rows and tables
    are left out, and the map is one panel of the instance's extent."""
    plan = solve_prepared(prepare(load_instance(tiny)), 60e6, SolveOptions())
    write_plan(plan, tmp_path / "plan")
    measures = set(review.headline_table(plan).index)
    assert "same-day population" in measures
    assert not {"square miles within same-day reach", "small towns within same-day reach"} & measures
    with pytest.raises(KeyError, match="state"):
        review.coverage_by(plan, "state")
    assert len(review.coverage_map(plan).axes) == 1
    page = review.write_report(tmp_path / "plan").read_text()
    assert "Headline" in page and "Coverage by state" not in page


def test_map_of_a_us_instance_has_alaska_and_hawaii_insets(plan):
    zones = plan.zones.copy()
    zones.loc[zones.index[:3], ["lat", "lon"]] = [61.2, -149.9]  # Anchorage
    zones.loc[zones.index[3:5], ["lat", "lon"]] = [52.9, 173.2]  # Attu, past the 180th meridian
    zones.loc[zones.index[5:8], ["lat", "lon"]] = [21.3, -157.9]  # Honolulu
    figure = review.coverage_map(Plan(plan.summary, plan.sites, zones))
    assert len(figure.axes) == 3
    drawn = sum(len(c.get_offsets()) for ax in figure.axes for c in ax.collections[:len(review.ZONE_CLASSES)])
    assert drawn == len(zones)
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert any(label.startswith("newly same-day") for label in labels)


def test_sweep_marginal_table(sweep_dir):
    sweep = pd.read_csv(sweep_dir / "sweep.csv")
    table = review.sweep_marginal_table(sweep_dir)
    assert list(table["budget"]) == sorted(BUDGETS)
    # The $0 budget is the baseline, and what is added telescopes to the largest budget's gain.
    assert table["same_day_population"].iloc[0] == sweep["baseline_same_day_population"].iloc[0]
    assert np.isnan(table["previous_budget"].iloc[0]) and np.isnan(table["same_day_per_100m"].iloc[0])
    assert table["new_same_day"].iloc[1:].sum() == (sweep["same_day_population"].iloc[-1]
                                                     - sweep["baseline_same_day_population"].iloc[0])
    step = table.iloc[2]
    assert step["same_day_per_100m"] == pytest.approx(
        (step["same_day_population"] - table["same_day_population"].iloc[1]) / (BUDGETS[2] - BUDGETS[1]) * 1e8)


def test_sites_entering(sweep_dir):
    table = review.sites_entering(sweep_dir).set_index("site_id")
    actions = {b: pd.read_csv(sweep_dir / f"budget-{budget_label(b)}" / "sites.csv", dtype=str)
               .set_index("site_id")["action"] for b in BUDGETS}
    acted = {site for b in BUDGETS for site in actions[b].index[actions[b] != "none"]}
    assert set(table.index) == acted and acted
    for site, row in table.iterrows():
        assert actions[row["first_budget"]][site] == row["first_action"] != "none"
        assert all(actions[b][site] == "none" for b in BUDGETS if b < row["first_budget"])
        assert row["plans"] == sum(actions[b][site] != "none" for b in BUDGETS)
        assert row["action_at_largest_budget"] == actions[max(BUDGETS)][site]


def test_sweep_curve_marks_budgets_not_proven_optimal(sweep_dir, tmp_path):
    copy = shutil.copytree(sweep_dir, tmp_path / "sweep")
    sweep = pd.read_csv(copy / "sweep.csv")
    sweep.loc[2, "status"] = "time_limit"
    sweep.to_csv(copy / "sweep.csv", index=False)
    top, bottom = review.sweep_curve(copy).axes
    assert "not proven optimal (time_limit)" in [t.get_text() for t in top.get_legend().get_texts()]
    assert sum(bool(bar.get_hatch()) for bar in bottom.patches) == 1
    assert review.figure_png(review.sweep_curve(sweep_dir)).startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory) -> str:
    """A Jupyter kernel running this very Python, registered in a private Jupyter path, so the
    notebooks run against the installed project whatever kernels the machine has."""
    pytest.importorskip("papermill")
    pytest.importorskip("ipykernel")
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / "ruralreach-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "ruralreach test", "language": "python",
    }))
    patch = pytest.MonkeyPatch()
    patch.setenv("JUPYTER_PATH", str(root))
    yield "ruralreach-test"
    patch.undo()


@pytest.mark.parametrize("notebook, parameter", [("review_plan.ipynb", "plan_dir"), ("budget_sweep.ipynb", "sweep_dir")])
def test_notebook_runs_top_to_bottom(notebook, parameter, kernel_name, plan_dir, sweep_dir, tmp_path):
    import nbformat
    import papermill

    source = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    assert all(not cell.get("outputs") for cell in source.cells if cell.cell_type == "code"), "commit outputs cleared"
    assert "parameters" in source.cells[1].metadata.get("tags", [])
    value = {"plan_dir": plan_dir, "sweep_dir": sweep_dir}[parameter]
    # Raises PapermillExecutionError, naming the cell, on any cell error.
    papermill.execute_notebook(str(NOTEBOOKS / notebook), str(tmp_path / notebook),
                               parameters={parameter: str(value)}, kernel_name=kernel_name, cwd=str(tmp_path),
                               progress_bar=False, execution_timeout=120)
    ran = nbformat.read(tmp_path / notebook, as_version=4)
    outputs = [o for cell in ran.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure is shown"
    assert sum("text/html" in o.get("data", {}) for o in outputs) >= 3, "the tables are shown"



def test_the_review_notebook_runs_on_a_plan_that_found_nothing(kernel_name, tmp_path):
    """A plan no plan within the budget meets the floors of takes no action: the review notebook
    runs on it top to bottom, says no plan was found, and holds nothing against the program."""
    import nbformat
    import papermill
    from test_program import program_instance

    from ruralreach.model.instance import Equity

    directory = program_instance(tmp_path / "i", seed=0, budget=5e6, equity=Equity("region", 0.97))
    result = run_cli("solve", directory, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert read_plan(tmp_path / "plan").summary["status"] == "infeasible"
    papermill.execute_notebook(str(NOTEBOOKS / "review_plan.ipynb"), str(tmp_path / "ran.ipynb"),
                               parameters={"plan_dir": str(tmp_path / "plan")}, kernel_name=kernel_name,
                               cwd=str(tmp_path), progress_bar=False, execution_timeout=120)
    ran = nbformat.read(tmp_path / "ran.ipynb", as_version=4)
    outputs = [o for cell in ran.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("status: infeasible (no plan was found: it takes no action)" in o.get("text", "") for o in outputs)
    yardsticks = next(cell for cell in ran.cells if "yardstick_table" in cell.source)
    assert yardsticks.outputs[0]["data"]["text/plain"].startswith("Empty DataFrame")  # no row, no "short"


def test_cli_report_writes_the_page(plan_dir, tmp_path):
    target = shutil.copytree(plan_dir, tmp_path / "plan")
    result = run_cli("report", target, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == target / "report.html" and (target / "report.html").is_file()


@pytest.mark.parametrize("what", ["missing", "empty", "instance"])
def test_cli_report_refuses_what_is_not_a_plan(what, tiny, tmp_path):
    directory = {"missing": tmp_path / "nowhere", "empty": tmp_path, "instance": tiny}[what]
    result = run_cli("report", directory, cwd=tmp_path)
    assert result.returncode == 2
    missing = "plan.json, sites.csv, zones.csv" if what != "instance" else "plan.json"
    assert f"is not a plan directory: {missing} missing" in result.stderr and "Traceback" not in result.stderr
    assert not (Path(directory) / "report.html").exists()


def test_cli_report_and_place_name_the_file_a_plan_lacks(plan_dir, tmp_path):
    target = shutil.copytree(plan_dir, tmp_path / "plan")
    (target / "zones.csv").unlink()
    for command in (["report", target], ["place", target, "Z000001"]):
        result = run_cli(*command, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr == \
            f"ruralreach: error: {target} is not a plan directory: zones.csv missing (a plan has plan.json, " \
            "sites.csv, zones.csv, as solve writes them)\n"


def test_a_report_html_that_is_a_directory_is_left_as_it_is(plan_dir, tmp_path):
    target = shutil.copytree(plan_dir, tmp_path / "plan")
    (target / "report.html").mkdir()
    (target / "report.html" / "mine.txt").write_text("mine")
    result = run_cli("report", target, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert (target / "report.html" / "mine.txt").read_text() == "mine"


def test_a_report_goes_into_a_plan_beside_other_files(plan_dir, tmp_path):
    """A report is added to the plan; notes kept beside it are left as they are."""
    target = shutil.copytree(plan_dir, tmp_path / "plan")
    (target / "notes.txt").write_text("mine")
    result = run_cli("report", target, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (target / "report.html").is_file() and (target / "notes.txt").read_text() == "mine"


def test_the_plan_is_held_from_its_read_to_its_report(plan_dir, tmp_path, monkeypatch):
    """A solve into the plan's place while its report is made is refused: the report would
    otherwise go into the new plan."""
    target = shutil.copytree(plan_dir, tmp_path / "plan")
    tiny = small_instance(tmp_path / "tiny", seed=7)
    render = review.report_html
    seen = []

    def render_with_a_writer_waiting(plan):
        seen.append(run_cli("solve", tiny, "--out", target, cwd=tmp_path))
        return render(plan)

    monkeypatch.setattr(review, "report_html", render_with_a_writer_waiting)
    review.write_report(target)
    assert seen[0].returncode == 1 and "being written by another ruralreach" in seen[0].stderr, seen[0].stderr
    assert read_plan(target).summary["instance"]["name"] != "tiny"


@pytest.fixture(scope="module")
def report_page(plan_dir) -> Path:
    return review.write_report(plan_dir)


def test_report_page_is_self_contained(report_page):
    page = report_page.read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"(href|src)\s*=\s*[\"'](?!data:)", page), "every resource is inline"
    assert not re.search(r"https?://", page)
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 1
    for title in ("Headline", "Map", "Sites in the plan", "Coverage by state", "Coverage by density tier"):
        assert f"<h2>{title}</h2>" in page


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                    reason="needs Chromium and its driver (Debian: apt-get install chromium chromium-driver)")
def test_report_page_renders_in_headless_chromium(report_page, plan, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1400,1000",
                 # No name resolves: the page must open offline.
                 "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(report_page.as_uri())
        images = driver.execute_script(
            "return Array.from(document.images, i => [i.complete, i.naturalWidth, i.naturalHeight]);")
        tables = driver.execute_script("return document.querySelectorAll('table').length;")
        heading = driver.execute_script("return document.querySelector('h1').textContent;")
        errors = [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').filter(r => !r.name.startsWith('data:')).length;")
    finally:
        driver.quit()
    assert plan.summary["instance"]["name"] in heading
    assert images and all(complete and width > 0 and height > 0 for complete, width, height in images), images
    assert tables == 5  # headline, yardsticks, sites, by state, by density tier
    assert not errors, errors
    assert fetched == 0
