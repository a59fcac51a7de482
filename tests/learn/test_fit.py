"""Unpaired fitting (learn/fit.py): thread policy, parallel starts, the linear-vs-nonlinear
selector on a clean chain and on a compressor-only chain, the cabinet's closed-form match."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from signals import brick_wall, guitar_line
from tones import SR, chain_with, render

from tonemorph.chain.chain import ChainConfig, ToneChain
from tonemorph.dsp.bandwidth import recording_bandwidth_hz
from tonemorph.dsp.noise import noise_floor_power
from tonemorph.errors import ParameterError
from tonemorph.features.frames import FeatureConfig
from tonemorph.features.notes import note_spectra
from tonemorph.io.paths import STOP_REQUESTED
from tonemorph.learn import fit
from tonemorph.learn.fit import (
    THREADS_ENV,
    LearnConfig,
    anchor_cab,
    fit_threads,
    fit_unpaired,
    single_op_threads,
)
from tonemorph.losses.unpaired import LossWeights

#: small enough for a test, large enough that the selector's answer is the real one
SMALL = {"n_segments": 2, "segment_s": 2.0, "starts": (0.0, 18.0), "start_steps": 10,
         "steps": 20, "sweep_db": (0.0, 18.0, 36.0), "slow_dynamics_db": 12.0}
CLEAN = {"pre_eq.hp_hz": 100.0, "post_eq.high_hz": 3000.0, "post_eq.high_db": -8.0,
         "post_eq.mid_hz": 800.0, "post_eq.mid_db": 4.0, "out_gain_db": 6.0}
COMP_ONLY = {"comp.threshold_db": -40.0, "comp.ratio": 8.0, "comp.attack_ms": 2.0,
             "comp.release_ms": 80.0, "out_gain_db": 10.0}


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fit.QUALITY_PRESETS, "fast", SMALL)


def _learn(target_values: dict) -> fit.LearnResult:
    x = guitar_line(10.0, SR, seed=11)[0]
    y = render(chain_with(target_values), guitar_line(10.0, SR, seed=12))[0]
    return fit_unpaired(x, y, LearnConfig(quality="fast", sample_rate=SR))


def test_fit_threads_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "3")
    assert fit_threads() == 3
    monkeypatch.delenv(THREADS_ENV)
    assert 1 <= fit_threads() <= (torch.multiprocessing.cpu_count() or 1)
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv(THREADS_ENV, bad)
        with pytest.raises(ParameterError, match=THREADS_ENV):
            fit_threads()


def test_single_op_threads_sets_one_and_restores() -> None:
    before = torch.get_num_threads()
    with single_op_threads():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("starts", [(0.0, 18.0), (6.0,)])
def test_parallel_starts_and_steps_give_the_sequential_result(
        small: None, monkeypatch: pytest.MonkeyPatch, starts: tuple[float, ...]) -> None:
    # 3 segments: the refine steps run in 2 parts, on 2 threads or one after the other;
    # a single start runs its steps' parts on the threads too
    monkeypatch.setitem(fit.QUALITY_PRESETS, "fast", {**SMALL, "n_segments": 3,
                                                       "segment_s": 1.0, "starts": starts,
                                                       "start_steps": 3, "steps": 2})
    x = guitar_line(5.0, SR, seed=1)[0]
    y = render(chain_with({"drive.drive_db": 20.0}), guitar_line(5.0, SR, seed=2))[0]
    runs = {}
    for n in ("1", "2"):
        monkeypatch.setenv(THREADS_ENV, n)
        runs[n] = fit_unpaired(x, y, LearnConfig(quality="fast", sample_rate=SR))
    assert runs["1"].candidates == runs["2"].candidates
    assert runs["1"].chain.values() == runs["2"].chain.values()
    # the drive starts and the slow-dynamics start
    assert runs["1"].steps == runs["2"].steps == (len(starts) + 1) * 3 + 2
    assert sum("slow dynamics" in k for k in runs["1"].candidates) == 1


def test_takes_are_normalised_whatever_their_gain() -> None:
    # gated against its own loud level only: an absolute gate (-75 dBFS) would drop the quiet
    # decays of a quiet copy and measure it louder than it is
    y = render(chain_with({"drive.drive_db": 20.0}), guitar_line(6.0, SR, seed=2))[0]
    y = y * np.exp(-np.arange(y.size) / SR)  # long quiet decays
    for g_db in (-70.0, -30.0, 12.0):
        g = np.float32(10 ** (g_db / 20))
        assert fit.normalise_input(y * g) == pytest.approx(fit.normalise_input(y) - g_db,
                                                              abs=1e-4)
    assert fit.normalise_input(np.zeros(SR, np.float32)) == 0.0


def test_the_examples_gain_moves_only_the_output_gain(monkeypatch: pytest.MonkeyPatch) -> None:
    # learned at a usual level, its own level given back at the output: a copy 40 dB quieter
    # (a stem exported low) teaches the same tone, 40 dB quieter; a quiet DI, the same tone
    monkeypatch.setitem(fit.QUALITY_PRESETS, "fast", {**SMALL, "n_segments": 3,
                                                       "segment_s": 1.0, "starts": (6.0,),
                                                       "start_steps": 3, "steps": 2})
    x = guitar_line(5.0, SR, seed=1)[0]
    # not seed 2: there the pre-EQ's reset (simplify) sits within float rounding of
    # SIMPLIFY_TOL, and the -40 dB copy's rounding flips it (the same notes, cabinet match
    # and loss to 1e-3 otherwise)
    y = render(chain_with({"drive.drive_db": 20.0}), guitar_line(5.0, SR, seed=3))[0]
    loud, quiet = (fit_unpaired(x, y * np.float32(g), LearnConfig(quality="fast",
                                                                   sample_rate=SR))
                   for g in (1.0, 0.01))
    p, q = loud.chain.values(), quiet.chain.values()
    assert p["out_gain_db"] - q["out_gain_db"] == pytest.approx(40.0, abs=0.01)
    for name in p:
        if name != "out_gain_db":
            np.testing.assert_allclose(q[name], p[name], rtol=1e-3, atol=1e-3, err_msg=name)
    assert loud.chosen == quiet.chosen and loud.loss == pytest.approx(quiet.loss, rel=1e-3)
    # and a DI recorded 40 dB lower is brought to the same level first: the same chain
    low_di = fit_unpaired(x * np.float32(0.01), y, LearnConfig(quality="fast", sample_rate=SR))
    assert low_di.input_gain_db - loud.input_gain_db == pytest.approx(40.0, abs=0.01)
    for name, v in low_di.chain.values().items():
        np.testing.assert_allclose(v, p[name], rtol=1e-3, atol=1e-3, err_msg=name)


def test_starts_add_one_slow_dynamics_start_where_the_chain_has_dynamics() -> None:
    preset = {"starts": (0.0, 24.0), "slow_dynamics_db": 12.0}
    full = ("pre_eq", "sag", "drive", "cab", "comp")
    assert fit._starts(preset, full) == [(0.0, False), (24.0, False), (12.0, True)]
    assert fit._starts(preset, ("pre_eq", "drive", "cab")) == [(0.0, False), (24.0, False)]
    assert fit._starts(preset, ("cab", "comp")) == [(None, False), (None, True)]
    assert fit._starts({"starts": (6.0,)}, full) == [(6.0, False)]
    for preset in fit.QUALITY_PRESETS.values():
        assert sum(slow for _, slow in fit._starts(preset, full)) == 1


def test_start_values_engage_the_dynamics_gently_or_slow() -> None:
    full = ("pre_eq", "sag", "drive", "cab", "comp")
    neutral = ToneChain(ChainConfig(stages=full, sample_rate=SR)).neutral_values()
    gentle = fit.start_values(neutral, full, 24.0, False, loud_db=-12.0)
    slow = fit.start_values(neutral, full, 12.0, True, loud_db=-12.0)
    assert gentle["drive.drive_db"] == 24.0 and slow["drive.drive_db"] == 12.0
    sag_thr, comp_thr = fit.INPUT_LEVEL_DB - 6.0, -12.0 - 10.0
    assert (gentle["sag.threshold_db"], gentle["comp.threshold_db"]) == (sag_thr, comp_thr)
    assert gentle["sag.ratio"] == gentle["comp.ratio"] == fit.GENTLE_RATIO
    for k in ("attack_ms", "release_ms"):  # the gentle starts keep the neutral timing
        assert gentle[f"sag.{k}"] == neutral[f"sag.{k}"]
    below = fit.SLOW_DYNAMICS["threshold_below_db"]
    assert (slow["sag.threshold_db"], slow["comp.threshold_db"]) == (sag_thr - below,
                                                                   comp_thr - below)
    for stage in ("sag", "comp"):
        assert slow[f"{stage}.ratio"] == fit.SLOW_DYNAMICS["ratio"] > fit.GENTLE_RATIO
        assert slow[f"{stage}.attack_ms"] > neutral[f"{stage}.attack_ms"]
        assert slow[f"{stage}.release_ms"] > neutral[f"{stage}.release_ms"]
    # every value inside its range: set_values would clamp one that is not
    chain = ToneChain(ChainConfig(stages=full, sample_rate=SR))
    chain.set_values(slow)
    got = chain.values()
    for k in [k for k in slow if k.split(".")[0] in ("sag", "comp", "drive")]:
        assert float(got[k]) == pytest.approx(slow[k], rel=1e-5), k
    no_dyn = ("pre_eq", "drive", "cab")
    neutral_nd = ToneChain(ChainConfig(stages=no_dyn, sample_rate=SR)).neutral_values()
    assert fit.start_values(neutral_nd, no_dyn, 6.0, True, -12.0) == {**neutral_nd,
                                                                      "drive.drive_db": 6.0}


def test_a_step_in_parts_has_the_whole_batch_loss_and_gradient() -> None:
    # reference: the loss of all segments at once, one backward pass through it all
    x = guitar_line(4.0, SR, seed=3)[0]
    y = render(chain_with({"drive.drive_db": 12.0}), guitar_line(4.0, SR, seed=4))[0]
    fcfg = FeatureConfig(sample_rate=SR)
    segs = torch.from_numpy(fit._segments(x * 10, SR, 5, 0.5, np.random.default_rng(0)))
    loss = fit.UnpairedLoss(fit.target_features(y, fcfg))
    skip = int(fit.WARMUP_S * SR)
    chain = ToneChain(ChainConfig(sample_rate=SR))
    chain.set_values({**chain.neutral_values(), "drive.drive_db": 6.0, "comp.ratio": 2.0,
                      "comp.threshold_db": -30.0})
    params = [p for k, p in chain.raw.items() if not k.startswith(fit.FROZEN_PREFIXES)]
    whole, _ = loss(fit.frame_features(chain(segs), fcfg, skip))
    whole.backward()
    want = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    with fit.ThreadPoolExecutor(2) as pool:
        fitter = fit._Fitter(segs, loss, fcfg, skip, 0.01, *(torch.ones(4097),) * 2,
                             torch.ones(4097), pool=pool)
        got = fitter._loss_with_grad(chain, params, shared=True)
        with torch.no_grad():
            whole_out = chain(segs)
        assert torch.allclose(fitter.output(chain, segs), whole_out, atol=1e-6)
    assert float(got.detach()) == pytest.approx(float(whole.detach()), rel=1e-5)
    for p, w in zip(params, want):
        assert torch.allclose(p.grad, w, rtol=1e-3, atol=1e-6 * float(w.abs().max()) + 1e-12)


def _fitter(x: np.ndarray, y: np.ndarray, n_segments: int = 6) -> fit._Fitter:
    """A fitter on mono x (normalised like fit_unpaired does) toward mono y."""
    fcfg = FeatureConfig(sample_rate=SR)
    xs = x * 10 ** (fit.normalise_input(x) / 20)
    segs = torch.from_numpy(fit._segments(xs, SR, n_segments, 1.0, np.random.default_rng(0)))
    tfeat = fit.target_features(y, fcfg)
    with torch.no_grad():
        t_pow = fit._mean_power(torch.from_numpy(y.astype(np.float32))[None], fit.INIT_FFT,
                                fit.INIT_HOP, 0)
        in_pow = fit._mean_power(torch.from_numpy(xs.astype(np.float32))[None], fit.INIT_FFT,
                                 fit.INIT_HOP, 0)
    return fit._Fitter(segs, fit.UnpairedLoss(tfeat), fcfg, int(fit.WARMUP_S * SR), 0.01,
                       t_pow, tfeat.level_db, in_pow)


def test_drive_sweep_moves_a_clean_fit_to_the_targets_drive() -> None:
    # the rest of the chain is already right; only the drive is off (a start that lost)
    x = guitar_line(8.0, SR, seed=5)[0]
    y = render(chain_with({"drive.drive_db": 24.0}), guitar_line(8.0, SR, seed=6))[0]
    fitter = _fitter(x, y)
    chain = ToneChain(ChainConfig(sample_rate=SR))
    fitter.anchor(chain)
    score = lambda c: fit._timbre_score(fitter, c, fitter.segs)  # noqa: E731
    before, drive_before = score(chain), chain.values()["drive.drive_db"]
    sweep = fit.QUALITY_PRESETS["default"]["sweep_db"]
    swept, drive_db = fit.drive_sweep(fitter, chain, sweep)
    assert drive_db is not None and 12.0 <= drive_db <= 36.0
    assert score(swept) < before
    assert chain.values()["drive.drive_db"] == drive_before  # a copy was moved
    # from the sweep's choice there is nothing better to move to (the rest did not change)
    again, none = fit.drive_sweep(fitter, swept, sweep)
    assert none is None and again is swept


def test_anchor_limit_puts_the_ceiling_at_the_targets_peak_through_the_output_gain() -> None:
    chain = ToneChain(ChainConfig(sample_rate=SR))
    chain.set_values({**chain.values(), "out_gain_db": 12.0})
    fit.anchor_limit(chain, -3.0)
    assert chain.values()["limit.ceiling_db"] == pytest.approx(-15.0, abs=1e-6)
    # the output's peaks then stop at the target's: a loud spike comes out at -3 dBFS
    x = np.zeros((1, 4800), np.float32)
    x[0, 1000] = 1.0
    with torch.no_grad():
        y = ToneChain(ChainConfig(stages=("limit",), sample_rate=SR),
                      {"limit.ceiling_db": -15.0, "out_gain_db": 12.0})(torch.from_numpy(x))
    assert 20 * np.log10(float(y.abs().max())) == pytest.approx(-3.0, abs=1e-4)
    lin = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR))
    fit.anchor_limit(lin, -3.0)  # no limit stage: nothing to set
    assert "limit.ceiling_db" not in lin.values()


def test_selector_keeps_no_dynamics_on_a_clean_chain(small: None) -> None:
    res = _learn(CLEAN)
    assert res.chosen == "linear", res.selection
    assert not set(res.chain.cfg.stages) & {"drive", "comp", "sag"}
    # a gain (and the cabinet) brings the linear model's levels near the target's
    assert res.selection["linear level gap dB"] < fit.LEVEL_EVIDENCE_DB
    # the two performances differ in range by less than the rule counts as proof
    assert res.selection["level range / linear"] > fit.LEVEL_RANGE_EVIDENCE


def test_selector_keeps_the_compressor_on_a_compressor_only_chain(small: None) -> None:
    res = _learn(COMP_ONLY)
    assert res.chosen == "nonlinear", res.selection
    assert res.selection["nonlinear"] < 0.9 * res.selection["linear"]
    # 8:1 from -40 dB: no gain brings the linear model's level distribution near the target's
    assert res.selection["linear level gap dB"] >= fit.LEVEL_EVIDENCE_DB
    # nor the range of its levels
    assert res.selection["level range / linear"] < fit.LEVEL_RANGE_EVIDENCE
    assert res.chain.values()["comp.ratio"] > 1.5
    # the report says how firmly the example pins each kept block: the compressor matters
    assert res.pinning["comp"] > fit.SIMPLIFY_TOL
    assert "comp" not in res.simplified


def test_active_blocks_are_those_away_from_neutral() -> None:
    chain = ToneChain(ChainConfig(stages=("pre_eq", "sag", "drive", "cab", "comp", "limit"),
                                  sample_rate=SR))
    chain.set_values(chain.neutral_values())
    # neutral everywhere: nothing level-dependent, the chain is a filter
    assert fit.active_blocks(chain, fit.LEVEL_BLOCKS) == ()
    vals = chain.values()
    vals["drive.drive_db"] = 12.0
    vals["pre_eq.mid_db"] = 3.0
    chain.set_values(vals)
    assert fit.active_blocks(chain, fit.LEVEL_BLOCKS) == ("drive",)
    assert fit.active_blocks(chain, ("pre_eq", "drive", "post_eq")) == ("pre_eq", "drive")
    # a block the chain lacks is never active
    assert fit.active_blocks(ToneChain(ChainConfig(stages=("cab", "comp"), sample_rate=SR)),
                             ("drive", "sag")) == ()


def test_unproven_dynamics_needs_a_clear_timbre_win() -> None:
    kept = {"comp": 0.3, "sag": 0.05, "pre_eq": 0.1}
    clear = {"linear": 10.0, "nonlinear": fit.DYNAMICS_EVIDENCE * 10.0 - 0.01}
    assert fit.unproven_dynamics(clear, kept, 0.0) == ()
    # a smaller win is what two performances played with different dynamics give as well:
    # the dynamics blocks go, in chain order, and nothing else does
    small_win = {"linear": 10.0, "nonlinear": fit.DYNAMICS_EVIDENCE * 10.0 + 0.01}
    assert fit.unproven_dynamics(small_win, kept, 0.0) == ("sag", "comp")
    assert fit.unproven_dynamics(small_win, ["comp"], 0.0) == ("comp",)
    # before a saturating drive they set its operating point, which its timbre pins down;
    # a barely driven shaper does not
    hard = fit.SATURATING_DRIVE_DB
    assert fit.unproven_dynamics(small_win, {**kept, "drive": 0.4}, hard) == ()
    assert fit.unproven_dynamics(small_win, {**kept, "drive": 0.4}, hard - 6) == ("sag", "comp")
    assert fit.unproven_dynamics(small_win, {"drive": 0.4}, hard - 6) == ()
    # levels no gain explains prove them too
    gap = fit.LEVEL_EVIDENCE_DB
    assert fit.unproven_dynamics(small_win, kept, 0.0, gap) == ()
    assert fit.unproven_dynamics(small_win, kept, 0.0, gap - 0.1) == ("sag", "comp")


def test_unproven_dynamics_proven_by_a_narrow_level_range() -> None:
    kept = {"comp": 0.3, "sag": 0.05}
    small_win = {"linear": 10.0, "nonlinear": fit.DYNAMICS_EVIDENCE * 10.0 + 0.01}
    line = fit.LEVEL_RANGE_EVIDENCE
    assert fit.unproven_dynamics(small_win, kept, 0.0, 0.0, line - 0.01) == ()
    assert fit.unproven_dynamics(small_win, kept, 0.0, 0.0, line) == ("sag", "comp")


def test_nonlinear_wins_by_the_margin_or_within_it_where_levels_are_proven() -> None:
    m = 0.05
    tie = {"linear": 10.0, "nonlinear": 10.2}
    assert not fit.nonlinear_wins(tie, m, proven=False)
    assert fit.nonlinear_wins(tie, m, proven=True)  # the linear model cannot be right
    assert not fit.nonlinear_wins({"linear": 10.0, "nonlinear": 10.6}, m, proven=True)
    assert fit.nonlinear_wins({"linear": 10.0, "nonlinear": 9.4}, m, proven=False)
    assert not fit.nonlinear_wins({"linear": 10.0, "nonlinear": 9.6}, m, proven=False)
    gap, line = fit.LEVEL_EVIDENCE_DB, fit.LEVEL_RANGE_EVIDENCE
    assert fit.levels_proven(gap, 1.0) and fit.levels_proven(0.0, line - 0.01)
    assert not fit.levels_proven(gap - 0.1, line)


def test_level_range_is_the_percentile_spread_of_gated_levels() -> None:
    # 401 levels evenly from -60 to -20 dB: the 25-95 % spread is 0.7 x 40 dB (linear
    # interpolation between evenly spaced values is exact); silence below the gate is ignored
    levels = torch.cat([torch.linspace(-60.0, -20.0, 401), torch.full((300,), -200.0)])
    lo, hi = fit.LEVEL_RANGE_PCT
    assert fit.level_range_db(levels) == pytest.approx((hi - lo) / 100 * 40.0, abs=1e-6)
    assert fit.level_range_db(torch.full((3,), -20.0)) == 0.0  # too few levels to tell


def _stepped_tone(levels_db: np.ndarray, step_s: float = 0.25) -> np.ndarray:
    """A 220 Hz sine held at each of levels_db (dBFS RMS) for step_s."""
    n = int(step_s * SR)
    env = np.repeat(10 ** (levels_db / 20) * np.sqrt(2), n)
    return (env * np.sin(2 * np.pi * 220.0 * np.arange(env.size) / SR)).astype(np.float32)


def same(chain: object, rows: torch.Tensor) -> torch.Tensor:
    """A `Forward` that passes the rows through (no chain)."""
    return rows


def test_level_range_ratio_of_a_gain_and_of_a_compressed_range() -> None:
    rng = np.random.default_rng(0)
    lv = rng.uniform(-50.0, -10.0, 120)
    take = fit._take_in_rows(_stepped_tone(lv), SR)
    louder = fit._take_in_rows(_stepped_tone(lv + 12.0), SR)
    assert fit.level_range_ratio(same, None, take, louder, SR) == pytest.approx(1.0, abs=0.02)
    # every level halved in dB (a 2:1 compressor with its threshold at 0 dBFS)
    squeezed = fit._take_in_rows(_stepped_tone(lv / 2), SR)
    assert fit.level_range_ratio(same, None, take, squeezed, SR) == pytest.approx(0.5, abs=0.03)
    # a target too short (or silent) to measure is no evidence of squeezed levels
    silent = torch.zeros_like(take)
    assert fit.level_range_ratio(same, None, take, silent, SR) == 1.0


def test_section_range_of_a_repeated_pattern_is_the_pattern_range() -> None:
    period = torch.linspace(-60.0, -20.0, 200)
    levels = period.repeat(8)
    whole = fit.level_range_db(period)
    assert fit.section_range_db(levels, 400, 25.0) == pytest.approx(whole, abs=0.2)
    assert fit.section_range_db(period, 400, 25.0) == whole  # shorter than a section


def test_a_short_example_is_compared_with_as_long_stretches_of_the_take() -> None:
    # the take plays the example's 15 s of levels four times over a 30 dB crescendo: the
    # whole take spans far more than the example, any 15 s of it little more
    rng = np.random.default_rng(1)
    pattern = rng.uniform(-40.0, -20.0, 60)  # 0.25 s steps: 15 s
    take_lv = np.tile(pattern, 4) + np.linspace(-30.0, 0.0, 240)
    take = fit._take_in_rows(_stepped_tone(take_lv), SR)
    example = fit._take_in_rows(_stepped_tone(pattern), SR)
    ratio = fit.level_range_ratio(same, None, take, example, SR)
    whole = (fit.level_range_db(fit.window_levels_db(example, SR))
             / fit.level_range_db(fit.window_levels_db(take, SR)))
    assert whole < fit.LEVEL_RANGE_EVIDENCE < ratio < 1.0
    # the other way round (a short take, the long one as example): the example is the wider
    back = fit.level_range_ratio(same, None, example, take, SR)
    assert back > 1.0


def test_stretches_cut_the_longer_recording_as_long_as_the_shorter() -> None:
    n = 15 * SR
    spans = fit.stretches(60 * SR, n)
    assert spans == [(0, n), (n, 2 * n), (2 * n, 3 * n), (3 * n, 4 * n)]
    # not a whole number of them: evenly spaced, overlapping, from the start to the end
    spans = fit.stretches(50 * SR, n)
    assert len(spans) == 4 and spans[0][0] == 0 and spans[-1][1] == 50 * SR
    assert all(b - a == n for a, b in spans)
    # about as long: all of it; much longer: at most MAX_SECTIONS
    assert fit.stretches(20 * SR, n) == [(0, 20 * SR)]
    assert fit.stretches(10 * SR, n) == [(0, 10 * SR)]
    assert len(fit.stretches(600 * SR, n)) == fit.MAX_SECTIONS


def _loss(y: np.ndarray) -> tuple[fit.UnpairedLoss, torch.Tensor]:
    feats = fit.target_features(y, FeatureConfig(sample_rate=SR))
    return fit.UnpairedLoss(feats), feats.level_db


def test_selection_judges_are_the_whole_recordings_or_each_playing_stretch() -> None:
    x = guitar_line(20.0, SR, seed=3)[0]
    y = guitar_line(20.0, SR, seed=4)[0]
    loss, levels = _loss(y)
    fcfg = FeatureConfig(sample_rate=SR)
    whole = torch.from_numpy(fit._segments(x, SR, fit.SELECT_SEGMENTS, fit.SELECT_SEGMENT_S,
                                           np.random.default_rng(5)))
    judges = fit.selection_judges(x, y, SR, fcfg, loss, levels, whole, seed=4)
    assert len(judges) == 1 and judges[0].segs is whole
    assert judges[0].loss is loss and judges[0].target_levels is levels
    # a 5 s example against the take with its second 5 s silent: three stretches of the take
    # judged against the whole example
    x[5 * SR: 10 * SR] = 0.0
    judges = fit.selection_judges(x, y[: 5 * SR], SR, fcfg, loss, levels, whole, seed=4)
    assert len(judges) == 3 and all(j.loss is loss for j in judges)
    assert all(j.segs.shape[0] == fit.SECTION_SEGMENTS for j in judges)
    assert all(float(j.segs.abs().max()) > 0.01 for j in judges)
    # a 5 s take against the 20 s example: the take's segments against each 5 s of it
    judges = fit.selection_judges(x[: 5 * SR], y, SR, fcfg, loss, levels, whole, seed=4)
    assert len(judges) == 4 and all(j.loss is not loss and j.segs is whole for j in judges)
    louder = _loss(y[15 * SR:] * 4.0)[1]  # its levels are those of its own stretch
    assert torch.allclose(judges[-1].target_levels, louder - 20 * math.log10(4.0), atol=0.01)


def test_the_stretch_played_like_the_example_is_the_one_judged() -> None:
    # the example: 5 s played evenly through a clean chain; the take: 5 s alternating loud
    # and soft by 30 dB every half second, 5 s played like the example, 5 s alternating
    # every quarter second
    line = guitar_line(15.0, SR, seed=21)[0]
    n = 5 * SR
    env = np.concatenate([np.tile(np.repeat([1.0, 0.03], SR // 2), 5), np.ones(n),
                          np.tile(np.repeat([1.0, 0.03], SR // 4), 10)])
    x = (line * env).astype(np.float32)
    y = render(chain_with(CLEAN), guitar_line(5.0, SR, seed=22))[0]
    fitter = _fitter(x, y)
    lin = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR))
    fitter.anchor(lin)
    loss, levels = fitter.loss, fitter.target_levels
    xs = x * 10 ** (fit.normalise_input(x) / 20)
    judges = fit.selection_judges(xs, y, SR, fitter.fcfg, loss, levels, fitter.segs, seed=0)
    assert len(judges) == 3
    k, gap = fit.nearest_stretch(fitter, lin, judges)
    assert k == 1
    whole = fitter.evaluate(lin, fitter.segs)[1]["level"]
    assert gap < whole
    # each stretch at its own level: the same stretch 12 dB down has the same gap
    quiet = [fit.Judge(j.segs * 10 ** (-12 / 20), j.loss, j.target_levels) for j in judges]
    assert fit.nearest_stretch(fitter, lin, quiet) == (k, pytest.approx(gap, abs=1e-3))
    # the other way round: 5 s of the take played evenly, the example the three stretches
    even = line[:n] * 10 ** (fit.normalise_input(line[:n]) / 20)
    even_segs = torch.from_numpy(fit._segments(even, SR, fit.SELECT_SEGMENTS,
                                               fit.SELECT_SEGMENT_S, np.random.default_rng(1)))
    back = fit.selection_judges(even, render(chain_with(CLEAN), x[None])[0], SR,
                                fitter.fcfg, loss, levels, even_segs, seed=0)
    assert len(back) == 3
    assert fit.nearest_stretch(fitter, lin, back)[0] == 1


def test_unproven_dynamics_are_reset_in_the_fit(small: None, monkeypatch: pytest.MonkeyPatch
                                                 ) -> None:
    # with no win, no level gap and no level range counted as proof, the compressor-only
    # target's compressor is reset to neutral (and the chain then competes with the linear
    # one as usual)
    monkeypatch.setattr(fit, "DYNAMICS_EVIDENCE", 0.0)
    monkeypatch.setattr(fit, "LEVEL_EVIDENCE_DB", math.inf)
    monkeypatch.setattr(fit, "LEVEL_RANGE_EVIDENCE", 0.0)
    res = _learn(COMP_ONLY)
    assert "nonlinear with dynamics" in res.selection
    if res.chosen == "nonlinear":
        assert "comp" in res.simplified and "comp" not in res.pinning
        assert res.chain.values()["comp.ratio"] < 1.1


def test_a_chosen_linear_model_is_as_loud_as_the_target_over_the_whole_take(small: None
                                                                           ) -> None:
    # in LUFS (BS.1770, K-weighted): the unweighted frame loudness it was matched on before
    # counted the take's bass as loud as its presence
    from tonemorph.dsp.loudness import integrated_lufs

    x = guitar_line(10.0, SR, seed=11)[0]
    res = _learn(CLEAN)
    assert res.chosen == "linear"
    xs = x * 10 ** (res.input_gain_db / 20)
    with torch.no_grad():
        out = res.chain(fit._take_in_rows(xs, SR)).flatten()[: xs.size]
    y = render(chain_with(CLEAN), guitar_line(10.0, SR, seed=12))[0]
    assert integrated_lufs(out.double().numpy(), SR) == pytest.approx(integrated_lufs(y, SR),
                                                                       abs=0.05)


def test_lufs_gap_is_the_examples_loudness_over_the_outputs() -> None:
    # closed form: an example 6 dB louder than what the chain makes of the take is +6.02 LU
    # over it, whatever its spectrum; a silent example or output gives no gap
    x = guitar_line(6.0, SR, seed=5)[0]
    rows = fit._take_in_rows(x, SR)
    chain = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR))
    with torch.no_grad():
        out = chain(rows).flatten()[: x.size].double().numpy()
    gap = fit.lufs_gap_db(fit._call, chain, rows, x.size, 2.0 * out, SR)
    assert gap == pytest.approx(20 * math.log10(2.0), abs=1e-6)
    assert fit.lufs_gap_db(fit._call, chain, rows, x.size, np.zeros_like(out), SR) == 0.0
    fit._shift_output_gain(chain, gap)
    assert fit.lufs_gap_db(fit._call, chain, rows, x.size, 2.0 * out, SR) == pytest.approx(
        0.0, abs=1e-3)


def test_levels_and_mean_power_in_runs_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # a long take is measured a few rows (levels) or frames (power) at a time, for memory
    x = guitar_line(12.0, SR, seed=3)[0]
    rows = fit._take_in_rows(x, SR)
    chain = chain_with(CLEAN)
    fcfg = FeatureConfig(sample_rate=SR)
    skip = int(fit.WARMUP_S * SR)
    target = fit.target_features(x * 0.5, fcfg).level_db
    gains, powers = [], []
    for samples, frames in ((2 ** 30, 10 ** 6), (rows.shape[1], 3)):  # one pass; runs of 1 / 3
        monkeypatch.setattr(fit, "LEVEL_CHUNK_SAMPLES", samples)
        monkeypatch.setattr(fit, "POWER_CHUNK_FRAMES", frames)
        c = copy.deepcopy(chain)
        fit.match_level(c, rows, target, fcfg, skip, loudness=True)
        gains.append(c.values()["out_gain_db"])
        powers.append(fit._mean_power(rows, fit.INIT_FFT, fit.INIT_HOP, skip))
    assert gains[0] == gains[1]
    assert torch.equal(powers[0], powers[1])
    with torch.no_grad():
        want = fit._levels(chain(rows), fcfg, skip)
    assert gains[0] == pytest.approx(CLEAN["out_gain_db"] + fit.frame_loudness_db(target)
                                     - fit.frame_loudness_db(want), abs=1e-3)


def test_take_in_rows_keeps_every_sample_and_pads_the_last_row_with_silence() -> None:
    x = np.random.default_rng(0).standard_normal(int(2.5 * fit.TAKE_ROW_S * SR)).astype(np.float32)
    rows = fit._take_in_rows(x, SR)
    assert rows.shape == (3, int(fit.TAKE_ROW_S * SR))
    flat = rows.flatten().numpy()
    np.testing.assert_array_equal(flat[: x.size], x)
    assert not flat[x.size:].any()
    assert fit._take_in_rows(x[:100], SR).shape == (1, int(fit.TAKE_ROW_S * SR))


def test_cab_match_recovers_a_static_eq() -> None:
    # the static spectrum is matched in closed form, not by the loss: a +8 dB presence peak
    # on the target must appear in the cab curve
    x = guitar_line(8.0, SR, seed=3)
    eq = chain_with({"post_eq.mid_hz": 3000.0, "post_eq.mid_db": 8.0, "post_eq.mid_q": 1.0},
                    stages=("post_eq",))
    y = render(eq, guitar_line(8.0, SR, seed=4))
    chain = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR))
    segs = torch.from_numpy(x[:, : 4 * SR].reshape(2, -1))
    power = [fit._mean_power(torch.from_numpy(a), fit.INIT_FFT, 512, 0) for a in (y, x)]
    anchor_cab(chain, segs, power[0], power[1], FeatureConfig(sample_rate=SR), 0)
    bands = np.asarray(chain.values()["cab.band_db"])
    band_hz = chain.cfg.band_hz()
    at = lambda f: float(np.interp(np.log(f), np.log(band_hz), bands))  # noqa: E731
    assert at(3000.0) - at(700.0) == pytest.approx(8.0, abs=2.0)
    assert abs(at(700.0) - at(300.0)) < 2.0


def test_cab_match_takes_the_examples_hiss_off() -> None:
    # a darker target (-12 dB shelf from 3 kHz) with white noise at -60 dBFS: matched as it
    # stands, the top octaves, where the hiss is as strong as the playing, read as a boost
    x = guitar_line(8.0, SR, seed=3)
    dark = chain_with({"post_eq.high_hz": 3000.0, "post_eq.high_db": -12.0}, stages=("post_eq",))
    y = render(dark, guitar_line(8.0, SR, seed=4))
    hiss = (y + 1e-3 * np.random.default_rng(0).standard_normal(y.shape)).astype(np.float32)
    segs = torch.from_numpy(x[:, : 4 * SR].reshape(2, -1))
    window = torch.hann_window(fit.INIT_FFT).numpy()

    def match(target: np.ndarray, floors: tuple | None) -> np.ndarray:
        chain = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR))
        power = [fit._mean_power(torch.from_numpy(a), fit.INIT_FFT, 512, 0) for a in (target, x)]
        anchor_cab(chain, segs, power[0], power[1], FeatureConfig(sample_rate=SR), 0,
                   floors=floors)
        return np.asarray(chain.values()["cab.band_db"])

    floors = tuple(noise_floor_power(a[0], fit.INIT_FFT, fit.INIT_HOP, window) for a in (hiss, x))
    assert floors[0].any() and not floors[1].any()  # the clean take's gaps are digital silence
    band_hz = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR)).cfg.band_hz()
    clean, raw, fixed = match(y, None), match(hiss, None), match(hiss, floors)
    top = band_hz > 8000.0
    assert np.min(raw[top] - clean[top]) > 5.0
    np.testing.assert_allclose(fixed[top], clean[top], atol=2.5)
    np.testing.assert_allclose(fixed[band_hz < 5000.0], clean[band_hz < 5000.0], atol=0.5)


def test_cab_match_is_described_for_the_chain() -> None:
    notes = fit.NoteBands(note_spectra(_held_notes(range(0, 12), seed=1)[0], SR),
                          note_spectra(_held_notes(range(2, 14), seed=2)[0], SR), SR)
    few = fit.NoteBands(notes.target, note_spectra(_held_notes(range(10, 13), seed=3)[0], SR),
                        SR)
    clean = ToneChain(ChainConfig(stages=("drive", "cab"), sample_rate=SR))
    driven = copy.deepcopy(clean)
    driven.set_values({**driven.values(), "drive.drive_db": fit.SATURATING_DRIVE_DB})
    assert fit.cab_match(clean, notes).startswith("note by note (")
    assert fit.cab_match(clean, few).startswith("on the long-term spectrum (the example and")
    apart = fit.NoteBands(notes.target,
                          note_spectra(_held_notes(range(14, 26), seed=4)[0], SR), SR)
    assert fit.cab_match(clean, apart).startswith(
        "on the long-term spectrum, the take's notes moved to the example's (the example and "
        "the take hold 0 of")
    assert fit.cab_match(driven, notes) == "on the long-term spectrum (behind a saturating drive)"
    assert fit.cab_match(ToneChain(ChainConfig(stages=("drive",), sample_rate=SR)), notes) == ""


def test_learning_without_a_cabinet_tracks_no_notes(small: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # no candidate has a cabinet to match (the linear one is the pre-EQ): no pitch tracking
    tracked = []
    monkeypatch.setattr(fit, "note_spectra", lambda *a: tracked.append(1))
    x = guitar_line(6.0, SR, seed=11)[0]
    y = render(chain_with({"drive.drive_db": 12.0}), guitar_line(6.0, SR, seed=12))[0]
    res = fit_unpaired(x, y, LearnConfig(quality="fast", stages=("pre_eq", "drive"),
                                         sample_rate=SR))
    assert not tracked and res.cab_match == ""


def _held_notes(semitones: range, seed: int) -> np.ndarray:
    """(1, n) held harmonic notes (1/h to 10 kHz, 0.4 s each) at semitones above 82.41 Hz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.4 * SR)) / SR
    notes = []
    for s in rng.permutation(np.repeat(np.asarray(semitones), 3)):
        f0 = 82.41 * 2.0 ** (s / 12)
        notes.append(sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h
                         for h in range(1, int(10000 / f0))) * 0.1 * np.exp(-t / 1.5))
    return np.concatenate(notes)[None].astype(np.float32)


def test_cab_match_compares_note_by_note() -> None:
    # the example also plays an octave of low notes the learning take lacks: the long-term
    # match boosts the bass toward them, the note-by-note one keeps to the EQ
    x = _held_notes(range(12, 25), seed=1)
    eq = chain_with({"post_eq.mid_hz": 3000.0, "post_eq.mid_db": 8.0, "post_eq.mid_q": 1.0},
                    stages=("post_eq",))
    y = render(eq, _held_notes(range(0, 25), seed=2))
    segs = torch.from_numpy(x[:, : 4 * SR].reshape(2, -1))
    power = [fit._mean_power(torch.from_numpy(a), fit.INIT_FFT, 512, 0) for a in (y, x)]
    notes = fit.NoteBands(note_spectra(y[0], SR), note_spectra(x[0], SR), SR)
    curves = {}
    for name, by_note in (("plain", None), ("notes", notes)):
        chain = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR))
        anchor_cab(chain, segs, power[0], power[1], FeatureConfig(sample_rate=SR), 0,
                   notes=by_note)
        band_hz = chain.cfg.band_hz()
        bands = np.asarray(chain.values()["cab.band_db"])
        curves[name] = lambda f, b=bands: float(np.interp(np.log(f), np.log(band_hz), b))
    plain, notes_at = curves["plain"], curves["notes"]
    # behind a saturating drive every note comes out alike: the long-term match is kept
    knee = fit.SATURATING_DRIVE_DB
    for drive_db, same in ((knee - 1.0, False), (knee, True)):
        driven = []
        for by_note in (None, notes):
            chain = ToneChain(ChainConfig(stages=("drive", "cab"), sample_rate=SR))
            chain.set_values({**chain.values(), "drive.drive_db": drive_db})
            anchor_cab(chain, segs, power[0], power[1], FeatureConfig(sample_rate=SR), 0,
                       notes=by_note)
            driven.append(np.asarray(chain.values()["cab.band_db"]))
        assert np.array_equal(driven[0], driven[1]) == same
    assert plain(82.0) - plain(700.0) > 10.0  # the bias the note match removes
    assert abs(notes_at(82.0) - notes_at(700.0)) < 2.0
    assert notes_at(3000.0) - notes_at(700.0) == pytest.approx(8.0, abs=2.0)


def _two_segment_fitter(x: np.ndarray, y: np.ndarray) -> fit._Fitter:
    """A fitter on two 2 s segments of x against the target y, as fit_unpaired builds it."""
    fcfg = FeatureConfig(sample_rate=SR)
    segs = torch.from_numpy(fit._segments(x, SR, 2, 2.0, np.random.default_rng(0)))
    tfeat = fit.target_features(y, fcfg)
    power = [fit._mean_power(torch.from_numpy(a)[None], fit.INIT_FFT, fcfg.hop, 0)
             for a in (y, x)]
    return fit._Fitter(segs, fit.UnpairedLoss(tfeat), fcfg, int(fit.WARMUP_S * SR), 0.03,
                       power[0], tfeat.level_db, power[1])


def test_simplify_resets_a_block_the_example_does_not_need() -> None:
    def take(seed: int) -> np.ndarray:
        x = guitar_line(8.0, SR, seed=seed)[0]
        return x * np.float32(10 ** (fit.normalise_input(x) / 20))  # as fit_unpaired does

    stages = ("drive", "cab", "comp")
    drive = {"drive.drive_db": 30.0, "drive.bias": 0.2}
    fitter = _two_segment_fitter(take(5), render(chain_with(drive, stages), take(6)[None])[0])
    # the fitted chain: the right drive plus a compressor that only touches the top 1 dB
    chain = chain_with({**drive, "comp.threshold_db": -1.0, "comp.ratio": 1.2}, stages)
    fitter.anchor(chain)
    pinning = fit.block_pinning(fitter, chain)
    assert set(pinning) == {"drive", "comp"}
    assert pinning["comp"] < fit.SIMPLIFY_TOL < pinning["drive"]
    simpler, reset, held = fit.simplify(fitter, chain, pinning)
    assert reset == ("comp",) and held == ()
    fresh = chain_with({}, stages).values()  # neutral as a chain holds it (raw round trip)
    assert simpler.values()["comp.ratio"] == pytest.approx(fresh["comp.ratio"])
    assert simpler.values()["drive.drive_db"] == pytest.approx(30.0)


class _TermsFitter:
    """A stand-in fitter whose loss terms depend only on which blocks sit at neutral: each
    reset block adds its `effects` (term -> change) to the base terms."""

    def __init__(self, base: dict[str, float], effects: dict[str, dict[str, float]]):
        self.base, self.effects = base, effects
        self.loss = SimpleNamespace(weights=LossWeights())

    def anchor(self, chain: ToneChain, level: bool = True) -> None:
        pass

    def evaluate(self, chain: ToneChain, segs: torch.Tensor | None = None
                 ) -> tuple[float, dict[str, float]]:
        terms = dict(self.base)
        reset = set(fit.RESETTABLE) - set(fit.active_blocks(chain, fit.RESETTABLE))
        for block in reset & set(self.effects):
            for k, v in self.effects[block].items():
                terms[k] += v
        w = self.loss.weights.as_dict()
        return sum(w[k] * v for k, v in terms.items()), terms


def test_simplify_keeps_a_dynamics_block_that_holds_the_level_distribution() -> None:
    stages = ("sag", "drive", "cab", "comp")
    chain = chain_with({"sag.threshold_db": -30.0, "sag.ratio": 4.0, "drive.drive_db": 20.0,
                        "comp.threshold_db": -20.0, "comp.ratio": 2.0}, stages)
    base = {"binned_env": 2.7, "level": 0.7, "dynamics": 0.8, "delta": 0.2, "crest": 0.3,
            "joint": 0.4}
    # both resets lower the loss; the sag's by a better envelope while the level terms rise
    # (a sag the example has), the compressor's by lower level terms (one it lacks)
    effects = {"sag": {"binned_env": -0.6, "level": 0.5, "dynamics": 0.5},
               "comp": {"level": -0.1, "dynamics": -0.1, "binned_env": 0.05}}
    fitter = _TermsFitter(base, effects)
    loss = fitter.evaluate(chain)[0]
    pinning = {"sag": -0.01, "comp": -0.005, "drive": 0.3}
    for block in ("sag", "comp"):
        assert fitter.evaluate(fit._with_block_neutral(fitter, chain, (block,))[0])[0] < loss
    simpler, reset, held = fit.simplify(fitter, chain, pinning)
    assert reset == ("comp",) and held == ("sag",)
    assert simpler.values()["sag.ratio"] == pytest.approx(4.0)
    # the same sag reset without the level terms' rise is taken
    fitter.effects["sag"] = {"binned_env": -0.6}
    assert fit.simplify(fitter, chain, pinning)[1:] == (("sag", "comp"), ())
    # a rise that an earlier reset (here the pre-EQ's) brought is not the compressor's
    chain = chain_with({"pre_eq.high_db": 6.0, "comp.threshold_db": -20.0, "comp.ratio": 2.0},
                       ("pre_eq", "cab", "comp"))
    fitter = _TermsFitter(base, {"pre_eq": {"level": 0.2, "crest": -0.8}, "comp": {}})
    assert fit.simplify(fitter, chain, {"pre_eq": -0.1, "comp": 0.0})[1] == ("pre_eq", "comp")


def _strikes_and_decays(seconds: float = 60.0, period_s: float = 5.0) -> np.ndarray:
    """Noise bursts that start loud and decay 60 dB over `period_s`, repeated: the shape of a
    take of chords left to ring, at cycling strike strengths (0, -10, -18, -5, -14 dB)."""
    n_period = int(period_s * SR)
    t = np.arange(n_period) / SR
    env = 10 ** (-60 * t / period_s / 20)
    rng = np.random.default_rng(5)
    gains = [0.0, -10.0, -18.0, -5.0, -14.0]
    reps = int(seconds / period_s)
    x = np.concatenate([10 ** (gains[k % 5] / 20) * env * rng.standard_normal(n_period)
                        for k in range(reps)])
    return (0.3 * x).astype(np.float32)


@pytest.mark.parametrize("quality", sorted(fit.QUALITY_PRESETS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segments_are_as_loud_as_the_take(quality: str, seed: int) -> None:
    # few segments spread evenly in time fell in the decays: 10-13 dB below the take's loud
    # end, and the tone learned from them was that much too loud on the take
    x = _strikes_and_decays()
    n, seg_s = (fit.QUALITY_PRESETS[quality][k] for k in ("n_segments", "segment_s"))
    segs = fit._segments(x, SR, n, seg_s, np.random.default_rng(seed))
    skip = int(fit.WARMUP_S * SR)
    assert segs.shape == (n, skip + int(seg_s * SR))
    fcfg = FeatureConfig(sample_rate=SR)

    def loud_end_db(v: torch.Tensor, skip: int) -> float:
        # the learner's own frame levels (the loss and the output level match use them)
        return float(torch.quantile(fit.frame_features(v, fcfg, skip).level_db.flatten(), 0.9))

    whole = loud_end_db(torch.from_numpy(x)[None], 0)
    got = loud_end_db(torch.from_numpy(segs), skip)
    assert abs(got - whole) < 3.0, (got, whole)


def test_frame_loudness_is_a_gated_power_mean() -> None:
    # closed forms: equal levels give that level; two levels 6 dB apart in equal numbers give
    # their power mean; frames more than 10 dB under the power mean are left out
    assert fit.frame_loudness_db(torch.full((50,), -23.0)) == pytest.approx(-23.0)
    two = torch.tensor([-20.0] * 10 + [-26.0] * 10)
    want = 10 * np.log10((10 ** -2.0 + 10 ** -2.6) / 2)
    assert fit.frame_loudness_db(two) == pytest.approx(want, abs=1e-9)
    with_quiet = torch.cat([two, torch.full((200,), -60.0)])
    assert fit.frame_loudness_db(with_quiet) == pytest.approx(want, abs=1e-9)


def test_linear_level_match_gives_the_target_loudness() -> None:
    # a compressed target: matched on the louder half of its levels, a chain without dynamics
    # came out too loud; matched on loudness it is as loud as the target, in LUFS too
    from tonemorph.dsp.loudness import integrated_lufs

    x = guitar_line(20.0, SR, seed=41)[0]
    comp = {"comp.threshold_db": -40.0, "comp.ratio": 8.0, "comp.attack_ms": 2.0,
            "comp.release_ms": 80.0, "out_gain_db": 12.0}
    y = render(chain_with(comp), guitar_line(20.0, SR, seed=42))[0]
    fitter = _fitter(x, y, n_segments=8)
    levels = {}
    for loudness in (False, True):
        lin = ToneChain(ChainConfig(stages=("cab",), sample_rate=SR))
        fitter.anchor(lin)
        fitter.match_level(lin, loudness=loudness)
        out = fitter.output(lin, fitter.segs)
        levels[loudness] = fit.frame_loudness_db(fit._levels(out, fitter.fcfg, fitter.skip))
    want = fit.frame_loudness_db(fitter.target_levels)
    assert levels[True] == pytest.approx(want, abs=0.05)
    assert levels[False] > want + 0.5  # the louder-half match, for contrast (+0.84 dB)
    # on the whole take the LUFS follow (the segments' levels spread like the take's)
    tone = tonemorph_tone(lin, x)
    assert integrated_lufs(tone, SR) == pytest.approx(integrated_lufs(y[None], SR), abs=1.0)


def tonemorph_tone(chain: ToneChain, x: np.ndarray) -> np.ndarray:
    """The fitted chain on the whole mono take x, normalised as the learner normalises it."""
    from tonemorph.model import Tone

    return Tone.from_chain(chain, fit.normalise_input(x), {}).apply(x[None], SR)


def test_a_run_holds_the_parameters_it_is_told_to_hold() -> None:
    x = guitar_line(6.0, SR, seed=21)[0]
    y = render(chain_with({"drive.drive_db": 12.0, "sag.ratio": 4.0}),
               guitar_line(6.0, SR, seed=22))[0]
    fitter = _fitter(x, y, n_segments=2)
    chain = ToneChain(ChainConfig(sample_rate=SR))
    chain.set_values({**chain.neutral_values(), "drive.drive_db": 30.0})
    before = chain.values()
    fitter.run(chain, 4, "held", held=(fit.DRIVE_RAW,))
    after = chain.values()
    assert after["drive.drive_db"] == pytest.approx(before["drive.drive_db"], abs=1e-6)
    moved = [k for k in before if k.startswith("pre_eq.")
             and abs(float(after[k]) - float(before[k])) > 1e-4]
    assert moved  # the others were fitted


@pytest.mark.parametrize(("gaps", "refit", "kept"), [
    ((-6.0, -1.0), True, True),  # the refit's attacks come closer: kept
    ((-6.0, -5.5), True, False),  # closer by less than ATTACKS_MARGIN_DB: the first fit stays
    ((-3.0,), False, False),  # within what two takes differ by: no refit
])
def test_a_fit_that_flattens_the_attacks_is_refit_with_the_drive_held(
        small: None, monkeypatch: pytest.MonkeyPatch, gaps: tuple[float, ...], refit: bool,
        kept: bool) -> None:
    monkeypatch.setattr(fit, "saturating", lambda chain: True)
    left = iter(gaps)
    monkeypatch.setattr(fit, "attacks_gap_db", lambda *args: next(left))
    refits: list[ToneChain] = []
    real = fit.held_drive_refit

    def spy(*args: object) -> tuple:
        out = real(*args)
        refits.append(out[0])
        return out

    monkeypatch.setattr(fit, "held_drive_refit", spy)
    res = _learn({"drive.drive_db": 30.0})
    tag = f"refit, drive {fit.HELD_DRIVE_DB:+.0f} dB held"
    assert res.selection["attacks gap dB"] == gaps[0]
    assert (tag in res.candidates) == refit == bool(refits)
    if refit:
        assert res.selection["attacks gap dB, drive held"] == gaps[1]
        assert refits[0].values()["drive.drive_db"] == pytest.approx(fit.HELD_DRIVE_DB, abs=1e-4)
        assert (res.candidates["nonlinear"] == res.candidates[tag]) == kept


def test_a_stop_during_the_starts_skips_the_starts_left_over(
        small: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # 3 starts on 2 threads: two side by side, the third after them on both threads; a stop
    # in the first round ends the learn there with what it reached
    monkeypatch.setitem(fit.QUALITY_PRESETS, "fast", {**SMALL, "n_segments": 2,
                                                       "segment_s": 1.0, "start_steps": 4})
    monkeypatch.setenv(THREADS_ENV, "2")
    x = guitar_line(5.0, SR, seed=1)[0]
    y = render(chain_with({"drive.drive_db": 20.0}), guitar_line(5.0, SR, seed=2))[0]
    tags: list[str] = []

    def progress(tag: str, done: int, total: int, loss: float | None = None) -> None:
        tags.append(tag)
        if tag.startswith("drive") and done == 2:
            STOP_REQUESTED.set()

    try:
        res = fit_unpaired(x, y, LearnConfig(quality="fast", sample_rate=SR), progress)
    finally:
        STOP_REQUESTED.clear()
    assert res.interrupted
    assert not any("slow dynamics" in t for t in tags)  # the start left over never ran
    assert "refine" not in tags
    assert np.isfinite(res.loss)
    assert all(np.all(np.isfinite(v)) for v in res.chain.values().values())


@pytest.mark.parametrize("threads", ["2", "3"])
def test_the_start_left_over_runs_on_all_threads(
        small: None, monkeypatch: pytest.MonkeyPatch, threads: str) -> None:
    # 3 starts on 2 threads: the third runs alone after the first two, its steps' parts
    # shared over both threads (not on one beside an idle core); on 3 threads all three run
    # side by side
    monkeypatch.setitem(fit.QUALITY_PRESETS, "fast", {**SMALL, "n_segments": 2,
                                                       "segment_s": 1.0, "start_steps": 2,
                                                       "steps": 2})
    monkeypatch.setenv(THREADS_ENV, threads)
    runs: list[tuple[str, bool]] = []
    real_run = fit._Fitter.run

    def spy(self, chain, steps, tag, shared=False, held=()):
        runs.append((tag, shared))
        return real_run(self, chain, steps, tag, shared, held)

    monkeypatch.setattr(fit._Fitter, "run", spy)
    x = guitar_line(4.0, SR, seed=1)[0]
    y = render(chain_with({"drive.drive_db": 20.0}), guitar_line(4.0, SR, seed=2))[0]
    fit_unpaired(x, y, LearnConfig(quality="fast", sample_rate=SR))
    starts = [r for r in runs if r[0].startswith("drive")]
    # (side by side, the order the threads call in is theirs)
    assert sorted(starts) == [("drive +0 dB", False), ("drive +12 dB, slow dynamics",
                                                       threads == "2"), ("drive +18 dB", False)]
    if threads == "2":
        assert starts[2] == ("drive +12 dB, slow dynamics", True)


def test_lowest_notes_of_both_recordings_where_tracked() -> None:
    from tonemorph.features.notes import NOTE_REF_HZ, NOTE_STEP, NoteSpectra

    def held(notes: list[int]) -> NoteSpectra:
        return NoteSpectra(np.array(notes), np.full(len(notes), 50.0), np.ones((len(notes), 3)))

    assert fit.lowest_notes(None) == {}
    got = fit.lowest_notes(fit.NoteBands(held([4, 9]), held([]), SR))
    assert got == {"target": pytest.approx(NOTE_REF_HZ * 2 ** (4 * NOTE_STEP / 12))}


def test_best_quality_learns_as_default_and_fast_does_less() -> None:
    # every longer or wider fit measured was worse on held-out takes
    # (bench/results/selection_best.md): `best` is default's fit under its old name
    assert fit.LearnConfig(quality="best").preset() == fit.LearnConfig().preset()
    fast, default = fit.QUALITY_PRESETS["fast"], fit.QUALITY_PRESETS["default"]
    assert fast["steps"] <= default["steps"]
    assert fast["n_segments"] * fast["segment_s"] < default["n_segments"] * default["segment_s"]


def test_a_lossy_example_s_drive_is_learned_below_its_end(small: None) -> None:
    # a driven example whose spectrum ends at 6 kHz (a low-bitrate MP3): compared above its
    # end, the drive's harmonics there read as too bright and the drive was lost
    x = guitar_line(10.0, SR, seed=11)[0]
    driven = render(chain_with({"drive.drive_db": 30.0, "post_eq.high_hz": 3000.0,
                                "post_eq.high_db": -6.0}), guitar_line(10.0, SR, seed=12))[0]
    res = fit_unpaired(x, brick_wall(driven, 6000.0, SR), LearnConfig(quality="fast",
                                                                  sample_rate=SR))
    assert res.example_bandwidth_hz is not None
    assert 6000.0 * 2.0 ** (-1.0 / 6.0) <= res.example_bandwidth_hz <= 6000.0
    assert res.chosen == "nonlinear"
    assert res.chain.values()["drive.drive_db"] >= 12.0
    # the same example with its top end: nothing ends early
    assert recording_bandwidth_hz(driven, SR) >= FeatureConfig().fmax_hz
