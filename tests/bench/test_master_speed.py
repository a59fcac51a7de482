"""bench_master_speed.py times its commands round by round, each after one untimed run."""

from __future__ import annotations

from pathlib import Path

import bench_master_speed as bms


def test_every_command_warms_once_then_the_rounds_take_them_in_turn(monkeypatch) -> None:
    calls: list[str] = []
    walls = {"a": iter([9.0, 3.0, 1.0, 2.0]), "b": iter([9.0, 5.0, 4.0, 6.0])}

    def fake(cmd: list[str], src: Path) -> dict[str, float]:
        calls.append(cmd[0])
        return {"wall_s": next(walls[cmd[0]]), "peak_rss_mb": 100.0 + len(calls)}

    monkeypatch.setattr(bms, "measured", fake)
    res = bms.timed({"a": (["a"], Path(".")), "b": (["b"], Path("."))}, repeats=3)
    assert calls == ["a", "b", "a", "b", "a", "b", "a", "b"]
    assert res["a"]["walls_s"] == [3.0, 1.0, 2.0] and res["a"]["wall_s"] == 2.0
    assert res["b"]["wall_s"] == 5.0 and res["b"]["peak_rss_mb"] == 108.0
