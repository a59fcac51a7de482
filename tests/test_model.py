"""`tonemorph.model`: Tone files (round trip, versioning), knobs, apply shapes/rates/channels,
pitch preservation, and file streaming."""

from __future__ import annotations

import copy
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import butter, sosfilt
from signals import guitar_line, sine, white_noise
from tones import CRUNCH, SR, chain_with, render, tone_with

from tonemorph import Knobs, ModelFileError, OutputPathError, ParameterError, Tone, load
from tonemorph.chain.config import ChainConfig
from tonemorph.chain.functional import OVERSAMPLE_TAPS
from tonemorph.chain.kernels import limit_lookahead
from tonemorph.dsp.loudness import integrated_lufs
from tonemorph.dsp.matcheq import active_rms_db
from tonemorph.errors import AudioContentError, AudioFileError
from tonemorph.io import MODEL_FORMAT, MODEL_FORMAT_VERSION
from tonemorph.metrics import pitch_cents_error
from tonemorph.model import CURVE_OFFSETS_DB, LOUDNESS_GUARD_DB, why_linear

LATENCY = (OVERSAMPLE_TAPS - 1) // 2


@pytest.fixture(scope="module")
def crunch() -> Tone:
    return tone_with(CRUNCH, input_gain_db=4.0)


@pytest.fixture(scope="module")
def take() -> np.ndarray:
    return guitar_line(3.0, SR, seed=21)


def rel_rms(got: np.ndarray, want: np.ndarray) -> float:
    g, w = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.sqrt(np.mean((g - w) ** 2) / np.mean(w**2)))


# ------------------------------------------------------------------------------ model file


def test_save_load_round_trip(tmp_path: Path, crunch: Tone, take: np.ndarray) -> None:
    path = tmp_path / "crunch.tmodel"
    crunch.save(path)
    back = load(path)
    assert back.parameters == crunch.parameters
    assert back.config == crunch.config
    assert back.input_gain_db == crunch.input_gain_db
    assert back.training == crunch.training
    np.testing.assert_array_equal(back.apply(take, SR), crunch.apply(take, SR))


@pytest.mark.parametrize("name", ["crunch.nam", "crunch.json", "crunch.wav", "crunch"])
def test_a_tone_is_saved_only_under_its_own_extension(tmp_path: Path, crunch: Tone,
                                                      name: str) -> None:
    with pytest.raises(OutputPathError, match=r"save the tone as crunch\.tmodel"):
        crunch.save(tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    crunch.save(tmp_path / "CRUNCH.TMODEL")  # the extension in any case
    assert load(tmp_path / "CRUNCH.TMODEL").parameters == crunch.parameters


def test_saved_file_is_versioned_json(tmp_path: Path, crunch: Tone) -> None:
    path = tmp_path / "crunch.tmodel"
    crunch.save(path)
    doc = json.loads(path.read_text(encoding="utf-8"))  # independent reader: plain json
    assert doc["format"] == MODEL_FORMAT == "tonemorph-model"
    assert doc["format_version"] == MODEL_FORMAT_VERSION == 1
    assert doc["kind"] == "tone"
    assert doc["chain"]["stages"] == list(crunch.config.stages)
    assert doc["chain"]["sample_rate"] == SR
    assert doc["parameters"]["drive.drive_db"] == pytest.approx(18.0)
    assert doc["units"]["drive.drive_db"] == "dB"
    assert len(doc["parameters"]["cab.band_db"]) == doc["chain"]["cab_bands"] == crunch.config.cab_bands
    # the file stores the in-memory document plus the format keys
    mem = crunch.to_document()
    fmt = {"format", "format_version"}
    assert set(doc) == set(mem) | fmt
    assert doc["parameters"] == mem["parameters"]


def _golden_document() -> dict:
    """A version-1 document written by hand (no tonemorph writer involved)."""
    stages = ["pre_eq", "drive", "post_eq"]
    params = {
        "trim_db": 0.0,
        "pre_eq.hp_hz": 80.0, "pre_eq.low_hz": 200.0, "pre_eq.low_db": 0.0,
        "pre_eq.mid_hz": 800.0, "pre_eq.mid_db": 3.0, "pre_eq.mid_q": 1.0,
        "pre_eq.high_hz": 3000.0, "pre_eq.high_db": 0.0,
        "post_eq.low_hz": 200.0, "post_eq.low_db": 0.0,
        "post_eq.mid_hz": 800.0, "post_eq.mid_db": 0.0, "post_eq.mid_q": 0.707,
        "post_eq.high_hz": 4000.0, "post_eq.high_db": -6.0,
        "drive.drive_db": 12.0, "drive.bias": 0.1,
        "out_gain_db": -3.0,
    }
    return {"format": "tonemorph-model", "format_version": 1, "kind": "tone",
            "chain": {"stages": stages, "sample_rate": 48000, "cab_taps": 2048,
                      "cab_bands": 64, "cab_fft": 8192},
            "input_gain_db": 2.0, "parameters": params, "training": {}}


def test_hand_written_version_1_document_loads(tmp_path: Path) -> None:
    path = tmp_path / "golden.tmodel"
    path.write_text(json.dumps(_golden_document()), encoding="utf-8")
    tone = load(path)
    assert tone.config.stages == ("pre_eq", "drive", "post_eq")
    assert tone.input_gain_db == 2.0
    chain = tone.torch_chain()
    assert chain.value("drive.drive_db").item() == pytest.approx(12.0, abs=1e-9)
    assert chain.value("post_eq.high_db").item() == pytest.approx(-6.0, abs=1e-9)
    y = tone.apply(sine(440.0, 0.5, SR), SR)
    assert y.shape == (1, SR // 2) and np.all(np.isfinite(y))


@pytest.mark.parametrize(("change", "match"), [
    ({"format_version": MODEL_FORMAT_VERSION + 1}, "newer"),
    ({"format_version": "1"}, "version"),
    ({"format": "nam"}, "not a tonemorph model"),
    ({"kind": "master"}, "master"),
    ({"parameters": {"trim_db": 0.0}}, "lacks parameters"),
    ({"chain": {"stages": ["fuzz"], "sample_rate": 48000, "cab_taps": 2048, "cab_bands": 64,
                "cab_fft": 8192}}, "fuzz"),
    ({"training": {"cab_match": 3}}, "training.cab_match"),  # info and the report print it
])
def test_load_rejects_future_or_foreign_documents(tmp_path: Path, change: dict,
                                                  match: str) -> None:
    doc = {**_golden_document(), **change}
    path = tmp_path / "bad.tmodel"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ModelFileError, match=match):
        load(path)


def test_load_rejects_missing_keys_and_non_json(tmp_path: Path) -> None:
    doc = _golden_document()
    del doc["input_gain_db"]
    (tmp_path / "a.tmodel").write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ModelFileError, match="damaged or incomplete"):
        load(tmp_path / "a.tmodel")
    no_format = _golden_document()
    del no_format["format"]
    (tmp_path / "b.tmodel").write_text(json.dumps(no_format), encoding="utf-8")
    with pytest.raises(ModelFileError, match="format"):
        load(tmp_path / "b.tmodel")
    sf.write(tmp_path / "c.wav", np.zeros(100, np.float32), SR)
    with pytest.raises(ModelFileError, match="audio"):
        load(tmp_path / "c.wav")
    with pytest.raises(ModelFileError, match="not found"):
        load(tmp_path / "missing.tmodel")


def test_save_refuses_nan_parameters(tmp_path: Path, crunch: Tone) -> None:
    bad = Tone(crunch.config, {**crunch.parameters, "drive.bias": float("nan")})
    with pytest.raises(ModelFileError, match="drive.bias"):
        bad.save(tmp_path / "nan.tmodel")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------- knobs


def test_knobs_validate_ranges() -> None:
    for bad in ({"amount": -0.1}, {"amount": 1.5}, {"amount": float("nan")},
                {"drive_db": 60.0}, {"tone_db": float("inf")}, {"level_db": -49.0}):
        with pytest.raises(ParameterError):
            Knobs(**bad)


def test_amount_zero_is_the_input_at_the_same_loudness(crunch: Tone, take: np.ndarray) -> None:
    full = crunch.apply(take, SR)
    dry = crunch.apply(take, SR, amount=0.0)
    assert np.corrcoef(full[0], take[0])[0, 1] < 0.8  # the tone really is nonlinear
    l_in, l_dry = active_rms_db(take, SR), active_rms_db(dry, SR)
    corr = np.corrcoef(dry[0], take[0])[0, 1]
    print(f"amount 0: level {l_dry - l_in:+.3f} dB, correlation {corr:.5f}")
    assert abs(l_dry - l_in) < 0.5
    assert corr > 0.99


def test_amount_half_lands_between_in_loudness(crunch: Tone, take: np.ndarray) -> None:
    l_in = active_rms_db(take, SR)
    l_full = active_rms_db(crunch.apply(take, SR), SR)
    l_half = active_rms_db(crunch.apply(take, SR, amount=0.5), SR)
    assert l_half == pytest.approx(0.5 * (l_in + l_full), abs=0.5)


def test_amount_on_a_polarity_inverted_stereo_take_is_measured_on_one_channel(
        crunch: Tone, take: np.ndarray) -> None:
    # the channels' mix is silence: the loudness compensation must not be measured on it
    inverted = np.concatenate([take, -take])
    half = crunch.apply(inverted, SR, amount=0.5)
    np.testing.assert_allclose(half[0], crunch.apply(take, SR, amount=0.5)[0], atol=1e-5)
    # the other channel (the asymmetric shaper sees it upside down) gets the same compensation
    assert active_rms_db(half[1:], SR) == pytest.approx(active_rms_db(half[:1], SR), abs=0.5)


def test_amount_one_equals_the_torch_chain(crunch: Tone, take: np.ndarray) -> None:
    plain = crunch.apply(take, SR)
    np.testing.assert_array_equal(crunch.apply(take, SR, amount=1.0), plain)
    ref = render(chain_with(CRUNCH), take * 10 ** (crunch.input_gain_db / 20))
    lat = LATENCY + limit_lookahead(SR) - 1  # the drive's oversampling, the limit's look-ahead
    assert crunch.latency_samples == lat
    n = take.shape[1] - lat
    assert rel_rms(plain[:, :n], ref[:, lat:]) < 1e-4


def _thd_db(y: np.ndarray, f0: float) -> float:
    """THD (dB): harmonics 2..10 power vs the fundamental's, from a whole-period FFT."""
    seg = y[SR // 2: SR // 2 + SR]  # 1 s: f0 on an exact bin
    spec = np.abs(np.fft.rfft(seg)) ** 2
    k = round(f0)
    harm = sum(spec[h * k] for h in range(2, 11))
    return float(10 * np.log10(harm / spec[k]))


def test_drive_knob_raises_and_lowers_distortion(crunch: Tone) -> None:
    x = sine(200.0, 2.0, SR, amplitude=0.1)
    thd = {d: _thd_db(crunch.apply(x, SR, drive_db=d)[0], 200.0) for d in (-12.0, 0.0, 12.0)}
    print("THD by drive offset:", {k: round(v, 1) for k, v in thd.items()})
    assert thd[12.0] > thd[0.0] + 3.0
    assert thd[-12.0] < thd[0.0] - 3.0


def test_drive_knob_keeps_the_loudness_and_matches_amount_near_one(take: np.ndarray) -> None:
    # a saturating tone: its shaper's gain is unit for small signals, so without compensation
    # -12 dB of drive made it 9.4 dB louder and +12 dB 11.3 dB quieter
    hot = tone_with({"drive.drive_db": 30.0}, stages=("drive", "post_eq"), input_gain_db=6.0)
    full = active_rms_db(hot.apply(take, SR), SR)
    raw = {d: active_rms_db(hot.fast_chain(Knobs(drive_db=d)).process(take[0])[None], SR)
           for d in (-12.0, 12.0)}
    # the knob really moves the level before compensation, both ways
    assert raw[-12.0] > full + 3.0 and raw[12.0] < full - 3.0
    for d in (-12.0, -3.0, 6.0, 12.0):
        assert active_rms_db(hot.apply(take, SR, drive_db=d), SR) == pytest.approx(full, abs=0.05)
        # no jump between --amount 1 and just under it
        near = active_rms_db(hot.apply(take, SR, amount=0.999, drive_db=d), SR)
        assert near == pytest.approx(full, abs=0.1)
    # --tone is a tilt, not compensated (the stream with no compensation plays the same);
    # --level alone is not compensated either
    uncompensated = hot.stream(SR, 1, Knobs(tone_db=6.0, level_db=3.0)).run(iter([take]))
    np.testing.assert_array_equal(hot.apply(take, SR, tone_db=6.0, level_db=3.0),
                                  np.concatenate(list(uncompensated), axis=1))
    assert not Knobs(tone_db=6.0, level_db=3.0).compensated
    assert Knobs(drive_db=-1.0).compensated and Knobs(amount=0.5).compensated


def test_drive_knob_needs_a_drive_stage() -> None:
    clean = tone_with({}, stages=("pre_eq", "post_eq", "cab"))
    with pytest.raises(ParameterError, match="drive"):
        clean.apply(sine(200.0, 0.2, SR), SR, drive_db=3.0)


def _centroid_hz(y: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    return float(np.sum(f * spec) / np.sum(spec))


def test_tone_knob_tilts_brighter_and_darker(crunch: Tone, take: np.ndarray) -> None:
    c = {t: _centroid_hz(crunch.apply(take, SR, tone_db=t)[0]) for t in (-6.0, 0.0, 6.0)}
    print("centroid by tone:", {k: round(v) for k, v in c.items()})
    assert c[6.0] > c[0.0] * 1.1
    assert c[-6.0] < c[0.0] / 1.1


def test_tone_knob_on_white_noise_is_a_tilt_around_1_khz(crunch: Tone) -> None:
    x = white_noise(2.0, SR, amplitude=0.01, seed=4)  # quiet: the chain stays nearly linear
    lin = tone_with({}, stages=("post_eq",))
    import scipy.signal

    f, p0 = scipy.signal.welch(lin.apply(x, SR)[0], SR, nperseg=8192)
    _, p6 = scipy.signal.welch(lin.apply(x, SR, tone_db=6.0)[0], SR, nperseg=8192)
    ratio = 10 * np.log10(p6 / p0)
    at = lambda hz: float(ratio[np.argmin(np.abs(f - hz))])
    assert at(1000.0) == pytest.approx(0.0, abs=0.5)
    assert at(60.0) == pytest.approx(-3.0, abs=0.5)
    assert at(16000.0) == pytest.approx(3.0, abs=0.5)


def test_level_knob_adds_exact_db(crunch: Tone, take: np.ndarray) -> None:
    base = crunch.apply(take, SR)
    up = crunch.apply(take, SR, level_db=6.0)
    diff = active_rms_db(up, SR) - active_rms_db(base, SR)
    assert diff == pytest.approx(6.0, abs=0.1)
    np.testing.assert_allclose(up, base * 10 ** (6 / 20), rtol=1e-5, atol=1e-7)


def test_level_knob_is_exact_past_the_output_gains_range(take: np.ndarray) -> None:
    """--level plays after the stored output gain: a tone storing +30 dB at --level +48 is
    +48 dB louder, not held at the output gain's +58.8 dB (it was +28.8 dB)."""
    hot = tone_with({**CRUNCH, "out_gain_db": 30.0}, input_gain_db=4.0)
    base = hot.apply(take, SR)
    for lv in (-48.0, 48.0):
        np.testing.assert_allclose(hot.apply(take, SR, level_db=lv), base * 10 ** (lv / 20),
                                   rtol=1e-5, atol=1e-7 * 10 ** (lv / 20))


def test_level_at_its_edge_with_a_compensated_amount(crunch: Tone, take: np.ndarray) -> None:
    """--amount's loudness compensation is no part of --level: --level -48 with --amount 0.3
    (compensation -1.7 dB) raised "level_db must be within +-48 dB, got -49.68"."""
    quiet = crunch.apply(take, SR, amount=0.3, level_db=-48.0)
    ref = crunch.apply(take, SR, amount=0.3)
    np.testing.assert_allclose(quiet, ref * 10 ** (-48 / 20), rtol=1e-5, atol=1e-10)
    quiet = crunch.apply(take, SR, drive_db=-12.0, level_db=-48.0)
    np.testing.assert_allclose(quiet, crunch.apply(take, SR, drive_db=-12.0) * 10 ** (-48 / 20),
                               rtol=1e-5, atol=1e-10)


def test_a_drive_offset_past_the_drives_range_says_so(crunch: Tone) -> None:
    x = sine(200.0, 0.5, SR, amplitude=0.1)
    assert crunch.capped_knobs(Knobs(drive_db=12.0)) == []  # 18 + 12 dB: in range
    with pytest.warns(UserWarning, match=r"drive offset of \+48 dB takes this tone's drive to "
                      r"\+66.0 dB, past its range \(-24 .. 54 dB\): it plays at \+53.2 dB, an "
                      r"offset of \+35.2 dB"):
        crunch.apply(x, SR, drive_db=48.0)
    with pytest.warns(UserWarning, match=r"to -30.0 dB.*plays at -23.2 dB"):
        crunch.apply(x, SR, drive_db=-48.0)


# ------------------------------------------------------------------------- apply: shapes


@pytest.mark.parametrize("shape", ["1d", "1xn", "2xn"])
def test_apply_keeps_shape(crunch: Tone, shape: str) -> None:
    mono = guitar_line(1.0, SR, seed=3)
    x = {"1d": mono[0], "1xn": mono, "2xn": np.concatenate([mono, mono[:, ::-1]])}[shape]
    y = crunch.apply(x, SR)
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("rate", [44100, 22050, 96000])
def test_apply_other_rates_keeps_length(crunch: Tone, rate: int) -> None:
    x = guitar_line(1.3, rate, seed=4)
    y = crunch.apply(x, rate)
    assert y.shape == x.shape
    assert np.all(np.isfinite(y)) and active_rms_db(y, rate) > -60


def test_apply_at_44k1_matches_48k_processing(crunch: Tone) -> None:
    import soxr

    x48 = guitar_line(2.0, SR, seed=6)
    x44 = soxr.resample(x48[0], SR, 44100, quality="HQ")[None].astype(np.float32)
    y44 = crunch.apply(x44, 44100)
    y48 = soxr.resample(crunch.apply(x48, SR)[0], SR, 44100, quality="HQ")
    n = min(len(y48), y44.shape[1]) - 2000
    # same tone, rate conversion aside: the waveforms line up (latency removed in both)
    assert np.corrcoef(y44[0, 2000:n], y48[2000:n])[0, 1] > 0.98


def test_apply_rejects_bad_shapes(crunch: Tone) -> None:
    with pytest.raises(ParameterError):
        crunch.apply(np.zeros((1, 2, 100), np.float32), SR)


def test_apply_rejects_non_finite_audio_and_bad_rates(crunch: Tone) -> None:
    x = guitar_line(0.5, SR, seed=3)
    x[0, 100] = np.nan  # once a ZeroDivisionError from the shaper kernel
    with pytest.raises(AudioContentError, match="NaN"):
        crunch.apply(x, SR)
    for rate in (0, -48000, float("nan")):
        with pytest.raises(ParameterError, match="sample_rate"):
            crunch.apply(guitar_line(0.5, SR, seed=3), rate)


def test_apply_takes_integer_pcm_and_whole_float_rates(crunch: Tone) -> None:
    # int16 as soundfile reads it (dtype="int16") is PCM: scaled, not read at +90 dB
    x = guitar_line(1.0, SR, seed=4)
    pcm = np.round(x * 32767).astype(np.int16)
    want = crunch.apply(pcm.astype(np.float32) / 32768, SR)
    np.testing.assert_array_equal(crunch.apply(pcm, SR), want)
    np.testing.assert_array_equal(crunch.apply(pcm, float(SR)), want)  # 48000.0 is 48000
    for bad in (SR + 0.5, "48000", np.arange(3)):
        with pytest.raises(ParameterError, match="sample_rate must be a whole number"):
            crunch.apply(x, bad)
    with pytest.raises(ParameterError, match="int64 samples"):
        crunch.apply(np.zeros((1, 100), np.int64), SR)


def test_save_writes_only_what_load_reads_back(crunch: Tone, tmp_path: Path) -> None:
    # a tone learned from int16 read as floats (+90 dB) saved a loudness curve at 42 LUFS,
    # which load refused: save checks first and leaves nothing behind
    bad = copy.deepcopy(crunch)
    bad.loudness_curve = {"input_lufs": [36.0, 42.0], "gain_db": [0.0, 0.0]}
    with pytest.raises(ModelFileError, match="the tone to save as .*input_lufs"):
        bad.save(tmp_path / "bad.tmodel")
    assert not (tmp_path / "bad.tmodel").exists()


def test_apply_to_nothing_and_load_of_a_non_path(crunch: Tone) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice" from the loudness measures
        assert crunch.apply(np.zeros(0, np.float32), SR).shape == (0,)
        assert crunch.apply(np.zeros((2, 0), np.float32), SR).shape == (2, 0)
    with pytest.raises(ParameterError, match="str or Path, got bytes"):
        load(b"/tmp/tone.tmodel")


def test_stereo_channels_are_independent(crunch: Tone) -> None:
    left, right = guitar_line(1.5, SR, seed=7), guitar_line(1.5, SR, seed=8) * 0.3
    lr = crunch.apply(np.concatenate([left, right]), SR)
    rl = crunch.apply(np.concatenate([right, left]), SR)
    np.testing.assert_allclose(lr[::-1], rl, rtol=0, atol=1e-7)
    alone = crunch.apply(left, SR)
    np.testing.assert_allclose(lr[:1], alone, rtol=0, atol=1e-6)


def test_silence_in_gives_silence_out(crunch: Tone) -> None:
    y = crunch.apply(np.zeros((2, SR), np.float32), SR, amount=0.5)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) < 1e-6


# ---------------------------------------------------------------------------------- pitch


def guitar_note(f0: float, seconds: float = 1.0) -> np.ndarray:
    """A plucked note: 6 decaying harmonics at f0 Hz, (1, n) float32."""
    t = np.arange(int(seconds * SR)) / SR
    note = sum(np.sin(2 * np.pi * f0 * h * t) / h * np.exp(-t * h / 1.5) for h in range(1, 7))
    return (0.4 * note / np.max(np.abs(note)))[None].astype(np.float32)


@settings(max_examples=10, deadline=None)
@given(f0=st.floats(82.0, 660.0), drive_db=st.floats(0.0, 40.0), bias=st.floats(-0.6, 0.6),
       mid_db=st.floats(-12.0, 12.0), mid_hz=st.floats(200.0, 4000.0),
       comp_ratio=st.floats(1.0, 10.0))
def test_pitch_is_preserved(f0: float, drive_db: float, bias: float, mid_db: float,
                            mid_hz: float, comp_ratio: float) -> None:
    tone = tone_with({"drive.drive_db": drive_db, "drive.bias": bias, "post_eq.mid_db": mid_db,
                      "post_eq.mid_hz": mid_hz, "comp.threshold_db": -30.0,
                      "comp.ratio": comp_ratio, "sag.threshold_db": -25.0, "sag.ratio": 2.0})
    x = guitar_note(f0)
    rep = pitch_cents_error(tone.apply(x, SR), x, SR)
    assert rep["n_frames"] > 20
    assert rep["median_abs_cents"] < 5.0


# ------------------------------------------------------------------------------ loudness guard


def _cab_tone(high_db: float) -> Tone:
    """A cabinet-only tone: flat below 2 kHz, `high_db` above 4 kHz (linear in between)."""
    f = ChainConfig(stages=("cab",), sample_rate=SR).band_hz()
    bands = np.interp(np.log(f), np.log([2000.0, 4000.0]), [0.0, high_db])
    return tone_with({"cab.band_db": bands.tolist()}, stages=("cab",))


def _band_noise(lo_hz: float, hi_hz: float, seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """White noise band-passed to lo..hi Hz (1, n), -20 dBFS RMS."""
    sos = butter(4, [lo_hz, hi_hz], "bandpass", fs=SR, output="sos")
    x = sosfilt(sos, white_noise(seconds, SR, seed=seed)[0])
    return (0.1 * x / np.sqrt(np.mean(x**2)))[None].astype(np.float32)


def _gain_db(tone: Tone, x: np.ndarray, guard: bool) -> float:
    return integrated_lufs(tone.apply(x, SR, loudness_guard=guard), SR) - integrated_lufs(x, SR)


@pytest.mark.parametrize("high_db", [24.0, -24.0])
def test_loudness_guard_holds_a_take_within_its_tolerance(high_db: float) -> None:
    # learned on a take without highs; a take of highs alone comes out 24 dB louder (quieter)
    tone = _cab_tone(high_db)
    learning, bright = _band_noise(100, 1500), _band_noise(5000, 12000, seed=1)
    tone.measure_loudness_curve(learning[0], SR)
    curve = tone.loudness_curve
    assert curve is not None
    # a linear tone: the same gain at every input level, the levels 6 dB apart
    assert np.ptp(curve["gain_db"]) < 0.05 and abs(curve["gain_db"][4]) < 1.5
    assert np.allclose(np.diff(curve["input_lufs"]), np.diff(CURVE_OFFSETS_DB), atol=1e-3)
    raw = _gain_db(tone, bright, guard=False)
    assert abs(raw - curve["gain_db"][4]) > LOUDNESS_GUARD_DB + 10  # far outside
    held = _gain_db(tone, bright, guard=True)
    assert held - curve["gain_db"][4] == pytest.approx(np.sign(high_db) * LOUDNESS_GUARD_DB,
                                                       abs=0.05)
    # the take it learned from, at another level, passes unchanged
    quiet = learning * np.float32(10 ** (-15 / 20))
    np.testing.assert_array_equal(tone.apply(quiet, SR), tone.apply(quiet, SR,
                                                                    loudness_guard=False))


def test_loudness_guard_invents_no_gain_beyond_its_curve() -> None:
    # a drive and compressor hold a take 30 dB over the learning take down further than the
    # curve measured (it ends 12 dB over): the curve's end held against that read as bands
    # lacking, and the take was boosted 12 dB
    tone = tone_with(CRUNCH, input_gain_db=4.0)
    learning = guitar_line(6.0, SR, seed=21, level_db=-18.0)
    tone.measure_loudness_curve(learning[0], SR)
    for db in (30.0, -40.0):  # the same playing, beyond either end
        x = learning * np.float32(10 ** (db / 20))
        np.testing.assert_array_equal(tone.apply(x, SR), tone.apply(x, SR,
                                                                    loudness_guard=False))
    # what bands the learning take lacked do is still held, beyond either end too
    bright_tone = _cab_tone(24.0)
    bright_tone.measure_loudness_curve(_band_noise(100, 1500)[0], SR)
    ends = bright_tone.loudness_curve["gain_db"]
    for db, end in ((30.0, ends[-1]), (-40.0, ends[0])):
        bright = _band_noise(5000, 12000, seed=1) * np.float32(10 ** (db / 20))
        assert _gain_db(bright_tone, bright, guard=True) - end == pytest.approx(
            LOUDNESS_GUARD_DB, abs=0.05)


def test_loudness_curve_is_the_same_on_several_threads() -> None:
    tone = _cab_tone(24.0)
    learning = _band_noise(100, 1500)[0]
    tone.measure_loudness_curve(learning, SR)
    one = tone.loudness_curve
    tone.measure_loudness_curve(learning, SR, workers=3)
    assert tone.loudness_curve == one and one is not None


def test_loudness_guard_is_stored_checked_and_reported(tmp_path: Path) -> None:
    tone = _cab_tone(24.0)
    tone.measure_loudness_curve(_band_noise(100, 1500)[0], SR)
    path = tmp_path / "bright.tmodel"
    tone.save(path)
    assert load(path).loudness_curve == tone.loudness_curve
    doc = json.loads(path.read_text())
    for bad, words in [({"input_lufs": [-30.0, -30.0], "gain_db": [0.0, 0.0]}, "does not rise"),
                       ({"input_lufs": [-30.0, -24.0], "gain_db": [0.0]}, "exactly 2"),
                       ({"input_lufs": [-30.0], "gain_db": [0.0]}, "at least 2"),
                       ({"input_lufs": [-30.0, -24.0], "gain_db": [0.0, 999.0]}, "out of range")]:
        path.write_text(json.dumps({**doc, "loudness_curve": bad}))
        with pytest.raises(ModelFileError, match=words):
            load(path)
    # a tone without a curve (written before it existed) plays as learned
    path.write_text(json.dumps({k: v for k, v in doc.items() if k != "loudness_curve"}))
    old = load(path)
    assert old.loudness_curve is None
    bright = _band_noise(5000, 12000, seed=1)
    np.testing.assert_array_equal(old.apply(bright, SR), old.apply(bright, SR,
                                                                   loudness_guard=False))
    # apply_file says how much it pulled the take back; --amount lands below the held tone
    src = tmp_path / "bright.wav"
    sf.write(src, bright.T, SR, subtype="FLOAT")
    summary = tone.apply_file(src, tmp_path / "out.wav")
    raw = _gain_db(tone, bright, guard=False)
    assert summary["guard_db"] == pytest.approx(-(raw - tone.loudness_curve["gain_db"][4]
                                                  - LOUDNESS_GUARD_DB), abs=0.05)
    half = integrated_lufs(tone.apply(bright, SR, amount=0.5), SR)
    held = integrated_lufs(tone.apply(bright, SR), SR)
    assert integrated_lufs(bright, SR) < half < held


def test_a_stream_checks_its_blocks_and_rate_as_apply_does(crunch: Tone, take: np.ndarray
                                                             ) -> None:
    # a NaN reached the shaper's kernel (ZeroDivisionError), a rate of "48000" or 100 Hz was
    # taken, a list of samples had no .shape: apply refused or took each of them cleanly
    bad = take.copy()
    bad[0, 100] = np.nan
    with pytest.raises(AudioContentError, match="a block contains NaN"):
        list(crunch.stream(SR, 1).run(iter([take, bad])))
    for rate in ("48000", 44100.5, 100):
        with pytest.raises(ParameterError, match="sample_rate must be"):
            crunch.stream(rate, 1)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="channels must be a positive whole number"):
        crunch.stream(SR, 0)
    as_list = list(crunch.stream(SR, 1).run(iter([take[:, :2400].tolist(), take[:, 2400:]])))
    whole = list(crunch.stream(SR, 1).run(iter([take])))
    np.testing.assert_allclose(np.concatenate(as_list, axis=1), np.concatenate(whole, axis=1),
                               atol=1e-6)


def test_a_file_at_a_rate_no_recording_has_is_refused(tmp_path: Path, crunch: Tone) -> None:
    # a header's 100 Hz was played as 100 Hz audio (and the loudness guard added 12 dB)
    src = tmp_path / "take.wav"
    sf.write(src, 0.3 * np.sin(np.arange(300) * 0.3), 100, subtype="PCM_16")
    with pytest.raises(AudioFileError, match="sampled at 100 Hz; tonemorph reads 8000-384000"):
        crunch.apply_file(src, tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()


# ------------------------------------------------------------------------------ apply_file


@pytest.mark.parametrize("rate", [48000, 44100])
def test_apply_file_streaming_equals_apply(tmp_path: Path, crunch: Tone, rate: int) -> None:
    x = np.concatenate([guitar_line(2.5, rate, seed=9), guitar_line(2.5, rate, seed=10)])
    src = tmp_path / "take.wav"
    sf.write(src, x.T, rate, subtype="FLOAT")
    out = tmp_path / "out.wav"
    knobs = Knobs(amount=0.7, drive_db=2.0, tone_db=1.0, level_db=-1.0)
    summary = crunch.apply_file(src, out, knobs=knobs, block_s=0.05)  # 2400-frame blocks
    y, sr_out = sf.read(out, dtype="float32", always_2d=True)
    want = crunch.apply(x, rate, amount=0.7, drive_db=2.0, tone_db=1.0, level_db=-1.0)
    assert sr_out == rate and y.T.shape == x.shape
    assert summary["frames_written"] == x.shape[1] and summary["channels"] == 2
    assert sf.info(out).subtype == "FLOAT"
    np.testing.assert_allclose(y.T, want, rtol=0, atol=1e-5 * np.max(np.abs(want)))


def test_apply_file_keeps_pcm_24_and_can_change_rate(tmp_path: Path, crunch: Tone) -> None:
    x = guitar_line(1.5, SR, seed=11)
    src = tmp_path / "take24.wav"
    sf.write(src, x.T, SR, subtype="PCM_24")
    out = tmp_path / "out24.wav"
    crunch.apply_file(src, out)
    info = sf.info(out)
    assert info.subtype == "PCM_24" and info.samplerate == SR and info.frames == x.shape[1]
    out44 = tmp_path / "out44.wav"
    summary = crunch.apply_file(src, out44, sample_rate=44100, subtype="PCM_16")
    info = sf.info(out44)
    assert info.samplerate == 44100 and info.subtype == "PCM_16"
    assert abs(info.frames - round(x.shape[1] * 44100 / SR)) <= 2
    assert summary["sample_rate"] == 44100


def test_apply_file_refuses_to_overwrite_its_input(tmp_path: Path, crunch: Tone) -> None:
    x = guitar_line(1.0, SR, seed=12)
    src = tmp_path / "take.wav"
    sf.write(src, x.T, SR, subtype="FLOAT")
    before = src.read_bytes()
    with pytest.raises(OutputPathError, match="overwrite"):
        crunch.apply_file(src, src)
    with pytest.raises(OutputPathError, match="overwrite"):
        crunch.apply_file(src, tmp_path / "." / "take.wav")
    with pytest.raises(OutputPathError, match="overwrite"):
        crunch.apply_file(src, src, force=True)  # force replaces outputs, never inputs
    assert src.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.wav"]
    out = tmp_path / "out.wav"
    out.write_bytes(b"an older output")
    with pytest.raises(OutputPathError, match="already exists"):
        crunch.apply_file(src, out)
    crunch.apply_file(src, out, force=True)
    y, _ = sf.read(out, dtype="float32", always_2d=True)
    np.testing.assert_allclose(y.T, crunch.apply(x, SR), rtol=0, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "take.wav"]


def test_apply_file_missing_output_directory(tmp_path: Path, crunch: Tone) -> None:
    src = tmp_path / "take.wav"
    sf.write(src, guitar_line(0.5, SR, seed=13).T, SR)
    with pytest.raises(OutputPathError, match="does not exist"):
        crunch.apply_file(src, tmp_path / "nope" / "out.wav")


def test_tone_summary_lists_parameters_with_units(crunch: Tone) -> None:
    rows = dict(crunch.summary())
    assert rows["drive.drive_db"] == "18.00 dB"
    assert f"{crunch.config.cab_bands} bands" in rows["cab.band_db"]
    assert rows["sample rate"] == "48000 Hz"
    # the shaper's 23 samples and the peak limit's 1 ms look-ahead less one: 70 at 48 kHz
    assert rows["processing latency"] == "70 samples (1.46 ms)"
    cab_only = dict(tone_with({}, stages=("cab",)).summary())
    assert cab_only["processing latency"] == "0 samples (0.00 ms)"
    assert math.isfinite(float(rows["comp.ratio"].split()[0]))
    assert torch.is_tensor(crunch.torch_chain().value("trim_db"))


def test_level_blocks_names_only_blocks_moved_from_neutral() -> None:
    from tonemorph.chain.params import RANGES
    from tonemorph.model import level_blocks

    clean = {"drive.drive_db": RANGES["drive_db"].settle(RANGES["drive_db"].neutral),
             "sag.ratio": RANGES["ratio"].settle(RANGES["ratio"].neutral),
             "sag.threshold_db": -0.7, "comp.ratio": 1.0, "comp.threshold_db": -0.7,
             "cab.band_db": [0.0] * 4}
    assert level_blocks(clean) == []
    assert level_blocks({}) == []  # a linear chain has none of these parameters
    kept = {**clean, "drive.drive_db": 23.2, "sag.ratio": 3.91, "sag.threshold_db": -35.6}
    assert level_blocks(kept) == ["drive +23 dB", "sag 3.9:1 @ -36 dB"]


def test_why_linear_says_why_a_fitted_nonlinear_chain_was_not_kept() -> None:
    said = why_linear({"chosen": "linear", "selection": {
        "linear": 2.5, "nonlinear with dynamics": 2.1, "nonlinear": 2.4}})
    # the score with the dynamics, before the unproven ones were reset, is the one compared
    assert "0.84x the filter's, too small a win" in said
    assert "1.04x the filter's (no better)" in why_linear(
        {"chosen": "linear", "selection": {"linear": 2.5, "nonlinear": 2.6}})
    for training in ({"chosen": "nonlinear", "selection": {"linear": 2.5, "nonlinear": 1.5}},
                     {"chosen": "linear", "selection": {}}, {"chosen": "linear"},
                     {"chosen": "linear", "selection": {"linear": 0.0, "nonlinear": 1.0}},
                     {"mode": "paired"}):
        assert why_linear(training) == ""
