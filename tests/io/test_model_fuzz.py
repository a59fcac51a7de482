"""Property tests of the model-file loaders: a valid document of each format (a learned `.tmodel`,
the golden `.nam` and AIDA-X files), randomly mutated, is either refused with ModelFileError or
loads and gives finite output on a short signal; nothing else (no other exception, no NaN).

Mutations: a value replaced by a random JSON value (huge, negative, zero, NaN/Infinity
literals, NaN-like strings, bools, null, lists, nested objects), a numeric value scaled or
nudged, a key or item deleted, a key or item added, a list made shorter or longer. Each file
goes the way `tonemorph apply` takes it (neural sniffing first, then the `.tmodel` loader).

Run more documents than the test does (and print the counts per format):

    .venv/bin/python tests/io/test_model_fuzz.py --n 3000

or set TONEMORPH_FUZZ_EXAMPLES for the pytest run.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tonemorph
from tonemorph.errors import ModelFileError
from tonemorph.export import load_neural_model
from tonemorph.export.nam import NamVersionWarning
from tonemorph.neural.runner import apply_model, torch_threads

TESTS = Path(__file__).resolve().parents[1]
SOURCES = {
    "tmodel": (TESTS / "io" / "data" / "learned_fast.tmodel", ".tmodel"),
    "nam-wavenet": (TESTS / "export" / "data" / "golden_nano.nam", ".nam"),
    "nam-lstm": (TESTS / "export" / "data" / "golden_lstm_1x4.nam", ".nam"),
    "aidax-lstm": (TESTS / "export" / "data" / "golden_lstm_8.json", ".json"),
    "aidax-gru": (TESTS / "export" / "data" / "golden_gru_8.json", ".json"),
}
EXAMPLES = int(os.environ.get("TONEMORPH_FUZZ_EXAMPLES", "150"))
SIGNAL = (0.3 * np.sin(2 * np.pi * 220.0 * np.arange(1536) / 48000)).astype(np.float32)

#: Replacement values: every JSON type, numbers at and far beyond any sane bound.
JUNK: tuple[Any, ...] = (
    0, -1, 1, 2, -0.0, 0.5, -0.5, 1e-320, 3.0, 1e6, -1e6, 1e12, 1e300, -1e300, 1e308, -1e308,
    10**400, -(10**400), 2**63, 2**31 - 1, math.inf, -math.inf, math.nan, True, False, None,
    "", "NaN", "Infinity", "-Infinity", "1e999", "48000", "tone", "x" * 80, [], [0.0],
    [[1.0, [2.0]]], [None, "a", True], {}, {"a": {"b": [1, {"c": None}]}}, {"format": 3},
)
#: Keys a mutation may add: real keys of the three formats (in the wrong place) and strangers.
NEW_KEYS = ("extra", "format", "kind", "stages", "sample_rate", "cab_taps", "out_gain_db",
            "drive.drive_db", "cab.band_db", "in_skip", "in_gain", "gated", "head", "film",
            "layers", "weights", "num_layers", "metadata", "units", "samplerate")


def _containers(doc: Any) -> list[Any]:
    """Every dict and list inside `doc`, the document itself first."""
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            out.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    return out


def _nudge(value: Any, rng: random.Random) -> Any:
    """A numeric value changed a little or a lot, or given another JSON type."""
    ops = (lambda v: -v, lambda v: v * 10.0, lambda v: v * 1e-3, lambda v: v * 1e9,
           lambda v: v + 1, lambda v: v - 1, lambda v: math.nextafter(float(v), math.inf),
           lambda v: int(v), lambda v: float(v), lambda v: str(v), lambda v: [v],
           lambda v: 0, lambda v: v * rng.uniform(0.0, 2.0))
    try:
        return rng.choice(ops)(value)
    except (OverflowError, ValueError):  # inf/NaN to int, a huge int to float or str
        return rng.choice(JUNK)


def mutate(doc: Any, rng: random.Random) -> Any:
    """`doc` changed by 1-3 random mutations (in place; returns the document)."""
    for _ in range(rng.randint(1, 3)):
        node = rng.choice(_containers(doc))
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        op = rng.random()
        if not keys or op < 0.15:  # add a key / an item
            value = copy.deepcopy(rng.choice(JUNK + (node,) if rng.random() < 0.2 else JUNK))
            if isinstance(node, dict):
                node[rng.choice(NEW_KEYS)] = value
            else:
                node.insert(rng.randint(0, len(node)), value)
            continue
        key = rng.choice(keys)
        old = node[key]
        if op < 0.3:  # delete it
            del node[key]
        elif op < 0.6:  # replace it with any JSON value
            node[key] = copy.deepcopy(rng.choice(JUNK))
        elif isinstance(old, (int, float)) and not isinstance(old, bool):
            node[key] = _nudge(old, rng)
        elif isinstance(old, list) and old:  # another length
            node[key] = rng.choice((old[:-1], old[1:], old + old[-1:], old[: len(old) // 2],
                                    old * 2, []))
        else:
            node[key] = copy.deepcopy(rng.choice(JUNK))
    return doc


def try_document(fmt: str, text: str, folder: Path, rate: int = 48000,
                 amount: float = 1.0) -> str:
    """'refused' (ModelFileError) or 'loaded' (finite output checked); anything else raises."""
    path = folder / f"model{SOURCES[fmt][1]}"
    path.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NamVersionWarning)
        warnings.simplefilter("error", RuntimeWarning)  # overflow, log(0), 0/0 on the way
        try:
            neural = load_neural_model(path)  # what `tonemorph apply` does: neural first
            tone = None if neural else tonemorph.load(path)
        except ModelFileError:
            return "refused"
        if neural:
            with torch_threads(1):
                y = apply_model(neural[0], neural[1], SIGNAL, rate)
        else:
            y = tone.apply(SIGNAL, rate, amount=amount)
    if y.shape != SIGNAL.shape or not np.all(np.isfinite(y)):
        raise AssertionError(f"{fmt}: loaded but the output is not finite / wrong shape "
                             f"{y.shape}:\n{text[:2000]}")
    return "loaded"


def mutated_text(fmt: str, rng: random.Random) -> str:
    """A mutated document of format `fmt` as JSON text (NaN/Infinity written as literals)."""
    doc = json.loads(SOURCES[fmt][0].read_text(encoding="utf-8"))
    return json.dumps(mutate(doc, rng), allow_nan=True)


@pytest.fixture(scope="module")
def folder() -> Any:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@pytest.mark.parametrize("fmt", list(SOURCES))
def test_unmutated_sources_load_and_run(fmt: str, folder: Path) -> None:
    text = SOURCES[fmt][0].read_text(encoding="utf-8")
    assert try_document(fmt, text, folder) == "loaded"


@pytest.mark.parametrize("fmt", list(SOURCES))
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rng=st.randoms(use_true_random=False), rate=st.sampled_from([48000, 22050]),
       amount=st.sampled_from([1.0, 1.0, 1.0, 0.5]))
def test_mutated_documents_are_refused_or_run_finite(fmt: str, folder: Path, rng: random.Random,
                                                     rate: int, amount: float) -> None:
    try_document(fmt, mutated_text(fmt, rng), folder, rate, amount)


def main() -> int:
    """Big run outside pytest: print documents tried, refused, loaded-and-finite, failures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="documents per format")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--formats", default=",".join(SOURCES))
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        for fmt in args.formats.split(","):
            counts: Counter[str] = Counter()
            rng = random.Random(f"{args.seed}-{fmt}")
            t0 = time.monotonic()
            for i in range(args.n):
                text = mutated_text(fmt, rng)
                rate = rng.choice((48000, 22050))
                amount = rng.choice((1.0, 1.0, 1.0, 0.5))
                try:
                    counts[try_document(fmt, text, Path(d), rate, amount)] += 1
                except Exception as exc:  # noqa: BLE001 - a failure is what we count
                    counts["failed"] += 1
                    failures += 1
                    keep = Path(tempfile.gettempdir()) / "tonemorph-fuzz-failures"
                    keep.mkdir(exist_ok=True)
                    (keep / f"{fmt}-{i}{SOURCES[fmt][1]}").write_text(text)
                    print(f"FAIL {fmt} #{i}: {type(exc).__name__}: {str(exc)[:300]} "
                          f"(kept in {keep})")
            print(f"{fmt:12s} tried {args.n:6d}  refused {counts['refused']:6d}  "
                  f"loaded+finite {counts['loaded']:6d}  failed {counts['failed']:4d}  "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
