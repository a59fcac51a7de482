"""Benchmark target chains: third-party effects (LV2 plugins, sox, cabinet IRs) as stages.

Each ``Chain`` in ``CHAIN_LIST`` stands for one kind of tone (clean EQ + cab, light overdrive,
high-gain, fuzz, heavy compression, sag / slow time constants, ...); two are ``heldout`` (kept
out of all tuning). ``verify_chain`` measures a chain's THD on sines by input level.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from audio_util import SR, db_to_gain, fit_length, peak_db, read_mono, run_command, write_wav
from lv2host import run_lv2_file

PREROLL_S = 1.0  # silence fed to a chain before the audio (lets plugins settle), trimmed after
TMP_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None  # temp files in RAM if possible
IR_DIR = Path("/usr/share/gx_head/sounds/amps")
GX = "http://guitarix.sourceforge.net/plugins/"
CALF = "http://calf.sourceforge.net/plugins/"
LSP = "http://lsp-plug.in/plugins/lv2/"
X42 = "http://gareus.org/oss/lv2/"


# --------------------------------------------------------------------------------------------
# Effect stages (third-party processors run as subprocesses, or a plain IR convolution)
# --------------------------------------------------------------------------------------------


class Stage:
    """One processing step working on float32 mono arrays at 48 kHz (length preserving)."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Process ``x`` and return an array of the same length."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """JSON-able description of the stage for the manifest."""
        raise NotImplementedError


@dataclass
class Lv2(Stage):
    """An LV2 plugin run offline in a subprocess (``lv2host.run_lv2_file``; first output kept)."""

    uri: str
    controls: dict[str, float] = field(default_factory=dict)
    label: str = ""
    linear: bool = False  # an EQ plugin: no drive, no dynamics

    def apply(self, x: np.ndarray) -> np.ndarray:
        with tempfile.TemporaryDirectory(prefix="tm_lv2_", dir=TMP_DIR) as tmp:
            src, dst = Path(tmp, "in.wav"), Path(tmp, "out.wav")
            sf.write(str(src), x.astype(np.float32), SR, subtype="FLOAT")
            run_lv2_file(src, dst, self.uri, self.controls)
            y, _ = sf.read(str(dst), dtype="float32", always_2d=True)
        y = y[:, 0]
        if not np.all(np.isfinite(y)):
            raise RuntimeError(f"{self.uri} produced non-finite samples")
        return fit_length(y, len(x))

    def describe(self) -> dict[str, Any]:
        return {"type": "lv2", "plugin": self.label, "uri": self.uri, "controls": self.controls}


@dataclass
class Sox(Stage):
    """A ``sox`` effects chain (float WAV in and out; clipping inside sox is an error)."""

    effects: list[str]

    def apply(self, x: np.ndarray) -> np.ndarray:
        if np.max(np.abs(x)) > 1.0:
            raise RuntimeError("sox stage input exceeds full scale; lower the preceding gain")
        with tempfile.TemporaryDirectory(prefix="tm_sox_", dir=TMP_DIR) as tmp:
            src, dst = Path(tmp, "in.wav"), Path(tmp, "out.wav")
            sf.write(str(src), x.astype(np.float32), SR, subtype="FLOAT")
            proc = run_command(["sox", "-V2", str(src), "-e", "floating-point", "-b", "32",
                                str(dst)] + self.effects)
            if "clipped" in proc.stderr:
                raise RuntimeError(f"sox clipped: {' '.join(self.effects)}\n{proc.stderr}")
            y, _ = sf.read(str(dst), dtype="float32", always_2d=True)
        return fit_length(y[:, 0], len(x))

    def describe(self) -> dict[str, Any]:
        return {"type": "sox", "effects": " ".join(self.effects)}


@dataclass
class Cab(Stage):
    """Cabinet impulse response (guitarix-common), resampled to 48 kHz, convolved with scipy.

    The IR is scaled so its magnitude response peaks at 0 dB, then ``gain_db`` is applied.
    """

    ir_name: str
    gain_db: float = 0.0

    def ir(self) -> np.ndarray:
        """The normalised 48 kHz impulse response (times ``gain_db``)."""
        return _load_ir(self.ir_name) * db_to_gain(self.gain_db)

    def apply(self, x: np.ndarray) -> np.ndarray:
        from scipy.signal import fftconvolve

        return fftconvolve(x.astype(np.float64), self.ir())[: len(x)].astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {"type": "cabinet_ir", "ir": f"{IR_DIR}/{self.ir_name}.wav",
                "normalisation": "max |H(f)| = 0 dB", "gain_db": self.gain_db}


@dataclass
class Gain(Stage):
    """Fixed gain in dB."""

    db: float

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x * db_to_gain(self.db)).astype(np.float32)

    def describe(self) -> dict[str, Any]:
        return {"type": "gain", "db": self.db}


@cache
def _load_ir(name: str) -> np.ndarray:
    """A guitarix cabinet IR at 48 kHz, scaled so max |H(f)| = 1."""
    h = read_mono(IR_DIR / f"{name}.wav").astype(np.float64)
    return h / np.abs(np.fft.rfft(h, 1 << 16)).max()



@dataclass
class Chain:
    """A named target chain; calling it as ``chain(in_wav, out_wav)`` processes a file."""

    name: str
    summary: str
    stages: list[Stage]
    heldout: bool = False
    kind: str = ""  # what kind of tone it stands for (clean EQ+cab, fuzz, ...)

    @property
    def linear(self) -> bool:
        """True when every stage is linear (no drive, no dynamics)."""
        return all(isinstance(s, (Cab, Gain)) or (isinstance(s, Lv2) and s.linear)
                   or (isinstance(s, Sox) and not any(
                       e in ("overdrive", "compand") for e in s.effects)) for s in self.stages)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Run the stages on a mono 48 kHz array, with a silent pre-roll trimmed afterwards."""
        pad = int(PREROLL_S * SR)
        y = np.concatenate([np.zeros(pad, np.float32), x.astype(np.float32)])
        for stage in self.stages:
            y = stage.apply(y)
        return np.ascontiguousarray(y[pad:], dtype=np.float32)

    def __call__(self, in_wav: Path | str, out_wav: Path | str) -> None:
        write_wav(out_wav, self.process(read_mono(in_wav)), subtype="FLOAT")

    def describe(self) -> dict[str, Any]:
        """Manifest entry for this chain."""
        return {"summary": self.summary, "heldout": self.heldout, "kind": self.kind,
                "linear": self.linear, "stages": [s.describe() for s in self.stages]}


CHAIN_LIST: list[Chain] = [
    Chain(
        "amp_crunch",
        "guitarix Redeye 'Chump' tube amp model at moderate gain (clean when picked softly, "
        "crunchy when hard) -> Marshall JMP 2203 cabinet IR",
        [
            Lv2(GX + "gx_redeye#chump", {"Gain": 0.35, "Tone": 0.55, "Volume": 0.5},
                "guitarix GxChump (Redeye)"),
            Cab("Marshall JMP 2203  Jose Arredondo mod", gain_db=6.0),
        ],
        kind="light overdrive (amp crunch)",
    ),
    Chain(
        "comp_dist_cab",
        "Calf Mono Compressor (fast attack, ratio 8) BEFORE guitarix Muff fuzz/distortion "
        "-> Mesa Boogie Mark V cabinet IR",
        [
            Lv2(CALF + "MonoCompressor",
                {"threshold": 0.05, "ratio": 8.0, "attack": 0.5, "release": 60.0,
                 "makeup": 4.0, "knee": 2.0},
                "Calf Mono Compressor"),
            Lv2(GX + "gx_muff_#_muff_", {"TONE": 0.6, "VOLUME": 0.5}, "guitarix GxMuff"),
            Cab("Mesa Boogie Mark V", gain_db=5.0),
        ],
        kind="compressor into distortion",
    ),
    Chain(
        "heavy_drive_cab",
        "guitarix Tube Screamer as a boost -> guitarix Metal Head amp (high gain) "
        "-> EVH 5150 III cabinet IR",
        [
            Lv2(GX + "gxts9#ts9sim", {"fslider2_": 0.3, "fslider1_": 700.0, "fslider0_": 0.0},
                "guitarix GxTubeScreamer (fslider2_=Drive, fslider1_=Tone Hz, fslider0_=Level dB)"),
            Lv2(GX + "gxmetal_head#metal_head",
                {"HIGHGAIN": 1.0, "DRIVE": 0.85, "PREGAIN": 6.0, "GAIN1": 12.0, "TONE": 0.5},
                "guitarix GxMetal Head"),
            Cab("EVH 5150 III", gain_db=1.0),
        ],
        kind="high-gain amp + cab",
    ),
    Chain(
        "linear_eq_cab",
        "sox EQ (highpass 80 Hz, -4 dB at 400 Hz, +5 dB at 2.2 kHz, treble -4 dB) "
        "-> Engl Retro Tube cabinet IR; no nonlinearity",
        [
            Gain(-9.0),  # headroom: sox works in fixed point and must not clip
            Sox(["highpass", "80", "equalizer", "400", "1.0q", "-4",
                 "equalizer", "2200", "0.8q", "5", "treble", "-4", "6000"]),
            Gain(9.0),
            Cab("Engl Retro Tube", gain_db=3.0),
        ],
        kind="clean EQ + cab",
    ),
    Chain(
        "fuzz_cab",
        "guitarix Fuzz Face (strongly asymmetric, even harmonics) -> Kaos Sludge 15 cabinet IR",
        [
            Lv2(GX + "gx_fuzzface_#_fuzzface_", {"FUZZ": 0.8, "LEVEL": 0.5},
                "guitarix GxFuzzFace"),
            Cab("Kaos Sludge 15", gain_db=3.0),
        ],
        heldout=True,
        kind="fuzz",
    ),
    Chain(
        "compand_overdrive",
        "sox compand (5 ms attack, 800 ms release, up to +8 dB below -40 dB, 2:1 above -20 dB) "
        "-> sox overdrive (gain 20, colour 40) -> sox EQ/lowpass as a crude cab; no IR",
        [
            Gain(-12.0),  # headroom: the compander's boost must not clip inside sox
            Sox(["compand", "0.005,0.8", "6:-70,-70,-40,-32,-20,-20,0,-10", "0", "-20",
                 "overdrive", "20", "40",
                 "gain", "-7",
                 "highpass", "90", "equalizer", "120", "1.0q", "3",
                 "equalizer", "1800", "0.7q", "4", "lowpass", "4500", "lowpass", "6000"]),
        ],
        heldout=True,
        kind="compander + overdrive, slow release",
    ),
]
CHAIN_LIST += [
    Chain(
        "heavy_comp_cab",
        "LSP Compressor Mono (ratio 12, threshold -34 dBFS, 2 ms attack, 120 ms release, +20 dB "
        "makeup) -> x42 dpl peak limiter (-1 dBFS) -> Marshall MG 15 cabinet IR; no distortion",
        [
            Lv2(LSP + "compressor_mono",
                {"cr": 12.0, "al": db_to_gain(-34.0), "at": 2.0, "rt": 120.0,
                 "kn": db_to_gain(-6.0), "mk": db_to_gain(20.0)},
                "LSP Compressor Mono (al=attack threshold, linear; mk=makeup, linear)"),
            Lv2(X42 + "dpl#mono", {"gain": 0.0, "threshold": -1.0, "release": 0.05},
                "x42 dpl Digital Peak Limiter"),
            Cab("Marshall MG 15", gain_db=4.0),
        ],
        kind="heavy compression",
    ),
    Chain(
        "sag_preamp_cab",
        "LSP Compressor Mono with slow, sag-like time constants (60 ms attack, 1.5 s release, "
        "ratio 3 above -30 dBFS) -> guitarix Studio Preamp (tube, light overdrive) "
        "-> Splawn Quick Rod cabinet IR",
        [
            Lv2(LSP + "compressor_mono",
                {"cr": 3.0, "al": db_to_gain(-30.0), "at": 60.0, "rt": 1500.0,
                 "mk": db_to_gain(6.0)},
                "LSP Compressor Mono (slow)"),
            Lv2(GX + "gx_studiopre#studiopre", {"volume": 0.7, "master": 0.5},
                "guitarix Studio Preamp"),
            Cab("Splawn Quick Rod", gain_db=8.0),
        ],
        kind="sag / slow time constants",
    ),
]
CHAINS: dict[str, Chain] = {c.name: c for c in CHAIN_LIST}

# Tuning chains outside the default suite (`suite.py --chains NAME`): more of a family whose
# only other members are a tuning chain and the held-out pair, so that a change aimed at it
# can be judged before the held-out chains see it (a slow compressor before a light drive:
# sag_preamp_cab; the held-out compand_overdrive is of the same family).
EXTRA_CHAIN_LIST: list[Chain] = [
    Chain(
        "slow_comp_crunch_cab",
        "Calf Mono Compressor with slow time constants (40 ms attack, 600 ms release, ratio 4 "
        "above -24 dBFS) -> guitarix Redeye 'Chump' amp at moderate gain -> Mesa Boogie Mark V "
        "cabinet IR",
        [
            Lv2(CALF + "MonoCompressor",
                {"threshold": db_to_gain(-24.0), "ratio": 4.0, "attack": 40.0,
                 "release": 600.0, "makeup": db_to_gain(6.0), "knee": 2.0},
                "Calf Mono Compressor (slow)"),
            Lv2(GX + "gx_redeye#chump", {"Gain": 0.45, "Tone": 0.5, "Volume": 0.5},
                "guitarix GxChump (Redeye)"),
            Cab("Mesa Boogie Mark V", gain_db=4.0),
        ],
        kind="slow compressor into a crunch amp",
    ),
]

# Probe chains: plugins and cabinets no other chain uses, in the kinds of tone an outside
# evaluation would try (a pedal, an amp, mild saturation without a cab, a compressor with EQ,
# a plain EQ + cab), built to find where the learner fails on gear it was never tuned on. Once
# looked at they are tuning chains, like every chain outside the held-out pair.
PROBE_CHAIN_LIST: list[Chain] = [
    Chain(
        "ds1_cab",
        "guitarix Boss DS-1 distortion pedal (drive 0.6) -> Blackat Leon S7 cabinet IR",
        [
            Lv2(GX + "gx_bossds1_#_bossds1_", {"DRIVE": 0.6, "TONE": 0.5, "LEVEL": -6.0},
                "guitarix GxBossDS1"),
            Cab("Blackat Leon S7", gain_db=3.0),
        ],
        kind="distortion pedal + cab",
    ),
    Chain(
        "w20_cab",
        "guitarix W20 tube amp at low gain (clean when soft, crunchy when hard) -> Laney "
        "Ironheart cabinet IR",
        [
            Lv2(GX + "gx_w20#w20", {"gain": 0.25, "level": 0.5}, "guitarix Gx w20"),
            Cab("Laney ironheart", gain_db=3.0),
        ],
        kind="tube amp crunch + cab",
    ),
    Chain(
        "saturator_eq",
        "Calf Saturator (drive 2, mild tube colour) -> Calf Equalizer 8 Band (low shelf +4 dB "
        "at 120 Hz, -3 dB at 600 Hz, high shelf -6 dB at 4 kHz); no cabinet",
        [
            Lv2(CALF + "Saturator", {"drive": 2.0, "blend": 5.0, "level_in": 1.0,
                                     "level_out": 1.0}, "Calf Saturator"),
            Lv2(CALF + "Equalizer8Band",
                {"ls_active": 1.0, "ls_level": db_to_gain(4.0), "ls_freq": 120.0,
                 "p2_active": 1.0, "p2_level": db_to_gain(-3.0), "p2_freq": 600.0,
                 "hs_active": 1.0, "hs_level": db_to_gain(-6.0), "hs_freq": 4000.0},
                "Calf Equalizer 8 Band", linear=True),
        ],
        kind="mild saturation + EQ, no cab",
    ),
    Chain(
        "comp_eq_cab",
        "Calf Compressor (ratio 4 above -26 dBFS, 8 ms attack, 200 ms release, +10 dB makeup) "
        "-> Calf Equalizer 8 Band (+4 dB at 1.5 kHz) -> Peavey Vypyr 15 cabinet IR",
        [
            Lv2(CALF + "Compressor",
                {"threshold": db_to_gain(-26.0), "ratio": 4.0, "attack": 8.0,
                 "release": 200.0, "makeup": db_to_gain(10.0), "knee": 2.0},
                "Calf Compressor"),
            Lv2(CALF + "Equalizer8Band",
                {"p3_active": 1.0, "p3_level": db_to_gain(4.0), "p3_freq": 1500.0},
                "Calf Equalizer 8 Band", linear=True),
            Cab("Peavey Vypyr 15", gain_db=3.0),
        ],
        kind="compressor + EQ + cab",
    ),
    Chain(
        "eq_cab",
        "Calf Equalizer 8 Band (highpass 100 Hz, -5 dB at 800 Hz, +4 dB at 3 kHz, lowpass "
        "7 kHz) -> Krank Krankenstein cabinet IR; no nonlinearity",
        [
            Lv2(CALF + "Equalizer8Band",
                {"hp_active": 1.0, "hp_freq": 100.0, "lp_active": 1.0, "lp_freq": 7000.0,
                 "p2_active": 1.0, "p2_level": db_to_gain(-5.0), "p2_freq": 800.0,
                 "p3_active": 1.0, "p3_level": db_to_gain(4.0), "p3_freq": 3000.0},
                "Calf Equalizer 8 Band", linear=True),
            Cab("Krank Krankenstein", gain_db=3.0),
        ],
        kind="clean EQ + cab",
    ),
    Chain(
        "mxr_cab",
        "guitarix MXR Distortion+ (drive 0.7) -> Splawn Nitro cabinet IR",
        [
            Lv2(GX + "gx_mxrdist_#_mxrdist_", {"DRIVE": 0.7, "VOLUME": 0.5},
                "guitarix GxMXR Distortion+"),
            Cab("Splawn Nitro", gain_db=3.0),
        ],
        kind="distortion pedal + cab",
    ),
]
EXTRA_CHAIN_LIST += PROBE_CHAIN_LIST
# Added 2026-12-07 as a check nothing was ever tuned on: plugins and cabinet IRs no other
# chain uses, looked at once (bench/results/fresh.md); keep them out of all tuning.
FRESH_CHAIN_LIST: list[Chain] = [
    Chain(
        "fresh_ts9_cab",
        "guitarix Tube Screamer TS9 (drive 0.6, tone 500 Hz) -> DV Mark Triple 6 cabinet IR "
        "(the tuning chain heavy_drive_cab has the TS9 too, as a low-drive boost before its "
        "amp; here it is the drive)",
        [
            Lv2(GX + "gxts9#ts9sim", {"fslider2_": 0.6, "fslider1_": 500.0, "fslider0_": -6.0},
                "guitarix GxTubeScreamer"),
            Cab("DV Mark Triple 6", gain_db=3.0),
        ],
        heldout=True,
        kind="overdrive pedal + cab",
    ),
    Chain(
        "fresh_metal_cab",
        "guitarix Metal Amp (drive 4 of 20, tone 0.5) -> Cicognani Imperivm Luxury cabinet IR",
        [
            Lv2(GX + "gxmetal_amp#metal_amp", {"DRIVE": 4.0, "TONE": 0.5},
                "guitarix GxMetal Amp"),
            Cab("Cicognani Imperivm Luxury", gain_db=3.0),
        ],
        heldout=True,
        kind="metal amp + cab",
    ),
    Chain(
        "fresh_comp_eq_cab",
        "guitarix Compressor (ratio 4 above -28 dBFS, 10 ms attack, 150 ms release) -> Calf "
        "Equalizer 8 Band (+3 dB at 2.5 kHz, -3 dB low shelf at 150 Hz) -> Taurus Stomphead "
        "cabinet IR; no distortion",
        [
            Lv2(GX + "gx_compressor#_compressor",
                {"RATIO": 4.0, "THRESHOLD": -28.0, "ATTACK": 0.01, "RELEASE": 0.15},
                "guitarix Compressor"),
            Lv2(CALF + "Equalizer8Band",
                {"ls_active": 1.0, "ls_level": db_to_gain(-3.0), "ls_freq": 150.0,
                 "p3_active": 1.0, "p3_level": db_to_gain(3.0), "p3_freq": 2500.0},
                "Calf Equalizer 8 Band", linear=True),
            Cab("Taurus Stomphead", gain_db=6.0),
        ],
        heldout=True,
        kind="compressor + EQ + cab",
    ),
    Chain(
        "fresh_bmp_cab",
        "guitarix Big Muff Pi (sustain 0.7) -> Randall thrasher cabinet IR",
        [
            Lv2(GX + "gx_bmp_#_bmp_", {"SUSTAIN": 0.7, "TONE": 0.5, "VOLUME": 0.5},
                "guitarix GxBigMuffPi"),
            Cab("Randall thrasher", gain_db=3.0),
        ],
        heldout=True,
        kind="fuzz / sustain pedal + cab",
    ),
]
# A second fresh set, made when the first had been looked at (2026-12-07): the check of any
# change the first set led to; the same rules.
FRESH2_CHAIN_LIST: list[Chain] = [
    Chain(
        "fresh2_bigchump_cab",
        "guitarix Redeye 'Big Chump' tube amp (gain 0.5) -> Engl Special Edition cabinet IR",
        [
            Lv2(GX + "gx_redeye#bigchump", {"Gain": 0.5, "Tone": 0.5, "Volume": 0.5},
                "guitarix GxBigChump (Redeye)"),
            Cab("Engl Special Edition", gain_db=3.0),
        ],
        heldout=True,
        kind="tube amp crunch + cab",
    ),
    Chain(
        "fresh2_susta_cab",
        "guitarix Sustainer (sustain 0.6) -> Fortin Natas cabinet IR",
        [
            Lv2(GX + "gx_susta_#_susta_", {"SUSTAIN": 0.6, "VOLUME": 0.5},
                "guitarix GxSustainer"),
            Cab("Fortin Natas", gain_db=3.0),
        ],
        heldout=True,
        kind="sustainer + cab",
    ),
    Chain(
        "fresh2_hogsfoot_cab",
        "guitarix Hog's Foot bass booster (linear at every level measured) -> Randall Satan "
        "cabinet IR",
        [
            Lv2(GX + "gx_hogsfoot_#_hogsfoot_", {"VOLUME": 0.5, "WET_DRY": 100.0},
                "guitarix GxHogsFoot"),
            Cab("Randall Satan", gain_db=3.0),
        ],
        heldout=True,
        kind="bass booster + cab (linear)",
    ),
    Chain(
        "fresh2_scream_cab",
        "guitarix Screaming Bird treble booster (scream 0.6; clips only near full scale) -> "
        "MakosampCustomHatred cabinet IR",
        [
            Lv2(GX + "gx_scream_#_scream_", {"SCREAM": 0.6}, "guitarix GxScreamingBird"),
            Cab("MakosampCustomHatred", gain_db=3.0),
        ],
        heldout=True,
        kind="treble booster + cab (nearly linear)",
    ),
]
ALL_CHAINS: dict[str, Chain] = {
    **CHAINS, **{c.name: c for c in (*EXTRA_CHAIN_LIST, *FRESH_CHAIN_LIST, *FRESH2_CHAIN_LIST)}}
CHAIN_KINDS = {name: c.kind for name, c in ALL_CHAINS.items()}


# --------------------------------------------------------------------------------------------
# Chain checks: crude THD on a sine at two levels
# --------------------------------------------------------------------------------------------


def sine(level_db: float, freq: float = 220.0, dur: float = 2.0) -> np.ndarray:
    """A sine with the given peak level in dBFS."""
    t = np.arange(int(dur * SR)) / SR
    return (db_to_gain(level_db) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def thd_percent(y: np.ndarray, freq: float = 220.0) -> float:
    """THD (harmonics 2-10 over the fundamental, amplitude ratio) of a steady 1 s window."""
    seg = y[int(0.8 * SR): int(1.8 * SR)].astype(np.float64)
    seg = seg - seg.mean()
    spec = np.abs(np.fft.rfft(seg * np.blackman(len(seg))))

    def band(k: int) -> float:
        i = round(k * freq * len(seg) / SR)
        return float(np.sqrt(np.sum(spec[max(i - 4, 0): i + 5] ** 2)))

    harm = [band(k) for k in range(2, 11) if k * freq < SR / 2]
    return 100.0 * float(np.sqrt(np.sum(np.square(harm)))) / max(band(1), 1e-20)


def verify_chain(chain: Chain, soft_db: float = -30.0, loud_db: float = -6.0,
                 curve_db: Sequence[float] = (-40.0, -20.0, -12.0, -3.0)) -> dict[str, Any]:
    """THD and output level of a 220 Hz sine through the whole ``chain`` (cab included).

    ``soft``/``loud`` are the two headline levels (sine peak in dBFS); ``thd_curve_pct`` adds a
    few more. The cab IRs attenuate 220 Hz relative to its harmonics, so THD can exceed 100 %.
    """
    out: dict[str, Any] = {}
    curve: dict[str, float] = {}
    for level in sorted({soft_db, loud_db, *curve_db}):
        y = chain.process(sine(level))
        thd = round(thd_percent(y), 4)
        curve[f"{level:g}"] = thd
        for tag, ref in (("soft", soft_db), ("loud", loud_db)):
            if level == ref:
                out[f"thd_{tag}_pct"] = thd
                out[f"{tag}_in_dbfs"] = level
                out[f"{tag}_out_peak_dbfs"] = round(peak_db(y[int(0.5 * SR):]), 2)
    out["thd_curve_pct"] = curve
    return out
