"""Writing a master: each track streamed once from its file through the whole chain (EQ, width,
density, output gain, true-peak limiter) and dither into the output, written atomically, with
its loudness, true peak and statistics metered on the way. Memory stays bounded for any length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tonemorph.dsp.dither import Ditherer, bits_of_subtype
from tonemorph.dsp.meter import LoudnessMeter, StatsMeter, TruePeakMeter
from tonemorph.io import AtomicAudioWriter, AudioInfo, AudioReader
from tonemorph.master.behind import Behind
from tonemorph.master.processor import MasterPlan, MasterProcessor
from tonemorph.progress import Progress

__all__ = ["MasterPass", "master_pass"]


_BLOCK = 1 << 16


@dataclass
class MasterPass:
    """Result of one pass over a track: meters of the output, what the dynamics did, and the
    audio itself when it was kept in memory."""

    meter: LoudnessMeter
    peak: TruePeakMeter
    stats: StatsMeter
    limiter_max_gr_db: float
    limiter_mean_gr_db: float
    compressor_mean_gr_db: float
    audio: np.ndarray | None


def master_pass(path: Path, plan: MasterPlan, out: Path | None, *, subtype: str | None,
                like: AudioInfo, seed: int, progress: Progress | None, tag: str) -> MasterPass:
    """Stream a file through the plan and dither into `out` (atomic) or memory; meter it."""
    ch = plan.channels
    proc = MasterProcessor(plan)
    meter = LoudnessMeter(plan.sample_rate, ch)
    peak = TruePeakMeter(ch)
    stats = StatsMeter(plan.sample_rate, ch)
    kept: list[np.ndarray] = []
    writer = (AtomicAudioWriter(out, plan.sample_rate, ch, subtype=subtype, like=like)
              if out is not None else None)
    bits = bits_of_subtype(writer.subtype) if writer is not None else None
    dither = Ditherer(bits, seed) if bits is not None and bits <= 24 else None
    skip = proc.latency

    def store(block: np.ndarray, pcm: np.ndarray | None) -> None:
        peak.add(block)
        if writer is not None:
            writer.write(block, pcm=pcm)
        else:
            kept.append(block.astype(np.float32))

    def finish(block: np.ndarray, storing: Behind) -> None:
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
        storing.submit(block, pcm)
        meter.add(block)
        stats.add(block)

    def run() -> None:
        # five threads, each stage's blocks in order, each a block behind the one before:
        # read and EQ here; density; output gain and limiter; dither, loudness and stats; true
        # peak and the file (the three heavy stages, EQ, density and limiter, take similar
        # time: on two cores they overlap)
        with Behind(store) as storing, Behind(finish) as finishing, \
                Behind(lambda y: finishing.submit(proc.process_output(y), storing)) as limiting, \
                Behind(lambda y: limiting.submit(proc.process_density(y))) as density, \
                AudioReader(path, role="mix") as reader:
            total, done = reader.frames, 0
            for block in reader.blocks(_BLOCK):
                density.submit(proc.process_front(block))
                done += block.shape[1]
                if progress is not None:
                    progress(tag, done, total)
            density.submit(proc.process_front(np.zeros((ch, proc.latency))))

    if writer is not None:
        with writer:
            run()
    else:
        run()
    limiter = proc.limiter
    assert limiter is not None  # a MasterProcessor limits unless told not to
    audio = np.concatenate(kept, axis=1) if kept else None
    return MasterPass(meter, peak, stats, limiter.max_gain_reduction_db,
                      limiter.mean_gain_reduction_db, proc.dynamics.mean_gain_reduction_db, audio)
