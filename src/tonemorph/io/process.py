"""Process an audio file block by block: bounded memory, atomic write, rate and bit depth kept."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soxr

from tonemorph.io.audio import AtomicAudioWriter, AudioReader, check_output_path

Blocks = Iterator[np.ndarray]
# given the open reader (to look at the take first), returns the block processor
MakeProcessor = Callable[[AudioReader], Callable[[Blocks], Blocks]]


def process_file(in_path: str | Path, out_path: str | Path, make_processor: MakeProcessor, *,
                 force: bool = False, sample_rate: int | None = None,
                 subtype: str | None = None, block_s: float = 5.0,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Run `make_processor(reader)` over the take in `block_s`-second blocks; returns a summary.

    The output keeps the take's sample rate (or `sample_rate`, Hz, resampled as a stream),
    channel count and subtype (or `subtype`), and is written atomically; the input is never
    overwritten unless `force`.
    """
    check_output_path(out_path, [in_path], force=force)
    with AudioReader(in_path, role="take") as r:
        info = r.info
        sr_out = sample_rate or info.sample_rate
        run = make_processor(r)
        r.seek(0)
        block = max(int(block_s * info.sample_rate), 1024)
        done = 0

        def blocks() -> Blocks:
            nonlocal done
            for b in r.blocks(block):
                done += b.shape[1]
                if progress:
                    progress(done, info.frames)
                yield b

        with AtomicAudioWriter(out_path, sr_out, info.channels, subtype=subtype,
                               like=info) as w:
            outs = run(blocks())
            if sr_out != info.sample_rate:
                rs = soxr.ResampleStream(info.sample_rate, sr_out, info.channels,
                                         dtype="float32", quality="HQ")
                for o in outs:
                    w.write(rs.resample_chunk(np.ascontiguousarray(o.T)).T)
                w.write(rs.resample_chunk(np.zeros((0, info.channels), np.float32),
                                          last=True).T)
            else:
                for o in outs:
                    w.write(o)
            written = w.frames_written
    return {"input": str(in_path), "output": str(out_path), "sample_rate": sr_out,
            "channels": info.channels, "seconds": info.frames / info.sample_rate,
            "frames_written": written, "subtype": subtype or info.subtype}
