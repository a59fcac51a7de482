"""The numpy side of the shared formulas imports no torch (torch belongs to learning)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Imports the modules with torch blocked, past tonemorph/__init__ (which loads the API).
SCRIPT = f"""
import importlib, importlib.abc, sys, types
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch imported by the numpy path")
sys.meta_path.insert(0, Block())
pkg = types.ModuleType("tonemorph")
pkg.__path__ = [{str(SRC / "tonemorph")!r}]
sys.modules["tonemorph"] = pkg
for name in ("tonemorph.dsp", "tonemorph.dsp.units", "tonemorph.dsp.checks",
             "tonemorph.dsp.meter", "tonemorph.dsp.limiter", "tonemorph.chain.kernels",
             "tonemorph.metrics", "tonemorph.io.process", "tonemorph.master.density"):
    importlib.import_module(name)
import numpy as np
from tonemorph.dsp import biquad, fir
biquad.peaking(1000.0, 3.0, 1.0, 48000.0)
fir.minimum_phase_from_magnitude(np.zeros(513), 64)
"""


def test_dsp_metrics_and_kernels_import_without_torch() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False,
                         timeout=300)
    assert run.returncode == 0, run.stderr
