"""Benchmark sources (bench/cases.py): which takes are rhythm parts and which are lines."""

from __future__ import annotations

from pathlib import Path

import cases
import numpy as np
import pytest


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
