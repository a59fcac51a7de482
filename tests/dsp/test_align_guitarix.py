"""Latency detection through real third-party amp and pedal models: guitarix LV2 plugins run
offline by lilv's `lv2apply` (Debian: `apt-get install lilv-utils guitarix-lv2`), with delays
added to their output. Skipped where lv2apply or the plugins are missing."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import guitar_line

from tonemorph.dsp.align import align_pair, detect_latency
from tonemorph.errors import AudioContentError

SR = 48000
TOL = 0.1e-3 * SR  # 0.1 ms in samples
GX = "http://guitarix.sourceforge.net/plugins/"

# plugin URI (after GX) and controls: (symbol, value)
RAT = ("gx_aclipper_#_aclipper_", {"DRIVE": 1.0})  # RAT-style clipper at full drive
W20 = ("gx_w20#w20", {"gain": 1.0})  # small tube amp, gain full up
COMP = ("gx_compressor#_compressor", {"RATIO": 20.0, "THRESHOLD": -40.0, "ATTACK": 0.001})
TS9 = ("gxts9#ts9sim", {"fslider0_": 4.0})  # tube screamer, drive full up
MUFF = ("gx_muff_#_muff_", {})
FUZZ = ("gx_fuzz_#fuzz_", {"DRIVE": 100.0, "INPUT": 10.0})
ALEMBIC = ("gx_alembic#alembic", {"input": 1.0})  # clean when soft, input gain pushed
DS1 = ("gx_bossds1_#_bossds1_", {"DRIVE": 1.0})  # oversampled: ~33 samples of its own
STUDIOPRE = ("gx_studiopre#studiopre", {"volume": 1.0})
MBCOMP = ("gx_mbcompressor_#_mbcompressor_", {})

CHAINS = {
    "rat > w20 > compressor": [RAT, W20, COMP],
    "ts9 > muff > w20 > compressor": [TS9, MUFF, W20, COMP],
    "fuzz > muff": [FUZZ, MUFF],
    "alembic preamp pushed > w20": [ALEMBIC, W20],
    "ds1 > studio preamp > multiband compressor": [DS1, STUDIOPRE, MBCOMP],
}


def _installed() -> bool:
    if shutil.which("lv2apply") is None or shutil.which("lv2ls") is None:
        return False
    listed = subprocess.run(["lv2ls"], check=False, capture_output=True, text=True,
                            timeout=60).stdout
    return all(GX + uri in listed for chain in CHAINS.values() for uri, _ in chain)


pytestmark = pytest.mark.skipif(not _installed(),
                                reason="needs lv2apply (lilv-utils) and guitarix-lv2")


def render(x: np.ndarray, chain: list[tuple[str, dict[str, float]]], tmp: Path) -> np.ndarray:
    """x (mono, SR) through the plugins of `chain` in turn, by lv2apply, as float64."""
    src = tmp / "in.wav"
    sf.write(src, x.astype(np.float32), SR, subtype="FLOAT")
    for i, (uri, controls) in enumerate(chain):
        dst = tmp / f"out{i}.wav"
        cmd = ["lv2apply", "-i", str(src), "-o", str(dst)]
        for symbol, value in controls.items():
            cmd += ["-c", symbol, str(value)]
        done = subprocess.run(cmd + [GX + uri], check=False, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0 and dst.exists(), done.stderr + done.stdout
        src = dst
    y, sr = sf.read(src, dtype="float64", always_2d=True)
    assert sr == SR
    return y.mean(axis=1)


def response_span(chain: list[tuple[str, dict[str, float]]], tmp: Path) -> tuple[int, int]:
    """Where the chain's response to a small click starts (1 % of its peak) and peaks
    (samples), the click's response less the chain's response to silence."""
    click = np.zeros(SR // 2)
    click[SR // 4] = 1e-3
    h = np.abs(render(click, chain, tmp) - render(np.zeros_like(click), chain, tmp))[SR // 4:]
    return int(np.argmax(h >= 0.01 * h.max())), int(np.argmax(h))


def delay(y: np.ndarray, d: int) -> np.ndarray:
    """y delayed by d samples (negative: its start cut)."""
    return np.concatenate([np.zeros(d), y]) if d >= 0 else y[-d:]


@pytest.fixture(scope="module")
def di() -> np.ndarray:
    """8 s of the bundled guitar take (FluidSynth, clean electric guitar)."""
    # read directly: a dsp test need not import the learning stack behind tonemorph.demo
    with resources.as_file(resources.files("tonemorph") / "data" / "demo_input.flac") as p:
        audio, sr = sf.read(p, dtype="float32", always_2d=True)
    assert sr == SR
    audio = audio.T
    return audio.mean(axis=0)[: 8 * SR].astype(np.float64)


@pytest.mark.parametrize("name", list(CHAINS))
def test_added_delays_are_found_through_guitarix(di: np.ndarray, name: str,
                                                  tmp_path: Path) -> None:
    chain = CHAINS[name]
    y = render(di, chain, tmp_path)
    own = detect_latency(di, y, SR)
    assert own.confident, own
    # the chain's own latency: between where its small-signal response starts and peaks, give
    # or take 0.5 ms (heavy drive moves the correlation peak past the small-signal one)
    start, peak = response_span(chain, tmp_path)
    assert start - 5 * TOL <= own.lag_samples <= peak + 5 * TOL, (own, start, peak)
    for d in (1234, -480):
        al = detect_latency(di, delay(y, d), SR)
        assert al.confident, (d, al)
        assert abs(al.lag_samples - d - own.lag_samples) <= TOL, (d, al, own)
        assert al.polarity == own.polarity
    _, ya, al = align_pair(di, delay(y, 1234), SR)  # what `learn --paired` calls
    assert al.lag_samples == own.lag_samples + 1234 and len(ya) <= len(di)


def test_another_performance_through_guitarix_is_refused(di: np.ndarray, tmp_path: Path) -> None:
    other = guitar_line(8.0, SR, seed=12)[0].astype(np.float64)
    y = render(other, CHAINS["rat > w20 > compressor"], tmp_path)
    assert not detect_latency(di, y, SR).confident
    with pytest.raises(AudioContentError, match="do not look like the same performance"):
        align_pair(di, y, SR)
