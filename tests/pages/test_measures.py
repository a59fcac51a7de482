"""Report measurements against plain loops, pyloudnorm and known signals."""

from __future__ import annotations

import io
import math

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from signals import brick_wall, guitar_line, sine, white_noise

from tonemorph.dsp.loudness import true_peak_dbtp as whole
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.pages import measures as A

SR = 48000


def test_excerpt_window_finds_the_playing() -> None:
    x = np.zeros(20 * SR)
    x[11 * SR: 15 * SR] = sine(220.0, 4.0, SR)[0]
    start, stop = A.excerpt_window(x, SR, 5.0)
    assert stop - start == 5 * SR
    assert start <= 11 * SR and stop >= 15 * SR
    assert A.excerpt_window(x[: 3 * SR], SR, 5.0) == (0, 3 * SR)
    with pytest.raises(ParameterError):
        A.excerpt_window(x, SR, 0.0)


def test_excerpt_window_prefers_louder_among_equally_active() -> None:
    quiet, loud = 0.05 * white_noise(4.0, SR, seed=1)[0], 0.5 * white_noise(4.0, SR, seed=2)[0]
    x = np.concatenate([quiet, np.zeros(SR), loud, np.zeros(SR)])
    start, _ = A.excerpt_window(x, SR, 4.0)
    assert abs(start - 5 * SR) <= SR // 10


def test_match_loudness_equal_lufs_and_no_clipping() -> None:
    parts = [guitar_line(6.0, SR, seed=s, level_db=lv)[0] for s, lv in ((0, -30), (1, -3),
                                                                          (2, -12))]
    parts[1] = np.clip(parts[1] * 4, -1, 1)  # a loud, dense one
    scaled, lufs = A.match_loudness(parts, SR)
    meter = pyloudnorm.Meter(SR)
    for s in scaled:
        assert meter.integrated_loudness(s) == pytest.approx(lufs, abs=0.02)
        assert 20 * np.log10(np.max(np.abs(s))) <= A.HEADROOM_DBFS + 1e-9
    assert lufs <= A.MATCH_LUFS_MAX
    with pytest.raises(AudioContentError):
        A.match_loudness([np.zeros(SR)], SR)


def _loop_windows(x: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-window RMS and crest (dB) with the BS.1770-style two-stage gate, as plain loops."""
    win, hop = int(A.SHORT_TERM_S * SR), int(A.SHORT_TERM_HOP_S * SR)
    rms, crest = [], []
    for s in range(0, len(x) - win + 1, hop):
        w = x[s: s + win]
        r = math.sqrt(sum(float(v) * float(v) for v in w) / win)
        rms.append(20 * math.log10(r))
        crest.append(20 * math.log10(max(abs(float(v)) for v in w) / r))
    loud = [lv for lv in rms if lv > -70]
    mean_db = 10 * math.log10(sum(10 ** (lv / 10) for lv in loud) / len(loud))
    keep = [lv > -70 and lv > mean_db - 40 for lv in rms]
    return ([lv for lv, k in zip(rms, keep, strict=True) if k],
            [c for c, k in zip(crest, keep, strict=True) if k])


def test_short_term_levels_and_crest_against_a_plain_loop() -> None:
    x = guitar_line(3.0, SR, seed=4)[0].astype(np.float64) + 1e-4 * white_noise(3.0, SR)[0]
    rms, crest = _loop_windows(x)
    assert 0 < len(rms) < 27  # the gate drops the rests
    np.testing.assert_allclose(A.short_term_levels_db(x, SR), rms, atol=1e-9)
    np.testing.assert_allclose(A.window_crest_db(x, SR), crest, atol=1e-9)


def test_crest_of_a_sine_and_silence_gating() -> None:
    x = np.concatenate([np.zeros(2 * SR), sine(1000.0, 2.0, SR)[0]])
    c, lv = A.window_crest_db(x, SR), A.short_term_levels_db(x, SR)
    assert c.size == lv.size == 20  # the 17 windows of pure silence are gated out
    inside = slice(3, None)  # windows wholly within the sine
    np.testing.assert_allclose(c[inside], 20 * np.log10(math.sqrt(2)), atol=0.01)
    np.testing.assert_allclose(lv[inside], 20 * np.log10(0.5 / math.sqrt(2)), atol=0.01)
    assert np.all(c[:3] > c[inside].max())  # half-silent windows: same peak, lower RMS


def test_unpaired_distances_zero_for_itself_and_track_a_gain() -> None:
    # a noise floor keeps every mel band above the log-mel floor, so a gain shows everywhere
    x = guitar_line(8.0, SR, seed=6)[0] + white_noise(8.0, SR, amplitude=0.01, seed=6)[0]
    same = A.unpaired_distances(x, x, SR)
    assert all(abs(v) < 1e-9 for v in same.values()), same
    d = A.unpaired_distances(x * 10 ** (6 / 20), x, SR)
    assert d["lufs_diff"] == pytest.approx(6.0, abs=1e-6)
    assert d["short_term_w1_db"] == pytest.approx(6.0, abs=1e-6)
    assert d["logmel_db"] == pytest.approx(6.0, abs=0.05)
    assert abs(d["crest_diff_db"]) < 1e-6 and d["crest_w1_db"] < 1e-6
    assert abs(d["peaks_diff_db"]) < 1e-6


def test_unpaired_distances_below_a_lossy_ref_s_end() -> None:
    # the same recording, the reference cut at 6 kHz: compared over the whole band the cut
    # reads as a spectral difference; compared below the end (with a band's margin) as none
    x = guitar_line(8.0, SR, seed=6)[0] + white_noise(8.0, SR, amplitude=0.01, seed=6)[0]
    cut = brick_wall(x, 6000.0, SR)
    full = A.unpaired_distances(x, cut, SR)
    below = A.unpaired_distances(x, cut, SR, fmax_hz=5000.0)
    assert full["logmel_db"] > 5.0 and full["level_binned_db"] > 5.0
    assert below["logmel_db"] < 0.1 and below["level_binned_db"] < 0.1
    assert below["lufs_diff"] == full["lufs_diff"]  # level terms do not change


@pytest.mark.parametrize("fmt", sorted(A.AUDIO_FORMATS))
def test_encode_audio_decodes_to_the_same_length_and_rate(fmt: str) -> None:
    x = 0.5 * sine(440.0, 1.5, 44100)[0]
    payload = A.encode_audio(x, 44100, fmt)
    y, sr = sf.read(io.BytesIO(payload))
    assert sr == 44100 and y.shape == x.shape
    tol = 1.0 / 32768 if fmt != "ogg" else 0.02
    assert np.sqrt(np.mean((y - x) ** 2)) < tol
    assert A.data_uri(payload, "audio/x").startswith("data:audio/x;base64,")
    with pytest.raises(ParameterError):
        A.encode_audio(x, 44100, "mp3")


def test_chunked_true_peak_equals_the_whole_signal_computation() -> None:
    x = 0.3 * white_noise(0.5, SR, seed=11)[0].astype(np.float64)
    # an inter-sample peak straddling a chunk border: +1, +1 samples make the true peak > 1
    x[1999], x[2000] = 0.99, 0.99
    for chunk in (1000, 1999, 2000, 4096, len(x)):
        assert A.true_peak_dbtp(x, SR, chunk=chunk) == pytest.approx(whole(x, SR), abs=1e-9)
    assert whole(x, SR) > 20 * np.log10(0.99) + 0.5
