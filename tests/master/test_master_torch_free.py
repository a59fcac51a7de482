"""Mastering needs no torch: a whole `master` run (density fit and HTML report included) in a
subprocess where importing torch fails."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf
from master_music import dense, stereo_music
from torch_block import run_without_torch

SR = 16000

_CODE = """
from tonemorph.master import MasterConfig, master
rep = master({mix!r}, {ref!r}, None, config=MasterConfig(fit_steps=10), report={page!r})
assert rep.track.audio is not None
assert "torch" not in sys.modules
print("ok", rep.settings["density"]["ratio"])
"""


def test_master_runs_without_torch(tmp_path: Path) -> None:
    mix, ref = tmp_path / "mix.wav", tmp_path / "ref.wav"
    sf.write(mix, stereo_music(6.0, SR, seed=1, peak=0.3).T, SR, subtype="PCM_16")
    sf.write(ref, dense(stereo_music(11.0, SR, seed=2), SR).T, SR, subtype="PCM_16")
    page = tmp_path / "master.html"
    res = run_without_torch(_CODE.format(mix=str(mix), ref=str(ref), page=str(page)))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.startswith("ok")
    assert page.read_text().startswith("<!DOCTYPE html>")


_LEAN = """
from tonemorph.master import MasterConfig, master
master({mix!r}, {ref!r}, {out!r}, config=MasterConfig(fit_steps=10))
heavy = sorted(m for m in ("scipy.fft", "scipy.optimize", "scipy.signal", "scipy.stats")
               if m in sys.modules)
print("heavy:", ",".join(heavy))
"""


def test_master_leaves_scipys_heavy_subpackages_unimported(tmp_path: Path) -> None:
    # each costs 0.07-0.3 s of every run (bench/results/master_speed.md): the master's FFTs are
    # numpy's and its Nelder-Mead is tonemorph.master.neldermead
    mix, ref, out = tmp_path / "mix.wav", tmp_path / "ref.wav", tmp_path / "out.wav"
    sf.write(mix, stereo_music(6.0, SR, seed=1, peak=0.3).T, SR, subtype="PCM_16")
    sf.write(ref, dense(stereo_music(11.0, SR, seed=2), SR).T, SR, subtype="PCM_16")
    res = run_without_torch(_LEAN.format(mix=str(mix), ref=str(ref), out=str(out)))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "heavy:"
    assert out.exists()
