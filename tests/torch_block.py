"""Run Python code in a subprocess where importing torch fails (for the torch-free checks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# A meta-path finder refusing torch: setting sys.modules["torch"] = None would also work for
# our code, but scipy's array-API helpers read that entry and fail on None.
_BLOCK = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _NoTorch())
sys.path.insert(0, {src!r})
"""


def run_without_torch(code: str) -> subprocess.CompletedProcess[str]:
    """`python -c code` with torch unimportable and this checkout's src first on sys.path."""
    script = _BLOCK.format(src=str(SRC)) + code
    return subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                          text=True, timeout=300)
