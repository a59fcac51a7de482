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


def test_a_weight_that_is_no_number_after_a_file_is_refused(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    # it was taken for part of the path: "file not found: ref.wav:abc"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ref.wav").write_bytes(b"")
    with pytest.raises(ParameterError, match="weight must be a positive number, got 'abc'"):
        parse_reference("ref.wav:abc")
    (tmp_path / "ref.wav:abc").write_bytes(b"")  # unless a file has that name
    assert parse_reference("ref.wav:abc") == (Path("ref.wav:abc"), 1.0)
    assert parse_reference("other.wav:abc") == (Path("other.wav:abc"), 1.0)  # not found later
    # a file named like a weighted path ("take:2") is that file, weighed as "take:2:0.5"
    (tmp_path / "take:2").write_bytes(b"")
    assert parse_reference("take:2") == (Path("take:2"), 1.0)  # said "take not found"
    assert parse_reference("take:2:0.5") == (Path("take:2"), 0.5)
    (tmp_path / "take").write_bytes(b"")  # both exist: the trailing number is a weight
    assert parse_reference("take:2") == (Path("take"), 2.0)


def test_references_are_normalised_to_weights_summing_to_one() -> None:
    refs = references(["a.wav", "b.wav:0.5", ("c.wav", 0.5)])
    assert [p.name for p, _ in refs] == ["a.wav", "b.wav", "c.wav"]
    assert [w for _, w in refs] == pytest.approx([0.5, 0.25, 0.25])
    assert references("a.wav") == [(Path("a.wav"), 1.0)]
    # weights near the float maximum: their sum overflowed to inf, and every weight to 0
    assert [w for _, w in references(["a.wav:1e308", ("b.wav", 1e308), "c.wav:5e307"])
            ] == pytest.approx([0.4, 0.4, 0.2])
    # a pair's weight that is no number is the same mistake as "a.wav:abc", not a TypeError
    for bad in ("a.wav:inf", "a.wav:nan", ("a.wav", float("inf")), ("a.wav", 0.0),
                ("a.wav", "abc"), ("a.wav", None)):
        with pytest.raises(ParameterError, match="positive"):
            references([bad])
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
                      ("eq=lots", "not a number"), ("", "empty"),
                      ("eq=0.5,eq=1", "aspect 'eq' twice"), ("EQ=0.5, eq=0.5", "'eq' twice"),
                      ("0.5,eq=1,0.7", "overall amount twice")):
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
    # ... and is said, not taken silently
    assert MasterConfig(target="streaming", lufs=-9.0).preset_overrides() == [
        "loudness -9 LUFS given with the streaming preset: it replaces the preset's loudness "
        "(-14 LUFS)"]
    assert "ceiling (-1 dBTP)" in MasterConfig(target="cd", lufs=-9.0,
                                               ceiling_dbtp=-2.0).preset_overrides()[1]
    assert MasterConfig(target="streaming", lufs=-14.0).preset_overrides() == []
    assert MasterConfig(lufs=-9.0).preset_overrides() == []
    assert MasterConfig().ceiling_dbtp == -1.0
    with pytest.raises(ParameterError, match="streaming"):
        MasterConfig(target="vinyl")


def test_settings_for_an_aspect_not_matched_are_refused() -> None:
    # "--only eq --lufs -9" kept the mix's loudness (-25.8 LUFS) and said nothing
    with pytest.raises(ParameterError, match="loudness target .-9 LUFS. is given but loudness "
                                             "is not among the aspects matched"):
        MasterConfig(only="eq", lufs=-9.0)
    with pytest.raises(ParameterError, match="-14 LUFS.*the loudness amount is 0"):
        MasterConfig(target="streaming", amounts={"loudness": 0.0})
    with pytest.raises(ParameterError, match="amount is given for eq, which is not among"):
        MasterConfig(only="loudness", amounts={"eq": 0.5})
    # a preset that names no loudness (the reference's level) only sets the ceiling
    assert MasterConfig(only="eq", target="cd").ceiling_dbtp == -1.0
    assert MasterConfig(only="eq", lufs=None).lufs is None


def test_messages_do_not_name_command_line_flags() -> None:
    for kwargs in ({"lufs": 5.0}, {"ceiling_dbtp": 3.0}, {"amount": 2.0}, {"only": "x"},
                   {"phase": "odd"}, {"mono_bass_hz": 5.0}, {"only": "eq", "lufs": -9.0},
                   {"only": "eq", "amounts": {"width": 0.5}}):
        with pytest.raises(ParameterError) as err:
            MasterConfig(**kwargs)
        assert "--" not in str(err.value)
