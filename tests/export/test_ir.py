"""IR export: spectrum equals the chain's cabinet (scipy.signal.freqz reference), minimum
phase, length, rate, normalisation, post-EQ option, float wav; a tone of filters only is
exported whole (every EQ with the cabinet), as the chain plays it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal as ss
import soundfile as sf
import torch
from tones import tone_with

from tonemorph.errors import ParameterError
from tonemorph.export.ir import cab_ir, write_ir

CAB = {"cab.band_db": list(6 * np.sin(np.linspace(0, 5, 64)) - np.linspace(0, 20, 64)),
       "post_eq.high_hz": 4000.0, "post_eq.high_db": -8.0, "post_eq.mid_hz": 700.0,
       "post_eq.mid_db": 5.0}


def _tone():
    # a drive stage (at neutral) makes it a tone with more than filters: the IR is the cabinet
    return tone_with(CAB, stages=("drive", "post_eq", "cab"))


PRE = {"pre_eq.low_hz": 250.0, "pre_eq.low_db": 6.0, "pre_eq.mid_hz": 1500.0,
       "pre_eq.mid_db": -7.0, "pre_eq.mid_q": 1.4, "pre_eq.hp_hz": 70.0}


def _db(h: np.ndarray) -> np.ndarray:
    return 20 * np.log10(np.maximum(np.abs(h), 1e-12))


def test_ir_spectrum_equals_chain_cab(tmp_path: Path) -> None:
    tone = _tone()
    path = tmp_path / "cab.wav"
    c = write_ir(path, tone)
    ir, sr = sf.read(path, dtype="float64")
    assert sf.info(path).subtype == "FLOAT" and sr == 48000 and len(ir) == 2048
    chain = tone.torch_chain()
    with torch.no_grad():
        ref_ir = chain.cab_ir().numpy()
    w, h_ref = ss.freqz(ref_ir, worN=4096, fs=sr)
    _, h = ss.freqz(ir, worN=4096, fs=sr)
    band = (w > 40) & (w < 18000)
    np.testing.assert_allclose(_db(h[band]) - c.normalise_db, _db(h_ref[band]), atol=0.01)
    # normalised: the loudest frequency sits at 0 dB
    assert float(np.max(_db(h))) == pytest.approx(0.0, abs=0.05)


def test_ir_is_minimum_phase() -> None:
    """Energy-delay property: at every length a minimum-phase filter holds at least as much
    energy as any filter of the same magnitude (here: the zero-phase one made causal)."""
    c = cab_ir(_tone())
    mag = np.abs(np.fft.rfft(c.ir, 8192))
    lin = np.roll(np.fft.irfft(mag, 8192), 4096)  # same magnitude, linear phase
    e_min = np.cumsum(c.ir ** 2) / np.sum(c.ir ** 2)
    e_lin = np.cumsum(lin ** 2) / np.sum(lin ** 2)
    assert np.all(e_min[:2048] >= e_lin[:2048] - 1e-6)
    assert e_min[64] > 0.5  # energy up front, not centred like the linear-phase one


def _product_error_db(ir: np.ndarray, cab: np.ndarray, sos: np.ndarray, lo_hz: float) -> float:
    """Largest |dB| between ir's response and the cabinet IR's times the biquads' (scipy),
    lo_hz..16 kHz."""
    w, h = ss.freqz(ir, worN=4096, fs=48000)
    _, h_cab = ss.freqz(cab, worN=4096, fs=48000)
    _, h_eq = ss.sosfreqz(sos, worN=4096, fs=48000)
    band = (w > lo_hz) & (w < 16000)
    return float(np.max(np.abs(_db(h[band]) - (_db(h_cab[band]) + _db(h_eq[band])))))


def test_post_eq_option_multiplies_the_responses() -> None:
    tone = _tone()
    c = cab_ir(tone, post_eq=True, normalise=False)
    chain = tone.torch_chain()
    with torch.no_grad():
        cab = chain.cab_ir().numpy()
        sos = chain.eq_sos("post_eq").numpy()
    assert _product_error_db(c.ir, cab, sos, 80.0) < 0.5


def test_other_rate_and_refusals(tmp_path: Path) -> None:
    c = cab_ir(_tone(), 96000)
    assert c.sample_rate == 96000 and len(c.ir) == 2048
    assert c.length_ms == pytest.approx(2048 / 96)
    with pytest.raises(ParameterError, match="no cabinet"):
        cab_ir(tone_with({}, stages=("drive",)))
    with pytest.raises(ParameterError, match="sample rate"):
        cab_ir(_tone(), 1000)


def test_flac_ir_is_24_bit_and_lossy_formats_are_refused(tmp_path: Path) -> None:
    wav, flac = tmp_path / "cab.wav", tmp_path / "cab.flac"
    c = write_ir(wav, _tone())
    write_ir(flac, _tone())
    assert sf.info(wav).subtype == "FLOAT" and sf.info(flac).subtype == "PCM_24"
    got, _ = sf.read(flac, dtype="float64")
    assert np.max(np.abs(got - c.ir)) <= 2.0 ** -23  # within 24-bit rounding of the taps
    for lossy in ("cab.mp3", "cab.ogg"):
        with pytest.raises(ParameterError, match="losslessly"):
            write_ir(tmp_path / lossy, _tone())
        assert not (tmp_path / lossy).exists()


def test_a_tone_of_filters_is_exported_whole() -> None:
    tone = tone_with({**CAB, **PRE}, stages=("pre_eq", "post_eq", "cab"))
    assert tone.is_filter() and not _tone().is_filter()
    c = cab_ir(tone, normalise=False)
    assert c.whole and not cab_ir(_tone()).whole
    chain = tone.torch_chain()
    with torch.no_grad():
        cab = chain.cab_ir().numpy()
        sos = np.concatenate([chain.eq_sos("pre_eq").numpy(), chain.eq_sos("post_eq").numpy()])
    assert _product_error_db(c.ir, cab, sos, 120.0) < 0.5
    # the same filter the tone plays: its impulse response has the IR's magnitude (up to gain)
    imp = np.zeros(1 << 14)
    imp[0] = 1.0
    played = tone.fast_chain().process(imp.astype(np.float32)).astype(np.float64)
    w, h = ss.freqz(c.ir, worN=4096, fs=48000)
    _, h_play = ss.freqz(played, worN=4096, fs=48000)
    band = (w > 120) & (w < 16000)
    diff = _db(h_play[band]) - _db(h[band])
    assert np.ptp(diff) < 0.5, np.ptp(diff)
    # asked for the cabinet alone, it is the cabinet alone
    alone = cab_ir(tone, normalise=False, whole=False)
    np.testing.assert_allclose(alone.ir, cab, atol=1e-9)
