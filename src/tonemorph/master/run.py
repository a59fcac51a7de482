"""Reference mastering, the orchestrator: check -> analyse -> fit stages on excerpts -> find the
output gain -> apply in blocks (dithered, atomic) -> report.

Every stage is a small tested function; this module only wires them: `fit_settings` turns
excerpts into rate-independent `MasterSettings`, `plan_for` makes a `MasterPlan` for one file's
rate, `find_output_gain` solves the loudness target under the ceiling, `write_track` streams.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO

import numpy as np

from tonemorph.dsp.dither import Ditherer, bits_of_subtype
from tonemorph.dsp.fir import next_pow2
from tonemorph.dsp.limiter import LimiterConfig, TruePeakLimiter, interval_peaks
from tonemorph.dsp.loudness import gated_lufs
from tonemorph.dsp.matcheq import active_rms_db
from tonemorph.dsp.meter import LoudnessMeter, StatsMeter, TruePeakMeter
from tonemorph.dsp.stereo import side_to_mid_db
from tonemorph.errors import AudioContentError, OutputPathError, ParameterError
from tonemorph.io import AtomicAudioWriter, AudioReader, check_outputs, os_reason, resample
from tonemorph.master.analysis import (
    TrackScan,
    check_active,
    excerpt_windows,
    read_excerpts,
    scan,
)
from tonemorph.master.config import MIN_REFERENCE_S, MasterConfig
from tonemorph.master.density import NEUTRAL, DensityParams, fit_density
from tonemorph.master.eq import (
    CURVE_BANDS_HZ,
    REPORT_BANDS_HZ,
    band_shape_db,
    band_values,
    centre_curve,
    consistent_curve_bands_db,
    curve_on_grid,
    design_fir,
    mean_log_spectrum_db,
    section_band_spectra_db,
)
from tonemorph.master.processor import MasterPlan, MasterProcessor, render
from tonemorph.master.report import MasterReport, Measures, TrackReport

__all__ = [
    "MasterSettings",
    "default_output_path",
    "eq_curve",
    "find_output_gain",
    "fit_settings",
    "master",
    "plan_for",
]

Progress = Callable[[str, int, int], None]

_BLOCK = 1 << 16
_FIT_RATE_REF = 44100
_MONO_SIDE_DB = -40.0  # side this far below mid: the mix is (near) mono, width is not matched
_MAX_SIDE_GAIN = 2.5
_FIT_MAX_RATE = 24000
_DENSITY_FIT_S = 8.0  # seconds of the excerpts the density stage is fitted on (fit time)
_LUFS_TOLERANCE = 0.25  # LU: a second pass corrects the gain beyond this
_MAX_PASSES = 3


@dataclass(frozen=True)
class MasterSettings:
    """Fitted, sample-rate independent settings (dB, Hz, ms); `plan_for` makes a plan per rate."""

    input_gain_db: float = 0.0
    eq_freqs_hz: np.ndarray | None = None
    eq_mid_db: np.ndarray | None = None
    eq_side_db: np.ndarray | None = None
    side_gain: float = 1.0
    mono_bass_hz: float | None = None
    density: DensityParams = NEUTRAL
    output_gain_db: float = 0.0
    phase: str = "linear"
    eq_taps: int = 4096
    limiter: LimiterConfig = field(default_factory=LimiterConfig)

    def summary(self) -> dict:
        """Settings for the report: gains in dB, EQ per octave band in dB, width, density."""
        doc: dict = {
            "input_gain_db": self.input_gain_db,
            "output_gain_db": self.output_gain_db,
            "total_gain_db": self.input_gain_db + self.output_gain_db,
            "eq_phase": self.phase,
            "eq_bands_hz": list(REPORT_BANDS_HZ),
            "eq_mid_db": None,
            "eq_side_db": None,
            "side_gain_db": 20.0 * math.log10(max(self.side_gain, 1e-10)),
            "mono_bass_hz": self.mono_bass_hz,
            "density": self.density.as_dict(),
            "limiter": asdict(self.limiter),
        }
        if self.eq_freqs_hz is not None and self.eq_mid_db is not None:
            doc["eq_mid_db"] = band_values(self.eq_freqs_hz, self.eq_mid_db)
            doc["eq_curve_hz"] = list(CURVE_BANDS_HZ)
            doc["eq_mid_curve_db"] = band_values(self.eq_freqs_hz, self.eq_mid_db,
                                                 CURVE_BANDS_HZ)
            if self.eq_side_db is not None:
                doc["eq_side_db"] = band_values(self.eq_freqs_hz, self.eq_side_db)
        return doc


def plan_for(settings: MasterSettings, sample_rate: int, channels: int) -> MasterPlan:
    """The `MasterPlan` of settings for audio at sample_rate (Hz) with 1 or 2 channels."""
    mid_ir = side_ir = None
    latency = 0
    if settings.eq_freqs_hz is not None and settings.eq_mid_db is not None:
        taps = max(256, int(round(settings.eq_taps * sample_rate / _FIT_RATE_REF / 2)) * 2)
        n_fft = max(next_pow2(2 * taps), 4096)
        grid = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
        # curves are in Hz: held flat beyond the fitted range (e.g. above 22 kHz at 96 kHz)
        mid = np.interp(grid, settings.eq_freqs_hz, settings.eq_mid_db)
        mid_ir, latency = design_fir(mid, taps, settings.phase)
        side_db = settings.eq_side_db if settings.eq_side_db is not None else settings.eq_mid_db
        side_ir, _ = design_fir(np.interp(grid, settings.eq_freqs_hz, side_db), taps,
                                settings.phase)
    return MasterPlan(
        sample_rate=int(sample_rate),
        channels=int(channels),
        input_gain_db=settings.input_gain_db,
        mid_ir=mid_ir,
        side_ir=side_ir,
        eq_latency=latency,
        side_gain=settings.side_gain,
        mono_bass_hz=settings.mono_bass_hz,
        density=settings.density,
        output_gain_db=settings.output_gain_db,
        limiter=settings.limiter,
    )


def _mid(x: np.ndarray) -> np.ndarray:
    """Mean of the channels (the mid of a stereo pair)."""
    return x.mean(axis=0)


def _side(x: np.ndarray) -> np.ndarray:
    """(L - R) / 2 of a stereo pair."""
    return (x[0] - x[1]) * 0.5


def fit_settings(
    mix: np.ndarray,
    ref: np.ndarray,
    sample_rate: int,
    cfg: MasterConfig,
    *,
    ref_is_mono: bool = False,
    notes: list[str] | None = None,
    spectra: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> MasterSettings:
    """Fit EQ, width and density on excerpts (channels, n) of the mix and the reference.

    Both at sample_rate; a stereo mix is matched per mid and side, a mono one on its only
    channel against the reference's mid. ``spectra`` may give whole-file mean log spectra
    ((freqs_hz, dB) for "mix_mid", "ref_mid", and "mix_side", "ref_side" for stereo) to match
    the EQ on instead of the excerpts. Loudness (the output gain) is left to
    `find_output_gain`.
    """
    notes = notes if notes is not None else []
    stereo = mix.shape[0] == 2
    amount = cfg.amount
    limiter = LimiterConfig(cfg.ceiling_dbtp, cfg.lookahead_ms, cfg.release_ms)
    settings = MasterSettings(phase=cfg.phase, eq_taps=cfg.eq_taps, limiter=limiter,
                              mono_bass_hz=cfg.mono_bass_hz if stereo else None)
    mix_mid, ref_mid = _mid(mix), _mid(ref)
    # level-match the mix to the reference before anything level-dependent
    gain_db = active_rms_db(ref_mid, sample_rate) - active_rms_db(mix_mid, sample_rate)
    settings = replace(settings, input_gain_db=gain_db)
    mix_side_db = side_to_mid_db(mix) if stereo else -200.0
    near_mono = mix_side_db < _MONO_SIDE_DB
    if cfg.matches("eq"):
        mix_side = _side(mix) if stereo else None
        freqs, mid_db = eq_curve(mix_mid, ref_mid, sample_rate, cfg, spectra, "mid")
        side_db = None
        if stereo and not ref_is_mono and not near_mono:
            _, side_db = eq_curve(mix_side, _side(ref), sample_rate, cfg, spectra, "side")
            side_db = side_db * amount
        settings = replace(settings, eq_freqs_hz=freqs, eq_mid_db=mid_db * amount,
                           eq_side_db=side_db)
    if stereo and cfg.matches("width"):
        if ref_is_mono:
            notes.append("the reference is mono: the mix's stereo width is kept")
        elif near_mono:
            notes.append(f"the mix is (near) mono (side {mix_side_db:.0f} dB below mid): "
                         "width is not matched")
        else:
            eq_only = render(plan_for(settings, sample_rate, 2), mix, limit=False)
            delta_db = side_to_mid_db(ref) - side_to_mid_db(eq_only)
            side_gain = min(max(10.0 ** (amount * delta_db / 20.0), 0.0), _MAX_SIDE_GAIN)
            settings = replace(settings, side_gain=side_gain)
    if cfg.matches("dynamics") and cfg.fit_steps >= 0 and amount > 0:
        pre = render(plan_for(settings, sample_rate, mix.shape[0]), mix, limit=False)
        fix_db = active_rms_db(ref_mid, sample_rate) - active_rms_db(_mid(pre), sample_rate)
        settings = replace(settings, input_gain_db=settings.input_gain_db + fix_db)
        pre_mid = _mid(pre) * 10.0 ** (fix_db / 20.0)
        # fitted at <= 24 kHz: level and crest distributions need no more bandwidth
        fit_rate = int(round(sample_rate / math.ceil(sample_rate / _FIT_MAX_RATE)))
        n_fit = int(_DENSITY_FIT_S * sample_rate)
        mix_fit = resample(_centre(pre_mid, n_fit), sample_rate, fit_rate)
        ref_fit = resample(_centre(ref_mid, n_fit), sample_rate, fit_rate)
        params, _ = fit_density(mix_fit, ref_fit, fit_rate, steps=cfg.fit_steps, seed=cfg.seed)
        settings = replace(settings, density=params.scaled(amount))
    return settings


def eq_curve(
    mix: np.ndarray,
    ref: np.ndarray,
    sample_rate: int,
    cfg: MasterConfig,
    spectra: dict[str, tuple[np.ndarray, np.ndarray]] | None,
    part: str,
) -> tuple[np.ndarray, np.ndarray]:
    """(freqs_hz, EQ curve dB) taking 1-D mix excerpts' balance to the reference's.

    The difference of the long-term balances (whole files when ``spectra`` has them, else
    the excerpts) is trusted only as far as it is consistent across sections of the two
    tracks (`consistent_curve_bands_db`): a reference is other music, and most of its balance
    is its arrangement, not its mastering.
    """
    if spectra is not None and f"mix_{part}" in spectra and f"ref_{part}" in spectra:
        freqs, sx = spectra[f"mix_{part}"]
        fy, sy = spectra[f"ref_{part}"]
        sy = np.interp(freqs, fy, sy)  # the reference may have another rate
    else:
        freqs, sx = mean_log_spectrum_db(mix, sample_rate)
        _, sy = mean_log_spectrum_db(ref, sample_rate)
    diff = band_shape_db(freqs, sy) - band_shape_db(freqs, sx)
    spread = np.sqrt(section_band_spectra_db(mix, sample_rate).var(axis=0)
                     + section_band_spectra_db(ref, sample_rate).var(axis=0))
    bands = consistent_curve_bands_db(diff, spread, prior_db=cfg.eq_prior_db,
                                      content_factor=cfg.eq_content_factor)
    curve = centre_curve(freqs, curve_on_grid(freqs, bands), sx)
    return freqs, np.clip(curve, -cfg.eq_max_db, cfg.eq_max_db)


def peak_to_loudness_ceiling(cfg: MasterConfig, target_lufs: float, ref_peak_dbtp: float,
                             ref_lufs: float) -> float:
    """Limiter ceiling (dBTP) giving the output the reference's peak-to-loudness ratio.

    Density is peak level relative to loudness: a reference peaking well below the ceiling
    (a quiet, open master) is matched by holding peaks as far below its loudness as the
    reference does. Never above cfg.ceiling_dbtp; `amount` moves it from the ceiling (0) to
    the matched value (1); only when dynamics are matched.
    """
    if not cfg.matches("dynamics") or cfg.amount <= 0:
        return cfg.ceiling_dbtp
    matched = target_lufs + (ref_peak_dbtp - ref_lufs)
    if matched >= cfg.ceiling_dbtp:
        return cfg.ceiling_dbtp
    return cfg.ceiling_dbtp + cfg.amount * (matched - cfg.ceiling_dbtp)


def _centre(x: np.ndarray, n: int) -> np.ndarray:
    """The middle n samples of x (all of it when shorter)."""
    if x.shape[-1] <= n:
        return x
    start = (x.shape[-1] - n) // 2
    return x[..., start : start + n]


def _lufs(x: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness (LUFS) of (channels, n) audio, metered in blocks (bounded memory)."""
    meter = LoudnessMeter(sample_rate, x.shape[0])
    for i in range(0, x.shape[1], _BLOCK):
        meter.add(x[:, i : i + _BLOCK])
    return meter.integrated_lufs()


def _limited_lufs(pre: np.ndarray, sample_rate: int, gain_db: float,
                  limiter: LimiterConfig, peaks: np.ndarray | None = None) -> tuple[float, float]:
    """(LUFS, max limiter gain reduction dB) of pre-limiter audio after gain and limiting.

    ``peaks``: the detector's `interval_peaks` of pre (padded by the limiter latency), reused
    across gains.
    """
    lim = TruePeakLimiter(sample_rate, pre.shape[0], limiter)
    meter = LoudnessMeter(sample_rate, pre.shape[0])
    gain = 10.0 ** (gain_db / 20.0)
    n = pre.shape[1]
    skip = lim.latency
    for i in range(0, n + lim.latency, _BLOCK):
        stop = min(i + _BLOCK, n + lim.latency)
        block = np.zeros((pre.shape[0], stop - i))
        if i < n:
            block[:, : min(stop, n) - i] = pre[:, i : min(stop, n)]
        y = lim.process(block * gain, peaks=None if peaks is None else peaks[i:stop] * gain)
        meter.add(y[:, skip:])
        skip = max(0, skip - y.shape[1])
    return meter.integrated_lufs(), lim.max_gain_reduction_db


def find_output_gain(
    pre: np.ndarray,
    sample_rate: int,
    target_lufs: float,
    limiter: LimiterConfig,
    *,
    offset_lu: float = 0.0,
    max_limiting_db: float = 9.0,
) -> tuple[float, float, bool]:
    """Output gain (dB) bringing limited pre-limiter excerpts to target_lufs + offset_lu.

    ``offset_lu`` is how much louder the excerpts are than the whole file. Secant steps on the
    gain inside a bracket; no gain is taken where the limiter would reduce peaks by more than
    max_limiting_db (the ceiling wins). Returns (gain_db, predicted whole-file LUFS, capped).
    """
    goal = target_lufs + offset_lu
    pre_lufs = _lufs(pre, sample_rate)
    peaks = interval_peaks(pre, pad=TruePeakLimiter(sample_rate, pre.shape[0], limiter).latency)
    lo, hi = -math.inf, math.inf
    lo_lufs = -math.inf
    gain = goal - pre_lufs
    prev: tuple[float, float] | None = None
    capped = False
    best = (gain, -math.inf)
    for _ in range(10):
        lufs, gr = _limited_lufs(pre, sample_rate, gain, limiter, peaks)
        if gr > max_limiting_db:
            hi, capped = gain, True
            gain = 0.5 * (lo + hi) if math.isfinite(lo) else gain - 2.0
            prev = None
            continue
        error = goal - lufs
        if error >= 0 and lufs > lo_lufs:
            lo, lo_lufs = gain, lufs
        if error < 0:
            hi = gain
        if abs(error) < abs(goal - best[1]):
            best = (gain, lufs)
        if abs(error) < 0.03 or hi - lo < 0.01:
            break
        slope = 1.0
        if prev is not None and gain != prev[0]:
            slope = min(max((lufs - prev[1]) / (gain - prev[0]), 0.1), 1.0)
        prev = (gain, lufs)
        step = gain + error / slope
        if not lo < step < hi:
            step = 0.5 * (lo + hi) if math.isfinite(lo) and math.isfinite(hi) else (
                hi - 0.5 if math.isfinite(hi) else lo + 3.0)
        gain = step
    if not math.isfinite(best[1]) and math.isfinite(lo):
        best = (lo, lo_lufs)
    if best[1] < goal - 0.1 and math.isfinite(lo):
        best = (lo, lo_lufs)  # short of the goal: the most gain the cap allows
    return best[0], best[1] - offset_lu, capped and best[1] < goal - 0.1


def default_output_path(mix: Path, out: Path) -> Path:
    """Where an album track goes: next to `out`, named after the mix ("<mix>-mastered.<ext>")."""
    return out.parent / f"{mix.stem}-mastered{out.suffix}"


def _measure_file(path: Path, role: str) -> tuple[float, float]:
    """(LUFS, dBTP) of a file, streaming."""
    with AudioReader(path, role=role) as reader:
        meter = LoudnessMeter(reader.sample_rate, reader.channels)
        peak = TruePeakMeter(reader.channels)
        for block in reader.blocks(_BLOCK):
            meter.add(block)
            peak.add(block)
    return meter.integrated_lufs(), peak.dbtp()


@dataclass
class _Pass:
    """Result of one limiting pass over a track."""

    meter: LoudnessMeter
    peak: TruePeakMeter
    stats: StatsMeter
    limiter_max_gr_db: float
    limiter_mean_gr_db: float
    audio: np.ndarray | None


@dataclass
class _PreLimit:
    """A track processed up to the output gain, kept in a temporary float32 file."""

    file: IO[bytes]
    frames: int
    channels: int
    meter: LoudnessMeter
    compressor_mean_gr_db: float


def _render_pre(path: Path, plan: MasterPlan, directory: Path | None, *,
                progress: Progress | None, tag: str) -> _PreLimit:
    """Stream a file through the plan up to the limiter into a temp file; meter its loudness."""
    proc = MasterProcessor(plan, limit=False)
    meter = LoudnessMeter(plan.sample_rate, plan.channels)
    fh = tempfile.TemporaryFile(prefix=".tonemorph-master-", suffix=".f32", dir=directory)
    frames = 0
    try:
        skip = proc.latency

        def emit(block: np.ndarray) -> None:
            nonlocal skip, frames
            if skip:
                cut = min(skip, block.shape[1])
                block, skip = block[:, cut:], skip - cut
            if block.shape[1]:
                meter.add(block)
                fh.write(np.ascontiguousarray(block.T, dtype=np.float32).tobytes())
                frames += block.shape[1]

        with AudioReader(path, role="mix") as reader:
            total, done = reader.frames, 0
            for block in reader.blocks(_BLOCK):
                emit(proc.process(block))
                done += block.shape[1]
                if progress is not None:
                    progress(tag, done, total)
        emit(proc.flush())
    except OSError as exc:
        fh.close()
        where = directory if directory is not None else Path(tempfile.gettempdir())
        raise OutputPathError(f"cannot write the working file of {path.name} in {where} "
                              f"({os_reason(exc)}); free some space or choose another "
                              "output folder") from exc
    except BaseException:
        fh.close()
        raise
    return _PreLimit(fh, frames, plan.channels, meter, proc.dynamics.mean_gain_reduction_db)


def _limit_pass(pre: _PreLimit, plan: MasterPlan, out: Path | None, *, subtype: str | None,
                like, seed: int, progress: Progress | None, tag: str) -> _Pass:
    """Output gain, limiter and dither over a pre-limited track into `out` (atomic) or memory."""
    ch = pre.channels
    lim = TruePeakLimiter(plan.sample_rate, ch, plan.limiter)
    gain = 10.0 ** (plan.output_gain_db / 20.0)
    meter = LoudnessMeter(plan.sample_rate, ch)
    peak = TruePeakMeter(ch)
    stats = StatsMeter(plan.sample_rate, ch)
    kept: list[np.ndarray] = []
    writer = (AtomicAudioWriter(out, plan.sample_rate, ch, subtype=subtype, like=like)
              if out is not None else None)
    bits = bits_of_subtype(writer.subtype) if writer is not None else None
    dither = Ditherer(bits, seed) if bits is not None and bits <= 24 else None
    skip = lim.latency

    def emit(block: np.ndarray) -> None:
        nonlocal skip
        if skip:
            cut = min(skip, block.shape[1])
            block, skip = block[:, cut:], skip - cut
        if block.shape[1] == 0:
            return
        if dither is not None:
            block = dither.process(block)
        meter.add(block)
        peak.add(block)
        stats.add(block)
        if writer is not None:
            writer.write(block)
        else:
            kept.append(block.astype(np.float32))

    def run() -> None:
        pre.file.seek(0)
        done = 0
        while done < pre.frames:
            n = min(_BLOCK, pre.frames - done)
            data = np.fromfile(pre.file, dtype=np.float32, count=n * ch)
            block = data.reshape(-1, ch).T.astype(np.float64)
            emit(lim.process(block * gain))
            done += block.shape[1]
            if progress is not None:
                progress(tag, done, pre.frames)
        emit(lim.flush())

    if writer is not None:
        with writer:
            run()
    else:
        run()
    audio = np.concatenate(kept, axis=1) if kept else None
    return _Pass(meter, peak, stats, lim.max_gain_reduction_db, lim.mean_gain_reduction_db,
                 audio)


def _tag(what: str, i: int, n: int) -> str:
    """Progress label: "limiting", or "limiting 2/3" in album mode."""
    return what if n == 1 else f"{what} {i + 1}/{n}"


def _check_reference_length(info, path: Path) -> None:
    """A reference under MIN_REFERENCE_S seconds is refused."""
    if info.duration_s < MIN_REFERENCE_S:
        raise AudioContentError(
            f"reference file {path} is {info.duration_s:.1f} s long; need at least "
            f"{MIN_REFERENCE_S:.0f} s of the released track (a whole track is best)"
        )


def _as_stereo(x: np.ndarray, channels: int) -> np.ndarray:
    """A mono excerpt as dual mono when the mix is stereo."""
    return np.repeat(x, 2, axis=0) if x.shape[0] == 1 and channels == 2 else x


def master(
    mix: str | Path,
    reference: str | Path,
    out: str | Path | None = None,
    *,
    lufs: float | None = None,
    ceiling_dbtp: float = -1.0,
    amount: float = 1.0,
    only: str | Sequence[str] | None = None,
    phase: str = "linear",
    mono_bass_hz: float | None = None,
    album: Sequence[str | Path] = (),
    album_out: Sequence[str | Path] | None = None,
    report: str | Path | None = None,
    subtype: str | None = None,
    force: bool = False,
    config: MasterConfig | None = None,
    progress: Progress | None = None,
) -> MasterReport:
    """Master `mix` (and `album` mixes, consistently) towards `reference`; returns a report.

    Matches loudness (the reference's integrated LUFS, or `lufs`), spectral balance per mid and
    side, stereo width and density (level-dependent compression and gentle saturation), under a
    true-peak ceiling (dBTP). `amount` 0..1 scales every change; `only` picks aspects
    ("eq,loudness,width,dynamics"). The output keeps the mix's sample rate, channels and
    bit depth (dithered when integer), written atomically in blocks; with ``out=None`` the
    result is returned in ``report.track.audio`` instead. Album tracks go to `album_out`
    (default: next to `out`, "<mix>-mastered<ext>").
    """
    t0 = time.monotonic()
    cfg = config or MasterConfig(lufs=lufs, ceiling_dbtp=ceiling_dbtp, amount=amount,
                                 only=only, phase=phase, mono_bass_hz=mono_bass_hz)
    mixes = [Path(mix)] + [Path(a) for a in album]
    ref_path = Path(reference)
    outs: list[Path | None]
    if out is None:
        outs = [None] * len(mixes)
    else:
        out_p = Path(out)
        extra = ([Path(a) for a in album_out] if album_out is not None
                 else [default_output_path(m, out_p) for m in mixes[1:]])
        if len(extra) != len(mixes) - 1:
            raise ParameterError(
                f"album_out names {len(extra)} files for {len(mixes) - 1} album mixes; "
                "give one output per album mix"
            )
        outs = [out_p, *extra]
        if len({p.resolve() for p in outs}) != len(outs):
            raise ParameterError("two album tracks would be written to the same file; "
                                 "rename the mixes or give album_out")
    # every output (audio, album tracks, report) is checked before any work starts
    check_outputs([o for o in (*outs, report) if o is not None], [*mixes, ref_path],
                  force=force)
    notes: list[str] = []

    def tick(tag: str, done: int, total: int) -> None:
        if progress is not None:
            progress(tag, done, total)

    # ---- analyse (one streaming pass per file) and read excerpts
    ref_scan = scan(ref_path, role="reference",
                    progress=lambda d, n: tick("reading reference", d, n))
    _check_reference_length(ref_scan.info, ref_path)
    check_active(ref_scan, role="reference", min_seconds=5.0)
    scans: list[TrackScan] = []
    for i, m in enumerate(mixes):
        scans.append(scan(m, role="mix", progress=lambda d, n: tick("reading mix", d, n)))
        check_active(scans[-1], role="mix", min_seconds=1.0)
    rate = scans[0].info.sample_rate
    channels = scans[0].info.channels
    for s in scans:
        if s.info.channels > 2:
            raise AudioContentError(
                f"mix file {s.info.path} has {s.info.channels} channels; mastering takes mono "
                "or stereo mixes, mix it down first"
            )
        if s.info.channels != channels:
            raise ParameterError(
                f"album mixes must share a channel count; {s.info.path.name} has "
                f"{s.info.channels}, {scans[0].info.path.name} has {channels}"
            )
    ref_ex = read_excerpts(ref_path, excerpt_windows(
        ref_scan.segment_power, ref_scan.info.sample_rate, ref_scan.info.frames, cfg.excerpt_s),
        role="reference")
    ref_scan = ref_scan.with_excerpt_peak(ref_ex)
    ref_ex = resample(ref_ex, ref_scan.info.sample_rate, rate)
    ref_is_mono = ref_ex.shape[0] == 1 and channels == 2
    if ref_ex.shape[0] > 2:
        raise AudioContentError(
            f"reference file {ref_path} has {ref_ex.shape[0]} channels; use a stereo or mono "
            "reference"
        )
    ref_lufs = ref_scan.lufs
    if ref_is_mono:
        ref_lufs += 10.0 * math.log10(2.0)  # played as dual mono on a stereo pair
        notes.append("the reference is mono: matched as dual mono (its loudness on two "
                     "speakers)")
    if channels == 1 and ref_ex.shape[0] == 2:
        notes.append("the mix is mono: matched against the reference's mid")
    ref_ex = _as_stereo(ref_ex, channels)
    if channels == 1:
        ref_ex = ref_ex.mean(axis=0, keepdims=True)
    per_track_s = max(10.0, cfg.excerpt_s / len(mixes))
    mix_parts = []
    for i, (s, m) in enumerate(zip(scans, mixes)):
        ex = read_excerpts(m, excerpt_windows(s.segment_power, s.info.sample_rate, s.info.frames,
                                              per_track_s), role="mix")
        scans[i] = s.with_excerpt_peak(ex)
        mix_parts.append(resample(ex, s.info.sample_rate, rate))
    mix_ex = np.concatenate(mix_parts, axis=1)

    # ---- target
    target = cfg.lufs if cfg.lufs is not None else ref_lufs
    mix_lufs = _pooled_lufs(scans)
    if not cfg.matches("loudness"):
        target = mix_lufs
    else:
        target = mix_lufs + cfg.amount * (target - mix_lufs)
        if mix_lufs > target + 0.5:
            notes.append(f"the mix is already louder than the target ({mix_lufs:.1f} vs "
                         f"{target:.1f} LUFS): it is turned down, not pushed")

    # ---- fit (progress has no steps here: one tick before and after)
    tick("fitting", 0, 1)
    spectra = _whole_file_spectra(scans, ref_scan, channels, ref_is_mono)
    settings = fit_settings(mix_ex, ref_ex, rate, cfg, ref_is_mono=ref_is_mono, notes=notes,
                            spectra=spectra)
    tick("fitting", 1, 1)
    ceiling = peak_to_loudness_ceiling(cfg, target, ref_scan.true_peak_dbtp, ref_lufs)
    if ceiling < cfg.ceiling_dbtp - 0.05:
        settings = replace(settings, limiter=replace(settings.limiter, ceiling_dbtp=ceiling))
        notes.append(f"peaks held at {ceiling:.1f} dBTP, below the {cfg.ceiling_dbtp:.1f} dBTP "
                     "ceiling: the reference's peak-to-loudness ratio")

    # ---- apply up to the limiter (once), then gain + limiter until the loudness is right
    pres: list[_PreLimit] = []
    try:
        for i, (s, m, o) in enumerate(zip(scans, mixes, outs)):
            pres.append(_render_pre(m, plan_for(settings, s.info.sample_rate, channels),
                                    o.parent if o is not None else None, progress=progress,
                                    tag=_tag("processing", i, len(mixes))))
        pre_full = gated_lufs(np.concatenate([p.meter.block_power() for p in pres]))
        pre_ex = render(plan_for(settings, rate, channels), mix_ex, limit=False)
        # the excerpts are the loud sections: how much louder than the whole they are
        offset = _lufs(pre_ex, rate) - pre_full
        gain_db, _, capped = find_output_gain(pre_ex, rate, target, settings.limiter,
                                              offset_lu=offset,
                                              max_limiting_db=cfg.max_limiting_db)
        del pre_ex
        settings = replace(settings, output_gain_db=gain_db)
        passes = 0
        while True:
            passes += 1
            results = [
                _limit_pass(p, plan_for(settings, s.info.sample_rate, channels), o,
                            subtype=subtype, like=s.info, seed=cfg.seed + i, progress=progress,
                            tag=_tag("limiting", i, len(mixes)))
                for i, (p, s, o) in enumerate(zip(pres, scans, outs))
            ]
            got = gated_lufs(np.concatenate([r.meter.block_power() for r in results]))
            error = target - got
            if abs(error) <= _LUFS_TOLERANCE or passes >= _MAX_PASSES:
                break
            max_gr = max(r.limiter_max_gr_db for r in results)
            if error > 0 and (capped or max_gr > cfg.max_limiting_db):
                break  # the ceiling wins: louder only by limiting beyond the cap
            # the limiter takes part of a gain increase: step a little further
            step = error * (1.3 if error > 0 and max_gr > 1.0 else 1.0)
            settings = replace(settings, output_gain_db=settings.output_gain_db + step)
    finally:
        for p in pres:
            p.file.close()
    if target - got > 0.5:
        notes.append(f"the target {target:.1f} LUFS cannot be reached under the "
                     f"{cfg.ceiling_dbtp:.1f} dBTP ceiling without limiting more than "
                     f"{cfg.max_limiting_db:.0f} dB: reached {got:.1f} LUFS "
                     f"({target - got:.1f} LU short)")

    # ---- report
    ref_meas = Measures(ref_lufs, ref_scan.true_peak_dbtp, ref_scan.crest_db, ref_scan.width_db)
    tracks = []
    for s, m, o, r, p in zip(scans, mixes, outs, results, pres):
        bits = None
        sub = s.info.subtype
        if o is not None:
            sub = AtomicAudioWriter(o, s.info.sample_rate, channels, subtype=subtype,
                                    like=s.info).subtype
            b = bits_of_subtype(sub)
            bits = b if b is not None and b <= 24 else None
        before = Measures(s.lufs, s.true_peak_dbtp, s.crest_db, s.width_db)
        after = Measures(r.meter.integrated_lufs(), r.peak.dbtp(), r.stats.crest_db(),
                         r.stats.width_db())
        tracks.append(TrackReport(
            mix=str(m), output=str(o) if o is not None else None,
            sample_rate=s.info.sample_rate, channels=channels, subtype=sub,
            seconds=s.duration_s, before=before, after=after,
            limiter_max_gr_db=r.limiter_max_gr_db, limiter_mean_gr_db=r.limiter_mean_gr_db,
            compressor_mean_gr_db=p.compressor_mean_gr_db, passes=passes,
            dithered_bits=bits, audio=r.audio))
    doc = MasterReport(
        reference=str(ref_path), reference_measures=ref_meas, target_lufs=float(target),
        ceiling_dbtp=cfg.ceiling_dbtp, amount=cfg.amount, matched=sorted(cfg.only),
        settings=settings.summary(), tracks=tracks, notes=notes,
        seconds=time.monotonic() - t0)
    if report is not None:
        doc.save(report, overwrite=force)
    return doc


def _whole_file_spectra(scans: Sequence[TrackScan], ref: TrackScan, channels: int,
                        ref_is_mono: bool) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Mean log spectra of the whole mix (album pooled) and reference, for the EQ match."""
    if ref.spectra is None or any(s.spectra is None for s in scans):
        return None
    if len({s.info.sample_rate for s in scans}) != 1:
        return None  # album at mixed rates: the excerpts (resampled) are matched instead
    pooled = scans[0].spectra
    for s in scans[1:]:
        pooled = pooled.merge(s.spectra)
    out = {"mix_mid": pooled.mean_log_db("mid"), "ref_mid": ref.spectra.mean_log_db("mid")}
    if channels == 2 and not ref_is_mono and ref.info.channels == 2:
        out["mix_side"] = pooled.mean_log_db("side")
        out["ref_side"] = ref.spectra.mean_log_db("side")
    return out


def _pooled_lufs(scans: Sequence[TrackScan]) -> float:
    """Integrated loudness (LUFS) of several scanned files taken as one programme."""
    if len(scans) == 1:
        return scans[0].lufs
    blocks = []
    for s in scans:
        seg = s.segment_power
        if seg.size >= 4:
            blocks.append(sum(seg[k : seg.size - 3 + k] for k in range(4)) / 4.0)
    if not blocks:
        return max(s.lufs for s in scans)
    return gated_lufs(np.concatenate(blocks))
