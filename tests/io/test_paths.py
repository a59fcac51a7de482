"""The one output guard and atomic writes: inputs never overwritten (any spelling, symlink,
hard link, even with force), no two outputs on one path, existing files only with force,
temp files of killed runs cleaned, full disks named."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tonemorph.errors import OutputPathError
from tonemorph.io import paths as paths_mod
from tonemorph.io.paths import (
    STOP_REQUESTED,
    check_output_path,
    check_outputs,
    clean_stale_temp_files,
    commit_temp,
    make_temp,
    os_reason,
    remove_live_temps,
    write_atomic,
    write_text_atomic,
)


@pytest.fixture()
def take(tmp_path: Path) -> Path:
    p = tmp_path / "take.wav"
    p.write_bytes(b"input audio")
    return p


@pytest.mark.parametrize("force", [False, True])
def test_an_input_is_never_an_output(tmp_path: Path, take: Path, force: bool) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    link = tmp_path / "link.wav"
    link.symlink_to(take)
    hard = tmp_path / "hard.wav"
    os.link(take, hard)
    for spelling in (take, sub / ".." / "take.wav", link, hard):
        with pytest.raises(OutputPathError, match=r"would overwrite take\.wav, an input"):
            check_outputs([spelling], [tmp_path / "other.json", take], force=force)
    # the input given through a link is recognised too
    with pytest.raises(OutputPathError, match="an input"):
        check_outputs([take], [hard], force=force)
    assert take.read_bytes() == b"input audio"


def test_two_outputs_never_share_a_path(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    with pytest.raises(OutputPathError, match="two outputs"):
        check_outputs([a, tmp_path / "x" / ".." / "a.json"], [], force=True)


def test_existing_file_replaced_only_with_force(tmp_path: Path, take: Path) -> None:
    old = tmp_path / "old.wav"
    old.write_bytes(b"12 minutes of learning")
    with pytest.raises(OutputPathError, match=r"already exists; choose another path, or allow"):
        check_output_path(old, [take])
    assert check_outputs([old], [take], force=True) == [old]
    check_output_path(tmp_path / "new.wav", [take])


def test_a_pipe_or_device_is_never_an_output_even_with_force(tmp_path: Path) -> None:
    # outputs are renamed over: `-o /dev/null --force` as root replaced the device by a file
    fifo = tmp_path / "out.wav"
    os.mkfifo(fifo)
    link = tmp_path / "null.wav"
    link.symlink_to(os.devnull)
    for out in (fifo, link):
        with pytest.raises(OutputPathError, match="not a regular file"):
            check_outputs([out], [], force=True)
    assert fifo.is_fifo() and Path(os.devnull).is_char_device()


def test_output_location_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(OutputPathError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "out.wav", [])
    with pytest.raises(OutputPathError, match="is a directory"):
        check_output_path(tmp_path, [], force=True)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputPathError, match="not a directory"):
        check_output_path(f / "out.wav", [])
    monkeypatch.setattr(paths_mod.os, "access", lambda *args, **kwargs: False)
    with pytest.raises(OutputPathError, match="not writable"):
        check_output_path(tmp_path / "out.wav", [])


def test_commit_without_overwrite_never_replaces(tmp_path: Path) -> None:
    out = tmp_path / "tone.tmodel"
    out.write_text("the old model")
    with pytest.raises(OutputPathError, match="already exists"):
        write_text_atomic(out, "the new model", overwrite=False)
    assert out.read_text() == "the old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tone.tmodel"]
    write_text_atomic(out, "the new model", overwrite=True)
    assert out.read_text() == "the new model"
    tmp = make_temp(tmp_path / "fresh.txt")
    tmp.write_text("x")
    commit_temp(tmp, tmp_path / "fresh.txt", overwrite=False)
    assert not tmp.exists() and (tmp_path / "fresh.txt").read_text() == "x"


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "r.json"

    def boom(fh) -> None:
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(out, boom)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_inside_make_temp_leaves_nothing(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # the temp file exists from os.open on; a stop landing before make_temp returns it
    # reached no writer's cleanup (CI saw one left after SIGTERM)
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(paths_mod.os, "chmod", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_temp(tmp_path / "out.wav")
    assert list(tmp_path.iterdir()) == []
    assert remove_live_temps() == []


def test_remove_live_temps_removes_only_unfinished_temp_files(tmp_path: Path) -> None:
    remove_live_temps()
    done = make_temp(tmp_path / "done.wav")
    commit_temp(done, tmp_path / "done.wav")
    kept = make_temp(tmp_path / "kept.wav")
    kept.write_text("kept, not committed")
    unlink = make_temp(tmp_path / "gone.wav")
    paths_mod.unlink_quietly(unlink)
    # a stop between the writer's creating `kept` and its cleanup: only `kept` is live
    assert remove_live_temps() == [kept]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done.wav"]
    assert remove_live_temps() == []


def test_a_requested_stop_stops_writers(tmp_path: Path) -> None:
    """The SIGTERM flag (its exception may be swallowed in a C callback) stops every writer."""
    import numpy as np

    from tonemorph.io import AtomicAudioWriter

    try:
        STOP_REQUESTED.set()
        with pytest.raises(KeyboardInterrupt):
            write_text_atomic(tmp_path / "r.json", "{}")
        with pytest.raises(KeyboardInterrupt), AtomicAudioWriter(tmp_path / "o.wav", 48000, 1) as w:
            w.write(np.zeros((1, 64)))
    finally:
        STOP_REQUESTED.clear()
    assert list(tmp_path.iterdir()) == []
    write_text_atomic(tmp_path / "r.json", "{}")
    assert (tmp_path / "r.json").read_text() == "{}"


def test_full_disk_is_named(tmp_path: Path) -> None:
    def full(fh) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputPathError, match="no space left on device"):
        write_atomic(tmp_path / "out.json", full)
    assert list(tmp_path.iterdir()) == []
    assert os_reason(OSError(errno.EACCES, "Permission denied")) == "permission denied"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_killed_runs(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    dead = tmp_path / f".out.wav.{_dead_pid()}-abcd1234.part"
    dead.write_bytes(b"\0" * 1000)
    alive = tmp_path / f".out.wav.{os.getppid()}-abcd1234.part"  # a running writer's
    alive.write_bytes(b"\0")
    legacy = tmp_path / ".out.wav.k2j3h4g5.part"  # earlier versions: no process id
    legacy.write_bytes(b"\0")
    other = tmp_path / f".other.wav.{_dead_pid()}-abcd1234.part"
    other.write_bytes(b"\0")
    with pytest.warns(UserWarning, match="left by an interrupted run"):
        check_output_path(out, [])
    assert not dead.exists()
    assert alive.exists() and legacy.exists() and other.exists()
    notes = clean_stale_temp_files(out)
    assert len(notes) == 1 and legacy.name in notes[0] and "delete it" in notes[0]
