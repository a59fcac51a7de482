"""`tonemorph learn --paired` on a DI and its recording through a third-party amp model (guitarix
Redeye "Chump" LV2, run offline by lilv's `lv2apply`, clean when soft and crunchy when hard, which
inverts the polarity), with an interface delay: lined up and captured (exit 0); an unrelated
take against the same recording: refused in one line (exit 2), nothing written (issue 14).
Skipped where lv2apply or guitarix-lv2 is missing (Debian: lilv-utils guitarix-lv2)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import guitar_line
from typer.testing import CliRunner

from tonemorph.cli import app

SR = 48000
AMP = "http://guitarix.sourceforge.net/plugins/gx_redeye#chump"
CONTROLS = {"Gain": 0.8, "Tone": 0.55, "Volume": 0.5}
DELAY = 1234  # samples the interface adds
TOL = round(0.5e-3 * SR)  # 0.5 ms in samples


def _installed() -> bool:
    if shutil.which("lv2apply") is None or shutil.which("lv2ls") is None:
        return False
    listed = subprocess.run(["lv2ls"], check=False, capture_output=True, text=True, timeout=60)
    return AMP in listed.stdout


pytestmark = pytest.mark.skipif(not _installed(),
                                reason="needs lv2apply (lilv-utils) and guitarix-lv2")


def amp(x: np.ndarray, tmp: Path) -> np.ndarray:
    """x (1-D, SR) through the amp by lv2apply, float64."""
    src, dst = tmp / "amp_in.wav", tmp / "amp_out.wav"
    sf.write(src, x.astype(np.float32), SR, subtype="FLOAT")
    cmd = ["lv2apply", "-i", str(src), "-o", str(dst)]
    for symbol, value in CONTROLS.items():
        cmd += ["-c", symbol, str(value)]
    done = subprocess.run(cmd + [AMP], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and dst.exists(), done.stderr + done.stdout
    y, _ = sf.read(dst, dtype="float64", always_2d=True)
    return y[:, 0]


def response_span(tmp: Path) -> tuple[int, int]:
    """Where the amp's response to a small click starts (1 % of its peak) and peaks (samples)."""
    click = np.zeros(SR // 2)
    click[SR // 4] = 1e-3
    h = np.abs(amp(click, tmp) - amp(np.zeros_like(click), tmp))[SR // 4:]
    return int(np.argmax(h >= 0.01 * h.max())), int(np.argmax(h))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("paired_align")
    x = guitar_line(7.0, SR, seed=4)[0].astype(np.float64)
    y = np.concatenate([np.zeros(DELAY), amp(x, d)])
    y += 1e-4 * np.random.default_rng(0).standard_normal(len(y))  # the interface's hiss
    sf.write(d / "di.wav", x.astype(np.float32), SR, subtype="FLOAT")
    sf.write(d / "amp.wav", (0.5 * y / np.abs(y).max()).astype(np.float32), SR, subtype="FLOAT")
    sf.write(d / "other.wav", guitar_line(7.0, SR, seed=5)[0], SR, subtype="FLOAT")
    return {"dir": d, "span": response_span(d)}


def learn(d: Path, di: str, out: str):
    return CliRunner().invoke(app, ["learn", "--paired", "-i", str(d / di), "-t",
                                    str(d / "amp.wav"), "--steps", "2", "--chain", "drive,cab",
                                    "-o", str(d / out)])


def test_a_di_and_its_amp_recording_are_captured(files: dict) -> None:
    d, (start, peak) = files["dir"], files["span"]
    res = learn(d, "di.wav", "cap.tmodel")
    assert res.exit_code == 0, res.output
    lag = json.loads((d / "cap.tmodel").read_text())["training"]["latency_samples"]
    assert DELAY + start - TOL <= lag <= DELAY + peak + TOL, (lag, start, peak)
    assert f"latency {lag} samples" in res.output


def test_an_unrelated_take_is_refused_in_one_line(files: dict) -> None:
    d = files["dir"]
    res = learn(d, "other.wav", "x.tmodel")
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.output  # (besides warnings about the files' length)
    assert "do not look like the same performance" in errors[0]
    assert "within ±2000 ms" in errors[0] and "Traceback" not in res.output
    assert not (d / "x.tmodel").exists()
