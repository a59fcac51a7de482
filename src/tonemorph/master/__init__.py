"""Reference mastering: match a mix to a released track's loudness, balance, width and density.

The package is callable: ``tonemorph.master(mix, reference, out, ...)`` is
`tonemorph.master.run.master` (the public API the issue names), while submodules stay importable.
"""

import sys as _sys
import types as _types

from tonemorph.master.config import ASPECTS, MasterConfig, parse_only
from tonemorph.master.report import MasterReport, Measures, TrackReport
from tonemorph.master.run import MasterSettings, master


class _CallableModule(_types.ModuleType):
    """This package's module type: calling it calls `master`."""

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return master(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule

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
