"""The contract between the video pipeline and a pose backend.

The pipeline decodes, detects and tracks; then, streaming over the video a second time, it
cuts one square crop per tracked person and frame and hands batches of crops to
:meth:`PoseBackend.encode_crops` (SPIN features for GLoT, BlazePose landmarks for lite).
Per-crop results are small, so they are kept per track; when a track is complete
:meth:`PoseBackend.solve_track` turns them into SMPL motion. The pipeline then adds the
camera-space translation (from ``cam_crop``, the box and the focal length) and writes the
motion clip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class TrackInput:
    """Everything known about one tracked person before pose estimation.

    frame_ids (N,) int64 video frame indices, increasing; bboxes (N,4) float32 square boxes
    [cx, cy, w, h] in pixels (w == h, the tracker's box, before any crop enlargement);
    features (N,D) float32 per-crop output of ``encode_crops``; filled (N,) bool, True where the
    frame was interpolated across a gap; det_score (N,) float32 detector confidence (0 when filled).
    """

    track_id: int
    frame_ids: np.ndarray
    bboxes: np.ndarray
    features: np.ndarray
    filled: np.ndarray
    det_score: np.ndarray


@dataclass
class TrackPose:
    """SMPL motion of one track as a backend estimates it (no camera-space translation yet).

    global_orient (N,3), body_pose (N,69) axis-angle; betas (N,10); cam_crop (N,3)
    weak-perspective crop camera [s, tx, ty] in the crop's normalised coordinates (the crop
    spanning [-1, 1] for a box of side ``crop_scale * w``); rest_joints (24,3) metres;
    joints3d (N,24,3) posed SMPL joints, metres; confidence (N,) 0..1.
    """

    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    cam_crop: np.ndarray
    rest_joints: np.ndarray
    joints3d: np.ndarray
    confidence: np.ndarray


CancelCheck = Callable[[], bool]

#: a track whose legs are seen in fewer of its recognised frames than this is upper-body only
MIN_LEGS_SEEN = 0.2


def shows_upper_body_only(recognised: np.ndarray, legs_seen: np.ndarray) -> bool:
    """From :meth:`PoseBackend.person_evidence`: the pose was recognised, but its legs were seen
    in under MIN_LEGS_SEEN of those frames (close-up framing)."""
    recognised, legs_seen = np.asarray(recognised, bool), np.asarray(legs_seen, bool)
    return bool(recognised.any() and legs_seen.sum() < MIN_LEGS_SEEN * recognised.sum())


class PoseBackend(ABC):
    """A pose estimator the pipeline can drive. Instances hold loaded models (reused across jobs)."""

    #: short name used on the CLI and in the protocol ("glot", "lite")
    name: str = ""
    #: side of the square crops handed to ``encode_crops``
    crop_size: int = 224
    #: crop side = crop_scale * box side (the GLoT demo uses 1.2)
    crop_scale: float = 1.2
    #: how many crops ``encode_crops`` prefers per call
    batch_size: int = 64

    @abstractmethod
    def encode_crops(self, crops: np.ndarray) -> np.ndarray:
        """crops (B, S, S, 3) uint8 RGB, S = crop_size -> per-crop features (B, D) float32."""

    @abstractmethod
    def solve_track(self, track: TrackInput, should_cancel: CancelCheck | None = None) -> TrackPose:
        """All frames of one track -> its SMPL motion (one row per input frame, same order)."""

    def frame_session(self) -> object | None:
        """Per-video state for :meth:`encode_frame` when the backend works on whole frames (lite:
        BlazePose follows each person from frame to frame); None: the pipeline cuts crops and
        calls :meth:`encode_crops`."""
        return None

    def encode_frame(self, session: object, frame: np.ndarray, boxes: np.ndarray,
                     track_ids: list[int]) -> np.ndarray:
        """One BGR frame, its tracked boxes (B, 4) [cx, cy, w, h] and their track ids, in frame
        order -> per-person features (B, D), as :meth:`encode_crops` would give for their crops."""
        raise NotImplementedError(f"the {self.name} backend encodes crops, not frames")

    def person_evidence(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Per frame of a track's features (recognised, legs_seen) bool arrays: whether the pose
        model recognised a person in the crop, and saw their legs; None when the backend cannot
        tell (GLoT), so no track is judged."""
        return None

    #: True when :meth:`keypoints_2d` gives the backend's own 2D keypoints
    has_keypoints_2d: bool = False

    def keypoints_2d(self, track: TrackInput) -> np.ndarray | None:
        """BlazePose's 33 landmarks of each frame in full-frame pixels with confidence,
        (N,33,3) ``[x, y, confidence]``, when the backend computed them itself (lite); None
        otherwise (the pipeline then runs BlazePose on the crops for the temporal solver)."""
        return None

    def rest_joints_function(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """``betas (B,10) -> rest joints (B,24,3)`` of the backend's body model, when its
        skeleton is SMPL shape (GLoT); None when the backend measures bone lengths (lite)."""
        return None

    def checkpoint_sha256(self) -> str:
        """sha256 of the main model file ("" when there is none)."""
        return ""
