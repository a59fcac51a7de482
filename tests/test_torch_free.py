"""Applying a tone needs no torch: `import tonemorph`, the CLI's --help, `info` and `apply` of a
committed .tmodel run in a subprocess where importing torch fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from torch_block import SRC, run_without_torch

HERE = Path(__file__).parent
MODEL = HERE / "io" / "data" / "learned_fast.tmodel"

def test_import_help_info_apply_without_torch(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    take = tmp_path / "take.wav"
    sf.write(take, (0.1 * rng.standard_normal((48000, 2))).astype(np.float32), 48000,
             subtype="FLOAT")
    out = tmp_path / "out.wav"
    code = f"""
import numpy as np
import tonemorph, tonemorph.cli
from tonemorph.cli import main

def run(*args):
    sys.argv = ["tonemorph", *args]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)

run("--help")
run("info", {str(MODEL)!r})
run("apply", {str(MODEL)!r}, {str(take)!r}, "-o", {str(out)!r}, "--amount", "0.7",
    "--tone", "2", "--drive", "1", "--subtype", "FLOAT")
tone = tonemorph.load({str(MODEL)!r})
y = tone.apply(np.zeros(4800, np.float32), 48000)
assert "torch" not in sys.modules, "torch was imported"
print("ok")
"""
    res = run_without_torch(code)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stdout + res.stderr
    y, sr = sf.read(out, always_2d=True)
    assert sr == 48000 and y.shape == (48000, 2) and np.all(np.isfinite(y))


def test_help_and_import_load_no_numeric_stack() -> None:
    """`import tonemorph` and `tonemorph --help` start small: the numeric stack loads on use."""
    code = """
import tonemorph
from tonemorph.cli import main
for args in (["--help"], ["apply", "--help"], ["learn", "--help"], ["master", "--help"]):
    sys.argv = ["tonemorph", *args]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None), (args, exc.code)
heavy = [m for m in ("numpy", "scipy", "numba", "soundfile", "soxr", "torch") if m in sys.modules]
assert not heavy, heavy
assert callable(tonemorph.learn_tone) and tonemorph.Tone.__name__ == "Tone"
assert tonemorph.master_mix.__module__.startswith("tonemorph.master")
import tonemorph.learn.fit  # the subpackage is not shadowed by a function
assert tonemorph.learn.fit.__name__ == "tonemorph.learn.fit"
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(SRC)!r})\n"
                          + code], check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stdout + res.stderr
