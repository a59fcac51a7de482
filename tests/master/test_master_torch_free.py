"""Mastering needs no torch: a whole `master` run (density fit included) in a subprocess where
importing torch fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import soundfile as sf
from master_music import dense, stereo_music

SRC = Path(__file__).resolve().parents[2] / "src"
SR = 16000

_CODE = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _NoTorch())
sys.path.insert(0, {src!r})
from tonemorph.master import MasterConfig, master
rep = master({mix!r}, {ref!r}, None, config=MasterConfig(fit_steps=10))
assert rep.track.audio is not None
assert "torch" not in sys.modules
print("ok", rep.settings["density"]["ratio"])
"""


def test_master_runs_without_torch(tmp_path: Path) -> None:
    mix, ref = tmp_path / "mix.wav", tmp_path / "ref.wav"
    sf.write(mix, stereo_music(6.0, SR, seed=1, peak=0.3).T, SR, subtype="PCM_16")
    sf.write(ref, dense(stereo_music(11.0, SR, seed=2), SR).T, SR, subtype="PCM_16")
    code = _CODE.format(src=str(SRC), mix=str(mix), ref=str(ref))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.startswith("ok")
