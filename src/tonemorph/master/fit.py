"""Fitting a master: rate-independent `MasterSettings` from excerpts of the mix and of one or
more weighted references, and the `MasterPlan` that applies them at a file's rate.

A reference is other music: what is matched is what its mastering did, not its arrangement.
The EQ keeps only balance differences that are consistent across sections of the tracks
(`eq_curve`), the density fit pays for every dB of work it does (`fit_density`), and the
balance is measured again after the whole chain (`balance_after_chain`) so that compression
and saturation do not add brightness the EQ already matched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from tonemorph.dsp.bandwidth import content_bandwidth_hz
from tonemorph.dsp.fir import next_pow2
from tonemorph.dsp.limiter import LimiterConfig
from tonemorph.dsp.loudness import integrated_lufs
from tonemorph.dsp.matcheq import active_rms_db
from tonemorph.dsp.stereo import side_to_mid_db
from tonemorph.io import resample
from tonemorph.master.config import MasterConfig
from tonemorph.master.density import NEUTRAL, DensityParams, fit_density
from tonemorph.master.eq import (
    CURVE_BANDS_HZ,
    MATCH_BANDS_HZ,
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
from tonemorph.master.processor import MasterPlan, render

__all__ = [
    "MasterSettings",
    "Spectra",
    "WeightedAudio",
    "balance_after_chain",
    "eq_curve",
    "fit_settings",
    "peak_to_loudness_ceiling",
    "plan_for",
]

#: (audio, weight) of one reference; weights of a run sum to 1.
WeightedAudio = tuple[np.ndarray, float]
#: Whole-file mean log spectra, (freqs_hz, dB) by part ("mid", "side"); None: use excerpts.
Spectra = dict[str, tuple[np.ndarray, np.ndarray]]

_FIT_RATE_REF = 44100
MONO_SIDE_DB = -40.0  # side this far below mid: the mix is (near) mono, width is not matched
_MAX_SIDE_GAIN = 2.5
_WIDTH_PRIOR_DB = 2.0  # spread of the side-level change a mastering chain makes (dB rms)
_FIT_MAX_RATE = 24000
_DENSITY_FIT_S = 8.0  # seconds of the excerpts the density stage is fitted on (fit time)
_BALANCE_TOLERANCE_DB = 0.25  # after-chain balance errors below this are left alone


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
    dc_block: bool = False

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
            "dc_block": self.dc_block,
        }
        if self.eq_freqs_hz is not None and self.eq_mid_db is not None:
            doc["eq_mid_db"] = band_values(self.eq_freqs_hz, self.eq_mid_db)
            doc["eq_curve_hz"] = list(CURVE_BANDS_HZ)
            doc["eq_mid_curve_db"] = band_values(self.eq_freqs_hz, self.eq_mid_db,
                                                 CURVE_BANDS_HZ)
            if self.eq_side_db is not None:
                doc["eq_side_db"] = band_values(self.eq_freqs_hz, self.eq_side_db)
                doc["eq_side_curve_db"] = band_values(self.eq_freqs_hz, self.eq_side_db,
                                                      CURVE_BANDS_HZ)
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
        dc_block=settings.dc_block,
    )


def _mid(x: np.ndarray) -> np.ndarray:
    """Mean of the channels (the mid of a stereo pair)."""
    return x.mean(axis=0)


def _side(x: np.ndarray) -> np.ndarray:
    """(L - R) / 2 of a stereo pair."""
    return (x[0] - x[1]) * 0.5


def _weighted_db(values: Sequence[float], refs: Sequence[WeightedAudio]) -> float:
    """Weighted mean of per-reference values in dB."""
    return float(sum(v * w for v, (_, w) in zip(values, refs)))


def fit_settings(
    mix: np.ndarray,
    refs: Sequence[WeightedAudio],
    sample_rate: int,
    cfg: MasterConfig,
    *,
    ref_is_mono: bool = False,
    notes: list[str] | None = None,
    mix_spectra: Spectra | None = None,
    ref_spectra: Sequence[Spectra | None] | None = None,
    headroom_db: float = 0.0,
) -> MasterSettings:
    """Fit EQ, width and density on excerpts (channels, n) of the mix and the references.

    All at sample_rate, references as (excerpt, weight) with weights summing to 1; a stereo
    mix is matched per mid and side, a mono one on its only channel against the references'
    mid. ``mix_spectra``/``ref_spectra`` may give whole-file mean log spectra to match the
    EQ's long-term balance on instead of the excerpts. Loudness (the output gain) is left to
    `find_output_gain`; ``headroom_db`` (<= 0) tells the density fit how much lower than the
    references' the output's peak-to-loudness ratio must be.
    """
    notes = notes if notes is not None else []
    stereo = mix.shape[0] == 2
    limiter = LimiterConfig(cfg.ceiling_dbtp, cfg.lookahead_ms, cfg.release_ms)
    settings = MasterSettings(phase=cfg.phase, eq_taps=cfg.eq_taps, limiter=limiter,
                              mono_bass_hz=cfg.mono_bass_hz if stereo else None)
    mix_mid = _mid(mix)
    ref_mids = [(_mid(r), w) for r, w in refs]
    ref_rms_db = _weighted_db([active_rms_db(r, sample_rate) for r, _ in ref_mids], refs)
    # level-match the mix to the references before anything level-dependent
    settings = replace(settings, input_gain_db=ref_rms_db - active_rms_db(mix_mid, sample_rate))
    mix_side_db = side_to_mid_db(mix) if stereo else -200.0
    near_mono = mix_side_db < MONO_SIDE_DB
    ref_spectra = list(ref_spectra) if ref_spectra is not None else [None] * len(refs)
    if cfg.matches("eq"):
        amount = cfg.amount_of("eq")

        def spectra_of(part: str):
            if mix_spectra is None or part not in mix_spectra:
                return None
            if any(s is None or part not in s for s in ref_spectra):
                return None
            return mix_spectra[part], [s[part] for s in ref_spectra]  # type: ignore[index]

        # balances are compared at the references' level: a quiet mix's sections (its side
        # 12 dB under a -65 LUFS mid) would fall under the -70 dBFS silence gate
        at_ref = 10.0 ** (settings.input_gain_db / 20.0)
        # the mid's long-term spectra, once: where they end and the balance both read them
        mid_spectra = spectra_of("mid") or (
            mean_log_spectrum_db(mix_mid * at_ref, sample_rate),
            [mean_log_spectrum_db(r, sample_rate) for r, _ in ref_mids])
        bandwidth = _matched_bandwidth_hz(*mid_spectra, sample_rate, notes)
        freqs, mid_db = eq_curve(mix_mid * at_ref, ref_mids, sample_rate, cfg, mid_spectra,
                                 bandwidth_hz=bandwidth)
        side_db = None
        if stereo and not ref_is_mono and not near_mono:
            _, side_db = eq_curve(_side(mix) * at_ref, [(_side(r), w) for r, w in refs],
                                  sample_rate, cfg, spectra_of("side"), bandwidth_hz=bandwidth)
            side_db = side_db * amount
        settings = replace(settings, eq_freqs_hz=freqs, eq_mid_db=mid_db * amount,
                           eq_side_db=side_db)
    if stereo and cfg.matches("width"):
        if ref_is_mono:
            notes.append("the reference is mono: the mix's stereo width is not matched (no "
                         "width change is applied: moment by moment the image is the "
                         "mix's, while the overall side/mid figure can rise where the loud, "
                         "more central passages come down)")
        elif near_mono:
            notes.append(f"the mix is (near) mono (side {mix_side_db:.0f} dB below mid): "
                         "width is not matched")
        else:
            eq_only = render(plan_for(settings, sample_rate, 2), mix, limit=False)
            ref_width = _weighted_db([side_to_mid_db(r) for r, _ in refs], refs)
            delta_db = ref_width - side_to_mid_db(eq_only)
            # as the EQ: the reference's width is mostly its arrangement; trusted as far as
            # the two tracks' widths are steady across their sections
            spread2 = _width_spread_db(mix, sample_rate) ** 2 + sum(
                w * _width_spread_db(r, sample_rate) ** 2 for r, w in refs)
            prior2 = _WIDTH_PRIOR_DB**2
            delta_db *= prior2 / (prior2 + (cfg.eq_content_factor**2) * spread2)
            gain = 10.0 ** (cfg.amount_of("width") * delta_db / 20.0)
            settings = replace(settings, side_gain=min(max(gain, 0.0), _MAX_SIDE_GAIN))
    if cfg.matches("dynamics") and cfg.fit_steps >= 0:
        settings = _fit_dynamics(settings, mix, ref_mids, ref_rms_db, sample_rate, cfg,
                                 headroom_db)
    return settings


def _width_spread_db(x: np.ndarray, sample_rate: int, section_s: float = 2.5) -> float:
    """Standard deviation (dB) of a stereo signal's side/mid ratio across its sections."""
    n = max(1, int(section_s * sample_rate))
    widths = []
    for start in range(0, x.shape[1] - n // 2, n):
        part = x[:, start : start + n]
        if float(np.mean(np.square(part))) > 1e-10:  # a silent section has no width
            widths.append(side_to_mid_db(part))
    return float(np.std(widths)) if len(widths) > 1 else 0.0


def _fit_dynamics(settings: MasterSettings, mix: np.ndarray, ref_mids: Sequence[WeightedAudio],
                  ref_rms_db: float, sample_rate: int, cfg: MasterConfig,
                  headroom_db: float = 0.0) -> MasterSettings:
    """Settings with the density stage fitted on the EQ'd, level-matched mix excerpts."""
    pre = render(plan_for(settings, sample_rate, mix.shape[0]), mix, limit=False)
    fix_db = ref_rms_db - active_rms_db(_mid(pre), sample_rate)
    settings = replace(settings, input_gain_db=settings.input_gain_db + fix_db)
    pre_mid = _mid(pre) * 10.0 ** (fix_db / 20.0)
    # fitted at <= 24 kHz: level and crest distributions need no more bandwidth
    fit_rate = int(round(sample_rate / math.ceil(sample_rate / _FIT_MAX_RATE)))
    n_fit = int(_DENSITY_FIT_S * sample_rate)
    mix_fit = resample(_centre(pre_mid, n_fit), sample_rate, fit_rate)
    refs_fit = [(resample(_centre(r, n_fit), sample_rate, fit_rate), w) for r, w in ref_mids]
    # a limiter allowed N dB of peak reduction lowers music's peak-to-loudness ratio by about
    # half that: the loud passages around the peaks come down with them
    params, _ = fit_density(mix_fit, refs_fit, fit_rate, steps=cfg.fit_steps, seed=cfg.seed,
                            limiter_db=0.5 * cfg.max_limiting_db, headroom_db=headroom_db)
    return replace(settings, density=params.scaled(cfg.amount_of("dynamics")))


def eq_curve(
    mix: np.ndarray,
    refs: Sequence[WeightedAudio],
    sample_rate: int,
    cfg: MasterConfig,
    spectra: tuple[tuple[np.ndarray, np.ndarray], list[tuple[np.ndarray, np.ndarray]]]
    | None = None,
    *,
    bandwidth_hz: float = math.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """(freqs_hz, EQ curve dB) taking a 1-D mix's balance to the weighted references'.

    The difference of the long-term balances (whole files when ``spectra`` gives the mix's and
    each reference's (freqs_hz, mean log spectrum dB), else the excerpts) is trusted only as
    far as it is consistent across sections of the tracks and between the references
    (`consistent_curve_bands_db`): a reference is other music, and most of its balance is its
    arrangement, not its mastering. Bands reaching past `bandwidth_hz` are not matched.
    """
    if spectra is not None:
        (freqs, sx), ref_specs = spectra
        shapes = [band_shape_db(freqs, np.interp(freqs, fy, sy)) for fy, sy in ref_specs]
    else:
        freqs, sx = mean_log_spectrum_db(mix, sample_rate)
        shapes = [band_shape_db(*mean_log_spectrum_db(r, sample_rate)) for r, _ in refs]
    weights = np.array([w for _, w in refs])
    ref_shape = np.tensordot(weights, np.stack(shapes), axes=1)
    diff = ref_shape - band_shape_db(freqs, sx)
    # inconsistency: each track's own section-to-section spread, and the references' spread
    # about their weighted mean (references that disagree say little about processing)
    var = section_band_spectra_db(mix, sample_rate).var(axis=0)
    for (r, w), shape in zip(refs, shapes):
        var = var + w * (section_band_spectra_db(r, sample_rate).var(axis=0)
                         + (shape - ref_shape) ** 2)
    valid = _bands_below_nyquist(sample_rate) & _bands_below(bandwidth_hz)
    spread = np.where(valid, np.sqrt(var), 1e3)  # nothing to learn past the bandwidth
    bands = consistent_curve_bands_db(np.where(valid, diff, 0.0), spread,
                                      prior_db=cfg.eq_prior_db,
                                      content_factor=cfg.eq_content_factor)
    curve = centre_curve(freqs, curve_on_grid(freqs, bands), sx)
    return freqs, np.clip(curve, -cfg.eq_max_db, cfg.eq_max_db)


def _bands_below(bandwidth_hz: float) -> np.ndarray:
    """Which MATCH_BANDS_HZ lie wholly under bandwidth_hz (their third octave's top edge):
    the smoothing that gives a band its level spans the third octave."""
    return np.asarray(MATCH_BANDS_HZ) * 2.0 ** (1.0 / 6.0) <= bandwidth_hz


def _matched_bandwidth_hz(mix_spec: tuple[np.ndarray, np.ndarray],
                          ref_specs: Sequence[tuple[np.ndarray, np.ndarray]],
                          sample_rate: int, notes: list[str]) -> float:
    """The highest frequency (Hz) both the mix and every reference hold sound up to
    (`content_bandwidth_hz` of their long-term spectra, (freqs_hz, dB)); a note names the one
    that ends early."""
    own = content_bandwidth_hz(*mix_spec)
    refs = min(content_bandwidth_hz(*s) for s in ref_specs)
    in_rate = _bands_below_nyquist(sample_rate)
    for who, bw in (("mix", own), ("reference", refs)):
        # said where more than the top band is lost (most lossy files end at 15-20 kHz)
        if np.count_nonzero(in_rate & ~_bands_below(bw)) >= 2:
            notes.append(f"the {who}'s spectrum ends at {bw / 1000:.1f} kHz (a lossy or "
                         "low-sample-rate file): the EQ is not matched above it")
    return min(own, refs)


def _bands_below_nyquist(sample_rate: float) -> np.ndarray:
    """Which MATCH_BANDS_HZ lie inside the audio's band (below 0.42 x the rate, 18.5 kHz at
    44.1 kHz): a third octave past it is empty."""
    return np.asarray(MATCH_BANDS_HZ) < 0.42 * sample_rate


def balance_after_chain(settings: MasterSettings, mix: np.ndarray, sample_rate: int,
                        target_lufs: float, *, rounds: int = 1) -> MasterSettings:
    """Settings whose EQ is corrected for what the rest of the chain does to the balance.

    The excerpts go through the whole chain (EQ, width, density, output gain to about
    target_lufs, limiter); the mid's long-term balance is compared with the mix's plus the
    EQ curve (what the EQ set out to do) and the smooth difference, where above 0.25 dB, is
    added to the mid EQ, for up to `rounds` rounds (the chain is nonlinear): compression and
    saturation change the balance, and the reference's balance was already matched by the EQ.
    """
    if settings.eq_freqs_hz is None or settings.eq_mid_db is None or settings.density.is_neutral:
        return settings
    grid = np.log(np.maximum(settings.eq_freqs_hz, 1e-3))
    freqs, sx = mean_log_spectrum_db(_mid(mix), sample_rate)
    eq_bands = np.interp(np.log(MATCH_BANDS_HZ), grid, settings.eq_mid_db)
    wanted = band_shape_db(freqs, sx) + eq_bands - eq_bands.mean()
    valid = _bands_below_nyquist(sample_rate)
    out_settings = settings
    for _ in range(rounds):
        plan = plan_for(out_settings, sample_rate, mix.shape[0])
        gain_db = target_lufs - integrated_lufs(render(plan, mix, limit=False), sample_rate)
        out = render(plan.with_output_gain(gain_db), mix)
        error = wanted - band_shape_db(*mean_log_spectrum_db(_mid(out), sample_rate))
        error = error - error[valid].mean()
        if np.max(np.abs(error[valid])) < _BALANCE_TOLERANCE_DB:
            break
        # smooth like the EQ itself; the measurement is of this very mix, so trust it (bands
        # past the audio's bandwidth say nothing)
        fix = consistent_curve_bands_db(np.where(valid, error, 0.0),
                                        np.where(valid, 0.0, 1e3), prior_db=6.0, floor_db=0.5)
        out_settings = replace(out_settings, eq_mid_db=out_settings.eq_mid_db
                               + np.interp(grid, np.log(MATCH_BANDS_HZ), fix))
    return out_settings


def peak_to_loudness_ceiling(cfg: MasterConfig, target_lufs: float, ref_peak_dbtp: float,
                             ref_lufs: float) -> float:
    """Limiter ceiling (dBTP) giving the output the reference's peak-to-loudness ratio.

    Density is peak level relative to loudness: a reference peaking well below the ceiling
    (a quiet, open master) is matched by holding peaks as far below its loudness as the
    reference does. Never above cfg.ceiling_dbtp; `amount` moves it from the ceiling (0) to
    the matched value (1); only when dynamics are matched.
    """
    if not cfg.matches("dynamics"):
        return cfg.ceiling_dbtp
    matched = target_lufs + (ref_peak_dbtp - ref_lufs)
    if matched >= cfg.ceiling_dbtp:
        return cfg.ceiling_dbtp
    return cfg.ceiling_dbtp + cfg.amount_of("dynamics") * (matched - cfg.ceiling_dbtp)


def _centre(x: np.ndarray, n: int) -> np.ndarray:
    """The middle n samples of x (all of it when shorter)."""
    if x.shape[-1] <= n:
        return x
    start = (x.shape[-1] - n) // 2
    return x[..., start : start + n]
