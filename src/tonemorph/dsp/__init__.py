"""Pure numpy/scipy signal primitives: biquads, FIR design, loudness, static match-EQ, units."""

from tonemorph.dsp.biquad import (
    freq_response_db,
    high_shelf,
    highpass,
    low_shelf,
    lowpass,
    peaking,
    rbj_section,
)
from tonemorph.dsp.fir import (
    cepstral_minimum_phase,
    linear_phase_from_magnitude,
    log_band_curve_to_bins,
    minimum_phase_from_magnitude,
    smooth_log_spectrum,
)
from tonemorph.dsp.loudness import (
    active_frames,
    crest_factor_db,
    frame_rms_db,
    gated_lufs,
    integrated_lufs,
    rms_db,
    true_peak_dbtp,
)
from tonemorph.dsp.matcheq import (
    active_rms_db,
    apply_match_eq,
    long_term_spectrum_db,
    match_eq_curve_db,
    match_eq_fir,
)
from tonemorph.dsp.units import db_to_gain, gain_to_db, power_to_db

__all__ = [
    "highpass",
    "lowpass",
    "peaking",
    "low_shelf",
    "high_shelf",
    "freq_response_db",
    "rbj_section",
    "cepstral_minimum_phase",
    "minimum_phase_from_magnitude",
    "linear_phase_from_magnitude",
    "log_band_curve_to_bins",
    "smooth_log_spectrum",
    "integrated_lufs",
    "gated_lufs",
    "true_peak_dbtp",
    "rms_db",
    "crest_factor_db",
    "frame_rms_db",
    "active_frames",
    "long_term_spectrum_db",
    "match_eq_curve_db",
    "match_eq_fir",
    "apply_match_eq",
    "active_rms_db",
    "db_to_gain",
    "gain_to_db",
    "power_to_db",
]
