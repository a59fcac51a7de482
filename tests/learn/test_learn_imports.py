"""A learn loads no more of the numeric stack than it uses: `scipy.signal` (0.4-0.7 s of a
learn's start, scipy.stats with it) stays unimported through a whole `learn_tone` at 48 kHz."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
TESTS = HERE.parent


def test_a_learn_does_not_import_scipy_signal(tmp_path: Path) -> None:
    code = f"""
import sys
sys.path[:0] = [{str(SRC)!r}, {str(TESTS)!r}]
import numpy as np
from signals import guitar_line
import tonemorph
from tonemorph.learn import fit
# a few steps: what is imported does not depend on how long the fit runs
fit.QUALITY_PRESETS["fast"].update(n_segments=2, starts=(6.0,), start_steps=1, steps=2,
                                   sweep_db=(0.0, 12.0))
x = guitar_line(10.0, 48000, seed=1)
y = np.tanh(3.0 * guitar_line(10.0, 48000, seed=2))
tone = tonemorph.learn_tone((x, 48000), (y, 48000), quality="fast")
tone.save({str(tmp_path / "t.tmodel")!r})
tone.apply(x, 48000)
loaded = [m for m in sys.modules if m.startswith("scipy.signal")]
assert not loaded, loaded
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, check=False)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stdout + res.stderr
