"""`.tmodel` files written by earlier versions load and apply as they did: outputs compared
with tests/data/golden_apply.npz (made by tests/make_golden_apply.py with the version that
wrote the model files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from make_golden_apply import KNOBS, MODELS, RATES, golden_take

import tonemorph

HERE = Path(__file__).parent
GOLDEN = np.load(HERE / "data" / "golden_apply.npz")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("knobs", sorted(KNOBS))
@pytest.mark.parametrize("rate", RATES)
def test_committed_models_apply_as_before(model: str, knobs: str, rate: int) -> None:
    tone = tonemorph.load(HERE / "io" / "data" / f"{model}.tmodel")
    y = tone.apply(golden_take(rate), rate, **KNOBS[knobs])
    ref = GOLDEN[f"{model}/{knobs}/{rate}"]
    assert y.shape == ref.shape
    rel = np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref ** 2))
    assert rel < 1e-6, rel
