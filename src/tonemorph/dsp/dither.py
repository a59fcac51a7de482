"""Word-length reduction with TPDF dither (Lipshitz, Wannamaker & Vanderkooy, JAES 1992)."""

from __future__ import annotations

import numba
import numpy as np

from tonemorph.errors import ParameterError

__all__ = ["PCM_BITS", "Ditherer", "bits_of_subtype", "quantize", "tpdf"]

#: Bits of the integer subtypes soundfile writes (float and lossy subtypes need no dither).
PCM_BITS: dict[str, int] = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32}


def bits_of_subtype(subtype: str) -> int | None:
    """Bits of an integer soundfile subtype ("PCM_16" -> 16); None for float or lossy ones."""
    return PCM_BITS.get(subtype.upper())


def _check_bits(bits: int) -> int:
    """Validate a word length in bits."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 32:
        raise ParameterError(f"bits must be an integer within 2..32, got {bits!r}.")
    return int(bits)


def tpdf(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Triangular-PDF noise in LSB: the sum of two independent uniforms on [-0.5, 0.5)."""
    u = rng.random((2, *shape), dtype=np.float32)  # float32 draws: half the cost, 24-bit exact
    return (u[0] - u[1]).astype(np.float64)


def quantize(
    x: np.ndarray, bits: int, *, rng: np.random.Generator | None = None, dither: bool = True
) -> np.ndarray:
    """Round audio (full scale 1) to the grid k / 2**(bits-1), TPDF-dithered unless dither=False.

    The result is clipped to the integer range [-1, 1 - 2**(1-bits)], so a file writer scaling by
    2**(bits-1) stores exactly these integers. Exact zeros stay zero (digital silence has no
    rounding error to decorrelate: a gap between tracks stays silent). Returns float64 of
    x's shape.
    """
    b = _check_bits(bits)
    scale = float(2 ** (b - 1))
    x64 = np.asarray(x, dtype=np.float64)
    v = x64 * scale
    if dither:
        v = np.where(x64 == 0.0, 0.0,
                     v + tpdf(v.shape, rng if rng is not None else np.random.default_rng()))
    return np.clip(np.round(v), -scale, scale - 1.0) / scale


class Ditherer:
    """Streaming `quantize` with its own seeded generator (same seed, same output)."""

    def __init__(self, bits: int, seed: int = 0):
        self.bits = _check_bits(bits)
        self._rng = np.random.default_rng(seed)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Quantise a block (any shape) to `bits` with TPDF dither."""
        return self.process_pcm(x)[0]

    def process_pcm(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """`process`, and the same samples as the integers a 16-bit (int16) or 24-bit (int32,
        left-justified) file stores, for `AtomicAudioWriter.write`'s ``pcm`` (None for
        other word lengths)."""
        v = np.asarray(x, dtype=np.float64)
        # the draws of `tpdf`, then `quantize`'s arithmetic in one compiled pass (same result)
        u = self._rng.random((2, *v.shape), dtype=np.float32)
        out = np.empty(v.shape)
        pcm = None
        if self.bits in (16, 24):
            pcm = np.empty(v.shape, dtype=np.int16 if self.bits == 16 else np.int32)
        _quantize_tpdf(v.reshape(-1), u.reshape(2, -1), float(2 ** (self.bits - 1)),
                       out.reshape(-1), pcm.reshape(-1) if pcm is not None else None,
                       1 if self.bits == 16 else 256)
        return out, pcm


@numba.njit(cache=True, nogil=True, fastmath=False)
def _quantize_tpdf(x: np.ndarray, u: np.ndarray, scale: float, out: np.ndarray,
                   pcm: np.ndarray | None, shift: int) -> None:
    """out = clip(round(x * scale + (u[0] - u[1])), -scale, scale - 1) / scale, elementwise,
    the TPDF difference taken in float32 as `tpdf` does and rounding half to even as np.round;
    pcm (when given) the rounded integers times shift; exact zeros get no dither."""
    for i in range(x.shape[0]):
        d = np.float64(u[0, i] - u[1, i]) if x[i] != 0.0 else 0.0  # silence stays silent
        r = min(max(np.rint(x[i] * scale + d), -scale), scale - 1.0)
        out[i] = r / scale
        if pcm is not None:
            pcm[i] = int(r) * shift
