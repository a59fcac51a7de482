"""Quality metrics (DESIGN.md §5): ESR, alignment, MR-STFT, log-mel, level-binned spectra, pitch.

Pure numpy/scipy. Audio is ``(channels, samples)`` or 1-D ``(samples,)``. "est" is the signal
being judged, "ref" the ground truth (or the unpaired example). Modules: `sample` (ESR,
grade, alignment), `spectral`, `pitch`, `score` (all of them at once).
"""

from __future__ import annotations

from tonemorph.metrics.pitch import PitchReport, pitch_cents_error, track_f0
from tonemorph.metrics.sample import ESR_GRADES, align, esr, esr_grade
from tonemorph.metrics.score import score
from tonemorph.metrics.spectral import (
    MAG_POWER_EPS,
    MRSTFT_FFT_SIZES,
    frame_levels_db,
    level_binned_error_db,
    level_binned_spectra,
    logmel_distance_db,
    mrstft_distance,
)

__all__ = [
    "ESR_GRADES",
    "MAG_POWER_EPS",
    "MRSTFT_FFT_SIZES",
    "PitchReport",
    "align",
    "esr",
    "esr_grade",
    "frame_levels_db",
    "level_binned_error_db",
    "level_binned_spectra",
    "logmel_distance_db",
    "mrstft_distance",
    "pitch_cents_error",
    "score",
    "track_f0",
]
