"""Fitting loops: unpaired tone learning."""

from tonemorph.learn.fit import LearnConfig, LearnResult, fit_unpaired

__all__ = ["LearnConfig", "LearnResult", "fit_unpaired"]
