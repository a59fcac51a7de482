"""Per-frame features a listener hears as tone (torch, differentiable)."""

from tonemorph.features.frames import FeatureConfig, Features, frame_features

__all__ = ["FeatureConfig", "Features", "frame_features"]
