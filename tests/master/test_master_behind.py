"""Behind: calls run in order on one worker thread; a worker error surfaces in the caller."""

from __future__ import annotations

import threading

import pytest

from tonemorph.master.behind import Behind


def test_calls_run_in_order_on_one_thread() -> None:
    seen: list[int] = []
    threads: set[int] = set()

    def fn(i: int) -> None:
        threads.add(threading.get_ident())
        seen.append(i)

    with Behind(fn, depth=3) as behind:
        for i in range(200):
            behind.submit(i)
    assert seen == list(range(200))
    assert len(threads) == 1 and threading.get_ident() not in threads


def test_worker_error_is_raised_and_later_calls_skipped() -> None:
    seen: list[int] = []

    def fn(i: int) -> None:
        if i == 5:
            raise OSError("disk full")
        seen.append(i)

    with pytest.raises(OSError, match="disk full"):
        with Behind(fn, depth=2) as behind:
            for i in range(50):
                behind.submit(i)
    assert seen == list(range(5))
