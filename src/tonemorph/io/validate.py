"""Checks for values read from model files (JSON): type, finiteness, range, size, shape.

Every failure is a `ModelFileError` naming the file, the key path (``chain.sample_rate``,
``layers[0].weights[1][3][7]``), what was found, what is allowed (with units) and what to do.
JSON numbers arrive as Python `int` (any size) or `float` (possibly inf from ``1e999``); `bool`
is never taken for a number.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tonemorph.errors import ModelFileError
from tonemorph.io.rates import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

#: Largest model file read (bytes): a NAM "standard" WaveNet is ~0.3 MB, a learned tone ~10 kB;
#: JSON numbers take ~30 bytes of memory each once parsed, so this bounds the parse to ~2 GB.
MAX_MODEL_FILE_BYTES = 64 << 20
#: Sample rates (Hz) a model file may name.
SAMPLE_RATE_RANGE_HZ = (MIN_SAMPLE_RATE, MAX_SAMPLE_RATE)


def describe(value: Any) -> str:
    """A short, safe description of a JSON value for a message (huge ints are not printed)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if abs(value) >= 10**15:
            digits = int(value.bit_length() * math.log10(2)) + 1
            return f"an integer of about {digits} digits"
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:g}" if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def span(lo: float, hi: float, unit: str = "") -> str:
    """'lo .. hi unit' for a message (ratios as 1:1 .. 20:1)."""
    if unit == ":1":
        return f"{lo:g}:1 .. {hi:g}:1"
    return f"{lo:g} .. {hi:g} {unit}".rstrip()


def is_number(value: Any) -> bool:
    """True for a JSON number (int or float), False for bool and everything else."""
    return type(value) in (int, float)


def join(where: str, key: str | int) -> str:
    """Key path of `key` inside `where` ('' is the document itself)."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


class DocumentCheck:
    """Validates the values of one parsed JSON document; failures name `source` and say `fix`.

    Args:
        source: the file (or a name for it) used at the start of every message.
        fix: what the user can do, appended to every message (e.g. "re-learn the tone or fix
            the file").
    """

    def __init__(self, source: str, fix: str):
        self.source = source
        self.fix = fix

    def error(self, where: str, problem: str) -> ModelFileError:
        """The ModelFileError for `problem` at key path `where`."""
        at = f"{where} " if where else ""
        return ModelFileError(f"{self.source}: {at}{problem}; {self.fix}")

    # --- containers ------------------------------------------------------------------------
    def mapping(self, value: Any, where: str) -> dict:
        """`value` when it is a JSON object."""
        if not isinstance(value, dict):
            raise self.error(where, f"is {describe(value)}, not an object")
        return value

    def require(self, obj: dict, key: str, where: str) -> Any:
        """obj[key]; a missing key says the file is damaged or incomplete."""
        if key not in obj:
            raise self.error(join(where, key), "is missing (the file is damaged or incomplete)")
        return obj[key]

    def only_keys(self, obj: dict, where: str, allowed: set[str] | frozenset[str],
                  why: str = "") -> None:
        """Refuse keys of `obj` outside `allowed` (`why` says what an unknown key means)."""
        extra = sorted(k for k in obj if k not in allowed)
        if extra:
            shown = ", ".join(repr(k) for k in extra[:5]) + (" ..." if len(extra) > 5 else "")
            where_s = where or "the document"
            raise self.error("", f"{where_s} has unknown key(s) {shown}{why}; known: "
                                 f"{', '.join(sorted(allowed))}")

    def array(self, value: Any, where: str, *, size: int | None = None,
              min_size: int = 0, max_size: int | None = None) -> list:
        """`value` when it is a JSON list of `size` items (or min_size..max_size)."""
        if not isinstance(value, list):
            raise self.error(where, f"is {describe(value)}, not a list")
        n = len(value)
        if size is not None and n != size:
            raise self.error(where, f"has {n} items; it needs exactly {size}")
        if n < min_size or (max_size is not None and n > max_size):
            most = "" if max_size is None else f" and at most {max_size}"
            raise self.error(where, f"has {n} items; it needs at least {min_size}{most}")
        return value

    # --- scalars ---------------------------------------------------------------------------
    def text(self, value: Any, where: str, choices: tuple[str, ...] | None = None) -> str:
        """`value` when it is a string (one of `choices` if given)."""
        if not isinstance(value, str):
            raise self.error(where, f"is {describe(value)}, not a string")
        if choices is not None and value not in choices:
            raise self.error(where, f"is {describe(value)}; allowed: {', '.join(choices)}")
        return value

    def flag(self, value: Any, where: str) -> bool:
        """`value` when it is true or false."""
        if not isinstance(value, bool):
            raise self.error(where, f"is {describe(value)}; allowed: true or false")
        return value

    def number(self, value: Any, where: str, lo: float, hi: float, unit: str = "", *,
               slack: float = 0.0) -> float:
        """`value` as a float when it is a finite number in [lo - slack, hi + slack]."""
        allowed = f"allowed {span(lo, hi, unit)}"
        if not is_number(value):
            raise self.error(where, f"is {describe(value)}, not a number; {allowed}")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(where, f"is {describe(value)}, not a finite number; {allowed}")
        if not lo - slack <= value <= hi + slack:  # exact for ints of any size
            unit_s = "" if unit in ("", ":1") or abs(value) >= 10**15 else f" {unit}"
            raise self.error(where, f"is {describe(value)}{unit_s}, out of range; {allowed}")
        return float(value)

    def finite(self, value: Any, where: str) -> float:
        """`value` as a float when it is a finite number (|x| <= 1e300) of any range."""
        if not is_number(value) or not -1e300 <= value <= 1e300:  # False for NaN too
            raise self.error(where, f"is {describe(value)}, not a finite number")
        return float(value)

    def integer(self, value: Any, where: str, lo: int, hi: int, unit: str = "") -> int:
        """`value` as an int when it is a whole number (48000 or 48000.0) in [lo, hi]."""
        allowed = f"allowed {span(lo, hi, unit)}, a whole number"
        whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)
                                           and value.is_integer())
        if not is_number(value) or not whole:
            raise self.error(where, f"is {describe(value)}, not a whole number; {allowed}")
        if not lo <= value <= hi:
            unit_s = f" {unit}" if unit and abs(value) < 10**15 else ""
            raise self.error(where, f"is {describe(value)}{unit_s}, out of range; {allowed}")
        return int(value)

    def sample_rate(self, value: Any, where: str) -> int:
        """`value` as an int when it is a supported sample rate (Hz)."""
        return self.integer(value, where, *SAMPLE_RATE_RANGE_HZ, unit="Hz")

    # --- numeric arrays --------------------------------------------------------------------
    def numbers(self, value: Any, where: str, shape: tuple[int, ...], *,
                limit: float | None = None) -> np.ndarray:
        """Nested JSON lists of exactly `shape` holding finite numbers (|x| <= limit) as a
        float64 array."""
        flat: list = []
        self._collect(value, where, shape, flat)
        bad = next((i for i, v in enumerate(flat) if not is_number(v)
                    or (isinstance(v, int) and abs(v) > 1e300)), None)
        if bad is None:
            arr = np.asarray(flat, dtype=np.float64)
            bad_mask = ~np.isfinite(arr)
            if limit is not None:
                bad_mask |= np.abs(np.nan_to_num(arr)) > limit
            hits = np.flatnonzero(bad_mask)
            bad = int(hits[0]) if hits.size else None
        if bad is not None:
            idx = np.unravel_index(bad, shape) if shape else ()
            at = where + "".join(f"[{int(i)}]" for i in idx)
            v = flat[bad]
            bound = "a finite number" if limit is None else f"a number within +-{limit:g}"
            raise self.error(at, f"is {describe(v)}; every value here must be {bound}")
        return arr.reshape(shape)

    def _collect(self, value: Any, where: str, shape: tuple[int, ...], out: list,
                 full: tuple[int, ...] | None = None) -> None:
        full = shape if full is None else full
        if not shape:
            out.append(value)
            return
        if not isinstance(value, list) or len(value) != shape[0]:
            got = (f"has {len(value)} items" if isinstance(value, list)
                   else f"is {describe(value)}")
            dims = " x ".join(str(n) for n in full)
            raise self.error(where, f"{got}; it needs {shape[0]} here (an array of shape "
                             f"{dims})")
        if len(shape) == 1:
            if any(isinstance(v, (list, dict)) for v in value):
                i = next(i for i, v in enumerate(value) if isinstance(v, (list, dict)))
                raise self.error(join(where, i), f"is {describe(value[i])}, not a number")
            out.extend(value)
            return
        for i, item in enumerate(value):
            self._collect(item, join(where, i), shape[1:], out, full)

    # --- whole documents -------------------------------------------------------------------
    def finite_tree(self, value: Any, where: str = "") -> None:
        """Refuse a non-finite float anywhere inside `value` (iterative: any nesting depth)."""
        stack: list[tuple[Any, str]] = [(value, where)]
        while stack:
            v, at = stack.pop()
            if isinstance(v, float):
                if not math.isfinite(v):
                    raise self.error(at, f"is {describe(v)}, not a finite number")
            elif isinstance(v, dict):
                stack.extend((item, join(at, str(k))) for k, item in v.items())
            elif isinstance(v, list):
                stack.extend((item, join(at, i)) for i, item in enumerate(v))


def check_file_size(path: str | os.PathLike[str], what: str) -> None:
    """Refuse a file larger than MAX_MODEL_FILE_BYTES, or a device, pipe or socket, before it
    is parsed (a missing file is left to the reader, which says so)."""
    try:
        st = Path(path).stat()
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        # read whole, /dev/zero grew without end and a pipe with no writer waited forever
        raise ModelFileError(f"{path} is not a regular file (a device, pipe or socket), so "
                             f"not a {what} file; give the model file's path")
    size = st.st_size
    if size > MAX_MODEL_FILE_BYTES:
        raise ModelFileError(f"{path} is {size / 2**20:.0f} MB, too large for a {what} file "
                             f"(at most {MAX_MODEL_FILE_BYTES >> 20} MB); check the path")


@contextmanager
def json_parse_errors(source: str, what: str) -> Iterator[None]:
    """Turn what `json.loads` raises beyond JSONDecodeError (integers over Python's digit limit,
    nesting deeper than the recursion limit) into a ModelFileError about `source`."""
    try:
        yield
    except ModelFileError:
        raise
    except RecursionError as exc:
        raise ModelFileError(f"{source} nests JSON too deeply to be a {what} file; check the "
                             "path or re-export the model") from exc
    except (ValueError, OverflowError) as exc:
        raise ModelFileError(f"{source} holds a number too long to read (not a {what} file, or "
                             "a damaged one); re-export the model") from exc


__all__ = [
    "MAX_MODEL_FILE_BYTES",
    "SAMPLE_RATE_RANGE_HZ",
    "DocumentCheck",
    "check_file_size",
    "describe",
    "is_number",
    "join",
    "json_parse_errors",
    "span",
]
