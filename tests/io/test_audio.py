"""Tests of tonemorph.io audio files (read, content, rates, write): reading, content checks, resampling, atomic and streaming writes."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import guitar_line, silence, sine, white_noise

from tonemorph.errors import (
    AudioContentError,
    AudioFileError,
    OutputPathError,
    ParameterError,
    TonemorphError,
)
from tonemorph.io import (
    AtomicAudioWriter,
    AudioInfo,
    AudioReader,
    audio_info,
    check_content,
    check_mixdown,
    choose_subtype,
    open_stream,
    read_audio,
    resample,
    write_audio,
)
from tonemorph.io import paths as paths_mod
from tonemorph.io.content import (
    channel_correlation,
    example_mono,
    flat_top_fraction,
    mixdown_loss_db,
)

SR = 48_000


def _peak_hz(x: np.ndarray, sample_rate: int) -> float:
    """Frequency in Hz of the largest FFT bin of a mono signal (Hann window)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(x.shape[-1])))
    return float(np.argmax(spec) * sample_rate / x.shape[-1])


def _stereo(seconds: float = 0.25, sample_rate: int = SR) -> np.ndarray:
    """Stereo test signal whose channels differ (440 Hz left, 660 Hz right)."""
    return np.concatenate(
        [sine(440.0, seconds, sample_rate, amplitude=0.5), sine(660.0, seconds, sample_rate)]
    )


def _listing(directory: Path) -> set[str]:
    """Names of the entries of `directory`."""
    return {p.name for p in directory.iterdir()}


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("name", "subtype", "atol"),
    [
        ("a.wav", "PCM_16", 1.0 / 2**15),
        ("a.wav", "PCM_24", 1.0 / 2**23),
        ("a.wav", "FLOAT", 0.0),
        ("a.flac", "PCM_16", 1.0 / 2**15),
        ("a.flac", "PCM_24", 1.0 / 2**23),
        ("a.aiff", "PCM_16", 1.0 / 2**15),
        ("a.aif", "PCM_24", 1.0 / 2**23),
    ],
)
def test_lossless_round_trip_keeps_samples_and_subtype(
    tmp_path: Path, name: str, subtype: str, atol: float
) -> None:
    x = _stereo()
    info = write_audio(tmp_path / name, x, SR, subtype=subtype)
    assert info.subtype == subtype
    y, sr, read_info = read_audio(tmp_path / name)
    assert sr == SR
    assert y.dtype == np.float32
    assert y.shape == x.shape == (2, x.shape[1])
    np.testing.assert_allclose(y, x, atol=atol, rtol=0)
    assert read_info.subtype == subtype
    assert read_info.channels == 2
    assert read_info.frames == x.shape[1]
    assert read_info.path == tmp_path / name
    assert read_info.duration_s == pytest.approx(x.shape[1] / SR)


@pytest.mark.parametrize(("name", "fmt"), [("a.ogg", "OGG"), ("a.mp3", "MP3")])
def test_lossy_round_trip_keeps_rate_channels_and_pitch(
    tmp_path: Path, name: str, fmt: str
) -> None:
    if not sf.check_format(fmt, sf.default_subtype(fmt)):
        pytest.skip(f"this libsndfile cannot write {fmt}")
    x = np.concatenate([sine(1000.0, 1.0, SR), sine(3000.0, 1.0, SR)])
    write_audio(tmp_path / name, x, SR)
    y, sr, info = read_audio(tmp_path / name)
    assert (sr, info.channels, info.format) == (SR, 2, fmt)
    assert y.dtype == np.float32
    assert y.shape[0] == 2
    assert abs(y.shape[1] - x.shape[1]) < 0.05 * SR  # encoder delay and padding only
    assert _peak_hz(y[0], SR) == pytest.approx(1000.0, abs=2.0)
    assert _peak_hz(y[1], SR) == pytest.approx(3000.0, abs=2.0)
    rms_in = float(np.sqrt(np.mean(x**2)))
    rms_out = float(np.sqrt(np.mean(y**2)))
    assert rms_out == pytest.approx(rms_in, rel=0.1)


@pytest.mark.parametrize(("name", "fmt", "min_kbps"),
                         [("a.ogg", "OGG", 300), ("a.mp3", "MP3", 220)])
def test_lossy_files_are_written_at_the_codecs_best_quality(
    tmp_path: Path, name: str, fmt: str, min_kbps: int
) -> None:
    # libsndfile's default quality is about 130-150 kb/s on noise, where a master's peaks
    # moved 1.5 dB; the best quality is 250 (MP3) and 520 (Ogg) kb/s
    if not sf.check_format(fmt, sf.default_subtype(fmt)):
        pytest.skip(f"this libsndfile cannot write {fmt}")
    x = np.random.default_rng(0).standard_normal((2, 5 * 44100)).astype(np.float32) * 0.1
    write_audio(tmp_path / name, x, 44100)
    assert (tmp_path / name).stat().st_size * 8 / 5 / 1000 > min_kbps


def test_arrays_are_taken_as_pcm_or_float_with_a_whole_rate() -> None:
    from tonemorph.io import float_audio, load_audio_like

    pcm = np.array([[-32768, 0, 16384, 32767]], np.int16)
    np.testing.assert_array_equal(float_audio(pcm, "x"), [[-1.0, 0.0, 0.5, 32767 / 32768]])
    np.testing.assert_array_equal(float_audio(np.array([0, 128, 255], np.uint8), "x"),
                                  np.array([-1.0, 0.0, 127 / 128], np.float32))
    assert float_audio(np.array([2**31 - 1], np.int32), "x")[0] == pytest.approx(1.0)
    audio, rate, _ = load_audio_like((pcm, 44100.0), "input")
    assert audio.dtype == np.float32 and rate == 44100 and audio[0, 2] == 0.5
    for bad in ((pcm, 44100.7), (pcm, "abc"), (pcm, None), (44100, pcm), (pcm, 0)):
        with pytest.raises(ParameterError, match="sample rate must be"):
            load_audio_like(bad, "input")
    with pytest.raises(ParameterError, match=r"\(samples, channels\).*pass audio\.T"):
        load_audio_like((np.zeros((1000, 2), np.float32), 44100), "input")
    for bad_samples in (np.zeros(10, np.int64), np.zeros(10, bool), np.zeros(10, complex)):
        with pytest.raises(ParameterError, match="samples; give floats"):
            load_audio_like((bad_samples, 44100), "input")


def test_mono_1d_audio_is_written_as_one_channel(tmp_path: Path) -> None:
    x = sine(440.0, 0.1, SR)[0]
    write_audio(tmp_path / "m.wav", x, SR, subtype="FLOAT")
    y, _, info = read_audio(tmp_path / "m.wav")
    assert info.channels == 1
    assert y.shape == (1, x.shape[0])
    np.testing.assert_array_equal(y[0], x)


def test_audio_info_reads_header_only(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.flac", _stereo(0.5, 44_100), 44_100, subtype="PCM_24")
    info = audio_info(tmp_path / "a.flac")
    assert info == AudioInfo(
        path=tmp_path / "a.flac",
        sample_rate=44_100,
        channels=2,
        frames=22_050,
        subtype="PCM_24",
        format="FLAC",
    )


def test_written_file_gets_normal_permissions(tmp_path: Path) -> None:
    umask = paths_mod._umask()
    write_audio(tmp_path / "a.wav", _stereo(), SR)
    mode = stat.S_IMODE((tmp_path / "a.wav").stat().st_mode)
    assert mode == 0o666 & ~umask


# --------------------------------------------------------------------------- subtype choice


def test_like_keeps_the_input_subtype(tmp_path: Path) -> None:
    write_audio(tmp_path / "in.wav", _stereo(), SR, subtype="PCM_24")
    like = audio_info(tmp_path / "in.wav")
    info = write_audio(tmp_path / "out.wav", _stereo(), SR, like=like)
    assert info.subtype == "PCM_24"
    assert audio_info(tmp_path / "out.wav").subtype == "PCM_24"


def test_explicit_subtype_wins_over_like(tmp_path: Path) -> None:
    like = AudioInfo(tmp_path / "x.wav", SR, 2, 10, "PCM_24", "WAV")
    info = write_audio(tmp_path / "o.wav", _stereo(), SR, subtype="float", like=like)
    assert info.subtype == "FLOAT"


@pytest.mark.parametrize(
    ("like_format", "like_subtype", "out_format", "expected"),
    [
        ("MP3", "MPEG_LAYER_III", "WAV", "PCM_16"),
        ("OGG", "VORBIS", "FLAC", "PCM_16"),
        ("WAV", "PCM_16", "OGG", "VORBIS"),
        ("WAV", "PCM_24", "MP3", "MPEG_LAYER_III"),
        ("WAV", "FLOAT", "FLAC", "PCM_24"),
        ("WAV", "FLOAT", "AIFF", "FLOAT"),
        ("WAV", "PCM_U8", "FLAC", "PCM_S8"),  # 8 bits stay 8 bits, signed where they must
        ("AIFF", "PCM_S8", "WAV", "PCM_U8"),
    ],
)
def test_like_subtype_falls_back_when_the_format_cannot_take_it(
    like_format: str, like_subtype: str, out_format: str, expected: str
) -> None:
    like = AudioInfo(Path("x"), SR, 1, 10, like_subtype, like_format)
    assert choose_subtype(out_format, like=like) == expected


def test_bad_explicit_subtype_is_a_parameter_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match=r"FLOAT.*FLAC"):
        write_audio(tmp_path / "a.flac", _stereo(), SR, subtype="FLOAT")
    assert _listing(tmp_path) == set()


def test_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match=r"\.xyz"):
        write_audio(tmp_path / "a.xyz", _stereo(), SR)
    assert _listing(tmp_path) == set()


# --------------------------------------------------------------------------- clipping


def test_integer_subtypes_clip_and_float_subtypes_do_not(tmp_path: Path) -> None:
    x = np.array([[0.5, 1.5, -1.5, -0.25]], dtype=np.float32)
    write_audio(tmp_path / "i.wav", x, SR, subtype="PCM_16")
    write_audio(tmp_path / "f.wav", x, SR, subtype="FLOAT")
    yi, _, _ = read_audio(tmp_path / "i.wav")
    yf, _, _ = read_audio(tmp_path / "f.wav")
    np.testing.assert_allclose(yi, [[0.5, 1.0, -1.0, -0.25]], atol=1.0 / 2**15)
    np.testing.assert_array_equal(yf, x)


# --------------------------------------------------------------------------- read errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match=r"target file .*nope\.wav not found") as err:
        read_audio(tmp_path / "nope.wav", role="target")
    assert isinstance(err.value, OSError)
    assert isinstance(err.value, TonemorphError)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match=r"take path .* is a directory"):
        read_audio(tmp_path, role="take")
    with pytest.raises(AudioFileError, match="is a directory"):
        audio_info(tmp_path)


def test_a_pipe_or_device_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    # a pipe (bash's `<(cat a.wav)`) decoded, then the first seek raised a traceback; a FIFO
    # with no writer would block in open()
    fifo = tmp_path / "take.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioFileError, match=r"take file .*take\.wav is a pipe or device"):
        read_audio(fifo, role="take")
    zero = tmp_path / "zero.wav"
    zero.symlink_to("/dev/zero")
    with pytest.raises(AudioFileError, match="not a regular file; save the audio to a file"):
        audio_info(zero)


def test_corrupt_bytes_with_wav_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(bytes(np.random.default_rng(0).integers(128, 256, 4000, dtype=np.uint8)))
    with pytest.raises(AudioFileError, match=r"input file .*broken\.wav cannot be decoded"):
        read_audio(path)


def test_truncated_header(tmp_path: Path) -> None:
    write_audio(tmp_path / "a.wav", _stereo(), SR)
    path = tmp_path / "cut.wav"
    path.write_bytes((tmp_path / "a.wav").read_bytes()[:20])
    with pytest.raises(AudioFileError, match="cannot be decoded"):
        read_audio(path)


def _with_wav_sizes(src: Path, dst: Path, riff: int, data: int) -> Path:
    """A copy of the WAV src with its RIFF and data chunk sizes set (bytes)."""
    raw = bytearray(src.read_bytes())
    at = raw.find(b"data")
    raw[4:8] = riff.to_bytes(4, "little")
    raw[at + 4 : at + 8] = data.to_bytes(4, "little")
    dst.write_bytes(bytes(raw))
    return dst


def test_a_streamed_or_unfinished_wav_s_sizes(tmp_path: Path) -> None:
    x = _stereo()
    write_audio(tmp_path / "a.wav", x, SR, subtype="PCM_16")
    # streamed: sizes all ones while the recorder did not know them; nothing is missing
    streamed = _with_wav_sizes(tmp_path / "a.wav", tmp_path / "streamed.wav", 2**32 - 1, 2**32 - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # it warned "truncated: its header declares 44739.2 s"
        y, _, _ = read_audio(streamed)
    assert y.shape == x.shape
    # never finished: sizes 0, the samples there; it said "contains no audio (0 frames)"
    unfinished = _with_wav_sizes(tmp_path / "a.wav", tmp_path / "unfinished.wav", 0, 0)
    with pytest.raises(AudioFileError, match="never finished.*sox --ignore-length"):
        read_audio(unfinished)


@pytest.mark.parametrize("name", ["notes.txt", "notes.wav"])
def test_text_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("this is a text file, not a recording\n" * 20, encoding="utf-8")
    with pytest.raises(AudioFileError, match=r"target file .* is not audio \(it is a text file\)"):
        read_audio(path, role="target")


def test_zero_frames(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1)), SR)
    with pytest.raises(AudioFileError, match="no audio \\(0 frames\\)"):
        read_audio(path)
    with pytest.raises(AudioFileError, match="0 frames"):
        audio_info(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_samples(tmp_path: Path, bad: float) -> None:
    path = tmp_path / "nan.wav"
    data = np.full((100, 1), 0.1, dtype=np.float32)
    data[50] = bad
    sf.write(path, data, SR, subtype="FLOAT")
    with pytest.raises(AudioContentError, match=r"target file .* 1 NaN or infinite samples"):
        read_audio(path, role="target")
    with pytest.raises(AudioContentError):
        list(open_stream(path, 16))


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "locked.wav"
    write_audio(path, _stereo(), SR)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read any file")
        with pytest.raises(AudioFileError, match="not readable"):
            read_audio(path)
    finally:
        path.chmod(0o644)


# --------------------------------------------------------------------------- content checks


def test_check_content_counts_active_seconds_and_peak() -> None:
    x = np.concatenate([sine(220.0, 6.0, SR, amplitude=0.5), silence(3.0, SR)], axis=1)
    report = check_content(x, SR, role="target", min_seconds=5.0, recommended_seconds=5.0)
    assert report.active_seconds == pytest.approx(6.0, abs=0.05)
    assert report.peak_dbfs == pytest.approx(20 * np.log10(0.5), abs=0.01)
    assert report.clipped_fraction == 0.0
    assert report.warnings == []


def test_check_content_never_rounds_a_short_take_up_to_its_bound() -> None:
    # a little under 10 s of sound: the warning must not read "has 10.0 s ... 10 s or more"
    x = np.concatenate([sine(220.0, 9.96, SR, amplitude=0.5), silence(1.0, SR)], axis=1)
    report = check_content(x, SR, role="input", min_seconds=5.0, recommended_seconds=10.0)
    assert 9.9 <= report.active_seconds < 10.0
    assert len(report.warnings) == 1 and "has 9.9 s of sound" in report.warnings[0]
    with pytest.raises(AudioContentError, match=r"has 9\.9 s of sound; need at least 10 s"):
        check_content(x, SR, role="input", min_seconds=10.0)
    # a blip is said as what it is, not as no sound at all
    with pytest.raises(AudioContentError, match=r"has 0\.0[5-9] s of sound; need at least 5 s"):
        check_content(sine(220.0, 0.08, SR, amplitude=0.5), SR, role="input", min_seconds=5.0)


def test_check_content_gate_is_relative_to_the_loud_level() -> None:
    loud = sine(220.0, 6.0, SR, amplitude=0.5)  # about -9 dBFS RMS
    hum = white_noise(4.0, SR, amplitude=10 ** (-75 / 20))  # below the -70 dBFS floor
    quiet = white_noise(2.0, SR, amplitude=10 ** (-40 / 20), seed=1)  # within 50 dB
    x = np.concatenate([loud, hum, quiet], axis=1)
    report = check_content(x, SR, role="take", min_seconds=1.0)
    assert report.active_seconds == pytest.approx(8.0, abs=0.05)


@pytest.mark.parametrize(
    ("amplitude", "pattern"),
    [(0.0, r"target is silent \(all samples are zero\)"),
     (10 ** (-87 / 20), r"nearly\) silent: its loudest sample peaks at -87.0 dBFS, under the -60")],
)
def test_check_content_silent(amplitude: float, pattern: str) -> None:
    x = sine(1000.0, 6.0, SR, amplitude=amplitude)
    with pytest.raises(AudioContentError, match=pattern) as err:
        check_content(x, SR, role="target", min_seconds=5.0)
    assert isinstance(err.value, ValueError)


def test_check_content_click_without_sustained_sound_is_silent() -> None:
    x = silence(6.0, SR)
    x[0, 1000] = 0.01  # -40 dBFS peak, frame RMS about -73 dBFS
    with pytest.raises(AudioContentError, match=r"target is silent .*no sustained sound"):
        check_content(x, SR, role="target", min_seconds=5.0)


def test_check_content_too_short_names_the_numbers() -> None:
    x = np.concatenate([sine(220.0, 1.2, SR), silence(5.0, SR)], axis=1)
    with pytest.raises(
        AudioContentError,
        match=r"^target has 1\.2 s of sound; need at least 5 s \(10 s or more recommended\)",
    ):
        check_content(x, SR, role="target", min_seconds=5.0, recommended_seconds=10.0)
    with pytest.raises(
        AudioContentError, match=r"^input has 1\.2 s of sound; need at least 2\.5 s;"
    ):
        check_content(x, SR, role="input", min_seconds=2.5)


def test_check_content_warns_below_recommended() -> None:
    x = sine(220.0, 6.0, SR)
    report = check_content(x, SR, role="target", min_seconds=5.0, recommended_seconds=10.0)
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("target has 6.0 s of sound; 10 s or more is recommended")


def test_check_content_warns_when_clipped() -> None:
    x = np.clip(sine(220.0, 6.0, SR, amplitude=1.02, channels=2), -1.0, 1.0)
    report = check_content(x, SR, role="target", min_seconds=5.0)
    assert 0.001 < report.clipped_fraction < 0.2
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("target looks clipped (")
    assert "% of samples in flat tops)" in report.warnings[0]


def test_clipping_is_flat_tops_not_samples_over_full_scale() -> None:

    line = guitar_line(6.0, SR, seed=5, level_db=0.0)
    # a float recording 18 dB over full scale, unclipped: nothing held flat
    report = check_content(8.0 * line, SR, role="target", min_seconds=5.0)
    assert report.clipped_fraction == 0.0 and report.warnings == []
    # clipped, then turned down 12 dB: its flat tops are below full scale
    clipped = 0.25 * np.clip(8.0 * line, -1.0, 1.0)
    report = check_content(clipped, SR, role="target", min_seconds=5.0)
    assert report.clipped_fraction > 0.01
    assert report.warnings[0].startswith("target looks clipped (")
    # a 16-bit file's rails differ by a step (+32767 / -32768): both hold
    pcm = np.round(np.clip(8.0 * line, -1.0, 1.0) * 32768).clip(-32768, 32767) / 32768
    ideal = flat_top_fraction(np.clip(8.0 * line, -1.0, 1.0))
    assert ideal > 0.01 and flat_top_fraction(pcm) == pytest.approx(ideal, rel=0.02)
    # a pure sine, finely sampled, has no flat top at its peak
    assert flat_top_fraction(sine(50.0, 2.0, SR, amplitude=0.9)) == 0.0
    # a constant (DC only) is held flat once, not at two rails that are one
    assert flat_top_fraction(np.full((2, SR), 0.3)) == 1.0


def test_check_content_does_not_warn_for_a_few_full_scale_samples() -> None:
    x = sine(220.0, 6.0, SR, amplitude=0.5)
    x[0, :100] = 1.0  # 0.03 % of samples
    report = check_content(x, SR, role="target", min_seconds=5.0)
    assert report.warnings == []


def test_check_content_rejects_nan_and_transposed_audio() -> None:
    x = sine(220.0, 6.0, SR)
    x[0, 10] = np.nan
    with pytest.raises(AudioContentError, match="NaN"):
        check_content(x, SR, role="target", min_seconds=1.0)
    with pytest.raises(ParameterError, match="transpose"):
        check_content(sine(220.0, 1.0, SR, channels=2).T, SR, role="target", min_seconds=0.5)


def test_mixdown_loss_closed_forms() -> None:
    x = sine(220.0, 1.0, SR)
    assert mixdown_loss_db(np.concatenate([x, x])) == pytest.approx(0.0, abs=1e-9)
    assert mixdown_loss_db(np.concatenate([x, -x])) == np.inf
    assert mixdown_loss_db(np.concatenate([x, 0 * x])) == pytest.approx(10 * np.log10(2))
    # unrelated channels of equal power: the mean has half their power
    two = np.concatenate([white_noise(4.0, SR, seed=1), white_noise(4.0, SR, seed=2)])
    assert mixdown_loss_db(two) == pytest.approx(10 * np.log10(2), abs=0.05)
    assert mixdown_loss_db(x) == 0.0 and mixdown_loss_db(0 * x) == 0.0


def test_channel_correlation_and_the_example_s_mono() -> None:
    x = white_noise(2.0, SR, seed=1)
    other = white_noise(2.0, SR, seed=2)
    assert channel_correlation(np.concatenate([x, 0.5 * x])) == pytest.approx(1.0)
    assert channel_correlation(np.concatenate([x, -x])) == pytest.approx(-1.0)
    assert abs(channel_correlation(np.concatenate([x, other]))) < 0.02
    assert channel_correlation(x) == 1.0 and channel_correlation(np.concatenate([x, 0 * x])) == 1.0
    # one performance on both channels: their mean
    mono, joined = example_mono(np.concatenate([x, 0.5 * x]))
    assert not joined and np.allclose(mono, 0.75 * x[0], atol=1e-6)
    # two performances (double-tracked): one after the other, each as recorded
    mono, joined = example_mono(np.concatenate([x, other]))
    assert joined and mono.dtype == x.dtype and mono.shape == (2 * x.shape[1],)
    assert np.allclose(mono[: x.shape[1]], x[0], atol=1e-6)
    assert np.allclose(mono[x.shape[1]:], other[0], atol=1e-6)
    # a silent channel holds no performance, nor a part of the mix to mono: the playing one
    mono, joined = example_mono(np.concatenate([x, 0 * x]))
    assert not joined and np.array_equal(mono, x[0])
    assert not example_mono(x)[1]


def test_the_mono_mixdown_leaves_out_silent_channels() -> None:
    # a guitar on input 1 of a two-input interface: input 2 silent or hiss; averaged in, it
    # halved the guitar and the tone learned drove 6 dB harder than the example was played
    from tonemorph.io import mono_mixdown, playing_channels

    x = white_noise(2.0, SR, seed=1)
    hiss = 10 ** (-31 / 20) * white_noise(2.0, SR, seed=2)  # 31 dB under the playing one
    quiet = 10 ** (-29 / 20) * white_noise(2.0, SR, seed=3)  # 29 dB under: a part played
    assert playing_channels(np.concatenate([x, 0 * x])).tolist() == [True, False]
    assert np.array_equal(mono_mixdown(np.concatenate([0 * x, x])), x[0])
    assert np.array_equal(mono_mixdown(np.concatenate([x, hiss, x])), x[0])
    assert np.allclose(mono_mixdown(np.concatenate([x, quiet])), (x[0] + quiet[0]) / 2)
    assert np.array_equal(mono_mixdown(0 * np.concatenate([x, x])), 0 * x[0])  # all silent
    assert np.array_equal(mono_mixdown(x), x[0])


def test_check_mixdown_refuses_channels_that_cancel() -> None:
    x = sine(220.0, 1.0, SR)
    with pytest.raises(AudioContentError, match="polarity inverted"):
        check_mixdown(np.concatenate([x, -x]), role="target")
    with pytest.raises(AudioContentError, match="cancel"):
        check_mixdown(np.concatenate([x, -0.95 * x]), role="input")  # 32 dB under
    check_mixdown(np.concatenate([x, -0.8 * x]), role="input")  # 19 dB under: kept
    check_mixdown(np.concatenate([x, 0.5 * x]), role="input")


# --------------------------------------------------------------------------- resampling


@pytest.mark.parametrize(
    ("sr_in", "sr_out"), [(48_000, 44_100), (44_100, 48_000), (96_000, 48_000)]
)
def test_resample_length_and_pitch(sr_in: int, sr_out: int) -> None:
    x = np.concatenate([sine(1000.0, 1.0, sr_in), sine(5000.0, 1.0, sr_in)])
    y = resample(x, sr_in, sr_out)
    assert y.dtype == np.float32
    assert y.shape[0] == 2
    assert abs(y.shape[1] - sr_out) <= 1
    assert _peak_hz(y[0], sr_out) == pytest.approx(1000.0, abs=1.5)
    assert _peak_hz(y[1], sr_out) == pytest.approx(5000.0, abs=1.5)
    mid = slice(sr_out // 4, 3 * sr_out // 4)
    assert float(np.max(np.abs(y[0, mid]))) == pytest.approx(0.5, abs=0.01)


def test_resample_same_rate_is_a_no_op() -> None:
    x = _stereo()
    assert resample(x, SR, SR) is x


def test_resample_1d_and_float64() -> None:
    x = sine(1000.0, 0.5, SR)[0].astype(np.float64)
    y = resample(x, SR, 16_000)
    assert y.ndim == 1
    assert y.dtype == np.float64
    assert abs(y.shape[0] - 8_000) <= 1


@pytest.mark.parametrize("bad", [0, -44_100, 44_100.0, True])
def test_resample_rejects_bad_rates(bad: object) -> None:
    with pytest.raises(ParameterError, match="sr_out"):
        resample(_stereo(), SR, bad)  # type: ignore[arg-type]


# ------------------------------------------------------------------ write errors, atomicity


def test_write_into_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="does not exist"):
        write_audio(tmp_path / "missing" / "a.wav", _stereo(), SR)


def test_write_into_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(OutputPathError, match="not writable"):
            write_audio(locked / "a.wav", _stereo(), SR)
    finally:
        locked.chmod(0o755)


def test_write_reports_permission_errors_as_output_path_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(paths_mod.os, "open", refuse)
    with pytest.raises(OutputPathError, match="not writable"):
        write_audio(tmp_path / "a.wav", _stereo(), SR)


def test_failed_write_leaves_no_temp_and_keeps_the_old_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not sf.check_format("MP3", "MPEG_LAYER_III"):
        pytest.skip("this libsndfile cannot write MP3")
    import tonemorph.io.write as write_mod

    # past the up-front rate check, libsndfile itself refuses 96 kHz MPEG on opening the temp
    monkeypatch.setattr(write_mod, "CODEC_RATES_HZ", {})
    out = tmp_path / "out.mp3"
    out.write_bytes(b"old contents")
    with pytest.raises(AudioFileError, match=r"cannot write .*96000 Hz"):
        write_audio(out, _stereo(0.1, 96_000), 96_000)  # MP3 cannot store 96 kHz
    assert _listing(tmp_path) == {"out.mp3"}
    assert out.read_bytes() == b"old contents"


@pytest.mark.parametrize(("name", "rate", "ok"), [("a.mp3", 96_000, False),
                                                  ("a.mp3", 88_200, False),
                                                  ("a.mp3", 48_000, True),
                                                  ("a.mp3", 8_000, True),
                                                  ("a.flac", 96_000, True),
                                                  ("a.wav", 7_000, True)])
def test_a_codec_s_sample_rates_are_checked_before_writing(tmp_path: Path, name: str,
                                                           rate: int, ok: bool) -> None:
    from tonemorph.io import check_format_rate

    if ok:
        check_format_rate(tmp_path / name, rate)
        return
    with pytest.raises(OutputPathError, match=rf"MP3 file cannot hold {rate} Hz.*\.wav or \.flac"):
        check_format_rate(tmp_path / name, rate)
    with pytest.raises(OutputPathError, match="cannot hold"):
        AtomicAudioWriter(tmp_path / name, rate, 2)
    assert _listing(tmp_path) == set()


def test_opus_rates_are_checked_by_subtype(tmp_path: Path) -> None:
    from tonemorph.io import check_format_rate

    check_format_rate(tmp_path / "a.ogg", 96_000)  # Vorbis, the default, takes it
    check_format_rate(tmp_path / "a.ogg", 48_000, "opus")
    with pytest.raises(OutputPathError, match="OPUS in an OGG file cannot hold 96000 Hz"):
        check_format_rate(tmp_path / "a.ogg", 96_000, "OPUS")
    if sf.check_format("OGG", "OPUS"):
        with pytest.raises(OutputPathError, match="OPUS in an OGG file cannot hold 44100 Hz"):
            AtomicAudioWriter(tmp_path / "a.ogg", 44_100, 2, subtype="OPUS")
    assert _listing(tmp_path) == set()


def test_a_codec_outside_its_container_is_refused_before_writing(tmp_path: Path) -> None:
    # libsndfile lists MPEG audio in a WAV as possible, then fails to open it: the error named
    # the master's temp file of encoded excerpts
    with pytest.raises(ParameterError, match="written in an MP3 file; name the output .mp3"):
        AtomicAudioWriter(tmp_path / "a.wav", 44_100, 2, subtype="MPEG_LAYER_III")
    with pytest.raises(ParameterError, match="read but not written"):
        AtomicAudioWriter(tmp_path / "a.mp3", 44_100, 2, subtype="MPEG_LAYER_II")
    assert _listing(tmp_path) == set()


def test_an_opus_name_says_how_opus_is_written(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match=r"name it \.ogg and ask for the OPUS subtype"):
        AtomicAudioWriter(tmp_path / "a.opus", 48_000, 2)


def test_vorbis_above_its_top_rate_is_refused_before_libvorbis_crashes(tmp_path: Path) -> None:
    from tonemorph.io import check_format_rate

    check_format_rate(tmp_path / "a.ogg", 192_000)
    # the default subtype of .ogg is Vorbis: checked without one given (master's early check)
    with pytest.raises(OutputPathError, match="VORBIS in an OGG file cannot hold 384000 Hz"):
        check_format_rate(tmp_path / "a.ogg", 384_000)
    with pytest.raises(OutputPathError, match="up to 200000 Hz"):
        AtomicAudioWriter(tmp_path / "a.ogg", 200_001, 1)
    check_format_rate(tmp_path / "a.flac", 384_000)
    assert _listing(tmp_path) == set()


def test_nan_audio_is_not_written(tmp_path: Path) -> None:
    x = _stereo()
    x[1, 7] = np.nan
    with pytest.raises(AudioContentError, match="NaN"):
        write_audio(tmp_path / "a.wav", x, SR, subtype="FLOAT")
    assert _listing(tmp_path) == set()


@pytest.mark.parametrize("exc_type", [RuntimeError, KeyboardInterrupt])
def test_atomic_writer_removes_temp_on_exception(tmp_path: Path, exc_type: type) -> None:
    out = tmp_path / "out.wav"
    write_audio(out, sine(440.0, 0.1, SR), SR)
    before = out.read_bytes()
    with pytest.raises(exc_type), AtomicAudioWriter(out, SR, 2) as writer:
        writer.write(_stereo())
        assert len(_listing(tmp_path)) == 2  # the temp file exists while writing
        raise exc_type("interrupted")
    assert _listing(tmp_path) == {"out.wav"}
    assert out.read_bytes() == before


def test_atomic_writer_block_errors(tmp_path: Path) -> None:
    with (
        pytest.raises(ParameterError, match="3 channels"),
        AtomicAudioWriter(tmp_path / "a.wav", SR, 2) as writer,
    ):
        writer.write(np.zeros((3, 10), dtype=np.float32))
    assert _listing(tmp_path) == set()


@pytest.mark.parametrize("block_frames", [1, 64, 65, 1000, 8192, 8193])
def test_streaming_read_and_write_reconstruct_the_file(tmp_path: Path, block_frames: int) -> None:
    n = 3000 if block_frames < 64 else 20_000
    x = white_noise(n / SR, SR, amplitude=0.2, channels=2)
    write_audio(tmp_path / "in.wav", x, SR, subtype="FLOAT")
    like = audio_info(tmp_path / "in.wav")
    blocks = list(open_stream(tmp_path / "in.wav", block_frames))
    assert all(b.shape == (2, block_frames) for b in blocks[:-1])
    assert 1 <= blocks[-1].shape[1] <= block_frames
    assert all(b.dtype == np.float32 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), x)

    with AtomicAudioWriter(tmp_path / "out.flac", SR, 2, like=like) as writer:
        for block in blocks:
            writer.write(block)
    assert writer.frames_written == n
    y, _, info = read_audio(tmp_path / "out.flac")
    assert info.subtype == "PCM_24"
    np.testing.assert_allclose(y, x, atol=1.0 / 2**23)
    assert _listing(tmp_path) == {"in.wav", "out.flac"}


def test_open_stream_raises_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="not found"):
        open_stream(tmp_path / "missing.wav", 512)
    write_audio(tmp_path / "a.wav", _stereo(), SR)
    with pytest.raises(ParameterError, match="block_frames"):
        open_stream(tmp_path / "a.wav", 0)


def test_audio_reader_seek_and_read(tmp_path: Path) -> None:
    x = _stereo()
    write_audio(tmp_path / "a.wav", x, SR, subtype="FLOAT")
    with AudioReader(tmp_path / "a.wav") as reader:
        assert (reader.sample_rate, reader.channels, reader.frames) == (SR, 2, x.shape[1])
        reader.seek(100)
        np.testing.assert_array_equal(reader.read(50), x[:, 100:150])
        assert reader.tell() == 150
        assert reader.read().shape == (2, x.shape[1] - 150)
        assert reader.read(10).shape == (2, 0)


