"""Benchmark performances: seeded MIDI parts rendered with FluidSynth + FluidR3_GM.

Lines (monophonic) mix sustained notes (some with vibrato), fast runs and riffs, separated by
rests; rhythm parts (`generate_chords`) strum and arpeggiate guitar chord shapes with single-note
fills. Both at soft to hard picking strength (velocities 30..127).
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from audio_util import SR, fit_length, read_mono, run_command

SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

SCALES: dict[str, list[int]] = {
    "minor_pentatonic": [0, 3, 5, 7, 10],
    "blues": [0, 3, 5, 6, 7, 10],
    "major": [0, 2, 4, 5, 7, 9, 11],
    "dorian": [0, 2, 3, 5, 7, 9, 10],
    "mixolydian": [0, 2, 4, 5, 7, 9, 10],
    "natural_minor": [0, 2, 3, 5, 7, 8, 10],
}
DYNAMICS: dict[str, tuple[int, int]] = {
    "pp": (30, 44), "p": (45, 64), "mf": (65, 89), "f": (90, 109), "ff": (110, 127),
}
TPB = 480  # MIDI ticks per beat
LOW_NOTE, HIGH_NOTE = 40, 84  # E2 .. C6


@dataclass
class Note:
    """One note of a generated line (times in beats)."""

    start: float
    dur: float
    pitch: int
    velocity: int
    vibrato: bool = False


def _next_dynamics(rng: random.Random, cycle: list[str]) -> tuple[int, int]:
    """The velocity range of the next phrase: pp..ff each once per shuffled cycle (refilled in
    place when empty)."""
    if not cycle:
        cycle.extend(DYNAMICS)
        rng.shuffle(cycle)
    return DYNAMICS[cycle.pop()]


def _span_velocities(notes: list[Note]) -> None:
    """Make sure both extremes of picking strength occur (softest note 30, hardest 127)."""
    if notes:
        min(notes, key=lambda n: n.velocity).velocity = 30
        max(notes, key=lambda n: n.velocity).velocity = 127


def generate_line(seed: int, duration_s: float) -> tuple[list[Note], float]:
    """Generate a random but musical monophonic guitar line lasting about ``duration_s``.

    Phrases alternate between sustained notes (some with vibrato), fast runs (16ths or
    triplets), and riffs (8ths around a pedal note, some palm-mute-short), separated by rests.
    Each phrase gets a dynamic level drawn from shuffled cycles of pp..ff, so velocities from
    30 to 127 (soft and hard picking) all occur. Returns the notes and the tempo in BPM.
    """
    rng = random.Random(seed)
    bpm = rng.randrange(80, 150, 2)
    root = rng.choice([40, 45, 50, 43, 48, 42, 47])  # E A D G C F# B
    scale = SCALES[rng.choice(sorted(SCALES))]
    pool = [p for p in range(LOW_NOTE, HIGH_NOTE + 1) if (p - root) % 12 in scale]
    center = min(range(len(pool)), key=lambda i: abs(pool[i] - (root + 17)))
    idx = min(range(len(pool)), key=lambda i: abs(pool[i] - (root + 12 + rng.randint(0, 7))))
    beat_s = 60.0 / bpm
    end_beats = max(duration_s - 1.8, 2.0) / beat_s
    dyn_cycle: list[str] = []
    notes: list[Note] = []
    t = rng.choice([0.25, 0.5, 1.0])

    def step(i: int, lo: int, hi: int) -> int:
        j = i + rng.randint(min(lo, hi), max(lo, hi))
        drifting = (j - center) * (j - i) > 0 and abs(j - center) > 5
        if j < 0 or j >= len(pool) or (drifting and rng.random() < 0.6):
            j = i - (j - i)  # reflect at the range edges; pull back towards the centre
        return min(max(j, 0), len(pool) - 1)

    while t < end_beats:
        lo_v, hi_v = _next_dynamics(rng, dyn_cycle)
        kind = rng.choices(["sustain", "run", "riff"], weights=[3, 3, 3])[0]
        phrase: list[tuple[float, float, int, bool]] = []  # (step beats, legato, index, vib)
        if kind == "sustain":
            for _ in range(rng.randint(2, 4)):
                idx = step(idx, -4, 4)
                length = rng.choice([1.0, 1.5, 2.0, 3.0, 4.0])
                phrase.append((length, rng.uniform(0.85, 1.0), idx, rng.random() < 0.5))
        elif kind == "run":
            unit = rng.choice([0.25, 0.25, 1.0 / 3.0, 0.5])
            direction = rng.choice([-1, 1])
            for _ in range(rng.randint(6, 16)):
                if rng.random() < 0.2:
                    direction = -direction
                idx = step(idx, direction, direction * rng.choice([1, 1, 1, 2]))
                phrase.append((unit, rng.uniform(0.7, 0.95), idx, False))
            phrase[-1] = (rng.choice([1.0, 2.0]), 0.95, phrase[-1][2], rng.random() < 0.5)
        else:
            pedal = step(idx, -3, 0)
            short = rng.random() < 0.5
            for k in range(rng.randint(4, 10)):
                idx = pedal if k % 2 == 0 else step(pedal, 1, 5)
                legato = rng.uniform(0.3, 0.5) if short else rng.uniform(0.75, 0.95)
                phrase.append((0.5, legato, idx, False))
        ramp = rng.choice([-1.0, 0.0, 0.0, 1.0])  # some crescendos / decrescendos
        for k, (length, legato, i, vib) in enumerate(phrase):
            frac = k / max(len(phrase) - 1, 1)
            base = lo_v + (hi_v - lo_v) * (0.5 + 0.5 * ramp * (frac - 0.5) * 2) * 0.999
            accent = 8 if abs(t - round(t)) < 1e-6 else 0
            vel = round(min(max(rng.gauss(base, 5) + accent, 30), 127))
            if t >= end_beats:
                break
            notes.append(Note(t, length * legato, pool[i], vel, vib))
            t += length
        t += rng.choice([0.0, 0.5, 1.0, 1.0, 2.0])
    _span_velocities(notes)
    return notes, float(bpm)


# Guitar chord shapes (semitones above the root, low string first), as fretted near the nut
CHORD_SHAPES: dict[str, list[int]] = {
    "power": [0, 7, 12],
    "major": [0, 7, 12, 16, 19],
    "minor": [0, 7, 12, 15, 19],
    "dom7": [0, 7, 10, 16, 19],
    "min7": [0, 7, 10, 15, 19],
    "sus4": [0, 7, 12, 17, 19],
}
CHORD_ROOTS = (40, 41, 43, 45, 47, 48, 50, 52)  # E2 .. E3: roots on the two low strings
STRUM_MS = (8.0, 30.0)  # spread of one strum across its strings


def generate_chords(seed: int, duration_s: float) -> tuple[list[Note], float]:
    """Generate a random rhythm-guitar part lasting about ``duration_s``: polyphonic.

    Phrases strum chord shapes (down and up strokes, each string a few ms after the last),
    arpeggiate them (notes left ringing over each other), or play single-note fills between
    chords, separated by rests; dynamics cycle pp..ff as in `generate_line`. Returns the notes
    (starts in beats; overlapping) and the tempo in BPM.
    """
    rng = random.Random(seed)
    bpm = rng.randrange(70, 140, 2)
    beat_s = 60.0 / bpm
    end_beats = max(duration_s - 1.8, 2.0) / beat_s
    dyn_cycle: list[str] = []
    notes: list[Note] = []
    t = rng.choice([0.25, 0.5, 1.0])
    while t < end_beats:
        lo_v, hi_v = _next_dynamics(rng, dyn_cycle)
        kind = rng.choices(["strum", "arpeggio", "fill"], weights=[5, 3, 2])[0]
        for _ in range(rng.randint(2, 4)):
            if t >= end_beats:
                break
            root = rng.choice(CHORD_ROOTS)
            shape = CHORD_SHAPES[rng.choice(sorted(CHORD_SHAPES))]
            pitches = [root + i for i in shape]
            if kind == "fill":
                unit = rng.choice([0.25, 0.5])
                for _ in range(rng.randint(3, 8)):
                    vel = round(min(max(rng.gauss((lo_v + hi_v) / 2, 5), 30), 127))
                    notes.append(Note(t, unit * 0.9, rng.choice(pitches) + 12, vel))
                    t += unit
                continue
            if kind == "arpeggio":
                unit = rng.choice([0.25, 0.5])
                order = pitches if rng.random() < 0.6 else pitches[::-1]
                ring = unit * len(order) + rng.choice([0.0, 1.0])
                for k, pitch in enumerate(order):
                    vel = round(min(max(rng.gauss((lo_v + hi_v) / 2, 6), 30), 127))
                    notes.append(Note(t + k * unit, ring - k * unit, pitch, vel))
                t += ring
                continue
            length = rng.choice([0.5, 1.0, 1.0, 2.0, 4.0])
            strokes = max(1, int(length / rng.choice([0.5, 1.0])))
            for k in range(strokes):
                down = k % 2 == 0
                spread_beats = rng.uniform(*STRUM_MS) / 1000.0 / beat_s
                strings = pitches if down else pitches[::-1][: rng.randint(2, len(pitches))]
                base = rng.uniform(lo_v, hi_v) - (0 if down else 8)
                for j, pitch in enumerate(strings):
                    start = t + k * length / strokes + j * spread_beats / len(strings)
                    vel = round(min(max(rng.gauss(base, 4), 30), 127))
                    notes.append(Note(start, length / strokes * rng.uniform(0.85, 1.0), pitch,
                                      vel))
            t += length
        t += rng.choice([0.0, 0.5, 1.0, 2.0])
    _span_velocities(notes)
    return notes, float(bpm)


def write_midi(notes: list[Note], bpm: float, program: int, path: Path, seed: int,
               polyphonic: bool = False) -> None:
    """Write a type-0 MIDI file (channel 0) with slight timing humanisation and vibrato; a
    monophonic line's notes never overlap, a polyphonic part's ring over each other."""
    import mido  # bench extra

    rng = random.Random(seed ^ 0x5EED)
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)
    prev_off = 0
    for n in notes:
        on = max(round(n.start * TPB) + rng.randint(-6, 6), 0 if polyphonic else prev_off)
        off = max(on + 8, round((n.start + n.dur) * TPB))
        events.append((on, 1, mido.Message("note_on", note=n.pitch, velocity=n.velocity)))
        if n.vibrato:  # delayed vibrato, +-15 cents at 5.5 Hz (bend range 2 semitones)
            step = max(TPB // 48, 1)
            rate_ticks = TPB * bpm / 60.0  # ticks per second
            for tick in range(on + TPB // 2, off, step):
                sec = (tick - on) / rate_ticks
                depth = min(sec / 0.4, 1.0) * 0.15 * 4096
                val = int(depth * np.sin(2 * np.pi * 5.5 * sec))
                events.append((tick, 2, mido.Message("pitchwheel", pitch=val)))
            events.append((off, 0, mido.Message("pitchwheel", pitch=0)))
        events.append((off, 0, mido.Message("note_off", note=n.pitch, velocity=64)))
        prev_off = off
    events.sort(key=lambda e: (e[0], e[1]))
    mid = mido.MidiFile(type=0, ticks_per_beat=TPB)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.Message("program_change", program=program, time=0))
    last = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=TPB))
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))


def render_midi(mid_path: Path, duration_s: float, gain: float = 0.6) -> np.ndarray:
    """Render MIDI with FluidSynth + FluidR3_GM at 48 kHz (no reverb/chorus), mono, trimmed."""
    with tempfile.TemporaryDirectory(prefix="tm_fs_") as tmp:
        out = Path(tmp, "out.wav")
        run_command(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain),
                     "-r", str(SR), "-O", "float", "-F", str(out), str(SF2), str(mid_path)])
        y = read_mono(out)
    return fit_length(y, round(duration_s * SR))
