"""tonemorph: learn a tone from an example recording alone (unpaired), apply it to any take.

The public API below is imported on first use (PEP 562), so that `import tonemorph` and
`tonemorph --help` load no numpy, scipy, numba or torch: each name is resolved from the
module listed in `_EXPORTS` the first time it is read, then cached as a plain attribute.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "learn_tone": "tonemorph.api",
    "learn_paired": "tonemorph.api",
    "learn_neural": "tonemorph.api",
    "NeuralCapture": "tonemorph.api",
    "parse_stages": "tonemorph.api",
    "load": "tonemorph.model",
    "Tone": "tonemorph.model",
    "Knobs": "tonemorph.model",
    "master_mix": "tonemorph.master",
    "TonemorphError": "tonemorph.errors",
    "AudioFileError": "tonemorph.errors",
    "AudioContentError": "tonemorph.errors",
    "ModelFileError": "tonemorph.errors",
    "OutputPathError": "tonemorph.errors",
    "ParameterError": "tonemorph.errors",
}
# names whose defining function is called something else in its module
_RENAMED = {"master_mix": "master"}

if TYPE_CHECKING:
    from tonemorph.api import NeuralCapture, learn_neural, learn_paired, learn_tone, parse_stages
    from tonemorph.errors import (
        AudioContentError,
        AudioFileError,
        ModelFileError,
        OutputPathError,
        ParameterError,
        TonemorphError,
    )
    from tonemorph.master import master as master_mix
    from tonemorph.model import Knobs, Tone, load


def __getattr__(name: str) -> Any:
    """Import a public name on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tonemorph' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "AudioContentError",
    "AudioFileError",
    "Knobs",
    "ModelFileError",
    "NeuralCapture",
    "OutputPathError",
    "ParameterError",
    "Tone",
    "TonemorphError",
    "__version__",
    "learn_neural",
    "learn_paired",
    "learn_tone",
    "load",
    "master_mix",
    "parse_stages",
]
