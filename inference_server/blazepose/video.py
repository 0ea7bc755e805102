"""BlazePose landmarks through a video: detect once, then follow each person's ROI from their own
landmarks (MediaPipe Pose's video mode), for every tracked person of a frame in one batch.

Per track (keyed by the pipeline's track id): the first frame, a frame after the landmarks were
lost (pose presence < 0.5), every ``redetect_every``-th frame, or a frame where the followed ROI
has left the tracker's box, runs BlazePose's person detector on one 224 view around the
tracker's box (``crop_scale`` x its side) and takes the detection on that person (hip centre
near the box's centre, body about the box's size, highest score); otherwise the ROI comes from the previous frame's auxiliary
landmarks. Then the landmark model runs on the ROIs of all people of the frame at once.
Without a detection the ROI is the tracker's box (upright, side 1.25 x the box).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .decode import ROI_SCALE
from .detector import BlazePoseDetector, to_frame, view_input
from .landmarks import LandmarkModel, PoseLandmarks

#: re-detect a followed person at least this often (frames)
REDETECT_EVERY = 30
#: a followed ROI whose centre is further than this x the box side from the box centre has
#: drifted to someone or something else: re-detect
MAX_DRIFT = 0.5
#: a detection picked for a tracker's box has a body diameter within this factor of the box
PICK_SIZE_RATIO = 1.6


@dataclass
class _Followed:
    roi: np.ndarray
    age: int = 0  # frames since the last detection


@dataclass
class FrameResult:
    """Landmarks of the people of one frame and, per person, whether a detection was run."""

    landmarks: PoseLandmarks
    detected: np.ndarray


@dataclass
class PoseVideoSession:
    """One video's state: the ROI followed per track (see module doc). Not shared between jobs."""

    detector: BlazePoseDetector
    landmarks: LandmarkModel
    crop_scale: float
    redetect_every: int = REDETECT_EVERY
    followed: dict[int, _Followed] = field(default_factory=dict)

    def run(self, frame: np.ndarray, boxes: np.ndarray, keys: list[int]) -> FrameResult:
        """frame BGR; boxes (B, 4) tracker boxes [cx, cy, w, h]; keys: track ids."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        rois = np.zeros((len(boxes), 5))
        need = []
        for i, (box, key) in enumerate(zip(boxes, keys)):
            state = self.followed.get(key)
            if state is None or state.age >= self.redetect_every or _drifted(state.roi, box):
                need.append(i)
            else:
                rois[i] = state.roi
        if need:
            rois[need] = self.detect_rois(frame, boxes[need])
        result = self.landmarks.run(frame, rois)
        detected = np.zeros(len(boxes), bool)
        detected[need] = True
        for i, key in enumerate(keys):
            if result.found[i]:
                age = 0 if detected[i] else self.followed[key].age + 1
                self.followed[key] = _Followed(result.next_rois[i], age)
            else:
                self.followed.pop(key, None)
        return FrameResult(result, detected)

    def detect_rois(self, frame: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(B, 4) tracker boxes -> (B, 5) ROIs from one detector view around each box."""
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        views = np.column_stack([boxes[:, :2] - self.crop_scale * boxes[:, 2:3] / 2,
                                 self.crop_scale * boxes[:, 2]])
        raws = self.detector.run(np.stack([view_input(rgb, v) for v in views]))
        rois = np.zeros((len(boxes), 5))
        for i, (box, view, raw) in enumerate(zip(boxes, views, raws)):
            people = to_frame(self.detector.view_detections(raw, tile=False), view)
            rois[i] = _pick(people, box)
        return rois


def box_roi(box: np.ndarray) -> np.ndarray:
    """The ROI of a tracker box [cx, cy, w, h] when no detection stands on it: upright."""
    side = max(box[2], box[3])
    return np.array([box[0], box[1], ROI_SCALE * side, side, 0.0])


def _pick(people, box: np.ndarray) -> np.ndarray:
    """The ROI of the detection on the tracker's box: its hip centre within the box's middle
    half and its body about the box's size (PICK_SIZE_RATIO), the highest score; else the box's
    own upright ROI (a view much larger than the frame can hold someone else's face)."""
    from .decode import rois_from_keypoints

    if len(people):
        rois = rois_from_keypoints(people.keypoints)
        side = max(box[2], box[3])
        near = np.all(np.abs(rois[:, :2] - box[:2]) <= side / 4, axis=1)
        ratio = rois[:, 3] / side
        ok = near & (ratio >= 1 / PICK_SIZE_RATIO) & (ratio <= PICK_SIZE_RATIO)
        if ok.any():
            return rois[np.flatnonzero(ok)[np.argmax(people.scores[ok])]]
    return box_roi(box)


def _drifted(roi: np.ndarray, box: np.ndarray) -> bool:
    return bool(np.linalg.norm(roi[:2] - box[:2]) > MAX_DRIFT * max(box[2], box[3]))
