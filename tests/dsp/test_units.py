"""dB conversions (`tonemorph.dsp.units`) against the closed forms, floors and array shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tonemorph.dsp.units import DB_FLOOR, db_to_gain, gain_to_db, power_to_db


def test_scalars_follow_the_closed_forms() -> None:
    assert db_to_gain(-6.0) == pytest.approx(10 ** (-6 / 20), rel=1e-15)
    assert db_to_gain(0.0) == 1.0
    assert isinstance(db_to_gain(3.0), float)
    assert gain_to_db(0.5) == pytest.approx(20 * math.log10(0.5), rel=1e-15)
    assert power_to_db(0.5) == pytest.approx(10 * math.log10(0.5), rel=1e-15)
    assert isinstance(gain_to_db(2.0), float) and isinstance(power_to_db(2.0), float)
    for db in (-120.0, -3.0, 0.0, 12.5):
        assert gain_to_db(db_to_gain(db)) == pytest.approx(db, abs=1e-12)
        assert power_to_db(db_to_gain(db) ** 2) == pytest.approx(db, abs=1e-12)


def test_floors_for_silence_tiny_and_negative_ratios() -> None:
    assert gain_to_db(0.0) == DB_FLOOR == -200.0
    assert gain_to_db(1e-12) == DB_FLOOR  # -240 dB is floored
    assert gain_to_db(-1.0) == DB_FLOOR
    assert power_to_db(0.0) == DB_FLOOR
    assert gain_to_db(0.0, floor_db=-math.inf) == -math.inf
    assert gain_to_db(1e-12, floor_db=-math.inf) == pytest.approx(-240.0)
    assert power_to_db(1e-3, floor_db=-20.0) == -20.0


def test_arrays_keep_their_shape_without_warnings() -> None:
    x = np.array([[0.0, 1e-3, 1.0], [2.0, -1.0, 1e-15]])
    with np.errstate(all="raise"):
        db = gain_to_db(x)
        p = power_to_db(x)
    assert db.shape == x.shape and p.shape == x.shape
    np.testing.assert_allclose(db, [[-200.0, -60.0, 0.0], [20 * math.log10(2.0), -200.0, -200.0]])
    np.testing.assert_allclose(p, [[-200.0, -30.0, 0.0], [10 * math.log10(2.0), -200.0, -150.0]])
    np.testing.assert_allclose(db_to_gain(np.array([-20.0, 0.0, 20.0])), [0.1, 1.0, 10.0])
