"""The density fit's Nelder-Mead against scipy's, step for step, and its bounds and budget."""

import numpy as np
import pytest
from scipy.optimize import minimize

from tonemorph.errors import ParameterError
from tonemorph.master.neldermead import nelder_mead


def _rosen(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _bumpy(x: np.ndarray) -> float:
    # several local minima, one inside the box corner: exercises shrinks and clipping
    return float(np.sum(np.sin(7.0 * x) + (x - 0.8) ** 2))


def _simplex(x0: np.ndarray, step: float) -> np.ndarray:
    pts = [x0]
    for i in range(x0.size):
        v = x0.copy()
        v[i] += step if v[i] + step <= 1.0 else -step
        pts.append(v)
    return np.stack(pts)


@pytest.mark.parametrize("fun", [_rosen, _bumpy])
@pytest.mark.parametrize("budget", [(60, 180), (200, 30), (5, 1000), (400, 2000)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_points_and_result_as_scipy(fun, budget, seed):
    maxiter, maxfev = budget
    x0 = np.random.default_rng(seed).uniform(0.1, 0.9, 5)
    sim = _simplex(x0, 0.15)
    ours_calls: list[np.ndarray] = []
    scipy_calls: list[np.ndarray] = []

    def ours(x):
        ours_calls.append(x)
        return fun(x)

    def theirs(x):
        scipy_calls.append(x)
        return fun(x)

    x, val = nelder_mead(ours, sim, np.zeros(5), np.ones(5), maxiter=maxiter, maxfev=maxfev,
                         xatol=1e-3, fatol=1e-4)
    res = minimize(theirs, x0, method="Nelder-Mead", bounds=[(0.0, 1.0)] * 5,
                   options={"maxiter": maxiter, "maxfev": maxfev, "xatol": 1e-3, "fatol": 1e-4,
                            "initial_simplex": sim})
    assert len(ours_calls) == len(scipy_calls) <= maxfev
    np.testing.assert_array_equal(np.stack(ours_calls), np.stack(scipy_calls))
    np.testing.assert_array_equal(x, res.x)
    assert val == res.fun


def test_finds_a_known_minimum_and_stays_in_the_box():
    target = np.array([0.3, 0.7, 1.0])  # the last coordinate's minimum is on the bound

    def fun(x):
        assert np.all((x >= 0.0) & (x <= 1.0))
        return float(np.sum((x - target) ** 2) + 5.0 * max(0.0, 1.0 - x[2]) ** 2)

    x, val = nelder_mead(fun, _simplex(np.full(3, 0.5), 0.2), np.zeros(3), np.ones(3),
                         maxiter=500, maxfev=1500, xatol=1e-6, fatol=1e-12)
    np.testing.assert_allclose(x, target, atol=1e-3)
    assert val == pytest.approx(0.0, abs=1e-6)


def test_a_simplex_above_the_box_is_reflected_inside():
    seen = []
    sim = np.array([[0.5, 0.5], [1.2, 0.5], [0.5, 1.1]])
    nelder_mead(lambda x: seen.append(x) or float(np.sum(x)), sim, np.zeros(2), np.ones(2),
                maxiter=1, maxfev=10)
    np.testing.assert_allclose(seen[1], [0.8, 0.5])
    np.testing.assert_allclose(seen[2], [0.5, 0.9])


@pytest.mark.parametrize("kwargs", [
    {"initial_simplex": np.zeros((3, 3))},
    {"lower": np.ones(2), "upper": np.zeros(2)},
    {"maxiter": 0},
    {"maxfev": 0},
])
def test_bad_arguments_are_refused(kwargs):
    args = {"initial_simplex": np.zeros((3, 2)), "lower": np.zeros(2), "upper": np.ones(2),
            "maxiter": 10, "maxfev": 10} | kwargs
    with pytest.raises(ParameterError):
        nelder_mead(lambda x: 0.0, **args)
