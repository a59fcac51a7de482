"""Write tests/data/golden_apply.npz: what today's `Tone.apply` makes of a fixed take with the
committed `.tmodel` files (tests/io/data), so that refactors of the chain are checked against
the output of the version that wrote those files. Run only when the output is meant to change
(and keep the entries whose output is not meant to change; 2026-12-06 replaced only the
"knobs" ones: --tone is no longer loudness-compensated under --amount, a pure gain of
+0.63..+0.76 dB):

    .venv/bin/python tests/make_golden_apply.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from signals import guitar_line  # noqa: E402

import tonemorph  # noqa: E402

MODELS = ("learned_fast", "paired_greybox")
KNOBS = {"neutral": {}, "knobs": {"amount": 0.7, "drive_db": 3.0, "tone_db": -2.0,
                                  "level_db": -1.5}}
RATES = (48000, 44100)
SECONDS = 0.3


def golden_take(rate: int) -> np.ndarray:
    """The fixed stereo take (2, n) the golden outputs are made from."""
    left = guitar_line(SECONDS, rate, seed=99)[0]
    right = guitar_line(SECONDS, rate, seed=98, level_db=-6.0)[0]
    return np.stack([left, right]).astype(np.float32)


def golden_outputs() -> dict[str, np.ndarray]:
    """Outputs keyed model/knobs/rate."""
    out = {}
    for m in MODELS:
        tone = tonemorph.load(HERE / "io" / "data" / f"{m}.tmodel")
        for k, knobs in KNOBS.items():
            for rate in RATES:
                out[f"{m}/{k}/{rate}"] = tone.apply(golden_take(rate), rate, **knobs)
    return out


if __name__ == "__main__":
    np.savez_compressed(HERE / "data" / "golden_apply.npz", **golden_outputs())
    print("wrote", HERE / "data" / "golden_apply.npz")
