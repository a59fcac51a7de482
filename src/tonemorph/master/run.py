"""Reference mastering, the orchestrator: outputs checked -> files analysed and excerpted ->
loudness target -> settings fitted (`tonemorph.master.fit`) -> peaks held -> balance checked
after the whole chain -> tracks rendered and limited to the target (`tonemorph.master.render`)
-> report (JSON, or an HTML page).

Every step is a small function of the previous steps' results; `master` only runs them in order.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tonemorph.dsp.dither import bits_of_subtype
from tonemorph.dsp.limiter import dither_safe_ceiling_dbtp
from tonemorph.dsp.loudness import gated_lufs
from tonemorph.dsp.units import DB_FLOOR, power_to_db
from tonemorph.errors import AudioContentError, ParameterError
from tonemorph.io import (
    LOSSY_SUBTYPES,
    AtomicAudioWriter,
    audio_info,
    check_format_rate,
    check_outputs,
    check_suffix,
    choose_subtype,
    format_for,
    resample,
)
from tonemorph.io.content import CANCEL_DB, fmt_measured_s
from tonemorph.io.process import decoded_peak
from tonemorph.master.analysis import TrackScan, check_active, excerpt_windows, read_excerpts, scan
from tonemorph.master.config import (
    MIN_REFERENCE_S,
    MasterConfig,
    parse_reference,
    reference_weight,
)
from tonemorph.master.fit import (
    MONO_SIDE_DB,
    MasterSettings,
    Spectra,
    WeightedAudio,
    balance_after_chain,
    fit_settings,
    peak_to_loudness_ceiling,
    plan_for,
)
from tonemorph.master.gain import block_powers, find_output_gain, level_map, moved
from tonemorph.master.processor import render
from tonemorph.master.render import MasterPass, master_pass
from tonemorph.master.report import MasterReport, Measures, TrackReport
from tonemorph.progress import Progress

__all__ = [
    "MasterSettings",
    "default_output_path",
    "find_output_gain",
    "fit_settings",
    "master",
    "plan_for",
    "references",
]

ReferenceLike = str | os.PathLike[str] | tuple[str | os.PathLike[str], float]

_LUFS_TOLERANCE = 0.3  # LU: another pass corrects the gain beyond this (the first pass was within
# 0.29 LU on 10 full-length pieces and the 5-minute speed file; a pass is a third of the run)
_MAX_PASSES = 3
REPORT_SUFFIXES = (".html", ".htm", ".json")  # a page with plots and players, or the numbers
_LOSSY_TRIES = 3  # passes with a lower limiter ceiling while an encoded file peaks above it
_LOSSY_MARGIN_DB = 0.1  # below the ceiling, beyond what the encoder added


def references(reference: ReferenceLike | Sequence[ReferenceLike]) -> list[tuple[Path, float]]:
    """(path, weight) per reference, weights summing to 1, from a path, "path:weight" text,
    a (path, weight) pair or a list of them."""
    items = [reference] if isinstance(reference, (str, os.PathLike, tuple)) else list(reference)
    if not items:
        raise ParameterError("no reference given; give at least one released track to match")
    out: list[tuple[Path, float]] = []
    for item in items:
        if not isinstance(item[0] if isinstance(item, tuple) else item, (str, os.PathLike)):
            raise ParameterError("a reference must be a file path (or a (path, weight) pair): "
                                 "mastering streams whole files; write the audio to a WAV "
                                 "first")
        if isinstance(item, tuple):
            path = Path(item[0])
            weight = reference_weight(item[1], f"for {path}")
        else:
            path, weight = parse_reference(item)
        out.append((path, weight))
    # over the largest first: weights near the float maximum summed to inf (every weight 0)
    top = max(w for _, w in out)
    scaled = [(p, w / top) for p, w in out]
    total = sum(w for _, w in scaled)
    return [(p, w / total) for p, w in scaled]


def default_output_path(mix: Path, out: Path) -> Path:
    """Where an album track goes: next to `out`, named after the mix ("<mix>-mastered.<ext>")."""
    return out.parent / f"{mix.stem}-mastered{out.suffix}"


@dataclass
class _Analysis:
    """What the files say: scans and excerpts of the mixes and references, at the mix's rate."""

    mixes: list[Path]
    scans: list[TrackScan]
    refs: list[tuple[Path, float]]
    ref_scans: list[TrackScan]
    rate: int
    channels: int
    mix_ex: np.ndarray
    ref_ex: list[WeightedAudio]
    ref_lufs: float  # weighted, as played on the mix's speakers (dual mono +3 dB)
    ref_is_mono: bool

    @property
    def ref_peak_dbtp(self) -> float:
        """Weighted true peak of the references (dBTP)."""
        return sum(w * s.true_peak_dbtp for s, (_, w) in zip(self.ref_scans, self.refs))

    def ref_measures(self) -> Measures:
        """The references' measures, weighted (one reference: its own)."""
        def mean(values: list[float | None]) -> float | None:
            if any(v is None for v in values):
                return None
            return float(sum(v * w for v, (_, w) in zip(values, self.refs)))  # type: ignore

        return Measures(self.ref_lufs, self.ref_peak_dbtp,
                        mean([s.crest_db for s in self.ref_scans]),
                        mean([s.width_db for s in self.ref_scans]))


def _outputs(mix: str | os.PathLike[str], album: Sequence[str | os.PathLike[str]],
             out: str | os.PathLike[str] | None,
             album_out: Sequence[str | os.PathLike[str]] | None
             ) -> tuple[list[Path], list[Path | None]]:
    """The mixes and where each goes (None: kept in memory)."""
    mixes = [Path(mix)] + [Path(a) for a in album]
    seen: dict[Path, Path] = {}
    for m in mixes:
        # the same file twice would be mastered twice and weigh twice in the album's loudness
        if m.resolve() in seen:
            other = seen[m.resolve()]
            also = "" if other == m else f" (also as {other})"
            raise ParameterError(f"{m} is given twice as a mix{also}; list each album track "
                                 "once")
        seen[m.resolve()] = m
    if out is None:
        return mixes, [None] * len(mixes)
    out_p = Path(out)
    if album_out is not None:
        extra = [Path(a) for a in album_out]
    else:
        extra, named = [], set()  # (a clash with `out` itself is the user's to resolve)
        for m in mixes[1:]:
            o = default_output_path(m, out_p)
            if o.resolve() in named:
                # album tracks of one name from different folders (a/x.wav, b/x.wav): their
                # folder's name tells them apart (the CLI gives no way to name them)
                o = o.with_name(f"{m.resolve().parent.name}-{o.name}")
            named.add(o.resolve())
            extra.append(o)
    if len(extra) != len(mixes) - 1:
        raise ParameterError(f"album_out names {len(extra)} files for {len(mixes) - 1} album "
                             "mixes; give one output per album mix")
    taken: dict[Path, Path] = {}
    for m, o in zip(mixes, [out_p, *extra]):
        first = taken.setdefault(o.resolve(), m)
        if first != m:
            # a track's default name (<mix>-mastered) can be the one given to the first mix
            raise ParameterError(f"the masters of {first.name} and {m.name} would both be "
                                 f"written to {o}; choose another output path")
    return mixes, [out_p, *extra]


def _check_polarity(s: TrackScan, role: str) -> None:
    """Refuse a stereo file whose channels (nearly) cancel in mono: one is the other inverted.

    The bound is learning's (`io.content.CANCEL_DB`, channels over their mix): the channels'
    mean power is mid^2 + side^2, so where side is 20 dB above mid the two measures agree
    within 0.05 dB. The scan's streamed width is used: mastering never holds a whole file.
    """
    if s.width_db is not None and s.width_db > CANCEL_DB:
        raise AudioContentError(
            f"{role} file {s.info.path}: its left and right channels cancel in mono (side "
            f"{s.width_db:.0f} dB above mid): one channel is the other with its polarity "
            "inverted; flip the polarity of one channel and try again")


def _check_reference(s: TrackScan) -> None:
    """A reference must be long enough and stereo or mono."""
    if s.info.duration_s < MIN_REFERENCE_S:
        raise AudioContentError(
            f"reference file {s.info.path} is {fmt_measured_s(s.info.duration_s)} s long; need "
            f"at least {MIN_REFERENCE_S:.0f} s of the released track (a whole track is best)")
    if s.info.channels > 2:
        raise AudioContentError(f"reference file {s.info.path} has {s.info.channels} channels; "
                                "use a stereo or mono reference")
    check_active(s, role="reference", min_seconds=5.0)
    _check_polarity(s, "reference")


def _check_mixes(scans: Sequence[TrackScan]) -> None:
    """Mixes must be mono or stereo, all with the same channel count."""
    channels = scans[0].info.channels
    for s in scans:
        check_active(s, role="mix", min_seconds=1.0)
        _check_polarity(s, "mix")
        if s.info.channels > 2:
            raise AudioContentError(
                f"mix file {s.info.path} has {s.info.channels} channels; mastering takes mono "
                "or stereo mixes, mix it down first")
        if s.info.channels != channels:
            raise ParameterError(
                f"album mixes must share a channel count; {s.info.path.name} has "
                f"{s.info.channels}, {scans[0].info.path.name} has {channels}")


ONE_SIDED_DB = 40.0  # a stereo mix whose one channel is this far under the other


def _one_sided(excerpt: np.ndarray, name: str) -> list[str]:
    """A note when one channel of a stereo mix's excerpts (channels, n) is ONE_SIDED_DB or more
    under the other: a mono mix bounced to one side, which the master keeps one-sided."""
    if excerpt.shape[0] != 2:
        return []
    level_db = power_to_db(np.mean(np.square(excerpt, dtype=np.float64), axis=1))
    quiet = int(np.argmin(level_db))
    gap_db = float(level_db[1 - quiet] - level_db[quiet])
    if gap_db < ONE_SIDED_DB:
        return []
    side = ("left", "right")[quiet]
    how = "silent" if gap_db >= 90.0 else f"{gap_db:.0f} dB under the other"
    return [f"the mix {name} is one-sided: its {side} channel is {how}; the master keeps it so "
            "(export the mix as mono, or panned to the centre, for a centred master)"]


def _excerpts(s: TrackScan, seconds: float, role: str) -> tuple[TrackScan, np.ndarray]:
    """The loudest `seconds` of a scanned file, and the scan with their true peak."""
    ex = read_excerpts(s.info.path, excerpt_windows(s.segment_power, s.info.sample_rate,
                                                    s.info.frames, seconds), role=role,
                       remove_offset=s.has_dc)
    return s.with_excerpt_peak(ex), ex


def _analyse(mixes: list[Path], refs: list[tuple[Path, float]], cfg: MasterConfig,
             notes: list[str], tick: Progress) -> _Analysis:
    """Scan every file once, check them, read the excerpts the fit works on."""
    # the references are read on a second thread while the mixes are read here (the two
    # overlap on two cores); their errors still come first, in order, as when read first
    ref_scans: list[TrackScan] = []
    tick("reading reference", 0, len(refs))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tonemorph-ref") as pool:
        pending = [pool.submit(scan, p, role="reference") for p, _ in refs]
        try:
            scans = [scan(m, role="mix",
                          progress=lambda _, d, n, *__: tick("reading mix", d, n))
                     for m in mixes]
        finally:
            for i, f in enumerate(pending):
                ref_scans.append(f.result())
                _check_reference(ref_scans[-1])
                tick("reading reference", i + 1, len(refs))
    _check_mixes(scans)
    rate, channels = scans[0].info.sample_rate, scans[0].info.channels
    ref_ex: list[WeightedAudio] = []
    ref_lufs = 0.0
    any_mono = dual_mono = False
    for i, ((_, w), s) in enumerate(zip(refs, ref_scans)):
        ref_scans[i], ex = _excerpts(s, cfg.excerpt_s, "reference")
        ex = resample(ex, s.info.sample_rate, rate)
        lufs = s.lufs
        if ex.shape[0] == 1 and channels == 2:
            any_mono = dual_mono = True
            lufs += 10.0 * math.log10(2.0)  # played as dual mono on a stereo pair
            ex = np.repeat(ex, 2, axis=0)
        elif channels == 2 and s.width_db is not None and s.width_db < MONO_SIDE_DB:
            # a mono record stored as two equal channels: its side is silence, which the
            # side EQ took for "the audio is silent" and refused the reference
            any_mono = True
            how = ("its two channels are the same" if s.width_db <= DB_FLOOR
                   else f"side {s.width_db:.0f} dB below mid")
            notes.append(f"the reference {s.info.path.name} is (near) mono ({how}): "
                         "matched as mono")
        if channels == 1:
            if ex.shape[0] == 2:
                # the mirror of a mono reference's dual mono: a mono master plays on both
                # speakers, 3 dB louder than one channel measures (it came out 3 dB over a
                # stereo reference on a stereo pair)
                lufs -= 10.0 * math.log10(2.0)
            ex = ex.mean(axis=0, keepdims=True)
        ref_ex.append((ex, w))
        ref_lufs += w * lufs
    if dual_mono:
        notes.append("the reference is mono: matched as dual mono (its loudness on two "
                     "speakers)")
    if channels == 1 and any(s.info.channels == 2 for s in ref_scans):
        notes.append("the mix is mono: matched against the reference's mid, and as loud as "
                     "the reference when played on two speakers (3 dB under it as one "
                     "channel measures)")
    per_track_s = max(10.0, cfg.excerpt_s / len(mixes))
    parts = []
    for i, s in enumerate(scans):
        scans[i], ex = _excerpts(s, per_track_s, "mix")
        notes.extend(_one_sided(ex, s.info.path.name))
        parts.append(resample(ex, s.info.sample_rate, rate))
    return _Analysis(mixes, scans, refs, ref_scans, rate, channels,
                     np.concatenate(parts, axis=1), ref_ex, ref_lufs, any_mono)


def _target_lufs(cfg: MasterConfig, job: _Analysis, notes: list[str]) -> float:
    """The loudness (LUFS) the tracks are brought to: the references', a preset or a number,
    moved from the mix's by the loudness amount."""
    mix_lufs = _pooled_lufs(job.scans)
    if not cfg.matches("loudness"):
        return mix_lufs
    goal = cfg.lufs if cfg.lufs is not None else job.ref_lufs
    target = mix_lufs + cfg.amount_of("loudness") * (goal - mix_lufs)
    if mix_lufs > target + 0.5:
        notes.append(f"the mix is already louder than the target ({mix_lufs:.1f} vs "
                     f"{target:.1f} LUFS): it is turned down, not pushed")
    return target


_REFIT_SHORT_LU = 0.5  # a predicted loudness shortfall that refits the density for it
_REFITS = 3  # refits at most, each with what the last left missing
_PLAINLY_IN_REACH_DB = 3.0  # peak reduction (dB) at the plain gain that needs no search


def _predicted_shortfall_lu(settings: MasterSettings, job: _Analysis, target: float,
                            cfg: MasterConfig, ceiling_dbtp: float) -> float:
    """How far (LU, >= 0) under the target the excerpts come out at the output gain that
    `find_output_gain` allows (no more than cfg.max_limiting_db of limiting) under the
    limiter's ceiling_dbtp.

    No search where the target is plainly in reach: at the gain that gives the excerpts the
    target before limiting, their sample peaks pass the ceiling by _PLAINLY_IN_REACH_DB or
    less (true peaks a dB or so more; music's loudness falls by about half the limiting, so
    the limiter ends well under its cap). 0.12 s of every master otherwise.
    """
    pre = render(plan_for(settings, job.rate, job.channels), job.mix_ex, limit=False)
    plain_gain_db = target - gated_lufs(block_powers(pre, job.rate))
    peak_db = 20.0 * math.log10(float(np.max(np.abs(pre))) + 1e-12)
    if (peak_db + plain_gain_db - ceiling_dbtp <= _PLAINLY_IN_REACH_DB
            and 2.0 * (_PLAINLY_IN_REACH_DB + 1.0) < cfg.max_limiting_db):
        return 0.0
    limiter = replace(settings.limiter, ceiling_dbtp=ceiling_dbtp)
    _, predicted, capped = find_output_gain(pre, job.rate, target, limiter,
                                            max_limiting_db=cfg.max_limiting_db)
    return max(0.0, target - predicted) if capped else 0.0


def _fit(cfg: MasterConfig, job: _Analysis, target: float, notes: list[str]) -> MasterSettings:
    """Settings fitted on the excerpts, peaks held, balance checked after the whole chain."""
    mix_spectra, ref_spectra = _whole_file_spectra(job)
    ceiling = peak_to_loudness_ceiling(cfg, target, job.ref_peak_dbtp, job.ref_lufs)

    def fitted(headroom_db: float, said: list[str]) -> MasterSettings:
        return fit_settings(job.mix_ex, job.ref_ex, job.rate, cfg, ref_is_mono=job.ref_is_mono,
                            notes=said, mix_spectra=mix_spectra, ref_spectra=ref_spectra,
                            headroom_db=headroom_db)

    settings = fitted(0.0, notes)
    short = first = (_predicted_shortfall_lu(settings, job, target, cfg, ceiling)
                     if cfg.matches("dynamics") and cfg.fit_steps >= 0 else 0.0)
    headroom = 0.0
    for _ in range(_REFITS):
        if short <= _REFIT_SHORT_LU:
            break
        # out of reach under the ceiling with the density the reference's own peaks ask for
        # (a loud master limited on sample peaks passes 0 dBTP): the density takes that much
        # more of the peak-to-loudness ratio, as work the loudness needs; again, with what is
        # still missing added, while the limiter takes less of the ratio than the fit assumes
        # (the density's optimum can stay put until the missing ratio passes that). Only
        # then: where the target is reached anyway, the same change made masters denser than
        # the truth (12 loud pairs: 0.764 -> 0.781 MR-STFT when always on)
        headroom -= short
        refit = fitted(headroom, [])
        left = _predicted_shortfall_lu(refit, job, target, cfg, ceiling)
        if left < short - 0.1:
            settings, short = refit, left
    if short < first - 0.1:
        notes.append(f"the target was {first:.1f} LU out of reach with the reference's own "
                     f"density under the ceiling: the density was fitted again for it "
                     f"({short:.1f} LU left on the excerpts)")
    offset = [s for s in (*job.scans, *job.ref_scans) if s.has_dc]
    if offset:
        # the excerpts were read without it; the mixes lose it in the chain
        notes.append("DC offset removed (5 Hz high-pass): " + ", ".join(
            f"{s.info.path.name} {s.dc_db:.0f} dBFS" for s in offset))
        settings = replace(settings, dc_block=any(s.has_dc for s in job.scans))
    if ceiling < cfg.ceiling_dbtp - 0.05:
        settings = replace(settings, limiter=replace(settings.limiter, ceiling_dbtp=ceiling))
        notes.append(f"peaks held at {ceiling:.1f} dBTP, below the {cfg.ceiling_dbtp:.1f} dBTP "
                     "ceiling: the reference's peak-to-loudness ratio")
    if cfg.matches("eq"):
        settings = balance_after_chain(settings, job.mix_ex, job.rate, target)
    return settings


@dataclass
class _Written:
    """The mastered tracks: settings with the final output gain, passes, loudness reached."""

    settings: MasterSettings
    results: list[MasterPass]
    passes: int
    lufs: float


def _render(settings: MasterSettings, job: _Analysis, outs: list[Path | None], target: float,
            cfg: MasterConfig, subtype: str | None, progress: Progress | None,
            notes: list[str]) -> _Written:
    """Master each track at the output gain the excerpts predict; again, with the gain
    corrected, while the whole tracks miss the loudness target. A lossy file's ceiling is
    lowered first by what its encoder added to the excerpts' peaks, and again while the
    decoded file still peaks above the ceiling."""
    n = len(job.mixes)
    pre_ex = render(plan_for(settings, job.rate, job.channels), job.mix_ex, limit=False)
    whole = None
    pooled = _pooled_blocks(job.scans)
    if pooled.size and not _excerpts_are_whole(job):
        # the whole mix's 400 ms blocks, each moved as the chain moved the excerpts' blocks
        # of its level: the whole programme before the output gain, without rendering it
        levels, change = level_map(block_powers(job.mix_ex, job.rate),
                                   block_powers(pre_ex, job.rate))
        whole = moved(pooled, levels, change)
    gain_db, _, capped = find_output_gain(pre_ex, job.rate, target, settings.limiter,
                                          whole_blocks=whole, max_limiting_db=cfg.max_limiting_db)
    del pre_ex
    settings = replace(settings, output_gain_db=gain_db)
    lossy = {i: o for i, (o, s) in enumerate(zip(outs, job.scans))
             if o is not None and _written_subtype(o, subtype, s) in LOSSY_SUBTYPES}
    ceiling_before = settings.limiter.ceiling_dbtp
    # what the encoder adds to the peaks, measured first on the excerpts: the whole tracks
    # are then mostly rendered and encoded once (an MP3 encode is twice the render)
    first_over = max((_encoded_over_db(settings, job, o, subtype, cfg.ceiling_dbtp)
                      for o in {format_for(o): o for o in lossy.values()}.values()),
                     default=0.0)
    if first_over > 0.0:
        settings = replace(settings, limiter=replace(
            settings.limiter,
            ceiling_dbtp=settings.limiter.ceiling_dbtp - first_over - _LOSSY_MARGIN_DB))
    bits = [b for o, s in zip(outs, job.scans) if o is not None
            and (b := bits_of_subtype(_written_subtype(o, subtype, s))) is not None]
    if bits:
        # an 8-bit file's dither moved a peak held at the ceiling to -0.98 dBTP
        settings = replace(settings, limiter=replace(
            settings.limiter, ceiling_dbtp=dither_safe_ceiling_dbtp(settings.limiter, min(bits))))

    def run_passes(what: str) -> list[MasterPass]:
        return [
            master_pass(m, plan_for(settings, s.info.sample_rate, job.channels), o,
                        subtype=subtype, like=s.info, seed=cfg.seed + i, progress=progress,
                        tag=_tag(what, i, n))
            for i, (m, s, o) in enumerate(zip(job.mixes, job.scans, outs))
        ]

    def loudness(results: list[MasterPass]) -> float:
        """Integrated loudness (LUFS) of all the tracks written, pooled."""
        return gated_lufs(np.concatenate([r.meter.block_power() for r in results]))

    passes = 0
    while True:
        passes += 1
        results = run_passes("mastering" if passes == 1 else f"mastering, loudness pass {passes}")
        got = loudness(results)
        error = target - got
        if abs(error) <= _LUFS_TOLERANCE or passes >= _MAX_PASSES:
            break
        max_gr = max(r.limiter_max_gr_db for r in results)
        if error > 0 and (capped or max_gr > cfg.max_limiting_db):
            break  # the ceiling wins: louder only by limiting beyond the cap
        # the limiter takes part of a gain increase: step a little further
        step = error * (1.3 if error > 0 and max_gr > 1.0 else 1.0)
        settings = replace(settings, output_gain_db=settings.output_gain_db + step)
    for attempt in range(_LOSSY_TRIES + 1):
        # a lossy codec moves the peaks it is given: the ceiling is checked on the decoded
        # files, and the limiter's ceiling lowered by what encoding added until they keep it
        decoded = {i: decoded_peak(o) for i, o in lossy.items()}
        results = [replace(r, peak=decoded.get(i, r.peak)) for i, r in enumerate(results)]
        over = max((m.dbtp() - cfg.ceiling_dbtp for m in decoded.values()), default=0.0)
        if attempt == 0 and first_over <= 0.0:
            first_over = over
        if over <= 0.0 or attempt == _LOSSY_TRIES:
            break
        limiter = settings.limiter
        settings = replace(settings, limiter=replace(
            limiter, ceiling_dbtp=limiter.ceiling_dbtp - over - _LOSSY_MARGIN_DB))
        results = run_passes("mastering, peaks held for the encoder")
        got = loudness(results)
    if lossy:
        worst = max(results[i].peak.dbtp() for i in lossy)
        if worst > cfg.ceiling_dbtp:
            notes.append(f"the encoded file peaks at {worst:.1f} dBTP, above the "
                         f"{cfg.ceiling_dbtp:.1f} dBTP ceiling, after {_LOSSY_TRIES} tries "
                         "with a lower limiter ceiling; write a WAV or FLAC and encode it "
                         "with more headroom")
        elif settings.limiter.ceiling_dbtp < ceiling_before - 0.05:
            notes.append(f"peaks held at {settings.limiter.ceiling_dbtp:.1f} dBTP before "
                         f"encoding: the lossy encoder took them {first_over:.1f} dB over "
                         "the ceiling")
    return _Written(settings, results, passes, got)


_AUDIBLE_FLOOR_DBFS = -80.0  # a word-length floor raised above this can be heard as hiss
_RAISED_DB = 6.0  # by at least this much: the master made it so


def _raised_floor(mix: Path, subtype: str, gain_db: float) -> str | None:
    """A note where the gain (dB, _RAISED_DB or more) raises a fixed-point mix's word-length
    floor (its quantisation noise, 6.02 dB per bit + 1.76 dB under a full-scale sine) above
    _AUDIBLE_FLOOR_DBFS."""
    bits = bits_of_subtype(subtype)
    if bits is None:
        return None
    floor = -6.02 * bits - 1.76
    if floor + gain_db <= _AUDIBLE_FLOOR_DBFS or gain_db < _RAISED_DB:
        return None  # under the hiss line, or where it was (an 8-bit file is hissy as it is)
    return (f"{mix.name} is quiet for its {bits} bits: the master raised it {gain_db:.0f} dB, "
            f"and its word-length floor with it, from about {floor:.0f} to {floor + gain_db:.0f}"
            f" dBFS, where hiss can be heard in quiet passages; export the mix at 24 bits (or "
            "as float), or record it hotter")


def _report(cfg: MasterConfig, job: _Analysis, outs: list[Path | None], written: _Written,
            target: float, subtype: str | None, notes: list[str], t0: float) -> MasterReport:
    """What was done, per track, against the references."""
    if target - written.lufs > 0.5:
        notes.append(f"the target {target:.1f} LUFS cannot be reached under the "
                     f"{cfg.ceiling_dbtp:.1f} dBTP ceiling without limiting more than "
                     f"{cfg.max_limiting_db:.0f} dB: reached {written.lufs:.1f} LUFS "
                     f"({target - written.lufs:.1f} LU short)"
                     + (f"; the reference itself peaks at {job.ref_peak_dbtp:+.1f} dBTP, "
                        "a higher --ceiling comes closer"
                        if job.ref_peak_dbtp > cfg.ceiling_dbtp + 0.5 else ""))
    tracks = []
    for s, m, o, r in zip(job.scans, job.mixes, outs, written.results):
        said = _raised_floor(m, s.info.subtype, r.meter.integrated_lufs() - s.lufs)
        if said:
            notes.append(said)
        bits = None
        sub = s.info.subtype
        if o is not None:
            sub = _written_subtype(o, subtype, s)
            b = bits_of_subtype(sub)
            bits = b if b is not None and b <= 24 else None
        tracks.append(TrackReport(
            mix=str(m), output=str(o) if o is not None else None,
            sample_rate=s.info.sample_rate, channels=job.channels, subtype=sub,
            seconds=s.duration_s,
            before=Measures(s.lufs, s.true_peak_dbtp, s.crest_db, s.width_db),
            after=Measures(r.meter.integrated_lufs(), r.peak.dbtp(), r.stats.crest_db(),
                           r.stats.width_db()),
            limiter_max_gr_db=r.limiter_max_gr_db, limiter_mean_gr_db=r.limiter_mean_gr_db,
            compressor_mean_gr_db=r.compressor_mean_gr_db, passes=written.passes,
            dithered_bits=bits, audio=r.audio))
    reference = (str(job.refs[0][0]) if len(job.refs) == 1
                 else ", ".join(f"{p}:{w:.2f}" for p, w in job.refs))
    return MasterReport(
        reference=reference, reference_measures=job.ref_measures(), target_lufs=float(target),
        ceiling_dbtp=cfg.ceiling_dbtp, amount=cfg.amount, matched=sorted(cfg.only),
        settings=written.settings.summary(), tracks=tracks, notes=notes,
        seconds=time.monotonic() - t0,
        amounts={a: cfg.amount_of(a) for a in sorted(cfg.only)})


def master(
    mix: str | os.PathLike[str],
    reference: ReferenceLike | Sequence[ReferenceLike],
    out: str | os.PathLike[str] | None = None,
    *,
    config: MasterConfig | None = None,
    album: Sequence[str | os.PathLike[str]] = (),
    album_out: Sequence[str | os.PathLike[str]] | None = None,
    report: str | os.PathLike[str] | None = None,
    subtype: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> MasterReport:
    """Master `mix` (and `album` mixes, consistently) towards one or more references.

    ``reference`` is a path, "path:weight", a (path, weight) pair or a list of them (weights
    are normalised). What is matched and how far is `config` (`MasterConfig`: loudness target
    or preset, true-peak ceiling dBTP, amounts per aspect, EQ phase, ...). The output keeps
    the mix's sample rate, channels and bit depth (dithered when integer), written atomically
    in blocks; with ``out=None`` the result is returned in ``report.track.audio``. Album tracks
    go to `album_out` (default: next to `out`, "<mix>-mastered<ext>"). ``report`` writes the
    report: an HTML page when it ends in ".html"/".htm", JSON when in ".json".
    """
    t0 = time.monotonic()
    if config is not None and not isinstance(config, MasterConfig):
        raise ParameterError(f"config must be a MasterConfig, got {type(config).__name__}; "
                             "e.g. MasterConfig(lufs=-9)")
    for what, path in (("mix", mix), *(("album mix", a) for a in album)):
        if not isinstance(path, (str, os.PathLike)):
            raise ParameterError(f"the {what} must be a file path, got "
                                 f"{type(path).__name__}: mastering streams whole files; "
                                 "write the audio to a WAV first")
    cfg = config if config is not None else MasterConfig()
    refs = references(reference)
    mixes, outs = _outputs(mix, album, out, album_out)
    # every output (audio, album tracks, report) is checked before any work starts
    check_outputs([o for o in (*outs, report) if o is not None],
                  [*mixes, *(p for p, _ in refs)], force=force)
    if report is not None:
        check_suffix(report, REPORT_SUFFIXES, "the report: a web page, or JSON", "report")
    for m, o in zip(mixes, outs):
        if o is not None:  # an unknown extension, a bad subtype or rate, before any work
            fmt = format_for(o)
            if subtype is not None:
                choose_subtype(fmt, subtype=subtype)
            check_format_rate(o, audio_info(m, role="mix").sample_rate, subtype)
    # a number given with a preset wins over the preset's: said, not silently taken
    notes = cfg.preset_overrides()
    tick = _ticker(progress)
    job = _analyse(mixes, refs, cfg, notes, tick)
    target = _target_lufs(cfg, job, notes)
    tick("fitting", 0, 1)
    settings = _fit(cfg, job, target, notes)
    tick("fitting", 1, 1)
    written = _render(settings, job, outs, target, cfg, subtype, progress, notes)
    doc = _report(cfg, job, outs, written, target, subtype, notes, t0)
    if report is not None:
        _save_report(doc, Path(report), job, written.settings, force)
    return doc


def _save_report(doc: MasterReport, path: Path, job: _Analysis, settings: MasterSettings,
                 overwrite: bool) -> None:
    """JSON, or (".html"/".htm") a self-contained page with curves, histograms and players."""
    if path.suffix.lower() == ".json":
        doc.save(path, overwrite=overwrite)
        return
    from tonemorph.master.report_html import write_master_html

    plan = plan_for(settings, job.rate, job.channels)
    mastered = render(plan, job.mix_ex)
    write_master_html(path, doc, job.rate, mix=job.mix_ex, mastered=mastered,
                      reference=job.ref_ex[int(np.argmax([w for _, w in job.ref_ex]))][0],
                      overwrite=overwrite)


def _ticker(progress: Progress | None) -> Progress:
    """progress, or a no-op."""
    def tick(tag: str, done: int, total: int, loss: float = math.nan) -> None:
        if progress is not None:
            progress(tag, done, total, loss)
    return tick


def _written_subtype(out: Path, subtype: str | None, scan_: TrackScan) -> str:
    """The subtype a track's output file is written in (as its `AtomicAudioWriter` picks it)."""
    return choose_subtype(format_for(out), subtype=subtype, like=scan_.info)


def _encoded_over_db(settings: MasterSettings, job: _Analysis, out: Path, subtype: str | None,
                     ceiling_dbtp: float) -> float:
    """How far (dB) the mix excerpts' master, encoded as `out` will be and decoded, peaks
    above ceiling_dbtp."""
    audio = render(plan_for(settings, job.rate, job.channels), job.mix_ex)
    with tempfile.TemporaryDirectory(prefix="tonemorph-encode-") as tmp:
        probe = Path(tmp) / f"excerpts{out.suffix}"
        with AtomicAudioWriter(probe, job.rate, job.channels, subtype=subtype,
                               like=job.scans[0].info) as writer:
            for i in range(0, audio.shape[1], 1 << 16):  # libsndfile's Vorbis: small writes
                writer.write(audio[:, i : i + (1 << 16)])
        return decoded_peak(probe).dbtp() - ceiling_dbtp


def _tag(what: str, i: int, n: int) -> str:
    """Progress label: "mastering", or "mastering 2/3" in album mode."""
    return what if n == 1 else f"{what} {i + 1}/{n}"


def _whole_file_spectra(job: _Analysis) -> tuple[Spectra | None, list[Spectra | None] | None]:
    """Mean log spectra of the whole mix (album pooled) and of each reference, for the EQ."""
    scans = job.scans
    if any(s.spectra is None for s in scans) or len({s.info.sample_rate for s in scans}) != 1:
        return None, None  # album at mixed rates: the excerpts (resampled) are matched instead
    pooled = scans[0].spectra
    for s in scans[1:]:
        pooled = pooled.merge(s.spectra)
    stereo = job.channels == 2 and not job.ref_is_mono
    mix_sp: Spectra = {"mid": pooled.mean_log_db("mid")}
    if stereo:
        mix_sp["side"] = pooled.mean_log_db("side")
    refs: list[Spectra | None] = []
    for r in job.ref_scans:
        if r.spectra is None:
            refs.append(None)
            continue
        sp: Spectra = {"mid": r.spectra.mean_log_db("mid")}
        if stereo and r.info.channels == 2:
            sp["side"] = r.spectra.mean_log_db("side")
        refs.append(sp)
    return mix_sp, refs


def _excerpts_are_whole(job: _Analysis) -> bool:
    """Whether the mix excerpts are the whole mixes (each shorter than its excerpt time)."""
    return (all(s.info.sample_rate == job.rate for s in job.scans)
            and job.mix_ex.shape[1] == sum(s.info.frames for s in job.scans))


def _pooled_blocks(scans: Sequence[TrackScan]) -> np.ndarray:
    """K-weighted 400 ms block powers (75 % overlap) of scanned files, one after another."""
    blocks = [sum(s.segment_power[k : s.segment_power.size - 3 + k] for k in range(4)) / 4.0
              for s in scans if s.segment_power.size >= 4]
    return np.concatenate(blocks) if blocks else np.zeros(0)


def _pooled_lufs(scans: Sequence[TrackScan]) -> float:
    """Integrated loudness (LUFS) of several scanned files taken as one programme."""
    if len(scans) == 1:
        return scans[0].lufs
    blocks = _pooled_blocks(scans)
    return gated_lufs(blocks) if blocks.size else max(s.lufs for s in scans)
