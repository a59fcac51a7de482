"""The Python API the CLI wraps: learn a tone from two recordings."""

from __future__ import annotations

import datetime as _dt
import math
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain.config import STAGES
from tonemorph.dsp.align import check_lengths
from tonemorph.dsp.matcheq import active_rms_db
from tonemorph.dsp.offset import OFFSET_RE_RMS_DB, without_offset, without_steady_offset
from tonemorph.dsp.silence import long_silences_removed
from tonemorph.dsp.units import gain_to_db
from tonemorph.errors import LowSampleRateError, ParameterError
from tonemorph.export import check_export_path
from tonemorph.io import (
    AudioLike,
    check_content,
    check_mixdown,
    example_mono,
    load_audio_like,
    mono_mixdown,
    playing_channels,
    resample,
)
from tonemorph.io.content import QUIET_CHANNEL_DB
from tonemorph.model import MAX_KNOB_DB, NATIVE_RATES_HZ, Tone
from tonemorph.progress import Progress

if TYPE_CHECKING:  # torch only inside the learning functions: `import tonemorph` stays light
    import torch

    from tonemorph.learn.fit import LearnConfig, LearnResult

MIN_SECONDS = 5.0
RECOMMENDED_SECONDS = 10.0
MAX_LEARN_SECONDS = 600.0
INTERNAL_RATE = 48000
MIN_LEARN_RATE = 16000  # Hz: below this a recording lacks the octaves a tone lives in
# a `tonemorph.dsp.offset` remover: (signal without its offset, the offset or None)
OffsetRemover = Callable[[np.ndarray], tuple[np.ndarray, float | None]]
MAX_SEED = 2**32 - 1  # numpy's and torch's generators both take any seed in 0..MAX_SEED


def check_seed(seed: int) -> None:
    """Refuse a random seed outside 0..MAX_SEED (numpy refuses a negative one mid-run)."""
    if (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
            or not 0 <= seed <= MAX_SEED):
        raise ParameterError(f"the random seed must be a whole number in 0..{MAX_SEED}, got "
                             f"{seed!r}", option="seed")


def check_budget(seconds: float | None, steps: int | None) -> None:
    """Refuse a training budget that is no positive, finite time (s) or whole step count: inf
    ran on and ended in OverflowError, nan wrote an untrained model, steps 0 ran one per
    start."""
    if seconds is not None and (isinstance(seconds, bool)
                                or not isinstance(seconds, (int, float, np.integer, np.floating))
                                or not (math.isfinite(seconds) and seconds > 0)):
        raise ParameterError(f"the training time must be a positive number of seconds, got "
                             f"{seconds!r}", option="seconds")
    if steps is not None and (isinstance(steps, bool)
                              or not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ParameterError(f"the training steps must be a whole number of at least 1, got "
                             f"{steps!r}", option="steps")


def parse_stages(spec: str | None) -> tuple[str, ...]:
    """Chain stages from a comma list like 'eq,drive,cab' ('eq' means pre_eq and post_eq);
    None is the full chain. A list naming no stage ('', ',,,') is refused: it would learn a
    chain of the always-present gains and cabinet alone, unasked."""
    if spec is None:
        return STAGES
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        names = ("pre_eq", "post_eq") if part == "eq" else (part,)
        for n in names:
            if n not in STAGES:
                raise ParameterError(f"unknown stage {part!r}; choose from eq, "
                                     f"{', '.join(STAGES)}", option="stages")
            if n not in out:
                out.append(n)
    return _some_stages(tuple(s for s in STAGES if s in out), spec)


def _some_stages(stages: tuple[str, ...], given: object) -> tuple[str, ...]:
    """`stages` when it names at least one; ParameterError otherwise."""
    if not stages:
        raise ParameterError(f"no stages given ({given!r}); name them, e.g. 'eq,cab' or "
                             "'eq,drive,cab,comp', or leave them out for the full chain",
                             option="stages")
    return stages


def _stages_of(stages: str | tuple[str, ...] | None) -> tuple[str, ...]:
    """The stages a learner runs: `parse_stages` of text or None, else the names given."""
    if isinstance(stages, (str, type(None))):
        return parse_stages(stages)
    return _some_stages(tuple(stages), stages)


def _check_pair(pair: tuple[tuple[str, np.ndarray, int], ...], rate: int,
                allow_low_rate: bool, joined: tuple[str, ...] = (),
                offsets: Mapping[str, OffsetRemover] | None = None) -> list[str]:
    """Check (role, audio, rate) recordings for learning; returns what was done, as notes.

    Each note is also issued as a warning: a mixdown of more than one channel (or, for the
    roles in `joined`, its channels learned one after another: `example_mono`), a rate far
    from the learning rate. A recording below MIN_LEARN_RATE is refused (its band stops
    below the tone's top octaves) unless `allow_low_rate`. The content of a role in `offsets`
    is judged without the offset its remover takes off for learning.
    """
    notes: list[str] = []
    for role, a, sr in pair:
        if sr < MIN_LEARN_RATE and not allow_low_rate:
            raise LowSampleRateError(
                f"{role} is sampled at {sr} Hz: it holds nothing above {sr / 2000:g} kHz, so "
                f"the tone's top octaves cannot be matched; use a recording at "
                f"{MIN_LEARN_RATE // 1000} kHz or more, or allow a band-limited match",
                option="allow_low_rate")
        # a DC offset alone is no playing: left in, it passed a silent or too short
        # recording as sound
        remove = (offsets or {}).get(role)
        judged = _each_channel_without(a, remove) if remove else a
        label = role if judged is a else f"{role} without its DC offset"
        rep = check_content(judged, sr, role=label, min_seconds=MIN_SECONDS,
                            recommended_seconds=RECOMMENDED_SECONDS)
        said = list(rep.warnings)
        if a.shape[0] > 1:
            check_mixdown(judged, role=label)
            playing = np.flatnonzero(playing_channels(judged)) + 1
            if role in joined:
                said.append(f"{role}: its {a.shape[0]} channels hold different performances "
                            "(double-tracked parts?): learned from each channel in turn, not "
                            "from their mix")
            elif playing.size < a.shape[0]:
                left = a.shape[0] - playing.size
                said.append(f"{role}: learned from channel{'s' if playing.size > 1 else ''} "
                            f"{', '.join(map(str, playing))} of {a.shape[0]}; "
                            f"{'the others are' if left > 1 else 'the other is'} silent (over "
                            f"{QUIET_CHANNEL_DB:.0f} dB quieter), left out of the mix to mono")
            else:
                said.append(f"{role}: {a.shape[0]} channels mixed down to mono for learning")
        if sr < NATIVE_RATES_HZ[0] or sr > NATIVE_RATES_HZ[1]:
            said.append(f"{role}: {sr} Hz resampled to {rate} Hz for learning")
        for w in said:
            warnings.warn(w, stacklevel=3)
        notes += said
    return notes


def _each_channel_without(audio: np.ndarray, remove: OffsetRemover) -> np.ndarray:
    """(channels, samples) audio with each channel's offset taken off by `remove`, as learning
    takes it off their mono mix; the audio itself where no channel has one."""
    channels = list(audio)
    out = [remove(ch)[0] for ch in channels]
    if all(o is ch for o, ch in zip(out, channels)):
        return audio
    return np.stack(out)


def _said_offset(role: str, offset: float, why: str, notes: list[str]) -> list[str]:
    """notes with a line (also warned) saying that role's DC offset (linear) was removed."""
    said = (f"{role}: a DC offset of {gain_to_db(abs(offset)):.0f} dBFS removed for learning "
            f"(an audio interface or export added it{why})")
    warnings.warn(said, stacklevel=4)
    return [*notes, said]


def _offset_removed(x: np.ndarray, role: str, notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """x without a DC offset (`without_offset`), and notes with a line saying so if removed."""
    x, mean = without_offset(x)
    if mean is None:
        return x, notes
    return x, _said_offset(role, mean, "; it would drive the shaper off-centre", notes)


def _target_offset_removed(y: np.ndarray, notes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Mono example (or reamp) y without a steady DC offset (`without_steady_offset`), and
    notes with a line saying so where it was above OFFSET_RE_RMS_DB re the RMS.

    An offset in an unpaired example is a floor under every frame's level: 0.1 of full scale
    on a crunch amp's example (RMS 0.05) made the learner invent a 3.5:1 compressor (MR-STFT
    1.07 -> 2.14 on a new take; 1.06 with it taken off), and 0.002 (31 dB under its RMS)
    changed the chain it chose. In a reamp it is error no chain can fit.
    """
    out, offset = without_steady_offset(y)
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    # said where an interface or an export would have put it (the input's rule); a smaller
    # one is taken off quietly (an offset is never heard)
    if offset is None or gain_to_db(abs(offset) / rms) <= OFFSET_RE_RMS_DB:
        return out, notes
    return out, _said_offset("target", offset, "", notes)


QUIET_TARGET_DB = -40.0  # an example this quiet (active RMS, dBFS) makes a tone that quiet
USUAL_LEVEL_DB = -20.0  # active RMS (dBFS) of a usual guitar recording


def _quiet_target(y: np.ndarray, notes: list[str]) -> list[str]:
    """notes with a line (also warned) when the example is so quiet that the tone, which
    plays at its level, comes out far quieter than a usual recording."""
    level_db = active_rms_db(y[None], INTERNAL_RATE)
    if not level_db < QUIET_TARGET_DB:
        return notes
    boost_db = USUAL_LEVEL_DB - level_db
    said = (f"the target plays at {level_db:.0f} dBFS RMS, and the tone plays at its level: "
            f"apply it with --level {min(boost_db, MAX_KNOB_DB):+.0f} for a usual "
            f"{USUAL_LEVEL_DB:.0f} dBFS")
    if boost_db > MAX_KNOB_DB:  # a level the knob does not give: the rest is the user's
        said += (f" (the most --level gives; raise it {boost_db - MAX_KNOB_DB:.0f} dB more "
                 "after, or record the example louder)")
    warnings.warn(said, stacklevel=4)
    return [*notes, said]


# An example under this fraction of the take's length is said: the learner matches the
# example's level distribution, and a short stretch of playing spans less than a long take.
# 15 s parts of the bench's clean EQ + cab examples against the whole 60 s take: 3 of 8 kept
# a compressor or sag (fr3_clean, fr3_jazz twice; held-out MR-STFT 0.69-1.07 against
# 0.25-0.33 from the whole example), the other 5 the linear model.
SHORT_TARGET_RATIO = 0.5


def _short_target(x: np.ndarray, y: np.ndarray, notes: list[str]) -> list[str]:
    """notes with a line (also warned) when the example is much shorter than the take."""
    if not y.size < SHORT_TARGET_RATIO * x.size:
        return notes
    said = (f"the target is {y.size / INTERNAL_RATE:.0f} s against a "
            f"{x.size / INTERNAL_RATE:.0f} s input: the chains are compared on the stretch "
            "of the input played most like the target, but a short example shows the tone's "
            "dynamics less clearly (a real compressor can be missed, or even playing taken "
            "for one); give an input about as long as the target and played like it, or leave "
            "the dynamics out (--chain eq,drive,cab) if the target has none")
    warnings.warn(said, stacklevel=4)
    return [*notes, said]


# The recordings' lowest notes this far apart: the cabinet below the higher one is a guess.
# The note-by-note match has nothing to compare there and the long-term one sees which notes
# were played (fr3_clean's take without low notes: +10-20 dB too much below 100 Hz).
REGISTER_GAP_SEMITONES = 6.0


def _register_gap(lowest_hz: dict[str, float], notes: list[str]) -> list[str]:
    """notes with a line (also warned) when one recording plays much lower than the other."""
    t, i = lowest_hz.get("target"), lowest_hz.get("input")
    if t is None or i is None or round(abs(12 * math.log2(i / t))) < REGISTER_GAP_SEMITONES:
        return notes
    if t < i:
        said = (f"the target plays notes down to {t:.0f} Hz, the input only down to "
                f"{i:.0f} Hz: the tone below about {i:.0f} Hz is a guess, and a take that "
                "plays low notes may sound boomy or thin; play the low notes in the input too")
    else:
        said = (f"the input plays notes down to {i:.0f} Hz, the target only down to "
                f"{t:.0f} Hz: the example shows nothing of the tone below about {t:.0f} Hz, "
                "so the low notes of your takes are a guess; use an example with low notes "
                "if you play them")
    warnings.warn(said, stacklevel=3)
    return [*notes, said]


def _lossy_example(bandwidth_hz: float | None, notes: list[str]) -> list[str]:
    """notes with a line (also warned) when the example's spectrum ends early."""
    if bandwidth_hz is None:
        return notes
    said = (f"the target's spectrum ends at {bandwidth_hz / 1000:.1f} kHz (a lossy file, such "
            "as an MP3, or a low sample rate): the tone is compared with it below that, and "
            "comes out as dull as the file above; use a WAV or FLAC example to learn the top")
    warnings.warn(said, stacklevel=3)
    return [*notes, said]


def fit_unpaired(x: np.ndarray, y: np.ndarray, cfg: LearnConfig,
                 progress: Progress | None) -> LearnResult:
    """`tonemorph.learn.fit.fit_unpaired`, imported (with torch) only when learning starts."""
    from tonemorph.learn.fit import fit_unpaired as fit

    return fit(x, y, cfg, progress)


def learn_tone(input: AudioLike, target: AudioLike, *, quality: str = "default",
          stages: str | tuple[str, ...] | None = None, seed: int = 0,
          allow_low_rate: bool = False, progress: Progress | None = None) -> Tone:
    """Learn the tone of `target` as a chain applied to `input` (unpaired: different notes).

    Both are file paths or (audio, sample_rate) tuples; channels are mixed to mono for
    learning, save a target's that hold different performances (double-tracked parts panned
    apart), which are learned one after another (`tonemorph.io.example_mono`). Every check
    runs before `progress` is first called. Raises AudioFileError / AudioContentError for
    unusable audio, LowSampleRateError below 16 kHz unless `allow_low_rate`.
    """
    from tonemorph.learn.fit import LearnConfig, fit_threads

    check_seed(seed)
    st = _stages_of(stages)
    cfg = LearnConfig(quality=quality, stages=st, seed=seed, sample_rate=INTERNAL_RATE)
    cfg.preset()
    x, sr_x, name_x = load_audio_like(input, "input")
    y, sr_y, name_y = load_audio_like(target, "target")
    y_mono, joined = example_mono(y)
    notes = _check_pair((("input", x, sr_x), ("target", y, sr_y)), INTERNAL_RATE,
                        allow_low_rate, ("target",) if joined else (),
                        {"input": without_offset, "target": without_steady_offset})
    xm = resample(mono_mixdown(x), sr_x, INTERNAL_RATE)
    ym = resample(y_mono, sr_y, INTERNAL_RATE)
    # in front of the drive an offset clips one side harder
    xm, notes = _offset_removed(xm, "input", notes)
    ym, notes = _target_offset_removed(ym, notes)
    # lengths are compared (a short example, stretches of the take): of the playing only
    xm, x_silent_s = long_silences_removed(xm, INTERNAL_RATE)
    ym, y_silent_s = long_silences_removed(ym, INTERNAL_RATE)
    xm, ym = (a[: int(MAX_LEARN_SECONDS * INTERNAL_RATE)] for a in (xm, ym))
    notes = _quiet_target(ym, notes)
    notes = _short_target(xm, ym, notes)
    res = fit_unpaired(xm.astype(np.float32), ym.astype(np.float32), cfg, progress)
    notes = _register_gap(res.lowest_notes_hz, notes)
    notes = _lossy_example(res.example_bandwidth_hz, notes)
    training = {
        "input": {"name": name_x, "seconds": round(x.shape[1] / sr_x, 3), "sample_rate": sr_x,
                  "channels": x.shape[0], "silence_left_out_s": round(x_silent_s, 3)},
        "target": {"name": name_y, "seconds": round(y.shape[1] / sr_y, 3), "sample_rate": sr_y,
                   "channels": y.shape[0], "silence_left_out_s": round(y_silent_s, 3)},
        "quality": quality, "seed": seed, "stages_requested": list(st),
        "chosen": res.chosen, "loss": res.loss, "loss_terms": res.loss_terms,
        "candidates": res.candidates, "selection": res.selection, "steps": res.steps,
        "pinning": res.pinning, "simplified": list(res.simplified), "cab_match": res.cab_match,
        "held_for_levels": list(res.held_for_levels), "drive_held_db": res.drive_held_db,
        "seconds": round(res.seconds, 2),
        "interrupted": res.interrupted, "warnings": notes,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    tone = Tone.from_chain(res.chain, res.input_gain_db, training)
    # an unpaired tone guesses its EQ where the learning take was quiet: remember how loud it
    # made that take, so a take rich in those bands is not made far louder (`Tone.guard_db`)
    tone.measure_loudness_curve(xm, INTERNAL_RATE, workers=fit_threads())
    return tone


# --------------------------------------------------------------------------- paired capture

NEURAL_ARCHS = ("standard", "lite", "feather", "nano", "lstm")  # NAM layouts
NEURAL_SECONDS = 300.0  # default training budget of a neural capture (wall time)
PAIRED_RATE = 48000  # NAM models run at 48 kHz; the grey-box chain is learned there too
PAIRED_LENGTH_SLACK_S = 1.0  # a target this much shorter than its input: the reamp stopped early


@dataclass
class NeuralCapture:
    """A neural capture (WaveNet or LSTM, NAM layout) and its training record; saves `.nam`."""

    model: torch.nn.Module  # annotation only (TYPE_CHECKING import)
    arch: str
    sample_rate: int
    training: dict

    def save(self, path: str | Path, name: str | None = None, *,
             overwrite: bool = True) -> None:
        """Write the model as a NAM `.nam` file (version 0.5.4, with training metadata)."""
        from tonemorph.export.nam import nam_metadata, write_nam
        from tonemorph.io import check_outputs

        if not overwrite:
            check_outputs([path], [], force=False)
        meta = nam_metadata(name=name or Path(path).stem, esr=self.training.get("esr"),
                            training=self.training)
        write_nam(path, self.model, meta, self.sample_rate)


def _paired_pair(input: AudioLike, target: AudioLike, allow_low_rate: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Mono input and target at PAIRED_RATE, checked, with their description for metadata."""
    x, sr_x, name_x = load_audio_like(input, "input")
    y, sr_y, name_y = load_audio_like(target, "target")
    # lengths compared in seconds: a reamp may be recorded at another rate than its DI
    check_lengths(round(x.shape[1] * PAIRED_RATE / sr_x), round(y.shape[1] * PAIRED_RATE / sr_y),
                  PAIRED_RATE)
    gap_s = y.shape[1] / sr_y - x.shape[1] / sr_x
    if gap_s < -PAIRED_LENGTH_SLACK_S:
        warnings.warn(f"the target is {-gap_s:.1f} s shorter than the input: the reamp stopped "
                      "early, so the input's end (and its end markers) is left out of the "
                      "capture; record the whole input file through your gear", stacklevel=3)
    _check_pair((("input", x, sr_x), ("target", y, sr_y)), PAIRED_RATE, allow_low_rate,
                offsets={"target": without_steady_offset})
    xm = resample(mono_mixdown(x), sr_x, PAIRED_RATE).astype(np.float32)
    ym = resample(mono_mixdown(y), sr_y, PAIRED_RATE).astype(np.float32)
    # the recording interface's offset is no part of the gear's sound: left in, it inflates
    # the capture's error (0.05 of full scale on a crunch reamp: ESR 0.26 -> 0.36; taken off,
    # 0.27)
    ym, _ = _target_offset_removed(ym, [])
    info = {"input": {"name": name_x, "seconds": round(x.shape[1] / sr_x, 3),
                      "sample_rate": sr_x, "channels": x.shape[0]},
            "target": {"name": name_y, "seconds": round(y.shape[1] / sr_y, 3),
                       "sample_rate": sr_y, "channels": y.shape[0]}}
    return xm, ym, info


def learn_paired(input: AudioLike, target: AudioLike, *, seconds: float | None = None,
                 steps: int | None = None, stages: str | tuple[str, ...] | None = None,
                 seed: int = 0, allow_low_rate: bool = False,
                 progress: Progress | None = None) -> Tone:
    """Capture mode, grey-box: fit the tone chain to a DI `input` and its reamp `target`.

    Latency is found and removed (refusing files that are not one performance). Budget:
    `seconds` of wall time (default 40) or `steps`. The Tone's `training` holds
    latency_samples, latency_ms, esr and mrstft on a held-out tail; save it as `.tmodel`.
    """
    from tonemorph.learn.paired import fit_paired_chain

    check_seed(seed)
    check_budget(seconds, steps)
    st = _stages_of(stages)
    x, y, info = _paired_pair(input, target, allow_low_rate)
    tone = fit_paired_chain(x, y, PAIRED_RATE, stages=st, seconds=seconds, steps=steps,
                            seed=seed, progress=progress)
    tone.training.update(info, date=_dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"))
    return tone


def learn_neural(input: AudioLike, target: AudioLike, *, arch: str = "standard",
                 seconds: float | None = None, steps: int | None = None, seed: int = 0,
                 allow_low_rate: bool = False,
                 progress: Progress | None = None) -> NeuralCapture:
    """Capture mode, neural: train a NAM network (WaveNet or LSTM) on a DI and its reamp.

    arch is one of NEURAL_ARCHS; budget `seconds` of wall time (default 300) or `steps`.
    The result saves as `.nam`; its `training` holds latency, esr and mrstft on a held-out
    tail.
    """
    if arch not in NEURAL_ARCHS:
        raise ParameterError(f"unknown architecture {arch!r}; choose from {list(NEURAL_ARCHS)}")
    check_seed(seed)
    check_budget(seconds, steps)
    import torch

    from tonemorph.learn.paired import capture_module
    from tonemorph.neural import make_model

    x, y, info = _paired_pair(input, target, allow_low_rate)
    date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    torch.manual_seed(seed)
    model = make_model(arch)
    if seconds is None and steps is None:
        seconds = NEURAL_SECONDS
    _, training = capture_module(model, x, y, PAIRED_RATE, seconds=seconds, steps=steps,
                                 seed=seed, progress=progress)
    training.update(info, arch=arch, date=date)
    return NeuralCapture(model, arch, PAIRED_RATE, training)

# --------------------------------------------------------------------------- export

EXPORT_FORMATS = ("nam", "aidax", "ir")
DEFAULT_NAM_ARCH = "standard"
DEFAULT_AIDAX_ARCH = "lstm-16"
DEFAULT_DISTILL_SECONDS = 600.0


@dataclass
class ExportSummary:
    """What an export wrote and, for neural formats, how well it matches the tone."""

    path: str
    format: str
    arch: str | None = None
    esr: float | None = None
    grade: str | None = None
    steps: int = 0
    seconds: float = 0.0
    weights: int = 0
    sample_rate: int = 48000
    ir_samples: int = 0
    ir_ms: float = 0.0
    normalise_db: float = 0.0
    ir_subtype: str = ""
    # the tone is all filters: an IR export holds all of it (`Tone.is_filter`), not the cabinet
    filter_tone: bool = False
    long_time_constants: list[str] = field(default_factory=list)
    history: list[tuple[float, float]] = field(default_factory=list)
    # Ctrl-C or SIGTERM stopped the distillation: the file holds the model as it was then
    interrupted: bool = False


def export_tone(tone: Tone, path: str | os.PathLike[str], fmt: str, *, arch: str | None = None,
                seconds: float | None = DEFAULT_DISTILL_SECONDS, steps: int | None = None,
                sample_rate: int | None = None, post_eq: bool = False, name: str | None = None,
                modeled_by: str = "tonemorph", seed: int = 0, without_cab: bool = False,
                progress: Progress | None = None) -> ExportSummary:
    """Write `tone` as `fmt` ('nam', 'aidax' or 'ir') to `path`; neural formats are distilled
    for `seconds` of training (or `steps`) and report their held-out ESR. `without_cab`
    distils the tone minus its cabinet (pair it with the `ir` export, as amp + IR); `arch` and
    `without_cab` are for neural formats, `post_eq` for the IR (ParameterError otherwise)."""
    from tonemorph.learn.distill import distill, holdout_take, long_time_constants, tone_without

    if fmt not in EXPORT_FORMATS:
        raise ParameterError(f"unknown export format {fmt!r}; choose {', '.join(EXPORT_FORMATS)}",
                             option="format")
    check_seed(seed)
    check_budget(seconds, steps)
    check_export_path(path, fmt)
    title = name or Path(path).stem
    if fmt == "ir":
        from tonemorph.export.ir import ir_subtype, write_ir

        if arch:
            raise ParameterError("an IR export has no architecture; architectures apply to nam and "
                                 "aidax exports", option="arch")
        if without_cab:
            raise ParameterError("an IR export is the cabinet (or a tone of filters whole); "
                                 "leaving the cabinet out applies to nam and aidax exports "
                                 "(the amp, beside this IR)", option="without_cab")
        c = write_ir(path, tone, sample_rate, post_eq=post_eq)
        return ExportSummary(str(path), fmt, sample_rate=c.sample_rate, ir_samples=len(c.ir),
                             ir_ms=c.length_ms, normalise_db=c.normalise_db,
                             ir_subtype=ir_subtype(path), filter_tone=c.whole)
    if sample_rate not in (None, 48000):
        raise ParameterError(f"{fmt} models run at 48000 Hz; a sample rate of {sample_rate} Hz "
                             "does not apply", option="sample_rate")
    if post_eq:
        raise ParameterError(f"a {fmt} model holds the whole tone, post-EQ included; adding the "
                             "post-EQ applies to an IR export", option="post_eq")
    if without_cab:
        if tone.is_filter():
            # its IR export is the whole tone: an amp part beside it would add the EQ twice
            raise ParameterError("this tone is all filters (EQ and cabinet, no drive or "
                                 "dynamics): there is no amp to distil without the cabinet; "
                                 "export it whole as an IR instead (-o tone.wav)",
                                 option="without_cab")
        tone = tone_without(tone, ["cab"])
    if fmt == "nam":
        from tonemorph.export.nam import (
            gain_of,
            gear_type_of,
            nam_metadata,
            tone_type_of,
            write_nam,
        )
        from tonemorph.neural import make_model

        arch = arch or DEFAULT_NAM_ARCH
        module = make_model(arch)
    else:
        from tonemorph.export.aidax import parse_aidax_arch
        from tonemorph.neural import RnnDense

        arch = arch or DEFAULT_AIDAX_ARCH
        unit, hidden = parse_aidax_arch(arch)
        module = RnnDense(unit, hidden)
    notes = long_time_constants(tone, int(getattr(module, "receptive_field", 1)))
    r = distill(tone, module, seconds=seconds, steps=steps, seed=seed, progress=progress)
    model = r.module
    from tonemorph.neural.runner import BlockProcessor

    yh = BlockProcessor(model, 1).process(holdout_take()[None])[0].astype(np.float64)
    loudness = float(10 * np.log10(max(float(np.mean(yh ** 2)), 1e-20)))
    training = {"tonemorph": {"source": (tone.training.get("input") or {}).get("name"),
                              "arch": arch, "steps": r.steps, "seconds": round(r.seconds, 1),
                              "esr_measured_on": "held-out demo guitar take, 48 kHz",
                              "loudness_measured_on": "held-out demo guitar take",
                              **({"interrupted": True} if r.interrupted else {})}}
    if fmt == "nam":
        meta = nam_metadata(name=title, modeled_by=modeled_by, gear_type=gear_type_of(tone),
                            tone_type=tone_type_of(tone), loudness_db=loudness,
                            gain=gain_of(tone), esr=r.esr, training=training)
        nf = write_nam(path, model, meta)
        n_weights = len(nf.weights)
    else:
        from tonemorph.export.aidax import parse_aidax, write_aidax
        from tonemorph.metrics import esr_grade

        meta = {"name": title, "modeled_by": modeled_by, "esr": r.esr,
                "nam_grade": esr_grade(r.esr), "loudness": loudness, **training}
        # the file's count (`info` reads it): the LSTM's two torch biases are stored as one
        n_weights = parse_aidax(write_aidax(path, model, meta), str(path)).num_weights
    return ExportSummary(str(path), fmt, arch, r.esr, r.grade, r.steps, r.seconds, n_weights,
                         48000, long_time_constants=notes, history=list(r.history),
                         filter_tone=tone.is_filter(), interrupted=r.interrupted)
