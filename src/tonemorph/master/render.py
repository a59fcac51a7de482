"""Writing a master: each track streamed once through the chain up to the limiter into a
temporary float32 file, then (as often as the loudness needs) through output gain, true-peak
limiter and dither into the output, written atomically. Memory stays bounded for any length."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from tonemorph.dsp.dither import Ditherer, bits_of_subtype
from tonemorph.dsp.limiter import TruePeakLimiter
from tonemorph.dsp.meter import LoudnessMeter, StatsMeter, TruePeakMeter
from tonemorph.errors import OutputPathError
from tonemorph.io import AtomicAudioWriter, AudioReader, os_reason
from tonemorph.master.behind import Behind
from tonemorph.master.processor import MasterPlan, MasterProcessor
from tonemorph.progress import Progress

__all__ = ["LimitPass", "PreLimit", "limit_pass", "render_pre_limit"]


_BLOCK = 1 << 16


@dataclass
class LimitPass:
    """Result of one limiting pass over a track."""

    meter: LoudnessMeter
    peak: TruePeakMeter
    stats: StatsMeter
    limiter_max_gr_db: float
    limiter_mean_gr_db: float
    audio: np.ndarray | None


@dataclass
class PreLimit:
    """A track processed up to the output gain, kept in a temporary float32 file."""

    file: IO[bytes]
    frames: int
    channels: int
    meter: LoudnessMeter
    compressor_mean_gr_db: float


def render_pre_limit(path: Path, plan: MasterPlan, directory: Path | None, *,
                progress: Progress | None, tag: str) -> PreLimit:
    """Stream a file through the plan up to the limiter into a temp file; meter its loudness."""
    proc = MasterProcessor(plan, limit=False)
    meter = LoudnessMeter(plan.sample_rate, plan.channels)
    fh = tempfile.TemporaryFile(prefix=".tonemorph-master-", suffix=".f32", dir=directory)
    frames = 0
    try:
        skip = proc.latency

        def emit(block: np.ndarray) -> None:
            nonlocal skip, frames
            if skip:
                cut = min(skip, block.shape[1])
                block, skip = block[:, cut:], skip - cut
            if block.shape[1]:
                meter.add(block)
                fh.write(np.ascontiguousarray(block.T, dtype=np.float32))
                frames += block.shape[1]

        # the density stage, meter and working file run a block behind on a second thread
        with Behind(lambda y: emit(proc.process_back(y))) as behind, \
                AudioReader(path, role="mix") as reader:
            total, done = reader.frames, 0
            for block in reader.blocks(_BLOCK):
                behind.submit(proc.process_front(block))
                done += block.shape[1]
                if progress is not None:
                    progress(tag, done, total)
            behind.submit(proc.process_front(np.zeros((plan.channels, proc.latency))))
    except OSError as exc:
        fh.close()
        where = directory if directory is not None else Path(tempfile.gettempdir())
        raise OutputPathError(f"cannot write the working file of {path.name} in {where} "
                              f"({os_reason(exc)}); free some space or choose another "
                              "output folder") from exc
    except BaseException:
        fh.close()
        raise
    return PreLimit(fh, frames, plan.channels, meter, proc.dynamics.mean_gain_reduction_db)


def limit_pass(pre: PreLimit, plan: MasterPlan, out: Path | None, *, subtype: str | None,
                like, seed: int, progress: Progress | None, tag: str) -> LimitPass:
    """Output gain, limiter and dither over a pre-limited track into `out` (atomic) or memory."""
    ch = pre.channels
    lim = TruePeakLimiter(plan.sample_rate, ch, plan.limiter)
    gain = 10.0 ** (plan.output_gain_db / 20.0)
    meter = LoudnessMeter(plan.sample_rate, ch)
    peak = TruePeakMeter(ch)
    stats = StatsMeter(plan.sample_rate, ch)
    kept: list[np.ndarray] = []
    writer = (AtomicAudioWriter(out, plan.sample_rate, ch, subtype=subtype, like=like)
              if out is not None else None)
    bits = bits_of_subtype(writer.subtype) if writer is not None else None
    dither = Ditherer(bits, seed) if bits is not None and bits <= 24 else None
    skip = lim.latency

    def store(block: np.ndarray, pcm: np.ndarray | None) -> None:
        peak.add(block)
        if writer is not None:
            writer.write(block, pcm=pcm)
        else:
            kept.append(block.astype(np.float32))

    def emit(block: np.ndarray, behind: Behind) -> None:
        nonlocal skip
        if skip:
            cut = min(skip, block.shape[1])
            block, skip = block[:, cut:], skip - cut
        if block.shape[1] == 0:
            return
        pcm = None
        if dither is not None:
            block, pcm = dither.process_pcm(block)
            if writer is None or writer.subtype not in ("PCM_16", "PCM_24"):
                pcm = None
        behind.submit(block, pcm)
        meter.add(block)
        stats.add(block)

    def run() -> None:
        pre.file.seek(0)
        done = 0
        # three threads, each stage's blocks in order: limiter here; dither, loudness and
        # stats a block behind; true peak and the file another block behind
        with Behind(store) as storing, Behind(emit) as metering:
            while done < pre.frames:
                n = min(_BLOCK, pre.frames - done)
                data = np.fromfile(pre.file, dtype=np.float32, count=n * ch)
                # one C-ordered float64 copy, scaled in place (the limiter needs rows contiguous)
                block = np.ascontiguousarray(data.reshape(-1, ch).T, dtype=np.float64)
                block *= gain
                metering.submit(lim.process(block), storing)
                done += block.shape[1]
                if progress is not None:
                    progress(tag, done, pre.frames)
            metering.submit(lim.flush(), storing)

    if writer is not None:
        with writer:
            run()
    else:
        run()
    audio = np.concatenate(kept, axis=1) if kept else None
    return LimitPass(meter, peak, stats, lim.max_gain_reduction_db, lim.mean_gain_reduction_db,
                 audio)

