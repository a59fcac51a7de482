"""Exporters, one module per format: `nam` (Neural Amp Modeler), `aidax` (AIDA-X / RTNeural
JSON), `ir` (cabinet impulse response): formats only. Distilling a tone into a neural model is a
learner (`tonemorph.learn.distill`; `tonemorph.api.export_tone` runs both);
`load_neural_model` reads a `.nam` / AIDA-X file back for `tonemorph apply`."""

from __future__ import annotations

import os
from pathlib import Path

from tonemorph.errors import ParameterError

_SNIFF_BYTES = 4096
AIDAX_DEFAULT_RATE = 48000  # Hz, for AIDA-X files that name no sample rate


#: the export format an output file's extension names (what players load each as)
FORMAT_BY_SUFFIX = {".nam": "nam", ".json": "aidax", ".aidax": "aidax", ".wav": "ir",
                    ".flac": "ir"}


#: what each export format is, in words
FORMAT_NAMES = {"nam": "a Neural Amp Modeler model", "aidax": "an AIDA-X model (JSON)",
                "ir": "a cabinet impulse response"}


def check_export_path(path: str | os.PathLike[str], fmt: str) -> None:
    """Refuse an output whose extension is not one `fmt` is loaded by (OutputPathError): a
    NAM model named .wav is neither a model a player finds nor audio."""
    from tonemorph.io.paths import check_suffix  # the package reads audio: not for every import

    suffixes = tuple(s for s, f in FORMAT_BY_SUFFIX.items() if f == fmt)
    check_suffix(path, suffixes, f"{FORMAT_NAMES[fmt]}, the {fmt} export", "output")


def format_for_output(path: str | os.PathLike[str]) -> str:
    """The export format ('nam', 'aidax' or 'ir') an output path's extension names; raises
    ParameterError (naming --format) for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMAT_BY_SUFFIX:
        raise ParameterError(
            f"cannot tell the export format from {Path(path).name!r}: name the file .nam (NAM), "
            ".json (AIDA-X) or .wav (cabinet IR), or give --format nam|aidax|ir|plugin")
    return FORMAT_BY_SUFFIX[suffix]


def neural_model_kind(path: str | os.PathLike[str]) -> str | None:
    """'nam' or 'aidax' when `path` holds such a model (by extension, else by content); None
    for anything else (a `.tmodel` included)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".nam":
        return "nam"
    if ext == ".aidax":
        return "aidax"
    if ext == ".tmodel" or not p.is_file():
        return None
    try:
        with open(p, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return None
    if not head.lstrip().startswith(b"{") or b'"tonemorph-model"' in head:
        return None
    if b'"architecture"' in head:
        return "nam"
    if b'"in_shape"' in head or b'"layers"' in head:  # RTNeural's JSON, damaged or not
        return "aidax"
    return None


def load_neural_model(path: str | os.PathLike[str]):
    """(torch module, sample rate Hz) of a `.nam` or AIDA-X file; None when it is neither.

    Every value of the file is validated first (`nam.parse_nam`, `aidax.parse_aidax`):
    ModelFileError names the first invalid key. An AIDA-X file without a sample rate runs at
    48 kHz, the rate the plugin's models are trained at.
    """
    kind = neural_model_kind(path)
    if kind == "nam":
        from tonemorph.export.nam import build_model, read_nam

        nf = read_nam(path)
        return build_model(nf, str(path)), nf.sample_rate
    if kind == "aidax":
        from tonemorph.export.aidax import read_aidax_file

        af = read_aidax_file(path)
        return af.build(), af.sample_rate or AIDAX_DEFAULT_RATE
    return None


__all__ = ["FORMAT_BY_SUFFIX", "FORMAT_NAMES", "check_export_path", "format_for_output",
           "load_neural_model", "neural_model_kind"]
