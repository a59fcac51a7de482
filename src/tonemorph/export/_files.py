"""Atomic JSON writing for export formats (temp file next to the target, then rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tonemorph.errors import ModelFileError, OutputPathError
from tonemorph.io.audio import _make_temp, _unlink_quietly


def write_json_atomic(path: str | os.PathLike[str], doc: dict[str, Any], *,
                      indent: int | None = None) -> None:
    """Write `doc` as JSON to `path` atomically; NaN/Inf refused (ModelFileError)."""
    try:
        text = json.dumps(doc, indent=indent, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"model cannot be stored as JSON ({exc}); the training may have "
                             "diverged, try again") from exc
    out = Path(path)
    if out.is_dir():
        raise OutputPathError(f"output path {out} is a directory; give a file name")
    tmp = _make_temp(out)
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise OutputPathError(f"cannot write {out} ({exc.strerror or exc}); "
                              "choose another path") from exc
    except BaseException:
        _unlink_quietly(tmp)
        raise


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """Parse a JSON file; ModelFileError saying what it should have been when it is not JSON."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"{what} file {p} does not exist or is not a file")
    try:
        with open(p, "rb") as fh:
            return json.loads(fh.read().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{p} is not a {what} file (not JSON: {exc})") from exc
    except OSError as exc:
        raise ModelFileError(f"cannot read {p} ({exc.strerror or exc})") from exc
