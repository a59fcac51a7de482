"""`tonemorph.master` end to end on generated stereo files: loudness within 0.5 LU, true peak
under the ceiling (4x resample_poly), rate/bit depth kept with dither, aspects, amount, album,
report, and the mastering-specific bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import scipy.signal
import soundfile as sf
from master_music import dense, stereo_music

import tonemorph
from tonemorph.errors import AudioContentError, OutputPathError, ParameterError
from tonemorph.master import MasterConfig

SR = 16000


def lufs(x: np.ndarray, rate: int) -> float:
    return pyloudnorm.Meter(rate).integrated_loudness(np.asarray(x, np.float64).T)


def dbtp(x: np.ndarray) -> float:
    up = scipy.signal.resample_poly(np.asarray(x, np.float64), 4, 1, axis=-1)
    return 20 * np.log10(max(np.max(np.abs(up)), np.max(np.abs(x))))


def read(path: Path) -> tuple[np.ndarray, int]:
    x, rate = sf.read(path, dtype="float64", always_2d=True)
    return x.T, rate


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("master")
    mix = stereo_music(9.0, SR, seed=1, peak=0.3)
    ref = dense(stereo_music(12.0, SR, seed=2), SR)
    paths = {"dir": d, "mix": d / "mix.wav", "ref": d / "ref.wav", "mix48": d / "mix48.wav",
             "ref_mono": d / "ref_mono.wav", "short_ref": d / "short.wav",
             "loud_mix": d / "loud.wav", "mix2": d / "mix2.wav", "ref_quiet": d / "refq.wav"}
    sf.write(paths["mix"], mix.T, SR, subtype="PCM_16")
    sf.write(paths["ref"], ref.T, SR, subtype="PCM_16")
    sf.write(paths["mix48"], stereo_music(9.0, 48000, seed=3, peak=0.3).T, 48000,
             subtype="PCM_24")
    sf.write(paths["ref_mono"], ref.mean(axis=0), SR, subtype="FLOAT")
    sf.write(paths["short_ref"], ref[:, : 8 * SR].T, SR, subtype="PCM_16")
    sf.write(paths["loud_mix"], dense(stereo_music(9.0, SR, seed=4), SR).T, SR,
             subtype="FLOAT")
    sf.write(paths["ref_quiet"], 0.5 * stereo_music(12.0, SR, seed=6, peak=0.5).T, SR,
             subtype="PCM_16")
    sf.write(paths["mix2"], 0.5 * stereo_music(9.0, SR, seed=5, peak=0.3).T, SR,
             subtype="PCM_16")
    return paths


@pytest.fixture(scope="module")
def mastered(files: dict) -> dict:
    out = files["dir"] / "out.wav"
    rep = tonemorph.master_mix(files["mix"], files["ref"], out, report=files["dir"] / "rep.json")
    return {"out": out, "report": rep}


def test_matches_loudness_under_the_ceiling_keeping_format(files: dict, mastered: dict) -> None:
    y, rate = read(mastered["out"])
    ref, _ = read(files["ref"])
    assert rate == SR and sf.info(mastered["out"]).subtype == "PCM_16"
    assert abs(lufs(y, SR) - lufs(ref, SR)) <= 0.5
    assert dbtp(y) <= -1.0
    # TPDF-dithered to 16 bits: every sample on the grid
    np.testing.assert_array_equal(y * 32768, np.round(y * 32768))
    rep = mastered["report"]
    assert rep.track.dithered_bits == 16
    assert rep.track.after.lufs == pytest.approx(lufs(y, SR), abs=1e-6)


def test_dense_reference_gets_density_not_only_limiting(files: dict, mastered: dict) -> None:
    d = mastered["report"].settings["density"]
    assert d["ratio"] > 1.2 or d["clip_db"] < 30.0
    y, _ = read(mastered["out"])
    x, _ = read(files["mix"])
    ref, _ = read(files["ref"])
    from tonemorph.dsp.loudness import crest_factor_db

    # closer to the reference's crest factor than the mix was
    assert abs(crest_factor_db(y, SR) - crest_factor_db(ref, SR)) < abs(
        crest_factor_db(x, SR) - crest_factor_db(ref, SR))


def test_report_json_says_what_changed(files: dict, mastered: dict) -> None:
    doc = json.loads((files["dir"] / "rep.json").read_text())
    assert doc["format"] == "tonemorph-master-report"
    st = doc["settings"]
    assert len(st["eq_mid_db"]) == len(st["eq_bands_hz"]) == 10
    assert {"lufs", "true_peak_dbtp", "crest_db", "width_db"} <= set(doc["tracks"][0]["after"])
    assert doc["tracks"][0]["output"].endswith("out.wav")
    assert doc["target_lufs"] == pytest.approx(doc["reference_measures"]["lufs"])


def _hats(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Eighth-note hi-hats: 5 kHz high-passed noise bursts (2, n), what codecs work hardest on."""
    rng = np.random.default_rng(seed)
    n, step = int(seconds * rate), int(0.125 * rate)
    env = np.zeros(n)
    for start in range(0, n, step):
        length = min(step, n - start)
        env[start : start + length] = np.exp(-np.arange(length) / rate / 0.02)
    sos = scipy.signal.butter(2, 5000.0, "highpass", fs=rate, output="sos")
    return scipy.signal.sosfilt(sos, rng.standard_normal((2, n)), axis=-1) * env


def _write_hats_pair(d: Path) -> None:
    """mix.wav (music and hi-hats, whose peaks codecs move most) and a dense ref.wav in d."""
    rate = 44100
    mix = stereo_music(9.0, rate, seed=1, peak=0.3) + 0.3 * _hats(9.0, rate, seed=3)
    sf.write(d / "mix.wav", (0.5 * mix / np.max(np.abs(mix))).T, rate, subtype="PCM_16")
    sf.write(d / "ref.wav", dense(stereo_music(12.0, rate, seed=2), rate).T, rate,
             subtype="PCM_16")


@pytest.mark.parametrize("ext", [".mp3", ".ogg"])
def test_a_lossy_master_keeps_the_ceiling_once_decoded(tmp_path: Path, ext: str) -> None:
    # the codecs took this master's peaks 0.1-0.5 dB past the ceiling: it is checked on what
    # the file decodes to, and the limiter held lower where it must
    _write_hats_pair(tmp_path)
    out = tmp_path / f"master{ext}"
    rep = tonemorph.master_mix(tmp_path / "mix.wav", tmp_path / "ref.wav", out)
    y, _ = read(out)
    assert sf.info(out).subtype in ("MPEG_LAYER_III", "VORBIS")
    assert dbtp(y) <= -1.0 + 0.02
    assert rep.track.after.true_peak_dbtp == pytest.approx(dbtp(y), abs=0.05)
    assert any("before encoding" in note for note in rep.notes)


def test_a_lossy_master_is_encoded_once_when_the_excerpts_tell_the_overshoot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the encoder's overshoot is measured on the excerpts' master first; the whole track is
    # then rendered and encoded once (before: once at the ceiling, again held lower)
    import tonemorph.master.run as run

    _write_hats_pair(tmp_path)
    passes = []
    real_pass = run.master_pass
    monkeypatch.setattr(run, "master_pass", lambda *a, **k: passes.append(1) or real_pass(*a, **k))
    out = tmp_path / "master.mp3"
    rep = tonemorph.master_mix(tmp_path / "mix.wav", tmp_path / "ref.wav", out)
    y, _ = read(out)
    assert dbtp(y) <= -1.0 + 0.02
    assert rep.settings["limiter"]["ceiling_dbtp"] < -1.05  # held lower from the start
    assert len(passes) == 1


def test_a_lossy_reference_s_low_pass_is_not_matched(files: dict) -> None:
    # an MP3 ends its spectrum at 8-20 kHz by its bitrate: the EQ must not cut the mix's top
    # octaves to copy the codec; it is matched below the cut as with the full reference
    ref, _ = read(files["ref"])
    spec = np.fft.rfft(ref, axis=-1)
    spec[:, np.fft.rfftfreq(ref.shape[1], 1.0 / SR) > 4000.0] = 0.0  # SR is 16 kHz here
    cut = files["dir"] / "ref_4k.wav"
    sf.write(cut, np.fft.irfft(spec, ref.shape[1], axis=-1).T, SR, subtype="FLOAT")
    full = tonemorph.master_mix(files["mix"], files["ref"], None)
    lossy = tonemorph.master_mix(files["mix"], cut, None)

    def curve(rep, hz: float) -> float:
        s = rep.settings
        return float(np.interp(np.log(hz), np.log(s["eq_curve_hz"]), s["eq_mid_curve_db"]))

    assert any("reference's spectrum ends at 3." in n for n in lossy.notes), lossy.notes
    assert not any("spectrum ends" in n for n in full.notes)
    for hz in (5000.0, 6300.0):
        assert curve(lossy, hz) > -3.0  # without the check: the -12 dB limit
    for hz in (200.0, 1000.0, 2000.0):
        assert curve(lossy, hz) == pytest.approx(curve(full, hz), abs=1.0)


def test_keeps_48k_24_bit_and_a_lufs_target(files: dict) -> None:
    out = files["dir"] / "out48.flac"
    rep = tonemorph.master_mix(files["mix48"], files["ref"], out, config=MasterConfig(
        lufs=-16.0, ceiling_dbtp=-2.0, phase="minimum", mono_bass_hz=120.0))
    info = sf.info(out)
    assert info.samplerate == 48000 and info.subtype == "PCM_24"
    y, _ = read(out)
    assert abs(lufs(y, 48000) + 16.0) <= 0.5
    assert dbtp(y) <= -2.0
    assert rep.settings["mono_bass_hz"] == 120.0


def test_amount_zero_changes_nothing_but_peaks(files: dict) -> None:
    rep = tonemorph.master_mix(files["mix"], files["ref"], None,
                               config=MasterConfig(amount=0.0))
    x, _ = read(files["mix"])
    y = rep.track.audio
    assert y.shape == x.shape
    assert abs(lufs(y, SR) - lufs(x, SR)) < 0.1
    assert rep.settings["density"]["ratio"] == 1.0
    assert max(abs(v) for v in rep.settings["eq_mid_db"] or [0.0]) < 1e-9


def test_only_eq_keeps_the_loudness(files: dict) -> None:
    rep = tonemorph.master_mix(files["mix"], files["ref"], None,
                               config=MasterConfig(only="eq"))
    x, _ = read(files["mix"])
    assert abs(lufs(rep.track.audio, SR) - lufs(x, SR)) <= 0.5
    assert rep.matched == ["eq"]
    assert rep.settings["density"]["ratio"] == 1.0 and rep.settings["side_gain_db"] == 0.0


def test_mono_reference_for_a_stereo_mix(files: dict) -> None:
    rep = tonemorph.master_mix(files["mix"], files["ref_mono"], None)
    assert any("mono" in n for n in rep.notes)
    assert rep.settings["side_gain_db"] == 0.0  # width kept
    y = rep.track.audio
    assert y.shape[0] == 2 and dbtp(y) <= -1.0
    ref, _ = read(files["ref_mono"])
    assert abs(lufs(y, SR) - (lufs(ref, SR) + 3.01)) <= 0.5  # dual mono on two speakers


def test_a_reference_just_under_the_minimum_says_how_much_under(files: dict,
                                                               tmp_path: Path) -> None:
    # 9.9995 s read "is 10.0 s long; need at least 10 s"
    ref, _ = read(files["ref"])
    short = tmp_path / "short.wav"
    sf.write(short, ref[:, : int(9.9995 * SR)].T, SR, subtype="FLOAT")
    with pytest.raises(AudioContentError, match=r"is 9\.9 s long; need at least 10 s"):
        tonemorph.master_mix(files["mix"], short, None)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16"])
def test_a_coarse_integer_master_keeps_the_ceiling_after_its_dither(files: dict, tmp_path: Path,
                                                                     subtype: str) -> None:
    # 8-bit TPDF dither moves each sample by up to 1.5 of its 1/128 steps: the limiter's
    # 0.05 dB margin did not cover it (-0.98 dBTP written)
    from tonemorph.dsp.limiter import LimiterConfig, dither_safe_ceiling_dbtp

    out = tmp_path / "m.wav"
    tonemorph.master_mix(files["mix"], files["ref"], out, subtype=subtype)
    y, _ = read(out)
    assert sf.info(out).subtype == subtype and dbtp(y) <= -1.0
    assert dither_safe_ceiling_dbtp(LimiterConfig(), 8) < -1.2
    assert dither_safe_ceiling_dbtp(LimiterConfig(), 16) == -1.0  # the margin covers it


def test_a_mono_mix_is_as_loud_as_a_stereo_reference_on_two_speakers(files: dict,
                                                                       tmp_path: Path) -> None:
    # the mirror of a mono reference matched as dual mono: one convention both ways (a mono
    # master came out 3 dB over its stereo reference when played on a stereo pair)
    x, _ = read(files["mix"])
    mono = tmp_path / "mono.wav"
    sf.write(mono, x.mean(axis=0), SR, subtype="FLOAT")
    rep = tonemorph.master_mix(mono, files["ref"], None)
    ref, _ = read(files["ref"])
    y = rep.track.audio
    assert y.shape[0] == 1 and any("two speakers" in n for n in rep.notes)
    assert abs(lufs(np.repeat(y, 2, axis=0), SR) - lufs(ref, SR)) <= 0.5
    # a mono reference for that mono mix: both one channel, no change
    rep = tonemorph.master_mix(mono, files["ref_mono"], None)
    ref_mono, _ = read(files["ref_mono"])
    assert abs(lufs(rep.track.audio, SR) - lufs(ref_mono, SR)) <= 0.5


@pytest.mark.parametrize("other", [0.0, 1e-6])
def test_a_dual_mono_reference_is_matched_as_mono(files: dict, tmp_path: Path,
                                                  other: float) -> None:
    # a mono record stored as two equal channels (or all but): its silent side was refused as
    # "the audio is silent: no spectrum to match"
    ref, _ = read(files["ref"])
    mono = ref.mean(axis=0)
    noise = other * np.random.default_rng(0).standard_normal(mono.size)
    path = tmp_path / "dual.wav"
    sf.write(path, np.stack([mono, mono + noise], axis=1), SR, subtype="FLOAT")
    rep = tonemorph.master_mix(files["mix"], path, None)
    assert any("dual.wav is (near) mono" in n for n in rep.notes)
    assert not any("dual mono (its loudness" in n for n in rep.notes)  # measured as stereo
    assert rep.settings["side_gain_db"] == 0.0 and rep.settings["eq_side_db"] is None
    y = rep.track.audio
    assert dbtp(y) <= -1.0 and abs(lufs(y, SR) - lufs(np.stack([mono, mono]), SR)) <= 0.5


def test_dynamics_keep_the_image_moment_by_moment(files: dict) -> None:
    # the density and the limiter act on both channels alike: each 100 ms keeps its side/mid
    # ratio, however much the whole file's figure moves with the loud passages coming down
    rep = tonemorph.master_mix(files["mix"], files["ref"], None,
                               config=MasterConfig(only="dynamics"))
    x, _ = read(files["mix"])
    y = rep.track.audio
    assert rep.settings["density"]["ratio"] > 1.0  # the dense reference asked for work

    def frame_width_db(a: np.ndarray) -> np.ndarray:
        n = int(0.1 * SR)
        k = a.shape[1] // n
        mid = ((a[0] + a[1]) / 2)[: k * n].reshape(k, n)
        side = ((a[0] - a[1]) / 2)[: k * n].reshape(k, n)
        return 10 * np.log10(np.mean(side**2, 1) / np.mean(mid**2, 1))

    change = frame_width_db(y) - frame_width_db(x)
    assert abs(float(np.median(change))) < 0.1
    assert float(np.percentile(np.abs(change), 90)) < 1.0


def test_mix_louder_than_the_reference_is_turned_down(files: dict) -> None:
    rep = tonemorph.master_mix(files["loud_mix"], files["ref"], None,
                               config=MasterConfig(lufs=-20.0))
    assert any("already louder" in n for n in rep.notes)
    y = rep.track.audio
    assert abs(lufs(y, SR) + 20.0) <= 0.5 and dbtp(y) <= -1.0


def test_a_very_quiet_mix_is_mastered(files: dict) -> None:
    # peaks at -50 dBFS, about -65 LUFS: above the -70 LUFS floor, its side below -70 dBFS;
    # its balance was measured at that level and refused as silent
    x, _ = read(files["mix"])
    quiet = files["dir"] / "quiet.wav"
    sf.write(quiet, (x * 10 ** (-50 / 20) / np.max(np.abs(x))).T, SR, subtype="PCM_24")
    assert lufs(read(quiet)[0], SR) < -60.0
    rep = tonemorph.master_mix(quiet, files["ref"], None)
    y = rep.track.audio
    ref, _ = read(files["ref"])
    assert abs(lufs(y, SR) - lufs(ref, SR)) <= 0.5 and dbtp(y) <= -1.0


def test_unreachable_target_reports_the_shortfall(files: dict) -> None:
    rep = tonemorph.master_mix(files["mix"], files["ref"], None,
                               config=MasterConfig(lufs=-2.0, max_limiting_db=6.0, fit_steps=5))
    y = rep.track.audio
    assert dbtp(y) <= -1.0
    assert rep.shortfall_lu > 0.5
    assert any("cannot be reached" in n for n in rep.notes)


def test_shortfall_against_a_reference_peaking_over_the_ceiling_names_the_ceiling(
        files: dict) -> None:
    # a loud master limited on sample peaks passes 0 dBTP between them: at its loudness under
    # -1 dBTP the output must be denser than it; the note says what would come closer
    ref, _ = read(files["ref"])
    hot = files["dir"] / "hot.wav"
    sf.write(hot, (ref * 10 ** ((2.0 - dbtp(ref)) / 20)).T, SR, subtype="FLOAT")
    rep = tonemorph.master_mix(files["mix"], hot, None,
                               config=MasterConfig(lufs=-2.0, max_limiting_db=3.0, fit_steps=5))
    note = next(n for n in rep.notes if "cannot be reached" in n)
    assert "peaks at +2.0 dBTP" in note and "--ceiling" in note
    # not where the reference keeps under the ceiling (the target out of reach all the same)
    sf.write(hot, (ref * 10 ** ((-3.0 - dbtp(ref)) / 20)).T, SR, subtype="FLOAT")
    rep = tonemorph.master_mix(files["mix"], hot, None,
                               config=MasterConfig(lufs=-2.0, max_limiting_db=3.0, fit_steps=5))
    note = next(n for n in rep.notes if "cannot be reached" in n)
    assert "--ceiling" not in note


def test_album_mode_one_consistent_chain(files: dict) -> None:
    out = files["dir"] / "album.wav"
    rep = tonemorph.master_mix(files["mix"], files["ref"], out, album=[files["mix2"]])
    second = files["dir"] / "mix2-mastered.wav"
    assert len(rep.tracks) == 2 and second.exists() and out.exists()
    a, _ = read(out)
    b, _ = read(second)
    x1, _ = read(files["mix"])
    x2, _ = read(files["mix2"])
    # one chain for both: the quieter mix stays quieter (the shared compressor narrows the
    # gap, as one analogue chain would), and the album as a whole meets the target
    diff_in, diff_out = lufs(x1, SR) - lufs(x2, SR), lufs(a, SR) - lufs(b, SR)
    assert 0.5 < diff_out <= diff_in + 0.1
    album = np.concatenate([a, b], axis=1)
    assert abs(lufs(album, SR) - rep.target_lufs) <= 0.5
    assert dbtp(a) <= -1.0 and dbtp(b) <= -1.0


def test_bad_inputs(files: dict) -> None:
    out = files["dir"] / "bad.wav"
    with pytest.raises(AudioContentError, match="at least 10 s"):
        tonemorph.master_mix(files["mix"], files["short_ref"], out)
    with pytest.raises(OutputPathError, match="overwrite"):
        tonemorph.master_mix(files["mix"], files["ref"], files["mix"])
    with pytest.raises(ParameterError, match="amount"):
        tonemorph.master_mix(files["mix"], files["ref"], out, config=MasterConfig(amount=1.5))
    with pytest.raises(ParameterError, match="only"):
        tonemorph.master_mix(files["mix"], files["ref"], out,
                             config=MasterConfig(only="eq,reverb"))
    with pytest.raises(ParameterError, match="ceiling"):
        tonemorph.master_mix(files["mix"], files["ref"], out,
                             config=MasterConfig(ceiling_dbtp=2.0))
    # the mix again as an album track (here by another spelling of its path)
    again = files["mix"].parent / ".." / files["mix"].parent.name / files["mix"].name
    with pytest.raises(ParameterError, match="given twice"):
        tonemorph.master_mix(files["mix"], files["ref"], out, album=[files["mix2"], again])
    # what a developer tries with the API: arrays, a dict of settings, a number as text, an
    # output without an extension; each refused by name, before any work
    x, rate = read(files["mix"])
    for mix, ref in (((x, rate), files["ref"]), (x, files["ref"]), (files["mix"], (x, rate))):
        with pytest.raises(ParameterError, match="must be a file path"):
            tonemorph.master_mix(mix, ref, out)
    with pytest.raises(ParameterError, match="config must be a MasterConfig"):
        tonemorph.master_mix(files["mix"], files["ref"], out, config={"lufs": -9})
    with pytest.raises(ParameterError, match="lufs must be a number"):
        MasterConfig(lufs="-9")
    with pytest.raises(OutputPathError, match="audio format"):
        tonemorph.master_mix(files["mix"], files["ref"], files["dir"] / "no_extension")
    assert not out.exists()


def test_an_mp3_master_of_a_96k_mix_is_refused_before_any_work(
        files: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # MPEG holds 8-48 kHz: said up front in plain words, not as libsndfile's error after the
    # analysis and fit (a lossy master encodes its excerpts to measure the codec's overs)
    import tonemorph.master.run as run

    mix96 = files["dir"] / "mix96.wav"
    sf.write(mix96, stereo_music(3.0, 96000, seed=5, peak=0.3).T, 96000, subtype="PCM_24")
    monkeypatch.setattr(run, "_analyse", lambda *a, **k: pytest.fail("analysed"))
    with pytest.raises(OutputPathError, match="MP3 file cannot hold 96000 Hz"):
        tonemorph.master_mix(mix96, files["ref"], files["dir"] / "m96.mp3")
    assert not (files["dir"] / "m96.mp3").exists()


def test_channels_that_cancel_in_mono_are_refused_with_the_reason(files: dict) -> None:
    x, _ = read(files["mix"])
    inverted = files["dir"] / "inverted.wav"
    sf.write(inverted, np.stack([x[0], -x[0]]).T, SR, subtype="PCM_16")
    out = files["dir"] / "inverted-out.wav"
    with pytest.raises(AudioContentError, match="polarity"):
        tonemorph.master_mix(inverted, files["ref"], out)
    ref, _ = read(files["ref"])
    inverted_ref = files["dir"] / "inverted-ref.wav"
    sf.write(inverted_ref, np.stack([ref[0], -ref[0]]).T, SR, subtype="PCM_16")
    with pytest.raises(AudioContentError, match="reference file .*polarity"):
        tonemorph.master_mix(files["mix"], inverted_ref, out)
    assert not out.exists()


def test_weighted_references_and_per_aspect_amounts(files: dict) -> None:
    x, _ = read(files["mix"])
    ref, _ = read(files["ref"])
    both = tonemorph.master_mix(files["mix"], [files["ref"], f"{files['ref_quiet']}:0.5"],
                                None)
    # loudness target: the weighted mean of the references' loudness
    want = (2 * lufs(ref, SR) + lufs(read(files["ref_quiet"])[0], SR)) / 3
    assert both.target_lufs == pytest.approx(want, abs=0.3)
    assert abs(lufs(both.track.audio, SR) - want) <= 0.5
    assert "," in both.reference
    half = tonemorph.master_mix(files["mix"], files["ref"], None,
                                config=MasterConfig(amount="loudness=0.5,eq=1"))
    mid = lufs(x, SR) + 0.5 * (lufs(ref, SR) - lufs(x, SR))
    assert abs(lufs(half.track.audio, SR) - mid) <= 0.5
    assert half.amounts["loudness"] == 0.5 and half.amounts["eq"] == 1.0


def test_streaming_preset(files: dict) -> None:
    rep = tonemorph.master_mix(files["mix"], files["ref"], None,
                               config=MasterConfig(target="streaming"))
    assert abs(lufs(rep.track.audio, SR) + 14.0) <= 0.5 and dbtp(rep.track.audio) <= -1.0


def test_html_report_is_one_self_contained_page(files: dict) -> None:
    page = files["dir"] / "master.html"
    tonemorph.master_mix(files["mix"], files["ref"], files["dir"] / "html.wav", report=page,
                         force=True)
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<audio") == 3 and text.count("data:audio/flac;base64,") == 3
    assert "EQ applied" in text and "data:image/png;base64," in text
    assert "http://" not in text and "https://" not in text  # nothing loaded from elsewhere
    doc = json.loads(text.split('id="report-data">')[1].split("</script>")[0])
    assert doc["format"] == "tonemorph-master-report"


@pytest.fixture(scope="module")
def long_mix(files: dict) -> Path:
    """40 s: a half 6 dB quieter, then the loud half (where the 10 s of excerpts come from)."""
    quiet = 0.5 * stereo_music(20.0, SR, seed=7, peak=0.3)
    loud = stereo_music(20.0, SR, seed=8, peak=0.3)
    path = files["dir"] / "long.wav"
    sf.write(path, np.concatenate([quiet, loud], axis=1).T, SR, subtype="FLOAT")
    return path


def test_a_long_mix_reaches_the_loudness_in_one_pass(files: dict, long_mix: Path) -> None:
    # the excerpts are the loud half only: the whole mix's loudness after the limiter is
    # predicted from them, block level by block level
    out = files["dir"] / "long-out.wav"
    rep = tonemorph.master_mix(long_mix, files["ref"], out, config=MasterConfig(excerpt_s=10.0))
    y, _ = read(out)
    assert rep.track.passes == 1
    assert rep.track.limiter_max_gr_db > 1.0
    # 0.14 LU off; a fixed offset (the excerpts' loudness over the whole mix's) was 0.26
    assert lufs(y, SR) == pytest.approx(rep.target_lufs, abs=0.2)


def test_a_missed_gain_is_corrected_by_another_pass(files: dict, long_mix: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import tonemorph.master.run as run

    found = run.find_output_gain

    def off_by_3_db(*args, **kwargs):
        gain_db, lufs_, capped = found(*args, **kwargs)
        return gain_db - 3.0, lufs_, capped

    monkeypatch.setattr(run, "find_output_gain", off_by_3_db)
    out = files["dir"] / "long-corrected.wav"
    rep = tonemorph.master_mix(long_mix, files["ref"], out, config=MasterConfig(excerpt_s=10.0))
    y, _ = read(out)
    assert rep.track.passes >= 2
    assert lufs(y, SR) == pytest.approx(rep.target_lufs, abs=0.3)
    assert dbtp(y) <= -1.0


def test_a_target_out_of_reach_refits_the_density_for_it(files: dict,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # a reference far louder than the mix can be limited to with its density: the excerpts
    # predict the shortfall and the density is fitted again to give it; louder than without,
    # the ceiling kept either way
    import tonemorph.master.run as run

    ref, _ = read(files["ref"])
    hot = files["dir"] / "hotter.wav"
    sf.write(hot, (np.tanh(4.0 * ref) / np.tanh(4.0)).T, SR, subtype="FLOAT")
    cfg = MasterConfig(max_limiting_db=3.0, fit_steps=10)
    rep = tonemorph.master_mix(files["mix"], hot, None, config=cfg)
    assert any("out of reach with the reference's own density" in n for n in rep.notes)
    monkeypatch.setattr(run, "_REFIT_SHORT_LU", np.inf)
    plain = tonemorph.master_mix(files["mix"], hot, None, config=cfg)
    assert not any("out of reach with" in n for n in plain.notes)
    y, y0 = rep.track.audio, plain.track.audio
    assert lufs(y, SR) > lufs(y0, SR) + 0.2
    assert dbtp(y) <= -1.0 and dbtp(y0) <= -1.0


def test_a_target_plainly_in_reach_is_not_searched_for_a_shortfall(
        files: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    # a -20 LUFS target: no limiting near; the shortfall check skips its
    # output-gain search (0.12 s of a 5-minute master), which the final pass does anyway
    import tonemorph.master.run as run

    calls = []
    search = run.find_output_gain
    monkeypatch.setattr(run, "find_output_gain",
                        lambda *a, **k: calls.append(1) or search(*a, **k))
    rep = tonemorph.master_mix(files["mix"], files["ref"], None,
                               config=MasterConfig(lufs=-20.0, fit_steps=5))
    assert len(calls) == 1  # the output gain of the pass only
    assert abs(lufs(rep.track.audio, SR) + 20.0) <= 0.5


def test_a_one_sided_mix_is_noted(files: dict, tmp_path: Path) -> None:
    x, _ = read(files["mix"])
    one = x.copy()
    one[1] = 0.0  # a mono mix bounced to the left only
    path = tmp_path / "left_only.wav"
    sf.write(path, one.T, SR, subtype="PCM_24")
    rep = tonemorph.master_mix(path, files["ref"], None)
    assert any("right channel is silent" in n for n in rep.notes), rep.notes
    one[1] = 10 ** (-50 / 20) * x[0]
    sf.write(path, one.T, SR, subtype="PCM_24")
    rep = tonemorph.master_mix(path, files["ref"], None)
    assert any("right channel is 50 dB under" in n for n in rep.notes), rep.notes
    quiet = x.copy()
    quiet[1] *= 10 ** (-30 / 20)  # a lopsided mix, not a one-sided one
    sf.write(path, quiet.T, SR, subtype="PCM_24")
    rep = tonemorph.master_mix(path, files["ref"], None)
    assert not any("one-sided" in n for n in rep.notes)
    assert not any("one-sided" in n
                   for n in tonemorph.master_mix(files["mix"], files["ref"], None).notes)


def test_a_quiet_fixed_point_mix_raised_into_hiss_is_said() -> None:
    from tonemorph.master.run import _raised_floor

    said = _raised_floor(Path("quiet.wav"), "PCM_16", 48.0)
    assert said is not None and said.startswith("quiet.wav is quiet for its 16 bits")
    assert "from about -98 to -50 dBFS" in said
    assert _raised_floor(Path("q.wav"), "PCM_16", 15.0) is None  # floor stays under -80 dBFS
    assert _raised_floor(Path("q.wav"), "PCM_24", 48.0) is None
    assert _raised_floor(Path("q.wav"), "FLOAT", 80.0) is None
    assert _raised_floor(Path("q.wav"), "PCM_U8", 12.0) is not None  # 8 bits: -50 dBFS
    assert _raised_floor(Path("q.wav"), "PCM_U8", 3.0) is None  # as hissy as it came
