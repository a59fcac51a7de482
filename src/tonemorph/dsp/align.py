"""Latency between a DI and its reamped recording: onset envelopes, then band-limited GCC.

Coarse: multi-band spectral-flux onset envelopes of both files (1 ms hop) are cross-correlated
over the whole search range. Note onsets survive distortion, cabinets, compression and any EQ,
where a waveform correlation through heavy gain is mostly lost: the old single whitened
correlation over 80 Hz - 8 kHz refused real amps, its upper bands holding only distortion
products and hiss. Fine: a whitened (PHAT) generalised cross-correlation of the waveforms (Knapp
& Carter 1976, "The generalized correlation method for estimation of time delay") searched
only near the coarse lag, over the frequencies where the two files are coherent at all (Welch
coherence above chance), for the sample and sub-sample peak; its absolute value is taken, so a
polarity inversion is found too. Last, the start of the gear's response: from that peak, or
from the largest tap of the linear (H1) response when that is clear and comes earlier
(`linear_peak`), the latest lag from which a causal linear predictor still explains the
target (`onset_lag`). The answer errs early rather than late: a model fitted on the aligned
pair can learn a few samples of delay, never the future.

Whether the files are one performance is told by their parts (leave-one-out): the linear
response fitted on the other parts must explain each part, and each part's own correlation
must (nearly) peak at the overall lag. A different performance, noise, or another take of the
same riff with the same onsets give or take a few ms passes neither in most parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.ndimage

from tonemorph.dsp.designs import hann
from tonemorph.errors import AudioContentError, ParameterError

MAX_LAG_MS = 2000.0  # reamp round trips are tens of ms; allow a clumsy manual offset too
BAND_HZ = (80.0, 8000.0)  # guitar DI energy; hum below and hiss above carry no timing
SMOOTH_HZ = 50.0  # width of the magnitude smoothing used for whitening
ANALYSIS_S = 120.0  # the first this many seconds are enough to find a constant latency
ENV_HOP_MS = 1.0  # onset envelope frame step: the coarse stage's resolution
ENV_WIN_MS = 10.0  # onset envelope frame length (rounded up to a power of two of samples)
ENV_BAND_HZ = (100.0, 6000.0)  # onset bands: where both a DI and a cabinet have energy
ENV_BANDS = 16
ENV_FLOOR = 1e-3  # band energy floor relative to the band's mean: hiss in rests is no onset
FINE_SEARCH_MS = 15.0  # the fine stage looks this far either side of the coarse lag
BEYOND_MS = 100.0  # the coarse stage also looks this far past ±max_lag_ms (found there: refused)
COHERENCE_SEG_MS = 85.0  # Welch segment of the coherence (rounded to a power of two samples)
N_PARTS = 8  # the pair is also cut into up to this many parts, each correlated on its own
MIN_PART_S = 2.5  # parts are at least this long (fewer parts for a short pair)
MIN_PARTS = 3
PART_TOLERANCE_MS = 0.5  # a part agrees when its correlation within this of the overall lag
PART_RATIO = 0.6  # ... is at least this fraction of its own maximum over the search window
MIN_PART_FIT = 0.1  # and the response fitted on the other parts explains it at least this well
SURE_PART_FIT = 0.5  # a part explained this well agrees whatever its own correlation's peak
MIN_AGREEMENT = 0.6  # fraction of sounding parts that must agree: one performance, one lag
MIN_AGREEING_PARTS = 2
MIN_LENGTH_RATIO = 0.5  # shorter file over longer file below this: not one performance
MIN_SECONDS = 0.5
ONSET_TAPS = 1024  # linear predictor length of the onset refinement (21 ms at 48 kHz)
ONSET_SEARCH = (-48, 4)  # lags around the correlation peak tried by the onset refinement
ONSET_PLATEAU = 40  # samples of flat residual next to the peak skipped to find the rise
ONSET_TOLERANCE = 1e-3  # residual rise per sample (relative) that marks a lag too late
ONSET_SECONDS = 20.0
DRIFT_WINDOW_S = 20.0  # the lag is measured again over this much at each end of the pair
MIN_DRIFT_WINDOW_S = 3.0  # ... or a quarter of the pair, not under this
MIN_DRIFT_SAMPLES = 2.0  # a lag that moved this far from one end to the other is clock drift
MAX_DRIFT_PPM = 2000.0  # beyond this the two are not one recording at two clock rates
DRIFT_PASSES = 3  # measure-and-resample rounds (each leaves about a tenth of the drift)


@dataclass(frozen=True)
class Alignment:
    """Latency of target behind input (positive: the target is late) and how sure we are.

    lag_samples is the latency to remove (target[lag:] lines up with input): where the gear's
    response starts, the latest lag from which a causal model can still explain the target.
    The correlation peak comes a little later through a filter (its group delay): it is
    peak_samples, and lag_exact is its sub-sample position (parabolic fit). correlation is the
    whitened correlation coefficient at the peak over the coherent band (1 for a pure delay,
    lower through distortion); coherence is the pair's mean magnitude-squared coherence over
    BAND_HZ at the peak, less its chance level (about 0 for unrelated files). prominence_db is
    the onset envelopes' correlation peak over its RMS, noise_db the largest peak chance would
    give at this search range (for information: a rhythmic riff has high sidelobes).
    agreement is the fraction of the sounding parts of the pair that agree with the lag (see
    `_part_agreement`), agreeing_blocks their number and parts the number of sounding parts;
    polarity is -1 when the target is inverted; in_range is False when the lag found lies
    past the ±max_lag_ms searched (the search looks BEYOND_MS further to tell).
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
    coherence: float = 0.0
    parts: int = 0
    in_range: bool = True
    drift_ppm: float = 0.0  # the target's clock against the input's, corrected by `align_pair`

    @property
    def lag_ms(self) -> float:
        """Latency to remove in milliseconds."""
        return 1000.0 * self.lag_samples / self.sample_rate

    @property
    def confident(self) -> bool:
        """True when enough parts agree (MIN_AGREEMENT, MIN_AGREEING_PARTS) on a lag in range."""
        return self.in_range and self.one_performance

    @property
    def one_performance(self) -> bool:
        """True when enough parts agree on the lag, wherever it is."""
        return (self.agreement >= MIN_AGREEMENT
                and self.agreeing_blocks >= MIN_AGREEING_PARTS
                and self.coherence > 0.0)

    def describe(self) -> str:
        """One line: latency in samples and ms, polarity, correlation, parts agreeing."""
        inv = ", polarity inverted" if self.polarity < 0 else ""
        return (f"latency {self.lag_samples} samples ({self.lag_ms:+.2f} ms at "
                f"{self.sample_rate} Hz{inv}; correlation peak at {self.lag_exact:.2f} samples, "
                f"{self.correlation:.2f}; {self.agreeing_blocks} of {self.parts} parts agree)")


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


def _pow2(samples: float) -> int:
    """The power of two at or above `samples`, at least 16."""
    return 1 << max(4, math.ceil(math.log2(max(samples, 1.0))))


def onset_envelope(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int]:
    """Multi-band spectral-flux onset envelope of x (frames,) and its hop (samples).

    Frame t covers x[t * hop: t * hop + win]. Each band's log energy (floored ENV_FLOOR under
    the band's mean) is differenced, half-wave rectified and standardised, then the bands are
    summed: every band counts whatever the gear's EQ, and an onset in one band of the input
    may reappear in another band of the target (distortion). Zero mean.
    """
    hop = max(1, round(ENV_HOP_MS * 1e-3 * sample_rate))
    win = _pow2(ENV_WIN_MS * 1e-3 * sample_rate)
    if len(x) < win + hop:
        return np.zeros(1), hop
    f = np.fft.rfftfreq(win, 1.0 / sample_rate)
    edges = np.geomspace(ENV_BAND_HZ[0], min(ENV_BAND_HZ[1], 0.45 * sample_rate), ENV_BANDS + 1)
    band = np.searchsorted(edges, f, side="right") - 1
    used = [b for b in range(ENV_BANDS) if np.any(band == b)]
    to_bands = np.zeros((len(f), len(used)), np.float32)  # power of bins -> bands
    for j, b in enumerate(used):
        to_bands[band == b, j] = 1.0
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float32), win)[::hop]
    window = hann(win).astype(np.float32)
    energy = np.empty((len(frames), len(used)))
    step = 8192  # frames per FFT batch: bounded memory on long files
    for i in range(0, len(frames), step):
        spec = scipy.fft.rfft(frames[i: i + step] * window, axis=1, workers=-1)
        energy[i: i + step] = (spec.real ** 2 + spec.imag ** 2) @ to_bands
    log_e = np.log(energy + ENV_FLOOR * energy.mean(axis=0) + 1e-30)
    flux = np.maximum(np.diff(log_e, axis=0, prepend=log_e[:1]), 0.0)
    sd = flux.std(axis=0)
    env = ((flux - flux.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).sum(axis=1)
    return env - env.mean(), hop


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """c[k] = sum b[n + k] a[n] for k in -max_lag..max_lag (FFT; 0 where they do not overlap)."""
    n_fft = scipy.fft.next_fast_len(len(a) + len(b) + 1, real=True)
    c = scipy.fft.irfft(scipy.fft.rfft(b, n_fft) * np.conj(scipy.fft.rfft(a, n_fft)), n_fft)
    lags = np.arange(-max_lag, max_lag + 1)
    return np.where((lags > -len(a)) & (lags < len(b)), c[lags % n_fft], 0.0)


def correlation_lag(x: np.ndarray, y: np.ndarray, max_lag: int) -> int:
    """Lag (samples, -max_lag..max_lag; positive: y late) maximising the plain, signed
    cross-correlation sum y[n + k] x[n] of two 1-D signals.

    For two renderings of one tone (a model's output against the truth), whose waveforms
    match: no whitening, no refusal. A DI against its reamp needs `detect_latency`.
    """
    if max_lag < 0:
        raise ParameterError(f"max_lag must be >= 0 samples, got {max_lag}")
    c = _xcorr(np.asarray(x, np.float64), np.asarray(y, np.float64), max_lag)
    return int(np.argmax(c)) - max_lag


def _parabolic(a: np.ndarray, k: int) -> float:
    """Sub-sample offset (-0.5..0.5) of the maximum of a at index k (parabola through 3)."""
    if 0 < k < len(a) - 1:
        den = a[k - 1] - 2 * a[k] + a[k + 1]
        if den < 0:
            return float(np.clip(0.5 * (a[k - 1] - a[k + 1]) / den, -0.5, 0.5))
    return 0.0


def coarse_lag(x: np.ndarray, y: np.ndarray, max_lag: int, sample_rate: int
               ) -> tuple[int, float, float]:
    """Lag (samples, to ENV_HOP_MS) of y behind x within ±max_lag from the onset envelopes,
    the envelope correlation's peak over its RMS (dB) and the peak chance would give (dB)."""
    ex, hop = onset_envelope(x, sample_rate)
    ey, _ = onset_envelope(y, sample_rate)
    k_max = max(1, max_lag // hop)
    c = _xcorr(ex, ey, k_max)
    k = int(np.argmax(c))
    lag = int(np.clip(round((k - k_max + _parabolic(c, k)) * hop), -max_lag, max_lag))
    guard = max(round(0.025 * sample_rate / hop), 2)  # the peak's own width (window, smear)
    mask = np.ones(len(c), bool)
    mask[max(k - guard, 0): k + guard + 1] = False
    rms = float(np.sqrt(np.mean(c[mask] ** 2))) if mask.any() else 0.0
    prominence = 20 * math.log10(c[k] / rms) if rms > 0 and c[k] > 0 else -math.inf
    # largest of ~len(c) independent Gaussian values with unit RMS: sqrt(2 ln M)
    noise_db = 20 * math.log10(math.sqrt(2 * math.log(max(len(c), 2))))
    return lag, prominence, noise_db


def _part_bounds(n_input: int, sample_rate: int) -> list[tuple[int, int]]:
    """(start, stop) samples of the parts of an input of n_input samples."""
    n_parts = int(np.clip(n_input // max(1, int(MIN_PART_S * sample_rate)), MIN_PARTS, N_PARTS))
    n = n_input // n_parts
    return [(i * n, (i + 1) * n) for i in range(n_parts)]


@dataclass(frozen=True)
class _PartSpectra:
    """Welch sums per part of x and y lined up at one lag: cross (parts, bins) = sum conj(X) Y,
    px, py = sum |X|^2, |Y|^2, segments per part; frequencies (Hz) of the bins."""

    freqs: np.ndarray
    cross: np.ndarray
    px: np.ndarray
    py: np.ndarray
    segments: np.ndarray


def _part_spectra(x: np.ndarray, y: np.ndarray, lag: int, parts: list[tuple[int, int]],
                  sample_rate: int) -> _PartSpectra:
    """Welch cross and auto spectra (Hann, 50 % overlap) of each part of x with y[n + lag]."""
    seg = min(_pow2(COHERENCE_SEG_MS * 1e-3 * sample_rate), _pow2((parts[0][1] - parts[0][0]) / 4))
    hop = seg // 2
    window = hann(seg)
    n_bins = seg // 2 + 1
    cross = np.zeros((len(parts), n_bins), complex)
    px = np.zeros((len(parts), n_bins))
    py = np.zeros((len(parts), n_bins))
    segments = np.zeros(len(parts), int)
    for i, (s, e) in enumerate(parts):
        s, e = max(s, -lag, 0), min(e, len(x), len(y) - lag)  # where both signals exist
        if e - s < seg:
            continue
        xs = np.lib.stride_tricks.sliding_window_view(x[s: e], seg)[::hop]
        ys = np.lib.stride_tricks.sliding_window_view(y[s + lag: e + lag], seg)[::hop]
        for j in range(0, len(xs), 256):  # batches: bounded memory on long parts
            fx = scipy.fft.rfft(xs[j: j + 256] * window, axis=1, workers=-1)
            fy = scipy.fft.rfft(ys[j: j + 256] * window, axis=1, workers=-1)
            cross[i] += np.sum(np.conj(fx) * fy, axis=0)
            px[i] += np.sum(fx.real ** 2 + fx.imag ** 2, axis=0)
            py[i] += np.sum(fy.real ** 2 + fy.imag ** 2, axis=0)
        segments[i] = len(xs)
    return _PartSpectra(np.fft.rfftfreq(seg, 1.0 / sample_rate), cross, px, py, segments)


def _band(freqs: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mask of the frequencies (Hz) inside BAND_HZ."""
    return (freqs >= BAND_HZ[0]) & (freqs <= min(BAND_HZ[1], 0.45 * sample_rate))


def _coherence_mask(sp: _PartSpectra, sample_rate: int) -> tuple[np.ndarray, float]:
    """GCC weight per frequency of sp.freqs (1 where the pair is coherent, else 0) and the
    mean coherence over BAND_HZ.

    The coherence gamma^2 of the whole pair is Welch's, less its chance level (about one over
    the number of segments): a band holding only distortion products, hiss or nothing drops
    out of the correlation. The coherent bands are not weighted further: the
    maximum-likelihood weight gamma^2 / (1 - gamma^2) leans so hard on the few most coherent
    low bands that the peak broadens into the pitch period's sidelobes, and through a drive
    it put the peak later than the response's start more often (measured on 96 guitarix amp
    settings).
    """
    cross, px, py = sp.cross.sum(axis=0), sp.px.sum(axis=0), sp.py.sum(axis=0)
    den = px * py
    g = np.divide(np.abs(cross) ** 2, den, out=np.zeros_like(den), where=den > 0)
    chance = min(2.0 / max(int(sp.segments.sum()), 1), 0.5)  # ~1 / (0.9 K) at 50 % overlap
    g = np.clip((g - chance) / (1.0 - chance), 0.0, 1.0)
    band = _band(sp.freqs, sample_rate)
    g[~band] = 0.0
    return (g > 0).astype(float), float(g[band].mean()) if band.any() else 0.0


def _held_out_fit(sp: _PartSpectra, sample_rate: int) -> np.ndarray:
    """Per part: correlation coefficient of the part's target with its input through the
    linear response fitted on all other parts (nan where a part has no data).

    One performance through one rig: the response the rest of the pair implies explains each
    part too (positively, whatever the drive leaves unexplained). Two performances: a
    response fitted on some parts predicts the others no better than chance, even when both
    play the same notes.
    """
    band = _band(sp.freqs, sample_rate)
    cross, px = sp.cross[:, band], sp.px[:, band]
    out = np.full(len(cross), np.nan)
    for i in range(len(cross)):
        if sp.segments[i] == 0:
            continue
        c_rest, p_rest = cross.sum(axis=0) - cross[i], px.sum(axis=0) - px[i]
        if not p_rest.max() > 0:  # no other part to fit on: it explains nothing
            out[i] = 0.0
            continue
        h = c_rest / (p_rest + 1e-9 * float(p_rest.max()))
        den = math.sqrt(float(np.sum(np.abs(h) ** 2 * px[i]) * np.sum(sp.py[i, band])))
        out[i] = float(np.real(np.sum(np.conj(h) * cross[i]))) / den if den > 0 else 0.0
    return out


def _whitened_spectrum(x: np.ndarray, n_fft: int, sample_rate: int) -> np.ndarray:
    """rfft of x divided by its smoothed magnitude, zero outside BAND_HZ."""
    spec = scipy.fft.rfft(x, n_fft, workers=-1)
    df = sample_rate / n_fft
    mag = scipy.ndimage.uniform_filter1d(np.abs(spec), max(1, int(SMOOTH_HZ / df)))
    band = _band(np.arange(len(spec)) * df, sample_rate)
    floor = 1e-6 * float(mag[band].max()) if band.any() and mag[band].max() > 0 else 1.0
    spec[~band] = 0.0
    spec[band] /= np.maximum(mag[band], floor)
    return spec


def _weighted_correlation(xw: np.ndarray, yw: np.ndarray, n_fft: int, lags: np.ndarray,
                          sample_rate: int, weight: tuple[np.ndarray, np.ndarray] | None
                          ) -> tuple[np.ndarray, float]:
    """c[k] = sum y[n + k] x[n] at `lags` (samples) from whitened spectra, each frequency
    weighted by `weight` (frequencies in Hz, weight there; interpolated), and the product of
    the weighted signals' norms (c / norm is a correlation coefficient)."""
    w = 1.0 if weight is None else np.interp(
        np.arange(len(xw)) * (sample_rate / n_fft), weight[0], weight[1])
    cross = yw * np.conj(xw) * w
    corr = scipy.fft.irfft(cross, n_fft, workers=-1)
    # Parseval for a one-sided spectrum: sum x^2 = 2 / n_fft * sum |X|^2 (DC, Nyquist are 0)
    norm = math.sqrt(float(np.sum(np.abs(xw) ** 2 * w) * np.sum(np.abs(yw) ** 2 * w))) * 2 / n_fft
    return corr[lags % n_fft], norm


def _correlation(x: np.ndarray, y: np.ndarray, lags: np.ndarray, sample_rate: int,
                 weight: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[np.ndarray, float]:
    """Weighted whitened cross-correlation c[k] = sum y[n + k] x[n] at `lags` (samples; 0
    where the signals do not overlap) and the norm that makes it a correlation coefficient."""
    n_fft = scipy.fft.next_fast_len(len(x) + len(y) + 1, real=True)
    c, norm = _weighted_correlation(_whitened_spectrum(x, n_fft, sample_rate),
                                    _whitened_spectrum(y, n_fft, sample_rate), n_fft, lags,
                                    sample_rate, weight)
    overlap = (lags > -len(x)) & (lags < len(y))  # beyond, the circular correlation wraps
    return np.where(overlap, c, 0.0), norm


def _part_agreement(x: np.ndarray, y: np.ndarray, peak: int, lags: np.ndarray,
                    weight: tuple[np.ndarray, np.ndarray], parts: list[tuple[int, int]],
                    fit: np.ndarray, sample_rate: int) -> tuple[float, int, int]:
    """Fraction and number of the sounding parts that agree with the overall lag `peak`
    (samples), and the number of sounding parts.

    A part agrees when the response fitted on the other parts explains it (held-out fit of
    at least MIN_PART_FIT) and its own correlation over `lags` comes within PART_RATIO of its
    maximum at peak ± PART_TOLERANCE_MS, or when that fit is at least SURE_PART_FIT. Not the
    part's own argmax: through a drive whose phase moves with level, a soft and a hard part
    may peak a few samples apart, and a part holding one long note correlates as well at a
    multiple of its period; a part the rest of the pair explains that well is one performance
    with it anyway (two takes of one riff reached 0.38 on a few parts, never more).
    """
    rms = [float(np.sqrt(np.mean(x[s: e] ** 2))) for s, e in parts]
    loud = max(rms)
    near = np.abs(lags - peak) <= max(2, round(PART_TOLERANCE_MS * 1e-3 * sample_rate))
    votes = []
    for (s, e), r, fit_i in zip(parts, rms, fit):
        if r < 0.03 * loud or not np.isfinite(fit_i):  # silent, or no target there: no say
            continue
        if fit_i >= SURE_PART_FIT or fit_i < MIN_PART_FIT:
            votes.append(bool(fit_i >= SURE_PART_FIT))
            continue
        y0 = max(s + int(lags[0]), 0)
        yb = y[y0: e + int(lags[-1])]
        c, _ = _correlation(x[s: e], yb, lags - (y0 - s), sample_rate, weight)
        a = np.abs(c)
        votes.append(bool(a.any() and a[near].max() >= PART_RATIO * a.max()))
    return (float(np.mean(votes)) if votes else 0.0), int(np.sum(votes)), len(votes)


def onset_lag(x: np.ndarray, y: np.ndarray, peak: int, sample_rate: int) -> int:
    """The latest lag near `peak` from which a causal linear predictor still explains y.

    For each lag s the best ONSET_TAPS-tap FIR from x[n - s - k] to y[n] is solved from the
    correlations (Toeplitz normal equations); its residual is flat while the window covers
    the response's start and rises once s passes it. The largest s before the rise is kept,
    so neither a grey-box chain nor a neural net has to predict the future.
    """
    lo, hi = ONSET_SEARCH
    # line the pair up at the peak first: the correlations below then cover the same stretch
    # of both files whatever the latency, and the result moves with a shifted target
    xs, ys = (x, y[peak:]) if peak >= 0 else (x[-peak:], y)
    n = min(len(xs), len(ys), int(ONSET_SECONDS * sample_rate))
    if n <= ONSET_TAPS + hi - lo:
        return peak
    xs, ys = xs[:n], ys[:n]
    n_fft = scipy.fft.next_fast_len(2 * n + ONSET_TAPS, real=True)
    fx, fy = scipy.fft.rfft(xs, n_fft), scipy.fft.rfft(ys, n_fft)
    auto = scipy.fft.irfft(fx * np.conj(fx), n_fft)[:ONSET_TAPS]
    cross = scipy.fft.irfft(fy * np.conj(fx), n_fft)  # cross[k] = sum y[m + k] x[m]
    auto = auto.copy()
    auto[0] *= 1 + 1e-9  # a touch of ridge: band-limited input makes the system ill-posed
    energy = float(np.dot(ys, ys))
    if energy <= 0 or auto[0] <= 0:
        return peak
    lags = np.arange(lo, hi + 1)  # relative to the peak
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
    steep = np.flatnonzero(rise > tol)
    steep = steep[steep >= len(rise) - 1 - ONSET_PLATEAU]
    if not len(steep):
        return peak  # no clear start found (almost no linear part): keep the peak
    # through heavy drive the correlation peak may sit on a plateau past the response's rise
    # (its phase moves with level): start from the last steep step, not from the peak itself
    i = int(steep[-1])
    while i >= 0 and rise[i] > tol:
        i -= 1
    return peak + int(lags[i + 1])


def linear_peak(sp: _PartSpectra, sample_rate: int) -> int:
    """Lag (samples, from the lag sp was taken at) of the largest tap of the pair's linear
    response H1 = S_xy / S_xx over BAND_HZ when it lies ONSET_SEARCH[0]..0 from there, else 0.

    H1 is the least-squares (Bussgang) linear part of the gear: bands holding only distortion
    or hiss average out of S_xy instead of being lifted to unit weight as in the whitened
    correlation, so where H1 has one clear main tap it sits where a click's response peaks
    (guitarix amps at full gain: the whitened peak came up to 0.6 ms later). Where its
    largest tap lies elsewhere (a cabinet's low resonance ringing, an estimate buried in
    distortion), H1 says nothing about the start and the whitened peak is kept.
    """
    band = _band(sp.freqs, sample_rate)
    px = sp.px.sum(axis=0)
    if not band.any() or not px[band].max() > 0:
        return 0
    h1 = np.zeros(len(px), complex)
    h1[band] = sp.cross.sum(axis=0)[band] / (px[band] + 1e-9 * px[band].max())
    h = scipy.fft.irfft(h1)
    k = int(np.argmax(np.abs(h)))
    lag = k if k < len(h) // 2 else k - len(h)  # circular: the upper half is negative lags
    return lag if ONSET_SEARCH[0] <= lag <= 0 else 0


def detect_latency(input: np.ndarray, target: np.ndarray, sample_rate: int, *,
                   max_lag_ms: float = MAX_LAG_MS) -> Alignment:
    """Latency (samples, ms) of target behind input, both 1-D at sample_rate (Hz).

    Robust to gain, polarity, filtering, distortion and compression; negative when the
    target is early. Does not refuse: check `Alignment.confident`, or use `align_pair`.
    """
    if sample_rate <= 0:
        raise ParameterError(f"sample_rate must be positive (Hz), got {sample_rate}")
    if not (math.isfinite(max_lag_ms) and max_lag_ms > 0):
        raise ParameterError(f"max_lag_ms must be a positive number of ms, got {max_lag_ms}")
    x, y = _check(input, "input", sample_rate), _check(target, "target", sample_rate)
    max_lag = round(max_lag_ms * 1e-3 * sample_rate)
    n_an = int(ANALYSIS_S * sample_rate)
    # look a little past the range: a pair lined up just outside it must not lock onto a
    # pitch-period sidelobe inside it (a held note correlates with itself a period apart)
    beyond = max_lag + round(BEYOND_MS * 1e-3 * sample_rate)
    x, y = x[:n_an], y[: n_an + beyond]
    centre, prominence, noise_db = coarse_lag(x, y, beyond, sample_rate)
    parts = _part_bounds(len(x), sample_rate)
    search = max(round(FINE_SEARCH_MS * 1e-3 * sample_rate), 8)
    # whitened spectra of x and of y moved by the coarse lag: the lags searched are then
    # small, and the FFT need only be as long as the longer file plus the search
    yc = y[centre:] if centre >= 0 else np.concatenate([np.zeros(-centre), y])
    n_fft = scipy.fft.next_fast_len(max(len(x), len(yc)) + 4 * search + 1, real=True)
    xw, yw = _whitened_spectrum(x, n_fft, sample_rate), _whitened_spectrum(yc, n_fft, sample_rate)
    lags = np.arange(centre - search, centre + search + 1)
    sp = _part_spectra(x, y, centre, parts, sample_rate)
    peak = centre
    for _ in range(2):
        # the second pass takes the coherent band at the first pass's peak: then band and
        # peak move with the target when it is shifted (the envelope's few-ms error does not)
        if peak != centre:
            sp = _part_spectra(x, y, peak, parts, sample_rate)
            if abs(peak - centre) == search:  # on the window's edge: look around it
                lags = np.arange(peak - search, peak + search + 1)
        w, coherence = _coherence_mask(sp, sample_rate)
        weight = (sp.freqs, w)
        c, energy = _weighted_correlation(xw, yw, n_fft, lags - centre, sample_rate, weight)
        k = int(np.argmax(np.abs(c)))
        if int(lags[k]) == peak:
            break
        peak = int(lags[k])
    a = np.abs(c)
    agreement, n_agree, n_parts = _part_agreement(
        x, y, peak, lags, weight, parts, _held_out_fit(sp, sample_rate), sample_rate)
    # the whitened peak can sit past the response's main tap (through a drive, PHAT leans on
    # the bands where the phase moves with level): start the onset search from the linear
    # response's largest tap when that comes earlier, never later
    main_tap = peak + linear_peak(sp, sample_rate)
    # a response starts no later than its main tap (onset_lag may look a few samples past it)
    onset = min(onset_lag(x, y, main_tap, sample_rate), main_tap)
    return Alignment(lag_samples=onset, peak_samples=peak,
                     lag_exact=float(peak + _parabolic(a, k)),
                     sample_rate=int(sample_rate),
                     correlation=float(min(a[k] / energy, 1.0)) if energy > 0 else 0.0,
                     prominence_db=float(prominence), noise_db=float(noise_db),
                     agreement=agreement, agreeing_blocks=n_agree,
                     polarity=1 if c[k] >= 0 else -1, coherence=coherence, parts=n_parts,
                     in_range=abs(peak) <= max_lag)


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
    if al.one_performance and not al.in_range:
        raise AudioContentError(
            f"the target looks {al.lag_ms:+.0f} ms off the input, outside the ±{max_lag_ms:.0f} "
            "ms searched: trim the longer lead-in, or allow a larger max_lag_ms")
    # two interfaces on two clocks: the lag moves through the file (20 ppm is 26 samples over
    # a 270 s capture signal at 48 kHz; 50 ppm over 60 s left too few parts agreeing to align
    # at all). Measured at both ends, the target is resampled onto the input's clock (from
    # the original each time, the drifts found composed) until the ends agree
    fixed, drift = np.asarray(target), 0.0
    for _ in range(DRIFT_PASSES):
        x, y = apply_lag(input, fixed, al.lag_samples)
        d = clock_drift(x, y, sample_rate)
        if d is None:
            break
        drift = (1.0 + drift) * (1.0 + d) - 1.0
        fixed = resample_drift(np.asarray(target, dtype=np.float64), sample_rate, drift)
        al = detect_latency(input, fixed, sample_rate, max_lag_ms=max_lag_ms)
    if not al.confident:
        raise AudioContentError(
            "these files do not look like the same performance: the input and the target "
            f"do not line up at any offset within ±{max_lag_ms:.0f} ms ({al.agreeing_blocks} "
            f"of {al.parts} parts agree on one, coherence {al.coherence:.2f}); pass the DI "
            "that was played through the gear and the recording of exactly that playback, "
            f"trimmed so the two start within {max_lag_ms / 1000:g} s of each other (a "
            "recording started long before the playback is not found)")
    x, y = apply_lag(input, fixed, al.lag_samples)
    return x, y, replace(al, drift_ppm=drift * 1e6)


def clock_drift(x: np.ndarray, y: np.ndarray, sample_rate: int) -> float | None:
    """How much faster (fraction, 20e-6 = 20 ppm) y's clock runs than x's in an aligned pair:
    the lag measured over a window at each end, over the distance between them; None where it
    moved less than MIN_DRIFT_SAMPLES, or a window does not align confidently."""
    n = len(x)
    w = int(min(DRIFT_WINDOW_S * sample_rate, n // 4))
    if w < MIN_DRIFT_WINDOW_S * sample_rate:
        return None
    search_ms = 1000.0 * MAX_DRIFT_PPM * 1e-6 * n / sample_rate + FINE_SEARCH_MS
    head = detect_latency(x[:w], y[:w], sample_rate, max_lag_ms=search_ms)
    tail = detect_latency(x[n - w:], y[n - w:], sample_rate, max_lag_ms=search_ms)
    if not (head.confident and tail.confident):
        return None
    moved = tail.lag_exact - head.lag_exact
    drift = moved / (n - w)  # the windows' centres are n - w samples apart
    if abs(moved) < MIN_DRIFT_SAMPLES or abs(drift) > MAX_DRIFT_PPM * 1e-6:
        return None
    return drift


def resample_drift(y: np.ndarray, sample_rate: int, drift: float) -> np.ndarray:
    """y (1-D) on the other clock: sample t of the result is y at t * (1 + drift)."""
    import soxr

    return soxr.resample(y, sample_rate * (1.0 + drift), sample_rate, quality="VHQ")


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
    "clock_drift",
    "resample_drift",
    "apply_lag",
    "check_lengths",
    "coarse_lag",
    "correlation_lag",
    "detect_latency",
    "onset_envelope",
    "onset_lag",
]
