"""2D evidence for backends that have none of their own (GLoT): BlazePose on each crop.

The lite backend already runs BlazePose and hands its image landmarks over
(``PoseBackend.keypoints_2d``). For GLoT tracks the pipeline cuts a second, wider crop per
tracked person and frame (the lite backend's framing: 1.5 x the box, 256 px) and runs the
same landmark model on it, during the same pass over the video. Without mediapipe the solver
runs without its 2D term and the analysis says so.
"""

from __future__ import annotations

import numpy as np

from ..crop import crop_people
from ..errors import BackendUnavailableError

NO_MEDIAPIPE_NOTICE = (
    "mediapipe is not installed, so the temporal solver ran without 2D keypoints (smoothing, "
    "joint limits and planted feet only, no alignment to the video): install the 'lite' extra "
    "(pip install 'glot-mocap[lite]') for it"
)


class CropKeypoints:
    """BlazePose image landmarks (N,33,3) ``[x, y, confidence]`` in full-frame pixels for the
    tracked boxes of one frame."""

    def __init__(self) -> None:
        from ..backends.lite_backend import LiteBackend

        self._lite = LiteBackend()
        self.crop_scale = LiteBackend.crop_scale
        self.crop_size = LiteBackend.crop_size

    def __call__(self, frame_bgr: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        from ..backends.lite_backend import features_to_keypoints

        crops = crop_people(frame_bgr, boxes, self.crop_scale, self.crop_size)
        return features_to_keypoints(self._lite.encode_crops(crops), boxes, self.crop_scale)

    def close(self) -> None:
        self._lite.close()


def make_crop_keypoints() -> tuple[CropKeypoints | None, str | None]:
    """(the keypoint model, None) or (None, the notice saying why the 2D term is skipped)."""
    try:
        return CropKeypoints(), None
    except (BackendUnavailableError, ImportError):
        return None, NO_MEDIAPIPE_NOTICE
