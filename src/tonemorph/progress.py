"""The one progress-callback type of the library (learning, capture, export, apply, master)."""

from __future__ import annotations

import math
from typing import Protocol


class Progress(Protocol):
    """`progress(stage, done, total, loss)`: `done` of `total` units (steps, samples, frames)
    of the named stage; `loss` where something is being minimised, else NaN."""

    def __call__(self, stage: str, done: int, total: int, loss: float = math.nan) -> None: ...


__all__ = ["Progress"]
