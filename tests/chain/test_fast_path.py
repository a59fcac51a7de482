"""The fast numpy/numba path (`FastChain`, `process_offline`) equals `ToneChain.forward`.

Equal within 1e-4 relative RMS for random parameters (every stage, each stage alone, linear
chains), block processing equal to offline over awkward block sizes, and a property test over
the whole parameter ranges of `chain/params.py`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from signals import guitar_line, sine, white_noise

from tonemorph.chain.chain import STAGES, ChainConfig, ToneChain
from tonemorph.chain.fast import FastChain, process_offline
from tonemorph.chain.params import RANGES, Range

SR = 48000
TOL = 1e-4  # relative RMS, DESIGN.md section 2


def _from_unit(r: Range, u: float) -> float:
    """Map u in [0, 1] into a range, uniformly in log for log ranges."""
    if r.log:
        return math.exp(math.log(r.lo) + u * (math.log(r.hi) - math.log(r.lo)))
    return r.lo + u * (r.hi - r.lo)


def random_values(chain: ToneChain, rng: np.random.Generator) -> dict[str, float | list[float]]:
    """Uniformly random physical values for every parameter of a chain."""
    vals: dict[str, float | list[float]] = {}
    for s in chain.specs:
        if s.size == 1:
            vals[s.name] = _from_unit(s.range, float(rng.uniform()))
        else:
            vals[s.name] = [_from_unit(s.range, float(u)) for u in rng.uniform(size=s.size)]
    return vals


def torch_out(chain: ToneChain, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return chain(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None])[0].numpy()


def rel_rms(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.sqrt(np.mean((got.astype(np.float64) - want) ** 2)
                         / max(np.mean(want.astype(np.float64) ** 2), 1e-30)))


STAGE_SETS = [STAGES, ("pre_eq", "post_eq", "cab")] + [(s,) for s in STAGES]


@pytest.mark.parametrize("stages", STAGE_SETS, ids=["+".join(s) for s in STAGE_SETS])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_equals_torch_for_random_parameters(stages: tuple[str, ...], seed: int) -> None:
    rng = np.random.default_rng(seed)
    chain = ToneChain(ChainConfig(stages=stages))
    chain.set_values(random_values(chain, rng))
    x = guitar_line(1.5, SR, seed=10 + seed)[0]
    want = torch_out(chain, x)
    got = process_offline(chain, x)
    assert got.shape == x.shape and got.dtype == np.float32
    assert np.all(np.isfinite(got))
    assert rel_rms(got, want) < TOL


def test_fast_equals_torch_for_neutral_chain_with_flat_response() -> None:
    chain = ToneChain(ChainConfig(), ToneChain(ChainConfig()).neutral_values())
    x = white_noise(2.0, SR, amplitude=0.05, seed=5)[0]
    got = process_offline(chain, x)
    assert rel_rms(got, torch_out(chain, x)) < TOL
    # neutral values leave the spectrum flat (the 10 Hz high-pass and the oversampling
    # filters' phase aside): Welch spectrum ratio within 0.5 dB from 100 Hz to 16 kHz
    f, p_in = scipy.signal.welch(x, SR, nperseg=4096)
    _, p_out = scipy.signal.welch(got, SR, nperseg=4096)
    band = (f >= 100) & (f <= 16000)
    ratio_db = 10 * np.log10(p_out[band] / p_in[band])
    assert np.max(np.abs(ratio_db)) < 0.5


@pytest.mark.parametrize("signal", ["noise", "loud_sine", "silence"])
def test_fast_equals_torch_on_other_signals(signal: str) -> None:
    chain = ToneChain(ChainConfig(), {"drive.drive_db": 30.0, "drive.bias": -0.4,
                                      "comp.threshold_db": -30.0, "comp.ratio": 6.0,
                                      "sag.threshold_db": -20.0, "sag.ratio": 3.0,
                                      "post_eq.mid_db": 8.0, "out_gain_db": -3.0})
    x = {"noise": white_noise(1.0, SR, amplitude=0.3, seed=1),
         "loud_sine": sine(110.0, 1.0, SR, amplitude=1.0),
         "silence": np.zeros((1, SR), np.float32)}[signal][0]
    got = process_offline(chain, x)
    want = torch_out(chain, x)
    if signal == "silence":
        assert np.max(np.abs(got)) < 1e-6 and np.max(np.abs(want)) < 1e-6  # below -120 dBFS
    else:
        assert rel_rms(got, want) < TOL


@pytest.mark.parametrize("block", [1, 64, 65, 128, 8192, 8193])
def test_block_processing_equals_offline(block: int) -> None:
    rng = np.random.default_rng(7)
    chain = ToneChain(ChainConfig())
    # a peak limit far below the signal turns every sample into +-ceiling, and the sign of a
    # near-silent sample is float32 rounding (np.convolve vs oaconvolve upstream); the limit's
    # own blocks equal its offline run exactly (tests/chain/test_chain_stages.py)
    chain.set_values({**random_values(chain, rng), "limit.ceiling_db": -10.0})
    n = 12000 if block == 1 else 30000  # block == 1 runs a Python call per sample
    x = guitar_line(n / SR, SR, seed=8)[0]
    whole = process_offline(chain, x, block=len(x))
    blocks = process_offline(chain, x, block=block)
    assert blocks.shape == whole.shape
    # np.convolve (short blocks) vs oaconvolve (long) in float32: rounding only
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-5 * np.max(np.abs(whole)))


def test_fast_chain_uneven_blocks_equal_offline() -> None:
    rng = np.random.default_rng(9)
    chain = ToneChain(ChainConfig())
    chain.set_values(random_values(chain, rng))
    x = guitar_line(0.8, SR, seed=9)[0]
    whole = process_offline(chain, x, block=len(x))
    fc = FastChain.from_torch(chain)
    cuts = np.cumsum(rng.integers(0, 3000, 40))
    cuts = np.concatenate([[0], cuts[cuts < len(x)], [len(x)]])
    parts = [fc.process(x[a:b]) for a, b in itertools.pairwise(cuts)]  # includes empty blocks
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=0,
                               atol=1e-5 * np.max(np.abs(whole)))


def test_process_offline_empty_input() -> None:
    out = process_offline(ToneChain(ChainConfig()), np.zeros(0, np.float32))
    assert out.shape == (0,)


# ------------------------------------------------------------------------- property test


def _param_strategy(r: Range) -> st.SearchStrategy[float]:
    return st.floats(0.0, 1.0).map(lambda u: _from_unit(r, u))


@st.composite
def chain_settings(draw: st.DrawFn) -> tuple[tuple[str, ...], dict[str, float | list[float]]]:
    """Random stages and physical values over the whole RANGES of chain/params.py."""
    chosen = draw(st.sets(st.sampled_from(STAGES)))
    stages = tuple(s for s in STAGES if s in chosen)
    vals: dict[str, float | list[float]] = {}
    for s in ToneChain(ChainConfig(stages=stages)).specs:
        if s.size == 1:
            vals[s.name] = draw(_param_strategy(s.range))
        else:
            vals[s.name] = draw(st.lists(_param_strategy(s.range), min_size=s.size,
                                         max_size=s.size))
    return stages, vals


def test_property_ranges_are_the_ones_in_params() -> None:
    names = {s.range for s in ToneChain(ChainConfig()).specs}
    assert names <= set(RANGES.values())


# The shaper computes (s(d u + b) - s(b)) / (d s'(b)) in float32 in both paths: with a bias the
# subtraction cancels, leaving an absolute rounding floor of about eps32 * |s(b)| / (d s'(b)) at
# the shaper input, ~10x more in practice (the rational tanh adds a few ulp). Where that floor
# reaches 1e-4 of the signal, the two float32 paths cannot agree to 1e-4 (see the xfail below).
EPS32 = float(np.finfo(np.float32).eps)


def shaper_floor_rel(chain: ToneChain, x: np.ndarray) -> float:
    """Predicted float32 cancellation floor of the drive stage relative to the RMS it sees."""
    if "drive" not in chain.cfg.stages:
        return 0.0
    before = tuple(s for s in ("pre_eq", "sag") if s in chain.cfg.stages)
    vals = dict(chain.values(), out_gain_db=0.0)
    v = torch_out(ToneChain(ChainConfig(stages=before), vals), x)
    d = 10 ** (float(chain.value("drive.drive_db").detach()) / 20)
    sb = math.tanh(float(chain.value("drive.bias").detach()))
    floor = EPS32 * abs(sb) / (d * (1 - sb * sb))
    return floor / max(float(np.sqrt(np.mean(v.astype(np.float64) ** 2))), 1e-30)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(setting=chain_settings(), seed=st.integers(0, 10_000), seconds=st.floats(0.2, 1.0),
       level_db=st.floats(-40.0, 0.0))
def test_property_fast_equals_torch(setting: tuple[tuple[str, ...], dict], seed: int,
                                    seconds: float, level_db: float) -> None:
    chain = ToneChain(ChainConfig(stages=setting[0]), setting[1])
    x = guitar_line(seconds, SR, seed=seed, level_db=level_db)[0]
    assume(shaper_floor_rel(chain, x) < 5e-6)  # the documented float32 corner, xfail below
    got = process_offline(chain, x)
    assert np.all(np.isfinite(got))
    assert rel_rms(got, torch_out(chain, x)) < TOL


# Shrunk by hypothesis from the property test above: quiet signal into a low drive with a large
# bias. Relative RMS error vs a float64 run of the torch chain: fast 6.8e-4, torch float32 3.4e-4.
_FLOOR_CASE = {"trim_db": -24.0, "pre_eq.hp_hz": 10.0, "pre_eq.low_hz": 60.0,
               "pre_eq.low_db": -18.0, "pre_eq.mid_hz": 100.0, "pre_eq.mid_db": -18.0,
               "pre_eq.mid_q": 0.3, "pre_eq.high_hz": 800.0, "pre_eq.high_db": -18.0,
               "drive.drive_db": -24.0, "drive.bias": -0.9, "out_gain_db": -60.0}


@pytest.mark.xfail(strict=True, reason="asym_shaper's s(d*u+b) - s(b) cancels in float32 "
                   "(both paths): absolute floor ~1e-6 at the shaper input for drive -24 dB, "
                   "bias -0.9, so fast vs torch differ by 7.5e-4 rel RMS on a -60 dBFS signal; "
                   "a cancellation-free form, e.g. tanh(a)(1-tanh(b)^2)/(1+tanh(a)tanh(b)), "
                   "or float64 in the kernel would fix it")
def test_fast_equals_torch_quiet_signal_low_drive_large_bias() -> None:
    chain = ToneChain(ChainConfig(stages=("pre_eq", "drive")), _FLOOR_CASE)
    x = guitar_line(1.0, SR, seed=0, level_db=0.0)[0]
    assert shaper_floor_rel(chain, x) > 1e-6
    assert rel_rms(process_offline(chain, x), torch_out(chain, x)) < TOL


@pytest.mark.parametrize("stages", [STAGES, ("pre_eq", "post_eq", "cab"), ("pre_eq", "drive"),
                                    ("drive",)], ids=["all", "filters", "eq+drive", "drive"])
def test_shared_filter_responses_give_the_same_output(stages: tuple[str, ...]) -> None:
    # the training steps compute the filter runs' responses once for the batch's parts
    chain = ToneChain(ChainConfig(stages=stages))
    chain.set_values(random_values(chain, np.random.default_rng(5)))
    x = torch.from_numpy(guitar_line(0.5, SR, seed=3)[0][None].astype(np.float32))
    resp = chain.filter_responses(chain.fft_size(x.shape[-1]))
    groups = [g for i, g in enumerate(st.filter_group for st in chain.stages)
              if g is not None and (i == 0 or chain.stages[i - 1].filter_group != g)]
    assert len(resp) == len(groups)
    with torch.no_grad():
        want = chain(x, precise=False)
        assert torch.equal(chain(x, precise=False, responses=resp), want)
        if resp:  # and the responses given are the ones used
            assert not torch.equal(chain(x, precise=False, responses=[2 * r for r in resp]),
                                   want)
