"""Benchmark material (bench/cases.py and the modules it builds on): the LV2 host against
lilv's own, chains, performances, sources."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import audio_util
import cases
import chains
import lv2host
import numpy as np
import performances
import pytest
import soundfile as sf

LSP_COMP = chains.LSP + "compressor_mono"
X42_DPL = chains.X42 + "dpl#mono"


def _installed(uri: str) -> bool:
    if not lv2host.lilv_available() or shutil.which("lv2ls") is None:
        return False
    return uri in subprocess.run(["lv2ls"], capture_output=True, text=True,
                                 check=False).stdout.split()


def _tone_burst(seconds: float = 0.6) -> np.ndarray:
    """A 220 Hz tone whose level steps from -30 to -6 dBFS halfway (exercises dynamics)."""
    t = np.arange(int(seconds * audio_util.SR)) / audio_util.SR
    level = np.where(t < seconds / 2, audio_util.db_to_gain(-30.0), audio_util.db_to_gain(-6.0))
    return (level * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)


@pytest.mark.skipif(not (_installed(LSP_COMP) and shutil.which("lv2apply")),
                    reason="needs liblilv, lv2apply and lsp-plugins-lv2")
def test_lv2_host_matches_lv2apply(tmp_path) -> None:
    x = _tone_burst()
    controls = {"cr": 8.0, "al": audio_util.db_to_gain(-24.0), "at": 1.0, "rt": 50.0}
    ours = lv2host.lv2_process(x, LSP_COMP, controls)
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x, audio_util.SR, subtype="FLOAT")
    cmd = ["lv2apply", "-i", str(src), "-o", str(dst)]
    for k, v in controls.items():
        cmd += ["-c", k, repr(float(v))]
    subprocess.run(cmd + [LSP_COMP], check=True, capture_output=True)
    ref, _ = sf.read(dst, dtype="float32", always_2d=True)
    np.testing.assert_allclose(ours, ref[: len(ours), 0], atol=1e-6)
    # and it really compressed: the loud half gains much less than the 24 dB step
    rise = audio_util.rms_db(ours[-4800:]) - audio_util.rms_db(ours[9600:14400])
    assert rise < 12.0


@pytest.mark.skipif(not _installed(X42_DPL), reason="needs liblilv and x42-plugins")
def test_lv2_host_runs_a_plugin_needing_urid_map_and_atom_ports() -> None:
    # x42 dpl refuses to load without urid:map and has atom control/notify ports
    x = _tone_burst()
    y = lv2host.lv2_process(x, X42_DPL, {"gain": 12.0, "threshold": -1.0})
    assert audio_util.peak_db(y) <= -1.0 + 0.05  # brick-wall ceiling
    assert audio_util.peak_db(y[-4800:]) > -1.5  # the loud half (+6 dBFS after gain) sits on it
    quiet = y[4800:9600]
    assert abs(audio_util.peak_db(quiet) - (-30.0 + 12.0)) < 0.5  # below the ceiling: just gain


def test_chain_kinds_and_linearity() -> None:
    assert len(chains.CHAINS) >= 6
    assert [c.name for c in chains.CHAIN_LIST if c.linear] == ["linear_eq_cab"]
    assert sum(c.heldout for c in chains.CHAIN_LIST) == 2
    assert all(c.kind for c in chains.CHAIN_LIST)


NEEDS_FLUIDSYNTH = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not performances.SF2.exists(),
    reason="needs fluidsynth and fluid-soundfont-gm")


def test_generated_lines_cover_soft_and_hard_picking() -> None:
    notes, bpm = performances.generate_line(1234, 30.0)
    vel = [n.velocity for n in notes]
    assert min(vel) == 30 and max(vel) == 127
    assert 80 <= bpm < 150
    assert all(performances.LOW_NOTE <= n.pitch <= performances.HIGH_NOTE for n in notes)


def test_generated_chords_ring_together_over_the_dynamic_range() -> None:
    notes, bpm = performances.generate_chords(4321, 30.0)
    assert notes == performances.generate_chords(4321, 30.0)[0]  # seeded
    vel = [n.velocity for n in notes]
    assert min(vel) == 30 and max(vel) == 127
    assert 70 <= bpm < 140
    beat_s = 60.0 / bpm
    assert max(n.start + n.dur for n in notes) * beat_s <= 30.0
    # polyphonic: most notes sound while another one does (strums, arpeggios left ringing)
    starts = sorted(notes, key=lambda n: n.start)
    overlapping = sum(any(o is not n and o.start <= n.start < o.start + o.dur for o in starts)
                      for n in starts)
    assert overlapping > 0.5 * len(notes)
    # a strum's strings follow each other within STRUM_MS, never all at once
    lo, hi = performances.STRUM_MS
    gaps = np.diff(sorted({round(n.start, 6) for n in notes})) * beat_s * 1000.0
    assert np.any((gaps > 0) & (gaps <= hi))


@NEEDS_FLUIDSYNTH
def test_chord_source_writes_overlapping_notes(tmp_path) -> None:
    mido = pytest.importorskip("mido")
    src = cases.SOURCES["fr3_chords"]
    x = src.performance("B", 8.0, tmp_path)
    assert x.shape == (8 * audio_util.SR,)
    sounding, most = set(), 0
    for m in mido.MidiFile(tmp_path / "B.mid"):
        if m.type == "note_on" and m.velocity > 0:
            sounding.add(m.note)
        elif m.type in ("note_off", "note_on"):
            sounding.discard(m.note)
        most = max(most, len(sounding))
    assert most >= 3  # a chord's strings sound together


@NEEDS_FLUIDSYNTH
def test_bass_source_plays_the_line_an_octave_down(tmp_path) -> None:
    mido = pytest.importorskip("mido")
    src = cases.SOURCES["fr3_bass"]
    x = src.performance("A", 6.0, tmp_path)
    assert x.shape == (6 * audio_util.SR,)
    assert audio_util.peak_db(x) == pytest.approx(audio_util.PEAK_DBFS, abs=0.01)
    played = [m.note for m in mido.MidiFile(tmp_path / "A.mid") if m.type == "note_on"]
    seed = int(hashlib.sha256(b"fr3_bass/A").hexdigest()[:8], 16)
    expected = [n.pitch - 12 for n in performances.generate_line(seed, 6.0)[0]]
    assert played == expected
    prog = [m.program for m in mido.MidiFile(tmp_path / "A.mid") if m.type == "program_change"]
    assert prog == [33]


@pytest.mark.skipif(not _installed(X42_DPL), reason="needs liblilv and x42-plugins")
def test_lv2_stage_runs_the_host_script_in_a_subprocess(monkeypatch) -> None:
    # chains.Lv2 runs bench/lv2host.py as a script: same samples as the in-process host
    monkeypatch.setattr(lv2host, "LV2_HOST", "python")
    x = _tone_burst()
    controls = {"gain": 12.0, "threshold": -1.0}
    y = chains.Lv2(X42_DPL, controls).apply(x)
    np.testing.assert_array_equal(y, lv2host.lv2_process(x, X42_DPL, controls))


def test_extra_tuning_chains_are_named_only_and_never_held_out() -> None:
    # built only when a run names them: the default suite and its stored results stay as they are
    extra = {c.name for c in chains.EXTRA_CHAIN_LIST}
    fresh = {c.name for c in (*chains.FRESH_CHAIN_LIST, *chains.FRESH2_CHAIN_LIST)}
    assert extra and not extra & set(chains.CHAINS) and not fresh & (extra | set(chains.CHAINS))
    assert set(chains.ALL_CHAINS) == set(chains.CHAINS) | extra | fresh
    for c in chains.EXTRA_CHAIN_LIST:
        assert not c.heldout and c.kind
        assert chains.CHAIN_KINDS[c.name] == c.kind
    # the probe chains: plugins and cabinets of their own, one plain EQ + cab among them
    assert [c.name for c in chains.PROBE_CHAIN_LIST if c.linear] == ["eq_cab"]
    used = {s.uri for c in chains.CHAIN_LIST for s in c.stages if isinstance(s, chains.Lv2)}
    for c in chains.PROBE_CHAIN_LIST:
        lv2 = [s for s in c.stages if isinstance(s, chains.Lv2)]
        assert lv2 and not {s.uri for s in lv2} & used


def test_a_chain_is_linear_only_when_every_lv2_stage_says_so() -> None:
    eq = chains.Lv2(chains.CALF + "Equalizer8Band", {}, "eq", linear=True)
    comp = chains.Lv2(chains.CALF + "Compressor", {}, "comp")
    assert chains.Chain("a", "", [eq, chains.Cab("Marshall MG 15")]).linear
    assert not chains.Chain("b", "", [comp, eq]).linear


def test_manifest_of_a_partial_build_keeps_the_other_cases(tmp_path: Path) -> None:
    # a build of one source or chain (--sources/--chains) replaces only its own entries
    def manifest(source: str, chain: str) -> dict:
        return {"version": cases.CASES_VERSION, "quick": True, "sr": 48000, "duration_s": 60.0,
                "sources": {source: {"kind": "midi"}}, "chains": {chain: {"kind": "k"}},
                "chain_checks": None,
                "cases": [{"id": f"{source}/{chain}", "source": source, "chain": chain}]}

    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest("a", "x")))
    merged = cases._merged(manifest("b", "y"), path)
    assert [c["id"] for c in merged["cases"]] == ["a/x", "b/y"]
    assert set(merged["sources"]) == {"a", "b"} and set(merged["chains"]) == {"x", "y"}
    again = cases._merged(manifest("a", "x"), path)  # a rebuilt case replaces its old entry
    assert [c["id"] for c in again["cases"]] == ["a/x"]
    other = {**manifest("b", "y"), "duration_s": 20.0}  # another case set: replaced
    assert cases._merged(other, path) == other


def test_fresh_chains_are_held_out_with_plugins_and_cabinets_of_their_own() -> None:
    # the fresh sets check what was tuned on the rest: nothing of theirs may appear there
    others = [*chains.CHAIN_LIST, *chains.EXTRA_CHAIN_LIST]
    used = {s.uri for c in others for s in c.stages if isinstance(s, chains.Lv2) and not s.linear}
    cabs = {s.ir_name for c in others for s in c.stages if isinstance(s, chains.Cab)}
    fresh = [*chains.FRESH_CHAIN_LIST, *chains.FRESH2_CHAIN_LIST]
    assert len(fresh) == 8
    # one known overlap, said in its description: heavy_drive_cab boosts its amp with the TS9
    shared = {"fresh_ts9_cab": {chains.GX + "gxts9#ts9sim"}}
    for c in fresh:
        assert c.heldout and c.kind and chains.CHAIN_KINDS[c.name] == c.kind
        assert {s.uri for s in c.stages if isinstance(s, chains.Lv2)} & used == shared.get(
            c.name, set())
        assert not {s.ir_name for s in c.stages if isinstance(s, chains.Cab)} & cabs


@pytest.mark.parametrize("name, chord_takes", [
    ("fr3_clean", ""), ("fr3_chords", "ABC"), ("fr3_x_chords_ex", "A"),
    ("fr3_x_chords_takes", "BC"), ("fr3_x_chords_held", "AC"),
])
def test_each_take_is_generated_as_its_source_says(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path, name: str,
                                                   chord_takes: str) -> None:
    made: dict[str, tuple[str, bool]] = {}

    def generator(kind: str):
        def gen(seed: int, duration_s: float):
            made["last"] = (kind, False)
            return [], 120.0
        return gen

    def write_midi(notes, bpm, program, path, seed, polyphonic=False) -> None:
        made["last"] = (made["last"][0], polyphonic)

    monkeypatch.setattr(cases, "generate_chords", generator("chords"))
    monkeypatch.setattr(cases, "generate_line", generator("line"))
    monkeypatch.setattr(cases, "write_midi", write_midi)
    monkeypatch.setattr(cases, "render_midi", lambda path, dur: np.ones(16, np.float32))
    src = cases.SOURCES[name]
    for letter in "ABC":
        src.performance(letter, 1.0, tmp_path)
        chords = letter in chord_takes
        assert made["last"] == ("chords" if chords else "line", chords), letter


def test_register_sources_fold_the_example_and_the_takes_apart(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    assert [cases.fold_register(p, True) for p in (40, 59, 60, 84)] == [64, 71, 60, 84]
    assert [cases.fold_register(p, False) for p in (40, 59, 60, 84)] == [40, 59, 48, 48]
    pitches: dict[str, set[int]] = {}

    def write_midi(notes, bpm, program, path, seed, polyphonic=False) -> None:
        pitches[Path(path).stem] = {n.pitch for n in notes}

    monkeypatch.setattr(cases, "write_midi", write_midi)
    monkeypatch.setattr(cases, "render_midi", lambda path, dur: np.ones(16, np.float32))
    for name, high in (("fr3_x_register_up", "A"), ("fr3_x_register_down", "BC")):
        for letter in "ABC":
            cases.SOURCES[name].performance(letter, 20.0, tmp_path)
        for letter in "ABC":
            above = letter in high
            assert pitches[letter] and all((p >= cases.SPLIT_NOTE) == above
                                           for p in pitches[letter]), (name, letter)
        assert not pitches["A"] & (pitches["B"] | pitches["C"])
