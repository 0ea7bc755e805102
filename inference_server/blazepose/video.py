"""BlazePose landmarks through a video: detect once, then follow each person's ROI from their own
landmarks (MediaPipe Pose's video mode), for every tracked person of a frame in one batch.

Per track (keyed by the pipeline's track id): the first frame, a frame after the landmarks were
lost (pose presence < 0.5), every ``redetect_every``-th frame, or a frame where the followed ROI
has left the tracker's box, runs BlazePose's person detector on one 224 view around the
tracker's box (``crop_scale`` x its side) and takes the detection on that person (hip centre in
the box's middle half, body within x1.6 of the box's size, highest score), else the box's own
upright ROI (side 1.25 x the box); if that finds no pose, a looser detection (anywhere in the
box, body within x3: HOG's boxes can sit on a torso) is tried. Otherwise the ROI comes from the
previous frame's auxiliary landmarks. The landmark model runs on the ROIs of all people of the
frame at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .decode import ROI_SCALE
from .detector import BlazePoseDetector, to_frame, view_pixels
from .landmarks import LandmarkModel, PoseLandmarks

#: re-detect a followed person at least this often (frames)
REDETECT_EVERY = 30
#: a followed ROI whose centre is further than this x the box side from the box centre has
#: drifted to someone or something else: re-detect
MAX_DRIFT = 0.5
#: a detection picked for a tracker's box has a body diameter within this factor of the box
PICK_SIZE_RATIO = 1.6
#: ... or, when none is and the box's own ROI finds no pose, within this factor and anywhere
#: in the box (a loose box, e.g. HOG's on a torso)
PICK_LOOSE_RATIO = 3.0


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
        loose: dict[int, np.ndarray] = {}
        if need:
            strict, second = self.detect_rois(frame, boxes[need])
            rois[need] = strict
            loose = {i: r for i, r in zip(need, second) if r is not None}
        result = self.landmarks.run(frame, rois)
        retry = [i for i in loose if not result.found[i]]
        if retry:  # the box's own ROI found no pose: a looser detection (HOG's boxes)
            again = self.landmarks.run(frame, np.stack([loose[i] for i in retry]))
            result = _replace_rows(result, retry, again)
        detected = np.zeros(len(boxes), bool)
        detected[need] = True
        for i, key in enumerate(keys):
            if result.found[i]:
                age = 0 if detected[i] else self.followed[key].age + 1
                self.followed[key] = _Followed(result.next_rois[i], age)
            else:
                self.followed.pop(key, None)
        return FrameResult(result, detected)

    def detect_rois(self, frame: np.ndarray, boxes: np.ndarray
                    ) -> tuple[np.ndarray, list[np.ndarray | None]]:
        """(B, 4) tracker boxes -> (B, 5) ROIs from one detector view around each box (the
        detection on the box, else the box's own ROI), and per box a looser detection to try
        when the box's own ROI finds no pose (None when there is none)."""
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        views = np.column_stack([boxes[:, :2] - self.crop_scale * boxes[:, 2:3] / 2,
                                 self.crop_scale * boxes[:, 2]])
        raws = self.detector.run(np.stack([view_pixels(rgb, v) for v in views]))
        rois = np.zeros((len(boxes), 5))
        second: list[np.ndarray | None] = []
        for i, (box, view, raw) in enumerate(zip(boxes, views, raws)):
            people = to_frame(self.detector.view_detections(raw, tile=False), view)
            strict = _pick(people, box, 0.25, PICK_SIZE_RATIO)
            rois[i] = box_roi(box) if strict is None else strict
            second.append(None if strict is not None
                          else _pick(people, box, 0.5, PICK_LOOSE_RATIO))
        return rois, second


def box_roi(box: np.ndarray) -> np.ndarray:
    """The ROI of a tracker box [cx, cy, w, h] when no detection stands on it: upright."""
    side = max(box[2], box[3])
    return np.array([box[0], box[1], ROI_SCALE * side, side, 0.0])


def _pick(people, box: np.ndarray, reach: float, size_ratio: float) -> np.ndarray | None:
    """The ROI of the highest-scoring detection whose hip centre is within ``reach`` x the box
    side of the box's centre and whose body diameter is within ``size_ratio`` of the box side;
    None if there is none. (A view much larger than the frame, as for close-ups, can hold
    someone else's face: the size rule keeps it off.)"""
    from .decode import rois_from_keypoints

    if len(people) == 0:
        return None
    rois = rois_from_keypoints(people.keypoints)
    side = max(box[2], box[3])
    offset = np.abs(rois[:, :2] - box[:2]).max(axis=1)
    ratio = rois[:, 3] / side
    ok = (offset <= reach * side) & (ratio >= 1 / size_ratio) & (ratio <= size_ratio)
    if not ok.any():
        return None
    return rois[np.flatnonzero(ok)[np.argmax(people.scores[ok])]]


def _replace_rows(result: PoseLandmarks, rows: list[int], other: PoseLandmarks) -> PoseLandmarks:
    """``result`` with ``rows`` taken from ``other`` (in order)."""
    fields = {}
    for name in ("image", "visibility", "world", "presence", "next_rois"):
        value = getattr(result, name).copy()
        value[rows] = getattr(other, name)
        fields[name] = value
    return PoseLandmarks(**fields)


def _drifted(roi: np.ndarray, box: np.ndarray) -> bool:
    return bool(np.linalg.norm(roi[:2] - box[:2]) > MAX_DRIFT * max(box[2], box[3]))
