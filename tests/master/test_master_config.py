"""Mastering settings parsed from text: weighted references, per-aspect amounts, loudness
presets; bad values refused with messages that name the value, not a command-line flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from tonemorph.errors import ParameterError
from tonemorph.master import TARGETS, MasterConfig, parse_amount, parse_reference, references


def test_reference_weight_is_a_trailing_number() -> None:
    assert parse_reference("b.wav:0.5") == (Path("b.wav"), 0.5)
    assert parse_reference("a.wav") == (Path("a.wav"), 1.0)
    assert parse_reference("C:/music/a.wav") == (Path("C:/music/a.wav"), 1.0)
    assert parse_reference("dir:x/a.wav:2") == (Path("dir:x/a.wav"), 2.0)
    with pytest.raises(ParameterError, match="positive"):
        parse_reference("b.wav:-1")
    with pytest.raises(ParameterError, match="positive"):
        parse_reference("b.wav:0")


def test_references_are_normalised_to_weights_summing_to_one() -> None:
    refs = references(["a.wav", "b.wav:0.5", ("c.wav", 0.5)])
    assert [p.name for p, _ in refs] == ["a.wav", "b.wav", "c.wav"]
    assert [w for _, w in refs] == pytest.approx([0.5, 0.25, 0.25])
    assert references("a.wav") == [(Path("a.wav"), 1.0)]
    with pytest.raises(ParameterError, match="no reference"):
        references([])


def test_amount_per_aspect() -> None:
    assert parse_amount("eq=0.5,dynamics=1") == (1.0, {"eq": 0.5, "dynamics": 1.0})
    assert parse_amount("0.7") == (0.7, {})
    assert parse_amount(0.3) == (0.3, {})
    assert parse_amount("0.5, eq=1") == (0.5, {"eq": 1.0})
    cfg = MasterConfig(amount="0.5,eq=0.2")
    assert cfg.amount == 0.5 and cfg.amount_of("eq") == 0.2
    assert cfg.amount_of("dynamics") == 0.5
    assert MasterConfig(amount="eq=0").matches("eq") is False
    assert MasterConfig(only="eq", amount=1.0).amount_of("loudness") == 0.0
    for bad, word in (("eq=2", "within 0..1"), ("reverb=1", "unknown aspect"),
                      ("eq=lots", "not a number"), ("", "empty")):
        with pytest.raises(ParameterError, match=word):
            parse_amount(bad)


def test_loudness_presets() -> None:
    assert MasterConfig(target="streaming").lufs == -14.0
    assert MasterConfig(target="broadcast").lufs == -23.0
    assert MasterConfig(target="cd").lufs is None  # the reference's level
    assert all(MasterConfig(target=t).ceiling_dbtp == -1.0 for t in TARGETS)
    # an explicit number wins over the preset
    assert MasterConfig(target="streaming", lufs=-10.0).lufs == -10.0
    assert MasterConfig(target="broadcast", ceiling_dbtp=-2.0).ceiling_dbtp == -2.0
    assert MasterConfig().ceiling_dbtp == -1.0
    with pytest.raises(ParameterError, match="streaming"):
        MasterConfig(target="vinyl")


def test_messages_do_not_name_command_line_flags() -> None:
    for kwargs in ({"lufs": 5.0}, {"ceiling_dbtp": 3.0}, {"amount": 2.0}, {"only": "x"},
                   {"phase": "odd"}, {"mono_bass_hz": 5.0}):
        with pytest.raises(ParameterError) as err:
            MasterConfig(**kwargs)
        assert "--" not in str(err.value)
