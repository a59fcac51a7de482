"""The mastering chain as fitted: (DC block, where a file has an offset) -> input gain ->
mid/side EQ -> width, mono bass -> density -> output gain -> true-peak limiter. Streams
(channels, n) blocks of any size; mono or stereo."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tonemorph.dsp.biquad import highpass
from tonemorph.dsp.limiter import LimiterConfig, TruePeakLimiter
from tonemorph.dsp.sosfilt import sosfilt_state
from tonemorph.dsp.stereo import MonoBass
from tonemorph.errors import ParameterError
from tonemorph.master.behind import Behind
from tonemorph.master.density import NEUTRAL, DensityParams, DynamicsStage
from tonemorph.master.eq import FirStream

__all__ = ["DC_BLOCK_HZ", "DC_OFFSET_DB", "DcBlocker", "MasterPlan", "MasterProcessor",
           "remove_dc", "render"]

# A DC offset takes the limiter's headroom without adding loudness (K-weighting ignores it): a
# second-order Butterworth high-pass this low removes it, -0.02 dB at 20 Hz. Only where a file
# has one (a channel's mean above DC_OFFSET_DB): the bench's premaster clips sit at -50..-90
# dBFS, and the filter's phase below 40 Hz would change their masters slightly for nothing;
# 8 of 10 full-length Debian game tracks tried sit at -20..-35 dBFS (one channel at 10 % of
# full scale on one of them)
DC_BLOCK_HZ = 5.0
DC_OFFSET_DB = -40.0


class DcBlocker:
    """Streaming DC removal of (channels, n) blocks: a DC_BLOCK_HZ second-order Butterworth
    high-pass, started as if the first sample's value had always been there (a file that starts
    on its offset gets no step response: a thump the limiter would duck)."""

    def __init__(self, sample_rate: float, channels: int):
        self._sos = highpass(DC_BLOCK_HZ, 1.0 / np.sqrt(2.0), sample_rate)[None, :]
        self.channels = int(channels)
        self._state: np.ndarray | None = None  # (channels, 1, 2), from the first block

    def process(self, x: np.ndarray) -> np.ndarray:
        """Filter a (channels, n) block; returns (channels, n) float64."""
        y = np.asarray(x, dtype=np.float64)
        if y.ndim != 2 or y.shape[0] != self.channels:
            raise ParameterError(f"block must be ({self.channels}, samples), got {y.shape}.")
        if y.shape[1] == 0:
            return y.copy()
        if self._state is None:
            # transposed direct form II at rest on a constant v: output 0, states as below
            b1, b2 = self._sos[0, 1], self._sos[0, 2]
            self._state = np.array([[[(b1 + b2) * v, b2 * v]] for v in y[:, 0]])
        return np.stack([sosfilt_state(np.ascontiguousarray(row), self._sos, state)
                         for row, state in zip(y, self._state)])


def remove_dc(x: np.ndarray, sample_rate: float) -> np.ndarray:
    """Offline `DcBlocker` over (channels, n) audio; float64."""
    audio = np.atleast_2d(np.asarray(x))
    return DcBlocker(sample_rate, audio.shape[0]).process(audio)


@dataclass(frozen=True)
class MasterPlan:
    """Everything the chain applies, fitted once (per album) and applied to whole files.

    ``mid_ir``/``side_ir`` are EQ FIRs (None: no EQ), ``eq_latency`` their delay in samples;
    ``side_gain`` scales the side signal (width); gains in dB; ``dc_block`` puts a `DcBlocker`
    first.
    """

    sample_rate: int
    channels: int
    input_gain_db: float = 0.0
    mid_ir: np.ndarray | None = None
    side_ir: np.ndarray | None = None
    eq_latency: int = 0
    side_gain: float = 1.0
    mono_bass_hz: float | None = None
    density: DensityParams = NEUTRAL
    output_gain_db: float = 0.0
    limiter: LimiterConfig = field(default_factory=LimiterConfig)
    dc_block: bool = False

    def __post_init__(self) -> None:
        if self.channels not in (1, 2):
            raise ParameterError(
                f"mastering takes mono or stereo audio, got {self.channels} channels; "
                "mix down to stereo first."
            )

    def with_output_gain(self, gain_db: float) -> MasterPlan:
        """The same plan with another output gain (dB)."""
        return replace(self, output_gain_db=float(gain_db))

    def pre_limiter(self) -> MasterPlan:
        """The plan up to the output gain: unity output gain, limiter skipped by `render`."""
        return replace(self, output_gain_db=0.0)


class MasterProcessor:
    """Streaming `MasterPlan`: `process` returns as many samples as given, `latency` late.

    With ``limit=False`` the output gain and limiter are left out (for measuring the level
    before them).
    """

    def __init__(self, plan: MasterPlan, *, limit: bool = True):
        self.plan = plan
        ch = plan.channels
        self._dc = DcBlocker(plan.sample_rate, ch) if plan.dc_block else None
        # the density makes DC of its own from an asymmetric waveform (a fast compressor
        # ducks its tall side more): on a file that had an offset (asymmetric sub-bass looks
        # like one) it is taken off again before the limiter (Singularity "Enemy Unknown":
        # -44 dBFS after its 4.6:1, 0.6 ms compressor, -28 dBFS in its master)
        self._dc_after = (DcBlocker(plan.sample_rate, ch)
                          if plan.dc_block and not plan.density.is_neutral else None)
        self._in_gain = 10.0 ** (plan.input_gain_db / 20.0)
        self._out_gain = 10.0 ** (plan.output_gain_db / 20.0)
        self._eq = None
        if plan.mid_ir is not None:
            irs = [plan.mid_ir] if ch == 1 else [plan.mid_ir, plan.side_ir]
            self._eq = FirStream(np.stack(irs))
        self._mono_bass = (
            MonoBass(plan.sample_rate, plan.mono_bass_hz)
            if ch == 2 and plan.mono_bass_hz is not None else None
        )
        self._dyn = DynamicsStage(plan.density, plan.sample_rate, ch)
        self._limiter = TruePeakLimiter(plan.sample_rate, ch, plan.limiter) if limit else None
        self.latency = (
            (plan.eq_latency if self._eq is not None else 0)
            + self._dyn.latency
            + (self._limiter.latency if self._limiter is not None else 0)
        )

    @property
    def limiter(self) -> TruePeakLimiter | None:
        """The limiter stage (for its gain-reduction statistics)."""
        return self._limiter

    @property
    def dynamics(self) -> DynamicsStage:
        """The density stage (for its gain-reduction statistics)."""
        return self._dyn

    def process(self, x: np.ndarray) -> np.ndarray:
        """Process a (channels, n) block (full scale 1); returns (channels, n) float64."""
        return self.process_back(self.process_front(x))

    def process_front(self, x: np.ndarray) -> np.ndarray:
        """The linear front of `process`: DC block (if planned), input gain, EQ, width, mono
        bass (no delay beyond the EQ's); `process_back` of its output is `process`'s."""
        y = np.asarray(x, dtype=np.float64)
        if y.ndim != 2 or y.shape[0] != self.plan.channels:
            raise ParameterError(
                f"block has shape {y.shape}, the plan was fitted for {self.plan.channels} "
                "channels: give (channels, samples)."
            )
        if self._dc is not None:
            y = self._dc.process(y)
        y = y * self._in_gain
        if self.plan.channels == 2:
            ms = np.stack([(y[0] + y[1]) * 0.5, (y[0] - y[1]) * 0.5])
            if self._eq is not None:
                ms = self._eq.process(ms)
            ms[1] *= self.plan.side_gain
            y = np.stack([ms[0] + ms[1], ms[0] - ms[1]])
            if self._mono_bass is not None:
                y = self._mono_bass.process(y)
        elif self._eq is not None:
            y = self._eq.process(y)
        return y

    def process_back(self, y: np.ndarray) -> np.ndarray:
        """The rest of `process` after `process_front`: density, output gain and limiter."""
        return self.process_output(self.process_density(y))

    def process_density(self, y: np.ndarray) -> np.ndarray:
        """The density stage of `process_back` (and, after it, the DC the stage made, where
        the plan blocks DC)."""
        y = self._dyn.process(y)
        return self._dc_after.process(y) if self._dc_after is not None else y

    def process_output(self, y: np.ndarray) -> np.ndarray:
        """The rest of `process_back` after `process_density`: output gain and limiter."""
        if self._limiter is not None:
            y = self._limiter.process(y * self._out_gain)
        return y

    def flush(self) -> np.ndarray:
        """Feed `latency` zeros and return the delayed tail (channels, latency)."""
        return self.process(np.zeros((self.plan.channels, self.latency)))


def render(plan: MasterPlan, x: np.ndarray, *, limit: bool = True,
           block: int = 1 << 16) -> np.ndarray:
    """Offline `MasterProcessor` over (channels, samples) audio, latency removed.

    Blocks are processed in float64; the result has x's float dtype (float32 stays float32).
    The linear front (EQ) runs here and the rest (density, limiter) a block behind on a
    second thread, as in a master's pass: the fit renders its excerpts several times, and
    the two halves take similar time. The blocks meet each stage in order: the same result
    as `MasterProcessor.process` block by block, bit for bit.
    """
    audio = np.asarray(x)
    dtype = audio.dtype if audio.dtype in (np.float32, np.float64) else np.float64
    if audio.ndim == 1:
        audio = audio[None, :]
    proc = MasterProcessor(plan, limit=limit)
    parts: list[np.ndarray] = []
    with Behind(lambda y: parts.append(proc.process_back(y).astype(dtype, copy=False))) as back:
        for i in range(0, audio.shape[1], block):
            back.submit(proc.process_front(audio[:, i : i + block]))
        back.submit(proc.process_front(np.zeros((plan.channels, proc.latency))))
    return np.concatenate(parts, axis=1)[:, proc.latency : proc.latency + audio.shape[1]]
