"""Helpers of the plugin tests: paths, tones derived from the fixture files, takes, errors."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "io" / "data"
FULL_TONE = DATA / "learned_fast.tmodel"  # every stage
GREYBOX_TONE = DATA / "paired_greybox.tmodel"
BUILD_DIR = REPO / "build" / "plugin-test"
LATENCY = 23  # the drive's oversampling FIR


def limited_latency(rate: int) -> int:
    """Latency (samples at rate) of a tone with a drive and a peak limit: the limit's 1 ms
    look-ahead less one sample on top of the drive's."""
    return LATENCY + round(rate / 1000) - 1


def write_tone(doc: dict, path: Path) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def derived_tone(tmp: Path, name: str, stages: list[str], **params: float) -> Path:
    """The full tone reduced to `stages` (their parameters kept), some parameters replaced."""
    doc = json.loads(FULL_TONE.read_text())
    doc = copy.deepcopy(doc)
    doc["chain"]["stages"] = stages
    keep = {k: v for k, v in doc["parameters"].items()
            if "." not in k or k.split(".")[0] in stages}
    keep.update(params)
    doc["parameters"] = keep
    doc["units"] = {k: v for k, v in doc["units"].items() if k in keep}
    return write_tone(doc, tmp / f"{name}.tmodel")


def take(sample_rate: int, channels: int, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A guitar-like take (channels, n) float32: decaying plucks over a little noise."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(seed)
    out = []
    for c in range(channels):
        f0 = 110.0 * (1.5 ** c)
        x = sum(np.sin(2 * np.pi * h * f0 * t + h) / h for h in range(1, 8))
        x = 0.25 * x * np.exp(-4 * (t % 0.25)) + 0.01 * rng.standard_normal(n)
        out.append(x)
    return np.asarray(out, np.float32)


def run_tool(args: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300,
                          check=False, **kw)


def rel_rms(y: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - ref) ** 2)) / np.sqrt(np.mean(ref ** 2)))


def aligned_error(y: np.ndarray, ref: np.ndarray, latency: int) -> float:
    """Relative RMS error of plugin output y (latency kept, as a host sees it) against
    `tonemorph apply` output ref (latency removed)."""
    n = y.shape[-1]
    return rel_rms(y[..., latency:], ref[..., : n - latency])


KNOBS = {  # name -> (amount 0..1, drive dB, tone dB, level dB)
    "neutral": (1.0, 0.0, 0.0, 0.0),
    "pushed": (1.0, 6.0, -3.0, -2.0),
    "partial": (0.6, -4.0, 5.0, 3.0),
}
BLOCKS = (1, 64, 65, 512, 4096)


def reference(tone_path: Path, x: np.ndarray, sample_rate: int, knobs: tuple,
              compensation_db: float | None = None) -> np.ndarray:
    """`tonemorph apply` of x (channels, n): Tone.apply, or its stream with a given knobs
    compensation (the plugin measures it on its reference excerpt, not on the take)."""
    from tonemorph.model import Knobs, load

    tone = load(tone_path)
    amount, drive, tone_db, level = knobs
    if compensation_db is None:
        return tone.apply(x, sample_rate, amount=amount, drive_db=drive, tone_db=tone_db,
                          level_db=level)
    stream = tone.stream(sample_rate, x.shape[0], Knobs(amount, drive, tone_db, level),
                         compensation_db)
    return np.concatenate(list(stream.run(iter([x]))), axis=1)


def offline(tool: Path, tone: Path, x: np.ndarray, sample_rate: int, block: int, knobs: tuple,
            tmp: Path, comp: str = "take", extra: tuple = ()) -> np.ndarray:
    """The DSP core's offline runner on x (channels, n); output with the latency kept."""
    src, dst = tmp / "in.f32", tmp / "out.f32"
    np.ascontiguousarray(x, np.float32).tofile(src)
    amount, drive, tone_db, level = knobs
    r = run_tool([tool, "--model", tone, "--rate", sample_rate, "--channels", x.shape[0],
                  "--block", block, "--amount", amount, "--drive", drive, "--tone", tone_db,
                  "--level", level, "--comp", comp, "--in", src, "--out", dst, *extra])
    assert r.returncode == 0, r.stderr
    return np.fromfile(dst, np.float32).reshape(x.shape)


def plugin_compensation(tool: Path, tone: Path, sample_rate: int, knobs: tuple, tmp: Path) -> float:
    """The --amount / --drive compensation (dB) the plugin measures on its reference excerpt."""
    src = tmp / "one.f32"
    np.zeros(16, np.float32).tofile(src)
    amount, drive, tone_db, level = knobs
    r = run_tool([tool, "--model", tone, "--rate", sample_rate, "--channels", 1, "--block", 16,
                  "--amount", amount, "--drive", drive, "--tone", tone_db, "--level", level,
                  "--comp", "reference", "--print-compensation", "--in", src, "--out",
                  tmp / "one_out.f32"])
    assert r.returncode == 0, r.stderr
    return float(r.stdout.split()[0])


def clap(host: Path, plugin: Path, x: np.ndarray, sample_rate: int, block: int, tmp: Path,
         knobs: tuple = KNOBS["neutral"], model: Path | None = None,
         extra: tuple = ()) -> tuple[np.ndarray, dict]:
    """Run x (channels, n) through a CLAP plugin in our test host; (output, host report)."""
    src, dst = tmp / "clap_in.f32", tmp / "clap_out.f32"
    np.ascontiguousarray(x, np.float32).tofile(src)
    amount, drive, tone_db, level = knobs
    args = [host, plugin, "--rate", sample_rate, "--channels", x.shape[0], "--block", block,
            "--in", src, "--out", dst, "--param", f"0={amount * 100}", "--param", f"1={drive}",
            "--param", f"2={tone_db}", "--param", f"3={level}", *extra]
    if model is not None:
        args += ["--model", model]
    r = run_tool(args)
    assert r.returncode == 0, r.stderr
    return np.fromfile(dst, np.float32).reshape(x.shape), json.loads(r.stdout.strip().splitlines()[-1])
