"""How the plugin behaves in a host: no allocation on the audio thread, latency as reported,
smooth automation and bypass, state that restores the sound (also when the file moved), tone
swaps within the crossfade, bad files passing audio through with a reason, NaN recovery."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from plugin_support import (
    FULL_TONE,
    GREYBOX_TONE,
    KNOBS,
    LATENCY,
    aligned_error,
    clap,
    offline,
    reference,
    run_tool,
    take,
)

import tonemorph.plugin.builder as build_module
from tonemorph.plugin import PluginToolchainError, build

RATE = 48000


def max_step(y: np.ndarray) -> float:
    """Largest sample-to-sample change: a click or a zipper step shows up here."""
    return float(np.max(np.abs(np.diff(y, axis=-1))))


def sine(seconds: float, hz: float = 220.0, amp: float = 0.1) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * hz * t))[None].astype(np.float32)


def test_run_allocates_nothing(built):
    r = run_tool([built.tools["alloc_test"], FULL_TONE, GREYBOX_TONE])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "allocations in run(): 0 " in r.stdout


def test_reported_latency_equals_measured_impulse(built, drive_tone, clean_tone, tmp_path):
    x = np.zeros((1, 4096), np.float32)
    x[0, 1000] = 0.5
    y, report = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 64, tmp_path,
                     model=drive_tone)
    assert report["latency"] == LATENCY
    assert int(np.argmax(np.abs(y[0]))) - 1000 == report["latency"]
    _, report = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 64, tmp_path,
                     model=clean_tone)
    assert report["latency"] == 0  # no drive, no oversampling, no added latency


@pytest.mark.parametrize("param,before,after", [("3", -12.0, 12.0), ("2", -12.0, 12.0),
                                                ("1", -12.0, 12.0), ("4", 0.0, 1.0),
                                                ("0", 100.0, 30.0)])
def test_automation_and_bypass_are_smooth(built, tmp_path, param, before, after):
    """A jump of level, tone, drive or bypass mid-block glides: no step larger than the
    signal's own (a 220 Hz sine changes by at most 2.9 % of its amplitude per sample)."""
    x = sine(1.0)
    at = 24000 + 17
    # the pause lets the worker redesign (amount) as real time would between callbacks
    y, _ = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 256, tmp_path,
                model=FULL_TONE, extra=("--param", f"{param}={before}",
                                        "--at", f"{at}:{param}={after}",
                                        "--pause-at", f"{at + 256}:300"))
    steady = max(max_step(y[:, 12000:at]), max_step(y[:, -12000:]))
    assert max_step(y[:, at - 10: at + 4800]) < 1.5 * steady
    unchanged, _ = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 256, tmp_path,
                        model=FULL_TONE, extra=("--param", f"{param}={before}"))
    assert not np.allclose(y[:, -4800:], unchanged[:, -4800:])  # the change took effect


@pytest.mark.parametrize("param,beyond,edge", [("0", 1000.0, 100.0), ("0", -50.0, 0.0),
                                               ("1", 1e6, 24.0), ("3", -1e6, -24.0)])
def test_a_value_past_a_knob_s_range_plays_as_its_end(built, tmp_path, param, beyond, edge):
    # a host sending Amount 1000 % got the tone's change ten times over (+104 dBFS out of a
    # 0.3 sine): the plugin holds each knob to the range it declares
    x = sine(0.5, amp=0.3)
    y, _ = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 256, tmp_path,
                model=FULL_TONE, extra=("--param", f"{param}={beyond}"))
    want, _ = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 256, tmp_path,
                   model=FULL_TONE, extra=("--param", f"{param}={edge}"))
    np.testing.assert_array_equal(y, want)


def test_state_save_restore_reproduces_output_even_when_the_file_moved(built, tmp_path):
    tone = tmp_path / "my_tone.tmodel"
    shutil.copy(FULL_TONE, tone)
    x = take(RATE, 2, seconds=0.4, seed=5)
    knobs = KNOBS["pushed"]
    state = tmp_path / "state.bin"
    first, _ = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 512, tmp_path,
                    knobs, model=tone, extra=("--state-out", state))
    tone.unlink()  # the session opens on another machine: the document travels in the state
    args = [built.tools["clap_host"], built.bundles["clap"], "--rate", RATE, "--channels", 2,
            "--block", 512, "--in", tmp_path / "clap_in.f32", "--out", tmp_path / "again.f32",
            "--state-in", state]
    r = run_tool(args)
    assert r.returncode == 0, r.stderr
    again = np.fromfile(tmp_path / "again.f32", np.float32).reshape(x.shape)
    np.testing.assert_array_equal(again, first)
    assert "my_tone.tmodel" in r.stderr and "copy saved with the session" in r.stderr


def test_tone_swap_mid_stream_only_crossfades(built, clean_tone, tmp_path):
    x = take(RATE, 1, seconds=1.0, seed=6)
    swap_at = 24000
    y = offline(built.tools["tm_offline"], FULL_TONE, x, RATE, 128, KNOBS["neutral"], tmp_path,
                extra=("--swap", clean_tone, "--swap-at", swap_at))
    ref_a = reference(FULL_TONE, x, RATE, KNOBS["neutral"])
    # before the block that hands the new tone over: tone A exactly
    start = swap_at - swap_at % 128
    assert aligned_error(y[:, :start], ref_a[:, :start], LATENCY) < 1e-4
    # across it: no step beyond what the two tones produce on their own
    ref_b = reference(clean_tone, x, RATE, KNOBS["neutral"])
    own = max(max_step(ref_a), max_step(ref_b))
    assert max_step(y[:, start - 256: start + 2 * 960]) <= 1.2 * own
    # after the 20 ms crossfade and the new tone's short memory: tone B
    tail = slice(start + RATE // 10, None)
    assert aligned_error(y[:, tail], ref_b[:, tail], 0) < 1e-3


@pytest.mark.parametrize("damage", ["not json", "range", "unknown key"])
def test_bad_tone_passes_audio_through_and_says_why(built, tmp_path, damage):
    doc = json.loads(FULL_TONE.read_text())
    if damage == "range":
        doc["parameters"]["drive.drive_db"] = 500.0
    elif damage == "unknown key":
        doc["parameters"]["drive.fuzz"] = 1.0
    bad = tmp_path / "bad.tmodel"
    bad.write_text("{ nope" if damage == "not json" else json.dumps(doc))
    x = take(RATE, 2, seconds=0.2, seed=7)
    src = tmp_path / "in.f32"
    x.tofile(src)
    r = run_tool([built.tools["clap_host"], built.bundles["clap"], "--rate", RATE,
                  "--channels", 2, "--block", 64, "--in", src, "--out", tmp_path / "o.f32",
                  "--model", bad])
    assert r.returncode == 0, r.stderr
    y = np.fromfile(tmp_path / "o.f32", np.float32).reshape(x.shape)
    np.testing.assert_array_equal(y, x)
    line = next(s for s in r.stderr.splitlines() if s.startswith("tonemorph:"))
    assert "bad.tmodel" in line and "audio passes through" in line
    expected = {"not json": "not JSON", "range": "drive.drive_db", "unknown key": "drive.fuzz"}
    assert expected[damage] in line


def test_nan_input_mutes_then_recovers(built, tmp_path):
    x = take(RATE, 1, seconds=1.0, seed=8)
    x[0, 12000] = np.nan
    y = offline(built.tools["tm_offline"], FULL_TONE, x, RATE, 64, KNOBS["neutral"], tmp_path)
    assert np.all(np.isfinite(y))
    clean = x.copy()
    clean[0, 12000] = 0.0
    ref = reference(FULL_TONE, clean, RATE, KNOBS["neutral"])
    muted_from = 12000 - 12000 % 64  # the guard mutes the whole control step holding the NaN
    assert aligned_error(y[:, :muted_from], ref[:, :muted_from], LATENCY) < 1e-4
    assert not np.any(y[:, muted_from: muted_from + 64])
    tail = slice(RATE // 2, None)  # half a second later the tone plays as before, near enough
    level_db = 20 * np.log10(np.sqrt(np.mean(y[:, tail] ** 2)) / np.sqrt(np.mean(ref[:, tail] ** 2)))
    assert abs(level_db) < 1.0


def test_missing_toolchain_is_one_line_naming_packages(monkeypatch, tmp_path):
    monkeypatch.setattr(build_module, "DPF_DIR", tmp_path / "no-dpf")
    with pytest.raises(PluginToolchainError) as err:
        build(tmp_path / "b")
    msg = str(err.value)
    assert "\n" not in msg and "dpf-source" in msg and "apt-get install" in msg


def test_tone_file_rewritten_on_disk_is_reloaded(built, clean_tone, tmp_path):
    """A re-learn overwrites the file: the plugin's watcher picks it up off the audio thread
    and crossfades to it (here the new tone has no drive, so the latency drops to 0)."""
    tone = tmp_path / "live.tmodel"
    shutil.copy(FULL_TONE, tone)
    x = take(RATE, 1, seconds=1.0, seed=9)
    at = 24000
    y, report = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 512, tmp_path,
                     model=tone, extra=("--replace-at", f"{at}:{clean_tone}"))
    assert report["latency"] == LATENCY and report["latency_end"] == 0
    ref_a = reference(FULL_TONE, x, RATE, KNOBS["neutral"])
    start = at - at % 512
    assert aligned_error(y[:, :start], ref_a[:, :start], LATENCY) < 1e-4
    ref_b = reference(clean_tone, x, RATE, KNOBS["neutral"])
    tail = slice(start + RATE // 10, None)
    assert aligned_error(y[:, tail], ref_b[:, tail], 0) < 1e-3


def test_host_rate_outside_the_native_range_passes_through_and_says_why(built, tmp_path):
    rate = 22050
    x = take(rate, 1, seconds=0.2)
    src = tmp_path / "in.f32"
    x.tofile(src)
    r = run_tool([built.tools["clap_host"], built.bundles["clap"], "--rate", rate,
                  "--channels", 1, "--block", 256, "--in", src, "--out", tmp_path / "o.f32",
                  "--model", FULL_TONE])
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.fromfile(tmp_path / "o.f32", np.float32), x[0])
    assert "22050 Hz" in r.stderr and "32-192 kHz" in r.stderr


def test_lv2_offers_a_file_picker_for_the_tone(built):
    """The LV2 that loads any tone declares its path parameter (hosts show a file picker)."""
    lv2 = build(built.build_dir, formats=("lv2",)).bundles["lv2"]
    ttl = (lv2 / "tonemorph.ttl").read_text()
    assert "patch:writable <urn:tonemorph:plugin#model>" in ttl
    assert "atom:Path" in ttl


def test_nan_input_while_bypassed_stays_out_of_the_output(built, tmp_path):
    x = take(RATE, 1, seconds=0.3, seed=10)
    x[0, 5000] = np.inf
    y, _ = clap(built.tools["clap_host"], built.bundles["clap"], x, RATE, 128, tmp_path,
                model=FULL_TONE, extra=("--param", "4=1"))
    assert np.all(np.isfinite(y))
    clean = x.copy()
    clean[0, 5000] = 0.0
    np.testing.assert_array_equal(y[:, LATENCY:], clean[:, :-LATENCY])  # bypass: dry, aligned
