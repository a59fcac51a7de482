"""Unpaired fitting of the tone chain: multistart on drive, Adam, model selection vs linear."""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch

from tonemorph.chain.chain import STAGES, ChainConfig, ToneChain
from tonemorph.chain.stages import stage as chain_stage
from tonemorph.dsp.bandwidth import recording_bandwidth_hz
from tonemorph.dsp.loudness import (
    ATTACKS_FLOOR_DB,
    LUFS_FLOOR,
    integrated_lufs,
    peak_over_rms_db,
)
from tonemorph.dsp.noise import noise_floor_power, without_noise
from tonemorph.dsp.silence import GATE_REL_DB, gate_db
from tonemorph.dsp.units import gain_to_db
from tonemorph.errors import ParameterError
from tonemorph.features.frames import (
    FeatureConfig,
    Features,
    frame_features,
    frame_levels_db,
    gate_threshold_db,
    window_levels,
)
from tonemorph.features.notes import (
    MAX_NOTE_SPREAD_DB,
    MIN_NOTES,
    NoteSpectra,
    lowest_note_hz,
    note_match_spread_db,
    note_matched_db,
    note_spectra,
    shared_notes,
    transposed_power,
    with_floor,
)
from tonemorph.io.paths import check_stop, stop_handled
from tonemorph.learn.optim import Adam, CosineLR
from tonemorph.losses.unpaired import LossWeights, UnpairedLoss
from tonemorph.progress import Progress

INPUT_LEVEL_DB = -20.0  # the learning input's active RMS is normalised to this (dBFS)
QUALITY_PRESETS = {
    # segments x seconds of input per step, drive starts, steps per start, final steps.
    # Tried, not kept: the same seconds per step in 2.0 s segments (they fit the chain's 2^17-
    # point FFTs: ~25 % less per step) went with the linear model on amp_crunch and on the
    # held-out fuzz_cab in one quick-bench run (fuzz 1.43 MR-STFT, 1.21 in the stored run).
    # sweep_db: the drive values tried on the refined chain (drive_sweep).
    # start_steps were 20 (fast) and 30 (default) before the drive sweep judged the refined
    # chain: halved, the 6 tuning chains + the demo pair at 2 seeds gave the same mean
    # held-out MR-STFT (fast 1.100 -> 1.107, default tuning 1.120 -> 1.122) in 9 % / 16 %
    # less time. Tried, not kept: fast with one start (12 dB) was as good on average and the
    # heavy drive chain lost 0.15-0.18 at both seeds; fast with 80 steps chose the linear
    # model on the demo pair at seed 0 (1.75, doing nothing 1.45).
    # slow_dynamics_db: the drive of one more start, its dynamics engaged (SLOW_DYNAMICS).
    # default's steps were 160 until 2026-12-06: late steps lower the loss by fitting the
    # example's own notes and dynamics (fr3_jazz DS-1 pedal: 40 more steps from the learned
    # chain 8 dB less driven took the loss 5.72 -> 4.23 and the held-out MR-STFT 0.755 ->
    # 0.857). At 100 (seed 0, bench/results/probe.md): the 12 probe chains (fr3_clean,
    # fr3_jazz) 0.662 -> 0.608 mean held-out MR-STFT, softest quarter 3.09 -> 2.80 dB; the 30
    # tuning cases 1.034 -> 1.026, 2.93 -> 2.87 dB; |crest error| 1.42 -> 1.62 and
    # 1.33 -> 1.72 dB (fr3_clean sag_preamp_cab -0.8 -> -5.9 dB at 1.322 -> 1.151 MR-STFT).
    # At seed 1 the 10 probe cases did not move (0.647 -> 0.646): as good within the seed
    # spread, and 22 % faster.
    # fast's steps were 100 until 2026-12-06 (bench/results/selection_fast_steps.md, seed 0):
    # at 60 the 30 tuning cases 1.091 -> 1.081 mean held-out MR-STFT (8 better, 8 worse;
    # fr3_clean and fr3_jazz 0.825 -> 0.774, fr3_epiano amp_crunch lost its drive, 0.852 ->
    # 1.132), |crest error| 1.85 -> 1.64 dB, learn 25 -> 20 s; the demo pair 1.287 -> 1.202;
    # the held-out chains, looked at once after, 0.823 -> 0.702 (4 cases, all better); the 18
    # probe cases 1.066 -> 1.046 (6 better, none worse; selection_probe_fast_steps.md). Default
    # at 70 steps did not gain (fr3_clean and fr3_jazz, 8 nonlinear chains: 0.981 -> 1.022,
    # fr3_jazz sag_preamp_cab 0.933 -> 1.195).
    "fast": {"n_segments": 8, "segment_s": 1.0, "starts": (6.0, 20.0), "start_steps": 10,
             "steps": 60, "sweep_db": (0.0, 12.0, 24.0, 36.0), "slow_dynamics_db": 12.0},
    "default": {"n_segments": 10, "segment_s": 1.2, "starts": (0.0, 12.0, 24.0, 36.0),
                "start_steps": 15, "steps": 100,
                "sweep_db": (0.0, 6.0, 12.0, 18.0, 24.0, 30.0, 36.0), "slow_dynamics_db": 12.0},
}
# "best" learns as "default" does. Every way of spending more time on the fit that was measured
# (bench/results/selection_best.md, seed 0, held-out take C) came out worse on the nonlinear
# tuning chains: the former best (16 x 1.5 s segments, 6 starts x 45 steps, 400 steps; 3.4x
# the time) fr3_clean heavy_comp_cab 0.539 -> 0.766 MR-STFT, comp_dist_cab 0.989 -> 1.173,
# heavy_drive_cab 1.453 -> 1.663 (sag_preamp_cab 1.151 -> 1.140); its segments, starts and
# sweep with 100 steps (20 a start) 4 of 5 worse (fr3_jazz sag_preamp_cab 0.933 -> 1.015);
# default's segments and steps with 9 drive starts and a 3 dB sweep, fr3_clean comp_dist_cab
# 0.989 -> 1.403 and fr3_jazz sag_preamp_cab 0.933 -> 1.218 (drives 36-44 dB). The unpaired
# loss is lower on fits that follow the example's own notes and dynamics further (see the
# "default" comment above), so a longer or wider search finds them. The name stays, so that
# scripts and habits keep working.
QUALITY_PRESETS["best"] = dict(QUALITY_PRESETS["default"])
# The drive starts engage the sag and the compressor gently (ratio GENTLE_RATIO): the fit then
# decides how much of them to grow. In a start's few steps they grow too little to compete
# with a drive that flattens the level distribution at once, so a target made by a slow
# compressor before a light preamp went to the hardest drive start (sag_preamp_cab: 39 dB,
# crest error -8.7 dB). One more start holds them already engaged, slow, at a moderate drive;
# like every start it wins only on the loss.
GENTLE_RATIO = 1.5
SLOW_DYNAMICS = {"ratio": 3.0, "threshold_below_db": 6.0, "attack_ms": 50.0,
                 "release_ms": 500.0}
INIT_FFT = 8192  # resolution of the static spectrum match that starts the cabinet
INIT_HOP = INIT_FFT // 4  # Hann windows at 75 % overlap weigh every sample alike
WARMUP_S = 0.3  # each segment starts with this much context whose output is not scored


@dataclass(frozen=True)
class LearnConfig:
    """Settings of one learning run."""

    quality: str = "default"
    stages: tuple[str, ...] = STAGES
    seed: int = 0
    lr: float = 0.03
    select_margin: float = 0.05  # nonlinear model must beat the linear one by this fraction
    weights: LossWeights = field(default_factory=LossWeights)
    sample_rate: int = 48000

    def preset(self) -> dict:
        """The quality preset's numbers."""
        if self.quality not in QUALITY_PRESETS:
            raise ParameterError(f"quality must be one of {list(QUALITY_PRESETS)}, "
                                 f"got {self.quality!r}")
        return QUALITY_PRESETS[self.quality]


@dataclass
class LearnResult:
    """A fitted chain and what happened while fitting."""

    chain: ToneChain
    input_gain_db: float
    loss: float
    loss_terms: dict[str, float]
    candidates: dict[str, float]
    chosen: str
    steps: int
    seconds: float
    interrupted: bool = False
    # timbre scores ("linear", "nonlinear", "nonlinear with dynamics" before an unproven
    # reset), "linear level gap dB" (LEVEL_EVIDENCE_DB), "level range / linear"
    # (LEVEL_RANGE_EVIDENCE) and, for a saturating fit, "attacks gap dB" (and "attacks gap
    # dB, drive held" after a refit: ATTACKS_MARGIN_DB)
    selection: dict[str, float] = field(default_factory=dict)
    pinning: dict[str, float] = field(default_factory=dict)  # see block_pinning
    # blocks reset to neutral: the loss did not care, or (sag, comp) the example did not
    # prove them (`unproven_dynamics`)
    simplified: tuple[str, ...] = ()
    cab_match: str = ""  # how the cabinet was matched (`cab_match`)
    # sag / compressor that `simplify` kept for the level terms, though their reset lowered
    # the loss
    held_for_levels: tuple[str, ...] = ()
    # the drive (dB) the chain was refitted with, held, because the free fit flattened the
    # example's attacks (ATTACKS_MARGIN_DB); None when the free fit was kept
    drive_held_db: float | None = None
    # fundamental (Hz) of the lowest note held in the "target" and in the "input" (where the
    # notes were tracked and held: see `lowest_note_hz`)
    lowest_notes_hz: dict[str, float] = field(default_factory=dict)
    # where the example's spectrum ends (Hz; a lossy file's low-pass), when it ends before
    # the features' top (FeatureConfig.fmax_hz); None for a full-band example
    example_bandwidth_hz: float | None = None



ACTIVITY_HOP = 1024  # samples per level measurement when finding the active part of the input


def _hop_mean_square(x: np.ndarray) -> np.ndarray:
    """Mean square of each whole ACTIVITY_HOP block of mono x (in x's dtype)."""
    frames = x[: len(x) // ACTIVITY_HOP * ACTIVITY_HOP].reshape(-1, ACTIVITY_HOP)
    return (frames ** 2).mean(-1)


def _active_hops(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean square of each ACTIVITY_HOP block of mono x, and which blocks pass the silence gate."""
    ms = _hop_mean_square(x)
    lvl = 10 * np.log10(ms + 1e-12)
    return ms, lvl > gate_db(lvl)


SEGMENT_DRAWS = 32  # candidate sets of segments; the one whose levels spread like the take's wins
# Tried, not kept (2026-12-06): the steps taking turns on 4 sets of training segments (4x the
# take seen, the best state kept among the steps on the first set), so that late steps fit
# less of one set's notes. fr3_jazz's probe chains gained (5 of 5: 0.765 -> 0.729 mean
# MR-STFT on the held-out take) and the tuning chains lost (17 cases 0.935 -> 0.977, 11
# worse: fr3_clean heavy_drive_cab 1.453 -> 1.849, fr3_jazz sag_preamp_cab 0.933 -> 1.179 at
# a 40 dB drive, crest -11.5 dB).
SEGMENT_QUANTILES = np.array([0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98])  # the loud half
# weighs most: the output level is matched there (`match_level`)


def _segments(x: np.ndarray, sr: int, n: int, seg_s: float, rng: np.random.Generator
              ) -> np.ndarray:
    """n segments (n, warm + seg) of mono x's active part whose levels spread like the take's.

    Of SEGMENT_DRAWS candidate sets (half spread evenly in time, half at evenly spaced ranks of
    the windows' energy), the set whose scored hops' level quantiles are closest to the whole
    active take's wins: spread in time only, the 8 segments of a take of strikes left to ring
    fell in the decays, 12 dB quieter than the take, and the tone learned from them was that
    much too loud on it.
    """
    warm = int(WARMUP_S * sr)
    length = warm + int(seg_s * sr)
    if len(x) <= length:
        x = np.pad(x, (0, length - len(x) + 1))
    ms, keep = _active_hops(x)
    lvl = 10 * np.log10(ms + 1e-12)
    n_hops = max(1, (length - warm) // ACTIVITY_HOP - 1)  # hops wholly in a scored part
    # scored parts start at an active hop: windows allowed to start in a pause (half active)
    # spread as well, but gave fewer active frames per segment and worse fits on the bench
    active = np.flatnonzero(keep) * ACTIVITY_HOP
    starts_ok = active[(active >= warm) & (active + length - warm <= len(x))] - warm
    if len(starts_ok) == 0:
        starts_ok = np.array([0])
    want = np.quantile(lvl[keep], SEGMENT_QUANTILES)
    cum = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    by_energy = starts_ok[np.argsort(cum[starts_ok + length] - cum[starts_ok + warm],
                                     kind="stable")]
    best, best_err = None, math.inf
    for draw in range(SEGMENT_DRAWS):
        where = (np.arange(n) + rng.uniform(0.2, 0.8, n)) / n
        if draw % 2 == 0:
            picks = [int(starts_ok[np.argmin(np.abs(starts_ok - p))])
                     for p in np.quantile(starts_ok, where)]
        else:
            picks = _apart(by_energy, (where * len(by_energy)).astype(int), (length - warm) // 2)
        hops = (np.array(picks)[:, None] + warm) // ACTIVITY_HOP
        idx = (hops + np.arange(n_hops)).ravel()
        got = lvl[idx[idx < len(lvl)]]
        if got.size == 0:
            continue
        # gated on their own loud level, as the features of a chain's output are
        got = got[got > gate_db(got)]
        err = float(np.mean(np.abs(np.quantile(got, SEGMENT_QUANTILES) - want)))
        if err < best_err:
            best, best_err = picks, err
    picks = best if best is not None else [int(starts_ok[0])] * n
    return np.stack([x[p: p + length] for p in sorted(picks)]).astype(np.float32)


def _apart(order: np.ndarray, ranks: np.ndarray, min_gap: int) -> list[int]:
    """Start positions at `ranks` of `order`, each moved to the nearest rank whose start is
    min_gap samples from the ones picked before (kept where none is)."""
    picks: list[int] = []
    for r in ranks:
        pick = int(order[r])
        for d in range(len(order)):
            near = [int(order[j]) for j in (r - d, r + d) if 0 <= j < len(order)]
            free = [s for s in near if all(abs(s - p) >= min_gap for p in picks)]
            if free:
                pick = free[0]
                break
            if r - d < 0 and r + d >= len(order):
                break
        picks.append(pick)
    return picks


def target_features(y: np.ndarray, fcfg: FeatureConfig, chunk_s: float = 10.0) -> Features:
    """Features of the whole mono target, computed in chunks with one shared silence gate."""
    sr = fcfg.sample_rate
    n = int(chunk_s * sr)
    hop = fcfg.hop
    with torch.no_grad():
        t = torch.from_numpy(y.astype(np.float32))[None]
        frames = t[:, : t.shape[-1] // hop * hop].reshape(-1, hop)
        gate = gate_threshold_db(10 * torch.log10(frames.pow(2).mean(-1) + 1e-10))
        parts = [frame_features(t[:, i: i + n + fcfg.n_fft], fcfg, gate_db=gate)
                 for i in range(0, max(t.shape[-1] - fcfg.n_fft, 1), n)]
    return Features.cat(parts)


POWER_CHUNK_FRAMES = 512


def _mean_power(x: torch.Tensor, n_fft: int, hop: int, skip: int) -> torch.Tensor:
    """Mean power spectrum (linear) of the non-silent frames of x (B, T) after `skip` samples."""
    x = x[:, skip:]
    w = torch.hann_window(n_fft)
    n_frames = (x.shape[-1] - n_fft) // hop + 1
    step = POWER_CHUNK_FRAMES
    # in runs of frames: one STFT of a whole 5-minute example held its spectra several times
    # over (about 0.5 GB)
    p = torch.cat([
        torch.stft(x[:, i * hop: (min(i + step, n_frames) - 1) * hop + n_fft], n_fft, hop,
                   window=w, center=False, return_complex=True).abs().pow(2).transpose(1, 2)
        for i in range(0, max(n_frames, 1), step)], dim=1).reshape(-1, n_fft // 2 + 1)
    lvl = 10 * torch.log10(p.mean(-1) + 1e-12)
    keep = lvl > max(torch.quantile(lvl, 0.95).item() - GATE_REL_DB, lvl.min().item())
    return p[keep].mean(0)


def band_power_db(power: torch.Tensor, band_hz: np.ndarray, sample_rate: int,
                  octaves: float = 1 / 12, floor: np.ndarray | None = None,
                  wide_low: bool = True) -> np.ndarray:
    """Power (dB) in Gaussian log-frequency bands (std `octaves`, at least 2 FFT bins wide;
    with `wide_low`, widening from ~1 kHz down to half an octave below 400 Hz), with `floor`
    (a noise floor's power per bin, `tonemorph.dsp.noise`) taken off each band.

    Not narrower for long-term spectra: two performances' differ in fine detail by which notes
    they play, and that must not end up in the cabinet. The floor comes off whole bands, not
    bins: per bin, the floor's estimate scatters by as much as a band of pure hiss holds.
    """
    n_bins = power.shape[-1]
    f = np.linspace(0, sample_rate / 2, n_bins)
    df = f[1]
    p = power.double().numpy()
    out = np.empty(len(band_hz))
    for i, fc in enumerate(band_hz):
        # below ~400 Hz the spectrum is mostly which fundamentals were played: smooth wider
        oct_i = max(octaves, 0.5 * min(1.0, 400.0 / fc) ** 2) if wide_low else octaves
        sigma_hz = max(fc * (2 ** oct_i - 1), 2 * df)
        w = np.exp(-0.5 * ((f - fc) / sigma_hz) ** 2)
        band = (w * p).sum() / w.sum()
        if floor is not None:
            band = float(without_noise(band, (w * floor).sum() / w.sum()))
        out[i] = 10 * np.log10(band + 1e-20)
    return out


def _levels(x: torch.Tensor, fcfg: FeatureConfig, skip: int) -> torch.Tensor:
    """The frame levels (dBFS) of x (B, T) that `frame_features` keeps (its silence gate)."""
    with torch.no_grad():
        lv = frame_levels_db(x, fcfg, skip)
    return lv[lv > gate_threshold_db(lv)]


LEVEL_CHUNK_SAMPLES = 2 ** 22  # rows of input run through the chain at once when levels are
# measured: a 5-minute take in one call raised the peak memory by 0.7 GB


Forward = Callable[[ToneChain, torch.Tensor], torch.Tensor]


def chunked_outputs(forward: Forward, chain: ToneChain, segs: torch.Tensor
                    ) -> Iterator[torch.Tensor]:
    """forward(chain, rows) over segs, LEVEL_CHUNK_SAMPLES samples of rows at a time."""
    for part in row_chunks(segs):
        yield forward(chain, part)


def row_chunks(rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """rows (B, T) split into runs of rows of LEVEL_CHUNK_SAMPLES samples at most (one row at
    least)."""
    return rows.split(max(1, LEVEL_CHUNK_SAMPLES // rows.shape[-1]))


def _call(chain: ToneChain, segs: torch.Tensor) -> torch.Tensor:
    """The chain's output on segs (the default `Forward`)."""
    return chain(segs)


LOUDNESS_REL_GATE_DB = 10.0  # frames this far under the power mean do not count (BS.1770's)


def frame_loudness_db(level_db: torch.Tensor) -> float:
    """Power mean (dB) of frame levels, gated as BS.1770 gates its blocks: frames more than
    LOUDNESS_REL_GATE_DB below the power mean of them all are left out."""
    lv = level_db.detach().double().flatten()
    if lv.numel() == 0:
        return -math.inf
    p = torch.pow(10.0, lv / 10)
    keep = lv > 10 * torch.log10(p.mean()) - LOUDNESS_REL_GATE_DB
    return float(10 * torch.log10(p[keep].mean()))


def match_level(chain: ToneChain, segs: torch.Tensor, target_levels: torch.Tensor,
                fcfg: FeatureConfig, skip: int, forward: Forward = _call,
                loudness: bool = False) -> None:
    """Shift the output gain so the louder half of the frame levels matches the target's, or
    (`loudness`) so the output is as loud as the target (`frame_loudness_db`).

    Loudness suits a chain without dynamics, which cannot reshape its level distribution:
    facing a compressed target, one matched on the louder half came out 5-7 dB too loud at its
    loud end, where loudness (and every level-weighted error) is decided. A chain in training
    keeps the louder half, the alignment its loss's level terms settle on.
    """
    with torch.no_grad():
        lv = torch.cat([frame_levels_db(out, fcfg, skip)
                        for out in chunked_outputs(forward, chain, segs)])
    out = lv[lv > gate_threshold_db(lv)]  # as `_levels` gates them, over the whole of segs
    if out.numel() < 4:
        return
    if loudness:
        delta = frame_loudness_db(target_levels) - frame_loudness_db(out)
    else:
        q = torch.linspace(0.5, 0.98, 25)
        delta = float(torch.median(torch.quantile(target_levels, q) - torch.quantile(out, q)))
    vals = chain.values()
    rng = next(s for s in chain.specs if s.name == "out_gain_db").range
    vals["out_gain_db"] = rng.clamp(float(vals["out_gain_db"]) + delta)
    chain.set_values(vals)


class NoteBands:
    """Per-note band levels (dB) of the target and of the whole input, per cab band grid."""

    def __init__(self, target: NoteSpectra, inp: NoteSpectra, sample_rate: int):
        self.target, self.input, self.sample_rate = target, inp, sample_rate
        # per band grid (`_grid`): each depends on the notes and the grid only, and the
        # cabinet is matched again every few steps (a race only computes one twice)
        self._levels: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._spread: dict[tuple[float, ...], float | None] = {}
        self._moved: dict[tuple[float, ...], np.ndarray | None] = {}

    @staticmethod
    def _grid(band_hz: np.ndarray) -> tuple[float, ...]:
        return tuple(np.round(band_hz, 6))

    def levels_db(self, band_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(target, input) band levels, (notes, bands) each.

        In narrow bands down to the lowest: a note is compared with the same note, so its
        level in a band is its harmonics there, not which notes were played, and the wide
        low bands of the long-term match would flatten a cabinet's low resonance (fr3_bass's
        EQ + cab chain, a peak at 100-130 Hz: take C's 100-200 Hz 6.6 dB under the truth's,
        5.5 dB in narrow bands; `bench/results/selection_note_bands.md`). The cost: a band
        that few notes' harmonics reach holds a handful of partials (fr3_clean's saturator
        probe, smooth truth: +4.4 / +4.7 dB at 157 / 198 Hz, its take's lowest notes, where
        the wide bands were within 1.3 dB; 12 probe cases 0.606 -> 0.624).
        """
        key = self._grid(band_hz)
        if key not in self._levels:
            self._levels[key] = tuple(
                np.array([band_power_db(torch.from_numpy(p), band_hz, self.sample_rate,
                                        floor=s.floor, wide_low=False)
                          for p in s.power]).reshape(len(s.power), len(band_hz))
                for s in (self.target, self.input))
        return self._levels[key]

    def spread_db(self, band_hz: np.ndarray) -> float | None:
        """`note_match_spread_db` of target and input (a chain's transfer, one gain per band,
        moves none of it); None below MIN_NOTES shared notes."""
        key = self._grid(band_hz)
        if key not in self._spread:
            t_db, in_db = self.levels_db(band_hz)
            self._spread[key] = note_match_spread_db(t_db, self.target, in_db, self.input,
                                                     band_hz)
        return self._spread[key]

    def transposition_db(self, band_hz: np.ndarray) -> np.ndarray | None:
        """How the input's long-term band levels (dB, as `band_power_db`'s) would change if it
        played the target's notes (`transposed_power`); None without enough notes."""
        key = self._grid(band_hz)
        if key not in self._moved:
            moved = transposed_power(self.target, self.input)
            self._moved[key] = None if moved is None else (
                band_power_db(torch.from_numpy(moved[0]), band_hz, self.sample_rate)
                - band_power_db(torch.from_numpy(moved[1]), band_hz, self.sample_rate))
        return self._moved[key]

    def agree(self, band_hz: np.ndarray) -> bool:
        """Whether the shared notes agree enough to match the cabinet note by note."""
        spread = self.spread_db(band_hz)
        return spread is not None and spread <= MAX_NOTE_SPREAD_DB


# Tried, not kept: no boost above the heard bands' mean gain below the learning take's heard
# range (bands > 20 dB under its loudest). fr3_clean's take B has no low notes and the match
# sets +10-20 dB too much below 100 Hz: level-binned 3.10 -> 2.99 dB, softest quarter 4.26 ->
# 4.11, MR-STFT 1.127 -> 1.135; fr3_jazz and sonic-pi unchanged; but the demo pair at `fast`,
# seed 0, then chose the linear model (MR-STFT 1.750, doing nothing 1.448). Capping every band
# (highs too) lost the held-out fuzz chain's presence peak (1.03 -> 1.71).
# Tried, not kept (2026-12-06): where the takes share too few notes for the note match (chords,
# harmonics), each band of the long-term match shrunk toward flat by how much its balance varies
# section to section (2.5 s) in the two recordings, as `master.eq.consistent_curve_bands_db`
# does: gain x p^2 / (p^2 + spread^2 + 1 dB^2), p = 12 dB. On the sonic-pi tuning chains (no
# shared notes) the clean chains gained (linear_eq_cab 0.752 -> 0.719 MR-STFT, LUFS error
# +3.7 -> +2.8; heavy_comp_cab 1.116 -> 1.072) but the fits through a drive went elsewhere
# (sag_preamp_cab 1.868 -> 2.204, comp_dist_cab 1.132 -> 1.960); p = 6 dB with twice the
# spread lost the clean chain too (1.305).
# Tried, not kept (2026-12-05): in the note-by-note match, each note's own transfer (output
# over input of that note on the training segments) instead of the one mean transfer, on every
# chain (single draws): comp_dist_cab 1.171 -> 1.137 (the long-term match: 1.025),
# sag_preamp_cab 1.071 -> 1.561.
def anchor_cab(chain: ToneChain, segs: torch.Tensor, target_power: torch.Tensor,
               input_power: torch.Tensor, fcfg: FeatureConfig, skip: int,
               segs_power: torch.Tensor | None = None, forward: Forward = _call,
               notes: NoteBands | None = None,
               floors: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Set the cab curve (zero mean over 100 Hz-8 kHz) to the static match of the chain's output.

    The long-term spectrum is matched in closed form, as a match-EQ would, so gradient descent
    spends itself on what a match-EQ cannot do: level-dependent and dynamic behaviour. The
    chain's transfer (output over input spectrum) is measured on the training segments and
    applied to the spectrum of the whole input (`input_power`), because a few seconds of input
    hold too few notes for a stable long-term spectrum. With `notes` whose shared notes agree
    (`NoteBands.agree`), target and estimated output are compared note by note
    (`note_matched_db`): the long-term spectra differ as much
    by which notes each performance holds as by the chain. Where they share too few, the
    input's long-term spectrum is moved to the example's notes first
    (`NoteBands.transposition_db`): the take played in the example's register (held-out
    MR-STFT on the real clips 1.415 -> 1.110 over 8 quick chains, 1.308 -> 1.000 over 14 probe
    chains; takes an octave from the example's register 1.427 -> 1.335 over 16;
    `bench/results/transposition.md`). Not behind a saturating drive: it
    gives every note much the same spectrum, so the long-term spectra hardly depend on the
    notes, while one transfer per chain no longer maps each note's input to its output
    (fr3_clean comp_dist_cab, drive 36 dB: MR-STFT 1.03 with the long-term match, 1.17 note
    by note). `segs_power`: `_mean_power` of segs, when the caller keeps it (it does not
    change between matches); `forward` runs the chain; `floors`: the noise floors (power per
    bin, as target_power's) of the target and the input, taken off their long-term spectra.
    """
    if "cab" not in chain.cfg.stages:
        return
    vals = chain.values()
    vals["cab.band_db"] = [0.0] * chain.cfg.cab_bands
    chain.set_values(vals)
    with torch.no_grad():
        out_p = _mean_power(forward(chain, segs), INIT_FFT, INIT_HOP, skip)
        in_p = _mean_power(segs, INIT_FFT, INIT_HOP, skip) if segs_power is None else segs_power
    band_hz = chain.cfg.band_hz()
    sr = fcfg.sample_rate
    transfer = band_power_db(out_p, band_hz, sr) - band_power_db(in_p, band_hz, sr)
    t_floor, in_floor = floors if floors is not None else (None, None)
    est_out = band_power_db(input_power, band_hz, sr, floor=in_floor) + transfer
    bands = band_power_db(target_power, band_hz, sr, floor=t_floor) - est_out
    # Tried, not kept (2026-12-08): behind a saturating drive, where the shared notes agree,
    # the take moved to the example's notes (`bands - moved`, as below where they do not
    # agree). Offline it took the content difference the long-term match reads as the chain
    # (chain(A) against chain(B), 80 Hz-6 kHz) from 24.9 to 12.1 dB summed over 8 saturated
    # FluidR3 cases, but the fits did worse: 8 changed cases 1.105 -> 1.189 mean held-out
    # MR-STFT (fr3_jazz heavy_drive_cab 1.314 -> 1.669, fr3_clean comp_dist_cab 0.978 ->
    # 1.213; better on fr3_jazz comp_dist_cab 1.006 -> 0.869 and fuzz_cab 1.083 -> 0.992)
    if notes is not None and not saturating(chain):
        if notes.agree(band_hz):
            t_db, in_db = notes.levels_db(band_hz)
            by_note = note_matched_db(t_db, notes.target, in_db + transfer, notes.input,
                                      band_hz, bands)
            bands = bands if by_note is None else by_note
        else:
            # Tried, not kept (2026-12-07): the long-term match moved to the example's notes
            # under the note match as well (its blend toward the long-term curve and the cuts
            # below the shared notes). 24 FluidR3 quick cases 0.672 -> 0.667 mean held-out
            # MR-STFT, 9 better, 3 worse (fr3_jazz amp_crunch turned nonlinear, 0.518 ->
            # 0.612; fr3_epiano compand_overdrive 0.245 -> 0.309): within run-to-run noise.
            # Tried, not kept (2026-12-07): behind a saturating drive, the training segments
            # filtered by the move (zero phase, at their RMS) and run through the chain, whose
            # transfer then holds what the drive does to the moved spectrum: 12 saturated
            # fits 1.543 -> 1.496, 7 better, 4 worse (the heavy drive chains 1.746 -> 2.026
            # and 1.988 -> 2.062, the sag chains 1.633 -> 1.713 and 1.374 -> 1.423)
            moved = notes.transposition_db(band_hz)
            bands = bands if moved is None else bands - moved
    mid = (band_hz > 100) & (band_hz < 8000)
    bands = bands - float(np.mean(bands[mid]))
    rng_cab = next(s for s in chain.specs if s.name == "cab.band_db").range
    vals["cab.band_db"] = [rng_cab.clamp(b) for b in bands]
    chain.set_values(vals)


# set in closed form (cab, peak limit) or left flat (tone stack)
# Tried, not kept (2026-12-07): the pre-EQ's low shelf held at 0 dB as well, against the jazz
# lines' nonlinear fits that cut it by 6-11.5 dB (their take plays down to 123 Hz, the example
# to 196 Hz; bench/results/fresh.md, fresh2.md). On the 16 fr3_jazz cases (tuning, held-out,
# both fresh sets; default, seed 0) 0.727 -> 0.731 mean held-out MR-STFT, 3 better, 4 worse
# (held-out fuzz 1.068 -> 0.936, fresh TS9 0.736 -> 0.827); the fresh metal amp and compressor
# stayed nonlinear at the same score: the shelf is not what chose them.
FROZEN_PREFIXES = ("cab__", "limit__", "post_eq__")


def anchor_limit(chain: ToneChain, target_peak_db: float) -> None:
    """Set the peak limit's ceiling where the output's peaks meet the example's loudest
    (target_peak_db, dBFS, through the current output gain)."""
    if "limit" not in chain.cfg.stages:
        return
    vals = chain.values()
    rng = next(s for s in chain.specs if s.name == "limit.ceiling_db").range
    vals["limit.ceiling_db"] = rng.clamp(target_peak_db - float(vals["out_gain_db"]))
    chain.set_values(vals)


ANCHOR_EVERY = 10  # steps between closed-form cabinet matches
STEP_PARTS = 2  # each step runs the chain on this many parts of the segments (threads share)


def _summed(grads: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The sum of the gradients given (None where there are none)."""
    gs = [g for g in grads if g is not None]
    return torch.stack(gs).sum(0) if gs else None


def _step_parts(segs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The segments (rows) in STEP_PARTS consecutive parts, none empty."""
    return segs.tensor_split(min(STEP_PARTS, len(segs)))


class _Fitter:
    """Adam on one chain against the unpaired loss over fixed input segments, with the cab
    re-matched in closed form every ANCHOR_EVERY steps.

    Several chains may be fitted at once from worker threads: the segments and the loss are
    only read, and progress and stopping go through a lock and an event.
    """

    def __init__(self, segs: torch.Tensor, loss: UnpairedLoss, fcfg: FeatureConfig, skip: int,
                 lr: float, target_power: torch.Tensor, target_levels: torch.Tensor,
                 input_power: torch.Tensor, progress: Progress | None = None,
                 total_steps: int = 0, pool: ThreadPoolExecutor | None = None,
                 notes: NoteBands | None = None,
                 floors: tuple[np.ndarray, np.ndarray] | None = None):
        self.segs, self.loss, self.fcfg, self.skip, self.lr = segs, loss, fcfg, skip, lr
        self.notes = notes
        self.floors = floors  # noise floors (power per INIT_FFT bin) of the target and input
        self.pool = pool  # threads that run the parts of one chain's steps and evaluations
        self.target_power, self.target_levels = target_power, target_levels
        self.input_power = input_power
        with torch.no_grad():
            self.segs_power = _mean_power(segs, INIT_FFT, INIT_HOP, skip)
        self.progress, self.total_steps, self.done = progress, total_steps, 0
        self.interrupted = False
        self.stop = threading.Event()  # one worker's interruption stops every worker
        self._lock = threading.Lock()

    def _map(self, fn: Callable, *its: Iterable) -> list:
        """[fn(*args)] for the parts, on the fitter's threads when it has them."""
        return list(self.pool.map(fn, *its) if self.pool is not None else map(fn, *its))

    def output(self, chain: ToneChain, segs: torch.Tensor) -> torch.Tensor:
        """The chain's output on segs without gradient (float32), its parts run in parallel
        (the filter stages' responses computed once for them)."""
        with torch.no_grad():
            responses = chain.filter_responses(chain.fft_size(segs.shape[-1]))

        def part(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():  # grad mode is per thread
                # float32 like the training steps: the losses compared are the same kind
                return chain(x, precise=False, responses=responses)
        return torch.cat(self._map(part, _step_parts(segs)))

    def anchor(self, chain: ToneChain, level: bool = True) -> None:
        """Closed-form cab match, then (optionally) the output level."""
        anchor_cab(chain, self.segs, self.target_power, self.input_power, self.fcfg, self.skip,
                   self.segs_power, self.output, self.notes, self.floors)
        if level:
            self.match_level(chain)

    def match_level(self, chain: ToneChain, loudness: bool = False) -> None:
        """`match_level` on the training segments."""
        match_level(chain, self.segs, self.target_levels, self.fcfg, self.skip, self.output,
                    loudness)

    def evaluate(self, chain: ToneChain, segs: torch.Tensor | None = None,
                 loss: UnpairedLoss | None = None) -> tuple[float, dict[str, float]]:
        """Loss (and its terms) of the chain on the training segments, or on `segs`; against
        the example, or `loss`'s."""
        with torch.no_grad():
            out = self.output(chain, self.segs if segs is None else segs)
            total, terms = (loss or self.loss)(frame_features(out, self.fcfg, self.skip))
        return float(total), terms

    def _stepped(self, tag: str, best: float) -> None:
        with self._lock:
            self.done += 1
            if self.progress:
                self.progress(tag, self.done, self.total_steps, best)

    def request_stop(self) -> None:
        """Stop every run after its current step (Ctrl-C in the thread that waits)."""
        with self._lock:
            self.interrupted = True
            self.stop.set()

    def _loss_with_grad(self, chain: ToneChain, params: list[torch.Tensor], shared: bool
                        ) -> torch.Tensor:
        """Loss of the chain on the training segments, its gradient left in params' .grad
        (when finite).

        The segments are processed in STEP_PARTS parts, forward and backward, in parallel on
        `pool` (the autograd engine runs a backward pass on its calling thread only, so one
        chain's fit would otherwise use one core). The loss is the same as on all segments
        at once, and the parts are the same with or without threads: the result does not
        depend on their number. `shared`: run the parts on the fitter's threads.
        """
        run = self._map if shared else lambda fn, *its: list(map(fn, *its))
        # the filter stages' responses depend on the parameters only: computed once for all
        # parts (a quarter of a step when each part made its own), cut from the parameters'
        # graph like the features below, their gradients summed over the parts
        responses = chain.filter_responses(chain.fft_size(self.segs.shape[-1]))
        resp_cuts = [r.detach().requires_grad_(r.requires_grad) for r in responses]
        wanted = [(r, c) for r, c in zip(responses, resp_cuts) if c.requires_grad]
        outs = list(run(lambda x: chain(x, responses=resp_cuts), _step_parts(self.segs)))
        with torch.no_grad():
            # the gate frame_features would find on all segments at once
            gate = gate_threshold_db(torch.cat([frame_levels_db(o, self.fcfg, self.skip)
                                                for o in outs]))
        feats = list(run(lambda o: frame_features(o, self.fcfg, self.skip, gate), outs))
        # the loss compares distributions over all frames: it runs on the joined features,
        # cut from the parts' graphs so that their backward passes can run in parallel
        cuts = [[t.detach().requires_grad_(t.requires_grad) for t in f.tensors()]
                for f in feats]
        total, _ = self.loss(Features.cat([Features.from_tensors(c) for c in cuts]))
        if not torch.isfinite(total):
            return total
        total.backward()

        leaves = [*params, *(c for _, c in wanted)]

        def part_grads(f: Features, cut: list[torch.Tensor]) -> tuple[torch.Tensor | None, ...]:
            pairs = [(t, c.grad) for t, c in zip(f.tensors(), cut) if c.grad is not None]
            if not pairs:
                return (None,) * len(leaves)
            return torch.autograd.grad([t for t, _ in pairs], leaves, [g for _, g in pairs],
                                       allow_unused=True)

        grads = list(run(part_grads, feats, cuts))
        summed = [_summed([g[i] for g in grads]) for i in range(len(leaves))]
        # the responses' gradients, summed over the parts, through the parameters once
        pairs = [(r, g) for (r, _), g in zip(wanted, summed[len(params):]) if g is not None]
        via = (torch.autograd.grad([r for r, _ in pairs], params, [g for _, g in pairs],
                                   allow_unused=True) if pairs else (None,) * len(params))
        for p, g, v in zip(params, summed, via):
            p.grad = _summed([g, v])
        return total

    def run(self, chain: ToneChain, steps: int, tag: str, shared: bool = False,
            held: tuple[str, ...] = ()) -> tuple[ToneChain, float]:
        """`steps` Adam steps from the chain's values; returns the best state seen, anchored.

        `shared`: each step's parts run on the fitter's threads (one chain on several cores;
        for runs that are not themselves run side by side). `held`: raw parameters that keep
        their values (besides FROZEN_PREFIXES).
        """
        params = [p for k, p in chain.raw.items()
                  if not k.startswith(FROZEN_PREFIXES) and k not in held]
        opt = Adam(params, lr=self.lr)
        sched = CosineLR(opt, max(steps, 1), eta_min=self.lr / 10)
        best, best_state = math.inf, copy.deepcopy(chain.state_dict())
        try:
            for i in range(steps):
                check_stop()
                if self.stop.is_set():
                    raise KeyboardInterrupt("another start was stopped")
                if i % ANCHOR_EVERY == 0:
                    self.anchor(chain, level=False)
                opt.zero_grad()
                total = self._loss_with_grad(chain, params, shared)
                value = float(total.detach())
                if value < best:
                    best, best_state = value, copy.deepcopy(chain.state_dict())
                if not torch.isfinite(total):
                    break
                opt.step()
                sched.step()
                self._stepped(tag, best)
        except KeyboardInterrupt:
            # keep what this run reached; the caller stops after it
            self.request_stop()
            stop_handled()
        chain.load_state_dict(best_state)
        self.anchor(chain)
        final, _ = self.evaluate(chain)
        return chain, final


THREADS_ENV = "TONEMORPH_THREADS"


def fit_threads() -> int:
    """Worker threads for fitting: $TONEMORPH_THREADS, else the CPUs this process may run on."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ParameterError(f"{THREADS_ENV} must be a whole number >= 1, got {env!r}"
                                 ) from None
        if n < 1:
            raise ParameterError(f"{THREADS_ENV} must be a whole number >= 1, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def single_op_threads() -> Iterator[None]:
    """Run the block with torch (and its BLAS/OpenMP) on one thread per calling thread.

    Measured on 2 cores: a 15 s + 15 s fit took 61 s with 1 intra-op thread and 246 s with 2
    while other processes were busy (OpenMP teams spin on a barrier that a preempted member
    holds up). The fit gets its parallelism from running drive starts in worker threads
    instead, each a whole chain: those never wait on each other.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _run_starts(fitter: _Fitter, chains: list[tuple[str, ToneChain]], steps: int,
                workers: int) -> list[tuple[str, ToneChain, float]]:
    """Fit each (tag, chain) for `steps`, `workers` at a time; results in the given order.

    The chains run side by side, one thread each, except one left over after whole rounds of
    `workers`: it runs after them with its steps' parts on the fitter's threads, rather than
    alone on one thread beside idle cores (3 starts on 2 cores: the third had run so). More
    left over run side by side still: a step has only STEP_PARTS parts to share. The result
    is the same either way (`_Fitter._loss_with_grad`).
    """
    if workers <= 1:
        side_by_side = 0
    else:
        side_by_side = len(chains) - 1 if len(chains) % workers == 1 else len(chains)
    out: list[tuple[str, ToneChain, float]] = []
    if side_by_side > 1:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tonemorph-fit") as pool:
            futures = [pool.submit(fitter.run, c, steps, tag) for tag, c in chains[:side_by_side]]
            while True:
                try:
                    wait(futures)
                    break
                except KeyboardInterrupt:
                    # Ctrl-C arrives in this (waiting) thread: stop the workers, keep their best
                    fitter.request_stop()
            out = [(tag, *f.result()) for (tag, _), f in zip(chains, futures)]
    for tag, c in chains[len(out):]:
        if fitter.interrupted:
            break
        out.append((tag, *fitter.run(c, steps, tag, shared=True)))
    return out


TIMBRE_TERMS = ("binned_env", "joint", "crest")
LEVEL_TERMS = ("level", "dynamics")  # the level distribution's, that a sag or compressor moves


SELECT_SEGMENTS = 32  # segments judged when choosing linear vs nonlinear
SELECT_SEGMENT_S = 1.0  # seconds each


def _timbre_score(fitter: _Fitter, chain: ToneChain, segs: torch.Tensor,
                  loss: UnpairedLoss | None = None) -> float:
    """Weighted sum of the loss terms that describe timbre (model selection criterion)."""
    _, terms = fitter.evaluate(chain, segs, loss)
    w = fitter.loss.weights.as_dict()
    return float(sum(w[k] * terms[k] for k in TIMBRE_TERMS))


# A short recording is one stretch of playing, and stretches of one performance are played
# differently: judged against all of a longer take, a compressor that squeezes its wider
# playing into a short example's wins on timbre and level (3 of 9 runs from 15 s parts of the
# clean examples against the whole 60 s take kept a sag or compressor: held-out MR-STFT up to
# 1.066 against 0.25-0.33 from the whole example), and the other way round (the whole 60 s
# example against 15 s of the take: one of 4 kept a sag, 0.858; judged so, it still does,
# its timbre win 0.70 of the linear score on the nearest stretch). From SECTIONS_FROM x the
# shorter's length on, the chains are judged on the stretch of the longer recording, as long
# as the shorter, that the linear chain (at the example's loudness) brings nearest the
# example's levels: the stretch played most like the other recording. On the 3 runs the 15 s
# stretches of the take had level gaps of 2.0-16.1 dB, and on the nearest (2.0-2.7 dB) the
# compressor had no timbre win (0.75-1.05 of the linear score; averaged over all stretches,
# 0.78-0.89, with gaps of 7.7-9.1 dB); compressed bass's nearest stretch still had a 2.4 dB gap
# and a 0.78 timbre ratio, its level range (0.37) the proof. Over 25 such runs
# (`bench/bench_short_example.py`): clean chain 0.578 -> 0.462 mean held-out MR-STFT; a
# compressor into distortion from a 15 s part lost its dynamics, then its drive (1.183 ->
# 1.526, match-EQ 1.623): a short example shows a real compressor less clearly too.
SECTIONS_FROM = 1.5
SECTION_SEGMENTS = 16  # selection segments per stretch of the take
MAX_SECTIONS = 8  # stretches judged at most (each costs two evaluations), evenly spaced


@dataclass
class Judge:
    """Where the linear and nonlinear chains are compared: segments of the take, and the
    example (its loss and frame levels) they are judged against."""

    segs: torch.Tensor
    loss: UnpairedLoss
    target_levels: torch.Tensor


def stretches(n_long: int, n_short: int) -> list[tuple[int, int]]:
    """(start, stop) samples of stretches of the longer recording as long as the shorter,
    evenly spaced over it (MAX_SECTIONS at most); all of it where it is under SECTIONS_FROM x
    the shorter's length."""
    if n_short <= 0 or n_long < SECTIONS_FROM * n_short:
        return [(0, n_long)]
    n = min(math.ceil(n_long / n_short), MAX_SECTIONS)
    starts = np.linspace(0, n_long - n_short, n)
    return [(int(a), int(a) + n_short) for a in starts.round()]


def _playing(x: np.ndarray, spans: list[tuple[int, int]], sr: int) -> list[tuple[int, int]]:
    """The spans of mono x that play (pass x's silence gate) for SELECT_SEGMENT_S or more."""
    _, keep = _active_hops(x)  # the whole recording's gate: a quiet stretch still plays
    min_hops = SELECT_SEGMENT_S * sr / ACTIVITY_HOP
    return [(a, b) for a, b in spans
            if keep[a // ACTIVITY_HOP: b // ACTIVITY_HOP].sum() >= min_hops]


def selection_judges(xs: np.ndarray, y: np.ndarray, sr: int, fcfg: FeatureConfig,
                     loss: UnpairedLoss, target_levels: torch.Tensor, whole: torch.Tensor,
                     seed: int) -> list[Judge]:
    """Where the chains are compared: `whole` (segments of all of the normalised take xs)
    against the whole example y (`loss`, `target_levels`); or, where one recording is
    SECTIONS_FROM x the other's length or more, each of its `stretches` that plays
    (SECTION_SEGMENTS segments of a stretch of the take against the whole example, or `whole`
    against a stretch of the example)."""
    judges = []
    take_spans = stretches(len(xs), len(y))
    example_spans = stretches(len(y), len(xs))
    if len(take_spans) > 1:
        for i, (a, b) in enumerate(_playing(xs, take_spans, sr)):
            segs = _segments(xs[a:b], sr, SECTION_SEGMENTS, SELECT_SEGMENT_S,
                             np.random.default_rng(seed + 1 + i))
            judges.append(Judge(torch.from_numpy(segs), loss, target_levels))
    elif len(example_spans) > 1:
        for a, b in _playing(y, example_spans, sr):
            feats = target_features(y[a:b], fcfg)
            judges.append(Judge(whole, UnpairedLoss(feats, loss.weights, seed=seed),
                                feats.level_db))
    return judges or [Judge(whole, loss, target_levels)]


def at_stretch_level(fitter: _Fitter, chain: ToneChain, judge: Judge,
                     loudness: bool = False) -> ToneChain:
    """A copy of chain with its output gain matched (`match_level`) on the judge's segments
    to its example: a stretch is judged at its own level, as each recording was made at its
    own."""
    c = copy.deepcopy(chain)
    match_level(c, judge.segs, judge.target_levels, fitter.fcfg, fitter.skip, fitter.output,
                loudness)
    return c


def nearest_stretch(fitter: _Fitter, lin_loud: ToneChain, judges: list[Judge]
                    ) -> tuple[int, float]:
    """Which judge the linear chain (at the example's loudness) brings nearest its example's
    level distribution, and its level gap there (the "level" term, mean |dB|); each of
    several (stretches) at the loudness of its own."""
    if len(judges) == 1:
        j = judges[0]
        return 0, fitter.evaluate(lin_loud, j.segs, j.loss)[1]["level"]
    gaps = [fitter.evaluate(at_stretch_level(fitter, lin_loud, j, loudness=True), j.segs,
                            j.loss)[1]["level"] for j in judges]
    k = int(np.argmin(gaps))
    return k, gaps[k]


def judged_timbre(fitter: _Fitter, chain: ToneChain, judge: Judge, stretched: bool) -> float:
    """`_timbre_score` of the chain on the judge's segments against its example; `stretched`
    (one of several stretches): with the output gain matched there first."""
    if stretched:
        chain = at_stretch_level(fitter, chain, judge)
    return _timbre_score(fitter, chain, judge.segs, judge.loss)


SIMPLIFY_TOL = 0.01  # a block whose reset costs less than this fraction of the loss is reset
RESETTABLE = ("drive", "comp", "sag", "pre_eq", "post_eq")  # the cab is matched in closed form


def _with_block_neutral(fitter: _Fitter, chain: ToneChain, blocks: tuple[str, ...],
                        segs: torch.Tensor | None = None
                        ) -> tuple[ToneChain, float, dict[str, float]]:
    """A copy of chain with `blocks` at their neutral values, cab and level re-matched; its loss
    and loss terms (on `segs`, default the training segments)."""
    c = copy.deepcopy(chain)
    neutral = c.neutral_values()
    c.set_values({k: v for k, v in neutral.items() if k.split(".")[0] in blocks})
    fitter.anchor(c)
    return c, *fitter.evaluate(c, segs)


def _moved(chain: ToneChain, values: dict, neutral: dict, block: str) -> bool:
    """Whether the chain has `block` and any of its `values` differs from `neutral`'s."""
    return block in chain.cfg.stages and any(
        np.max(np.abs(np.subtract(values[k], v))) > 1e-6 for k, v in neutral.items()
        if k.split(".")[0] == block)


def active_blocks(chain: ToneChain, blocks: Iterable[str]) -> tuple[str, ...]:
    """Those of `blocks` the chain has and holds away from their neutral values (as a chain
    stores them: a set value sits just inside its range)."""
    ref = copy.deepcopy(chain)
    ref.set_values(ref.neutral_values())
    values, neutral = chain.values(), ref.values()
    return tuple(b for b in blocks if _moved(chain, values, neutral, b))


def block_pinning(fitter: _Fitter, chain: ToneChain, segs: torch.Tensor | None = None
                  ) -> dict[str, float]:
    """How firmly the example pins each block: the loss increase (fraction of the loss, on
    `segs`, default the training segments) when that block alone is reset to neutral and the
    cabinet and level are matched again.

    Near 0: the example does not need the block (or the cabinet can undo it); large: the
    block's setting is what the example asks for. Blocks already neutral are left out.
    """
    base = fitter.evaluate(chain, segs)[0]
    values, neutral = chain.values(), chain.neutral_values()
    return {b: (_with_block_neutral(fitter, chain, (b,), segs)[1] - base) / max(abs(base), 1e-9)
            for b in RESETTABLE if _moved(chain, values, neutral, b)}


def level_terms_rise(fitter: _Fitter, base_terms: dict[str, float],
                     terms: dict[str, float]) -> float:
    """How much the weighted level-distribution terms (LEVEL_TERMS) rose from base_terms."""
    w = fitter.loss.weights.as_dict()
    return float(sum(w[k] * (terms[k] - base_terms[k]) for k in LEVEL_TERMS))


def simplify(fitter: _Fitter, chain: ToneChain, pinning: dict[str, float],
             segs: torch.Tensor | None = None
             ) -> tuple[ToneChain, tuple[str, ...], tuple[str, ...]]:
    """Reset the blocks the loss (on `segs`, default the training segments) does not care
    about to neutral, least pinned first, while the loss stays within SIMPLIFY_TOL of the
    fitted one: the simplest chain that explains the example (no compressor kept that the
    target lacks, no pre-EQ the cabinet undoes).

    A sag or compressor is kept where its reset raises the level terms by more than that,
    even if the timbre terms fall as much: its work is the level distribution. Returns (the
    chain, the blocks reset, the sag / compressor kept so).
    """
    base, kept_terms = fitter.evaluate(chain, segs)
    tol = SIMPLIFY_TOL * abs(base)
    out, reset, held = chain, (), ()
    for b in sorted((b for b, v in pinning.items() if v < SIMPLIFY_TOL), key=pinning.get):
        c, val, terms = _with_block_neutral(fitter, chain, (*reset, b), segs)
        # the sag chain (fr3_clean, seed 0): resetting its sag took the envelope term from
        # 2.74 to 2.10 and the loss 1.6 % down while level and dynamics went 0.67 -> 1.58 and
        # 0.79 -> 1.66; held out, MR-STFT 1.62 and the softest quarter 6.4 dB against 1.28
        # and 2.6 dB with the sag kept. A spurious sag (high gain) lowered those terms too.
        # (The rise is this block's own, from the blocks reset so far.)
        if val > base + tol:
            continue
        if b in DYNAMICS_BLOCKS and level_terms_rise(fitter, kept_terms, terms) > tol:
            held = (*held, b)
            continue
        out, reset, kept_terms = c, (*reset, b), terms
    return out, reset, held


# A compressor or sag is kept only where the nonlinear model's timbre score is under this
# fraction of the linear one's. How evenly two performances were played differs as much as
# mild compression does, and a fitted compressor turns that difference into processing.
# Measured (6 tuning chains x fr3_clean/fr3_jazz, default, seeds 0-1): on the clean EQ+cab
# and the light crunch chains the fit kept a compressor or sag at 0.78-0.98 of the linear
# score, and the linear model was better on the held-out take every time (e.g. MR-STFT 0.48
# vs 0.65, softest quarter 1.9 vs 4.3 dB); where the target really is compressed (heavy
# compression, sag, compressor into distortion, high gain) the fit scored 0.36-0.70. With a
# saturating drive the rule is off: there, resetting a sag alone cost 0.13 (compressor into
# distortion, fast, seed 1) and, in the quick suite, 0.54 on the held-out fuzz chain. Those
# drove the shaper by 28-36 dB; on the clean and crunch chains a kept drive was -4..+14 dB.
# Tried, not kept (2026-12-06): the same rule for a drive short of saturation (reset with the
# dynamics where the example proves nothing). fr3_bass's clean EQ + cab chain had kept a
# +18.9 dB drive at 0.84 of the linear score (gap 0.6 dB, range 1.01; held-out MR-STFT 0.711,
# the linear model 0.640); of the other 39 bench cases at seed 0 only the held-out sonic-pi
# fuzz matched the rule (a +18.2 dB drive at 0.90, gap 3.6 dB, range 0.87), and it went from
# 1.155 to 2.474 with the linear model.
DYNAMICS_EVIDENCE = 0.72
# The linear model set to the target's loudness misses the target's frame-level quantiles
# by this much (mean |dB|, on the selection segments) only where the target's levels are
# reshaped. Measured (default, seed 0): 1.0-5.4 dB on the clean and crunch chains of
# fr3_clean, fr3_jazz and the sonic-pi clips (where dynamics kept on a clean target did
# harm); 8.2-9.5 dB on the sonic-pi compressor, sag and compressor-into-distortion chains,
# where the margin had kept the linear model and it came out 7.6-9.2 LU too loud on the
# held-out take (MR-STFT 2.17 / 1.76 / 2.11; chosen nonlinear by this rule 1.12 / 1.24 / 1.94).
LEVEL_EVIDENCE_DB = 7.5
# The target's range of 50 ms levels (LEVEL_RANGE_PCT: the louder three quarters, where a
# compressor acts, without the top 5 %) under this fraction of the linear model's output's on
# the take proves a level-reshaping chain as well. Measured on the linear model as the learner
# builds it (5 bench sources, 60 s takes; the ratio does not depend on the seed): the clean
# EQ + cab chain 0.69-1.11 (0.69: fr3_clean, whose two performances differ that much in
# range); compressor, sag, compressor-into-distortion and compander chains 0.28-0.63 on 4
# sources, 0.51-0.74 on the sonic-pi clips; the light crunch 0.77-1.31. The 10-90 % range
# had the clean chain at 0.71 and bass heavy compression at 0.63. Where it decides (heavy
# compression at seed 0, timbre win under DYNAMICS_EVIDENCE; ratio 0.48 bass, 0.42 electric
# piano), keeping the compressor took the held-out MR-STFT from 0.769 to 0.568 and from 0.782
# to 0.671.
LEVEL_RANGE_EVIDENCE = 0.6
LEVEL_RANGE_PCT = (25.0, 95.0)
LEVEL_RANGE_WINDOW_MS = 50.0
# drive (dB) that brings the normalised take's average level to the shaper's knee
SATURATING_DRIVE_DB = -INPUT_LEVEL_DB
DYNAMICS_BLOCKS = ("sag", "comp")
LEVEL_BLOCKS = ("drive", *DYNAMICS_BLOCKS)  # the blocks that make a chain level-dependent


def lowest_notes(notes: NoteBands | None) -> dict[str, float]:
    """`LearnResult.lowest_notes_hz` from the tracked notes (empty when none were tracked)."""
    if notes is None:
        return {}
    found = {"target": lowest_note_hz(notes.target), "input": lowest_note_hz(notes.input)}
    return {k: v for k, v in found.items() if v is not None}


def cab_match(chain: ToneChain, notes: NoteBands | None) -> str:
    """In words, how `anchor_cab` matches this chain's cabinet to the example (after
    "cabinet matched "); empty without a cabinet (or notes)."""
    if "cab" not in chain.cfg.stages or notes is None:
        return ""
    if saturating(chain):
        return "on the long-term spectrum (behind a saturating drive)"
    n = shared_notes(notes.target, notes.input)
    band_hz = chain.cfg.band_hz()
    moved = ("" if notes.transposition_db(band_hz) is None
             else ", the take's notes moved to the example's")
    if n < MIN_NOTES:
        return (f"on the long-term spectrum{moved} (the example and the take hold {n} of the "
                f"same notes; {MIN_NOTES} are needed to compare note by note)")
    spread = notes.spread_db(band_hz)
    if spread is not None and spread > MAX_NOTE_SPREAD_DB:
        return (f"on the long-term spectrum{moved} (the {n} notes held in both disagree by "
                f"{spread:.1f} dB, more than the {MAX_NOTE_SPREAD_DB:g} dB a note-by-note "
                "match can rest on)")
    return f"note by note ({n} notes held in both)"


def saturating(chain: ToneChain) -> bool:
    """Whether the chain drives its shaper into saturation (>= SATURATING_DRIVE_DB)."""
    return ("drive" in chain.cfg.stages
            and float(chain.values()["drive.drive_db"]) >= SATURATING_DRIVE_DB)


def level_range_db(levels_db: torch.Tensor) -> float:
    """Spread (dB) of gated window levels: the LEVEL_RANGE_PCT percentiles' difference."""
    lv = levels_db.detach().double().flatten()
    lv = lv[lv > gate_threshold_db(lv)]
    if lv.numel() < 4:
        return 0.0
    lo, hi = torch.quantile(lv, torch.tensor(LEVEL_RANGE_PCT, dtype=lv.dtype) / 100)
    return float(hi - lo)


def window_levels_db(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Levels (dBFS) of LEVEL_RANGE_WINDOW_MS windows of x (B, T), 10 ms apart, flattened."""
    return window_levels(x.pow(2), sample_rate, LEVEL_RANGE_WINDOW_MS).flatten()


def section_range_db(levels_db: torch.Tensor, n: int, pct: float) -> float:
    """The pct-th percentile of `level_range_db` over sections of n levels (half
    overlapping); the whole range where there are n levels or fewer; 0 where no section can
    be measured."""
    if levels_db.numel() <= n:
        return level_range_db(levels_db)
    ranges = [level_range_db(levels_db[i: i + n])
              for i in range(0, levels_db.numel() - n + 1, max(1, n // 2))]
    ranges = [r for r in ranges if r > 0]
    return float(np.percentile(ranges, pct)) if ranges else 0.0


# A short stretch of playing spans a narrower range than a long one, and stretches differ:
# 15 s sections of one 60 s take (fr3_clean) spanned 18-37 dB. The longer recording is cut
# into sections as long as the shorter, and the proof asks for a target narrower than the
# take's lower quartile of them (or, cut itself, the target's upper quartile narrower than
# the take). 15 s parts of the bench's clean examples then came out at 0.66-1.69 of the take,
# its light crunch at 0.68 and above; against the whole take, 0.54 (`bench_level_range.py`).
SECTION_PCT = 25.0


def level_range_ratio(forward: Forward, chain: ToneChain, take_rows: torch.Tensor,
                      target_rows: torch.Tensor, sample_rate: int) -> float:
    """The target's level range (`level_range_db`) over the chain's output's on the take (both
    in rows, as `_take_in_rows` cuts them), the longer cut into sections as long as the
    shorter (SECTION_PCT); 1 where either cannot be measured."""
    with torch.no_grad():
        out = torch.cat([window_levels_db(o, sample_rate)
                         for o in chunked_outputs(forward, chain, take_rows)])
        tgt = torch.cat([window_levels_db(t, sample_rate) for t in row_chunks(target_rows)])
    n = min(out.numel(), tgt.numel())
    t_range = section_range_db(tgt, n, 100.0 - SECTION_PCT)
    out_range = section_range_db(out, n, SECTION_PCT)
    # too few levels to measure either: no evidence either way
    return t_range / out_range if t_range > 0 and out_range > 0 else 1.0


def levels_proven(level_gap_db: float, range_ratio: float) -> bool:
    """Whether the target's levels are reshaped beyond what a gain explains: the linear model
    at the target's loudness misses its level quantiles by LEVEL_EVIDENCE_DB (dB) or more, or
    the target's level range is under LEVEL_RANGE_EVIDENCE x the linear model's."""
    return level_gap_db >= LEVEL_EVIDENCE_DB or range_ratio < LEVEL_RANGE_EVIDENCE


def nonlinear_wins(selection: dict[str, float], margin: float, proven: bool) -> bool:
    """Whether the nonlinear model's timbre score beats the linear one's by `margin` (a
    fraction), or comes within it where the target's levels are `proven` reshaped."""
    m = -margin if proven else margin
    return selection["nonlinear"] < selection["linear"] * (1 - m)


def unproven_dynamics(selection: dict[str, float], kept: Iterable[str],
                      drive_db: float, level_gap_db: float = 0.0,
                      range_ratio: float = 1.0) -> tuple[str, ...]:
    """The kept dynamics blocks (sag, comp) the example does not prove: all of them when the
    nonlinear model's timbre score is not under DYNAMICS_EVIDENCE x the linear model's, no
    saturating drive (>= SATURATING_DRIVE_DB) is kept, the linear model at the target's
    loudness misses the target's level distribution by less than LEVEL_EVIDENCE_DB (dB) and
    the target's level range is not under LEVEL_RANGE_EVIDENCE x the linear model's.

    Before a saturating drive, a sag or compressor sets how hard each note drives it, which
    the distortion's timbre pins down; with a clean or barely driven shaper they only move
    levels, the ambiguous case, unless no gain comes near the target's levels.
    """
    kept = set(kept)
    if selection["nonlinear"] < DYNAMICS_EVIDENCE * selection["linear"]:
        return ()
    if levels_proven(level_gap_db, range_ratio):
        return ()
    if "drive" in kept and drive_db >= SATURATING_DRIVE_DB:
        return ()
    return tuple(b for b in DYNAMICS_BLOCKS if b in kept)


POLISH_SHARE = 0.25  # of the final steps, run after the drive sweep


def drive_sweep(fitter: _Fitter, chain: ToneChain, drives_db: tuple[float, ...],
                segs: torch.Tensor | None = None) -> tuple[ToneChain, float | None]:
    """The fitted chain with its drive moved to the one of `drives_db` (cab and level
    re-matched) that lowers its timbre score on `segs` (default: the training segments) most,
    and that value; the chain itself and None when none does (values within half a step of
    the fitted drive are not tried).

    The drive starts are fitted from neutral settings for a few steps each, so a start's rank
    says little about its drive once the EQ and dynamics around it have been learned; here
    every drive is judged with them. Judged on timbre: by level distributions alone, a hard
    drive passes for a compressor.
    """
    segs = fitter.segs if segs is None else segs
    best, best_val, best_db = chain, _timbre_score(fitter, chain, segs), None
    now = float(chain.values()["drive.drive_db"])
    half_step = float(np.min(np.diff(drives_db))) / 2 if len(drives_db) > 1 else 0.0
    for d in drives_db:
        if abs(d - now) < half_step:
            continue
        c = copy.deepcopy(chain)
        vals = c.values()
        vals["drive.drive_db"] = d
        c.set_values(vals)
        fitter.anchor(c)
        val = _timbre_score(fitter, c, segs)
        if val < best_val:
            best, best_val, best_db = c, val, d
    return best, best_db


# A saturating fit whose output's attacks stand this much lower over its level than the
# example's (`peak_over_rms_db`, on the whole take) flattened what the example's gear let
# through: the fit is run again with the drive held at HELD_DRIVE_DB, where the sag and the
# compressor have to do the levelling; the refit is kept if its attacks come closer by
# ATTACKS_MARGIN_DB. The drive starts' few steps favour a hard drive, which levels at once,
# over a slow sag that needs the whole fit to grow (fr3_jazz sag_preamp_cab: the best start
# +36 dB at 5.40 against 7.32 for the slow start). There the refit took the held-out take from
# 1.140 to 0.947 MR-STFT, crest error -12.1 to -3.9 dB (seeds 1, 2: 1.117 kept, its refit no
# closer; 1.060 -> 1.020); on the bench's 39 other cases no fit came within 4 dB
# (bench/results/attacks.md). Chosen on the loss between the two fits instead, the
# held-drive fit would have been kept on 4 of 8 tuning chains where it loses.
# At the 100-step default (2026-12-06) fr3_clean's sag chain ends at a gap of -3.72 dB, just
# inside ATTACKS_FLOOR_DB (crest error -5.9 dB); with the check from 3.5 dB it refits with no
# drive (gap +2.1): held-out MR-STFT 1.151 -> 1.131, crest -5.9 -> -2.0 dB, soft notes 1.92 ->
# 2.52 dB, learn 84 s with the refit. Of the 60 recorded bench fits it is the only one
# between 3.5 and 4 dB, and two takes through one chain differ by up to 3.7 dB
# (bench/results/attacks.md): not lowered for one case. From 2.0 dB two more refit, both
# worse: sonicpi_real comp_dist_cab (gap -2.40) lost its drive, 1.194 -> 1.952; fr3_jazz's
# w20_cab probe (-2.15) went to the held drive, 0.932 -> 0.971.
ATTACKS_MARGIN_DB = 1.0
HELD_DRIVE_DB = SATURATING_DRIVE_DB + 4.0
DRIVE_RAW = "drive__drive_db"


def attacks_gap_db(fitter: _Fitter, chain: ToneChain, take_rows: torch.Tensor,
                   target_attacks_db: float) -> float:
    """`peak_over_rms_db` of the chain's output on the take's rows minus the example's (dB)."""
    out = torch.cat(list(chunked_outputs(fitter.output, chain, take_rows))).reshape(-1).numpy()
    return peak_over_rms_db(out, fitter.fcfg.sample_rate) - target_attacks_db


def refit_steps(preset: dict) -> int:
    """Steps of `held_drive_refit`: a start's and the main fit's refinement (less its polish)."""
    return preset["start_steps"] + preset["steps"] - round(preset["steps"] * POLISH_SHARE)


def held_drive_refit(fitter: _Fitter, preset: dict, stages: tuple[str, ...], loud_db: float,
                     sel_segs: torch.Tensor
                     ) -> tuple[ToneChain, dict[str, float], tuple[str, ...], tuple[str, ...]]:
    """The fit again from the slow-dynamics start at HELD_DRIVE_DB, the drive held
    throughout: the refined chain, simplified, with its pinning, reset and held blocks."""
    best = ToneChain(ChainConfig(stages=stages, sample_rate=fitter.fcfg.sample_rate))
    best.set_values(start_values(best.neutral_values(), stages, HELD_DRIVE_DB, True, loud_db))
    fitter.anchor(best)
    best, _ = fitter.run(best, refit_steps(preset), "refit", shared=True, held=(DRIVE_RAW,))
    pinning = block_pinning(fitter, best, sel_segs)
    best, simplified, kept = simplify(fitter, best, pinning, sel_segs)
    return best, {b: v for b, v in pinning.items() if b not in simplified}, simplified, kept


TAKE_ROW_S = 8.0  # rows of the whole take: one 60 s FFT convolution costs 9x eight 8 s ones


def _take_in_rows(x: np.ndarray, sr: int) -> torch.Tensor:
    """Mono x as rows of TAKE_ROW_S (the last zero-padded: silence is gated out of levels)."""
    n = int(TAKE_ROW_S * sr)
    rows = -(-len(x) // n)
    out = np.zeros(rows * n, np.float32)
    out[: len(x)] = x
    return torch.from_numpy(out.reshape(rows, n))


def _starts(preset: dict, stages: tuple[str, ...]) -> list[tuple[float | None, bool]]:
    """The preset's starts for a chain of `stages`: (drive dB or None, dynamics held slow);
    the slow start where the preset has one and the chain a sag or compressor."""
    drives = preset["starts"] if "drive" in stages else (None,)
    out = [(d, False) for d in drives]
    if "slow_dynamics_db" in preset and any(s in stages for s in DYNAMICS_BLOCKS):
        out.append((preset["slow_dynamics_db"] if "drive" in stages else None, True))
    return out


def start_values(neutral: dict, stages: tuple[str, ...], drive_db: float | None, slow: bool,
                 loud_db: float) -> dict:
    """A start's values: neutral, the drive at drive_db (dB), the sag and the compressor
    engaged gently, or held slow (SLOW_DYNAMICS); loud_db is the target's loud level (dBFS)."""
    vals = dict(neutral)
    if drive_db is not None:
        vals["drive.drive_db"] = drive_db
    # at ratio 1 or with the threshold above the signal they would get no gradient
    for stage, thr in (("sag", INPUT_LEVEL_DB - 6.0), ("comp", loud_db - 10.0)):
        if stage not in stages:
            continue
        if slow:
            vals[f"{stage}.threshold_db"] = thr - SLOW_DYNAMICS["threshold_below_db"]
            vals[f"{stage}.ratio"] = SLOW_DYNAMICS["ratio"]
            vals[f"{stage}.attack_ms"] = SLOW_DYNAMICS["attack_ms"]
            vals[f"{stage}.release_ms"] = SLOW_DYNAMICS["release_ms"]
        else:
            vals[f"{stage}.threshold_db"] = thr
            vals[f"{stage}.ratio"] = GENTLE_RATIO
    return vals


def lufs_gap_db(forward: Forward, chain: ToneChain, take_rows: torch.Tensor, n: int,
                y: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS, BS.1770) of the example y minus that of the chain's output
    over the take (rows of `_take_in_rows`, its first n samples); 0 where either is silent."""
    with torch.no_grad():
        out = torch.cat([o.flatten() for o in chunked_outputs(forward, chain, take_rows)])
    out_lufs = integrated_lufs(out[:n].double().numpy(), sample_rate)
    y_lufs = integrated_lufs(y, sample_rate)
    if min(out_lufs, y_lufs) <= LUFS_FLOOR:
        return 0.0
    return y_lufs - out_lufs


def _shift_output_gain(chain: ToneChain, delta_db: float) -> None:
    """Move the chain's output gain by delta_db (dB), within its range."""
    rng = next(s for s in chain.specs if s.name == "out_gain_db").range
    now = float(chain.values()["out_gain_db"])
    chain.set_values({"out_gain_db": rng.clamp(now + delta_db)})


def normalise_input(x: np.ndarray) -> float:
    """Gain (dB) that brings the active RMS of mono x to INPUT_LEVEL_DB, its hops gated
    against its own loud level only: a copy of x scaled by g dB gets the same gain less g
    (an absolute gate dropped a quiet recording's decays and measured it louder)."""
    ms = _hop_mean_square(np.asarray(x, dtype=np.float64))
    if not np.any(ms > 0):
        return 0.0  # silence (refused before learning): nothing to scale
    with np.errstate(divide="ignore"):
        lvl = 10 * np.log10(ms)
    keep = lvl > np.percentile(lvl, 95) - GATE_REL_DB
    return INPUT_LEVEL_DB - float(10 * np.log10(ms[keep].mean()))


def fit_unpaired(x: np.ndarray, y: np.ndarray, cfg: LearnConfig,
                 progress: Progress | None = None) -> LearnResult:
    """Learn a chain mapping mono x toward the tone of mono y (both at cfg.sample_rate).

    Torch runs one thread per worker, `fit_threads()` workers: the drive starts run side by
    side, and each later step (and evaluation) splits its segments over the workers.
    """
    workers = fit_threads()
    with single_op_threads():
        if workers <= 1:
            return _fit_unpaired(x, y, cfg, progress, workers, None)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tonemorph-step") as pool:
            return _fit_unpaired(x, y, cfg, progress, workers, pool)


def _fit_unpaired(x: np.ndarray, y: np.ndarray, cfg: LearnConfig, progress: Progress | None,
                  workers: int, pool: ThreadPoolExecutor | None) -> LearnResult:
    """Body of `fit_unpaired` (threads already set): `workers` drive starts at once, `pool`
    for the parts of one chain's steps."""
    t0 = time.monotonic()
    preset = cfg.preset()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    sr = cfg.sample_rate
    skip = int(WARMUP_S * sr)
    in_gain_db = normalise_input(x)
    xs = x * 10 ** (in_gain_db / 20)
    # the example's gain is no part of its tone: it is learned at the input's level (gates,
    # floors and the limit's ceiling see a usual level), its own given back by the output
    # gain, the chain's last stage (a -40 dB copy of a crunch example had learned 0.69 MR-STFT
    # on the held-out take against 0.65)
    target_gain_db = normalise_input(y)
    y = y * np.float32(10 ** (target_gain_db / 20))
    segs = torch.from_numpy(_segments(xs, sr, preset["n_segments"], preset["segment_s"], rng))
    with torch.no_grad():
        t_pow = _mean_power(torch.from_numpy(y.astype(np.float32))[None], INIT_FFT, INIT_HOP, 0)
        in_pow = _mean_power(torch.from_numpy(xs.astype(np.float32))[None], INIT_FFT, INIT_HOP, 0)
    # an example a lossy codec cut off is compared only below its end: an MP3 of a high-gain
    # tone ending at 7 kHz had the drive's harmonics above it read as too bright, and the fit
    # kept no drive (held-out MR-STFT 2.49; its WAV 1.45; compared below the end 1.58). The
    # cabinet still follows the example above it: guitar cabinets fall steeply up there, and
    # held level from the last band heard it came out too bright (1.58 -> 2.93; a clean EQ +
    # cab 0.33 -> 0.72)
    bandwidth = recording_bandwidth_hz(y, sr)
    fcfg = FeatureConfig(sample_rate=sr)
    if bandwidth < fcfg.fmax_hz:
        fcfg = FeatureConfig(sample_rate=sr, fmax_hz=bandwidth)
    tfeat = target_features(y, fcfg)
    # hiss in the example is no boost of the chain's (nor hiss in the take a cut)
    window = torch.hann_window(INIT_FFT).numpy()
    floors = (noise_floor_power(y, INIT_FFT, INIT_HOP, window),
              noise_floor_power(xs, INIT_FFT, INIT_HOP, window))
    t_lv = tfeat.level_db
    t_peak_db = gain_to_db(float(np.max(np.abs(y))), floor_db=-120.0)  # the limit's ceiling
    full_loss = UnpairedLoss(tfeat, cfg.weights, seed=cfg.seed)
    nonlinear = ChainConfig(stages=cfg.stages, sample_rate=sr).nonlinear
    starts = _starts(preset, cfg.stages)
    total_steps = preset["steps"] + len(starts) * preset["start_steps"] if nonlinear else 1
    # linear candidate: a static match (what a match-EQ does, as a minimum-phase cabinet)
    lin_stages = tuple(s for s in cfg.stages if not chain_stage(s).nonlinear) or ("cab",)
    # pitch tracking of both takes, only where a candidate has a cabinet to match; the
    # example's on a fit thread while this one tracks the take's (numpy lets go of the GIL)
    notes = None
    if "cab" in (*cfg.stages, *lin_stages):
        def spectra_of(a: np.ndarray) -> NoteSpectra:
            return with_floor(note_spectra(a, sr), a)

        t_notes = pool.submit(spectra_of, y) if pool is not None else None
        in_notes = spectra_of(xs)
        notes = NoteBands(t_notes.result() if t_notes is not None else spectra_of(y), in_notes,
                          sr)
    fitter = _Fitter(segs, full_loss, fcfg, skip, cfg.lr, t_pow, t_lv, in_pow, progress,
                     total_steps, pool, notes, floors)
    candidates: dict[str, float] = {}
    results: dict[str, ToneChain] = {}
    simplified: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    pinning: dict[str, float] = {}
    attacks: dict[str, float] = {}  # see ATTACKS_MARGIN_DB
    drive_held_db: float | None = None
    take_rows = _take_in_rows(xs, sr)
    sel_segs = torch.from_numpy(_segments(xs, sr, SELECT_SEGMENTS, SELECT_SEGMENT_S,
                                          np.random.default_rng(cfg.seed + 1)))
    lin = ToneChain(ChainConfig(stages=lin_stages, sample_rate=sr))
    fitter.anchor(lin)
    results["linear"] = lin
    candidates["linear"], _ = fitter.evaluate(lin)

    if nonlinear:
        loud_db = float(torch.quantile(tfeat.level_db, 0.9))
        start_chains = []
        for d, slow in starts:
            c = ToneChain(ChainConfig(stages=cfg.stages, sample_rate=sr))
            c.set_values(start_values(c.neutral_values(), cfg.stages, d, slow, loud_db))
            fitter.anchor(c)
            tag = f"drive {d:+.0f} dB" if d is not None else "nonlinear"
            start_chains.append((f"{tag}, slow dynamics" if slow else tag, c))
        # Tried, not kept (2026-12-05): a transient-contrast term (loudest 5 ms of each 400 ms
        # window over its level; 0.5 in the loss) and the starts ranked on the timbre terms plus
        # 1.5x that term instead of the total. On the tuning chains it took sag_preamp_cab from
        # 1.77-1.85 to 1.23-1.26 MR-STFT (crest error -8.7 -> -3.0 dB) and fr3_jazz's tuning
        # mean 0.936 -> 0.883, heavy_comp_cab 0.67-0.78 -> 0.86-0.90; the quick suite's
        # held-out chains then lost the sag or the whole nonlinear model (fuzz_cab 1.03 ->
        # 1.75, compand_overdrive 0.60 -> 0.88).
        # Tried, not kept (2026-12-05): a pull of the pre-EQ gains toward 0 dB in the training
        # objective, 0.3 x (gain / 15 dB)^2 per band, for knobs a player can read. On the
        # nonlinear tuning chains the pre-EQ high shelf went from 7-12 to 2-6 dB at the same
        # held-out MR-STFT (over 3 draws: heavy_comp 0.61, heavy_drive 1.47, sag 1.27-1.29);
        # the held-out compand_overdrive then lost its nonlinear model (0.60 -> 0.88, all
        # draws), fuzz_cab 1.03 -> 1.04. At 0.05 the gains barely moved.
        best_start, best_val = None, math.inf
        for tag, c, val in _run_starts(fitter, start_chains, preset["start_steps"], workers):
            candidates[f"start {tag}"] = val
            if val < best_val:
                best_start, best_val = c, val
        sweep_db = preset.get("sweep_db", ())
        polish = round(preset["steps"] * POLISH_SHARE) if sweep_db and "drive" in cfg.stages else 0
        if best_start is not None and not fitter.interrupted:
            best_start, best_val = fitter.run(best_start, preset["steps"] - polish, "refine",
                                              shared=True)
        if best_start is not None and not fitter.interrupted and polish:
            # judged on the selection's segments: more of the input than the steps see, for a
            # choice that one unlucky set of training segments decided wrongly (the demo, seed 0)
            best_start, swept = drive_sweep(fitter, best_start, sweep_db, sel_segs)
            if swept is not None:
                candidates[f"sweep drive {swept:+.0f} dB"] = fitter.evaluate(best_start)[0]
            best_start, best_val = fitter.run(best_start, polish, "polish", shared=True)
        if best_start is not None and not fitter.interrupted:
            # judged, like the drive sweep, on more of the input than the steps see
            pinning = block_pinning(fitter, best_start, sel_segs)
            best_start, simplified, held = simplify(fitter, best_start, pinning, sel_segs)
            # a reset block is neutral now; the others' pinning barely moved (<= SIMPLIFY_TOL)
            pinning = {b: v for b, v in pinning.items() if b not in simplified}
        if best_start is not None:
            # the limit is set last, on the finished chain: in the steps its gain would only
            # pass a gradient that ignores how the gain follows the signal
            anchor_limit(best_start, t_peak_db)
            best_val = fitter.evaluate(best_start)[0]
            results["nonlinear"] = best_start
            candidates["nonlinear"] = best_val
        if best_start is not None and not fitter.interrupted and saturating(best_start):
            t_attacks_db = peak_over_rms_db(y, sr)
            gap = attacks_gap_db(fitter, best_start, take_rows, t_attacks_db)
            attacks["attacks gap dB"] = gap
            # without a sag or compressor nothing but the drive can level
            if gap <= -ATTACKS_FLOOR_DB and any(b in cfg.stages for b in DYNAMICS_BLOCKS):
                fitter.total_steps += refit_steps(preset)
                alt, alt_pinning, alt_simplified, alt_held = held_drive_refit(
                    fitter, preset, cfg.stages, loud_db, sel_segs)
                if not fitter.interrupted:
                    anchor_limit(alt, t_peak_db)
                    alt_val = fitter.evaluate(alt)[0]
                    alt_gap = attacks_gap_db(fitter, alt, take_rows, t_attacks_db)
                    candidates[f"refit, drive {HELD_DRIVE_DB:+.0f} dB held"] = alt_val
                    attacks["attacks gap dB, drive held"] = alt_gap
                    if abs(alt_gap) < abs(gap) - ATTACKS_MARGIN_DB:
                        results["nonlinear"], candidates["nonlinear"] = alt, alt_val
                        pinning, simplified, held = alt_pinning, alt_simplified, alt_held
                        drive_held_db = HELD_DRIVE_DB
    done = fitter.done
    chosen, selection = "linear", {}
    # the linear model at the target's loudness (what it is set to when kept)
    lin_loud = copy.deepcopy(results["linear"])
    match_level(lin_loud, take_rows, t_lv, fcfg, skip, fitter.output, loudness=True)
    if "nonlinear" in results:
        # the linear vs nonlinear choice: on stretches as long as the shorter (SECTIONS_FROM)
        judges = selection_judges(xs, y, sr, fcfg, full_loss, t_lv, sel_segs, cfg.seed)
        # how far its level distribution stays from the target's: whether any gain can
        # explain the target's levels
        stretch, level_gap_db = nearest_stretch(fitter, lin_loud, judges)
        timbre = partial(judged_timbre, fitter, judge=judges[stretch],
                         stretched=len(judges) > 1)
        # judged on timbre only: level and dynamics distributions also carry how evenly each
        # recording was played, which would reward inventing compression on a clean target
        # on more of the input than one training step sees: these terms are noisy
        selection = {k: timbre(results[k]) for k in ("linear", "nonlinear")}
        if len(judges) > 1:
            selection["stretches of the " + ("take" if len(xs) > len(y) else "example")] = (
                float(len(judges)))
            selection["stretch judged"] = float(stretch)
        selection["linear level gap dB"] = level_gap_db
        range_ratio = level_range_ratio(fitter.output, lin_loud, take_rows,
                                        _take_in_rows(y, sr), sr)
        selection["level range / linear"] = range_ratio
        selection.update(attacks)
        unproven = unproven_dynamics(selection, pinning,
                                     float(results["nonlinear"].values().get("drive.drive_db",
                                                                             0.0)),
                                     level_gap_db, range_ratio)
        if unproven:
            c = _with_block_neutral(fitter, results["nonlinear"], unproven)[0]
            anchor_limit(c, t_peak_db)
            results["nonlinear"], candidates["nonlinear"] = c, fitter.evaluate(c)[0]
            pinning = {b: v for b, v in pinning.items() if b not in unproven}
            simplified = (*simplified, *unproven)
            held = tuple(b for b in held if b not in unproven)
            selection["nonlinear with dynamics"] = selection["nonlinear"]
            selection["nonlinear"] = timbre(c)
        # a nonlinear fit left with no level-dependent block is a filter: the closed-form
        # linear model is the better estimate of one (fr3_jazz's EQ + cab chain, its drive,
        # sag and compressor all reset: 0.36 MR-STFT on the held-out take against 0.25)
        # where no gain explains the target's levels, the margin that guards against
        # inventing dynamics turns round: the linear model cannot be right, so a timbre within
        # the margin keeps the nonlinear one (sonic-pi compressor into distortion: timbre
        # 3.504 vs 3.481, the linear model kept came out 7.6 LU too loud on the held-out take)
        if (active_blocks(results["nonlinear"], LEVEL_BLOCKS)
                and nonlinear_wins(selection, cfg.select_margin,
                                   levels_proven(level_gap_db, range_ratio))):
            chosen = "nonlinear"
    # the linear model was judged at the level the loss aligns on (the louder half); kept, it
    # is set to the target's loudness over the whole take (the training segments hold too
    # few notes for a level that does not depend on which were drawn): it cannot reshape its
    # level distribution to meet the target's
    chain = lin_loud if chosen == "linear" else results[chosen]
    if chosen == "linear":
        # a filter's loudness is its spectrum's: K-weighted (BS.1770), as a listener and a
        # loudness meter hear it, the take's bass no longer counts as loud as its presence
        # (held-out LUFS error on the 9 quick cases kept linear: mean |err| 2.02 -> 1.75 LU,
        # MR-STFT 0.553 -> 0.537; fr3_jazz EQ + cab -1.61 -> -1.19 LU). Not for a nonlinear
        # chain, aligned on its louder half as its loss's level terms are (on the 31 quick
        # cases kept nonlinear the same move gave 1.21 -> 1.14 LU but MR-STFT 0.960 -> 0.966,
        # fr3_epiano amp_crunch +1.23 -> +3.50 LU)
        _shift_output_gain(chain, lufs_gap_db(fitter.output, chain, take_rows, len(xs), y, sr))
    loss, terms = fitter.evaluate(chain)
    _shift_output_gain(chain, -target_gain_db)
    if progress:
        # the loss of the model kept, as the summary gives it (not the lowest candidate's)
        if fitter.interrupted:
            progress("interrupted", done, fitter.total_steps, loss)
        else:
            progress("done", fitter.total_steps, fitter.total_steps, loss)
    if chosen != "nonlinear":
        pinning = {}  # the linear model is the closed-form cabinet match: nothing to pin
    return LearnResult(chain, in_gain_db, loss, terms, candidates, chosen, done,
                       time.monotonic() - t0, fitter.interrupted, selection, pinning,
                       simplified if chosen == "nonlinear" else (), cab_match(chain, notes),
                       held if chosen == "nonlinear" else (),
                       drive_held_db if chosen == "nonlinear" else None,
                       lowest_notes(notes),
                       bandwidth if bandwidth < FeatureConfig().fmax_hz else None)


__all__ = [
    "INPUT_LEVEL_DB",
    "QUALITY_PRESETS",
    "THREADS_ENV",
    "LearnConfig",
    "LearnResult",
    "fit_threads",
    "fit_unpaired",
]
