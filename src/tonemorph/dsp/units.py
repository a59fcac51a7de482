"""Unit conversions between decibels and linear amplitude or power ratios.

Scalars give Python floats, arrays give arrays of the same shape. The dB helpers floor their
result (and map ratios <= 0) at ``floor_db``: DB_FLOOR (-200 dB) unless told otherwise.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["DB_FLOOR", "db_to_gain", "gain_to_db", "one_pole_coef", "power_to_db"]

DB_FLOOR = -200.0
"""Level reported for digital silence (dB): the floor of `gain_to_db` and `power_to_db`."""


def db_to_gain(gain_db: float | np.ndarray) -> float | np.ndarray:
    """Amplitude ratio of a gain in dB: 10 ** (gain_db / 20)."""
    gain = 10.0 ** (np.asarray(gain_db, dtype=np.float64) / 20.0)
    return float(gain) if gain.ndim == 0 else gain


def _floored_log10(ratio: float | np.ndarray, scale: float, floor_db: float) -> float | np.ndarray:
    """scale * log10(ratio) (dB), floored at floor_db; ratios <= 0 give floor_db."""
    r = np.asarray(ratio)
    with np.errstate(divide="ignore", invalid="ignore"):
        db = np.where(r > 0, scale * np.log10(np.where(r > 0, r, 1.0)), floor_db)
    db = np.maximum(db, floor_db)
    return float(db) if db.ndim == 0 else db


def gain_to_db(gain: float | np.ndarray, floor_db: float = DB_FLOOR) -> float | np.ndarray:
    """Amplitude ratio to dB (20 log10), floored at floor_db (dB; -inf for no floor)."""
    return _floored_log10(gain, 20.0, floor_db)


def one_pole_coef(time_ms: float, rate_hz: float) -> float:
    """Per-step decay of a one-pole smoother with time constant time_ms (ms) updated at
    rate_hz (Hz): exp(-1 / (time * rate)), it covers 1 - 1/e of a step in time_ms."""
    return math.exp(-1000.0 / (time_ms * rate_hz))


def power_to_db(power: float | np.ndarray, floor_db: float = DB_FLOOR) -> float | np.ndarray:
    """Power ratio (mean square) to dB (10 log10), floored at floor_db (dB; -inf for no floor)."""
    return _floored_log10(power, 10.0, floor_db)
