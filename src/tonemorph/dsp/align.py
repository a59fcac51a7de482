"""Latency between a DI and its reamped recording: whitened FFT cross-correlation.

Each signal's spectrum is divided by its own smoothed magnitude (spectral whitening) inside a
band where guitar audio has energy, so the correlation peak is sharp whatever the gear's EQ or
cabinet does to the tone; the absolute peak is taken, so polarity inversions are found too.
The peak's height over the correlation's noise floor says whether the files are one
performance at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.ndimage

from tonemorph.errors import AudioContentError, ParameterError

MAX_LAG_MS = 2000.0  # reamp round trips are tens of ms; allow a clumsy manual offset too
BAND_HZ = (80.0, 8000.0)  # guitar DI energy; hum below and hiss above carry no timing
SMOOTH_HZ = 50.0  # width of the magnitude smoothing used for whitening
ANALYSIS_S = 120.0  # the first this many seconds are enough to find a constant latency
MIN_PROMINENCE_DB = 6.0  # peak must rise this far above the largest peak chance would give
N_BLOCKS = 3  # the pair is also cut into this many blocks, each aligned on its own
BLOCK_TOLERANCE_MS = 0.5  # a block agrees when its lag is this close to the overall one
MIN_AGREEMENT = 0.6  # fraction of sounding blocks that must agree: one performance, one lag
MIN_AGREEING_BLOCKS = 2  # two unrelated blocks land on one lag by chance ~0.03 % of the time
MIN_LENGTH_RATIO = 0.5  # shorter file over longer file below this: not one performance
MIN_SECONDS = 0.5
ONSET_TAPS = 1024  # linear predictor length of the onset refinement (21 ms at 48 kHz)
ONSET_SEARCH = (-48, 4)  # lags around the correlation peak tried by the onset refinement
ONSET_TOLERANCE = 1e-3  # residual rise per sample (relative) that marks a lag too late
ONSET_SECONDS = 20.0


@dataclass(frozen=True)
class Alignment:
    """Latency of target behind input (positive: the target is late) and how sure we are.

    lag_samples is the latency to remove (target[lag:] lines up with input): where the gear's
    response starts, the latest lag from which a causal model can still explain the target.
    The correlation peak comes a little later through a filter (its group delay): it is
    peak_samples, and lag_exact is its sub-sample position (parabolic fit). correlation is the
    whitened correlation
    coefficient at the peak (1 for a pure delay, lower through distortion); prominence_db is
    the peak over the correlation's RMS noise floor, noise_db the largest peak chance would
    give at this search range; agreement is the fraction of sounding blocks of the pair
    whose own lag matches (two different performances agree nowhere, even when they share
    notes and tempo); polarity is -1 when the target is inverted.
    """

    lag_samples: int
    peak_samples: int
    lag_exact: float
    sample_rate: int
    correlation: float
    prominence_db: float
    noise_db: float
    agreement: float
    agreeing_blocks: int
    polarity: int

    @property
    def lag_ms(self) -> float:
        """Latency to remove in milliseconds."""
        return 1000.0 * self.lag_samples / self.sample_rate

    @property
    def confident(self) -> bool:
        """True when the peak clearly beats chance (see MIN_PROMINENCE_DB)."""
        return (self.prominence_db >= self.noise_db + MIN_PROMINENCE_DB
                and self.agreement >= MIN_AGREEMENT
                and self.agreeing_blocks >= MIN_AGREEING_BLOCKS)

    def describe(self) -> str:
        """One line: latency in samples and ms, polarity, correlation."""
        inv = ", polarity inverted" if self.polarity < 0 else ""
        return (f"latency {self.lag_samples} samples ({self.lag_ms:+.2f} ms at "
                f"{self.sample_rate} Hz{inv}; correlation peak at {self.lag_exact:.2f} samples, "
                f"{self.correlation:.2f}, {self.prominence_db:.0f} dB over the noise floor)")


def _check(x: np.ndarray, name: str, sample_rate: int) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1:
        raise ParameterError(f"{name} must be 1-D (samples,), got shape {v.shape}; "
                             "mix it to mono first")
    if not np.all(np.isfinite(v)):
        raise AudioContentError(f"the {name} contains NaN or Inf samples; clean it first")
    if len(v) < MIN_SECONDS * sample_rate:
        raise AudioContentError(f"the {name} is only {len(v) / sample_rate:.2f} s long; "
                                f"latency detection needs at least {MIN_SECONDS} s")
    if not np.any(v):
        raise AudioContentError(f"the {name} is silent; nothing to align")
    return v


def _whitened_spectrum(x: np.ndarray, n_fft: int, sample_rate: int) -> np.ndarray:
    """rfft of x divided by its smoothed magnitude, zero outside BAND_HZ."""
    spec = scipy.fft.rfft(x, n_fft, workers=-1)
    df = sample_rate / n_fft
    mag = scipy.ndimage.uniform_filter1d(np.abs(spec), max(1, int(SMOOTH_HZ / df)))
    f = np.arange(len(spec)) * df
    lo, hi = BAND_HZ[0], min(BAND_HZ[1], 0.45 * sample_rate)
    band = (f >= lo) & (f <= hi)
    floor = 1e-6 * float(mag[band].max()) if band.any() and mag[band].max() > 0 else 1.0
    out = np.zeros_like(spec)
    out[band] = spec[band] / np.maximum(mag[band], floor)
    return out


def _correlation(x: np.ndarray, y: np.ndarray, max_lag: int, sample_rate: int
                 ) -> tuple[np.ndarray, float]:
    """Whitened cross-correlation c[k] = sum y[n + k] x[n] for k in -max_lag..max_lag, and
    the product of the whitened signals' norms (c / norm is a correlation coefficient)."""
    n_fft = scipy.fft.next_fast_len(len(x) + len(y) + 1, real=True)
    xw = _whitened_spectrum(x, n_fft, sample_rate)
    yw = _whitened_spectrum(y, n_fft, sample_rate)
    corr = scipy.fft.irfft(yw * np.conj(xw), n_fft, workers=-1)
    lags = np.arange(-max_lag, max_lag + 1)
    # Parseval for a one-sided spectrum: sum x^2 = 2 / n_fft * sum |X|^2 (DC, Nyquist are 0)
    norm = math.sqrt(float(np.sum(np.abs(xw) ** 2) * np.sum(np.abs(yw) ** 2))) * 2 / n_fft
    return corr[lags % n_fft], norm


def _block_agreement(x: np.ndarray, y: np.ndarray, lag: int, max_lag: int,
                     sample_rate: int) -> tuple[float, int]:
    """Fraction and number of sounding blocks of x whose own best lag (±max_lag) is `lag`."""
    n_block = len(x) // N_BLOCKS
    rms = [float(np.sqrt(np.mean(x[i * n_block: (i + 1) * n_block] ** 2)))
           for i in range(N_BLOCKS)]
    loud = max(rms)
    tol = max(2, int(BLOCK_TOLERANCE_MS * 1e-3 * sample_rate))
    votes = []
    for i, r in enumerate(rms):
        if r < 0.03 * loud:  # a silent block has no timing to tell
            continue
        s = i * n_block
        xb = x[s: s + n_block]
        y0 = s - max_lag
        yb = y[max(y0, 0): s + n_block + max_lag]
        c, _ = _correlation(xb, yb, max_lag + n_block, sample_rate)
        # c[j] is the lag j - (max_lag + n_block) relative to the start of yb
        offset = max(y0, 0) - s
        lags = np.arange(-(max_lag + n_block), max_lag + n_block + 1) + offset
        ok = np.abs(lags) <= max_lag
        best = int(lags[ok][np.argmax(np.abs(c[ok]))])
        votes.append(abs(best - lag) <= tol)
    return (float(np.mean(votes)) if votes else 0.0), int(np.sum(votes))


def onset_lag(x: np.ndarray, y: np.ndarray, peak: int, sample_rate: int) -> int:
    """The latest lag near `peak` from which a causal linear predictor still explains y.

    For each lag s the best ONSET_TAPS-tap FIR from x[n - s - k] to y[n] is solved from the
    correlations (Toeplitz normal equations); its residual is flat while the window covers
    the response's start and rises once s passes it. The largest s before the rise is kept,
    so neither a grey-box chain nor a neural net has to predict the future.
    """
    n = min(len(x), len(y), int(ONSET_SECONDS * sample_rate))
    lo, hi = ONSET_SEARCH
    if n <= ONSET_TAPS + hi - lo:
        return peak
    xs, ys = x[:n], y[:n]
    n_fft = scipy.fft.next_fast_len(2 * n + ONSET_TAPS, real=True)
    fx, fy = scipy.fft.rfft(xs, n_fft), scipy.fft.rfft(ys, n_fft)
    auto = scipy.fft.irfft(fx * np.conj(fx), n_fft)[:ONSET_TAPS]
    cross = scipy.fft.irfft(fy * np.conj(fx), n_fft)  # cross[k] = sum y[m + k] x[m]
    auto = auto.copy()
    auto[0] *= 1 + 1e-9  # a touch of ridge: band-limited input makes the system ill-posed
    energy = float(np.dot(ys, ys))
    if energy <= 0 or auto[0] <= 0:
        return peak
    lags = np.arange(peak + lo, peak + hi + 1)
    resid = np.empty(len(lags))
    for i, s in enumerate(lags):
        p = cross[(s + np.arange(ONSET_TAPS)) % n_fft]
        h = scipy.linalg.solve_toeplitz(auto, p, check_finite=False)
        resid[i] = (energy - float(p @ h)) / energy
    # walk left from the peak while each step back still buys a clear drop in the residual;
    # where the curve flattens the response has begun (further left it drifts: through
    # distortion, taps on the input's future can explain a little of the nonlinear part)
    tol = ONSET_TOLERANCE * float(resid.min()) + 1e-12
    rise = np.diff(resid)  # rise[i]: residual change from lags[i] to lags[i + 1]
    i = len(rise) - 1
    if rise[i] <= tol:
        return peak  # no clear start found (almost no linear part): keep the peak
    while i >= 0 and rise[i] > tol:
        i -= 1
    return int(lags[i + 1])


def detect_latency(input: np.ndarray, target: np.ndarray, sample_rate: int, *,
                   max_lag_ms: float = MAX_LAG_MS) -> Alignment:
    """Latency (samples, ms) of target behind input, both 1-D at sample_rate (Hz).

    Robust to gain, polarity and filtering; negative when the target is early. Does not
    refuse: check `Alignment.confident`, or use `align_pair`, which does.
    """
    if sample_rate <= 0:
        raise ParameterError(f"sample_rate must be positive (Hz), got {sample_rate}")
    if not (math.isfinite(max_lag_ms) and max_lag_ms > 0):
        raise ParameterError(f"max_lag_ms must be a positive number of ms, got {max_lag_ms}")
    x, y = _check(input, "input", sample_rate), _check(target, "target", sample_rate)
    max_lag = round(max_lag_ms * 1e-3 * sample_rate)
    n_an = int(ANALYSIS_S * sample_rate)
    x, y = x[:n_an], y[: n_an + max_lag]
    c, energy = _correlation(x, y, max_lag, sample_rate)
    lags = np.arange(-max_lag, max_lag + 1)
    a = np.abs(c)
    k = int(np.argmax(a))
    frac = 0.0
    if 0 < k < len(a) - 1:
        den = a[k - 1] - 2 * a[k] + a[k + 1]
        if den < 0:
            frac = float(np.clip(0.5 * (a[k - 1] - a[k + 1]) / den, -0.5, 0.5))
    guard = max(int(0.002 * sample_rate), 8)  # the peak's own skirt (cabinet smear) is not noise
    mask = np.ones(len(a), bool)
    mask[max(k - guard, 0): k + guard + 1] = False
    noise_rms = float(np.sqrt(np.mean(a[mask] ** 2))) if mask.any() else 0.0
    prominence = 20 * math.log10(a[k] / noise_rms) if noise_rms > 0 else math.inf
    # largest of ~len(a) independent Gaussian values with unit RMS: sqrt(2 ln M)
    noise_db = 20 * math.log10(math.sqrt(2 * math.log(max(len(a), 2))))
    agreement, n_agree = _block_agreement(x, y, int(lags[k]), max_lag, sample_rate)
    onset = onset_lag(x, y, int(lags[k]), sample_rate)
    return Alignment(lag_samples=onset, peak_samples=int(lags[k]),
                     lag_exact=float(lags[k] + frac),
                     sample_rate=int(sample_rate),
                     correlation=float(min(a[k] / energy, 1.0)) if energy > 0 else 0.0,
                     prominence_db=float(prominence), noise_db=float(noise_db),
                     agreement=agreement, agreeing_blocks=n_agree,
                     polarity=1 if c[k] >= 0 else -1)


def check_lengths(n_input: int, n_target: int, sample_rate: int) -> None:
    """Refuse a pair whose lengths (samples) are too different to be one performance."""
    short, long_ = sorted((n_input, n_target))
    if long_ and short / long_ < MIN_LENGTH_RATIO:
        raise AudioContentError(
            f"these files do not look like the same performance: the input is "
            f"{n_input / sample_rate:.1f} s and the target {n_target / sample_rate:.1f} s long; "
            "record the target by playing the whole input file through your gear")


def align_pair(input: np.ndarray, target: np.ndarray, sample_rate: int, *,
               max_lag_ms: float = MAX_LAG_MS) -> tuple[np.ndarray, np.ndarray, Alignment]:
    """Remove the latency: (input, target) trimmed to their common, aligned part, and the lag.

    Raises AudioContentError ("these files do not look like the same performance") when the
    lengths are far apart or the files do not correlate at any lag within ±max_lag_ms.
    """
    check_lengths(len(np.asarray(input)), len(np.asarray(target)), sample_rate)
    al = detect_latency(input, target, sample_rate, max_lag_ms=max_lag_ms)
    if not al.confident:
        raise AudioContentError(
            "these files do not look like the same performance: the input and the target "
            f"do not line up at any offset within ±{max_lag_ms:.0f} ms ({al.agreeing_blocks} "
            f"of {N_BLOCKS} parts agree on one, correlation {al.correlation:.2f}); pass the DI "
            "that was played through the gear and the recording of exactly that playback")
    x, y = apply_lag(input, target, al.lag_samples)
    return x, y, al


def apply_lag(input: np.ndarray, target: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) float32 trimmed so target[lag:] lines up with input, common length."""
    x = np.asarray(input, dtype=np.float32)
    y = np.asarray(target, dtype=np.float32)
    if lag >= 0:
        y = y[lag:]
    else:
        x = x[-lag:]
    n = min(len(x), len(y))
    return x[:n], y[:n]


__all__ = [
    "MAX_LAG_MS",
    "Alignment",
    "align_pair",
    "apply_lag",
    "check_lengths",
    "detect_latency",
    "onset_lag",
]
