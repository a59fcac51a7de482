"""Work done a few blocks behind the caller, on a thread: the passes over a whole track split in
two, so their halves run on two cores.

The numba kernels (nogil), numpy's array operations and FFTs, and libsndfile release the GIL,
so a stage fed from the main thread overlaps the main thread's own stage. Blocks are handled
in the order given, by one thread: stateful stages (meters, filters, a file writer) see exactly
the sequence they would see in a loop, so the results are the same, bit for bit.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

__all__ = ["Behind"]


class Behind:
    """Calls ``fn(*args)`` for each `submit` on one worker thread, in order, at most `depth`
    calls behind; `join` (or leaving the ``with`` block) waits for all of them. An error in
    a call is raised by the next `submit` or `join`, and the calls after it are skipped."""

    def __init__(self, fn: Callable[..., Any], depth: int = 2):
        self._fn = fn
        self._depth = max(1, int(depth))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tonemorph-behind")
        self._pending: deque[Future[Any]] = deque()
        self._failed = False

    def _call(self, *args: Any) -> None:
        if self._failed:
            return
        try:
            self._fn(*args)
        except BaseException:
            self._failed = True
            raise

    def submit(self, *args: Any) -> None:
        """Queue fn(*args); blocks while more than `depth` calls are waiting."""
        self._pending.append(self._pool.submit(self._call, *args))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def join(self) -> None:
        """Wait for every queued call (re-raising the first error)."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        """Stop the worker (queued calls that have not started are dropped)."""
        self._failed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Behind:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.join()
        finally:
            self.close()
