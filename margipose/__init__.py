"""MargiPose: 3D human pose from 2D marginal heatmaps (Nibali et al.), the posebench reference model."""
from margipose.checkpoint import load_model
from margipose.model import MargiPose, MargiPoseConfig

__all__ = ["MargiPose", "MargiPoseConfig", "load_model"]
