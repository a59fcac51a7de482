"""The master chain's DC blocker against scipy (sosfilt started in steady state on the first
sample), streamed in awkward blocks, and a mix with a DC offset mastered like the same mix
without it."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from master_music import dense, stereo_music

import tonemorph
from tonemorph.master.analysis import read_excerpts
from tonemorph.master.density import DensityParams
from tonemorph.master.processor import (
    DC_BLOCK_HZ,
    DcBlocker,
    MasterPlan,
    MasterProcessor,
    remove_dc,
    render,
)

SR = 44100


def test_dc_blocker_is_a_butterworth_high_pass_started_on_the_first_sample() -> None:
    x = np.random.default_rng(0).standard_normal((2, SR)) * 0.1 + np.array([[0.3], [-0.2]])
    sos = scipy.signal.butter(2, DC_BLOCK_HZ, "highpass", fs=SR, output="sos")
    zi = scipy.signal.sosfilt_zi(sos)  # steady state for a unit step
    want = np.stack([scipy.signal.sosfilt(sos, row, zi=zi * row[0])[0] for row in x])
    np.testing.assert_allclose(remove_dc(x, SR), want, rtol=0, atol=1e-9)
    # no step response: the offsets (0.3, -0.2) are gone from the first 50 ms on, but for
    # the first sample's noise (a filter started at rest leaves about 0.2 there)
    assert abs(float(np.mean(remove_dc(x, SR)[:, :2205]))) < 0.05


@pytest.mark.parametrize("block", [1, 100, 4097])
def test_dc_blocker_streams_in_blocks(block: int) -> None:
    x = np.random.default_rng(1).standard_normal((2, 3 * 4097)) + 0.5
    blocker = DcBlocker(SR, 2)
    streamed = np.concatenate([blocker.process(x[:, i : i + block])
                               for i in range(0, x.shape[1], block)], axis=1)
    np.testing.assert_allclose(streamed, remove_dc(x, SR), rtol=0, atol=1e-12)


def test_the_chain_passes_music_and_takes_out_dc() -> None:
    x = stereo_music(4.0, SR, seed=2, peak=0.3).astype(np.float64)
    np.testing.assert_allclose(render(MasterPlan(SR, 2), x + 0.25, limit=False), x + 0.25,
                               atol=1e-12)  # only where a file has an offset
    y = render(MasterPlan(SR, 2, dc_block=True), x + 0.25, limit=False)
    assert abs(float(np.mean(y))) < 1e-3
    # music above 20 Hz is passed within 0.02 dB: what is left is the music itself
    assert 20 * np.log10(np.sqrt(np.mean((y - x) ** 2)) / np.sqrt(np.mean(x ** 2))) < -25


def test_render_equals_the_processor_block_by_block() -> None:
    # render runs the EQ and the rest of the chain on two threads: same blocks, same order
    x = stereo_music(3.0, SR, seed=4, peak=0.5).astype(np.float32)
    rng = np.random.default_rng(5)
    plan = MasterPlan(SR, 2, mid_ir=rng.standard_normal(255) * 0.05,
                      side_ir=rng.standard_normal(255) * 0.05, eq_latency=127,
                      density=DensityParams(-20.0, 3.0, 5.0, 100.0, -4.0), output_gain_db=6.0)
    block = 10000
    proc = MasterProcessor(plan)
    parts = [proc.process(x[:, i : i + block]) for i in range(0, x.shape[1], block)]
    want = np.concatenate([*parts, proc.flush()], axis=1)[:, proc.latency :]
    got = render(plan, x, block=block)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_a_mix_with_a_dc_offset_is_mastered_as_without_it(tmp_path) -> None:
    mix = stereo_music(30.0, 16000, seed=3, peak=0.3)
    ref = dense(stereo_music(20.0, 16000, seed=4), 16000)
    paths = {k: tmp_path / f"{k}.wav" for k in ("clean", "offset", "ref")}
    sf.write(paths["clean"], mix.T, 16000, subtype="FLOAT")
    sf.write(paths["offset"], (mix + 0.3).T, 16000, subtype="FLOAT")
    sf.write(paths["ref"], ref.T, 16000, subtype="FLOAT")
    a = tonemorph.master_mix(paths["clean"], paths["ref"], None)
    b = tonemorph.master_mix(paths["offset"], paths["ref"], None)
    assert not a.settings["dc_block"] and b.settings["dc_block"]
    assert any("DC offset removed" in n and "offset.wav -10 dBFS" in n for n in b.notes)
    # the offset took 10 LU of the loudness before (the limiter's headroom)
    assert b.track.after.lufs == pytest.approx(a.track.after.lufs, abs=0.2)
    assert b.track.after.crest_db == pytest.approx(a.track.after.crest_db, abs=0.5)
    ya, yb = a.track.audio.astype(np.float64), b.track.audio.astype(np.float64)
    assert abs(float(np.mean(yb))) < 1e-3
    # analysed without it too: the offset read as a 16 dB narrower mix, whose width and EQ
    # were fitted for that (the 5 Hz high-pass itself moves them a little)
    for m in ("true_peak_dbtp", "crest_db", "width_db"):
        assert getattr(b.track.before, m) == pytest.approx(getattr(a.track.before, m), abs=0.1)
    assert b.settings["side_gain_db"] == pytest.approx(a.settings["side_gain_db"], abs=0.05)
    for eq in ("eq_mid_curve_db", "eq_side_curve_db"):
        np.testing.assert_allclose(b.settings[eq], a.settings[eq], atol=0.25)
    assert 20 * np.log10(np.sqrt(np.mean((ya - yb) ** 2)) / np.sqrt(np.mean(ya ** 2))) < -15


def test_an_excerpt_loses_its_dc_as_the_whole_file_does_in_the_chain(tmp_path) -> None:
    # the fit reads excerpts from mid-file: the DC filter runs in on the second before each,
    # so a window that starts on a loud sample gets no thump (started on that sample, the
    # filter took it for the offset: a loud reference's excerpt read +4.5 dBTP for +1.0)
    x = stereo_music(6.0, SR, seed=6, peak=0.9).astype(np.float64) + np.array([[0.05], [-0.03]])
    path = tmp_path / "offset.wav"
    sf.write(path, x.T, SR, subtype="FLOAT")
    start = 2 * SR + int(np.argmax(np.abs(x[0, 2 * SR : 3 * SR])))
    ex = read_excerpts(path, [(start, start + SR)], role="mix", remove_offset=True)
    want = remove_dc(x.astype(np.float32), SR)[:, start : start + SR]
    np.testing.assert_allclose(ex, want, rtol=0, atol=1e-4)
    # from the file's start there is nothing to run in on: the chain's own start
    ex = read_excerpts(path, [(0, SR)], role="mix", remove_offset=True)
    np.testing.assert_allclose(ex, remove_dc(x.astype(np.float32), SR)[:, :SR], rtol=0,
                               atol=1e-6)


def test_dc_the_density_makes_of_an_asymmetric_waveform_is_taken_off_where_dc_is_blocked(
        ) -> None:
    # a zero-mean waveform with far taller positive peaks than negative ones: a fast
    # compressor ducks the tall side more, and the mean moves; where the plan blocks DC (the
    # file had an offset, which asymmetric sub-bass looks like) it is taken off after the
    # density too
    t = np.arange(4 * SR) / SR
    wave = np.sin(2 * np.pi * 55 * t) + 0.8 * np.maximum(np.sin(2 * np.pi * 110 * t), 0.0)
    x = np.stack([wave, wave]) * 0.5
    x -= x.mean(axis=1, keepdims=True)
    density = DensityParams(-30.0, 4.6, 0.6, 35.0, 40.0)  # as Enemy Unknown's master had
    late = slice(SR, None)  # past the filters' start

    def dc(dc_block: bool) -> float:
        y = render(MasterPlan(SR, 2, density=density, dc_block=dc_block), x, limit=False)
        return float(np.max(np.abs(np.mean(y[:, late], axis=1))))

    assert dc(False) > 1e-3  # what the compressor makes: 28 dB under the RMS
    assert dc(True) < 1e-5


def test_a_file_is_read_once_unless_its_opening_misjudges_its_offset(tmp_path, monkeypatch
                                                                     ) -> None:
    from tonemorph.master import analysis

    passes: list[bool | None] = []
    real = analysis._scan

    def counted(path, **kw):
        passes.append(kw.get("remove_offset"))
        return real(path, **kw)

    monkeypatch.setattr(analysis, "_scan", counted)
    x = stereo_music(40.0, 16000, seed=7, peak=0.5).astype(np.float64)
    # an offset throughout, none, and one only in the first block (-26 dBFS there, -46 dBFS
    # over the file)
    opening = np.zeros_like(x)
    opening[:, : analysis._BLOCK] = 0.05
    files = {"offset": x + 0.1, "clean": x, "opening": x + opening}
    scans = {}
    for name, audio in files.items():
        path = tmp_path / f"{name}.wav"
        sf.write(path, audio.T, 16000, subtype="FLOAT")
        passes.clear()
        scans[name] = analysis.scan(path, role="mix")
        scans[name + "_passes"] = list(passes)
    assert scans["offset_passes"] == [None] and scans["offset"].without_offset
    assert scans["clean_passes"] == [None] and not scans["clean"].without_offset
    # the whole file has no offset worth removing: read again as it is
    assert scans["opening_passes"] == [None, False] and not scans["opening"].without_offset
    assert scans["offset"].has_dc and not scans["opening"].has_dc
    assert scans["offset"].dc_db == pytest.approx(-20.0, abs=0.1)  # the file's, not the filter's
    # as the clean file through the same filter
    filtered = real(tmp_path / "clean.wav", role="mix", remove_offset=True)
    for m in ("lufs", "true_peak_dbtp", "crest_db", "width_db"):
        assert getattr(scans["offset"], m) == pytest.approx(getattr(filtered, m), abs=1e-6)
