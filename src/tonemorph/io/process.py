"""Process audio block by block: files with bounded memory, atomic write, rate and bit depth
kept; streams resampled to and from the rate a processor runs at."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soxr

from tonemorph.dsp.limiter import LimiterConfig, limit_blocks
from tonemorph.dsp.meter import TruePeakMeter
from tonemorph.dsp.units import gain_to_db
from tonemorph.errors import ParameterError
from tonemorph.io.paths import check_output_path
from tonemorph.io.rates import check_sample_rate
from tonemorph.io.read import AudioReader
from tonemorph.io.write import FLOAT_SUBTYPES, LOSSY_SUBTYPES, AtomicAudioWriter
from tonemorph.progress import Progress

__all__ = ["FLUSH_SAMPLES", "Blocks", "MakeProcessor", "decoded_peak", "process_at_rate",
           "process_file", "resample_blocks"]

Blocks = Iterator[np.ndarray]
# given the open reader (to look at the take first), returns the block processor
MakeProcessor = Callable[[AudioReader], Callable[[Blocks], Blocks]]
FLUSH_SAMPLES = 64  # zeros (at the stream's rate) past the latency that push the stream out


def process_file(in_path: str | Path, out_path: str | Path, make_processor: MakeProcessor, *,
                 force: bool = False, sample_rate: int | None = None,
                 subtype: str | None = None, block_s: float = 5.0,
                 ceiling_dbtp: float | None = None,
                 progress: Progress | None = None) -> dict:
    """Run `make_processor(reader)` over the take in `block_s`-second blocks; returns a summary.

    The output keeps the take's sample rate (or `sample_rate`, Hz, resampled as a stream),
    channel count and subtype (or `subtype`), and is written atomically; the input is never
    overwritten, an existing file only with `force`. With `ceiling_dbtp` the output goes
    through a true-peak limiter at that ceiling (dBTP), latency compensated. The summary's
    `peak_dbfs` is the output's sample peak before any clipping and `clipped_samples` how
    many samples an integer subtype clipped; a lossy file (MP3, Ogg) adds
    `encoded_peak_dbtp`, its true peak as decoded.
    """
    if sample_rate is not None:
        check_sample_rate(sample_rate, "output sample rate")
    limiter = LimiterConfig(ceiling_dbtp=ceiling_dbtp) if ceiling_dbtp is not None else None
    check_output_path(out_path, [in_path], force=force)
    with AudioReader(in_path, role="take") as r:
        info = r.info
        sr_out = sample_rate if sample_rate is not None else info.sample_rate
        run = make_processor(r)
        r.seek(0)
        block = max(int(block_s * info.sample_rate), 1024)
        done = 0

        def blocks() -> Blocks:
            nonlocal done
            for b in r.blocks(block):
                done += b.shape[1]
                if progress:
                    progress("applying", done, info.frames)
                yield b

        with AtomicAudioWriter(out_path, sr_out, info.channels, subtype=subtype,
                               like=info, overwrite=force) as w:
            outs = run(blocks())
            if sr_out != info.sample_rate:
                outs = resample_blocks(outs, info.sample_rate, sr_out, info.channels)
            if limiter is not None:
                outs = limit_blocks(outs, sr_out, info.channels, limiter)
            for o in outs:
                w.write(o)
    peak_dbfs = gain_to_db(w.peak, floor_db=-math.inf)
    summary = {"input": str(in_path), "output": str(out_path), "sample_rate": sr_out,
               "channels": info.channels, "seconds": done / info.sample_rate,
               "frames_written": w.frames_written, "subtype": w.subtype,
               "float_output": w.subtype in FLOAT_SUBTYPES, "peak_dbfs": peak_dbfs,
               "clipped_samples": w.clipped_samples}
    if w.subtype in LOSSY_SUBTYPES:
        # the codec moves the peaks it was given (past a ceiling, past full scale)
        summary["encoded_peak_dbtp"] = decoded_peak(out_path).dbtp()
    return summary


def decoded_peak(path: str | Path) -> TruePeakMeter:
    """A true-peak meter fed a written file as it decodes, in blocks: a lossy codec (MP3,
    Ogg) moves the peaks of what it was given (a loud master's by 1.5 dB at libsndfile's
    default MP3 quality)."""
    with AudioReader(path, role="output") as r:
        meter = TruePeakMeter(r.info.channels)
        for b in r.blocks(1 << 16):
            meter.add(b)
    return meter


def resample_blocks(blocks: Blocks, sr_in: int, sr_out: int, channels: int) -> Blocks:
    """Resample a stream of (channels, n) blocks from sr_in to sr_out Hz, flushing at the end.

    soxr "HQ" streaming, float32; the output stream holds all of the input (no delay left).
    """
    rs = soxr.ResampleStream(sr_in, sr_out, channels, dtype="float32", quality="HQ")
    for b in blocks:
        yield rs.resample_chunk(np.ascontiguousarray(b.T)).T
    yield rs.resample_chunk(np.zeros((0, channels), np.float32), last=True).T


def process_at_rate(blocks: Blocks, process: Callable[[np.ndarray], np.ndarray],
                    sample_rate: int, inner_rate: int, channels: int, *,
                    latency: int = 0, flush_samples: int = FLUSH_SAMPLES) -> Blocks:
    """Run a block processor at inner_rate (Hz) on (channels, n) blocks at sample_rate (Hz).

    The stream is resampled to inner_rate (`resample_blocks`; not at all when the rates are
    equal), given to ``process`` as float32 (channels, n) blocks, its first ``latency``
    samples (at inner_rate) dropped, and resampled back. After the end, the latency plus
    ``flush_samples`` zeros (at sample_rate) push out what the processor and the resamplers
    still hold. As many samples come out as went in.
    """
    n_in = 0

    def inputs() -> Blocks:
        nonlocal n_in
        for b in blocks:
            if b.shape[0] != channels:
                raise ParameterError(f"expected {channels} channels, got {b.shape[0]}")
            n_in += b.shape[1]
            yield np.ascontiguousarray(b, dtype=np.float32)
        yield np.zeros((channels, latency * sample_rate // inner_rate + flush_samples),
                       np.float32)

    def processed(xs: Blocks) -> Blocks:
        to_drop = latency
        for x in xs:
            if not x.shape[1]:
                continue
            y = process(np.ascontiguousarray(x))
            if to_drop:
                k = min(to_drop, y.shape[1])
                y, to_drop = y[:, k:], to_drop - k
            yield y

    resample = sample_rate != inner_rate
    xs = inputs()
    if resample:
        xs = resample_blocks(xs, sample_rate, inner_rate, channels)
    ys = processed(xs)
    if resample:
        ys = resample_blocks(ys, inner_rate, sample_rate, channels)
    n_out = 0
    for y in ys:
        y = y[:, : max(n_in - n_out, 0)]
        n_out += y.shape[1]
        if y.shape[1]:
            yield y
    if n_out < n_in:
        yield np.zeros((channels, n_in - n_out), np.float32)
