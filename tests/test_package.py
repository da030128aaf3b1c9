"""The package as a user installs it: one import package, ``ruralreach``, whose layers import one
way (model <- solvers <- application), and a wheel that carries the national instance."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import ruralreach

ROOT = Path(__file__).resolve().parents[1]
# Where each subpackage's source lives (pyproject.toml's package-dir).
SOURCE = {"ruralreach": ROOT / "ruralreach", "ruralreach.model": ROOT / "model",
          "ruralreach.solvers": ROOT / "solvers", "ruralreach.instances": ROOT / "instances"}
# What each layer may import from the package besides itself.
ALLOWED = {
    "ruralreach.model": set(),
    "ruralreach.solvers": {"ruralreach.model"},
    "ruralreach.instances": {"ruralreach.model"},
    "ruralreach": {"ruralreach.model", "ruralreach.solvers", "ruralreach.instances"},
}


def package_modules() -> dict[str, Path]:
    modules = {}
    for package, folder in SOURCE.items():
        for path in folder.glob("*.py"):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def layer(module: str) -> str:
    for package in ("ruralreach.model", "ruralreach.solvers", "ruralreach.instances"):
        if module == package or module.startswith(package + "."):
            return package
    return "ruralreach"


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports, anywhere in it (deferred imports count)."""
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known and name != module}
    return found


def test_layers_import_one_way_and_without_cycles():
    modules = package_modules()
    graph = {m: imports_of(m, path, set(modules)) for m, path in modules.items()}
    for module, targets in graph.items():
        for target in targets:
            if layer(target) != layer(module):
                assert layer(target) in ALLOWED[layer(module)], f"{module} imports {target}"
    # A depth-first search that fails on a back edge: a cycle.
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            assert state.get(target) != "open", "import cycle: " + " -> ".join(trail + [module, target])
            if target not in state:
                visit(target, trail + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_check_anyone_can_run():
    result = subprocess.run([sys.executable, "-c", "import ruralreach, ruralreach.model, ruralreach.solvers"],
                            capture_output=True, text=True, cwd=ROOT.parent)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    (path,) = out.glob("ruralreach-*.whl")
    return path


def test_wheel_has_one_top_level_package_and_the_national_instance(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"ruralreach"}
    for instance in ("us-2026", "us-2026-program"):
        for data in ("zones.csv", "sites.csv", "scenario.toml", "README.md"):
            assert f"ruralreach/instances/{instance}/{data}" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "ruralreach = ruralreach.__main__:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_wheel_solves_the_bundled_instance_from_an_empty_folder(wheel, tmp_path):
    """The wheel installed on its own (its dependencies from this environment), run where no
    source checkout is in reach: the default instance is the packaged one, and there is no
    top-level ``model`` to import."""
    target, empty = tmp_path / "site", tmp_path / "empty"
    empty.mkdir()
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}

    def run(*args):
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=empty, env=env,
                              timeout=600)

    where = run("-c", "import ruralreach.cli as c; print(c.__file__); print(c.DEFAULT_INSTANCE)")
    assert where.returncode == 0, where.stderr
    module_file, instance_dir = where.stdout.split()
    assert Path(module_file).is_relative_to(target) and Path(instance_dir).is_relative_to(target)
    assert run("-c", "import model").returncode != 0
    solve = run("-m", "ruralreach", "solve", "--budget", "100M", "--out", "plan")
    assert solve.returncode == 0, solve.stderr
    summary = (empty / "plan" / "plan.json").read_text()
    assert '"zones": 33056' in summary and '"name": "us-2026"' in summary
    assert sorted(p.name for p in empty.iterdir()) == ["plan"]


def test_version_is_the_distribution_version():
    assert ruralreach.__version__ != "0+unknown"
