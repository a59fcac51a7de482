"""Fast inference path: the composition of the stages' numpy/numba twins, streaming in blocks.

Built straight from stored values in physical units; no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tonemorph.chain.config import ChainConfig, param_specs
from tonemorph.chain.stages import CHAIN, FastOp, FastOptions, Values

if TYPE_CHECKING:
    from tonemorph.chain.chain import ToneChain

__all__ = ["FastChain", "process_offline", "settled_values"]


def settled_values(cfg: ChainConfig, values: Values) -> Values:
    """Values as a torch chain set to `values` holds them (`Range.settle`), for every key."""
    out: Values = {}
    for s in param_specs(cfg):
        v = values[s.name]
        out[s.name] = (s.range.settle(float(v)) if s.size == 1
                       else [s.range.settle(float(e)) for e in v])
    return out


class FastChain:
    """Stateful block processor equal to `ToneChain.forward` (float32, one channel).

    Feed consecutive blocks of any size to `process`; the output equals processing the whole
    signal at once. `input_gain_db` is a gain (dB) before the chain, `output_gain_db` one after
    it (on top of the output gain, unbounded by its range); `tone_sos` are user tone-control
    biquads (n, 6) run after the post-EQ.
    """

    def __init__(self, cfg: ChainConfig, values: Values, *, input_gain_db: float = 0.0,
                 output_gain_db: float = 0.0, tone_sos: np.ndarray | None = None):
        self.sample_rate = cfg.sample_rate
        vals = settled_values(cfg, values)
        opts = FastOptions(input_gain_db=input_gain_db, output_gain_db=output_gain_db,
                           tone_sos=tone_sos)
        active = cfg.active()
        self.ops: list[FastOp] = []
        for st in CHAIN:  # absent stages may leave a stand-in (the tone controls' biquads)
            op = st.fast(cfg, vals, opts) if st in active else st.fast_when_absent(cfg, opts)
            if op is not None:
                self.ops.append(op)

    @classmethod
    def from_torch(cls, chain: ToneChain, **kwargs: object) -> FastChain:
        """The fast twin of a torch chain with its current values."""
        return cls(chain.cfg, chain.values(), **kwargs)  # type: ignore[arg-type]

    def process(self, x: np.ndarray) -> np.ndarray:
        """Process the next block of mono samples (1-D) at the chain's sample rate."""
        y = np.ascontiguousarray(x, dtype=np.float32)
        for op in self.ops:
            y = op(y)
        return y


def process_offline(chain: ToneChain, x: np.ndarray, block: int = 1 << 16) -> np.ndarray:
    """Run the fast twin of a torch chain over mono x (1-D) in blocks of `block` samples."""
    fc = FastChain.from_torch(chain)
    return np.concatenate([fc.process(x[i: i + block]) for i in range(0, len(x), block)]
                          or [np.zeros(0, np.float32)])
