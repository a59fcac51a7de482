"""Audio helpers shared by the benchmark scripts: mono 48 kHz float32 I/O, levels in dBFS.

Also ``run_command``, the one way these scripts run third-party tools (sox, fluidsynth,
lv2apply): failures raise with the tool's stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SR = 48000
PEAK_DBFS = -3.0  # realistic DI level: every clean performance peaks here


def db_to_gain(db: float) -> float:
    """Convert decibels to a linear amplitude factor."""
    return float(10.0 ** (db / 20.0))


def read_mono(path: Path | str, sr: int = SR) -> np.ndarray:
    """Read an audio file as float32 mono at ``sr`` (mean downmix, soxr resampling)."""
    x, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    y = x.mean(axis=1)
    if file_sr != sr:
        y = soxr.resample(y, file_sr, sr, quality="VHQ")
    return np.ascontiguousarray(y, dtype=np.float32)


def write_wav(path: Path | str, x: np.ndarray, subtype: str = "PCM_24") -> None:
    """Write mono audio at 48 kHz atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.wav")
    sf.write(str(tmp), np.asarray(x, dtype=np.float32), SR, subtype=subtype)
    os.replace(tmp, path)


def write_text(path: Path | str, text: str) -> None:
    """Write a text file (tables, JSON) atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def emit_table(path: Path | None, text: str) -> None:
    """Write a result table to `path` (atomically), or print it where no path was given: a
    run of a few cases must not replace a committed table by default."""
    if path is None:
        print(text)
    else:
        write_text(path, text)
        print(f"wrote {path}")


def table_option(ap: argparse.ArgumentParser, committed: str, flag: str = "--md") -> None:
    """The option naming where a script's table goes: printed unless given (`emit_table`);
    `committed` names the file in bench/results that a full run regenerates."""
    ap.add_argument(flag, type=Path, default=None,
                    help=f"write the table here (else printed); the committed one is "
                         f"bench/results/{committed}")


QUICK_CASES = Path(__file__).resolve().parent / "cases" / "quick"


def add_cases_option(ap: argparse.ArgumentParser) -> None:
    """The --cases option of the scripts that read a quick case folder."""
    ap.add_argument("--cases", type=Path, default=QUICK_CASES,
                    help="a case folder built by bench/cases.py (with manifest.json)")


def case_dirs(cases_dir: Path) -> list[Path]:
    """Every case of a case folder (source/chain folders holding B_truth.wav), sorted."""
    return sorted(p.parent for p in cases_dir.glob("*/*/B_truth.wav"))


def case_manifest(cases_dir: Path) -> dict | None:
    """The manifest of a case folder built by bench/cases.py; None (said on stderr) without one."""
    path = cases_dir / "manifest.json"
    if not path.exists():
        print(f"no {path}: build the cases first (python bench/cases.py)", file=sys.stderr)
        return None
    return json.loads(path.read_text())


def peak_db(x: np.ndarray) -> float:
    """Sample peak in dBFS."""
    return float(20.0 * np.log10(np.max(np.abs(x)) + 1e-12))


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS."""
    return float(10.0 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-24))


def normalise_peak(x: np.ndarray, target_db: float = PEAK_DBFS) -> np.ndarray:
    """Scale so the sample peak sits at ``target_db`` dBFS."""
    pk = float(np.max(np.abs(x)))
    if pk <= 0.0:
        return x
    return (x * (db_to_gain(target_db) / pk)).astype(np.float32)


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to ``n`` samples."""
    if len(y) >= n:
        return np.ascontiguousarray(y[:n], dtype=np.float32)
    return np.concatenate([y, np.zeros(n - len(y), np.float32)])


def run_command(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a subprocess, raising with its stderr on failure."""
    proc = subprocess.run(list(cmd), check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return proc


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (one per non-empty line)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def runs_kept(jsonl: Path | None, key: str, names: Iterable[str], seed: int,
              run: Callable[[str], dict]) -> Iterator[dict]:
    """Each name's record, in order: the one already in jsonl (same `key` value and seed), or
    run(name)'s, appended to jsonl when given (a bench stopped halfway resumes where it was)."""
    done = ({(r[key], r["seed"]): r for r in read_jsonl(jsonl)}
            if jsonl is not None and jsonl.exists() else {})
    for name in names:
        r = done.get((name, seed))
        if r is None:
            r = run(name)
            if jsonl is not None:
                with jsonl.open("a") as f:
                    f.write(json.dumps(r) + "\n")
        yield r
