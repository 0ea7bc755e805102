"""The temporal solver: each whole track optimised against 2D keypoints, the backend's 3D
pose, smoothness, joint limits and planted feet (see :mod:`.solver`).

The pipeline uses :func:`refine_motion` (stage "refine"); :mod:`.keypoints` gives the 2D
evidence (the lite backend's own BlazePose landmarks, or BlazePose run on GLoT's crops).
"""

from .body import ShapeBasis
from .solver import Camera, RefineOptions, RefineResult, RefineWeights, TrackEvidence, refine_track
from .stage import frame_weights, refine_motion

__all__ = [
    "Camera", "RefineOptions", "RefineResult", "RefineWeights", "ShapeBasis", "TrackEvidence",
    "frame_weights", "refine_motion", "refine_track",
]
