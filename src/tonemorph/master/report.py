"""What a mastering run changed: per track before/after vs reference, the applied settings."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tonemorph.io.paths import write_text_atomic

__all__ = ["MasterReport", "Measures", "TrackReport", "summary_rows"]


@dataclass(frozen=True)
class Measures:
    """Loudness (LUFS), true peak (dBTP), crest factor (dB) and width (side/mid dB) of audio."""

    lufs: float
    true_peak_dbtp: float
    crest_db: float | None = None
    width_db: float | None = None


@dataclass
class TrackReport:
    """One mastered file: its path, measures before and after, limiter work, shortfall."""

    mix: str
    output: str | None
    sample_rate: int
    channels: int
    subtype: str
    seconds: float
    before: Measures
    after: Measures
    limiter_max_gr_db: float
    limiter_mean_gr_db: float
    compressor_mean_gr_db: float
    passes: int
    dithered_bits: int | None = None
    audio: np.ndarray | None = field(default=None, repr=False)


@dataclass
class MasterReport:
    """The whole run: reference measures, target, settings applied, tracks, notes."""

    reference: str
    reference_measures: Measures
    target_lufs: float
    ceiling_dbtp: float
    amount: float
    matched: list[str]
    settings: dict
    tracks: list[TrackReport]
    notes: list[str]
    seconds: float = 0.0
    amounts: dict[str, float] = field(default_factory=dict)

    @property
    def track(self) -> TrackReport:
        """The first (for a single mix, the only) track."""
        return self.tracks[0]

    @property
    def shortfall_lu(self) -> float:
        """How far the loudest-reaching result stays below the target (LU, >= 0)."""
        lufs = [t.after.lufs for t in self.tracks]
        return max(0.0, self.target_lufs - max(lufs)) if lufs else 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict (no audio arrays; NaN/inf as null)."""
        tracks = []
        for t in self.tracks:
            d = asdict(t)
            d.pop("audio", None)
            tracks.append(d)
        doc = {
            "format": "tonemorph-master-report",
            "format_version": 1,
            "reference": self.reference,
            "reference_measures": asdict(self.reference_measures),
            "target_lufs": self.target_lufs,
            "ceiling_dbtp": self.ceiling_dbtp,
            "amount": self.amount,
            "amounts": self.amounts,
            "matched": self.matched,
            "settings": self.settings,
            "tracks": tracks,
            "shortfall_lu": self.shortfall_lu,
            "notes": self.notes,
            "seconds": self.seconds,
        }
        return _finite(doc)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
        """Write the JSON report atomically (temp file + rename)."""
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        return write_text_atomic(path, text, overwrite=overwrite)


def _finite(obj):
    """Replace NaN/inf floats by None and numpy scalars/arrays by plain Python, recursively."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _fmt(value: float | None, unit: str, signed: bool = False) -> str:
    """A number with its unit for tables; "-" when missing."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.1f} {unit}" if signed else f"{value:.1f} {unit}"


def summary_rows(report: MasterReport) -> list[tuple[str, str, str, str]]:
    """Rows (what, mix, master, reference) for a printed table of what changed."""
    ref = report.reference_measures
    rows: list[tuple[str, str, str, str]] = []
    for t in report.tracks:
        name = Path(t.mix).name if len(report.tracks) > 1 else ""
        pre = f"{name}: " if name else ""
        rows.append((f"{pre}loudness", _fmt(t.before.lufs, "LUFS"), _fmt(t.after.lufs, "LUFS"),
                     _fmt(ref.lufs, "LUFS")))
        rows.append((f"{pre}true peak", _fmt(t.before.true_peak_dbtp, "dBTP"),
                     _fmt(t.after.true_peak_dbtp, "dBTP"), _fmt(ref.true_peak_dbtp, "dBTP")))
        rows.append((f"{pre}crest factor", _fmt(t.before.crest_db, "dB"),
                     _fmt(t.after.crest_db, "dB"), _fmt(ref.crest_db, "dB")))
        if t.channels == 2:
            rows.append((f"{pre}width (side/mid)", _fmt(t.before.width_db, "dB"),
                         _fmt(t.after.width_db, "dB"), _fmt(ref.width_db, "dB")))
    st = report.settings
    rows.append(("gain", "", _fmt(st["total_gain_db"], "dB", signed=True), ""))
    for key, label in (("eq_mid_db", "EQ mid"), ("eq_side_db", "EQ side")):
        curve = st.get(key)
        if curve:
            bands = " ".join(f"{_band(hz)}:{db:+.1f}" for hz, db in zip(st["eq_bands_hz"], curve))
            rows.append((label, "", bands, ""))
    if abs(st["side_gain_db"]) > 0.05:
        rows.append(("side level (width)", "", _fmt(st["side_gain_db"], "dB", signed=True), ""))
    if st.get("mono_bass_hz"):
        rows.append(("mono below", "", _fmt(st["mono_bass_hz"], "Hz"), ""))
    d = st["density"]
    if d["ratio"] > 1.0 + 1e-6:
        gr = max(t.compressor_mean_gr_db for t in report.tracks)
        rows.append(("compression", "", f"{d['ratio']:.1f}:1 above {d['threshold_db']:.1f} dBFS, "
                     f"{d['attack_ms']:.1f}/{d['release_ms']:.0f} ms, mean {gr:.1f} dB", ""))
    if d["clip_db"] < 39.0:
        rows.append(("saturation", "", f"soft clip at {d['clip_db']:+.1f} dBFS", ""))
    lim = max(t.limiter_max_gr_db for t in report.tracks)
    mean = max(t.limiter_mean_gr_db for t in report.tracks)
    rows.append(("limiter", "", f"max {lim:.1f} dB, mean {mean:.2f} dB", ""))
    return rows


def _band(hz: float) -> str:
    """Band label: 63 -> "63", 2000 -> "2k"."""
    return f"{hz / 1000:g}k" if hz >= 1000 else f"{hz:g}"
