"""Atomic JSON writing for export formats (temp file next to the target, then rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tonemorph.errors import ModelFileError
from tonemorph.io.paths import write_text_atomic


def write_json_atomic(path: str | os.PathLike[str], doc: dict[str, Any], *,
                      indent: int | None = None, overwrite: bool = True) -> None:
    """Write `doc` as JSON to `path` atomically; NaN/Inf refused (ModelFileError)."""
    try:
        text = json.dumps(doc, indent=indent, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model cannot be stored as JSON ({exc}); the training may have "
                             "diverged, try again") from exc
    write_text_atomic(path, text + "\n", overwrite=overwrite)


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse a JSON file; ModelFileError saying what it should have been when it is not JSON."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{what} file {p} does not exist or is not a file")
    try:
        with open(p, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        article = "an" if what[:1].upper() in "AEIOU" else "a"
        raise ModelFileError(f"{p} is not {article} {what} file (not JSON: {exc})") from exc
    except OSError as exc:
        raise ModelFileError(f"cannot read {p} ({exc.strerror or exc})") from exc
