"""Parameter ranges and units of every chain stage, in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "CAB_BANDS_RANGE",
    "CAB_FFT_RANGE",
    "CAB_TAPS_RANGE",
    "INPUT_GAIN_RANGE",
    "RANGES",
    "RANGE_SLACK",
    "ParamSpec",
    "Range",
]

#: Slack (relative to the larger bound) at a range's edges: a value learned at the very edge
#: goes through exp/log and may land one rounding step outside.
RANGE_SLACK = 1e-9


@dataclass(frozen=True)
class Range:
    """A bounded parameter: value = lo + (hi - lo) * sigmoid(raw), or log-spaced when log=True."""

    lo: float
    hi: float
    unit: str
    neutral: float
    log: bool = False

    def to_value(self, raw: Any) -> Any:
        """Map an unconstrained raw value (float, numpy array or torch tensor) to `unit`.

        Tensors go through their own methods (autograd), so this module never imports torch.
        """
        is_tensor = hasattr(raw, "sigmoid")
        s = raw.sigmoid() if is_tensor else 1.0 / (1.0 + np.exp(-np.asarray(raw, np.float64)))
        if self.log:
            y = math.log(self.lo) + (math.log(self.hi) - math.log(self.lo)) * s
            return y.exp() if is_tensor else np.exp(y)
        return self.lo + (self.hi - self.lo) * s

    def settle(self, value: float) -> float:
        """`value` as a learner's chain holds it: to_raw then to_value (1 % inside the edges).

        The fast path applies stored values through this so that it stays equal to the torch
        chain (and to outputs of tones applied before the chain was split into stages).
        """
        return float(self.to_value(self.to_raw(value)))

    def to_raw(self, value: float) -> float:
        """Inverse of `to_value` for a float, clamped just inside the range."""
        if self.log:
            lo, hi, v = math.log(self.lo), math.log(self.hi), math.log(max(value, 1e-12))
        else:
            lo, hi, v = self.lo, self.hi, value
        p = (v - lo) / (hi - lo)
        # not at the very bound: a saturated sigmoid would leave no gradient to learn from
        p = min(max(p, 0.01), 0.99)
        return math.log(p / (1 - p))

    def clamp(self, value: float) -> float:
        """Clamp a float into the range."""
        return min(max(value, self.lo), self.hi)

    @property
    def slack(self) -> float:
        """How far (in `unit`) a stored value may lie outside [lo, hi] and still be taken."""
        return RANGE_SLACK * max(abs(self.lo), abs(self.hi))


@dataclass(frozen=True)
class ParamSpec:
    """One named parameter (key in .tmodel files): its range and vector size (1 for scalars)."""

    name: str
    range: Range
    size: int = 1
    amount: str = field(default="lerp")  # how --amount moves it: lerp, loglerp or keep


# The ranges cover real gear with margin; tighter ranges would make learning easier but
# would refuse fuzz (drive > 40 dB) or slow optical compressors (release ~1 s).
RANGES: dict[str, Range] = {
    "trim_db": Range(-24.0, 24.0, "dB", 0.0),
    "hp_cutoff_hz": Range(10.0, 1000.0, "Hz", 10.0, log=True),
    "shelf_low_hz": Range(60.0, 1000.0, "Hz", 200.0, log=True),
    "shelf_high_hz": Range(800.0, 12000.0, "Hz", 3000.0, log=True),
    "peak_hz": Range(100.0, 8000.0, "Hz", 800.0, log=True),
    "gain_db": Range(-18.0, 18.0, "dB", 0.0),
    "q": Range(0.3, 6.0, "", 0.707, log=True),
    "drive_db": Range(-24.0, 54.0, "dB", -24.0),
    "bias": Range(-0.9, 0.9, "", 0.0),
    "threshold_db": Range(-70.0, 0.0, "dBFS", 0.0),
    "ratio": Range(1.0, 20.0, ":1", 1.0, log=True),
    "attack_ms": Range(0.3, 200.0, "ms", 10.0, log=True),
    "release_ms": Range(5.0, 2000.0, "ms", 100.0, log=True),
    "cab_band_db": Range(-40.0, 30.0, "dB", 0.0),
    # the peak limit's neutral sits far above any float signal: off
    "ceiling_db": Range(-60.0, 24.0, "dBFS", 24.0),
    "out_gain_db": Range(-60.0, 60.0, "dB", 0.0),
}

#: Gain (dB) a tone applies before its chain: learning levels the take to -20 dBFS active RMS;
#: takes are refused below -60 dBFS peak, so a learned gain stays well inside this.
INPUT_GAIN_RANGE = Range(-120.0, 120.0, "dB", 0.0)

#: Cabinet structure a model file may name, inclusive (the learner writes 2048 taps, 64 bands,
#: an 8192-point FFT); bounded so that a file cannot make the chain allocate gigabytes.
CAB_TAPS_RANGE = (16, 32768)  # FIR taps, at most cab_fft
CAB_BANDS_RANGE = (2, 256)  # control points of the band curve
CAB_FFT_RANGE = (256, 65536)  # FFT points of the curve, a power of two
