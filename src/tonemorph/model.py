"""A learned tone: chain structure + parameters in units, apply (offline, streaming), save/load."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soxr

from tonemorph.chain.config import STAGES, ChainConfig, param_specs
from tonemorph.chain.fast import FastChain
from tonemorph.chain.params import CAB_BANDS_RANGE, CAB_FFT_RANGE, CAB_TAPS_RANGE, INPUT_GAIN_RANGE
from tonemorph.dsp.biquad import rbj_design
from tonemorph.dsp.checks import check_finite
from tonemorph.dsp.loudness import LUFS_FLOOR, integrated_lufs
from tonemorph.dsp.matcheq import active_rms_db
from tonemorph.errors import ModelFileError, ParameterError
from tonemorph.io import (
    AudioReader,
    check_sample_rate,
    check_tone_path,
    float_audio,
    load_model_document,
    save_model_document,
)
from tonemorph.io.content import CANCEL_DB, mixdown_loss_db, mono_mixdown
from tonemorph.io.process import process_at_rate, process_file
from tonemorph.io.validate import DocumentCheck, describe, join
from tonemorph.progress import Progress

if TYPE_CHECKING:  # torch is for learning only: applying a tone never imports it
    from tonemorph.chain.chain import ToneChain

MODEL_KIND = "tone"
TILT_HZ = 1000.0  # pivot of the --tone tilt control
COMPENSATION_EXCERPT_S = 30.0  # audio used to loudness-compensate --amount
APPLY_BLOCK = 1 << 16  # samples per block in `Tone.apply`
NATIVE_RATES_HZ = (32000, 192000)  # takes in this range run at their own rate, no resampling
# The loudness guard: how much louder (or quieter) than on the learning take, at the same input
# loudness, a take may come out before its output is pulled back (dB). An unpaired tone's EQ
# boosts bands the learning take lacked; a take rich in them came out up to 17 LU too loud.
# Real chains moved the loudness gain of a new take by at most 4.7 dB against the learning
# take's on the bench's 24 cases (three sources, eight chains), so it was 6 dB until
# 2026-12-07; but where a tone is that far off, its own EQ is most of why. Measured on held-out
# takes (bench/results/loudness_guard.md, tones re-applied): at 3 dB 23 of 68 cases better
# (MR-STFT), none worse; the 40 quick cases 0.973 -> 0.929 mean MR-STFT (real clips 1.629 ->
# 1.415), 28 never-tuned ones 1.217 -> 0.992 (real clips 1.702 -> 1.308). Tighter still helped
# the real clips more and began to cost the generated lines (2 dB: 4 of the 28 worse; a full
# hold, 0 dB, 10 worse).
LOUDNESS_GUARD_DB = 3.0
CURVE_OFFSETS_DB = (-24.0, -18.0, -12.0, -6.0, 0.0, 6.0, 12.0)  # around the learning take
CURVE_LUFS_RANGE = (-120.0, 40.0)  # input loudness a curve may name (LUFS)
CURVE_GAIN_RANGE = (-120.0, 120.0)  # loudness gain a curve may name (dB)


MAX_KNOB_DB = 48.0  # the drive, tone and level offsets go this far either way (dB)


@dataclass(frozen=True)
class Knobs:
    """After-learning controls: amount 0..1, drive/tone/level offsets in dB."""

    amount: float = 1.0
    drive_db: float = 0.0
    tone_db: float = 0.0
    level_db: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.amount <= 1.0 or not math.isfinite(self.amount):
            raise ParameterError(f"amount must be between 0 and 1, got {self.amount}",
                                 option="amount")
        for name in ("drive_db", "tone_db", "level_db"):
            v = getattr(self, name)
            if not math.isfinite(v) or abs(v) > MAX_KNOB_DB:
                raise ParameterError(f"{name} must be within +-{MAX_KNOB_DB:g} dB, got {v}",
                                     option=name)

    @property
    def compensated(self) -> bool:
        """Whether `Tone.apply` compensates the knobs' loudness: --amount below 1 or --drive
        moved (--tone is a tilt around 1 kHz, --level the level: neither is compensated)."""
        return self.amount < 1.0 or self.drive_db != 0.0


@dataclass
class Tone:
    """A learned tone chain, its parameters in physical units, and how it was learned."""

    config: ChainConfig
    parameters: dict[str, float | list[float]]
    input_gain_db: float = 0.0
    training: dict = field(default_factory=dict)
    # loudness gain (dB) the tone gave the learning take at input loudnesses (LUFS), for the guard
    loudness_curve: dict[str, list[float]] | None = None

    # --- construction / files --------------------------------------------------------------
    @classmethod
    def from_chain(cls, chain: ToneChain, input_gain_db: float, training: dict) -> "Tone":
        """Wrap a fitted torch chain."""
        return cls(chain.cfg, chain.values(), input_gain_db, training)

    def to_document(self) -> dict:
        """The JSON document of this tone (see `tonemorph.io.model_file`)."""
        from tonemorph import __version__

        units = {s.name: s.range.unit for s in param_specs(self.config)}
        return {
            "kind": MODEL_KIND,
            "tonemorph_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "chain": {"stages": list(self.config.stages), "sample_rate": self.config.sample_rate,
                      "cab_taps": self.config.cab_taps, "cab_bands": self.config.cab_bands,
                      "cab_fft": self.config.cab_fft,
                      "cab_band_hz": [round(f, 3) for f in self.config.band_hz()]},
            "input_gain_db": self.input_gain_db,
            "parameters": self.parameters,
            "units": units,
            "training": self.training,
            **({"loudness_curve": self.loudness_curve} if self.loudness_curve else {}),
        }

    @classmethod
    def from_document(cls, doc: dict, source: str = "model") -> "Tone":
        """Rebuild a tone from its JSON document, every value checked against the parameter
        table (`check_tone_document`); ModelFileError naming the key when one is not valid."""
        cfg, parameters, input_gain_db, training, curve = check_tone_document(doc, source)
        tone = cls(cfg, parameters, input_gain_db, training, curve)
        try:
            tone.fast_chain()  # builds every stage once more: names and sizes must fit
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source} is damaged or incomplete ({exc}); "
                                 f"{TONE_FILE_FIX}") from exc
        return tone

    def save(self, path: str | Path, *, overwrite: bool = True) -> None:
        """Write the tone as a versioned JSON `.tmodel` file (atomically); with
        overwrite=False an existing file is never replaced (OutputPathError). What is written
        passes `load`'s checks first (ModelFileError, the file untouched, if not); the name
        must end in .tmodel (OutputPathError)."""
        check_tone_path(path)
        doc = self.to_document()
        # the document as it will be read back (JSON numbers, lists), checked as `load` does
        try:
            read_back = json.loads(json.dumps(doc))
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"the tone to save as {path} cannot be stored as JSON "
                                 f"({exc})") from exc
        check_tone_document(read_back, source=f"the tone to save as {path}")
        save_model_document(path, doc, overwrite=overwrite)

    # --- chains ------------------------------------------------------------------------------
    def processing_rate(self, sample_rate: int) -> int:
        """Rate (Hz) a take at `sample_rate` is processed at.

        Parameters are physical (Hz, ms, dB), so the chain is rebuilt at the take's own rate
        when it is a usual audio rate; other rates are resampled to the learning rate.
        """
        lo, hi = NATIVE_RATES_HZ
        return sample_rate if lo <= sample_rate <= hi else self.config.sample_rate

    def knob_values(self, knobs: Knobs = Knobs()) -> dict[str, float | list[float]]:
        """The stored parameters with the knobs applied (numpy), in physical units; the drive
        held in its range (`capped_knobs` says so), --level added to the output gain (which a
        torch chain holds in its range; `fast_chain` plays --level after it instead)."""
        specs = param_specs(self.config)
        vals = dict(self.parameters)
        missing = [s.name for s in specs if s.name not in vals]
        if missing:
            raise ModelFileError(f"model lacks parameters {missing}")
        a = knobs.amount
        for s in specs:
            v, n = np.asarray(vals[s.name], dtype=float), s.range.neutral
            if s.amount == "lerp":
                v = n + a * (v - n)
            elif s.amount == "loglerp":
                v = np.exp(np.log(n) + a * (np.log(v) - np.log(n)))
            vals[s.name] = v.tolist() if v.ndim else float(v)
        # the --drive and --level knobs move one parameter each
        if knobs.drive_db:
            if "drive" not in self.config.stages:
                raise ParameterError("this tone has no drive stage; a drive offset does not apply "
                                     "to it", option="drive_db")
            rng = next(s for s in specs if s.name == "drive.drive_db").range
            vals["drive.drive_db"] = rng.clamp(float(vals["drive.drive_db"]) + knobs.drive_db)
        vals["out_gain_db"] = float(vals["out_gain_db"]) + knobs.level_db
        return vals

    def torch_chain(self, knobs: Knobs = Knobs(), sample_rate: int | None = None) -> ToneChain:
        """The differentiable chain with the knobs applied, at `sample_rate` (default: learned)."""
        from tonemorph.chain.chain import ToneChain

        return ToneChain(self._config_at(sample_rate), self.knob_values(knobs))

    def _config_at(self, sample_rate: int | None) -> ChainConfig:
        return self.config if sample_rate is None else replace(self.config,
                                                               sample_rate=sample_rate)

    def _tilt_sos(self, tone_db: float, sr: int) -> np.ndarray | None:
        """The --tone tilt: opposite shelves (dB) around TILT_HZ, biquads (2, 6) at sr (Hz)."""
        if not tone_db:
            return None
        return np.stack([rbj_design("low_shelf", TILT_HZ, -tone_db / 2, 0.5, sr),
                         rbj_design("high_shelf", TILT_HZ, tone_db / 2, 0.5, sr)])

    def is_filter(self) -> bool:
        """Whether every stage of the tone is linear (EQ, cabinet, gain): the whole tone is one
        filter, which one IR holds (up to its length)."""
        from tonemorph.chain.stages import stage

        return not any(stage(name).nonlinear for name in self.config.stages)

    @property
    def latency_samples(self) -> int:
        """Delay (samples at the learning rate) the chain adds: the shaper's oversampling
        filters, the peak limit's look-ahead."""
        return self.config.latency_samples

    def latency_at(self, sample_rate: int) -> int:
        """`latency_samples` of the chain built at `sample_rate` (the look-ahead is in ms)."""
        return self._config_at(sample_rate).latency_samples

    def fast_chain(self, knobs: Knobs = Knobs(), extra_gain_db: float = 0.0,
                   sample_rate: int | None = None) -> FastChain:
        """A streaming block processor (one channel) for these knobs at `sample_rate`;
        --level and `extra_gain_db` (dB, the loudness compensation) scale its output."""
        sr = sample_rate or self.config.sample_rate
        # after the output gain, not in it: the stored gain plus a knob would be held in the
        # output gain's range (+-60 dB, settled to +-58.8), silently dropping part of --level;
        # nor is the sum a knob to check against the knob's range (the compensation is ours)
        return FastChain(self._config_at(sr), self.knob_values(replace(knobs, level_db=0.0)),
                         input_gain_db=self.input_gain_db,
                         output_gain_db=knobs.level_db + extra_gain_db,
                         tone_sos=self._tilt_sos(knobs.tone_db, sr))

    def capped_knobs(self, knobs: Knobs) -> list[str]:
        """What part of the knobs the tone's parameter ranges hold back, in words ([] for
        none): a drive offset (dB) taking the drive past its range plays only up to it."""
        from tonemorph.chain.params import RANGES

        if not knobs.drive_db or "drive" not in self.config.stages:
            return []
        rng = RANGES["drive_db"]
        base = float(self.knob_values(replace(knobs, drive_db=0.0))["drive.drive_db"])
        want = base + knobs.drive_db
        # as the chain plays it: clamped, then settled 1 % inside the range (Range.settle)
        got = rng.settle(rng.clamp(want))
        if abs(got - want) < 0.05:
            return []
        return [f"the drive offset of {knobs.drive_db:+g} dB takes this tone's drive to "
                f"{want:+.1f} dB, past its range ({rng.lo:g} .. {rng.hi:g} dB): it plays at "
                f"{got:+.1f} dB, an offset of {got - rng.settle(base):+.1f} dB"]

    def _compensation_db(self, mono: np.ndarray, full: np.ndarray, knobs: Knobs, sr: int,
                         guard_db: float = 0.0) -> float:
        """Gain (dB) putting --amount and --drive (`Knobs.compensated`) at the loudness
        --amount asks for: between the input's (mono excerpt) and the full tone's (its output
        `full`, with `guard_db` added; returned on top of it), the full tone's at --amount 1."""
        # --drive at every amount: the shaper's gain is unit for small signals, so a saturated
        # tone got louder as its drive went down (demo tone, --drive -12 / +12: +1.6 / -7.1
        # LU) and the loudness jumped between --amount 0.99 and 1. --tone's tilt is left out
        # (demo tone, --tone -6 / +6: loudness +0.5 / +0.4 LU, active RMS, which this matches,
        # +1.0 / -0.3 dB; compensated, the loudness moved more: -0.5 / +0.7 LU)
        if not knobs.compensated:
            return 0.0
        part = self.fast_chain(Knobs(knobs.amount, knobs.drive_db), sample_rate=sr).process(mono)
        l_in, l_full, l_part = (active_rms_db(v[None], sr) for v in (mono, full, part))
        l_full += guard_db
        return float(l_in + knobs.amount * (l_full - l_in) - l_part - guard_db)

    def measure_loudness_curve(self, x: np.ndarray, sample_rate: int, workers: int = 1) -> None:
        """Record the tone's loudness gain (dB) on mono take x at CURVE_OFFSETS_DB around its
        loudness (LUFS), for the guard; x is the learning take. `workers` threads run the
        offsets (the fast chain's kernels let go of the GIL; the same curve for any number)."""
        x = np.asarray(x, dtype=np.float32)[: int(COMPENSATION_EXCERPT_S * sample_rate)]
        if x.size < sample_rate:  # too short to measure: no guard
            self.loudness_curve = None
            return

        def measured(off: float) -> tuple[float, float]:
            xi = x * np.float32(10 ** (off / 20))
            chain = self.fast_chain(sample_rate=sample_rate)
            return _lufs(xi, sample_rate), _lufs(chain.process(xi), sample_rate)

        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers,
                                    thread_name_prefix="tonemorph-curve") as pool:
                levels = list(pool.map(measured, CURVE_OFFSETS_DB))
        else:
            levels = [measured(off) for off in CURVE_OFFSETS_DB]
        ins, gains = [], []
        for l_in, l_out in levels:
            if l_in > LUFS_FLOOR and l_out > LUFS_FLOOR:
                ins.append(round(l_in, 3))
                gains.append(round(l_out - l_in, 3))
        self.loudness_curve = {"input_lufs": ins, "gain_db": gains} if len(ins) >= 2 else None

    def guard_db(self, mono: np.ndarray, full: np.ndarray, sample_rate: int) -> float:
        """Gain (dB) that keeps the tone's loudness gain on a mono excerpt (its output `full`,
        at the processing rate) within LOUDNESS_GUARD_DB of what it gave the learning take at
        that loudness; an excerpt louder or quieter than the measured curve is compared at the
        curve's nearest end."""
        if not self.loudness_curve or mono.size < sample_rate:
            return 0.0
        l_in, l_out = _lufs(mono, sample_rate), _lufs(full, sample_rate)
        if l_in <= LUFS_FLOOR or l_out <= LUFS_FLOOR:
            return 0.0
        c = self.loudness_curve
        end = min(max(l_in, c["input_lufs"][0]), c["input_lufs"][-1])
        if end != l_in:
            # beyond the measured curve the tone's gain at this loudness is unknown: a drive
            # or compressor holds the output down further, and the curve's end held against
            # that read as bands lacking (a take 30 dB over the learning take was boosted
            # 12 dB, past full scale). The take at the curve's end shows what its bands do
            mono = mono * np.float32(10 ** ((end - l_in) / 20))
            full = self.fast_chain(sample_rate=sample_rate).process(mono)
            l_in, l_out = _lufs(mono, sample_rate), _lufs(full, sample_rate)
            if l_in <= LUFS_FLOOR or l_out <= LUFS_FLOOR:
                return 0.0
        expected = float(np.interp(l_in, c["input_lufs"], c["gain_db"]))
        excess = (l_out - l_in) - expected
        return float(-np.sign(excess) * max(0.0, abs(excess) - LOUDNESS_GUARD_DB))

    # --- applying ----------------------------------------------------------------------------
    def stream(self, sample_rate: int, channels: int, knobs: Knobs = Knobs(),
               compensation_db: float = 0.0, loudness_guard: bool = True) -> "ToneStream":
        """A streaming processor for (channels, n) blocks at `sample_rate`; --amount's and
        --drive's loudness compensation is `compensation_db`, or set by its `compensate`.
        Knobs the tone's ranges hold back (`capped_knobs`) are said in a warning."""
        for note in self.capped_knobs(knobs):
            warnings.warn(note, stacklevel=2)
        return ToneStream(self, sample_rate, channels, knobs, compensation_db, loudness_guard)

    def apply(self, audio: np.ndarray, sample_rate: int, *, amount: float = 1.0,
              drive_db: float = 0.0, tone_db: float = 0.0, level_db: float = 0.0,
              loudness_guard: bool = True) -> np.ndarray:
        """Process audio (channels, samples) or (samples,) at sample_rate; same shape out.

        Each channel runs through the same chain; the chain's latency is removed. With
        `loudness_guard`, a take the tone makes much louder (or quieter) than it made the
        learning take is pulled back to within LOUDNESS_GUARD_DB of it (see `guard_db`).
        """
        x = float_audio(audio, "take")
        one_d = x.ndim == 1
        x2 = x[None] if one_d else x
        if x2.ndim != 2:
            raise ParameterError(f"audio must be (channels, samples), got shape {x.shape}")
        sample_rate = check_sample_rate(sample_rate, "sample_rate")
        check_finite(x2)
        if x2.shape[1] == 0:
            return x.copy()  # nothing to process (and no loudness to measure)
        knobs = Knobs(amount, drive_db, tone_db, level_db)
        st = self.stream(sample_rate, x2.shape[0], knobs, loudness_guard=loudness_guard)
        # the excerpt `apply_file` measures too: the same output, and a long take is not
        # run through the chain twice
        st.compensate(x2[:, : int(COMPENSATION_EXCERPT_S * sample_rate)])
        # blocks small enough to stay in cache: one huge block is slower, not faster
        blocks = (x2[:, i: i + APPLY_BLOCK] for i in range(0, x2.shape[1], APPLY_BLOCK))
        out = np.concatenate(list(st.run(blocks)) or [np.zeros((x2.shape[0], 0), np.float32)],
                             axis=1)
        return out[0] if one_d else out

    def apply_file(self, in_path: str | Path, out_path: str | Path, *, knobs: Knobs = Knobs(),
                   force: bool = False, sample_rate: int | None = None, subtype: str | None = None,
                   block_s: float = 5.0, ceiling_dbtp: float | None = None,
                   loudness_guard: bool = True, progress: Progress | None = None) -> dict:
        """Process a file in blocks (bounded memory) and write it atomically; returns a summary.

        See `tonemorph.io.process_file` for `force`, `sample_rate`, `subtype`, `ceiling_dbtp`;
        `apply` for `loudness_guard` (measured on the first COMPENSATION_EXCERPT_S).
        """
        streams: list[ToneStream] = []

        def make(r: AudioReader) -> Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]]:
            st = self.stream(r.sample_rate, r.channels, knobs, loudness_guard=loudness_guard)
            st.compensate(r.read(int(COMPENSATION_EXCERPT_S * r.sample_rate)))
            streams.append(st)
            return st.run

        summary = process_file(in_path, out_path, make, force=force, sample_rate=sample_rate,
                               subtype=subtype, block_s=block_s, ceiling_dbtp=ceiling_dbtp,
                               progress=progress)
        summary["compensation_db"] = streams[0].compensation_db
        summary["guard_db"] = streams[0].guard_db
        return summary

    # --- reporting ---------------------------------------------------------------------------
    def summary(self) -> list[tuple[str, str]]:
        """(name, value with unit) rows describing the chain, for `tonemorph info`."""
        p = self.parameters
        sr = self.config.sample_rate
        rows = [("stages", " -> ".join(self.config.stages)),
                ("sample rate", f"{sr} Hz"),
                # what a plugin host compensates (the shaper's oversampling, the limit's look-ahead)
                ("processing latency", f"{self.latency_samples} samples "
                 f"({1e3 * self.latency_samples / sr:.2f} ms)"),
                ("input gain", f"{self.input_gain_db:+.1f} dB")]
        units = {s.name: s.range.unit for s in param_specs(self.config)}
        for name, v in p.items():
            if isinstance(v, list):
                arr = np.asarray(v)
                rows.append((name, f"{len(v)} bands, {arr.min():+.1f} .. {arr.max():+.1f} dB"))
            else:
                u = units.get(name, "")
                rows.append((name, f"{v:.2f} {u}".rstrip()))
        c = self.loudness_curve
        if c:
            mid = len(c["gain_db"]) // 2
            rows.append(("loudness guard", f"{c['gain_db'][mid]:+.1f} dB on the learning take "
                         f"({c['input_lufs'][mid]:.1f} LUFS); other takes held within "
                         f"+-{LOUDNESS_GUARD_DB:g} dB of it"))
        return rows


def level_blocks(params: Mapping[str, float | list[float]]) -> list[str]:
    """The level-dependent blocks a tone's parameters keep away from neutral, in words:
    "drive +23 dB" (shaper gain), "sag 3.9:1 @ -36 dB" (ratio @ threshold dBFS); [] if none."""
    from tonemorph.chain.params import RANGES

    kept = []
    drive = params.get("drive.drive_db")
    # a learned value sits 1 % inside its range (Range.settle): neutral is not exactly lo
    if isinstance(drive, (int, float)) and drive > RANGES["drive_db"].settle(
            RANGES["drive_db"].neutral) + 1.0:
        kept.append(f"drive {drive:+.0f} dB")
    for stage in ("sag", "comp"):
        ratio = params.get(f"{stage}.ratio")
        if isinstance(ratio, (int, float)) and ratio > RANGES["ratio"].settle(
                RANGES["ratio"].neutral) + 0.05:
            kept.append(f"{stage} {ratio:.1f}:1 @ {params[f'{stage}.threshold_db']:.0f} dB")
    return kept


def timbre_ratio(selection: Mapping) -> float | None:
    """The nonlinear chain's timbre score over the linear chain's in an unpaired tone's
    selection record (the one with its dynamics, before an unproven reset, where there is
    one); None where either is missing or not finite, or the linear score is not positive."""
    lin = selection.get("linear")
    nl = selection.get("nonlinear with dynamics", selection.get("nonlinear"))
    if (not isinstance(lin, (int, float)) or not isinstance(nl, (int, float))
            or not (math.isfinite(lin) and lin > 0) or not math.isfinite(nl)):
        return None
    return float(nl) / float(lin)


def why_linear(training: Mapping) -> str:
    """Why a fitted drive / dynamics chain was not kept, in one sentence (from an unpaired
    tone's training record: its `timbre_ratio`); "" when the linear chain was not chosen or
    nothing nonlinear was scored."""
    ratio = timbre_ratio(training.get("selection") or {})
    if training.get("chosen") != "linear" or ratio is None:
        return ""
    if ratio >= 1.0:
        return (f"A chain with drive and dynamics was fitted too and not kept: its timbre "
                f"score came to {ratio:.2f}x the filter's (no better).")
    return (f"A chain with drive and dynamics was fitted too and not kept: its timbre score "
            f"came to {ratio:.2f}x the filter's, too small a win to tell a drive, sag or "
            "compressor from how differently the two recordings were played.")


def _lufs(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) of mono x."""
    return integrated_lufs(x[None], sample_rate)


class ToneStream:
    """Streams (channels, n) blocks at any sample rate through a tone, latency removed."""

    def __init__(self, tone: Tone, sample_rate: int, channels: int, knobs: Knobs,
                 compensation_db: float = 0.0, loudness_guard: bool = True):
        sample_rate = check_sample_rate(sample_rate, "sample_rate")
        if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) \
                or channels <= 0:
            raise ParameterError(f"channels must be a positive whole number, got {channels!r}")
        self.tone, self.sr, self.channels, self.knobs = tone, sample_rate, int(channels), knobs
        self.compensation_db = compensation_db
        self.loudness_guard = loudness_guard
        self.guard_db = 0.0  # part of compensation_db set by the loudness guard

    def compensate(self, excerpt: np.ndarray) -> None:
        """Set the knobs' loudness compensation (`Tone._compensation_db`) and the loudness
        guard (`Tone.guard_db`) from an excerpt (channels, n) of the take."""
        x = self._to_internal_offline(excerpt)
        isr = self.tone.processing_rate(self.sr)
        # every channel goes through the tone alike; measured on their mix (of the channels
        # that play: a silent second input halved it) unless the channels cancel in it (one
        # polarity-inverted), where the mix is the noise floor
        mono = (mono_mixdown(x) if mixdown_loss_db(x) <= CANCEL_DB
                else x[np.argmax((x * x).sum(1))])
        guard = self.loudness_guard and bool(self.tone.loudness_curve)
        # the full tone's output on the excerpt, run once for both measurements
        full = (self.tone.fast_chain(sample_rate=isr).process(mono)
                if guard or self.knobs.compensated else mono)  # else read by neither
        self.guard_db = self.tone.guard_db(mono, full, isr) if guard else 0.0
        # the guard scales the full tone; --amount then lands between the input and that.
        # Held to the knobs' own span: a near-silent partial output is no loudness to match
        knobs_db = self.tone._compensation_db(mono, full, self.knobs, isr, self.guard_db)
        self.compensation_db = self.guard_db + min(max(knobs_db, -MAX_KNOB_DB), MAX_KNOB_DB)

    def _to_internal_offline(self, x: np.ndarray) -> np.ndarray:
        isr = self.tone.processing_rate(self.sr)
        if self.sr == isr:
            return x
        return soxr.resample(x.T, self.sr, isr, quality="HQ").T.astype(np.float32)

    def run(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        """Process an iterator of blocks; yields processed blocks, total length preserved."""
        isr = self.tone.processing_rate(self.sr)
        chains = [self.tone.fast_chain(self.knobs, self.compensation_db, isr)
                  for _ in range(self.channels)]

        def process(x: np.ndarray) -> np.ndarray:
            return np.stack([c.process(x[i]) for i, c in enumerate(chains)])

        def checked(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
            # as `apply` checks its audio: a NaN reached the shaper's kernel, which raised
            # ZeroDivisionError, and a list of samples had no .shape
            for b in blocks:
                x = float_audio(b, "block")
                if x.ndim != 2:
                    raise ParameterError(f"a block must be (channels, samples), got shape "
                                         f"{x.shape}")
                check_finite(x, "a block")
                yield x

        return process_at_rate(checked(blocks), process, self.sr, isr, self.channels,
                               latency=self.tone.latency_at(isr))


def load(path: str | Path) -> Tone:
    """Load a `.tmodel` file written by `Tone.save` / `tonemorph learn`."""
    if not isinstance(path, (str, os.PathLike)):
        raise ParameterError(f"give the model's path as a str or Path, got "
                             f"{type(path).__name__}")
    doc = load_model_document(path)
    return Tone.from_document(doc, source=str(path))


# --- the document's schema ---------------------------------------------------------------------

TONE_FILE_FIX = "re-learn the tone or fix the file"
_CHAIN_KEYS = frozenset({"stages", "sample_rate", "cab_taps", "cab_bands", "cab_fft",
                         "cab_band_hz"})
_NEWER = " (written by a newer tonemorph? upgrade it)"


def check_tone_document(doc: dict, source: str = "model"
                        ) -> tuple[ChainConfig, dict[str, float | list[float]], float, dict,
                                   dict[str, list[float]] | None]:
    """Validate a `.tmodel` document against the parameter table (`tonemorph.chain.params`).

    Every value must have its type (a bool is not a number), be finite and in its range (units
    as in the table, edges included), vectors their size, the chain's structure integers in
    their bounds, the sample rate 8 kHz..384 kHz and every frequency below its Nyquist. Unknown
    keys in ``chain`` and ``parameters`` are refused (they would change the sound unseen);
    unknown top-level keys are kept and ignored.

    Returns:
        (config, parameters, input gain in dB, training record, loudness curve or None).

    Raises:
        ModelFileError: the first invalid value, by key path, with what is allowed.
    """
    ck = DocumentCheck(source, TONE_FILE_FIX)
    if doc.get("kind") != MODEL_KIND:
        raise ModelFileError(f"{source} holds a {describe(doc.get('kind'))} model, not a tone; "
                             "use a file written by `tonemorph learn`")
    ck.finite_tree(doc)
    for key in ("tonemorph_version", "created"):
        if doc.get(key) is not None:
            ck.text(doc[key], key)
    cfg = _check_chain(ck, ck.mapping(ck.require(doc, "chain", ""), "chain"))
    rng = INPUT_GAIN_RANGE
    input_gain_db = ck.number(ck.require(doc, "input_gain_db", ""), "input_gain_db", rng.lo,
                              rng.hi, rng.unit, slack=rng.slack)
    parameters = _check_parameters(ck, ck.mapping(ck.require(doc, "parameters", ""),
                                                  "parameters"), cfg)
    specs = {s.name: s for s in param_specs(cfg)}
    units = doc.get("units")
    if units is not None:
        for name, unit in ck.mapping(units, "units").items():
            ck.text(unit, join("units", name))
            if name in specs and unit != specs[name].range.unit:
                raise ck.error(join("units", name), f"is {describe(unit)}, but {name} is "
                               f"stored in {specs[name].range.unit or 'no unit'!r}")
    training = doc.get("training")
    training = {} if training is None else _check_training(ck, ck.mapping(training, "training"))
    curve = doc.get("loudness_curve")
    curve = None if curve is None else _check_curve(ck, ck.mapping(curve, "loudness_curve"))
    return cfg, parameters, input_gain_db, dict(training), curve


def _check_curve(ck: DocumentCheck, c: dict) -> dict[str, list[float]]:
    """The loudness guard's curve: 2..16 input loudnesses (LUFS, rising) and gains (dB)."""
    ck.only_keys(c, "loudness_curve", frozenset({"input_lufs", "gain_db"}), _NEWER)
    raw = ck.array(ck.require(c, "input_lufs", "loudness_curve"), "loudness_curve.input_lufs",
                   min_size=2, max_size=16)
    ck.array(ck.require(c, "gain_db", "loudness_curve"), "loudness_curve.gain_db",
             size=len(raw))
    out: dict[str, list[float]] = {}
    for key, (lo, hi), unit in (("input_lufs", CURVE_LUFS_RANGE, "LUFS"),
                                ("gain_db", CURVE_GAIN_RANGE, "dB")):
        out[key] = [ck.number(v, join(f"loudness_curve.{key}", i), lo, hi, unit)
                    for i, v in enumerate(c[key])]
    if any(b <= a for a, b in zip(out["input_lufs"], out["input_lufs"][1:])):
        raise ck.error("loudness_curve.input_lufs", "does not rise from value to value")
    return out


def _check_chain(ck: DocumentCheck, c: dict) -> ChainConfig:
    """The chain's structure: stages, sample rate (Hz), cabinet taps, bands and FFT size."""
    ck.only_keys(c, "chain", _CHAIN_KEYS, _NEWER)
    raw = ck.array(ck.require(c, "stages", "chain"), "chain.stages", max_size=len(STAGES))
    stages = tuple(ck.text(s, join("chain.stages", i), STAGES) for i, s in enumerate(raw))
    if len(set(stages)) != len(stages):
        raise ck.error("chain.stages", f"names a stage twice ({', '.join(stages)})")
    sr = ck.sample_rate(ck.require(c, "sample_rate", "chain"), "chain.sample_rate")
    taps = ck.integer(ck.require(c, "cab_taps", "chain"), "chain.cab_taps", *CAB_TAPS_RANGE,
                      unit="taps")
    bands = ck.integer(ck.require(c, "cab_bands", "chain"), "chain.cab_bands",
                       *CAB_BANDS_RANGE, unit="bands")
    fft = ck.integer(ck.require(c, "cab_fft", "chain"), "chain.cab_fft", *CAB_FFT_RANGE,
                     unit="points")
    if fft & (fft - 1):
        raise ck.error("chain.cab_fft", f"is {fft}, not a power of two (e.g. 8192)")
    if taps > fft:
        raise ck.error("chain.cab_taps", f"is {taps} taps, more than chain.cab_fft ({fft})")
    if c.get("cab_band_hz") is not None:  # written for readers; derived from cab_bands
        ck.numbers(c["cab_band_hz"], "chain.cab_band_hz", (bands,))
    return ChainConfig(stages=stages, sample_rate=sr, cab_taps=taps, cab_bands=bands,
                       cab_fft=fft)


def _check_parameters(ck: DocumentCheck, params: dict, cfg: ChainConfig
                      ) -> dict[str, float | list[float]]:
    """Every parameter of the chain present, none other, each in its range and size."""
    specs = param_specs(cfg)
    missing = [s.name for s in specs if s.name not in params]
    if missing:
        raise ModelFileError(f"{ck.source} lacks parameters {missing} that its chain "
                             f"({', '.join(cfg.stages) or 'no stages'}) needs; {ck.fix}")
    names = {s.name for s in specs}
    ck.only_keys(params, "parameters", names, " (a parameter of a stage not in chain.stages, "
                 "or misspelt)")
    nyquist = cfg.sample_rate / 2
    out: dict[str, float | list[float]] = {}
    for s in specs:
        where, value, rng = join("parameters", s.name), params[s.name], s.range
        if s.size == 1:
            x = ck.number(value, where, rng.lo, rng.hi, rng.unit, slack=rng.slack)
            if rng.unit == "Hz" and x >= nyquist:
                raise ck.error(where, f"is {x:g} Hz, not below half the sample rate "
                               f"({nyquist:g} Hz for chain.sample_rate {cfg.sample_rate})")
        else:
            arr = ck.numbers(value, where, (s.size,))
            outside = np.flatnonzero((arr < rng.lo - rng.slack) | (arr > rng.hi + rng.slack))
            if outside.size:
                i = int(outside[0])
                ck.number(value[i], join(where, i), rng.lo, rng.hi, rng.unit, slack=rng.slack)
        out[s.name] = value
    return out


def _check_training(ck: DocumentCheck, tr: dict) -> dict:
    """The parts of the training record that `info`, reports and exports read."""
    for key in ("input", "target"):
        if tr.get(key) is not None:
            part = ck.mapping(tr[key], join("training", key))
            if part.get("name") is not None:
                ck.text(part["name"], join(join("training", key), "name"))
            if part.get("silence_left_out_s") is not None:
                ck.finite(part["silence_left_out_s"],
                          join(join("training", key), "silence_left_out_s"))
    for key in ("loss", "esr", "mrstft", "seconds", "steps", "latency_samples", "drive_held_db"):
        if tr.get(key) is not None:
            ck.finite(tr[key], join("training", key))
    for key in ("mode", "quality", "chosen", "date", "cab_match"):
        if tr.get(key) is not None:
            ck.text(tr[key], join("training", key))
    for key in ("warnings", "simplified", "held_for_levels"):
        if tr.get(key) is not None:
            where = join("training", key)
            for i, w in enumerate(ck.array(tr[key], where)):
                ck.text(w, join(where, i))
    # the learner's scores by chain (selection) and loss increase by block (pinning)
    for key in ("selection", "pinning"):
        if tr.get(key) is not None:
            where = join("training", key)
            for name, v in ck.mapping(tr[key], where).items():
                ck.finite(v, join(where, name))
    if tr.get("interrupted") is not None:
        ck.flag(tr["interrupted"], join("training", "interrupted"))
    return tr


__all__ = ["STAGES", "Knobs", "Tone", "ToneStream", "check_tone_document", "load"]
