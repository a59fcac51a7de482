"""Output gain: the limited whole programme is predicted from its loud excerpts, against
limiting the whole programme itself (the meter and limiter run independently of the search)."""

from __future__ import annotations

import numpy as np
import pytest
from master_music import stereo_music

from tonemorph.dsp.limiter import LimiterConfig, limit
from tonemorph.master.gain import block_powers, find_output_gain, level_map, lufs_of, moved

SR = 44100


def test_level_map_of_a_pure_gain_moves_every_block_by_it() -> None:
    x = stereo_music(6.0, SR, seed=1).astype(np.float64)
    before = block_powers(x, SR)
    levels, change = level_map(before, block_powers(x * 10 ** (-4.5 / 20), SR))
    np.testing.assert_allclose(change, -4.5, atol=1e-9)
    assert np.all(np.diff(levels) >= 0)
    np.testing.assert_allclose(moved(before, levels, change), before * 10 ** (-0.45), rtol=1e-9)


def test_moved_holds_the_map_above_and_shrinks_a_cut_below_it() -> None:
    levels, change = np.array([-20.0, -10.0]), np.array([0.0, -3.0])
    out = moved(np.array([1e-4, 1e-3, 1e-1, 1.0]), levels, change)  # -40, -30, -10, 0 dB
    np.testing.assert_allclose(10 * np.log10(out), [-40.0, -30.0, -13.0, -3.0], atol=1e-9)
    # below the quietest level a cut shrinks by a dB per dB (peaks that much lower)
    levels, change = np.array([-20.0, -10.0]), np.array([-4.0, -6.0])
    out = moved(10 ** (np.array([-22.0, -30.0, -15.0]) / 10), levels, change)
    np.testing.assert_allclose(10 * np.log10(out), [-24.0, -30.0, -20.0], atol=1e-9)
    # a boost below the map is held
    out = moved(np.array([1e-3]), np.array([-20.0, -10.0]), np.array([2.0, 0.0]))
    np.testing.assert_allclose(10 * np.log10(out), [-28.0], atol=1e-9)


@pytest.mark.parametrize("quiet_db", [-6.0, -12.0])
def test_whole_programme_from_its_loud_excerpt(quiet_db: float) -> None:
    # a programme whose loud half is its excerpt: pushed to -10 LUFS the limiter takes the
    # loud half down by several dB and the quiet half by less
    loud = stereo_music(10.0, SR, seed=2).astype(np.float64)
    quiet = stereo_music(10.0, SR, seed=3).astype(np.float64) * 10 ** (quiet_db / 20)
    whole = np.concatenate([quiet, loud], axis=1)
    cfg = LimiterConfig(ceiling_dbtp=-1.0)
    target = -10.0

    gain_db, predicted, capped = find_output_gain(loud, SR, target, cfg,
                                                  whole_blocks=block_powers(whole, SR),
                                                  max_limiting_db=20.0)
    got = lufs_of(limit(whole * 10 ** (gain_db / 20), SR, cfg), SR)
    assert not capped
    assert predicted == pytest.approx(target, abs=0.05)
    assert got == pytest.approx(target, abs=0.15)
    # the excerpt alone at the same gain is limited much more: a fixed offset (the excerpt's
    # loudness over the whole's, before limiting) would miss by that difference
    offset = lufs_of(loud, SR) - lufs_of(whole, SR)
    naive = lufs_of(limit(loud * 10 ** (gain_db / 20), SR, cfg), SR) - offset
    assert abs(naive - target) > max(0.2, 2 * abs(got - target))


def test_without_whole_blocks_the_excerpt_is_the_programme() -> None:
    x = stereo_music(8.0, SR, seed=4).astype(np.float64)
    cfg = LimiterConfig(ceiling_dbtp=-1.0)
    gain_db, predicted, _ = find_output_gain(x, SR, -10.0, cfg, max_limiting_db=20.0)
    got = lufs_of(limit(x * 10 ** (gain_db / 20), SR, cfg), SR)
    assert got == pytest.approx(predicted, abs=1e-6)
    assert got == pytest.approx(-10.0, abs=0.03)
