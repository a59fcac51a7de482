"""Pitch-invariant, level-conditioned distribution losses for unpaired tone matching."""

from tonemorph.losses.unpaired import LossWeights, UnpairedLoss

__all__ = ["LossWeights", "UnpairedLoss"]
