"""Fixed filter designs, tabulated so the streaming paths need no `scipy.signal` (importing it
costs about 0.4 s, a tenth of a 5-minute master), and a Hann window computed as scipy does.

The tables are `scipy.signal.firwin` designs (tests/dsp/test_designs.py checks they are equal,
bit for bit); symmetric FIRs are stored by their first half, centre included.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INTERPOLATOR_LOWPASS", "OVERSAMPLE_LOWPASS", "hann"]


def _symmetric(half: tuple[float, ...]) -> np.ndarray:
    """The odd-length symmetric FIR whose first half (centre included) is `half`."""
    h = np.asarray(half, dtype=np.float64)
    out = np.concatenate([h, h[-2::-1]])
    out.setflags(write=False)
    return out


#: ``firwin(81, 0.25, window=("kaiser", 5.0))``: the 4x true-peak interpolator's design (the
#: one of ``scipy.signal.resample_poly(x, 4, 1)``), DC gain 1.
INTERPOLATOR_LOWPASS = _symmetric((
    -3.5799115519692397e-19, -0.0002826493947961155, -0.0005257919654294691,
    -0.00047541698372319285, 9.272602735059742e-19, 0.000731628527240472, 0.0012546327308679554,
    0.0010630797667137766, -1.7472805760904004e-18, -0.001483012960945929, -0.0024477084927997236,
    -0.0020065313653163737, 2.8035592572493556e-18, 0.002651272519201363, 0.004278788757244029,
    0.0034384897676579384, -4.045988095590758e-18, -0.004394791312789362, -0.006995819252739529,
    -0.00555497139192494, 5.391207661875756e-18, 0.00696672908988022, 0.011012871024959067,
    0.008698813687590281, -6.730639783647048e-18, -0.010855771610528713, -0.017172133746420345,
    -0.01360637276719563, 7.943245736495797e-18, 0.017243084699543745, 0.027647432518231367,
    0.022320837133011542, -8.911164139411955e-18, -0.03003358753863673, -0.05047110570576384,
    -0.04349443574288513, 9.535783356055299e-18, 0.0741357049010938, 0.15836902171996836,
    0.22490814275255214, 0.250159141272278,
))

#: ``firwin(47, 0.5, window=("kaiser", 7.0))``: the 2x oversampled waveshaper's FIR.
OVERSAMPLE_LOWPASS = _symmetric((
    -8.208787183981977e-05, 9.869528091430518e-19, 0.00039051098982295445, -8.225316814564733e-19,
    -0.0010708520672940778, 1.78339334996037e-18, 0.002347405490363181, -3.230824357989792e-18,
    -0.00451322476752604, 5.182043185267511e-18, 0.007952764048665269, -7.575000802085186e-18,
    -0.013204805478674796, 1.0262061372450536e-17, 0.02113726790010132, -1.302045319493257e-17,
    -0.03346181579817152, 1.5579357059496475e-17, 0.05453276604610607, -1.765956170862311e-17,
    -0.10039189595197599, 1.9018373867743313e-17, 0.3163647824085256, 0.4999983701037955,
))


def hann(n: int, *, periodic: bool = True) -> np.ndarray:
    """``scipy.signal.get_window("hann", n, fftbins=periodic)``, computed the same way (the
    same values, bit for bit): periodic for spectral analysis, symmetric for FIR design."""
    if n <= 1:
        return np.ones(max(int(n), 0))
    m = int(n) + 1 if periodic else int(n)
    fac = np.linspace(-np.pi, np.pi, m, dtype=np.float64)
    w = np.zeros(m, dtype=np.float64)
    for k, a in enumerate((0.5, 0.5)):
        w += a * np.cos(k * fac)
    return w[:-1] if periodic else w
