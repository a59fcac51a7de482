"""How close the learner's static match curve comes to a chain's true one, without learning.

For each case the curve that `anchor_cab` starts a linear chain's cabinet from (the long-term
match of chain(A) against B, and the note-by-note match that replaces it where the two takes
share notes) is set beside the chain's true transfer, measured paired on take B: band levels of
chain(B) over B in the same bands. Seconds a case, so a change to the static match can be
tried on every case before the learner is run. Meaningful on chains that are linear or close
to it (the default chains below); a drive's transfer depends on the level.

    python bench/bench_note_match.py [--cases bench/cases/quick bench/cases/probe ...]
        [--chains linear_eq_cab eq_cab ...] [--md bench/results/note_match.md]

Error: RMS (dB) of estimate minus truth over the bands from 100 Hz to 8 kHz, both taken to
zero mean there first (the cabinet's level is the output gain's job); `low` is the same over
80-400 Hz, where which notes were played weighs most.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from audio_util import read_mono, write_text

from tonemorph.chain.config import ChainConfig
from tonemorph.dsp.noise import noise_floor_power
from tonemorph.features.notes import note_matched_db, note_spectra, with_floor
from tonemorph.learn.fit import INIT_FFT, INIT_HOP, NoteBands, _mean_power, band_power_db

HERE = Path(__file__).resolve().parent
SR = 48000
LINEAR_CHAINS = ("linear_eq_cab", "eq_cab", "saturator_eq")


def _power(x: np.ndarray) -> torch.Tensor:
    """Mean power spectrum of x's non-silent INIT_FFT frames, as the learner measures it."""
    with torch.no_grad():
        return _mean_power(torch.from_numpy(x.astype(np.float32))[None], INIT_FFT, INIT_HOP, 0)


def _centred(curve: np.ndarray, band_hz: np.ndarray) -> np.ndarray:
    """curve less its mean over 100 Hz-8 kHz."""
    mid = (band_hz > 100) & (band_hz < 8000)
    return curve - float(np.mean(curve[mid]))


def curves(case_dir: Path) -> dict[str, np.ndarray]:
    """The plain and note-matched estimates and the paired truth (dB per cab band), centred."""
    y = read_mono(case_dir / "A_target.wav")
    x = read_mono(case_dir / "B_input.wav")
    bt = read_mono(case_dir / "B_truth.wav")
    band_hz = ChainConfig(sample_rate=SR).band_hz()
    window = torch.hann_window(INIT_FFT).numpy()
    t_floor = noise_floor_power(y, INIT_FFT, INIT_HOP, window)
    in_floor = noise_floor_power(x, INIT_FFT, INIT_HOP, window)
    plain = (band_power_db(_power(y), band_hz, SR, floor=t_floor)
             - band_power_db(_power(x), band_hz, SR, floor=in_floor))
    target, inp = with_floor(note_spectra(y, SR), y), with_floor(note_spectra(x, SR), x)
    t_db, in_db = NoteBands(target, inp, SR).levels_db(band_hz)
    by_note = note_matched_db(t_db, target, in_db, inp, band_hz, plain)
    truth = (band_power_db(_power(bt), band_hz, SR, wide_low=False)
             - band_power_db(_power(x), band_hz, SR, wide_low=False))
    out = {"plain": plain, "truth": truth, "notes": plain if by_note is None else by_note}
    return {k: _centred(v, band_hz) for k, v in out.items()}


def errors(c: dict[str, np.ndarray], band_hz: np.ndarray) -> dict[str, float]:
    """RMS error (dB) of each estimate against the truth, 100 Hz-8 kHz and 80-400 Hz."""
    mid = (band_hz > 100) & (band_hz < 8000)
    low = (band_hz >= 80) & (band_hz <= 400)
    res = {}
    for name in ("plain", "notes"):
        d = c[name] - c["truth"]
        res[name] = float(np.sqrt(np.mean(d[mid] ** 2)))
        res[name + "_low"] = float(np.sqrt(np.mean(d[low] ** 2)))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=Path, nargs="+",
                    default=[HERE / "cases" / "quick", HERE / "cases" / "probe",
                             HERE / "cases" / "chords"])
    ap.add_argument("--chains", nargs="+", default=list(LINEAR_CHAINS))
    ap.add_argument("--md", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    band_hz = ChainConfig(sample_rate=SR).band_hz()
    rows = []
    for root in args.cases:
        for d in sorted(p for p in root.glob("*/*") if (p / "case.json").exists()):
            if d.name not in args.chains:
                continue
            e = errors(curves(d), band_hz)
            rows.append({"case": f"{d.parent.name}/{d.name}", **e})
            print(f"{rows[-1]['case']:36s} plain {e['plain']:5.2f} ({e['plain_low']:5.2f})  "
                  f"notes {e['notes']:5.2f} ({e['notes_low']:5.2f})", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "case"}
    print(f"{'mean':36s} plain {mean['plain']:5.2f} ({mean['plain_low']:5.2f})  "
          f"notes {mean['notes']:5.2f} ({mean['notes_low']:5.2f})")
    if args.json:
        write_text(args.json, json.dumps({"rows": rows, "mean": mean}, indent=1))
    if args.md:
        lines = ["# The static match curve against the chain's true one", "",
                 "Generated by `bench/bench_note_match.py` (no learning): RMS error (dB) of the "
                 "long-term match ('plain') and of the note-by-note match that replaces it "
                 "('notes', the plain one where the takes share too few notes) against the "
                 "chain's transfer measured paired on take B, 100 Hz-8 kHz and 80-400 Hz, "
                 "both curves at zero mean over 100 Hz-8 kHz.", "",
                 "| case | plain dB | plain 80-400 Hz | notes dB | notes 80-400 Hz |",
                 "|---|---|---|---|---|"]
        lines += [f"| {r['case']} | {r['plain']:.2f} | {r['plain_low']:.2f} | {r['notes']:.2f} "
                  f"| {r['notes_low']:.2f} |" for r in [*rows, {"case": "mean", **mean}]]
        write_text(args.md, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
