"""bench/audio_util.py's result tables: printed unless a file is named, so a run of a few
cases cannot replace a committed table by default."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from audio_util import emit_table, table_option

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_a_table_is_printed_unless_a_file_is_named(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    ap = argparse.ArgumentParser()
    table_option(ap, "x.md")
    assert ap.parse_args([]).md is None
    emit_table(ap.parse_args([]).md, "| a |\n")
    assert "| a |" in capsys.readouterr().out and not list(tmp_path.iterdir())
    out = tmp_path / "t.md"
    emit_table(ap.parse_args(["--md", str(out)]).md, "| b |\n")
    assert out.read_text() == "| b |\n" and f"wrote {out}" in capsys.readouterr().out


def test_no_bench_script_writes_a_committed_table_by_default() -> None:
    pattern = re.compile(r'"--md",[^)]*default=HERE / "results"')
    offenders = [p.name for p in sorted(BENCH.glob("*.py")) if pattern.search(p.read_text())]
    assert offenders == []
