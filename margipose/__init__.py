"""MargiPose: 3D human pose from 2D marginal heatmaps (Nibali et al.), the posebench reference model."""
