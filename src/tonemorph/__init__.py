"""tonemorph: learn a tone from an example recording alone (unpaired), apply it to any take."""

from __future__ import annotations

__version__ = "0.1.0"

from tonemorph.api import NeuralCapture, learn, learn_paired, parse_stages  # noqa: E402
from tonemorph.errors import (  # noqa: E402
    AudioContentError,
    AudioFileError,
    ModelFileError,
    OutputPathError,
    ParameterError,
    TonemorphError,
)
from tonemorph.model import Knobs, Tone, load  # noqa: E402
from tonemorph.master import master as master_mix  # noqa: E402

__all__ = [
    "__version__",
    "learn",
    "learn_paired",
    "NeuralCapture",
    "load",
    "master_mix",
    "parse_stages",
    "Tone",
    "Knobs",
    "TonemorphError",
    "AudioFileError",
    "AudioContentError",
    "ModelFileError",
    "OutputPathError",
    "ParameterError",
]
