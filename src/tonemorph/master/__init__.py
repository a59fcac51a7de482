"""Reference mastering: match a mix to a released track's loudness, balance, width and density.

`master` (also `tonemorph.master_mix`) is the entry point; the submodules are its stages.
"""

from tonemorph.master.config import ASPECTS, MasterConfig, parse_only
from tonemorph.master.report import MasterReport, Measures, TrackReport
from tonemorph.master.run import MasterSettings, master

__all__ = [
    "ASPECTS",
    "MasterConfig",
    "MasterReport",
    "MasterSettings",
    "Measures",
    "TrackReport",
    "master",
    "parse_only",
]
