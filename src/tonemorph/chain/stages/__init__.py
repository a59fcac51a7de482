"""The chain's stages, one module each, and their order: `CHAIN`.

Adding a stage: write its module (a `Stage` subclass: parameter table, torch forward, fast
twin, latency) and add an instance to `CHAIN` where it runs. The torch chain, the fast path,
the parameter table, model-file validation and `--amount` iterate over `CHAIN`.
"""

from __future__ import annotations

from tonemorph.chain.stages.base import FastOp, FastOptions, Stage, Values
from tonemorph.chain.stages.cab import Cab
from tonemorph.chain.stages.drive import Drive
from tonemorph.chain.stages.dynamics import Compressor
from tonemorph.chain.stages.eq import POST_EQ_BANDS, PRE_EQ_BANDS, Eq
from tonemorph.chain.stages.gain import Gain
from tonemorph.chain.stages.limit import Limit

__all__ = ["CHAIN", "Cab", "Compressor", "Drive", "Eq", "FastOp", "FastOptions", "Gain",
           "Limit", "Stage", "Values", "stage"]

#: Every stage in processing order. Optional stages run when named in `ChainConfig.stages`;
#: the trim and the output gain are in every chain.
CHAIN: tuple[Stage, ...] = (
    Gain("trim", "trim_db", takes_input_gain=True, title="input", knob="trim"),
    Eq("pre_eq", PRE_EQ_BANDS, filter_group="pre", hosts_tone_controls=False, title="pre-EQ"),
    Compressor("sag", title="sag"),
    Drive(),
    Eq("post_eq", POST_EQ_BANDS, filter_group="post", hosts_tone_controls=True,
       title="tone stack"),
    Cab(),
    Compressor("comp", title="compressor"),
    Limit(),
    Gain("output", "out_gain_db", takes_input_gain=False, title="output",
         takes_output_gain=True),
)


def stage(name: str) -> Stage:
    """The stage called `name` (KeyError when there is none)."""
    for s in CHAIN:
        if s.name == name:
            return s
    raise KeyError(name)
