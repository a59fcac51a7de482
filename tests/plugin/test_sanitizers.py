"""The plugin's DSP core under AddressSanitizer and UndefinedBehaviorSanitizer: the offline
runner, built with both, over tones x rates x channels x block sizes x knobs. A read or write
past a buffer (a ring index off by one) corrupts memory silently in the normal build; here
any report fails the test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from plugin_support import FULL_TONE, GREYBOX_TONE, KNOBS, REPO, run_tool, take

from tonemorph.plugin import missing_packages
from tonemorph.plugin.builder import CPP_DIR, DPF_DIR

SANITIZE = "-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined"
RATES = (22050, 44100, 96000)
BLOCKS = (1, 65, 4096)


@pytest.fixture(scope="module")
def sanitized_runner() -> Path:
    missing = missing_packages()
    if missing:
        pytest.skip(f"plugin toolchain missing: {', '.join(missing)}")
    build = REPO / "build" / "plugin-sanitized"
    tool = build / "tm_offline"
    proc = subprocess.run(["make", "-C", str(CPP_DIR), "-j2", f"BUILD={build}", f"DPF={DPF_DIR}",
                           f"OPT={SANITIZE}", str(tool)],
                          capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0 and ("asan" in proc.stderr or "ubsan" in proc.stderr):
        pytest.skip("the compiler's sanitizer runtimes (libasan, libubsan) are not installed")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return tool


def _run(tool: Path, tone: Path, rate: int, channels: int, block: int, knobs: tuple,
         tmp: Path, comp: str = "take") -> subprocess.CompletedProcess:
    x = take(rate, channels, seconds=0.05 if block == 1 else 0.3, seed=block)
    src, dst = tmp / "in.f32", tmp / "out.f32"
    x.tofile(src)
    amount, drive, tone_db, level = knobs
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = run_tool([tool, "--model", tone, "--rate", rate, "--channels", channels, "--block", block,
                  "--amount", amount, "--drive", drive, "--tone", tone_db, "--level", level,
                  "--comp", comp, "--in", src, "--out", dst], env=env)
    if r.returncode == 0:
        y = np.fromfile(dst, np.float32)
        assert y.size == x.size and np.all(np.isfinite(y))
    return r


@pytest.mark.parametrize("tone_name", ["full", "greybox", "limited"])
def test_dsp_core_has_no_memory_or_undefined_behaviour_errors(sanitized_runner: Path,
                                                              tone_name: str, limited_tone: Path,
                                                              tmp_path: Path) -> None:
    tone = {"full": FULL_TONE, "greybox": GREYBOX_TONE, "limited": limited_tone}[tone_name]
    failures = []
    for rate in RATES:
        for channels in (1, 2):
            for block in BLOCKS:
                for knobs in (KNOBS["neutral"], KNOBS["pushed"], KNOBS["partial"]):
                    r = _run(sanitized_runner, tone, rate, channels, block, knobs, tmp_path)
                    if r.returncode != 0 or "runtime error" in r.stderr or "Sanitizer" in r.stderr:
                        failures.append(f"{rate} Hz, {channels} ch, block {block}, knobs {knobs}: "
                                        f"{r.stderr[-1500:]}")
    r = _run(sanitized_runner, tone, 48000, 2, 512, KNOBS["partial"], tmp_path, comp="reference")
    if r.returncode != 0 or "Sanitizer" in r.stderr or "runtime error" in r.stderr:
        failures.append(f"reference compensation: {r.stderr[-1500:]}")
    assert not failures, "\n".join(failures[:3])
