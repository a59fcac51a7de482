"""Reference mastering: match a mix to a released track's loudness, balance, width and density.

`master` (also `tonemorph.master_mix`) is the entry point; the submodules are its stages.
"""

from tonemorph.master.config import (
    ASPECTS,
    TARGETS,
    MasterConfig,
    parse_amount,
    parse_only,
    parse_reference,
)
from tonemorph.master.fit import MasterSettings
from tonemorph.master.report import MasterReport, Measures, TrackReport
from tonemorph.master.run import master, references

__all__ = [
    "ASPECTS",
    "TARGETS",
    "MasterConfig",
    "MasterReport",
    "MasterSettings",
    "Measures",
    "TrackReport",
    "master",
    "parse_amount",
    "parse_only",
    "parse_reference",
    "references",
]
