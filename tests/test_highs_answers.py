"""HiGHS's MIP answers are checked before they are believed. On a small MIP (``data/highs-presolve``,
the next-day stage of a tiny phased capacitated instance) HiGHS 1.16's presolve says
``Infeasible``, and given the optimal plan as a start says ``Optimal`` at an objective and bound
above what that plan is worth. :func:`ruralreach.solvers.highs.run_mip` solves such a MIP again
without presolve; its answer must be the brute-force optimum of the instance the MIP came from."""

from pathlib import Path

import highspy
import numpy as np
import pytest
from checker import brute_force, read_raw
from conftest import with_capacity
from test_program import program_instance

from ruralreach.model.instance import Phase
from ruralreach.solvers.highs import run_mip

MIP = Path(__file__).parent / "data" / "highs-presolve" / "next_day.mps"


def loaded(**options) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    for key, value in options.items():
        h.setOptionValue(key, value)
    h.readModel(str(MIP))
    return h


def objective_of(h: highspy.Highs, values) -> float:
    lp = h.getLp()
    return float(np.asarray(lp.col_cost_) @ np.asarray(values) + lp.offset_)


@pytest.fixture(scope="module")
def optimum(tmp_path_factory) -> float:
    """The instance's next-day optimum (two phases, weighted), by the checker's brute force."""
    directory = tmp_path_factory.mktemp("instance") / "i"
    with_capacity(program_instance(directory, seed=1, phases=[Phase("2025", 20e6), Phase("2026", 30e6, 1.5)],
                                   stations=2, candidates=2), seed=1, share=0.2)
    return brute_force(read_raw(directory))[1]


@pytest.fixture(scope="module")
def optimal_plan(optimum) -> np.ndarray:
    h = loaded(presolve="off")
    h.run()
    values = np.asarray(h.getSolution().col_value)
    assert objective_of(h, values) == pytest.approx(optimum, abs=0.5)
    return values


def test_highs_presolve_answers_this_mip_wrongly(optimal_plan, optimum):
    # The fault run_mip guards against: if a HiGHS release fixes it, this MIP no longer tests the guard.
    h = loaded()
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
        pytest.skip(f"HiGHS {highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR} solves this MIP with presolve")
    h = loaded()
    start = highspy.HighsSolution()
    start.col_value, start.value_valid = list(optimal_plan), True
    h.setSolution(start)
    h.run()
    reported = h.getInfo().objective_function_value
    assert reported > optimum + 100
    assert objective_of(h, h.getSolution().col_value) == pytest.approx(optimum, abs=0.5)


@pytest.mark.parametrize("with_start", [False, True])
def test_run_mip_solves_again_without_presolve_and_finds_the_optimum(with_start, optimal_plan, optimum):
    h = loaded()
    lp = h.getLp()
    seconds, stands = run_mip(h, None, np.asarray(lp.col_cost_), lp.offset_,
                              start=optimal_plan if with_start else None)
    info = h.getInfo()
    assert stands and seconds > 0
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert info.objective_function_value == pytest.approx(optimum, abs=0.5)
    assert info.mip_dual_bound == pytest.approx(optimum, abs=0.5)
    assert objective_of(h, h.getSolution().col_value) == pytest.approx(optimum, abs=0.5)
    assert h.getOptionValue("presolve")[1] == "choose"  # restored for the solves after
