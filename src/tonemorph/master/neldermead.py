"""Bounded Nelder-Mead: the density fit's derivative-free search, without scipy.optimize.

Written out because importing `scipy.optimize` costs ~0.07-0.12 s of every `master` run (it
pulls in linear programming, sparse linear algebra and more) for this one loop. The steps are
the classic ones (reflection 1, expansion 2, contraction 0.5, shrink 0.5) in the order of
scipy's `minimize(method="Nelder-Mead", bounds=...)`: every trial point is clipped into the
box, and the search stops at the first of maxiter iterations, maxfev evaluations, or a simplex
within xatol of its best point whose values are within fatol of the best. Given the same
function and start, it takes the same steps as scipy's (a test compares them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tonemorph.errors import ParameterError

__all__ = ["nelder_mead"]

_REFLECT, _EXPAND, _CONTRACT, _SHRINK = 1.0, 2.0, 0.5, 0.5


class _OutOfEvaluations(Exception):
    """The evaluation budget is spent (ends the search where it stands)."""


def nelder_mead(
    fun: Callable[[np.ndarray], float],
    initial_simplex: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    maxiter: int,
    maxfev: int,
    xatol: float = 1e-4,
    fatol: float = 1e-4,
) -> tuple[np.ndarray, float]:
    """Minimise fun inside the box [lower, upper] from an (n+1, n) simplex; (best x, its value).

    Points above `upper` in the first simplex are reflected into the box, then every point is
    clipped to it. fun gets a copy of each point and must return a number.
    """
    sim = np.array(initial_simplex, dtype=np.float64)
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] + 1:
        raise ParameterError(f"initial_simplex must be (n + 1, n), got {sim.shape}.")
    lo, hi = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    if np.any(lo > hi):
        raise ParameterError("every lower bound must be at most its upper bound.")
    if maxiter < 1 or maxfev < 1:
        raise ParameterError(f"maxiter and maxfev must be >= 1, got {maxiter}, {maxfev}.")
    n = sim.shape[1]
    sim = np.clip(np.where(sim > hi, 2.0 * hi - sim, sim), lo, hi)
    calls = 0

    def f(x: np.ndarray) -> float:
        nonlocal calls
        if calls >= maxfev:
            raise _OutOfEvaluations
        calls += 1
        return float(fun(np.copy(x)))

    fsim = np.full(n + 1, np.inf)
    try:
        for k in range(n + 1):
            fsim[k] = f(sim[k])
    except _OutOfEvaluations:
        pass
    order = np.argsort(fsim)
    sim, fsim = sim[order], fsim[order]

    iterations = 1
    while calls < maxfev and iterations < maxiter:
        if (np.max(np.abs(sim[1:] - sim[0])) <= xatol
                and np.max(np.abs(fsim[0] - fsim[1:])) <= fatol):
            break
        try:
            _step(f, sim, fsim, lo, hi)
            iterations += 1
        except _OutOfEvaluations:
            pass
        order = np.argsort(fsim)
        sim, fsim = sim[order], fsim[order]
    return sim[0], float(np.min(fsim))


def _step(f: Callable[[np.ndarray], float], sim: np.ndarray, fsim: np.ndarray,
          lo: np.ndarray, hi: np.ndarray) -> None:
    """One Nelder-Mead iteration on a simplex sorted best first, in place."""
    n = sim.shape[1]
    centre = np.add.reduce(sim[:-1], 0) / n
    worst = sim[-1]
    xr = np.clip((1 + _REFLECT) * centre - _REFLECT * worst, lo, hi)
    fr = f(xr)
    if fr < fsim[0]:
        xe = np.clip((1 + _REFLECT * _EXPAND) * centre - _REFLECT * _EXPAND * worst, lo, hi)
        fe = f(xe)
        sim[-1], fsim[-1] = (xe, fe) if fe < fr else (xr, fr)
        return
    if fr < fsim[-2]:
        sim[-1], fsim[-1] = xr, fr
        return
    if fr < fsim[-1]:  # outside contraction
        xc = np.clip((1 + _CONTRACT * _REFLECT) * centre - _CONTRACT * _REFLECT * worst, lo, hi)
        fc = f(xc)
        if fc <= fr:
            sim[-1], fsim[-1] = xc, fc
            return
    else:  # inside contraction
        xcc = np.clip((1 - _CONTRACT) * centre + _CONTRACT * worst, lo, hi)
        fcc = f(xcc)
        if fcc < fsim[-1]:
            sim[-1], fsim[-1] = xcc, fcc
            return
    for j in range(1, n + 1):  # shrink towards the best point
        sim[j] = np.clip(sim[0] + _SHRINK * (sim[j] - sim[0]), lo, hi)
        fsim[j] = f(sim[j])
