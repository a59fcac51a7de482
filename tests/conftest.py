"""Shared pytest setup: `src/` importable without installing; `tests/` holds `signals.py`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_SRC = str(Path(__file__).resolve().parents[1] / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from hypothesis import settings  # noqa: E402

# Deterministic property tests: the same examples on every run, so CI cannot flake on a new
# random draw. Run with HYPOTHESIS_PROFILE=explore to search fresh examples.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
