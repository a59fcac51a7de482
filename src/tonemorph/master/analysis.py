"""Streaming analysis of a track (loudness, true peak, where it is loudest) and its excerpts.

A whole file is read once in blocks: memory stays bounded for any length. Fitting then works on
excerpts: the loudest few-second sections, which dominate integrated loudness and show the
density a master was made for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from tonemorph.dsp.loudness import LUFS_FLOOR
from tonemorph.dsp.meter import LoudnessMeter, StatsMeter, TruePeakMeter
from tonemorph.dsp.units import DB_FLOOR, db_to_gain, gain_to_db
from tonemorph.errors import AudioContentError
from tonemorph.io import AudioInfo, AudioReader
from tonemorph.io.content import fmt_measured_s
from tonemorph.master.behind import Behind
from tonemorph.master.eq import SpectrumAccumulator
from tonemorph.master.processor import DC_OFFSET_DB, DcBlocker, remove_dc
from tonemorph.progress import Progress

__all__ = [
    "EXCERPT_WINDOW_S",
    "TrackScan",
    "active_seconds",
    "check_active",
    "excerpt_windows",
    "read_excerpts",
    "scan",
]

EXCERPT_WINDOW_S = 5.0
_SEGMENT_S = 0.1
_BLOCK = 1 << 16
_FADE_S = 0.005
# the DC filter's run-in before an excerpt: its 5 Hz high-pass has 7e-4 of a step left
# after 0.3 s, 2e-5 after 0.5 s
_DC_PREROLL_S = 1.0


@dataclass(frozen=True)
class TrackScan:
    """One pass over a file: header, loudness (LUFS), peak (dB), 100 ms powers, crest (dB),
    width (side/mid dB), DC offset (the largest channel mean, dBFS).

    ``true_peak_dbtp`` is the sample peak after `scan`; `with_excerpt_peak` raises it to the
    4x true peak of the excerpts (the loudest sections), which is where true peaks are: the
    full-file 4x pass of a dense master costs more than the rest of the analysis.
    """

    info: AudioInfo
    lufs: float
    true_peak_dbtp: float
    segment_power: np.ndarray  # K-weighted power of each 100 ms segment
    crest_db: float | None = None
    width_db: float | None = None
    spectra: SpectrumAccumulator | None = None
    dc_db: float = DB_FLOOR
    without_offset: bool = False  # measured after a `DcBlocker`

    @property
    def has_dc(self) -> bool:
        """Whether the file has a DC offset worth removing (above DC_OFFSET_DB)."""
        return self.dc_db > DC_OFFSET_DB

    def with_excerpt_peak(self, excerpt: np.ndarray) -> TrackScan:
        """The scan with true_peak_dbtp = max(sample peak, 4x true peak of the excerpt)."""
        meter = TruePeakMeter(excerpt.shape[0])
        for i in range(0, excerpt.shape[1], _BLOCK):
            meter.add(excerpt[:, i : i + _BLOCK])
        return replace(self, true_peak_dbtp=max(self.true_peak_dbtp, meter.dbtp()))

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.info.duration_s


def scan(path, *, role: str, progress: Progress | None = None) -> TrackScan:
    """Read a file once in blocks: loudness, true peak, 100 ms segment powers; a file with a
    DC offset (`TrackScan.has_dc`) is measured without it, as the chain and the excerpts have
    it (its `dc_db` is the offset's).

    Whether to take the offset off is decided on the first block: an offset is a recording's
    throughout (8 of 10 released tracks tried have one), and a second read of a 5-minute file
    costs a fifth of a master's time. Only where the whole file then says otherwise is it read
    again.
    """
    first = _scan(path, role=role, progress=progress, remove_offset=None)
    if first.without_offset == first.has_dc:
        return first
    # its width, crest, peaks and spectra were the offset's (a mix + 0.2 of full scale read
    # 16 dB narrower, and had its width and EQ fitted for that)
    return _scan(path, role=role, progress=progress, remove_offset=first.has_dc)


def _scan(path, *, role: str, progress: Progress | None = None,
          remove_offset: bool | None = False) -> TrackScan:
    """`scan`'s pass over a file; with ``remove_offset``, measured after a `DcBlocker`;
    None: where the first block's mean is above DC_OFFSET_DB."""
    with AudioReader(path, role=role) as reader:
        info = reader.info
        if info.channels > 5:
            raise AudioContentError(
                f"{role} file {info.path} has {info.channels} channels; mastering takes mono or "
                "stereo files, mix it down first"
            )
        meter = LoudnessMeter(info.sample_rate, info.channels)
        sample_peak = 0.0
        stats = StatsMeter(info.sample_rate, info.channels)
        spectra = SpectrumAccumulator(info.sample_rate, info.channels) if info.channels <= 2 else None

        dc_sum = np.zeros(info.channels)
        dc = DcBlocker(info.sample_rate, info.channels) if remove_offset else None

        def measure(block: np.ndarray) -> None:
            nonlocal sample_peak
            meter.add(block)
            sample_peak = max(sample_peak, float(np.max(np.abs(block))))
            stats.add(block)

        done = 0
        # the meters run a block behind on a second thread, the spectra here
        with Behind(measure) as behind:
            for block in reader.blocks(_BLOCK):
                block = block.astype(np.float64)  # once, for every measure
                dc_sum += block.sum(axis=1)
                if remove_offset is None:
                    remove_offset = bool(np.max(np.abs(block.mean(axis=1)))
                                         > db_to_gain(DC_OFFSET_DB))
                    dc = DcBlocker(info.sample_rate, info.channels) if remove_offset else None
                if dc is not None:
                    block = dc.process(block)
                behind.submit(block)
                if spectra is not None:
                    spectra.add(block)
                done += block.shape[1]
                if progress is not None:
                    progress("reading", done, info.frames)
    if meter.samples < int(math.ceil(0.4 * info.sample_rate)):
        raise AudioContentError(
            f"{role} file {info.path} is {fmt_measured_s(meter.samples / info.sample_rate)} s "
            "long; loudness needs at least 0.4 s, use a longer recording"
        )
    lufs = meter.integrated_lufs()
    if lufs <= LUFS_FLOOR:
        raise AudioContentError(
            f"{role} file {info.path} is silent (below {LUFS_FLOOR:.0f} LUFS); check the file"
        )
    segments = np.asarray(meter._segments, dtype=np.float64) / (_SEGMENT_S * info.sample_rate)
    peak_db = gain_to_db(sample_peak)
    dc_db = gain_to_db(float(np.max(np.abs(dc_sum))) / max(meter.samples, 1))
    return TrackScan(info, lufs, peak_db, segments, stats.crest_db(), stats.width_db(), spectra,
                     dc_db, dc is not None)


def excerpt_windows(segment_power: np.ndarray, sample_rate: int, frames: int,
                    total_s: float) -> list[tuple[int, int]]:
    """Non-overlapping 5 s windows (start, stop in frames) of highest loudness, in time order.

    Greedy: the loudest 5 s window, then the loudest one not overlapping it, ... until total_s
    seconds are chosen. A file no longer than total_s is one window.
    """
    if frames <= total_s * sample_rate or segment_power.size == 0:
        return [(0, frames)]
    win = max(1, int(round(EXCERPT_WINDOW_S / _SEGMENT_S)))
    if segment_power.size <= win:
        return [(0, frames)]
    sums = np.convolve(segment_power, np.ones(win), mode="valid")
    taken = np.zeros(sums.size, dtype=bool)
    chosen: list[int] = []
    while len(chosen) * EXCERPT_WINDOW_S < total_s and not taken.all():
        masked = np.where(taken, -np.inf, sums)
        k = int(np.argmax(masked))
        chosen.append(k)
        taken[max(0, k - win + 1) : k + win] = True
    seg = _SEGMENT_S * sample_rate
    out = []
    for k in sorted(chosen):
        start = int(k * seg)
        out.append((start, min(frames, start + int(win * seg))))
    return out


def read_excerpts(path, windows: list[tuple[int, int]], *, role: str,
                  remove_offset: bool = False) -> np.ndarray:
    """Read the windows of a file and join them (5 ms fades at every join): float32
    (channels, n); with ``remove_offset``, DC removed from each as the master's chain does.

    The DC filter runs over _DC_PREROLL_S of the file before each window, so the window's
    samples come out as the chain, run from the file's start, gives them: started on the
    window's first sample, a window that starts mid-waveform got a thump of that sample's size
    (a loud reference's excerpt, starting at full scale, read +4.5 dBTP for +1.0).
    """
    parts = []
    with AudioReader(path, role=role) as reader:
        fade = max(1, int(_FADE_S * reader.sample_rate))
        preroll = int(_DC_PREROLL_S * reader.sample_rate) if remove_offset else 0
        for start, stop in windows:
            first = max(0, start - preroll)
            reader.seek(first)
            x = reader.read(stop - first)
            if remove_offset:
                x = remove_dc(x, reader.sample_rate).astype(np.float32)
            x = x[:, start - first :]
            if len(windows) > 1 and x.shape[1] > 2 * fade:
                ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
                x[:, :fade] *= ramp
                x[:, -fade:] *= ramp[::-1]
            parts.append(x)
    return np.concatenate(parts, axis=1)


def active_seconds(segment_power: np.ndarray) -> float:
    """Seconds of sound in a scan: 100 ms segments above -70 LUFS and within 50 dB of the loud
    level (95th percentile), as `tonemorph.io.check_content` counts them."""
    with np.errstate(divide="ignore"):
        level = -0.691 + 10.0 * np.log10(np.asarray(segment_power))
    finite = level[np.isfinite(level)]
    if finite.size == 0:
        return 0.0
    gate = max(float(np.percentile(finite, 95.0)) - 50.0, LUFS_FLOOR)
    return float(np.count_nonzero(level > gate)) * _SEGMENT_S


def check_active(scan_: TrackScan, *, role: str, min_seconds: float) -> None:
    """Refuse a file with less than min_seconds of sound (seconds counted by `active_seconds`)."""
    seconds = active_seconds(scan_.segment_power)
    if seconds < min_seconds:
        raise AudioContentError(
            f"{role} file {scan_.info.path} has {fmt_measured_s(seconds)} s of sound; need at "
            f"least {min_seconds:g} s, use a longer recording"
        )
